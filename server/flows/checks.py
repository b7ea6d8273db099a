"""Field checks shared by the flows' request models, and the way a rejected field becomes a Daraja error.

Every check takes the raw JSON value (number, string, anything) and either returns it in its
typed form or raises ``ValueError`` with plain words for the activity log. Pydantic collects
those per field in the models' field order, which is the order Daraja checks them in; ``parse``
turns the first one into the exact ``GatewayError`` (normally ``400.002.02 Bad Request - Invalid
<Field>``) and raises it as a ``WireError``. A check that needs another envelope (the C2B URL word
rule, for one) raises ``daraja_error`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from ..daraja.catalogue import INVALID_PAYLOAD, GatewayError, bad_request

# [0-9], not \d (which takes any Unicode digit); always fullmatch, never $ (which allows a final newline).
_MSISDN = re.compile(r"254[17][0-9]{8}")
_SHORTCODE = re.compile(r"[0-9]{5,7}")
_WHOLE = re.compile(r"[0-9]{1,15}(\.0{1,2})?")
_RECEIPT = re.compile(r"[A-Z0-9]{10}")
_MAX_DIGITS = 20  # a numeric-looking field longer than this is refused before any other work
_MAX_URL = 2048

_DARAJA = "daraja"  # the pydantic error type that carries its own envelope


class WireError(Exception):
    """A request Daraja refuses synchronously: the envelope to answer with, and why in plain words."""

    def __init__(self, error: GatewayError, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason


class WireRequest(BaseModel):
    """Base of the request models: unknown keys are ignored, as Daraja ignores them.

    Fields are read by their wire names only: a body saying ``short_code`` instead of
    ``ShortCode`` is missing its ShortCode, as on Daraja.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=False, str_strip_whitespace=False)


M = TypeVar("M", bound=WireRequest)


def daraja_error(error: GatewayError, reason: str) -> PydanticCustomError:
    """Raise this from a validator when the field's error is not the usual ``Invalid <Field>``."""
    return PydanticCustomError(
        _DARAJA, "{reason}", {"reason": reason, "status": error.status, "code": error.code, "message": error.message}
    )


def parse(
    model: type[M],
    payload: Any,
    *,
    context: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
    errors: Mapping[str, GatewayError] | None = None,
) -> M:
    """Validate ``payload`` (a parsed JSON body) as ``model``, or raise the ``WireError`` Daraja would answer.

    ``names`` renames a key for the error message (``"Command ID"`` -> ``"CommandID"``); ``errors``
    replaces the whole envelope for a key (B2C's ``Invalid ResultURL`` without its prefix).
    """
    if not isinstance(payload, dict):
        raise WireError(INVALID_PAYLOAD, f"the body must be a JSON object, got {type(payload).__name__}")
    try:
        return model.model_validate(payload, context=dict(context or {}))
    except ValidationError as exc:
        raise first_error(exc, names={**wire_names(model), **(names or {})}, errors=errors) from None


def wire_names(model: type[BaseModel]) -> dict[str, str]:
    """Python field name -> wire key, for errors pydantic locates by field name (a defaulted field's)."""
    names = {}
    for name, info in model.model_fields.items():
        choices = info.validation_alias.choices if isinstance(info.validation_alias, AliasChoices) else ()
        first = choices[0] if choices and isinstance(choices[0], str) else None
        names[name] = info.alias or first or name
    return names


def first_error(
    exc: ValidationError, *, names: Mapping[str, str] | None = None, errors: Mapping[str, GatewayError] | None = None
) -> WireError:
    """The ``WireError`` for the first rejected field of ``exc``; ``names`` maps a location to its wire key."""
    error = exc.errors()[0]
    key = str(error["loc"][0]) if error["loc"] else "Request"
    field = (names or {}).get(key, key)
    if error["type"] == _DARAJA:
        ctx = error.get("ctx") or {}
        envelope = GatewayError(int(ctx["status"]), str(ctx["code"]), str(ctx["message"]))
        return WireError(envelope, str(ctx["reason"]))
    if error["type"] == "missing":
        reason = f"{field} is missing"
    else:
        reason = str(error["msg"]).removeprefix("Value error, ")
    return WireError((errors or {}).get(field) or bad_request(field), reason)


