"""The Daraja request bodies of the OpenAPI document, generated from the models that validate them.

Each body is the JSON Schema pydantic writes for its request model (field names, which are
required, the model's docstring), with every field whose ``mode="before"`` validator takes more
than its annotation says replaced by a schema of what that validator really accepts: a
shortcode is a JSON number *or* a string of digits, an amount may be ``"10.00"``, a Remarks may
be a number. ``SHAPES`` is that table, one entry per documented body; the builders below mirror
``server.flows.checks`` and the STK validators of ``server.daraja.models`` one for one, and
``tests/server/test_openapi.py`` holds every entry to its model with probe values, so the table
cannot quietly drift from the code that decides.

What JSON Schema cannot say is left to ``description``: that a Timestamp must be a real date,
that a Password must be base64 of shortcode + passkey + Timestamp, that a JSON ``10.0`` is not
the integer ``10`` where a validator takes only integers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .daraja.catalogue import ACCOUNT_REFERENCE_MAX, MAX_AMOUNT, TRANSACTION_TYPES
from .daraja.models import StkPushRequest, StkQueryRequest
from .flows import initiator_wire as iw
from .flows.b2c import wire as b2c
from .flows.balance import wire as balance
from .flows.c2b import wire as c2b
from .flows.reversal import wire as reversal
from .flows.status import wire as status

Schema = dict[str, Any]
REF = "#/components/schemas/{model}"

_MAX_DIGITS = 20  # server.flows.checks refuses a number of this many digits or more
# server.json_body (orjson) reads an integer beyond 64 bits as a float, which no integer check
# takes: the integers a request can carry at all.
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**64 - 1
_MAX_DIGIT_TEXT = _MAX_DIGITS + 10  # ... and a numeric-looking string longer than this
_MAX_URL = 2048  # ... and a URL longer than this


# --- what the validators accept ------------------------------------------------------------------
def _any(*schemas: Schema, description: str | None = None) -> Schema:
    combined: Schema = {"anyOf": list(schemas)}
    if description:
        combined["description"] = description
    return combined


def _digit_text(core: str, *, bounded: bool = True) -> Schema:
    """A string of digits as ``server.flows.checks.digits`` reads it: surrounding spaces are stripped."""
    text: Schema = {"type": "string", "pattern": rf"^\s*{core}\s*$"}
    if bounded:
        text["maxLength"] = _MAX_DIGIT_TEXT
    return text


def shortcode(*, bounded: bool = True) -> Schema:
    """A paybill, till or B2C shortcode: 5 to 7 digits, as a number or a string."""
    return _any(
        {"type": "integer", "minimum": 10_000, "maximum": 9_999_999},
        _digit_text("[0-9]{5,7}", bounded=bounded),
        description="5 to 7 digits, as a JSON number or a string",
    )


def msisdn(*, bounded: bool = True) -> Schema:
    """A customer's number, ``2547XXXXXXXX`` or ``2541XXXXXXXX``, as a number or a string."""
    return _any(
        {"type": "integer", "minimum": 254_100_000_000, "maximum": 254_199_999_999},
        {"type": "integer", "minimum": 254_700_000_000, "maximum": 254_799_999_999},
        _digit_text("254[17][0-9]{8}", bounded=bounded),
        description="an MSISDN, 2547XXXXXXXX or 2541XXXXXXXX, as a JSON number or a string (no plus)",
    )


def shortcode_or_msisdn() -> Schema:
    both = shortcode()["anyOf"] + msisdn()["anyOf"]
    return _any(*both, description="a shortcode of 5 to 7 digits, or an MSISDN, as a JSON number or a string")


def _integers_of_length(min_len: int, max_len: int) -> list[Schema]:
    """The integers whose decimal text (minus sign included) is ``min_len`` to ``max_len`` characters."""
    ranges = []
    low, high = (0 if min_len <= 1 else 10 ** (min_len - 1)), min(10**max_len - 1, 10**_MAX_DIGITS - 1, JSON_INT_MAX)
    if low <= high:
        ranges.append({"type": "integer", "minimum": low, "maximum": high})
    # "-5" is two characters long.
    low, high = (1 if min_len <= 2 else 10 ** (min_len - 2)), min(10 ** (max_len - 1) - 1, -JSON_INT_MIN)
    if max_len >= 2 and low <= high:
        ranges.append({"type": "integer", "minimum": -high, "maximum": -low})
    return ranges


