"""What the initiator APIs share on the wire (spec §8, §19), the JSON writer, and the new id formats."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from server.flows import initiator_wire as iw
from server.flows import jsontext
from server.flows.initiator_wire import InitiatorApi
from server.ids import IdGenerator, receipt_prefix
from tests.server.wire_kit import at, compact, keys

OCID = "6e47-4967-bcb9-74445bede7d2149876"
CID = "AG_20260725_0100100306hfuhjt5vaj"


# --- the synchronous ack (§8.3) ----------------------------------------------------------------
def test_ack_sample_of_the_status_page_byte_for_byte() -> None:
    sample = """{"OriginatorConversationID": "6e47-4967-bcb9-74445bede7d2149876",
     "ConversationID": "AG_20260725_0100100306hfuhjt5vaj",
     "ResponseCode": "0",
     "ResponseDescription": "Accept the service request successfully."}"""
    assert iw.render_ack(InitiatorApi.TRANSACTION_STATUS, OCID, CID) == compact(sample)


@pytest.mark.parametrize(
    ("api", "first", "description"),
    [
        (InitiatorApi.B2C, "ConversationID", "Accept the service request successfully."),
        (InitiatorApi.POCHI, "ConversationID", "Accept the service request successfully."),
        (InitiatorApi.TRANSACTION_STATUS, "OriginatorConversationID", "Accept the service request successfully."),
        (InitiatorApi.REVERSAL, "OriginatorConversationID", "Accept the service request successfully."),
        # The Account Balance page drops the period.
        (InitiatorApi.ACCOUNT_BALANCE, "OriginatorConversationID", "Accept the service request successfully"),
    ],
)
def test_ack_key_order_and_text_per_api(api: InitiatorApi, first: str, description: str) -> None:
    ack = json.loads(iw.render_ack(api, OCID, CID))
    assert next(iter(ack)) == first
    assert set(ack) == {"OriginatorConversationID", "ConversationID", "ResponseCode", "ResponseDescription"}
    assert ack["ResponseCode"] == "0"  # the string, not the number
    assert ack["ResponseDescription"] == description
    assert (ack["OriginatorConversationID"], ack["ConversationID"]) == (OCID, CID)


def test_ack_key_order_can_be_forced_either_way() -> None:
    assert (
        keys(iw.render_ack(InitiatorApi.B2C, OCID, CID, conversation_id_first=False))[0] == "OriginatorConversationID"
    )
    assert keys(iw.render_ack(InitiatorApi.REVERSAL, OCID, CID, conversation_id_first=True))[0] == "ConversationID"


def test_duplicate_originator_envelope() -> None:
    assert (iw.DUPLICATE_ORIGINATOR.status, iw.DUPLICATE_ORIGINATOR.code, iw.DUPLICATE_ORIGINATOR.message) == (
        500,
        "500.002.1001",
        "Duplicate OriginatorConversationID.",
    )


def test_401_token_form_echoes_the_token() -> None:
    error = iw.invalid_access_token_401("abc123")
    assert (error.status, error.code, error.message) == (
        401,
        "401.002.01",
        "Error Occurred - Invalid Access Token - abc123",
    )


# --- the Result envelope (§8.4) ------------------------------------------------------------------
def _failure(code: int | str, style: iw.ResultStyle = iw.DEFAULT_STYLE) -> str:
    return iw.render_result(
        iw.Conversation(OCID, CID),
        code=code,
        transaction_id="UGP0000000",
        parameters=None,
        reference=iw.queue_timeout_reference(iw.B2C_RESULTS, style),
        style=style,
    )


def test_result_envelope_key_order_and_types() -> None:
    text = iw.render_result(
        iw.Conversation(OCID, CID),
        code=0,
        transaction_id="UGP030DS9I",
        parameters=[iw.Param("A", 1), iw.Param("B", "x"), iw.Param("C", Decimal("2.5")), iw.Param("D")],
        reference=iw.queue_timeout_reference(iw.B2C_RESULTS),
    )
    result = json.loads(text)["Result"]
    assert list(result) == [
        "ResultType",
        "ResultCode",
        "ResultDesc",
        "OriginatorConversationID",
        "ConversationID",
        "TransactionID",
        "ResultParameters",
        "ReferenceData",
    ]
    assert result["ResultType"] == 0 and result["ResultCode"] == 0
    assert '{"Key":"C","Value":2.50}' in text  # money: two decimals, a number
    assert '{"Key":"D"}' in text  # no Value key at all
    assert isinstance(result["ReferenceData"]["ReferenceItem"], dict)  # an object, not a list


def test_failure_has_no_result_parameters_key() -> None:
    assert "ResultParameters" not in json.loads(_failure(2040))["Result"]


def test_codes_as_strings_option() -> None:
    numbers = json.loads(_failure(2001))["Result"]
    strings = json.loads(_failure(2001, iw.ResultStyle(codes_as_strings=True)))["Result"]
    assert (numbers["ResultType"], numbers["ResultCode"]) == (0, 2001)
    assert (strings["ResultType"], strings["ResultCode"]) == ("0", "2001")


@pytest.mark.parametrize("codes_as_strings", [False, True])
@pytest.mark.parametrize("code", ["R000002", "SFC_IC0003", "R000001"])
def test_alphanumeric_codes_are_always_strings(code: str, codes_as_strings: bool) -> None:
    text = _failure(code, iw.ResultStyle(codes_as_strings=codes_as_strings))
    assert f'"ResultCode":"{code}"' in text


def test_stored_numeric_code_text_goes_out_as_a_number() -> None:
    assert '"ResultCode":2040,' in _failure("2040")


def test_slashes_escaped_by_default_and_plain_on_request() -> None:
    escaped = _failure(2040)
    assert '"https:\\/\\/internalsandbox.safaricom.co.ke\\/mpesa\\/b2cresults\\/v1\\/submit"' in escaped
    plain = _failure(2040, iw.ResultStyle(escape_slashes=False))
    assert '"https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"' in plain
    assert json.loads(escaped) == json.loads(plain)  # any JSON parser reads both the same


@pytest.mark.parametrize(
    ("service", "base", "url"),
    [
        (
            iw.B2C_RESULTS,
            iw.SANDBOX_INTERNAL_BASE,
            "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit",
        ),
        (
            iw.ACCOUNT_BALANCE_RESULTS,
            iw.PRODUCTION_INTERNAL_BASE,
            "https://internalapi.safaricom.co.ke/mpesa/abresults/v1/submit",
        ),
        (
            iw.REVERSAL_RESULTS,
            iw.PRODUCTION_INTERNAL_BASE_HTTP,
            "http://internalapi.safaricom.co.ke/mpesa/reversalresults/v1/submit",
        ),
    ],
)
def test_queue_timeout_reference_is_darajas_own_url(service: str, base: str, url: str) -> None:
    item = iw.queue_timeout_reference(service, iw.ResultStyle(internal_base=base))
    assert item.wire() == {"Key": "QueueTimeoutURL", "Value": url}


def test_reference_sequence_is_written_as_an_array() -> None:
    text = iw.render_result(
        iw.Conversation(OCID, CID),
        code=0,
        transaction_id="X",
        parameters=None,
        reference=[iw.Param("BillReferenceNumber", "19008"), iw.Param("Occassion")],
    )
    assert json.loads(text)["Result"]["ReferenceData"]["ReferenceItem"] == [
        {"Key": "BillReferenceNumber", "Value": "19008"},
        {"Key": "Occassion"},
    ]


# --- result codes (§19) --------------------------------------------------------------------------
SPEC_19 = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction.",
    4001: "Insufficient balance",
    2: "Declined due to limit rule",
    3: "Declined due to limit rule: greater than the maximum transaction amount.",
    4: "Declined due to limit rule: would exceed daily transfer limit",
    7: "The ReceiverParty information is invalid.",
    8: "Declined due to limit rule: would exceed the maximum balance.",
    11: "The DebitParty is in an invalid state.",
    15: "Duplicate OriginatorConversationID.",
    17: "System internal error.",
    21: "The initiator is not allowed to initiate this request",
    26: "System busy. The service request is rejected.",
    2001: "The initiator information is invalid.",
    2006: "Declined due to account rule: The account status does not allow this transaction.",
    2028: "The request is not permitted according to product assignment.",
    2040: "Credit Party customer type (Unregistered or Registered Customer) can't be supported by the service .",
    8006: "The security credential is locked.",
    "SFC_IC0003": "The operator does not exist.",
    "R000001": "The transaction has already been reversed",
    "R000002": "The OriginalTransactionID is invalid.",
    2007: "External validation failed for the C2B transaction.",
    2033: "The transaction receipt number cannot be found by the specified OriginatorConversationID or ConversationID.",
}


@pytest.mark.parametrize(("code", "desc"), list(SPEC_19.items()))
def test_result_descriptions_are_the_spec_texts(code: int | str, desc: str) -> None:
    assert iw.result_desc(code) == desc
    assert code in iw.RESULT_PLAIN_WORDS  # every code has words for the activity log


def test_the_table_has_nothing_the_spec_lacks() -> None:
    assert set(iw.RESULT_DESCRIPTIONS) == set(SPEC_19)


def test_result_uses_the_table_text_unless_told_otherwise() -> None:
    assert json.loads(_failure(8006))["Result"]["ResultDesc"] == "The security credential is locked."
    custom = iw.render_result(
        iw.Conversation(OCID, CID),
        code=1,
        transaction_id="X",
        parameters=None,
        reference=iw.Param("QueueTimeoutURL", "u"),
        desc="Queue timed out",
    )
    assert json.loads(custom)["Result"]["ResultDesc"] == "Queue timed out"


def test_unknown_code_without_a_text_is_refused() -> None:
    with pytest.raises(KeyError):
        iw.result_desc(12345)


# --- TransactionID with no transaction (§8.4) ------------------------------------------------------
@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(2026, 7, 12), "UGC0000000"),
        (at(2026, 8, 25), "UHP0000000"),
        (at(2024, 2, 6), "SB60000000"),
        (at(2020, 1, 9), "OA90000000"),
        (at(2026, 7, 9), "UG90000000"),
        (at(2026, 12, 31, 23, 59, 59), "ULV0000000"),  # L = December, V = 31
        # 21:30 UTC on the 11th is already the 12th in Nairobi: the date is EAT's.
        (at(2026, 7, 12, 0, 30), "UGC0000000"),
    ],
)
def test_no_transaction_id(moment: float, expected: str) -> None:
    assert iw.no_transaction_id(moment) == expected


def test_receipt_prefix_matches_the_receipts_the_generator_makes() -> None:
    ids = IdGenerator(seed=3)
    moment = at(2026, 11, 27, 18, 50)
    assert ids.receipt(moment)[:3] == receipt_prefix(moment) == "UKR"


# --- QueueTimeOutURL body (§8.5) -------------------------------------------------------------------
def test_queue_timeout_echo_keeps_the_request_as_sent() -> None:
    request = {
        "InitiatorName": "testapi",
        "Amount": 10,
        "PartyB": "254708374149",
        "QueueTimeOutURL": "https://m.example/q",
        "OriginatorConversationID": "x-1",
    }
    echo = iw.render_queue_timeout_echo(request)
    assert echo == (
        '{"InitiatorName":"testapi","Amount":10,"PartyB":"254708374149",'
        '"QueueTimeOutURL":"https:\\/\\/m.example\\/q","OriginatorConversationID":"x-1"}'
    )
    assert json.loads(iw.render_queue_timeout_echo(request, escape_slashes=False)) == request
    assert "\\/" not in iw.render_queue_timeout_echo(request, escape_slashes=False)


def test_queue_timeout_result_shape_is_a_result_with_code_1() -> None:
    text = _failure(iw.QUEUE_TIMEOUT_RESULT_CODE)
    assert json.loads(text)["Result"]["ResultCode"] == 1


# --- accounts (§14, §15) ---------------------------------------------------------------------------
def test_account_line_fields() -> None:
    line = iw.AccountLine(iw.CHARGES_PAID, Decimal("-153780"), Decimal("-164505"), Decimal("10725"))
    assert line.wire() == "Charges Paid Account|KES|-153780.00|-164505.00|10725.00|0.00"
    assert iw.AccountLine(iw.UTILITY, Decimal(5)).wire() == "Utility Account|KES|5.00|5.00|0.00|0.00"
    assert iw.accounts_text([iw.AccountLine(iw.WORKING, Decimal(1)), iw.AccountLine(iw.UTILITY, Decimal(2))]) == (
        "Working Account|KES|1.00|1.00|0.00|0.00&Utility Account|KES|2.00|2.00|0.00|0.00"
    )


# --- the JSON writer -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal(1), "1.00"),
        (Decimal("3020629.44"), "3020629.44"),
        (Decimal(584459), "584459.00"),
        (Decimal("-2420"), "-2420.00"),
        (Decimal("-0"), "0.00"),
        (Decimal("0.001"), "0.00"),
        (Decimal("1E+3"), "1000.00"),
        (Decimal(0), "0.00"),
    ],
)
def test_money_text(amount: Decimal, text: str) -> None:
    assert jsontext.money_text(amount) == text


@pytest.mark.parametrize(
    ("cents", "text"), [(302062944, "3020629.44"), (-242000, "-2420.00"), (5, "0.05"), (0, "0.00")]
)
def test_from_cents(cents: int, text: str) -> None:
    assert jsontext.money_text(jsontext.from_cents(cents)) == text


@pytest.mark.parametrize("bad", [1, 1.5, True, "1.00", Decimal("NaN"), Decimal("Infinity")])
def test_money_refuses_ints_floats_bools_strings_and_non_finite(bad: object) -> None:
    # An int is refused too: it could be the ledger's cents or shillings (from_cents says which).
    with pytest.raises((TypeError, ValueError)):
        jsontext.money_text(bad)  # type: ignore[arg-type]  # wrong types are the point


def test_writer_refuses_floats_anywhere() -> None:
    with pytest.raises(TypeError):
        jsontext.dumps({"a": [1, 2.0]})


def test_writer_keeps_order_unicode_and_escapes() -> None:
    value = {"b": 'q"uote\\', "a": "Ngʼang'a", "n": None, "t": True, "l": [1, Decimal("2")]}
    text = jsontext.dumps(value)
    assert text == '{"b":"q\\"uote\\\\","a":"Ngʼang\'a","n":null,"t":true,"l":[1,2.00]}'
    assert json.loads(jsontext.dumps({"u": "a\\/b"}, escape_slashes=True)) == {"u": "a\\/b"}


# --- ids (§8.3, §9) ----------------------------------------------------------------------------------
_CONVERSATION = re.compile(r"AG_(\d{8})_0100[0-9a-z]{16}")
_ORIGINATOR = re.compile(r"([0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})([0-9]{4,7})")


def test_conversation_id_form_and_eat_date() -> None:
    ids = IdGenerator(seed=1)
    moment = at(2026, 7, 12, 0, 30)  # still the 11th in UTC
    match = _CONVERSATION.fullmatch(ids.conversation_id(moment))
    assert match is not None and match.group(1) == "20260712"
    assert len(ids.conversation_id(moment)) == len("AG_20260712_010010030ye6s6aobu6c")


def test_conversation_ids_never_repeat() -> None:
    ids = IdGenerator(seed=1)
    moment = at(2026, 7, 12)
    made = [ids.conversation_id(moment) for _ in range(20_000)]
    assert len(set(made)) == len(made)


def test_originator_conversation_id_family() -> None:
    ids = IdGenerator(seed=5)
    made = [ids.originator_conversation_id() for _ in range(6)]
    matches = [_ORIGINATOR.fullmatch(value) for value in made]
    assert all(matches)
    prefixes = [m.group(1) for m in matches if m]
    counters = [int(m.group(2)) for m in matches if m]
    assert len(set(prefixes)) == 2 and prefixes[0::2] == [prefixes[0]] * 3  # two node prefixes, alternating
    assert counters == list(range(counters[0], counters[0] + 6))  # a rising counter
    assert len(set(made)) == 6


def test_register_originator_ids_follow_each_docs_page() -> None:
    ids = IdGenerator(seed=5)
    assert re.fullmatch(r"[0-9]{4,5}-[0-9]{7,8}-1", ids.register_originator_id(1))  # like 7619-37765134-1
    assert _ORIGINATOR.fullmatch(ids.register_originator_id(2))  # like 6e86-45dd-91ac-fd5d4178ab523408729


def test_new_ids_are_reproducible_from_the_seed() -> None:
    def run(seed: int) -> list[str]:
        ids = IdGenerator(seed=seed)
        moment = at(2026, 7, 12)
        return [ids.conversation_id(moment), ids.originator_conversation_id(), ids.register_originator_id(1)]

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_existing_id_sequences_are_unchanged_by_the_new_ones() -> None:
    # The values IdGenerator(seed=7) gave before the new ids existed: screenshots and tests depend on them.
    plain = IdGenerator(seed=7)
    mixed = IdGenerator(seed=7)
    moment = at(2026, 11, 27, 18, 50)
    expected = ["6513-270e-269e-0d37f2a74de443446", "128b-2f33-0c5c-7fd0a6a3a45043447"]
    assert [plain.merchant_request_id(), plain.merchant_request_id()] == expected
    first = mixed.merchant_request_id()
    mixed.conversation_id(moment)
    mixed.originator_conversation_id()
    mixed.register_originator_id(1)
    assert [first, mixed.merchant_request_id()] == expected
    assert mixed.receipt(moment) == plain.receipt(moment)
    assert mixed.request_id() == plain.request_id()


# --- the models as documentation ---------------------------------------------------------------------
def test_request_models_document_their_wire_keys_in_check_order() -> None:
    # The OpenAPI document is generated from these models: their schemas must use the wire names.
    from server.flows.b2c.wire import B2CRequest
    from server.flows.balance.wire import BalanceRequest
    from server.flows.c2b.wire import RegisterUrlRequest, SimulateRequest
    from server.flows.checks import WireRequest
    from server.flows.reversal.wire import ReversalRequest
    from server.flows.status.wire import StatusRequest

    expected: dict[type[WireRequest], list[str]] = {
        RegisterUrlRequest: ["ShortCode", "ResponseType", "ValidationURL", "ConfirmationURL"],
        SimulateRequest: ["ShortCode", "CommandID", "Amount", "Msisdn", "BillRefNumber"],
        B2CRequest: [
            "OriginatorConversationID",
            "InitiatorName",
            "SecurityCredential",
            "CommandID",
            "Amount",
            "PartyA",
            "PartyB",
            "Remarks",
            "QueueTimeOutURL",
            "ResultURL",
            "Occassion",
        ],
        StatusRequest: [
            "Initiator",
            "SecurityCredential",
            "CommandID",
            "TransactionID",
            "OriginalConversationID",
            "PartyA",
            "IdentifierType",
            "ResultURL",
            "QueueTimeOutURL",
            "Remarks",
            "Occasion",
        ],
        BalanceRequest: [
            "Initiator",
            "SecurityCredential",
            "CommandID",
            "PartyA",
            "IdentifierType",
            "Remarks",
            "QueueTimeOutURL",
            "ResultURL",
        ],
        ReversalRequest: [
            "Initiator",
            "SecurityCredential",
            "CommandID",
            "TransactionID",
            "Amount",
            "ReceiverParty",
            "RecieverIdentifierType",
            "ResultURL",
            "QueueTimeOutURL",
            "Remarks",
            "Occasion",
        ],
    }
    for model, wire_keys in expected.items():
        assert list(model.model_json_schema(by_alias=True)["properties"]) == wire_keys, model.__name__


@pytest.mark.parametrize(
    ("credential", "ok"),
    [
        ("ZmFrZQ==", True),
        ("ZmFr\nZQ==", True),
        ("ZmFr ZQ==", True),
        ("Safaricom123!!", False),
        ("   ", False),
        ("RC6E9WDxXR4b9X2c6z3gp0oC5Th ==", False),
    ],  # the last: the docs' placeholder, not base64
)
def test_credential_is_base64(credential: str, ok: bool) -> None:
    assert iw.credential_is_base64(credential) is ok
