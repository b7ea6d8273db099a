"""Account Balance on the wire (spec §14): the query rules, the AccountBalance string and the Result bytes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from server.flows import initiator_wire as iw
from server.flows.balance import wire as balance
from server.flows.initiator_wire import AccountLine
from tests.server.wire_kit import MISSING, at, compact, invalid, rejection, with_field

QUERY = {
    "Initiator": "testapiuser",
    "SecurityCredential": "ZmFrZQ==",
    "CommandID": "AccountBalance",
    "PartyA": "600000",
    "IdentifierType": "4",
    "Remarks": "ok",
    "QueueTimeOutURL": "http://myservice:8080/queuetimeouturl",
    "ResultURL": "http://myservice:8080/result",
}


def test_sample_query_is_accepted() -> None:
    query = balance.parse_balance(QUERY)
    assert (query.initiator, query.command_id, query.party_a, query.identifier_type) == (
        "testapiuser",
        "AccountBalance",
        "600000",
        "4",
    )
    assert (query.queue_timeout_url, query.result_url) == (
        "http://myservice:8080/queuetimeouturl",
        "http://myservice:8080/result",
    )


@pytest.mark.parametrize(("party", "kind"), [(600000, 4), ("5123456", "2")])
def test_numbers_or_strings(party: Any, kind: Any) -> None:
    query = balance.parse_balance({**QUERY, "PartyA": party, "IdentifierType": kind})
    assert (query.party_a, query.identifier_type) == (str(party), str(kind))


ERRORS: list[tuple[str, Any, tuple[int, str, str]]] = [
    ("Initiator", MISSING, invalid("Initiator")),
    ("Initiator", "x" * 101, invalid("Initiator")),
    ("SecurityCredential", "", invalid("SecurityCredential")),
    ("CommandID", "AccountBalanceQuery", invalid("CommandID")),
    ("PartyA", "254708374149", invalid("PartyA")),
    ("PartyA", False, invalid("PartyA")),
    ("IdentifierType", "1", invalid("IdentifierType")),
    ("IdentifierType", 4.5, invalid("IdentifierType")),
    ("Remarks", MISSING, invalid("Remarks")),
    ("QueueTimeOutURL", "http://", invalid("QueueTimeOutURL")),
    ("ResultURL", "http://host:0/result", invalid("ResultURL")),
    ("ResultURL", MISSING, invalid("ResultURL")),
]


@pytest.mark.parametrize(("field", "value", "expected"), ERRORS, ids=[f"{c[0]}={c[1]!r}"[:60] for c in ERRORS])
def test_query_rejections(field: str, value: Any, expected: tuple[int, str, str]) -> None:
    assert rejection(balance.parse_balance, with_field(QUERY, field, value)) == expected


# --- the AccountBalance string ------------------------------------------------------------------------
def test_2021_sandbox_account_balance_string() -> None:
    real = (
        "Working Account|KES|1.00|1.00|0.00|0.00&Float Account|KES|0.00|0.00|0.00|0.00&Utility Account|KES|"
        "11974737.63|11974737.63|0.00|1116744.00&Charges Paid Account|KES|-153780.00|-164505.00|10725.00|0.00&"
        "Organization Settlement Account|KES|0.00|0.00|0.00|0.00"
    )
    lines = [
        AccountLine(iw.WORKING, Decimal(1)),
        AccountLine(iw.FLOAT, Decimal(0)),
        AccountLine(iw.UTILITY, Decimal("11974737.63"), uncleared=Decimal(1116744)),
        AccountLine(iw.CHARGES_PAID, Decimal(-153780), Decimal(-164505), Decimal(10725)),
        AccountLine(iw.ORGANIZATION_SETTLEMENT, Decimal(0)),
    ]
    assert iw.accounts_text(lines) == real


@pytest.mark.parametrize(
    ("kind", "names"),
    [
        ("b2c", ["Working Account", "Utility Account", "Charges Paid Account"]),
        ("paybill", ["Working Account", "Utility Account", "Charges Paid Account", "Organization Settlement Account"]),
        ("till", ["Merchant Account", "Working Account", "Charges Paid Account"]),
    ],
)
def test_accounts_per_shortcode_kind(kind: balance.ShortcodeKind, names: list[str]) -> None:
    assert [line.name for line in balance.account_lines(kind, {})] == names


def test_account_lines_take_balances_and_full_lines() -> None:
    held = AccountLine(iw.WORKING, Decimal("346568.83"), Decimal("6186.83"), Decimal("340382.00"))
    lines = balance.account_lines("b2c", {iw.UTILITY: Decimal("7722179.62"), iw.WORKING: held, iw.MERCHANT: Decimal(5)})
    assert iw.accounts_text(lines) == (
        "Working Account|KES|346568.83|6186.83|340382.00|0.00&Utility Account|KES|7722179.62|7722179.62|0.00|0.00"
        "&Charges Paid Account|KES|0.00|0.00|0.00|0.00"
    )


# --- the Result ---------------------------------------------------------------------------------------
# Production fixture, 2026-08-25 (index 57964556337): plain slashes, production host.
CAPTURE = """{"Result":{"ResultType":0,"ResultCode":0,"ResultDesc":"The service request is processed successfully.",
"OriginatorConversationID":"8d0a-4cf1-a3f3-ebad341607ad16074","ConversationID":"AG_20260825_010020480ucukatfpxp2",
"TransactionID":"UHP0000000","ResultParameters":{"ResultParameter":[
{"Key":"ActionType","Value":"AccountBalance"},
{"Key":"AccountBalance","Value":"Working Account|KES|0.00|0.00|0.00|0.00&Utility Account|KES|0.00|0.00|0.00|0.00&Charges Paid Account|KES|0.00|0.00|0.00|0.00&Merchant Account|KES|0.00|0.00|0.00|0.00&Organization Settlement Account|KES|0.00|0.00|0.00|0.00"},
{"Key":"BOCompletedTime","Value":20260825140947}]},
"ReferenceData":{"ReferenceItem":{"Key":"QueueTimeoutURL","Value":"https://internalapi.safaricom.co.ke/mpesa/abresults/v1/submit"}}}}"""

CONVERSATION = iw.Conversation("8d0a-4cf1-a3f3-ebad341607ad16074", "AG_20260825_010020480ucukatfpxp2")
FIVE = [
    AccountLine(name, Decimal(0))
    for name in (iw.WORKING, iw.UTILITY, iw.CHARGES_PAID, iw.MERCHANT, iw.ORGANIZATION_SETTLEMENT)
]
PRODUCTION = iw.ResultStyle(escape_slashes=False, internal_base=iw.PRODUCTION_INTERNAL_BASE)


def test_result_matches_the_production_capture_byte_for_byte() -> None:
    text = balance.render_success(CONVERSATION, FIVE, now=at(2026, 8, 25, 14, 9, 47), style=PRODUCTION)
    assert text == compact(CAPTURE)


def test_action_type_can_be_dropped() -> None:
    text = balance.render_success(CONVERSATION, FIVE, now=at(2026, 8, 25), action_type=False)
    items = json.loads(text)["Result"]["ResultParameters"]["ResultParameter"]
    assert [item["Key"] for item in items] == ["AccountBalance", "BOCompletedTime"]
    assert isinstance(items[1]["Value"], int)


def test_default_style_escapes_the_sandbox_url() -> None:
    text = balance.render_success(CONVERSATION, FIVE, now=at(2026, 8, 25))
    assert '"Value":"https:\\/\\/internalsandbox.safaricom.co.ke\\/mpesa\\/abresults\\/v1\\/submit"' in text


def test_failure_result() -> None:
    text = balance.render_failure(CONVERSATION, iw.CREDENTIAL_LOCKED, now=at(2026, 8, 25))
    result = json.loads(text)["Result"]
    assert (result["ResultCode"], result["ResultDesc"], result["TransactionID"]) == (
        8006,
        "The security credential is locked.",
        "UHP0000000",
    )
    assert "ResultParameters" not in result


def test_ack_has_no_period() -> None:
    ack = iw.render_ack(iw.InitiatorApi.ACCOUNT_BALANCE, "o", "c")
    assert ack == (
        '{"OriginatorConversationID":"o","ConversationID":"c","ResponseCode":"0",'
        '"ResponseDescription":"Accept the service request successfully"}'
    )


def test_accounts_per_kind_agree_with_the_ledger() -> None:
    # The wire layer may not import the ledger (it sits on the store); the two lists must not drift.
    from server import ledger

    in_ledger = {
        kind: tuple(ledger.ACCOUNT_NAMES[a] for a in accounts)
        for kind, accounts in ledger.ORGANISATION_ACCOUNTS.items()
    }
    assert in_ledger == balance.ACCOUNTS_BY_KIND