# --- checks ------------------------------------------------------------------
def digits(value: Any, what: str) -> str:
    """Numeric-looking fields arrive as JSON numbers or strings (daraja.md §0): accept both, as text."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be digits, got true/false")
    if isinstance(value, float) and value.is_integer() and abs(value) < 10**_MAX_DIGITS:
        value = int(value)
    if isinstance(value, int):
        if abs(value) >= 10**_MAX_DIGITS:
            raise ValueError(f"{what} is far too long to be a number Daraja knows")
        return str(value)
    if isinstance(value, str):
        if len(value) > _MAX_DIGITS + 10:
            raise ValueError(f"{what} is {len(value)} characters long; it must be a short run of digits")
        return value.strip()
    raise ValueError(f"{what} must be a number or a string of digits, got {_kind(value)}")


def shortcode(value: Any, what: str) -> str:
    """A paybill, till or B2C shortcode: 5 to 7 digits."""
    code = digits(value, what)
    if not _SHORTCODE.fullmatch(code):
        raise ValueError(f"{what} must be a shortcode of 5 to 7 digits, got {code!r}")
    return code


def msisdn(value: Any, what: str) -> str:
    """A customer's number: 12 digits, ``2547…`` or ``2541…``, no plus."""
    number = digits(value, what)
    if not _MSISDN.fullmatch(number):
        raise ValueError(f"{what} must be an MSISDN like 2547XXXXXXXX or 2541XXXXXXXX, got {number!r}")
    return number


def whole_amount(value: Any, what: str) -> int:
    """Whole shillings, as a number or a string (``10``, ``"10"``, ``10.0``, ``"10.00"``); limits are the caller's."""
    if isinstance(value, str):
        text = value.strip()
        if not _WHOLE.fullmatch(text):
            raise ValueError(f"{what} must be a whole number of shillings, got {value[:40]!r}")
        return int(text.split(".")[0])
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a whole number of shillings, got {_kind(value)}")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{what} must be whole shillings (no cents), got {value!r}")
    if not 0 <= value < 10**15:
        raise ValueError(f"{what} must not be negative or huge, got {value!r}")
    return int(value)


def text(value: Any, what: str, *, min_len: int = 1, max_len: int = 100, numbers: bool = False) -> str:
    """A string of ``min_len`` to ``max_len`` characters, not only spaces; ``numbers`` also takes a JSON number."""
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        value = digits(value, what)
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {_kind(value)}")
    if not value.strip():
        raise ValueError(f"{what} is empty")
    if not min_len <= len(value) <= max_len:
        raise ValueError(f"{what} is {len(value)} characters long; it must be {min_len} to {max_len}")
    return value


def optional_text(value: Any, what: str, *, max_len: int = 100) -> str | None:
    """An optional string: absent, ``null`` and ``""`` are all "not given"."""
    if value is None or value == "":
        return None
    return text(value, what, max_len=max_len, numbers=True)


def url(value: Any, what: str) -> str:
    """An absolute http(s) URL with a host (no reachability check: Daraja does none at submit time)."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a URL string, got {_kind(value)}")
    if len(value) > _MAX_URL:
        raise ValueError(f"{what} is {len(value)} characters long; at most {_MAX_URL} are accepted")
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError(f"{what} must be an absolute http(s) URL, got {value[:200]!r}")
    return value


def one_of(value: Any, what: str, allowed: Collection[str]) -> str:
    """Exactly one of ``allowed`` (case and spelling matter)."""
    if not isinstance(value, str) or value not in allowed:
        shown = repr(value[:60]) if isinstance(value, str) else _kind(value)
        raise ValueError(f"{what} must be {' or '.join(allowed)}, got {shown}")
    return value


def identifier_type(value: Any, what: str, allowed: Collection[str]) -> str:
    """An identifier type code (``"4"`` or ``4``), returned as text."""
    code = digits(value, what)
    if code not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(sorted(allowed, key=int))}, got {code!r}")
    return code


def receipt_number(value: Any, what: str) -> str:
    """An M-PESA receipt: 10 upper-case letters and digits (daraja.md §6)."""
    if not isinstance(value, str) or not _RECEIPT.fullmatch(value):
        shown = repr(value[:40]) if isinstance(value, str) else _kind(value)
        raise ValueError(f"{what} must be an M-PESA receipt of 10 upper-case letters and digits, got {shown}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )
