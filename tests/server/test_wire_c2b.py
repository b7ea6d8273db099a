"""C2B on the wire (spec §9-§11): register URL, simulate, the validation and confirmation bodies, the merchant's answer."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Literal

import pytest

from server.flows.c2b import wire as c2b
from server.flows.c2b.wire import C2BPayment, C2BStyle, Verdict
from server.flows.jsontext import from_cents
from tests.server.wire_kit import MISSING, at, compact, invalid, keys, rejection, with_field

REGISTER = {
    "ShortCode": "600984",
    "ResponseType": "Completed",
    "ConfirmationURL": "https://example.com/c2b/confirmation",
    "ValidationURL": "https://example.com/c2b/validation",
}


# --- register URL (§9) -----------------------------------------------------------------------------
def test_register_sample_is_accepted() -> None:
    request = c2b.parse_register_url(REGISTER)
    assert (request.short_code, request.response_type) == ("600984", "Completed")
    assert request.confirmation_url == "https://example.com/c2b/confirmation"
    assert request.validation_url == "https://example.com/c2b/validation"


@pytest.mark.parametrize("code", [600984, "600984", " 600984 "])
def test_register_shortcode_number_or_string(code: Any) -> None:
    assert c2b.parse_register_url({**REGISTER, "ShortCode": code}).short_code == "600984"


def test_register_cancelled_is_the_other_response_type() -> None:
    assert c2b.parse_register_url({**REGISTER, "ResponseType": "Cancelled"}).response_type == "Cancelled"


def _word(field: str) -> tuple[int, str, str]:
    return 400, "400.003.02", f"Bad Request - Invalid {field} - URL has the word MPESA"


REGISTER_ERRORS: list[tuple[str, Any, tuple[int, str, str]]] = [
    ("ShortCode", MISSING, invalid("ShortCode")),
    ("ShortCode", "12", invalid("ShortCode")),
    ("ShortCode", True, invalid("ShortCode")),
    ("ShortCode", 6009.84, invalid("ShortCode")),
    ("ShortCode", "6" * 10_000, invalid("ShortCode")),
    ("ResponseType", "completed", (400, "400.002.02", "Bad Request - Invalid ResponseType")),
    ("ResponseType", "COMPLETED", (400, "400.002.02", "Bad Request - Invalid ResponseType")),
    ("ResponseType", "Canceled", (400, "400.002.02", "Bad Request - Invalid ResponseType")),
    ("ResponseType", 1, (400, "400.002.02", "Bad Request - Invalid ResponseType")),
    ("ResponseType", MISSING, (400, "400.002.02", "Bad Request - Invalid ResponseType")),
    ("ConfirmationURL", "/relative", invalid("ConfirmationURL")),
    ("ConfirmationURL", "ftp://example.com/c", invalid("ConfirmationURL")),
    ("ConfirmationURL", MISSING, invalid("ConfirmationURL")),
    ("ConfirmationURL", None, invalid("ConfirmationURL")),
    ("ConfirmationURL", "https://example.com/" + "a" * 5000, invalid("ConfirmationURL")),
    ("ValidationURL", "not a url", invalid("ValidationURL")),
    ("ValidationURL", MISSING, invalid("ValidationURL")),
    ("ValidationURL", "https://example.com/mpesa/validation", _word("ValidationURL")),
    ("ValidationURL", "https://MPesa.example.com/v", _word("ValidationURL")),
    ("ConfirmationURL", "https://example.com/c2b/MPESA-confirm", _word("ConfirmationURL")),
]


@pytest.mark.parametrize(
    ("field", "value", "expected"), REGISTER_ERRORS, ids=[f"{c[0]}={c[1]!r}"[:60] for c in REGISTER_ERRORS]
)
def test_register_rejections(field: str, value: Any, expected: tuple[int, str, str]) -> None:
    assert rejection(c2b.parse_register_url, with_field(REGISTER, field, value)) == expected


def test_word_in_both_urls_names_the_validation_url() -> None:
    # Every real capture of this error names ValidationURL (§9).
    body = {**REGISTER, "ConfirmationURL": "https://x.example/mpesa/c", "ValidationURL": "https://x.example/mpesa/v"}
    assert rejection(c2b.parse_register_url, body) == _word("ValidationURL")


def test_register_body_that_is_not_an_object() -> None:
    assert rejection(c2b.parse_register_url, ["ShortCode"]) == (400, "400.002.05", "Invalid Request Payload")


def test_other_words_pass_by_default_and_fail_when_strict() -> None:
    body = {**REGISTER, "ValidationURL": "https://abc.ngrok.io/validation"}
    assert c2b.parse_register_url(body).validation_url == "https://abc.ngrok.io/validation"
    assert rejection(c2b.parse_register_url, body, strict_words=True) == (
        400,
        "400.003.02",
        "Bad Request - Invalid ValidationURL - URL has the word NGROK",
    )
    execute = {**REGISTER, "ConfirmationURL": "https://example.com/execute"}
    assert rejection(c2b.parse_register_url, execute, strict_words=True)[2].endswith("URL has the word EXEC")
    # mpesa keeps its own text when strict too.
    mpesa = {**REGISTER, "ConfirmationURL": "https://example.com/mpesa"}
    assert rejection(c2b.parse_register_url, mpesa, strict_words=True) == _word("ConfirmationURL")


def test_http_urls_pass_unless_https_only() -> None:
    body = {**REGISTER, "ConfirmationURL": "http://example.com/c"}
    assert c2b.parse_register_url(body).confirmation_url == "http://example.com/c"
    assert rejection(c2b.parse_register_url, body, https_only=True) == invalid("ConfirmationURL")


def test_register_ack_v1_as_the_docs_sample() -> None:
    sample = '{"OriginatorCoversationID": "7619-37765134-1", "ResponseCode": "0", "ResponseDescription": "success"}'
    assert c2b.render_register_ack(1, "7619-37765134-1") == compact(sample)


def test_register_ack_v2_says_success_in_sentence_case() -> None:
    ack = c2b.render_register_ack(2, "6e86-45dd-91ac-fd5d4178ab523408729")
    assert ack == (
        '{"OriginatorCoversationID":"6e86-45dd-91ac-fd5d4178ab523408729",'
        '"ResponseCode":"0","ResponseDescription":"Success"}'
    )


def test_register_ack_bare_2026_form() -> None:
    assert c2b.render_register_ack(2, "ignored", bare=True) == '{"ResponseDescription":"Success"}'


def test_duplicate_registration_errors() -> None:
    notification = c2b.duplicate_registration_error("600998")
    assert (notification.status, notification.code, notification.message) == (
        500,
        "500.003.1001",
        "Duplicate notification info, SP ID is 107078, correlator is 600998",
    )
    registered = c2b.duplicate_registration_error("600998", form="registered")
    assert (registered.status, registered.code, registered.message) == (
        500,
        "500.003.1001",
        "Urls are already registered.",
    )


# --- simulate (§11) ----------------------------------------------------------------------------------
SIMULATE = {
    "ShortCode": 600984,
    "CommandID": "CustomerPayBillOnline",
    "Amount": 1,
    "Msisdn": 254708374149,
    "BillRefNumber": "Test Ref",
}


def test_simulate_sample_is_accepted() -> None:
    request = c2b.parse_simulate(SIMULATE)
    assert (request.short_code, request.command_id, request.amount, request.msisdn, request.bill_ref_number) == (
        "600984",
        "CustomerPayBillOnline",
        1,
        "254708374149",
        "Test Ref",
    )


def test_simulate_numbers_as_strings_and_command_id_with_a_space() -> None:
    body = {"ShortCode": "600984", "Command ID": "CustomerBuyGoodsOnline", "Amount": "10", "Msisdn": "254708374149"}
    request = c2b.parse_simulate(body)
    assert (request.command_id, request.amount, request.bill_ref_number) == ("CustomerBuyGoodsOnline", 10, "")


@pytest.mark.parametrize("ref", [None, "", MISSING])
def test_simulate_without_an_account_number(ref: Any) -> None:
    assert c2b.parse_simulate(with_field(SIMULATE, "BillRefNumber", ref)).bill_ref_number == ""


SIMULATE_ERRORS: list[tuple[str, Any, tuple[int, str, str]]] = [
    ("ShortCode", "abc", invalid("ShortCode")),
    ("ShortCode", MISSING, invalid("ShortCode")),
    ("CommandID", "CustomerPayBill", invalid("CommandID")),
    ("CommandID", MISSING, invalid("CommandID")),
    ("Amount", 0, invalid("Amount")),
    ("Amount", 250_001, invalid("Amount")),
    ("Amount", 1.5, invalid("Amount")),
    ("Amount", "one", invalid("Amount")),
    ("Amount", True, invalid("Amount")),
    ("Amount", float("nan"), invalid("Amount")),
    ("Amount", float("inf"), invalid("Amount")),
    ("Amount", 1e30, invalid("Amount")),
    ("Msisdn", "0708374149", invalid("Msisdn")),
    ("Msisdn", 254608374149, invalid("Msisdn")),
    ("Msisdn", MISSING, invalid("Msisdn")),
    ("BillRefNumber", "A" * 21, invalid("BillRefNumber")),
    ("BillRefNumber", {"a": 1}, invalid("BillRefNumber")),
]


@pytest.mark.parametrize(
    ("field", "value", "expected"), SIMULATE_ERRORS, ids=[f"{c[0]}={c[1]!r}"[:60] for c in SIMULATE_ERRORS]
)
def test_simulate_rejections(field: str, value: Any, expected: tuple[int, str, str]) -> None:
    assert rejection(c2b.parse_simulate, with_field(SIMULATE, field, value)) == expected


def test_simulate_msisdn_key_is_mixed_case() -> None:
    body = {**{k: v for k, v in SIMULATE.items() if k != "Msisdn"}, "MSISDN": 254708374149}
    assert rejection(c2b.parse_simulate, body) == invalid("Msisdn")


def test_bad_command_id_with_a_space_is_named_command_id() -> None:
    body = {**{k: v for k, v in SIMULATE.items() if k != "CommandID"}, "Command ID": "Pay"}
    assert rejection(c2b.parse_simulate, body) == invalid("CommandID")


def test_simulate_ack_as_the_docs_sample() -> None:
    sample = """{"OriginatorCoversationID": "53e3-4aa8-9fe0-8fb5e4092cdd3405976", "ResponseCode": "0",
     "ResponseDescription": "Accept the service request successfully."}"""
    assert c2b.render_simulate_ack("53e3-4aa8-9fe0-8fb5e4092cdd3405976") == compact(sample)


# --- validation and confirmation bodies (§10.2, §10.3) ---------------------------------------------
FRAPPE = C2BPayment(
    trans_id="SB62A1SVRK",
    trans_time=at(2024, 2, 6, 17, 52, 4),
    amount=Decimal(1),
    business_short_code="4130669",
    msisdn="254712345845",
    first_name="Peter",
    bill_ref_number="peter",
    org_account_balance=Decimal("161.00"),
)


def test_confirmation_matches_the_real_2024_capture_byte_for_byte() -> None:
    sample = """{"TransactionType": "Pay Bill", "TransID": "SB62A1SVRK", "TransTime": "20240206175204",
     "TransAmount": "1.00", "BusinessShortCode": "4130669", "BillRefNumber": "peter",
     "InvoiceNumber": "", "OrgAccountBalance": "161.00", "ThirdPartyTransID": "",
     "MSISDN": "2547 ***** 845", "FirstName": "PETER"}"""
    assert c2b.render_confirmation(FRAPPE, registration_version=2) == compact(sample)


def test_validation_has_an_empty_balance_and_only_strings() -> None:
    body = json.loads(c2b.render_validation(FRAPPE, registration_version=2))
    assert body["OrgAccountBalance"] == ""
    assert all(isinstance(value, str) for value in body.values())
    assert list(body) == keys(c2b.render_confirmation(FRAPPE, registration_version=2))


def test_confirmation_needs_the_balance_after() -> None:
    with pytest.raises(ValueError):
        c2b.render_confirmation(
            C2BPayment("SB62A1SVRK", 0.0, Decimal(1), "600984", "254708374149", "John"), registration_version=2
        )


def test_amount_and_balance_texts() -> None:
    payment = C2BPayment(
        "SB62A1SVRK", 0.0, Decimal("10.5"), "600984", "254708374149", "John", org_account_balance=from_cents(16500)
    )
    body = json.loads(c2b.render_confirmation(payment, registration_version=2))
    assert (body["TransAmount"], body["OrgAccountBalance"]) == ("10.50", "165.00")


@pytest.mark.parametrize(
    ("msisdn", "version", "style", "expected"),
    [
        ("254708374149", 2, C2BStyle(), "2547 ***** 149"),
        ("254110000126", 2, C2BStyle(), "2541 ***** 126"),
        # MNUM's example, checked in the spec.
        ("254722000000", 1, C2BStyle(), "8556a495c390f3ba95d2bdf6d06436f2fd09f516531f0a7cd9591c60812fa46d"),
        ("254708374149", 1, C2BStyle(), "bbff37cea44ac0b2d964ee0dfb8d2df8513dc7ba1b36129a929fc3fbd6dd4af4"),
        ("254708374149", 1, C2BStyle(v1_msisdn="plain"), "254708374149"),
    ],
)
def test_msisdn_by_registration_version(msisdn: str, version: Literal[1, 2], style: C2BStyle, expected: str) -> None:
    assert c2b.callback_msisdn(msisdn, version, style) == expected
    payment = C2BPayment("SB62A1SVRK", 0.0, Decimal(1), "600984", msisdn, "John", org_account_balance=Decimal(1))
    body = json.loads(c2b.render_confirmation(payment, registration_version=version, style=style))
    assert body["MSISDN"] == expected


def test_names_omitted_by_default_and_optional() -> None:
    payment = C2BPayment(
        "SB62A1SVRK",
        0.0,
        Decimal(1),
        "600984",
        "254708374149",
        "John",
        middle_name="J",
        last_name="Doe",
        org_account_balance=Decimal(1),
    )
    default = json.loads(c2b.render_confirmation(payment, registration_version=2))
    assert list(default)[-1] == "FirstName" and default["FirstName"] == "JOHN"
    empty = json.loads(c2b.render_confirmation(payment, registration_version=2, style=C2BStyle(names="empty")))
    assert list(empty)[-3:] == ["FirstName", "MiddleName", "LastName"]
    assert (empty["MiddleName"], empty["LastName"]) == ("", "")
    full = json.loads(
        c2b.render_confirmation(payment, registration_version=1, style=C2BStyle(names="full", upper_names=False))
    )
    assert (full["FirstName"], full["MiddleName"], full["LastName"]) == ("John", "J", "Doe")


def test_key_order_is_the_spec_table() -> None:
    body = c2b.render_confirmation(FRAPPE, registration_version=2, style=C2BStyle(names="empty"))
    assert keys(body) == [
        "TransactionType",
        "TransID",
        "TransTime",
        "TransAmount",
        "BusinessShortCode",
        "BillRefNumber",
        "InvoiceNumber",
        "OrgAccountBalance",
        "ThirdPartyTransID",
        "MSISDN",
        "FirstName",
        "MiddleName",
        "LastName",
    ]


def test_slashes_plain_by_default_escaped_on_request() -> None:
    payment = C2BPayment(
        "SB62A1SVRK",
        0.0,
        Decimal(1),
        "600984",
        "254708374149",
        "John",
        bill_ref_number="INV/7",
        third_party_trans_id="tp-1",
        org_account_balance=Decimal(1),
    )
    assert '"BillRefNumber":"INV/7"' in c2b.render_confirmation(payment, registration_version=2)
    escaped = c2b.render_confirmation(payment, registration_version=2, style=C2BStyle(escape_slashes=True))
    assert '"BillRefNumber":"INV\\/7"' in escaped
    assert json.loads(escaped)["ThirdPartyTransID"] == "tp-1"


def test_transaction_types() -> None:
    assert c2b.transaction_type_for("CustomerPayBillOnline") == "Pay Bill"
    assert c2b.transaction_type_for("CustomerBuyGoodsOnline") == "Buy Goods"


# --- the merchant's validation answer (§10.4) --------------------------------------------------------
ANSWERS: list[tuple[int | None, Any, Verdict, str | None]] = [
    (200, '{"ResultCode": "0", "ResultDesc": "Accepted"}', Verdict.ACCEPT, "0"),
    (200, '{"ResultCode": 0, "ResultDesc": "Accepted"}', Verdict.ACCEPT, "0"),
    (201, b'{"ResultCode": 0}', Verdict.ACCEPT, "0"),
    (200, '{"ResultCode": "C2B00011", "ResultDesc": "Rejected"}', Verdict.REJECT, "C2B00011"),
    (200, '{"ResultCode": "C2B00012", "ResultDesc": "Rejected"}', Verdict.REJECT, "C2B00012"),
    (200, '{"ResultCode": "C2B00013", "ResultDesc": "Rejected"}', Verdict.REJECT, "C2B00013"),
    (200, '{"ResultCode": "C2B00014", "ResultDesc": "Rejected"}', Verdict.REJECT, "C2B00014"),
    (200, '{"ResultCode": "C2B00015", "ResultDesc": "Rejected"}', Verdict.REJECT, "C2B00015"),
    (200, '{"ResultCode": "C2B00016", "ResultDesc": "Rejected"}', Verdict.REJECT, "C2B00016"),
    (200, '{"ResultCode": 1}', Verdict.REJECT, "1"),
    (200, '{"ResultCode": "1"}', Verdict.REJECT, "1"),
    (200, '{"ResultCode": 0.0}', Verdict.REJECT, "0.0"),  # not 0: only 0 and "0" accept
    (200, '{"ResultCode": false}', Verdict.REJECT, "false"),  # equal to 0 in Python, not on the wire
    (200, '{"ResultCode": "00"}', Verdict.REJECT, "00"),
    (200, '{"ResultCode": null}', Verdict.REJECT, "null"),
    (200, '{"ResultCode": {"a": 1}}', Verdict.REJECT, '{"a": 1}'),
    (200, "OK", Verdict.NO_ANSWER, None),
    (200, "", Verdict.NO_ANSWER, None),
    (200, None, Verdict.NO_ANSWER, None),
    (200, b"\xff\xfe", Verdict.NO_ANSWER, None),
    (200, '[{"ResultCode": 0}]', Verdict.NO_ANSWER, None),
    (200, '{"resultCode": 0}', Verdict.NO_ANSWER, None),
    (200, '{"ResultCode": NaN}', Verdict.NO_ANSWER, None),
    (200, "[" * 10_000, Verdict.NO_ANSWER, None),
    (500, '{"ResultCode": 0}', Verdict.NO_ANSWER, None),
    (302, '{"ResultCode": 0}', Verdict.NO_ANSWER, None),
    (None, None, Verdict.NO_ANSWER, None),
]


@pytest.mark.parametrize(("status", "body", "verdict", "code"), ANSWERS, ids=[f"{a[0]}-{a[1]!r}"[:50] for a in ANSWERS])
def test_validation_answers(status: int | None, body: Any, verdict: Verdict, code: str | None) -> None:
    answer = c2b.parse_validation_answer(status, body)
    assert (answer.verdict, answer.result_code) == (verdict, code)
    assert answer.reason


def test_reject_reason_names_the_code_meaning() -> None:
    answer = c2b.parse_validation_answer(200, '{"ResultCode": "C2B00012", "ResultDesc": "Rejected"}')
    assert "Invalid Account Number" in answer.reason and answer.result_desc == "Rejected"


def test_third_party_trans_id_is_kept_for_the_confirmation() -> None:
    answer = c2b.parse_validation_answer(
        200, '{"ResultCode": "0", "ResultDesc": "Accepted", "ThirdPartyTransID": "1234567890"}'
    )
    assert answer.third_party_trans_id == "1234567890"
    assert c2b.parse_validation_answer(200, '{"ResultCode": 0, "ThirdPartyTransID": 42}').third_party_trans_id == "42"
    assert c2b.parse_validation_answer(200, '{"ResultCode": 0, "ThirdPartyTransID": [1]}').third_party_trans_id == ""


@pytest.mark.parametrize(
    ("verdict_body", "status", "response_type", "completes"),
    [
        ('{"ResultCode": 0}', 200, "Cancelled", True),  # an answer received overrides ResponseType
        ('{"ResultCode": "C2B00016"}', 200, "Completed", False),
        ("garbage", 200, "Completed", True),
        ("garbage", 200, "Cancelled", False),
        (None, None, "Completed", True),
        (None, None, "Cancelled", False),
    ],
)
def test_response_type_decides_only_without_an_answer(
    verdict_body: str | None, status: int | None, response_type: str, completes: bool
) -> None:
    assert c2b.parse_validation_answer(status, verdict_body).completes(response_type) is completes


def test_huge_answer_values_are_cut() -> None:
    answer = c2b.parse_validation_answer(200, json.dumps({"ResultCode": "X" * 100_000, "ResultDesc": "Y" * 100_000}))
    assert answer.verdict is Verdict.REJECT
    assert len(answer.result_code or "") <= 200 and len(answer.result_desc or "") <= 200 and len(answer.reason) < 300


def test_python_field_names_are_not_wire_names() -> None:
    body = {**{k: v for k, v in REGISTER.items() if k != "ShortCode"}, "short_code": "600984"}
    assert rejection(c2b.parse_register_url, body) == invalid("ShortCode")