def text(min_len: int = 1, max_len: int = 100, *, numbers: bool = False) -> Schema:
    """``checks.text``: a string with something besides spaces; ``numbers`` also takes a JSON integer."""
    string: Schema = {"type": "string", "minLength": min_len, "maxLength": max_len, "pattern": r"\S"}
    if not numbers:
        return string
    return _any(
        string,
        *_integers_of_length(min_len, max_len),
        description=f"{min_len} to {max_len} characters; a JSON integer (written without a decimal point) "
        "is taken as its digits",
    )


def optional_text(max_len: int = 100) -> Schema:
    """``checks.optional_text``: absent, ``null`` and ``""`` all mean "not given"."""
    return _any(
        {"type": "null"},
        {"type": "string", "maxLength": max_len, "pattern": r"^$|\S"},
        *_integers_of_length(1, max_len),
        description=f"optional, at most {max_len} characters; null and an empty string mean not given; "
        "a JSON integer is taken as its digits",
    )


def url(*, max_len: int | None = _MAX_URL) -> Schema:
    """An absolute http(s) URL with a host (the server parses it with ``urllib.parse.urlsplit``)."""
    schema: Schema = {
        "type": "string",
        "format": "uri",
        "pattern": r"^\s*[Hh][Tt][Tt][Pp][Ss]?://([^/?#@]*@)?[^/?#@:\s]",
        "description": "an absolute http or https URL with a host (and a port above 0, if any)",
    }
    if max_len is not None:
        schema["maxLength"] = max_len
    return schema


def c2b_url() -> Schema:
    """A C2B URL: as ``url``, and never holding the word ``mpesa`` in any case (spec §9)."""
    schema = url()
    schema["not"] = {"pattern": "[Mm][Pp][Ee][Ss][Aa]"}
    schema["description"] = (
        "an absolute http or https URL without the word MPESA in any case (400.003.02); with "
        "c2b_url_words = strict also without M-PESA, Safaricom, exec, exe, cmd, SQL, query, ngrok, mockbin, requestbin"
    )
    return schema


def one_of(values: Sequence[str]) -> Schema:
    return {"type": "string", "enum": list(values)}


def identifier_type(codes: Sequence[str]) -> Schema:
    """An identifier type code, ``4`` or ``"4"``."""
    numbers = sorted(int(code) for code in codes)
    return _any(
        {"type": "integer", "enum": numbers},
        _digit_text(f"(?:{'|'.join(str(n) for n in numbers)})"),
        description=f"one of {', '.join(str(n) for n in numbers)}, as a JSON number or a string",
    )


def receipt() -> Schema:
    return {
        "type": "string",
        "pattern": "^[A-Z0-9]{10}$",
        "description": "an M-PESA receipt: 10 upper-case letters and digits",
    }


def whole_amount(minimum: int = 0, maximum: int = 10**15 - 1, *, string_core: str | None = None) -> Schema:
    """``checks.whole_amount``: whole shillings as a number, or as ``"10"``, ``"10.0"``, ``"10.00"``."""
    core = string_core or "[0-9]{1,15}(?:\\.0{1,2})?"
    return _any(
        {"type": "integer", "minimum": minimum, "maximum": maximum},
        {"type": "string", "pattern": rf"^\s*{core}\s*$"},
        description=f"whole shillings, {minimum:,} to {maximum:,}, as a JSON number or a string "
        '("10", "10.0" and "10.00" are ten; cents are refused)',
    )


# 1 to 250,000 written as text, leading zeros allowed: what the simulate and STK amounts take.
_UP_TO_MAX = "0*(?:[1-9][0-9]{0,4}|1[0-9]{5}|2[0-4][0-9]{4}|250000)"
assert MAX_AMOUNT == 250_000, "_UP_TO_MAX spells out 250000"


