"""B2C and Business to Pochi on the wire (spec §12): the request rules and the Result bytes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest

from server.flows import initiator_wire as iw
from server.flows.b2c import wire as b2c
from server.flows.b2c.wire import B2CPayout
from server.flows.jsontext import from_cents
from tests.server.wire_kit import MISSING, at, compact, invalid, keys, rejection, with_field

# The docs' sample request (D-B2C), key order as printed.
SAMPLE = {
    "OriginatorConversationID": "600997_Test_32et3241ed8yu",
    "InitiatorName": "testapi",
    "SecurityCredential": "RC6E9WDxXR4b9X2c6z3gp0oC5Th ==",
    "CommandID": "BusinessPayment",
    "Amount": "10",
    "PartyA": "600992",
    "PartyB": "254705912645",
    "Remarks": "remarked",
    "QueueTimeOutURL": "https://mydomain.com/path",
    "ResultURL": "https://mydomain.com/path",
    "Occassion": "ChristmasPay",
}


def test_sample_request_is_accepted_with_its_values_typed() -> None:
    request = b2c.parse_b2c(SAMPLE)
    assert request.originator_conversation_id == "600997_Test_32et3241ed8yu"
    assert (request.initiator_name, request.command_id, request.amount) == ("testapi", "BusinessPayment", 10)
    assert (request.party_a, request.party_b, request.remarks) == ("600992", "254705912645", "remarked")
    assert (request.queue_timeout_url, request.result_url) == ("https://mydomain.com/path", "https://mydomain.com/path")
    assert request.occasion == "ChristmasPay"


def test_occasion_in_either_spelling_or_none() -> None:
    correct = {k: v for k, v in SAMPLE.items() if k != "Occassion"} | {"Occasion": "Eid"}
    assert b2c.parse_b2c(correct).occasion == "Eid"
    assert b2c.parse_b2c(with_field(SAMPLE, "Occassion", MISSING)).occasion is None
    assert b2c.parse_b2c(with_field(SAMPLE, "Occassion", "")).occasion is None


def test_extra_fields_of_real_integrations_are_ignored() -> None:
    request = b2c.parse_b2c({**SAMPLE, "IDType": "01", "IDNumber": "12345678"})
    assert request.amount == 10


def test_v1_needs_no_originator_id_and_ignores_one_sent() -> None:
    without = with_field(SAMPLE, "OriginatorConversationID", MISSING)
    assert b2c.parse_b2c(without, version=1).originator_conversation_id is None
    assert b2c.parse_b2c(SAMPLE, version=1).originator_conversation_id is None  # Daraja makes its own


@pytest.mark.parametrize("amount", [10, "10", 10.0, "10.00", " 10 ", 250_000])
def test_amount_number_or_string(amount: Any) -> None:
    assert b2c.parse_b2c({**SAMPLE, "Amount": amount}).amount == int(float(str(amount)))


@pytest.mark.parametrize(("amount", "code"), [(0, 2), (9, 2), (10, None), (250_000, None), (250_001, 3), (10**9, 3)])
def test_amount_limits_are_results_not_request_errors(amount: int, code: int | None) -> None:
    assert b2c.parse_b2c({**SAMPLE, "Amount": amount}).amount == amount  # accepted
    assert b2c.amount_result_code(amount) == code


def test_pochi_takes_its_own_command_only() -> None:
    pochi = {**SAMPLE, "CommandID": "BusinessPayToPochi"}
    assert b2c.parse_b2c(pochi, pochi=True).command_id == "BusinessPayToPochi"
    assert rejection(b2c.parse_b2c, SAMPLE, pochi=True) == invalid("CommandID")
    assert rejection(b2c.parse_b2c, pochi) == invalid("CommandID")


def test_pochi_needs_an_originator_id_even_when_asked_for_v1() -> None:
    pochi = with_field({**SAMPLE, "CommandID": "BusinessPayToPochi"}, "OriginatorConversationID", MISSING)
    assert rejection(b2c.parse_b2c, pochi, pochi=True, version=1) == invalid("OriginatorConversationID")


@pytest.mark.parametrize("command", ["BusinessPayment", "SalaryPayment", "PromotionPayment"])
def test_b2c_commands(command: str) -> None:
    assert b2c.parse_b2c({**SAMPLE, "CommandID": command}).command_id == command


ERRORS: list[tuple[str, Any, tuple[int, str, str]]] = [
    ("OriginatorConversationID", MISSING, invalid("OriginatorConversationID")),
    ("OriginatorConversationID", None, invalid("OriginatorConversationID")),
    ("OriginatorConversationID", "", invalid("OriginatorConversationID")),
    ("OriginatorConversationID", "x" * 101, invalid("OriginatorConversationID")),
    ("InitiatorName", MISSING, invalid("InitiatorName")),
    ("InitiatorName", "", invalid("InitiatorName")),
    ("InitiatorName", 12, invalid("InitiatorName")),
    ("SecurityCredential", MISSING, invalid("SecurityCredential")),
    ("SecurityCredential", "", invalid("SecurityCredential")),
    ("CommandID", "BusinessPay", invalid("CommandID")),
    ("CommandID", "businesspayment", invalid("CommandID")),
    ("CommandID", MISSING, invalid("CommandID")),
    ("Amount", "ten", invalid("Amount")),
    ("Amount", 10.5, invalid("Amount")),
    ("Amount", "10.50", invalid("Amount")),
    ("Amount", -10, invalid("Amount")),
    ("Amount", "-10", invalid("Amount")),
    ("Amount", True, invalid("Amount")),
    ("Amount", None, invalid("Amount")),
    ("Amount", float("nan"), invalid("Amount")),
    ("Amount", "9" * 5000, invalid("Amount")),
    ("Amount", MISSING, invalid("Amount")),
    ("PartyA", "12", invalid("PartyA")),
    ("PartyA", MISSING, invalid("PartyA")),
    ("PartyB", "0705912645", invalid("PartyB")),
    ("PartyB", "+254705912645", invalid("PartyB")),
    ("PartyB", "254605912645", invalid("PartyB")),
    ("PartyB", "2547059126451", invalid("PartyB")),
    ("PartyB", "２５４７０５９１２６４５", invalid("PartyB")),  # full-width digits are not [0-9]
    ("PartyB", MISSING, invalid("PartyB")),
    ("Remarks", "x", invalid("Remarks")),
    ("Remarks", "x" * 101, invalid("Remarks")),
    ("Remarks", "  ", invalid("Remarks")),
    ("Remarks", MISSING, invalid("Remarks")),
    ("QueueTimeOutURL", "mydomain.com/path", invalid("QueueTimeOutURL")),
    ("QueueTimeOutURL", MISSING, invalid("QueueTimeOutURL")),
    # Observed once: this one has no "Bad Request - " prefix.
    ("ResultURL", "mydomain.com/path", (400, "400.002.02", "Invalid ResultURL")),
    ("ResultURL", MISSING, (400, "400.002.02", "Invalid ResultURL")),
    ("Occassion", "x" * 101, invalid("Occassion")),
]


@pytest.mark.parametrize(("field", "value", "expected"), ERRORS, ids=[f"{c[0]}={c[1]!r}"[:60] for c in ERRORS])
def test_request_rejections(field: str, value: Any, expected: tuple[int, str, str]) -> None:
    assert rejection(b2c.parse_b2c, with_field(SAMPLE, field, value)) == expected


def test_result_url_error_with_its_prefix_when_the_quirk_is_off() -> None:
    body = {**SAMPLE, "ResultURL": "nope"}
    assert rejection(b2c.parse_b2c, body, result_url_quirk=False) == invalid("ResultURL")


def test_remarks_limits_are_inclusive() -> None:
    assert b2c.parse_b2c({**SAMPLE, "Remarks": "ok"}).remarks == "ok"
    assert b2c.parse_b2c({**SAMPLE, "Remarks": "x" * 100}).remarks == "x" * 100


def test_the_first_field_in_daraja_order_decides() -> None:
    body = {**SAMPLE, "PartyB": "07", "InitiatorName": ""}
    assert rejection(b2c.parse_b2c, body) == invalid("InitiatorName")


@pytest.mark.parametrize("payload", [[], "body", 1, None])
def test_body_not_an_object(payload: Any) -> None:
    assert rejection(b2c.parse_b2c, payload) == (400, "400.002.05", "Invalid Request Payload")


def test_wrong_content_type_error_is_invalid_initiator_name() -> None:
    error = b2c.WRONG_CONTENT_TYPE
    assert (error.status, error.code, error.message) == invalid("InitiatorName")


# --- the Result ---------------------------------------------------------------------------------------
CONVERSATION = iw.Conversation("6e47-4967-bcb9-74445bede7d2149876", "AG_20260725_0100100306hfuhjt5vaj")
PAYOUT = B2CPayout(
    amount=10,
    receipt="UGP030DS9I",
    recipient_msisdn="254708374149",
    recipient_name="John Doe",
    completed_at=at(2026, 7, 25, 3, 1, 31),
    utility_balance=Decimal("3020629.44"),
    working_balance=Decimal("584459.00"),
    charges_paid_balance=Decimal("-2420.00"),
)

# R-SCH, 2026-07-25: the raw sandbox body, slashes escaped.
SUCCESS_CAPTURE = r"""{"Result":{"ResultType":0,"ResultCode":0,"ResultDesc":"The service request is processed successfully.",
"OriginatorConversationID":"6e47-4967-bcb9-74445bede7d2149876","ConversationID":"AG_20260725_0100100306hfuhjt5vaj",
"TransactionID":"UGP030DS9I","ResultParameters":{"ResultParameter":[
{"Key":"TransactionAmount","Value":10},
{"Key":"TransactionReceipt","Value":"UGP030DS9I"},
{"Key":"ReceiverPartyPublicName","Value":"254708374149 - John Doe"},
{"Key":"TransactionCompletedDateTime","Value":"25.07.2026 03:01:31"},
{"Key":"B2CUtilityAccountAvailableFunds","Value":3020629.44},
{"Key":"B2CWorkingAccountAvailableFunds","Value":584459.00},
{"Key":"B2CRecipientIsRegisteredCustomer","Value":"Y"},
{"Key":"B2CChargesPaidAccountAvailableFunds","Value":-2420.00}]},
"ReferenceData":{"ReferenceItem":{"Key":"QueueTimeoutURL","Value":"https:\/\/internalsandbox.safaricom.co.ke\/mpesa\/b2cresults\/v1\/submit"}}}}"""

FAILURE_CAPTURE = r"""{"Result":{"ResultType":0,"ResultCode":2040,"ResultDesc":"Credit Party customer type (Unregistered or Registered Customer) can't be supported by the service .","OriginatorConversationID":"c6fe-4c50-848a-aeda3881d02211","ConversationID":"AG_20260709_0100103718mikj6ae3yu","TransactionID":"UG90000000","ReferenceData":{"ReferenceItem":{"Key":"QueueTimeoutURL","Value":"https:\/\/internalsandbox.safaricom.co.ke\/mpesa\/b2cresults\/v1\/submit"}}}}"""


def test_success_result_matches_the_sandbox_capture_byte_for_byte() -> None:
    assert b2c.render_success(CONVERSATION, PAYOUT) == compact(SUCCESS_CAPTURE)


def test_balances_from_the_ledgers_cents() -> None:
    cents = B2CPayout(
        10,
        "UGP030DS9I",
        "254708374149",
        "John Doe",
        at(2026, 7, 25, 3, 1, 31),
        from_cents(302062944),
        from_cents(58445900),
        from_cents(-242000),
    )
    assert b2c.render_success(CONVERSATION, cents) == compact(SUCCESS_CAPTURE)


def test_a_balance_that_is_not_a_decimal_is_refused() -> None:
    # An int could be cents or shillings; the writer will not guess.
    with pytest.raises(TypeError):
        b2c.render_success(CONVERSATION, replace(PAYOUT, working_balance=58445900))  # type: ignore[arg-type]  # the int is the point


def test_failure_result_matches_the_sandbox_capture_byte_for_byte() -> None:
    conversation = iw.Conversation("c6fe-4c50-848a-aeda3881d02211", "AG_20260709_0100103718mikj6ae3yu")
    text = b2c.render_failure(conversation, iw.UNREGISTERED_CUSTOMER, iw.no_transaction_id(at(2026, 7, 9)))
    assert text == FAILURE_CAPTURE


def test_completed_time_is_eat() -> None:
    # 00:01:31 UTC is 03:01:31 in Nairobi (R-SCH logged the UTC time).
    from datetime import datetime

    moment = datetime(2026, 7, 25, 0, 1, 31, tzinfo=UTC).timestamp()
    assert b2c.completed_time(moment) == "25.07.2026 03:01:31"


def test_unregistered_recipient_and_local_public_name() -> None:
    payout = B2CPayout(
        500,
        "UGP030DS9J",
        "254705912645",
        "NICHOLAS JOHN SONGOK",
        at(2026, 7, 25),
        Decimal(1),
        Decimal(2),
        Decimal(3),
        recipient_registered=False,
    )
    params = {
        p["Key"]: p["Value"]
        for p in json.loads(b2c.render_success(CONVERSATION, payout, local_public_name=True))["Result"][
            "ResultParameters"
        ]["ResultParameter"]
    }
    assert params["B2CRecipientIsRegisteredCustomer"] == "N"
    assert params["ReceiverPartyPublicName"] == "0705912645 - NICHOLAS JOHN SONGOK"


def test_legacy_parameter_order() -> None:
    items = json.loads(b2c.render_success(CONVERSATION, PAYOUT, legacy_order=True))["Result"]["ResultParameters"]
    assert [item["Key"] for item in items["ResultParameter"]] == [
        "TransactionAmount",
        "TransactionReceipt",
        "B2CRecipientIsRegisteredCustomer",
        "B2CChargesPaidAccountAvailableFunds",
        "ReceiverPartyPublicName",
        "TransactionCompletedDateTime",
        "B2CUtilityAccountAvailableFunds",
        "B2CWorkingAccountAvailableFunds",
    ]


def test_result_styles_apply() -> None:
    style = iw.ResultStyle(codes_as_strings=True, escape_slashes=False, internal_base=iw.PRODUCTION_INTERNAL_BASE)
    text = b2c.render_success(CONVERSATION, PAYOUT, style=style)
    assert text.startswith('{"Result":{"ResultType":"0","ResultCode":"0",')
    assert '"Value":"https://internalapi.safaricom.co.ke/mpesa/b2cresults/v1/submit"' in text
    assert '"Value":10}' in text  # TransactionAmount stays a number


def test_failures_with_a_receipt_and_without() -> None:
    assert {7, 2001, 8006} == set(b2c.FAILURES_WITH_RECEIPT)
    text = b2c.render_failure(CONVERSATION, iw.INITIATOR_INVALID, "UGC030DL5G")
    result = json.loads(text)["Result"]
    assert (result["ResultCode"], result["TransactionID"]) == (2001, "UGC030DL5G")
    assert keys(json.dumps(result)) == [
        "ResultType",
        "ResultCode",
        "ResultDesc",
        "OriginatorConversationID",
        "ConversationID",
        "TransactionID",
        "ReferenceData",
    ]


def test_render_failure_refuses_success() -> None:
    with pytest.raises(ValueError):
        b2c.render_failure(CONVERSATION, 0, "UGP030DS9I")


def test_ack_puts_conversation_id_first() -> None:
    ack = iw.render_ack(iw.InitiatorApi.B2C, "600997_Test_32et3241ed8yu", "AG_20260725_0100100306hfuhjt5vaj")
    assert ack == (
        '{"ConversationID":"AG_20260725_0100100306hfuhjt5vaj",'
        '"OriginatorConversationID":"600997_Test_32et3241ed8yu","ResponseCode":"0",'
        '"ResponseDescription":"Accept the service request successfully."}'
    )
