"""Reversal on the wire (spec §15): the request with its misspelled key, and the Result."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from server.flows import initiator_wire as iw
from server.flows.reversal import wire as reversal
from server.flows.reversal.wire import Reversed
from tests.server.wire_kit import MISSING, at, compact, invalid, rejection, with_field

# The docs' sample request (D-REV).
REQUEST = {
    "Initiator": "apiop37",
    "SecurityCredential": "ZmFrZQ==",
    "CommandID": "TransactionReversal",
    "TransactionID": "PDU91HIVIT",
    "Amount": "200",
    "ReceiverParty": "603021",
    "RecieverIdentifierType": "11",
    "ResultURL": "https://mydomain.com/reversal/result",
    "QueueTimeOutURL": "https://mydomain.com/reversal/queue",
    "Remarks": "Payment reversal",
}


def test_sample_request_is_accepted() -> None:
    request = reversal.parse_reversal(REQUEST)
    assert (request.transaction_id, request.amount, request.receiver_party, request.reciever_identifier_type) == (
        "PDU91HIVIT",
        200,
        "603021",
        "11",
    )
    assert request.occasion is None


def test_the_correct_spelling_is_refused_as_observed() -> None:
    body = {**with_field(REQUEST, "RecieverIdentifierType", MISSING), "ReceiverIdentifierType": "11"}
    assert rejection(reversal.parse_reversal, body) == (
        400,
        "400.002.02",
        "Bad Request - Invalid RecieverIdentifierType",
    )


@pytest.mark.parametrize("kind", ["1", "2", "4", "11", 4, 11])
def test_identifier_types_accepted(kind: Any) -> None:
    assert reversal.parse_reversal({**REQUEST, "RecieverIdentifierType": kind}).reciever_identifier_type == str(kind)


@pytest.mark.parametrize("spelling", ["Occasion", "Occassion"])
def test_occasion_accepted_in_either_spelling(spelling: str) -> None:
    assert reversal.parse_reversal({**REQUEST, spelling: "refund"}).occasion == "refund"


ERRORS: list[tuple[str, Any, tuple[int, str, str]]] = [
    ("Initiator", MISSING, invalid("Initiator")),
    ("SecurityCredential", None, invalid("SecurityCredential")),
    ("CommandID", "Reversal", invalid("CommandID")),
    ("TransactionID", "PDU91HIVI", invalid("TransactionID")),
    ("TransactionID", "pdu91hivit", invalid("TransactionID")),
    ("TransactionID", MISSING, invalid("TransactionID")),
    ("Amount", 0, invalid("Amount")),
    ("Amount", "2.5", invalid("Amount")),
    ("Amount", [200], invalid("Amount")),
    ("ReceiverParty", "254708374149", invalid("ReceiverParty")),
    ("ReceiverParty", MISSING, invalid("ReceiverParty")),
    ("RecieverIdentifierType", "3", invalid("RecieverIdentifierType")),
    ("RecieverIdentifierType", "", invalid("RecieverIdentifierType")),
    ("ResultURL", "reversal/result", invalid("ResultURL")),
    ("QueueTimeOutURL", MISSING, invalid("QueueTimeOutURL")),
    ("Remarks", "x", invalid("Remarks")),
]


@pytest.mark.parametrize(("field", "value", "expected"), ERRORS, ids=[f"{c[0]}={c[1]!r}"[:60] for c in ERRORS])
def test_request_rejections(field: str, value: Any, expected: tuple[int, str, str]) -> None:
    assert rejection(reversal.parse_reversal, with_field(REQUEST, field, value)) == expected


# --- the Result ---------------------------------------------------------------------------------------
# The docs' 2021 sample (D-REV); the docs print plain slashes.
SAMPLE = """{"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
 "OriginatorConversationID": "dad6-4c34-8787-c8cb963a496d1268232", "ConversationID": "AG_20211114_201018edbbf9f1582eaa",
 "TransactionID": "SKE52PAWR9",
 "ResultParameters": {"ResultParameter": [
  {"Key": "DebitAccountBalance", "Value": "Utility Account|KES|7722179.62|7722179.62|0.00|0.00"},
  {"Key": "Amount", "Value": 1.00},
  {"Key": "TransCompletedTime", "Value": 20211114132711},
  {"Key": "OriginalTransactionID", "Value": "SKC82PACB8"},
  {"Key": "Charge", "Value": 0.00},
  {"Key": "CreditPartyPublicName", "Value": "254705912645 - NICHOLAS JOHN SONGOK"},
  {"Key": "DebitPartyPublicName", "Value": "600992 - Safaricom Daraja 992"}]},
 "ReferenceData": {"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": "https://internalsandbox.safaricom.co.ke/mpesa/reversalresults/v1/submit"}}}}"""

CONVERSATION = iw.Conversation("dad6-4c34-8787-c8cb963a496d1268232", "AG_20211114_201018edbbf9f1582eaa")
DONE = Reversed(
    receipt="SKE52PAWR9",
    original_receipt="SKC82PACB8",
    amount=Decimal(1),
    completed_at=at(2021, 11, 14, 13, 27, 11),
    debit_account=iw.AccountLine(iw.UTILITY, Decimal("7722179.62")),
    credit_party_public_name="254705912645 - NICHOLAS JOHN SONGOK",
    debit_party_public_name="600992 - Safaricom Daraja 992",
)


def test_success_result_matches_the_docs_sample_byte_for_byte() -> None:
    text = reversal.render_success(CONVERSATION, DONE, style=iw.ResultStyle(escape_slashes=False))
    assert text == compact(SAMPLE)


def test_success_result_escapes_slashes_by_default() -> None:
    assert "reversalresults\\/v1\\/submit" in reversal.render_success(CONVERSATION, DONE)


@pytest.mark.parametrize("codes_as_strings", [False, True])
def test_unknown_original_receipt(codes_as_strings: bool) -> None:
    style = iw.ResultStyle(codes_as_strings=codes_as_strings)
    text = reversal.render_failure(
        CONVERSATION, iw.ORIGINAL_INVALID, iw.no_transaction_id(at(2024, 11, 14)), style=style
    )
    result = json.loads(text)["Result"]
    assert (result["ResultCode"], result["ResultDesc"], result["TransactionID"]) == (
        "R000002",
        "The OriginalTransactionID is invalid.",
        "SKE0000000",
    )
    assert "ResultParameters" not in result
    assert '"ResultCode":"R000002"' in text


def test_already_reversed() -> None:
    text = reversal.render_failure(CONVERSATION, iw.ALREADY_REVERSED, "SKE0000000")
    result = json.loads(text)["Result"]
    assert (result["ResultCode"], result["ResultDesc"]) == ("R000001", "The transaction has already been reversed")


def test_render_failure_refuses_success() -> None:
    with pytest.raises(ValueError):
        reversal.render_failure(CONVERSATION, "0", "SKE0000000")
