"""C2B on the wire: register URL (spec §9), simulate (§11), the validation and confirmation bodies
sent to the merchant (§10.2, §10.3) and the merchant's answer to a validation call (§10.4).

Safaricom's spellings are kept on purpose: ``OriginatorCoversationID`` (no "n") in the acks,
``Msisdn`` in mixed case in the simulate request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ... import json_body
from ...clock import wire_timestamp
from ...daraja.catalogue import BUY_GOODS, MAX_AMOUNT, PAYBILL, GatewayError
from .. import checks, jsontext

# --- register URL (§9) ---------------------------------------------------------------------------
COMPLETED = "Completed"
CANCELLED = "Cancelled"
RESPONSE_TYPES = (COMPLETED, CANCELLED)

URL_WORD = "mpesa"
"""The one word Daraja is seen to refuse in C2B URLs, in any case (§9, observed ×4)."""
STRICT_URL_WORDS = ("M-PESA", "Safaricom", "exec", "exe", "cmd", "SQL", "query", "ngrok", "mockbin", "requestbin")
"""The other words the docs say to avoid; refused only with ``strict_words`` (inferred). ``exec`` comes
before ``exe`` so that the longer word is the one named."""

REGISTER_DESCRIPTION = {1: "success", 2: "Success"}  # as each version's docs page prints it

DUPLICATE_SP_ID = "107078"


def url_word_error(field: str, word: str) -> GatewayError:
    """``400.003.02`` (not 400.002.02) for a URL holding a refused word: ``… - URL has the word MPESA``."""
    return GatewayError(400, "400.003.02", f"Bad Request - Invalid {field} - URL has the word {word.upper()}")


def duplicate_registration_error(
    shortcode: str, *, form: Literal["notification", "registered"] = "notification"
) -> GatewayError:
    """The 500 ``500.003.1001`` for URLs already registered, when re-registration is refused (§9).

    ``notification`` is the text seen in real sandbox traffic (and in the docs), with the shortcode
    as the correlator; ``registered`` is the docs' production text.
    """
    if form == "registered":
        return GatewayError(500, "500.003.1001", "Urls are already registered.")
    return GatewayError(
        500, "500.003.1001", f"Duplicate notification info, SP ID is {DUPLICATE_SP_ID}, correlator is {shortcode}"
    )


class RegisterUrlRequest(checks.WireRequest):
    """``POST /mpesa/c2b/v1/registerurl`` and ``/v2/registerurl`` (one body for both versions).

    Fields are checked in this order; ValidationURL's word check comes before ConfirmationURL's,
    since every capture of a body with the word in both URLs names ValidationURL.
    """

    short_code: str = Field(alias="ShortCode")
    response_type: str = Field(alias="ResponseType")
    validation_url: str = Field(alias="ValidationURL")
    confirmation_url: str = Field(alias="ConfirmationURL")

    @field_validator("short_code", mode="before")
    @classmethod
    def _short_code(cls, value: Any) -> str:
        return checks.shortcode(value, "ShortCode")

    @field_validator("response_type", mode="before")
    @classmethod
    def _response_type(cls, value: Any) -> str:
        # Exactly as spelled: "completed" or "COMPLETED" is refused (the docs insist on sentence case).
        return checks.one_of(value, "ResponseType", RESPONSE_TYPES)

    @field_validator("validation_url", "confirmation_url", mode="before")
    @classmethod
    def _url(cls, value: Any, info: ValidationInfo) -> str:
        field = "ValidationURL" if info.field_name == "validation_url" else "ConfirmationURL"
        address = checks.url(value, field)
        options = info.context or {}
        if options.get("https_only") and not address.lower().startswith("https:"):
            raise ValueError(f"{field} must use https (production registers https URLs only)")
        lowered = address.lower()
        words = (URL_WORD, *STRICT_URL_WORDS) if options.get("strict_words") else (URL_WORD,)
        for word in words:
            if word.lower() in lowered:
                raise checks.daraja_error(
                    url_word_error(field, "MPESA" if word == URL_WORD else word),
                    f"{field} contains the word {word!r}, which Daraja refuses in C2B URLs",
                )
        return address


def parse_register_url(payload: Any, *, strict_words: bool = False, https_only: bool = False) -> RegisterUrlRequest:
    """The register-URL request in ``payload``, or ``WireError`` with Daraja's envelope.

    ``strict_words`` also refuses the docs' other words (§9 "strict", inferred); ``https_only``
    refuses http URLs as production does (§9: the sandbox allows http).
    """
    return checks.parse(RegisterUrlRequest, payload, context={"strict_words": strict_words, "https_only": https_only})


class _Ack(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    def wire(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


class RegisterUrlAck(_Ack):
    """The register-URL ack. The 2026 bare form has only ``ResponseDescription``."""

    originator_coversation_id: str | None = Field(default=None, alias="OriginatorCoversationID")  # sic
    response_code: str | None = Field(default=None, alias="ResponseCode")
    response_description: str = Field(alias="ResponseDescription")


def render_register_ack(version: Literal[1, 2], originator_id: str, *, bare: bool = False) -> str:
    """The HTTP 200 body accepting a registration (§9).

    ``success`` for v1, ``Success`` for v2, as the docs pages print. ``bare`` gives the form the
    2026 sandbox sent: ``{"ResponseDescription":"Success"}`` with no id and no ResponseCode.
    """
    description = REGISTER_DESCRIPTION[version]
    if bare:
        return RegisterUrlAck(response_description=description).wire()
    return RegisterUrlAck(
        originator_coversation_id=originator_id, response_code="0", response_description=description
    ).wire()


# --- simulate (§11) ------------------------------------------------------------------------------
COMMAND_IDS = (PAYBILL, BUY_GOODS)
SIMULATE_DESCRIPTION = "Accept the service request successfully."
BILL_REF_MAX = 20  # the docs' limit for the account number


class SimulateRequest(checks.WireRequest):
    """``POST /mpesa/c2b/v1/simulate`` and ``/v2/simulate``: a customer paying a paybill or till (sandbox only)."""

    short_code: str = Field(alias="ShortCode")
    # A doc-copied "Command ID", with a space, also appears in the wild.
    command_id: str = Field(validation_alias=AliasChoices("CommandID", "Command ID"))
    amount: int = Field(alias="Amount")
    msisdn: str = Field(alias="Msisdn")
    bill_ref_number: str = Field(default="", alias="BillRefNumber")

    @field_validator("short_code", mode="before")
    @classmethod
    def _short_code(cls, value: Any) -> str:
        return checks.shortcode(value, "ShortCode")

    @field_validator("command_id", mode="before")
    @classmethod
    def _command(cls, value: Any) -> str:
        return checks.one_of(value, "CommandID", COMMAND_IDS)

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> int:
        amount = checks.whole_amount(value, "Amount")
        if not 1 <= amount <= MAX_AMOUNT:
            raise ValueError(f"Amount must be between 1 and {MAX_AMOUNT:,} KES, got {amount}")
        return amount

    @field_validator("msisdn", mode="before")
    @classmethod
    def _msisdn(cls, value: Any) -> str:
        return checks.msisdn(value, "Msisdn")

    @field_validator("bill_ref_number", mode="before")
    @classmethod
    def _bill_ref(cls, value: Any) -> str:
        # "null for till" (docs): absent, null and "" are all no account number.
        return checks.optional_text(value, "BillRefNumber", max_len=BILL_REF_MAX) or ""


def parse_simulate(payload: Any) -> SimulateRequest:
    """The simulate request in ``payload``, or ``WireError`` (``400.002.02 Bad Request - Invalid <Field>``, inferred)."""
    return checks.parse(SimulateRequest, payload, names={"Command ID": "CommandID"})


class SimulateAck(_Ack):
    originator_coversation_id: str = Field(alias="OriginatorCoversationID")  # sic
    response_code: str = Field(alias="ResponseCode")
    response_description: str = Field(alias="ResponseDescription")


def render_simulate_ack(originator_id: str) -> str:
    """The HTTP 200 body accepting a simulate call (§11, the current form)."""
    return SimulateAck(
        originator_coversation_id=originator_id, response_code="0", response_description=SIMULATE_DESCRIPTION
    ).wire()


# --- validation and confirmation bodies (§10.2, §10.3) -------------------------------------------
PAY_BILL_TYPE = "Pay Bill"
BUY_GOODS_TYPE = "Buy Goods"  # docs only: no real till capture was found
_TRANSACTION_TYPES = {PAYBILL: PAY_BILL_TYPE, BUY_GOODS: BUY_GOODS_TYPE}


def transaction_type_for(command_id: str) -> str:
    """The callback's ``TransactionType`` for a CommandID or STK TransactionType (``Pay Bill``, ``Buy Goods``)."""
    return _TRANSACTION_TYPES[command_id]


