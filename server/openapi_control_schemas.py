"""The schemas of the control API: its request bodies, from models, and the records it answers with.

Request bodies come from the models the handlers validate with (``server.rules``,
``server.settings``) and, for the bodies read by hand, from the documentation models of
``server.control_models``; where a rules validator takes more than its annotation says (a result
code as ``"1032"``), the generated schema is corrected here. The records are the ``to_json`` of
the engine's dataclasses (``server.models``), which have no schema of their own: they are
described here, once, with their enums taken from the constants the engine uses.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic.json_schema import models_json_schema

from .control_models import DOCUMENTED_BODIES
from .daraja.catalogue import PROMPT_CODES
from .flows.initiator_wire import RESULT_DESCRIPTIONS
from .models import (
    C2B_COMPLETED,
    C2B_FAILED,
    C2B_PENDING,
    C2B_REJECTED,
    CALLBACK_DELIVERED,
    CALLBACK_DROPPED,
    CALLBACK_DUE,
    CALLBACK_FAILED,
    CALLBACK_NONE,
    CHANNELS,
    DELIVERY_STATES,
    PENDING,
    SETTLED,
)
from .openapi_requests import JSON_INT_MAX, JSON_INT_MIN, REF
from .openapi_wire import ref
from .rules import ACTIONS, Unattended
from .settings import RUNTIME_SETTINGS, MerchantConfig, Settings

Schema = dict[str, Any]

CALLBACK_STATES = (CALLBACK_NONE, CALLBACK_DUE, CALLBACK_DELIVERED, CALLBACK_FAILED, CALLBACK_DROPPED)
ATTEMPT_KINDS = ("callback", "retry", "duplicate", "resend", "edited", "forged")  # server.delivery, server.simulator
INITIATOR_APIS = ("b2c", "b2c_v1", "pochi", "status", "balance", "reversal")  # what the flows store as api
C2B_VIA = ("simulate", "control", "menu")


def _object(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    return {"type": "object", "required": [k for k in properties if k not in optional], "properties": properties}


_STR: Schema = {"type": "string"}
_INT: Schema = {"type": "integer"}
_NUM: Schema = {"type": "number"}
_BOOL: Schema = {"type": "boolean"}
_TIME: Schema = {"type": "string", "description": "ISO 8601 in EAT, milliseconds"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


_CODE = _nullable({"anyOf": [_INT, _STR]})

_TRANSACTION = {
    "checkout_request_id": _STR,
    "merchant_request_id": _STR,
    "msisdn": _STR,
    "shortcode": _STR,
    "merchant_name": _STR,
    "transaction_type": _STR,
    "amount": _INT,
    "account_reference": _STR,
    "transaction_desc": _STR,
    "callback_url": _STR,
    "prompt": _STR,
    "status": {"type": "string", "enum": [PENDING, SETTLED]},
    "result_code": _CODE,
    "result_desc": _nullable(_STR),
    "outcome": _nullable(_STR),
    "receipt": _nullable(_STR),
    "created_at": _TIME,
    "expires_at": _TIME,
    "settled_at": _nullable(_TIME),
    "callback_state": {"type": "string", "enum": list(CALLBACK_STATES)},
    "callback_plan": _nullable(ref("CallbackPlan")),
    "callback_due_at": _nullable(_TIME),
    "duplicate_of": _nullable(_STR),
}

_ANSWERS = _object(
    {
        "copies": {
            "type": "array",
            "items": _object(
                {
                    "attempt": _INT,
                    "kind": {"type": "string", "enum": list(ATTEMPT_KINDS)},
                    "status": _nullable(_INT),
                    "response_body": _nullable(_STR),
                }
            ),
        },
        "differ": _BOOL,
        "differences": {"type": "array", "items": _STR},
    }
)

_ATTEMPT = {
    "delivery_id": _STR,
    "channel": {"type": "string", "enum": list(CHANNELS)},
    "subject": _STR,
    "attempt": _INT,
    "started_at": _TIME,
    "url": _STR,
    "request_body": _STR,
    "status": _nullable(_INT),
    "response_body": _nullable(_STR),
    "latency_ms": _NUM,
    "ok": _BOOL,
    "error": _nullable(_STR),
    "kind": {"type": "string", "enum": list(ATTEMPT_KINDS)},
    "checkout_request_id": _STR,
}

_DELIVERY_RECORD = {
    "delivery_id": _STR,
    "channel": {"type": "string", "enum": list(CHANNELS)},
    "subject": _STR,
    "url": _STR,
    "state": {"type": "string", "enum": list(DELIVERY_STATES)},
    "plan": _nullable(ref("CallbackPlan")),
    "due_at": _nullable(_TIME),
    "created_at": _TIME,
    "body": _STR,
}

_RECORDS: dict[str, Schema] = {
    "ControlError": _object({"error": _STR}),
    "Handset": _object(
        {
            "msisdn": _STR,
            "name": _STR,
            "pin": _STR,
            "balance": _NUM,
            "online": _BOOL,
            "pin_locked": _BOOL,
            "wrong_pins": _INT,
            "live_prompt": _nullable(_STR),
        }
    ),
    "Message": _object({"id": _INT, "sender": _STR, "text": _STR, "received_at": _TIME}),
    "Merchant": _object(
        {
            "shortcode": _STR,
            "name": _STR,
            "kind": {"type": "string", "enum": list(get_args(MerchantConfig.model_fields["kind"].annotation))},
            "balance": _NUM,
            "accounts": {"type": "object", "additionalProperties": _NUM},
        }
    ),
    "Transaction": _object(_TRANSACTION),
    "TransactionDetail": _object(
        {
            **_TRANSACTION,
            "callback_body": _nullable(_STR),
            "callback_attempts": {"type": "array", "items": ref("CallbackAttempt")},
            "merchant_answers": ref("MerchantAnswers"),
        }
    ),
    "CallbackAttempt": _object(_ATTEMPT, optional=("checkout_request_id",)),
    "MerchantAnswers": _ANSWERS,
    "DifferingAnswers": _object({"delivery_id": _STR, "subject": _STR, "merchant_answers": ref("MerchantAnswers")}),
    "Delivery": _object(_DELIVERY_RECORD),
    "DeliveryDetail": _object(
        {
            **_DELIVERY_RECORD,
            "attempts": {"type": "array", "items": ref("CallbackAttempt")},
            "merchant_answers": ref("MerchantAnswers"),
        }
    ),
    "C2BRegistration": _object(
        {
            "shortcode": _STR,
            "version": {"type": "integer", "enum": [1, 2]},
            "response_type": _STR,
            "confirmation_url": _STR,
            "validation_url": _STR,
            "registered_at": _TIME,
        }
    ),
    "C2BPayment": _object(
        {
            "trans_id": _STR,
            "shortcode": _STR,
            "msisdn": _STR,
            "amount": _INT,
            "bill_ref": _STR,
            "command_id": _STR,
            "status": {"type": "string", "enum": [C2B_PENDING, C2B_COMPLETED, C2B_REJECTED, C2B_FAILED]},
            "reason": _STR,
            "via": {"type": "string", "enum": list(C2B_VIA)},
            "third_party_trans_id": _STR,
            "created_at": _TIME,
        }
    ),
    "Transfer": _object({"receipt": _STR, "from": _STR, "to": _STR, "amount": _INT, "at": _TIME}),
    "InitiatorRequest": _object(
        {
            "conversation_id": _STR,
            "originator_conversation_id": _STR,
            "api": {"type": "string", "enum": list(INITIATOR_APIS)},
            "shortcode": _STR,
            "initiator": _STR,
            "request": {"type": "object", "description": "the request body as received"},
            "result_url": _STR,
            "queue_timeout_url": _STR,
            "status": {"type": "string", "enum": [PENDING, SETTLED]},
            "result_code": _CODE,
            "receipt": _nullable(_STR),
            "counterpart": _nullable(_STR),
            "amount": _nullable(_INT),
            "created_at": _TIME,
            "due_at": _TIME,
        }
    ),
    "ChosenOutcome": _object(
        {"result_code": _CODE, "queue_timeout": _BOOL, "delay": _nullable(_NUM)},
    ),
}


# --- settings and rules, from their models ------------------------------------------------------------
def _codes_as_sent(codes: tuple[int | str, ...], *, words: tuple[str, ...] = ()) -> Schema:
    """Codes as ``rules.parse_outcome`` and ``parse_result_code`` read them: a number, the number as a
    string of digits (leading zeros allowed), or an alphanumeric code; ``words`` adds action names."""
    numbers = [code for code in codes if isinstance(code, int)]
    strings = [*words, *(code for code in codes if isinstance(code, str))]
    return {
        "anyOf": [
            {"type": "integer", "enum": numbers},
            {"type": "string", "enum": strings},
            {"type": "string", "pattern": f"^0*(?:{'|'.join(str(n) for n in numbers)})$"},
        ]
    }


def _condition(key: str) -> Schema:
    return {"required": [key], "properties": {key: {"not": {"type": "null"}}}}


_CONDITIONS = {"anyOf": [_condition(key) for key in ("msisdn", "amount", "min_amount", "max_amount")]}


def _without_null_defaults(schema: Schema) -> Schema:
    properties = {
        key: {k: v for k, v in value.items() if not (k == "default" and v is None)}
        for key, value in schema["properties"].items()
    }
    return {**schema, "properties": properties}


def _json_integers(schema: Any) -> Any:
    """Every integer bounded to what a request can carry (``JSON_INT_MIN`` to ``JSON_INT_MAX``)."""
    if isinstance(schema, list):
        return [_json_integers(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {key: _json_integers(value) for key, value in schema.items()}
    if bounded.get("type") == "integer" and "enum" not in bounded:
        bounded.setdefault("minimum", JSON_INT_MIN)
        bounded.setdefault("maximum", JSON_INT_MAX)
    return bounded


def control_schemas() -> dict[str, Schema]:
    """Request bodies (from the models) and the records of the control API."""
    _, generated = models_json_schema(
        [
            *((model, "validation") for model in DOCUMENTED_BODIES),
            (Unattended, "validation"),
            (Settings, "validation"),
        ],
        by_alias=True,
        ref_template=REF,
    )
    defs = generated["$defs"]
    _, serialized = models_json_schema(
        [(Unattended, "serialization"), (Settings, "serialization")], by_alias=True, ref_template=REF
    )
    answered = serialized["$defs"]

    # An optional field of these bodies is one to leave out, so its default is no value at all.
    schemas: dict[str, Schema] = {
        model.__name__: _without_null_defaults(defs[model.__name__]) for model in DOCUMENTED_BODIES
    }
    schemas["CallbackPlan"] = defs["CallbackPlan"]

    # PUT /simulator/rules: the model, with what its validators take where the annotation says less.
    rule, payout = dict(defs["OutcomeRule"]), dict(defs["PayoutRule"])
    rule["properties"] = {**rule["properties"], "outcome": _codes_as_sent(PROMPT_CODES, words=ACTIONS)}
    rule["allOf"] = [_CONDITIONS]
    payout["properties"] = {
        **payout["properties"],
        "result_code": {"anyOf": [{"type": "null"}, _codes_as_sent(tuple(RESULT_DESCRIPTIONS))]},
    }
    payout["allOf"] = [
        _CONDITIONS,
        {
            "anyOf": [
                _condition("result_code"),
                {"required": ["queue_timeout"], "properties": {"queue_timeout": {"const": True}}},
                _condition("delay"),
            ]
        },
    ]
    schemas["OutcomeRule"], schemas["PayoutRule"] = rule, payout
    request = dict(defs["Unattended"])
    # The handler refuses a null anywhere at the top: seed is a number or left out.
    request["properties"] = {**request["properties"], "seed": {"type": "integer"}}
    request["title"] = "UnattendedRequest"
    schemas["UnattendedRequest"] = request
    schemas["Unattended"] = answered["Unattended"]

    # PATCH /simulator/settings: the runtime part of Settings, every key optional, nothing else.
    settable = {key: defs["Settings"]["properties"][key] for key in RUNTIME_SETTINGS}
    settable["b2c_insufficient_code"] = {"type": "integer", "enum": [1, 4001], "default": 1}
    schemas["RuntimeSettingsChange"] = {
        "type": "object",
        "additionalProperties": False,
        "properties": settable,
        "description": "Any of the runtime settings; the others need a restart.",
    }
    shown = {key: answered["Settings"]["properties"][key] for key in RUNTIME_SETTINGS}
    shown["b2c_insufficient_code"] = {"type": "integer", "enum": [1, 4001]}
    schemas["RuntimeSettings"] = {"type": "object", "required": list(RUNTIME_SETTINGS), "properties": shown}
    requests = ("CallbackPlan", "OutcomeRule", "PayoutRule", "UnattendedRequest", "RuntimeSettingsChange")
    for name in (*requests, *(model.__name__ for model in DOCUMENTED_BODIES)):
        schemas[name] = _json_integers(schemas[name])
    schemas.update(_RECORDS)
    return schemas
