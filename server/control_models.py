"""The bodies of the control API that ``server.control`` reads by hand, as pydantic models for its document.

The handlers check these bodies field by field (``_object_body``, then the simulator's checks),
so nothing here validates a request: these models exist so that ``server.openapi`` generates the
request schemas of those routes the way it generates every other, from a model. Each says what
the handler and the checks behind it accept, and ``tests/server/test_openapi.py`` sends bodies
to the real server to hold them to it.

Every body is an object with no other keys and no ``null`` values (``_object_body`` refuses
both): an optional field is one to leave out, hence ``SkipJsonSchema[None]``, which keeps the
null out of the schema.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from .daraja.catalogue import MAX_AMOUNT, PROMPT_CODES, TRANSACTION_TYPES
from .flows.c2b.wire import BILL_REF_MAX
from .flows.initiator_wire import RESULT_DESCRIPTIONS
from .flows.menu import RECIPIENT_PATTERN
from .security_credential import PASSWORD_MAX_CHARS

_MSISDN = r"^254[17][0-9]{8}$"
_URL = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://([^/?#@]*@)?[^/?#@:\s]"


def _code_schema(codes: tuple[int | str, ...], *, digit_strings: bool) -> dict[str, Any]:
    """Result codes as the handler takes them: the numbers, the alphanumeric strings, and (when
    ``digit_strings``) a number written as a string (``"1032"``)."""
    numbers = [code for code in codes if isinstance(code, int)]
    words = [code for code in codes if isinstance(code, str)]
    options: list[dict[str, Any]] = [{"type": "integer", "enum": numbers}, {"type": "string", "enum": words}]
    if digit_strings:
        options.append({"type": "string", "pattern": f"^0*(?:{'|'.join(str(n) for n in numbers)})$"})
    return {"anyOf": options}


# Constraints sit inside Annotated so that pydantic puts them on the string or number itself, not
# on a union with the None that marks a field optional.
Msisdn = Annotated[str, Field(pattern=_MSISDN)]
Name = Annotated[str, Field(min_length=1, max_length=40, pattern=r"\S")]
Pin = Annotated[str, Field(pattern=r"^[0-9]{4}$")]
Kes = Annotated[float, Field(ge=0, le=500_000)]
Url = Annotated[str, Field(pattern=_URL)]
WholeKes = Annotated[int, Field(ge=1, le=MAX_AMOUNT)]
Seconds = Annotated[float, Field(ge=0, le=3600)]

PROMPT_CODE = _code_schema(PROMPT_CODES, digit_strings=True)
"""A result code of spec §4, as settle and forge take it."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewHandset(_Body):
    """``POST /simulator/handsets``: a phone for a new number; the rest defaults to the settings'."""

    msisdn: Msisdn
    name: Name | SkipJsonSchema[None] = Field(default=None, description="default: Customer <last 4 digits>")
    pin: Pin | SkipJsonSchema[None] = Field(default=None, description="default: default_pin")
    balance: Kes | SkipJsonSchema[None] = Field(default=None, description="KES; default: default_balance")


class HandsetChange(_Body):
    """``PATCH /simulator/handsets/{msisdn}``: what to change; the rest stays."""

    name: Name | SkipJsonSchema[None] = None
    pin: Pin | SkipJsonSchema[None] = None
    balance: Kes | SkipJsonSchema[None] = Field(default=None, description="KES")
    online: bool | SkipJsonSchema[None] = Field(default=None, description="false: pushes time out (1037)")


class PinEntry(_Body):
    """``POST /simulator/transactions/{checkout_id}/pin``: any string; a wrong one settles 2001."""

    pin: str


class SettleWith(_Body):
    """``POST /simulator/transactions/{checkout_id}/settle``: settle a live prompt with any code of spec §4."""

    result_code: int | str = Field(json_schema_extra=PROMPT_CODE)


class Resend(_Body):
    """Send a delivery again, the same bytes, to its URL or to ``url``."""

    url: Url | SkipJsonSchema[None] = None


class EditedSend(_Body):
    """Send other bytes in a delivery's name: ``body`` as a JSON value to write compactly, or a string sent as it is."""

    body: dict[str, Any] | list[Any] | str
    url: Url | SkipJsonSchema[None] = None


class ForgedCallback(_Body):
    """``POST /simulator/callbacks/forge``: a well-formed STK callback for a CheckoutRequestID that never existed."""

    url: Url
    result_code: int | str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=PROMPT_CODE)
    amount: WholeKes | SkipJsonSchema[None] = Field(
        default=None, description="whole KES (a JSON integer, no decimal point); default 1"
    )
    msisdn: Msisdn | SkipJsonSchema[None] = Field(default=None, description="default 254708374149")


class CustomerPays(_Body):
    """``POST /simulator/c2b/payments``: a customer pays a paybill or till, as from the phone's menu."""

    msisdn: Msisdn
    shortcode: str = Field(description="a configured organisation's shortcode (another is 404)")
    amount: int = Field(ge=1, le=MAX_AMOUNT, description="whole KES (a JSON integer, no decimal point)")
    account: Annotated[str, Field(max_length=BILL_REF_MAX)] | SkipJsonSchema[None] = None
    command: str | SkipJsonSchema[None] = Field(
        default=None,
        json_schema_extra={"enum": list(TRANSACTION_TYPES)},
        description="default: CustomerBuyGoodsOnline for a till, CustomerPayBillOnline otherwise",
    )


class NextOutcome(_Body):
    """``POST /simulator/initiator/next``: what the next initiator request (B2C, status, balance, reversal) gets."""

    result_code: int | str | SkipJsonSchema[None] = Field(
        default=None,
        json_schema_extra=_code_schema(tuple(RESULT_DESCRIPTIONS), digit_strings=False),
    )
    queue_timeout: bool | SkipJsonSchema[None] = Field(
        default=None, description="true: the body goes to QueueTimeOutURL instead of a Result"
    )
    delay: Seconds | SkipJsonSchema[None] = Field(default=None, description="seconds before it ends")


class MoneyToSend(_Body):
    """``POST /simulator/handsets/{msisdn}/send-money``: Send Money to another customer."""

    to: str = Field(
        pattern=RECIPIENT_PATTERN, description="the recipient's number: 07XXXXXXXX, 2547XXXXXXXX or +2547XXXXXXXX"
    )
    amount: int = Field(ge=1, le=MAX_AMOUNT, description="whole KES (a JSON integer, no decimal point)")
    pin: Pin | SkipJsonSchema[None] = Field(default=None, description="checked as in the menu; leave out to skip")


class PasswordToEncrypt(_Body):
    """``POST /simulator/security-credential``: an initiator password to encrypt with the test certificate."""

    password: str = Field(min_length=1, max_length=PASSWORD_MAX_CHARS)


DOCUMENTED_BODIES: tuple[type[BaseModel], ...] = (
    NewHandset,
    HandsetChange,
    PinEntry,
    SettleWith,
    Resend,
    EditedSend,
    ForgedCallback,
    CustomerPays,
    NextOutcome,
    MoneyToSend,
    PasswordToEncrypt,
)