def mask_msisdn(msisdn: str) -> str:
    """The v2 form: first 4 digits, 5 asterisks, last 3, spaced: ``2547 ***** 149``."""
    return f"{msisdn[:4]} ***** {msisdn[-3:]}"


def hash_msisdn(msisdn: str) -> str:
    """The v1 form since November 2023: lower-case hex SHA-256 of the ASCII number."""
    return hashlib.sha256(msisdn.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class C2BStyle:
    """How the validation and confirmation bodies are written where traffic disagrees.

    - ``names``: ``omit`` MiddleName and LastName (real traffic since 2022), send them ``empty``
      (the docs samples), or send the ``full`` names (pre-2022) (§10.2).
    - ``upper_names``: names in upper case, as production sends the KYC name (§10.2).
    - ``v1_msisdn``: ``hashed`` (since November 2023) or ``plain`` (before) for v1 registrations (§10.3).
    - ``escape_slashes``: write ``/`` as ``\\/``. Off: no C2B capture shows it (unknown 13).
    """

    names: Literal["omit", "empty", "full"] = "omit"
    upper_names: bool = True
    v1_msisdn: Literal["hashed", "plain"] = "hashed"
    escape_slashes: bool = False


@dataclass(frozen=True)
class C2BPayment:
    """A customer's payment to a paybill or till, as the validation and confirmation bodies describe it.

    ``org_account_balance`` is the shortcode's utility balance after the payment; only the
    confirmation carries it. ``third_party_trans_id`` is what the merchant's validation answer
    returned, if anything.
    """

    trans_id: str
    trans_time: float
    amount: Decimal
    business_short_code: str
    msisdn: str
    first_name: str
    bill_ref_number: str = ""
    transaction_type: str = PAY_BILL_TYPE
    middle_name: str = ""
    last_name: str = ""
    third_party_trans_id: str = ""
    org_account_balance: Decimal | None = None


def callback_msisdn(msisdn: str, registration_version: Literal[1, 2], style: C2BStyle = C2BStyle()) -> str:
    """The ``MSISDN`` value the merchant gets, by the version its URLs were registered with (§10.3)."""
    if registration_version == 2:
        return mask_msisdn(msisdn)
    return hash_msisdn(msisdn) if style.v1_msisdn == "hashed" else msisdn


def _render(payment: C2BPayment, balance: str, version: Literal[1, 2], style: C2BStyle) -> str:
    def name(value: str) -> str:
        return value.upper() if style.upper_names else value

    body: dict[str, Any] = {
        "TransactionType": payment.transaction_type,
        "TransID": payment.trans_id,
        "TransTime": wire_timestamp(payment.trans_time),
        "TransAmount": jsontext.money_text(payment.amount),
        "BusinessShortCode": payment.business_short_code,
        "BillRefNumber": payment.bill_ref_number,
        "InvoiceNumber": "",
        "OrgAccountBalance": balance,
        "ThirdPartyTransID": payment.third_party_trans_id,
        "MSISDN": callback_msisdn(payment.msisdn, version, style),
        "FirstName": name(payment.first_name),
    }
    if style.names == "empty":
        body["MiddleName"] = body["LastName"] = ""
    elif style.names == "full":
        body["MiddleName"], body["LastName"] = name(payment.middle_name), name(payment.last_name)
    return jsontext.dumps(body, escape_slashes=style.escape_slashes)


def render_validation(payment: C2BPayment, *, registration_version: Literal[1, 2], style: C2BStyle = C2BStyle()) -> str:
    """The body POSTed to the ValidationURL: every value a string, ``OrgAccountBalance`` empty (§10.2)."""
    return _render(payment, "", registration_version, style)


def render_confirmation(
    payment: C2BPayment, *, registration_version: Literal[1, 2], style: C2BStyle = C2BStyle()
) -> str:
    """The body POSTed to the ConfirmationURL, with the balance after the payment (§10.2)."""
    if payment.org_account_balance is None:
        raise ValueError(
            "a confirmation carries the shortcode's balance after the payment: org_account_balance is None"
        )
    return _render(payment, jsontext.money_text(payment.org_account_balance), registration_version, style)


# --- the merchant's validation answer (§10.4, §10.5) ---------------------------------------------
VALIDATION_REJECT_CODES = {
    "C2B00011": "Invalid MSISDN",
    "C2B00012": "Invalid Account Number",
    "C2B00013": "Invalid Amount",
    "C2B00014": "Invalid KYC Details",
    "C2B00015": "Invalid Shortcode",
    "C2B00016": "Other Error",
}
CONFIRMATION_ACK = {"ResultCode": 0, "ResultDesc": "Success"}  # what the docs tell merchants to answer; only logged
_SHOWN = 80  # characters of a merchant's value quoted in a reason
_KEPT = 200  # characters of a merchant's value kept at all


class Verdict(Enum):
    ACCEPT = "accept"
    REJECT = "reject"
    NO_ANSWER = "no_answer"


@dataclass(frozen=True)
class ValidationAnswer:
    """What a merchant's answer to a validation call means (§10.4).

    ``result_code`` and ``result_desc`` are the merchant's values as text (None when absent);
    ``third_party_trans_id`` goes into the confirmation; ``reason`` says it in plain words.
    """

    verdict: Verdict
    reason: str
    result_code: str | None = None
    result_desc: str | None = None
    third_party_trans_id: str = ""

    def completes(self, response_type: str) -> bool:
        """Whether the payment goes through; with no answer, the registered ResponseType decides (§10.5)."""
        if self.verdict is Verdict.NO_ANSWER:
            return response_type == COMPLETED
        return self.verdict is Verdict.ACCEPT


def parse_validation_answer(status: int | None, body: bytes | str | None) -> ValidationAnswer:
    """Read the merchant's answer to a validation POST.

    ``status`` None means no HTTP answer at all (timed out, unreachable). A non-2xx status, a body
    that is not JSON, not an object, or has no ``ResultCode`` is no answer. ``0`` or ``"0"``
    accepts; any other ``ResultCode`` rejects (inferred: the docs say other values cancel).
    """
    if status is None:
        return ValidationAnswer(Verdict.NO_ANSWER, "the merchant did not answer the validation call")
    if not 200 <= status < 300:
        return ValidationAnswer(Verdict.NO_ANSWER, f"the merchant answered HTTP {status}, which is no answer")
    try:
        answer = json_body.loads(body or b"")
    except ValueError as exc:
        return ValidationAnswer(Verdict.NO_ANSWER, f"the merchant's answer is not JSON ({exc})")
    if not isinstance(answer, dict):
        return ValidationAnswer(Verdict.NO_ANSWER, "the merchant's answer is JSON but not an object")
    if "ResultCode" not in answer:
        return ValidationAnswer(Verdict.NO_ANSWER, "the merchant's answer has no ResultCode")
    code, desc = answer["ResultCode"], answer.get("ResultDesc")
    code_text = _as_text(code)[:_KEPT]
    desc_text = _as_text(desc)[:_KEPT] if desc is not None else None
    third_party = answer.get("ThirdPartyTransID")
    usable = isinstance(third_party, (str, int)) and not isinstance(third_party, bool)
    third_party_text = _as_text(third_party)[:_KEPT] if usable else ""
    # 0 or "0" only: not 0.0, not false (equal to 0 in Python), not "00".
    accepted = (isinstance(code, int) and not isinstance(code, bool) and code == 0) or code == "0"
    if accepted:
        return ValidationAnswer(
            Verdict.ACCEPT, "the merchant accepted the payment", code_text, desc_text, third_party_text
        )
    meaning = VALIDATION_REJECT_CODES.get(code) if isinstance(code, str) else None
    why = f" ({meaning})" if meaning else ""
    return ValidationAnswer(
        Verdict.REJECT,
        f"the merchant rejected the payment with ResultCode {code_text[:_SHOWN]}{why}",
        code_text,
        desc_text,
        third_party_text,
    )


def _as_text(value: Any) -> str:
    """A JSON value as the text to show: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)[:_KEPT]