# --- the table -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    """One documented request body: the model that validates it and what its validators really take.

    ``fields`` replaces the generated schema of each named wire key; ``also`` adds the second name
    of a key (``AliasChoices``), keyed by that name, with the first name and the schema: the model
    reads it only when the first name is absent. ``required`` and ``optional`` correct the
    generated required list where a validator, not the annotation, decides; ``one_required``
    lists key groups of which at least one must be present.
    """

    model: type[BaseModel]
    fields: Mapping[str, Schema]
    also: Mapping[str, tuple[str, Schema]] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    one_required: tuple[tuple[str, ...], ...] = ()
    extra: Schema = field(default_factory=dict)


def _stk_amount() -> Schema:
    return _any(
        {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT},
        {"type": "string", "pattern": rf"^\s*{_UP_TO_MAX}(?:\.0+)?\s*$"},
        description=f"whole shillings, 1 to {MAX_AMOUNT:,}, as a JSON number or a string",
    )


_STK_AUTH: dict[str, Schema] = {
    "BusinessShortCode": shortcode(bounded=False),
    "Password": {
        "type": "string",
        "minLength": 1,
        "description": "base64(BusinessShortCode + passkey + Timestamp); a mismatch is 500 Wrong credentials",
    },
    "Timestamp": _any(
        {"type": "integer", "minimum": 10**13, "maximum": 10**14 - 1},
        _digit_text("[0-9]{14}", bounded=False),
        description="YYYYMMDDHHmmss (EAT), a real date and time, as a string or a JSON number",
    ),
}

_CREDENTIAL: Schema = {
    **text(max_len=4096),
    "description": "base64 of the encrypted initiator password; a wrong one is not refused here but "
    "ends in Result 2001 (five in a row lock the initiator: 8006)",
}

_INITIATOR: dict[str, Schema] = {"Initiator": text(), "SecurityCredential": _CREDENTIAL}


def _b2c_fields(commands: Sequence[str], originator: Schema) -> dict[str, Schema]:
    return {
        "OriginatorConversationID": originator,
        "InitiatorName": text(),
        "SecurityCredential": _CREDENTIAL,
        "CommandID": one_of(commands),
        # Any whole amount passes here: the 10 to 250,000 limits end in Results 2 and 3.
        "Amount": whole_amount(),
        "PartyA": shortcode(),
        "PartyB": msisdn(),
        "Remarks": text(iw.REMARKS_MIN, iw.REMARKS_MAX, numbers=True),
        "QueueTimeOutURL": url(),
        "ResultURL": url(),
        "Occassion": optional_text(iw.OCCASION_MAX),
    }


_OCCASION_ALIAS = {"Occasion": ("Occassion", optional_text(iw.OCCASION_MAX))}
_ORIGINATOR_V3 = text(max_len=b2c.ORIGINATOR_ID_MAX, numbers=True)
_ORIGINATOR_V1: Schema = {"description": "not a v1 field: whatever is sent is ignored and Daraja makes its own"}

SHAPES: dict[str, Shape] = {
    "StkPushRequest": Shape(
        StkPushRequest,
        {
            **_STK_AUTH,
            "TransactionType": one_of(TRANSACTION_TYPES),
            "Amount": _stk_amount(),
            "PartyA": msisdn(bounded=False),
            "PartyB": shortcode(bounded=False),
            "PhoneNumber": msisdn(bounded=False),
            "CallBackURL": url(max_len=None),
            "AccountReference": _any(
                {"type": "string", "maxLength": ACCOUNT_REFERENCE_MAX, "pattern": r"\S"},
                *_integers_of_length(1, ACCOUNT_REFERENCE_MAX),
                description=f"at most {ACCOUNT_REFERENCE_MAX} characters (any length with "
                'account_reference = "relaxed"); a JSON integer is taken as its digits',
            ),
            "TransactionDesc": {"type": "string", "pattern": r"\S"},
        },
    ),
    "StkQueryRequest": Shape(StkQueryRequest, {**_STK_AUTH, "CheckoutRequestID": {"type": "string", "pattern": r"\S"}}),
    "RegisterUrlRequest": Shape(
        c2b.RegisterUrlRequest,
        {
            "ShortCode": shortcode(),
            "ResponseType": one_of(c2b.RESPONSE_TYPES),
            "ValidationURL": c2b_url(),
            "ConfirmationURL": c2b_url(),
        },
    ),
    "SimulateRequest": Shape(
        c2b.SimulateRequest,
        {
            "ShortCode": shortcode(),
            "CommandID": one_of(c2b.COMMAND_IDS),
            "Amount": whole_amount(1, MAX_AMOUNT, string_core=f"{_UP_TO_MAX}(?:\\.0{{1,2}})?"),
            "Msisdn": msisdn(),
            "BillRefNumber": optional_text(c2b.BILL_REF_MAX),
        },
        also={"Command ID": ("CommandID", one_of(c2b.COMMAND_IDS))},  # doc-copied, with a space (spec §11)
        optional=("CommandID",),
        one_required=(("CommandID", "Command ID"),),
    ),
    "B2CRequest": Shape(
        b2c.B2CRequest,
        _b2c_fields(b2c.COMMAND_IDS, _ORIGINATOR_V3),
        also=_OCCASION_ALIAS,
        required=("OriginatorConversationID",),
        extra={"description": "B2C v3: the merchant's OriginatorConversationID is required and must be new."},
    ),
    "B2CV1Request": Shape(
        b2c.B2CRequest,
        _b2c_fields(b2c.COMMAND_IDS, _ORIGINATOR_V1),
        also=_OCCASION_ALIAS,
        extra={"description": "B2C v1: as v3, without OriginatorConversationID (Daraja makes one)."},
    ),
    "PochiRequest": Shape(
        b2c.B2CRequest,
        _b2c_fields((b2c.POCHI_PAYMENT,), _ORIGINATOR_V3),
        also=_OCCASION_ALIAS,
        required=("OriginatorConversationID",),
        extra={"description": "Business to Pochi: the B2C v3 body with CommandID BusinessPayToPochi."},
    ),
    "StatusRequest": Shape(
        status.StatusRequest,
        {
            **_INITIATOR,
            "CommandID": one_of((status.COMMAND_ID,)),
            "TransactionID": _any(
                {"type": "null"}, {"const": ""}, receipt(), description="the receipt to look up; null or empty: none"
            ),
            "OriginalConversationID": optional_text(),
            "PartyA": shortcode_or_msisdn(),
            "IdentifierType": identifier_type(status.IDENTIFIER_TYPES),
            "ResultURL": url(),
            "QueueTimeOutURL": url(),
            "Remarks": text(iw.REMARKS_MIN, iw.REMARKS_MAX, numbers=True),
            "Occasion": optional_text(iw.OCCASION_MAX),
        },
        one_required=(("TransactionID", "OriginalConversationID"),),
    ),
    "BalanceRequest": Shape(
        balance.BalanceRequest,
        {
            **_INITIATOR,
            "CommandID": one_of((balance.COMMAND_ID,)),
            "PartyA": shortcode(),
            "IdentifierType": identifier_type(balance.IDENTIFIER_TYPES),
            "Remarks": text(iw.REMARKS_MIN, iw.REMARKS_MAX, numbers=True),
            "QueueTimeOutURL": url(),
            "ResultURL": url(),
        },
    ),
    "ReversalRequest": Shape(
        reversal.ReversalRequest,
        {
            **_INITIATOR,
            "CommandID": one_of((reversal.COMMAND_ID,)),
            "TransactionID": receipt(),
            "Amount": whole_amount(1),
            "ReceiverParty": shortcode(),
            "RecieverIdentifierType": identifier_type(reversal.IDENTIFIER_TYPES),
            "ResultURL": url(),
            "QueueTimeOutURL": url(),
            "Remarks": text(iw.REMARKS_MIN, iw.REMARKS_MAX, numbers=True),
            "Occasion": optional_text(iw.OCCASION_MAX),
        },
        also={"Occassion": ("Occasion", optional_text(iw.OCCASION_MAX))},
        extra={
            "description": "Reverse a payment into the caller's shortcode. RecieverIdentifierType is "
            "Safaricom's spelling and is required: the correct spelling is refused."
        },
    ),
}
"""Every Daraja request body of the document, by component name."""


def _present(key: str) -> Schema:
    """``key`` is there with a value that counts (``null`` and ``""`` mean not given)."""
    return {"required": [key], "properties": {key: {"not": {"enum": [None, ""]}}}}


def request_schemas() -> dict[str, Schema]:
    """The component schemas of every Daraja request body, generated and then corrected by ``SHAPES``."""
    models = {shape.model for shape in SHAPES.values()}
    _, generated = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        by_alias=True,
        ref_template=REF,
    )
    definitions = generated["$defs"]
    schemas: dict[str, Schema] = {}
    for name, shape in SHAPES.items():
        schema = dict(definitions[shape.model.__name__])
        schema["title"] = name
        properties = dict(schema["properties"])
        unknown = set(shape.fields) - set(properties)
        if unknown:
            raise KeyError(f"{name}: {sorted(unknown)} are not fields of {shape.model.__name__}")
        for key, accepted in shape.fields.items():
            properties[key] = accepted
        # pydantic's titles ("Commandid") say less than the keys themselves.
        properties = {key: {k: v for k, v in value.items() if k != "title"} for key, value in properties.items()}
        rules: list[Schema] = []
        for second, (first, accepted) in shape.also.items():
            properties[second] = {"description": f"read only when {first} is absent, as {first}"}
            rules.append({"anyOf": [{"required": [first]}, {"properties": {second: accepted}}]})
        schema["properties"] = properties
        required = [key for key in schema.get("required", []) if key not in shape.optional]
        required += [key for key in shape.required if key not in required]
        schema["required"] = required
        rules += [{"anyOf": [_present(key) for key in group]} for group in shape.one_required]
        if rules:
            schema["allOf"] = rules
        schema.update(shape.extra)
        schemas[name] = schema
    return schemas
