"""What the initiator APIs (B2C, Business to Pochi, Transaction Status, Account Balance, Reversal)
share on the wire: the synchronous ack, the asynchronous Result envelope, the QueueTimeOutURL body
and the result codes (daraja-more.md §8, §19).

Renderers return the exact text to send. Options that real traffic disagrees on are fields of
``ResultStyle`` or keyword arguments, each defaulting to what the spec says to default to.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ..daraja.catalogue import GatewayError
from ..ids import receipt_prefix
from . import checks, jsontext
from .jsontext import ZERO


class InitiatorApi(Enum):
    """The initiator APIs, for what differs between them on the wire (ack key order and text)."""

    B2C = "b2c"
    POCHI = "pochi"
    TRANSACTION_STATUS = "transaction_status"
    ACCOUNT_BALANCE = "account_balance"
    REVERSAL = "reversal"


# --- the synchronous acknowledgement (§8.3) ----------------------------------------------------
ACK_DESCRIPTION = "Accept the service request successfully."
ACK_DESCRIPTION_NO_PERIOD = "Accept the service request successfully"  # the Account Balance page drops the period

_CONVERSATION_FIRST = frozenset({InitiatorApi.B2C, InitiatorApi.POCHI})  # as the B2C and Pochi pages print

DUPLICATE_ORIGINATOR = GatewayError(500, "500.002.1001", "Duplicate OriginatorConversationID.")
"""B2C v3 (and Pochi) with an OriginatorConversationID already used (§8.3, firm)."""

NO_PRODUCT_MESSAGE = "Error Occurred - Invalid Access Token - Invalid API call as no apiproduct match found"
"""HTTP 401 body text when the app lacks the API product (§8.1, a fault mode: the emulator has no products)."""


def invalid_access_token_401(token: str) -> GatewayError:
    """The 401 form of a bad token some docs pages print, with the token echoed (§8.1; the default is §1's 404)."""
    return GatewayError(401, "401.002.01", f"Error Occurred - Invalid Access Token - {token}")


class _Ack(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    def wire(self) -> str:
        return self.model_dump_json(by_alias=True)


class InitiatorAck(_Ack):
    """The ack as the Transaction Status, Account Balance and Reversal pages print it: OriginatorConversationID first."""

    originator_conversation_id: str = Field(alias="OriginatorConversationID")
    conversation_id: str = Field(alias="ConversationID")
    response_code: str = Field(alias="ResponseCode")
    response_description: str = Field(alias="ResponseDescription")


class InitiatorAckConversationFirst(_Ack):
    """The ack as the B2C and Pochi pages print it: ConversationID first."""

    conversation_id: str = Field(alias="ConversationID")
    originator_conversation_id: str = Field(alias="OriginatorConversationID")
    response_code: str = Field(alias="ResponseCode")
    response_description: str = Field(alias="ResponseDescription")


def render_ack(
    api: InitiatorApi,
    originator_conversation_id: str,
    conversation_id: str,
    *,
    conversation_id_first: bool | None = None,
) -> str:
    """The HTTP 200 body accepting an initiator request (§8.3).

    ``ResponseCode`` is the string ``"0"``. Key order varies by page: ``conversation_id_first``
    None follows the docs (ConversationID first for B2C and Pochi only); True or False forces it.
    """
    first = api in _CONVERSATION_FIRST if conversation_id_first is None else conversation_id_first
    description = ACK_DESCRIPTION_NO_PERIOD if api is InitiatorApi.ACCOUNT_BALANCE else ACK_DESCRIPTION
    model = InitiatorAckConversationFirst if first else InitiatorAck
    return model(
        originator_conversation_id=originator_conversation_id,
        conversation_id=conversation_id,
        response_code="0",
        response_description=description,
    ).wire()


# --- result codes (§19) -------------------------------------------------------------------------
SUCCESS = 0
INSUFFICIENT_FUNDS = 1
INSUFFICIENT_BALANCE_2026 = 4001  # what the 2026 sandbox sends where the docs say 1
BELOW_MINIMUM = 2
ABOVE_MAXIMUM = 3
DAILY_LIMIT = 4
RECEIVER_INVALID = 7
MAX_BALANCE = 8
DEBIT_PARTY_INVALID = 11
DUPLICATE_DETECTED = 15
SYSTEM_ERROR = 17
INITIATOR_NOT_ALLOWED = 21
SYSTEM_BUSY = 26
INITIATOR_INVALID = 2001
ACCOUNT_INACTIVE = 2006
EXTERNAL_VALIDATION_FAILED = 2007
PRODUCT_NOT_PERMITTED = 2028
STATUS_NOT_FOUND = 2033
UNREGISTERED_CUSTOMER = 2040
CREDENTIAL_LOCKED = 8006
OPERATOR_MISSING = "SFC_IC0003"
ALREADY_REVERSED = "R000001"
ORIGINAL_INVALID = "R000002"

RESULT_DESCRIPTIONS: dict[int | str, str] = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction.",
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
    2007: "External validation failed for the C2B transaction.",
    2028: "The request is not permitted according to product assignment.",
    2033: "The transaction receipt number cannot be found by the specified OriginatorConversationID or ConversationID.",
    # The space before the period is in real traffic (R-SCH ×4); the docs lack it.
    2040: "Credit Party customer type (Unregistered or Registered Customer) can't be supported by the service .",
    4001: "Insufficient balance",
    8006: "The security credential is locked.",
    "SFC_IC0003": "The operator does not exist.",
    "R000001": "The transaction has already been reversed",
    "R000002": "The OriginalTransactionID is invalid.",
}

RESULT_PLAIN_WORDS: dict[int | str, str] = {
    0: "done",
    1: "insufficient funds",
    2: "amount below the minimum",
    3: "amount above the maximum per transaction",
    4: "would exceed the customer's daily limit",
    7: "receiver party invalid",
    8: "would exceed the recipient's maximum balance",
    11: "the paying shortcode is inactive",
    15: "duplicate OriginatorConversationID",
    17: "system internal error",
    21: "the initiator may not make this request",
    26: "system busy",
    2001: "initiator name or security credential invalid",
    2006: "account inactive",
    2007: "the merchant's validation rejected the payment",
    2028: "not permitted for this product",
    2033: "no transaction found for the status query",
    2040: "recipient not a registered M-PESA customer",
    4001: "insufficient balance (the 2026 sandbox's code)",
    8006: "security credential locked after repeated failures",
    "SFC_IC0003": "operator does not exist",
    "R000001": "already reversed",
    "R000002": "unknown original transaction",
}


def wire_code(code: int | str) -> int | str:
    """A result code in its wire type: an int, or a string for the alphanumeric codes (``"0"`` -> ``0``)."""
    if isinstance(code, str) and code.isascii() and code.isdigit():
        return int(code)
    return code


def result_desc(code: int | str) -> str:
    """The exact ``ResultDesc`` of ``code`` (§19); ``KeyError`` for a code the table lacks."""
    return RESULT_DESCRIPTIONS[wire_code(code)]


def no_transaction_id(now: float) -> str:
    """The ``TransactionID`` of a Result with no transaction behind it: the receipt's date code and seven zeros.

    Account Balance and Transaction Status always send this, and so do failures found before a
    transaction was made (2040, 4001, R000002): ``UGC0000000`` on 2026-07-12 (§8.4).
    """
    return receipt_prefix(now) + "0000000"


# --- the asynchronous Result (§8.4) ------------------------------------------------------------
SANDBOX_INTERNAL_BASE = "https://internalsandbox.safaricom.co.ke"
PRODUCTION_INTERNAL_BASE = "https://internalapi.safaricom.co.ke"
PRODUCTION_INTERNAL_BASE_HTTP = "http://internalapi.safaricom.co.ke"  # also seen in production


@dataclass(frozen=True)
class ResultStyle:
    """How Result bodies are written where real traffic disagrees (§8.4).

    - ``codes_as_strings``: ``"ResultType":"0","ResultCode":"0"`` as the AB, B2B and Tax pages
      print them, instead of the numbers of real traffic. Alphanumeric codes are strings either way.
    - ``escape_slashes``: ``\\/`` for every ``/``, as the raw captures show; off gives plain ``/``.
    - ``internal_base``: the scheme and host of Daraja's own QueueTimeoutURL in ``ReferenceData``.
    """

    codes_as_strings: bool = False
    escape_slashes: bool = True
    internal_base: str = SANDBOX_INTERNAL_BASE


DEFAULT_STYLE = ResultStyle()


@dataclass(frozen=True)
class Param:
    """One ``{"Key": …, "Value": …}`` item. ``value`` None writes the item with no ``Value`` key at all.

    A ``str`` is a JSON string, an ``int`` an integer, a ``Decimal`` money with two decimals.
    """

    key: str
    value: str | int | Decimal | None = None

    def wire(self) -> dict[str, Any]:
        return {"Key": self.key} if self.value is None else {"Key": self.key, "Value": self.value}


@dataclass(frozen=True)
class Conversation:
    """The two ids a Result opens with: the request's OriginatorConversationID and Daraja's ConversationID."""

    originator_conversation_id: str
    conversation_id: str


# The service part of Daraja's internal QueueTimeoutURL, per API (§8.4).
B2C_RESULTS = "b2cresults"
ACCOUNT_BALANCE_RESULTS = "abresults"
REVERSAL_RESULTS = "reversalresults"
B2B_RESULTS = "b2bresults"


def queue_timeout_reference(service: str, style: ResultStyle = DEFAULT_STYLE) -> Param:
    """The ``ReferenceItem`` B2C, Account Balance and Reversal Results carry: Daraja's own URL, not the merchant's."""
    return Param("QueueTimeoutURL", f"{style.internal_base}/mpesa/{service}/v1/submit")


def render_result(
    conversation: Conversation,
    *,
    code: int | str,
    transaction_id: str,
    parameters: Sequence[Param] | None,
    reference: Param | Sequence[Param],
    style: ResultStyle = DEFAULT_STYLE,
    desc: str | None = None,
) -> str:
    """The body POSTed to the merchant's ResultURL (§8.4), keys in Daraja's order.

    ``parameters`` None leaves out the ``ResultParameters`` key, as every failure does; a single
    ``reference`` is written as an object (B2C, TS, AB, Reversal), a sequence as an array (B2B).
    ``desc`` None takes the §19 text of ``code``.
    """
    code = wire_code(code)
    text = result_desc(code) if desc is None else desc
    result: dict[str, Any] = {
        "ResultType": "0" if style.codes_as_strings else 0,
        "ResultCode": str(code) if style.codes_as_strings else code,
        "ResultDesc": text,
        "OriginatorConversationID": conversation.originator_conversation_id,
        "ConversationID": conversation.conversation_id,
        "TransactionID": transaction_id,
    }
    if parameters is not None:
        result["ResultParameters"] = {"ResultParameter": [item.wire() for item in parameters]}
    items = reference.wire() if isinstance(reference, Param) else [item.wire() for item in reference]
    result["ReferenceData"] = {"ReferenceItem": items}
    return jsontext.dumps({"Result": result}, escape_slashes=style.escape_slashes)


# --- the QueueTimeOutURL body (§8.5) -------------------------------------------------------------
QUEUE_TIMEOUT_RESULT_CODE = 1
"""The ResultCode of the ``result`` queue-timeout shape (inferred, no source)."""


def render_queue_timeout_echo(request: Mapping[str, Any], *, escape_slashes: bool = True) -> str:
    """The default QueueTimeOutURL body: the merchant's request echoed back, keys as it sent them (§8.5).

    Only for the queue time-out fault mode; nothing is sent there by default. ``request`` is the
    parsed body as received (numbers stay as they came: ``10`` or ``"10"``).
    """
    text = json.dumps(dict(request), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("/", "\\/") if escape_slashes else text


# --- accounts, as Account Balance and Reversal write them (§14, §15) ----------------------------
WORKING = "Working Account"
FLOAT = "Float Account"
UTILITY = "Utility Account"
CHARGES_PAID = "Charges Paid Account"
MERCHANT = "Merchant Account"
ORGANIZATION_SETTLEMENT = "Organization Settlement Account"
CURRENCY = "KES"


@dataclass(frozen=True)
class AccountLine:
    """One account as ``Name|KES|current|available|reserved|uncleared`` (§14; the field meanings are inferred).

    ``available`` defaults to ``current``; ``reserved`` and ``uncleared`` to 0.00.
    """

    name: str
    current: Decimal
    available: Decimal | None = None
    reserved: Decimal = ZERO
    uncleared: Decimal = ZERO

    def wire(self) -> str:
        available = self.current if self.available is None else self.available
        amounts = (self.current, available, self.reserved, self.uncleared)
        return "|".join((self.name, CURRENCY, *(jsontext.money_text(amount) for amount in amounts)))


def accounts_text(lines: Sequence[AccountLine]) -> str:
    """Accounts joined by ``&``, as the ``AccountBalance`` parameter carries them."""
    return "&".join(line.wire() for line in lines)


# --- request fields the initiator APIs share ---------------------------------------------------
def credential_is_base64(credential: str) -> bool:
    """Whether a SecurityCredential is base64, the emulator's default test of it (§8.2).

    Whitespace is ignored (some encoders wrap lines). A credential that fails is not a request
    error: its Result is 2001 (the engine's call). The docs' B2C sample placeholder fails: it is
    29 characters once its space is dropped.
    """
    packed = "".join(credential.split())
    if not packed:
        return False
    try:
        base64.b64decode(packed, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


IDENTIFIER_MSISDN = "1"
IDENTIFIER_TILL = "2"
IDENTIFIER_SHORTCODE = "4"
IDENTIFIER_REVERSAL_DOCS = "11"  # what the Reversal page asks for; clients also send 4


# Remarks and Occasion: B2C's documented limits, applied to every initiator API (inferred for the others).
REMARKS_MIN, REMARKS_MAX = 2, 100
OCCASION_MAX = 100


class InitiatorTail(checks.WireRequest):
    """The checks of the fields every initiator request has: ResultURL, QueueTimeOutURL, Remarks and,
    where there is one, Occasion. Each API declares these fields itself, in its own check order (the
    order of the first error Daraja names); the validators here apply to them by name."""

    OCCASION_NAME: ClassVar[str] = "Occasion"  # B2C's docs spell it Occassion

    @field_validator("result_url", "queue_timeout_url", mode="before", check_fields=False)
    @classmethod
    def _url(cls, value: Any, info: ValidationInfo) -> str:
        field = info.field_name or ""
        return checks.url(value, cls.model_fields[field].alias or field)

    @field_validator("remarks", mode="before", check_fields=False)
    @classmethod
    def _remarks(cls, value: Any) -> str:
        return checks.text(value, "Remarks", min_len=REMARKS_MIN, max_len=REMARKS_MAX, numbers=True)

    @field_validator("occasion", mode="before", check_fields=False)
    @classmethod
    def _occasion(cls, value: Any) -> str | None:
        # Accepted (and, on Reversal, ignored): older clients send either spelling.
        return checks.optional_text(value, cls.OCCASION_NAME, max_len=OCCASION_MAX)


class InitiatorRequest(InitiatorTail):
    """The first three fields of a Transaction Status, Account Balance or Reversal request.

    Subclasses set ``COMMANDS`` and add their own fields after these, in Daraja's check order.
    """

    COMMANDS: ClassVar[tuple[str, ...]] = ()

    initiator: str = Field(alias="Initiator")
    security_credential: str = Field(alias="SecurityCredential")
    command_id: str = Field(alias="CommandID")

    @field_validator("initiator", mode="before")
    @classmethod
    def _initiator(cls, value: Any) -> str:
        return checks.text(value, "Initiator")

    @field_validator("security_credential", mode="before")
    @classmethod
    def _credential(cls, value: Any) -> str:
        # Only presence is checked here: a wrong credential is an asynchronous 2001 (§8.2).
        return checks.text(value, "SecurityCredential", max_len=4096)

    @field_validator("command_id", mode="before")
    @classmethod
    def _command(cls, value: Any) -> str:
        return checks.one_of(value, "CommandID", cls.COMMANDS)
