"""Transaction Status on the wire (spec §13): the query rules and the Result bytes."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from server.flows import initiator_wire as iw
from server.flows.status import wire as status
from server.flows.status.wire import QueriedTransaction
from tests.server.wire_kit import MISSING, at, compact, invalid, rejection, with_field

QUERY = {
    "Initiator": "testapiuser",
    "SecurityCredential": "ZmFrZQ==",
    "CommandID": "TransactionStatusQuery",
    "TransactionID": "NEF61H8J60",
    "OriginalConversationID": "7071-4170-a0e5-8345632bad442144258",
    "PartyA": "600782",
    "IdentifierType": "4",
    "ResultURL": "https://merchant.example/result",
    "QueueTimeOutURL": "https://merchant.example/timeout",
    "Remarks": "OK",
    "Occasion": "OK",
}


def test_sample_query_is_accepted() -> None:
    query = status.parse_status(QUERY)
    assert (query.initiator, query.command_id, query.transaction_id) == (
        "testapiuser",
        "TransactionStatusQuery",
        "NEF61H8J60",
    )
    assert query.original_conversation_id == "7071-4170-a0e5-8345632bad442144258"
    assert (query.party_a, query.identifier_type, query.remarks, query.occasion) == ("600782", "4", "OK", "OK")


def test_by_receipt_only_or_by_conversation_only() -> None:
    by_receipt = status.parse_status(with_field(QUERY, "OriginalConversationID", MISSING))
    assert (by_receipt.transaction_id, by_receipt.original_conversation_id) == ("NEF61H8J60", None)
    by_conversation = status.parse_status(with_field(QUERY, "TransactionID", ""))
    assert (by_conversation.transaction_id, by_conversation.original_conversation_id) == (
        None,
        "7071-4170-a0e5-8345632bad442144258",
    )


@pytest.mark.parametrize(("kind", "party"), [(1, 254708374149), ("2", "5123456"), (4, 600782)])
def test_identifier_types_and_number_parties(kind: Any, party: Any) -> None:
    query = status.parse_status({**QUERY, "IdentifierType": kind, "PartyA": party})
    assert (query.identifier_type, query.party_a) == (str(kind), str(party))


def test_nothing_to_look_up() -> None:
    body = with_field(with_field(QUERY, "TransactionID", MISSING), "OriginalConversationID", None)
    assert rejection(status.parse_status, body) == invalid("TransactionID")


ERRORS: list[tuple[str, Any, tuple[int, str, str]]] = [
    ("Initiator", MISSING, invalid("Initiator")),
    ("Initiator", "", invalid("Initiator")),
    ("SecurityCredential", MISSING, invalid("SecurityCredential")),
    ("SecurityCredential", ["x"], invalid("SecurityCredential")),
    ("CommandID", "TransactionStatus", invalid("CommandID")),
    ("CommandID", MISSING, invalid("CommandID")),
    ("TransactionID", "nef61h8j60", invalid("TransactionID")),
    ("TransactionID", "NEF61H8J6", invalid("TransactionID")),
    ("TransactionID", 1234567890, invalid("TransactionID")),
    ("PartyA", "12", invalid("PartyA")),
    ("PartyA", MISSING, invalid("PartyA")),
    ("IdentifierType", "3", invalid("IdentifierType")),
    ("IdentifierType", "11", invalid("IdentifierType")),
    ("IdentifierType", MISSING, invalid("IdentifierType")),
    ("ResultURL", "merchant.example/result", invalid("ResultURL")),  # the prefix quirk is B2C's only
    ("QueueTimeOutURL", 42, invalid("QueueTimeOutURL")),
    ("Remarks", MISSING, invalid("Remarks")),
    ("Remarks", "x" * 101, invalid("Remarks")),
    ("Occasion", "x" * 101, invalid("Occasion")),
]


@pytest.mark.parametrize(("field", "value", "expected"), ERRORS, ids=[f"{c[0]}={c[1]!r}"[:60] for c in ERRORS])
def test_query_rejections(field: str, value: Any, expected: tuple[int, str, str]) -> None:
    assert rejection(status.parse_status, with_field(QUERY, field, value)) == expected


def test_docs_sample_keys_with_spaces_are_not_read() -> None:
    # The docs sample misspells "Command ID"; the parameter table and every client use CommandID.
    body = {**with_field(QUERY, "CommandID", MISSING), "Command ID": "TransactionStatusQuery"}
    assert rejection(status.parse_status, body) == invalid("CommandID")


# --- the Result ---------------------------------------------------------------------------------------
# R-FRAPPE, production 2024-02-06: the status of an STK payment to a paybill.
CAPTURE = """{"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
 "OriginatorConversationID": "8aec-4878-bb2e-835d301b747563942456",
 "ConversationID": "AG_20240206_202018931e291815db5d", "TransactionID": "SB60000000",
 "ResultParameters": {"ResultParameter": [
  {"Key": "DebitPartyName", "Value": "254722810063 - SALIM RURU"},
  {"Key": "CreditPartyName", "Value": "4130669 - KERICHO COUNTY KAPKATET DISTRICT HOSPITAL                    "},
  {"Key": "OriginatorConversationID", "Value": "3fec-4d4e-8899-f6343499627422355256"},
  {"Key": "InitiatedTime", "Value": 20240206143645},
  {"Key": "CreditPartyCharges"},
  {"Key": "DebitAccountType", "Value": "MMF Account For Customer"},
  {"Key": "TransactionReason"},
  {"Key": "ReasonType", "Value": "Pay Utility with OD Online"},
  {"Key": "TransactionStatus", "Value": "Completed"},
  {"Key": "FinalisedTime", "Value": 20240206143645},
  {"Key": "Amount", "Value": 1.00},
  {"Key": "ConversationID", "Value": "AG_20240206_2070311589e691000924"},
  {"Key": "ReceiptNo", "Value": "SB659DEI29"}]},
 "ReferenceData": {"ReferenceItem": {"Key": "Occasion", "Value": "Payment of invoice for services rendered"}}}}"""

QUERIED = QueriedTransaction(
    debit_party_name=status.party_name("254722810063", "SALIM RURU"),
    credit_party_name=status.party_name("4130669", "KERICHO COUNTY KAPKATET DISTRICT HOSPITAL" + " " * 20),
    originator_conversation_id="3fec-4d4e-8899-f6343499627422355256",
    conversation_id="AG_20240206_2070311589e691000924",
    initiated_at=at(2024, 2, 6, 14, 36, 45),
    finalised_at=at(2024, 2, 6, 14, 36, 45),
    amount=Decimal(1),
    receipt="SB659DEI29",
    reason_type=status.PAY_UTILITY_WITH_OD,
    debit_account_type=status.CUSTOMER_ACCOUNT,
)
CONVERSATION = iw.Conversation("8aec-4878-bb2e-835d301b747563942456", "AG_20240206_202018931e291815db5d")


def test_success_result_matches_the_production_capture_byte_for_byte() -> None:
    text = status.render_success(
        CONVERSATION,
        QUERIED,
        now=at(2024, 2, 6, 14, 37),
        occasion="Payment of invoice for services rendered",
    )
    assert text == compact(CAPTURE)


def test_reference_item_without_an_occasion_has_no_value() -> None:
    text = status.render_success(CONVERSATION, QUERIED, now=at(2024, 2, 6), occasion=None)
    assert text.endswith('"ReferenceData":{"ReferenceItem":{"Key":"Occasion"}}}}')


def test_string_values_option_writes_times_and_amount_as_strings() -> None:
    queried = replace(QUERIED, amount=Decimal("300"))
    items = json.loads(
        status.render_success(CONVERSATION, queried, now=at(2024, 2, 6), occasion=None, string_values=True)
    )["Result"]["ResultParameters"]["ResultParameter"]
    values = {item["Key"]: item.get("Value") for item in items}
    assert (values["InitiatedTime"], values["FinalisedTime"], values["Amount"]) == (
        "20240206143645",
        "20240206143645",
        "300",
    )


def test_b2c_transaction_carries_debit_party_charges() -> None:
    queried = replace(
        QUERIED,
        charges=status.b2c_fee(Decimal("22.4")),
        reason_type=status.B2C_PAYMENT,
        debit_account_type=status.UTILITY_ACCOUNT,
    )
    text = status.render_success(CONVERSATION, queried, now=at(2024, 2, 6), occasion=None)
    assert '{"Key":"DebitPartyCharges","Value":"Fee For B2C Payment|KES|22.40"}' in text
    assert "CreditPartyCharges" not in text


def test_failure_has_no_parameters_and_a_zero_transaction_id() -> None:
    text = status.render_failure(CONVERSATION, iw.STATUS_NOT_FOUND, now=at(2026, 7, 12), occasion="x")
    result = json.loads(text)["Result"]
    assert (result["ResultCode"], result["TransactionID"]) == (2033, "UGC0000000")
    assert "ResultParameters" not in result
    with pytest.raises(ValueError):
        status.render_failure(CONVERSATION, 0, now=at(2026, 7, 12), occasion=None)


def test_ack_puts_originator_id_first() -> None:
    ack = iw.render_ack(iw.InitiatorApi.TRANSACTION_STATUS, "o", "c")
    assert ack.startswith('{"OriginatorConversationID":"o","ConversationID":"c","ResponseCode":"0"')
