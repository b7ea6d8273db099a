"""Pydantic models of every Daraja wire shape, with Daraja's PascalCase names as aliases.

Request models validate field by field in the order Daraja checks them; the
first failing field decides the ``Bad Request - Invalid <Field>`` error. Each
validator's message is plain words for the activity log, never the wire.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from .catalogue import ACCOUNT_REFERENCE_MAX, MAX_AMOUNT, TRANSACTION_TYPES, GatewayError, bad_request

# [0-9], not \d (which takes any Unicode digit), and fullmatch, not $ (which allows a final newline).
_MSISDN = re.compile(r"254[17][0-9]{8}")
_SHORTCODE = re.compile(r"[0-9]{5,7}")
_TIMESTAMP = re.compile(r"[0-9]{14}")


def _digits(value: Any, what: str) -> str:
    """Numeric-looking fields arrive as JSON numbers or strings: accept both, as text."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be digits, got true/false")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value.strip()
    raise ValueError(f"{what} must be a number or a string of digits, got {type(value).__name__}")


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    return value


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=False)


class _Authenticated(_Request):
    """The three fields every STK call carries to prove it is the merchant."""

    business_short_code: str = Field(alias="BusinessShortCode")
    password: str = Field(alias="Password")
    timestamp: str = Field(alias="Timestamp")

    @field_validator("business_short_code", mode="before")
    @classmethod
    def _shortcode(cls, value: Any) -> str:
        code = _digits(value, "BusinessShortCode")
        if not _SHORTCODE.fullmatch(code):
            raise ValueError(f"BusinessShortCode must be 5 to 7 digits, got {code!r}")
        return code

    @field_validator("password", mode="before")
    @classmethod
    def _password(cls, value: Any) -> str:
        text = _text(value, "Password")
        if not text:
            raise ValueError("Password is empty")
        return text

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, value: Any) -> str:
        text = _digits(value, "Timestamp")
        if not _TIMESTAMP.fullmatch(text):
            raise ValueError(f"Timestamp must be YYYYMMDDHHmmss (14 digits), got {text!r}")
        try:
            # Built directly: strptime is slow and this runs on every STK call.
            datetime(
                int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:14])
            )
        except ValueError:
            raise ValueError(f"Timestamp {text!r} is not a real date and time") from None
        return text


class StkPushRequest(_Authenticated):
    """``POST /mpesa/stkpush/v1/processrequest``."""

    transaction_type: str = Field(alias="TransactionType")
    amount: int = Field(alias="Amount")
    party_a: str = Field(alias="PartyA")
    party_b: str = Field(alias="PartyB")
    phone_number: str = Field(alias="PhoneNumber")
    callback_url: str = Field(alias="CallBackURL")
    account_reference: str = Field(alias="AccountReference")
    transaction_desc: str = Field(alias="TransactionDesc")

    @field_validator("transaction_type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> str:
        if value not in TRANSACTION_TYPES:
            raise ValueError(f"TransactionType must be {' or '.join(TRANSACTION_TYPES)}, got {value!r}")
        return str(value)

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> int:
        if isinstance(value, str) and re.fullmatch(r"[0-9]+(\.0+)?", value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"Amount must be a whole number of shillings, got {value!r}")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"Amount must be whole shillings (no cents), got {value!r}")
        amount = int(value)
        if not 1 <= amount <= MAX_AMOUNT:
            raise ValueError(f"Amount must be between 1 and {MAX_AMOUNT:,} KES, got {amount}")
        return amount

    @field_validator("party_a", "phone_number", mode="before")
    @classmethod
    def _msisdn(cls, value: Any, info: ValidationInfo) -> str:
        label = "PartyA" if info.field_name == "party_a" else "PhoneNumber"
        number = _digits(value, label)
        if not _MSISDN.fullmatch(number):
            raise ValueError(f"{label} must be an MSISDN like 2547XXXXXXXX or 2541XXXXXXXX, got {number!r}")
        return number

    @field_validator("party_b", mode="before")
    @classmethod
    def _party_b(cls, value: Any) -> str:
        code = _digits(value, "PartyB")
        if not _SHORTCODE.fullmatch(code):
            raise ValueError(f"PartyB must be a paybill or till number of 5 to 7 digits, got {code!r}")
        return code

    @field_validator("callback_url", mode="before")
    @classmethod
    def _url(cls, value: Any) -> str:
        url = _text(value, "CallBackURL")
        try:
            parts = urlsplit(url)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            parts, port_ok = None, False
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
            raise ValueError(f"CallBackURL must be an absolute http(s) URL, got {url!r}")
        return url

    @field_validator("account_reference", mode="before")
    @classmethod
    def _reference(cls, value: Any, info: ValidationInfo) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        text = _text(value, "AccountReference")
        if not text.strip():
            raise ValueError("AccountReference is empty")
        strict = (info.context or {}).get("strict_reference", True)
        if strict and len(text) > ACCOUNT_REFERENCE_MAX:
            raise ValueError(
                f"AccountReference is {len(text)} characters; at most {ACCOUNT_REFERENCE_MAX} are allowed "
                '(set account_reference = "relaxed" to accept longer ones, as the sandbox sometimes does)'
            )
        return text

    @field_validator("transaction_desc", mode="before")
    @classmethod
    def _desc(cls, value: Any) -> str:
        text = _text(value, "TransactionDesc")
        if not text.strip():
            raise ValueError("TransactionDesc is empty")
        return text


class StkQueryRequest(_Authenticated):
    """``POST /mpesa/stkpushquery/v1/query``."""

    checkout_request_id: str = Field(alias="CheckoutRequestID")

    @field_validator("checkout_request_id", mode="before")
    @classmethod
    def _checkout(cls, value: Any) -> str:
        text = _text(value, "CheckoutRequestID")
        if not text.strip():
            raise ValueError("CheckoutRequestID is empty")
        return text


# Daraja names TransactionDesc "Remarks" in its error message.
_ERROR_FIELD_NAMES = {"TransactionDesc": "Remarks"}


def first_error(exc: ValidationError) -> tuple[GatewayError, str]:
    """The Daraja error for the first rejected field, and plain words saying why."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "Request"
    if error["type"] == "missing":
        reason = f"{field} is missing"
    else:
        reason = str(error["msg"]).removeprefix("Value error, ")
    return bad_request(_ERROR_FIELD_NAMES.get(field, field)), reason


# --- responses ---------------------------------------------------------------
class _Response(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    def wire(self) -> str:
        return self.model_dump_json(by_alias=True)


class ErrorEnvelope(_Response):
    request_id: str = Field(alias="requestId")
    error_code: str = Field(alias="errorCode")
    error_message: str = Field(alias="errorMessage")


class TokenResponse(_Response):
    access_token: str
    expires_in: str  # a string on the wire: typed clients break on a number


class StkPushAck(_Response):
    merchant_request_id: str = Field(alias="MerchantRequestID")
    checkout_request_id: str = Field(alias="CheckoutRequestID")
    response_code: str = Field(alias="ResponseCode")
    response_description: str = Field(alias="ResponseDescription")
    customer_message: str = Field(alias="CustomerMessage")


class StkQueryResult(_Response):
    response_code: str = Field(alias="ResponseCode")
    response_description: str = Field(alias="ResponseDescription")
    merchant_request_id: str = Field(alias="MerchantRequestID")
    checkout_request_id: str = Field(alias="CheckoutRequestID")
    result_code: str = Field(alias="ResultCode")  # a string here, unlike the callback
    result_desc: str = Field(alias="ResultDesc")
