"""The ``/simulator`` control API in the OpenAPI document: every route, its parameters, body and answers.

Request bodies come from models: the settings and rules models the handlers validate with
(``server.settings``, ``server.rules``), and for the bodies the handlers read by hand, the
documentation models of ``server.control_models``. The records the API answers with are the
``to_json`` of the engine's dataclasses (``server.models``), which have no schema of their own:
they are described here, once, with their enums taken from the constants the engine uses.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from .control import MAX_OFFSET
from .control_models import DOCUMENTED_BODIES
from .daraja.catalogue import PROMPT_CODES
from .flows.initiator_wire import RESULT_DESCRIPTIONS
from .models import (
    C2B_COMPLETED,
    C2B_FAILED,
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
from .openapi_requests import REF
from .openapi_wire import ref
from .rules import ACTIONS, Unattended
from .settings import RUNTIME_SETTINGS, Settings

Schema = dict[str, Any]

CALLBACK_STATES = (CALLBACK_NONE, CALLBACK_DUE, CALLBACK_DELIVERED, CALLBACK_FAILED, CALLBACK_DROPPED)
ATTEMPT_KINDS = ("callback", "retry", "duplicate", "resend", "edited", "forged")  # server.delivery, server.simulator
INITIATOR_APIS = ("b2c", "b2c_v1", "pochi", "status", "balance", "reversal")  # the flows' accept()
C2B_VIA = ("simulate", "control", "menu")


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> Schema:
    return _json(ref("ControlError"), description)


def _list_of(key: str, item: str) -> Schema:
    return {"type": "object", "required": [key], "properties": {key: {"type": "array", "items": ref(item)}}}


def _body(component: str) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": ref(component)}}}


def _optional_body(component: str) -> Schema:
    return {"required": False, "content": {"application/json": {"schema": ref(component)}}}


_COMMON = {
    "400": _error("The request is malformed: the message says what is wrong"),
    "401": _error("The control token is missing or wrong (when control_token is set)"),
    "413": _error("The body is larger than max_body_bytes"),
    "503": _error("The database refused a write (a full disk): nothing changed"),
}


def _op(summary: str, answers: dict[str, Schema], **more: Any) -> Schema:
    return {"summary": summary, "tags": ["control"], **more, "responses": dict(sorted({**_COMMON, **answers}.items()))}


def _path_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


def _query(name: str, schema: Schema, description: str | None = None) -> Schema:
    param: Schema = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


def _paging(default_limit: int) -> list[Schema]:
    return [
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": default_limit}),
        _query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}),
    ]


_MSISDN = _path_param("msisdn", "the handset's number, 2547XXXXXXXX")
_CHECKOUT = _path_param("checkout_id", "the transaction's CheckoutRequestID")
_DELIVERY = _path_param("delivery_id", "<channel>:<subject>, e.g. stk_callback:ws_CO_...")
_NO_HANDSET = _error("No such handset")
_NO_TRANSACTION = _error("No such transaction")


def _settle(summary: str, body: str | None = None) -> Schema:
    extra = {"requestBody": _body(body)} if body else {}
    return {
        "post": _op(
            summary,
            {
                "200": _json(ref("Transaction"), "The settled transaction"),
                "404": _NO_TRANSACTION,
                "409": _error("Already settled, or the phone cannot answer (offline, PIN locked, not enough money)"),
            },
            parameters=[_CHECKOUT],
            **extra,
        )
    }


def _send(summary: str, param: Schema, body: str, missing: str) -> Schema:
    return {
        "post": _op(
            summary,
            {"200": _json(ref("CallbackAttempt"), "The attempt, with the merchant's answer"), "404": _error(missing)},
            parameters=[param],
            requestBody=_optional_body(body) if body == "Resend" else _body(body),
        )
    }


def control_paths() -> dict[str, Schema]:
    """Every ``/simulator`` route, and ``/openapi.json`` itself."""
    return {
        "/simulator/handsets": {
            "get": _op("Every handset", {"200": _json(_list_of("handsets", "Handset"), "Handsets")}),
            "post": _op(
                "Add a handset",
                {"201": _json(ref("Handset"), "Created"), "409": _error("The MSISDN exists")},
                requestBody=_body("NewHandset"),
            ),
        },
        "/simulator/handsets/{msisdn}": {
            "get": _op(
                "One handset", {"200": _json(ref("Handset"), "The handset"), "404": _NO_HANDSET}, parameters=[_MSISDN]
            ),
            "patch": _op(
                "Change a handset",
                {"200": _json(ref("Handset"), "The changed handset"), "404": _NO_HANDSET},
                parameters=[_MSISDN],
                requestBody=_optional_body("HandsetChange"),
            ),
        },
        "/simulator/handsets/{msisdn}/inbox": {
            "get": _op(
                "A handset's SMS, newest first",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["msisdn", "messages"],
                            "properties": {
                                "msisdn": {"type": "string"},
                                "messages": {"type": "array", "items": ref("Message")},
                            },
                        },
                        "The inbox",
                    ),
                    "404": _NO_HANDSET,
                },
                parameters=[_MSISDN],
            )
        },
        "/simulator/handsets/{msisdn}/unlock": {
            "post": _op(
                "Clear a PIN lock (three wrong PINs in a row)",
                {"200": _json(ref("Handset"), "The handset"), "404": _NO_HANDSET},
                parameters=[_MSISDN],
            )
        },
        "/simulator/merchants": {
            "get": _op(
                "Organisations: their shortcodes, balances and accounts",
                {"200": _json(_list_of("merchants", "Merchant"), "Merchants")},
            )
        },
        "/simulator/transactions": {
            "get": _op(
                "STK transactions, newest first",
                {"200": _json(_list_of("transactions", "Transaction"), "Transactions")},
                parameters=[
                    _query("msisdn", {"type": "string"}),
                    _query("status", {"type": "string", "enum": [PENDING, SETTLED]}),
                    _query("result_code", {"type": "string"}),
                    _query(
                        "duplicate",
                        {"type": "string", "enum": ["true", "false"]},
                        "only possible double submits, or none",
                    ),
                    *_paging(100),
                ],
            )
        },
        "/simulator/transactions/{checkout_id}": {
            "get": _op(
                "One transaction with its callback body and attempts",
                {"200": _json(ref("TransactionDetail"), "The transaction"), "404": _NO_TRANSACTION},
                parameters=[_CHECKOUT],
            )
        },
        "/simulator/transactions/{checkout_id}/pin": _settle("Enter a PIN and press OK", "PinEntry"),
        "/simulator/transactions/{checkout_id}/cancel": _settle("Press Cancel (1032)"),
        "/simulator/transactions/{checkout_id}/timeout": _settle("Time out now (1037)"),
        "/simulator/transactions/{checkout_id}/settle": _settle("Settle with any result code of spec §4", "SettleWith"),
        "/simulator/transactions/{checkout_id}/callback-plan": {
            "put": _op(
                "How this transaction's callback goes out (while its prompt is live)",
                {
                    "200": _json(ref("Transaction"), "The transaction"),
                    "404": _NO_TRANSACTION,
                    "409": _error("Already settled"),
                },
                parameters=[_CHECKOUT],
                requestBody=_optional_body("CallbackPlan"),
            )
        },
        "/simulator/transactions/{checkout_id}/callback/resend": _send(
            "Send the STK callback again, the same bytes", _CHECKOUT, "Resend", "No such transaction or callback"
        ),
        "/simulator/transactions/{checkout_id}/callback/send": _send(
            "Send an edited STK callback", _CHECKOUT, "EditedSend", "No such transaction or callback"
        ),
        "/simulator/callbacks": {
            "get": _op(
                "Every delivery attempt, newest first; or the deliveries the merchant answered differently",
                {
                    "200": _json(
                        {
                            "anyOf": [
                                _list_of("attempts", "CallbackAttempt"),
                                _list_of("deliveries", "DifferingAnswers"),
                            ]
                        },
                        "attempts, or with answers_differ=true, deliveries",
                    )
                },
                parameters=[_query("answers_differ", {"type": "string", "enum": ["true"]}), *_paging(200)],
            )
        },
        "/simulator/callbacks/forge": {
            "post": _op(
                "Send a callback for a CheckoutRequestID that never existed",
                {"200": _json(ref("CallbackAttempt"), "The attempt")},
                requestBody=_body("ForgedCallback"),
            )
        },
        "/simulator/deliveries": {
            "get": _op(
                "Every message owed to merchants, newest first",
                {"200": _json(_list_of("deliveries", "Delivery"), "Deliveries")},
                parameters=[
                    _query("channel", {"type": "string", "enum": list(CHANNELS)}),
                    _query("state", {"type": "string", "enum": list(DELIVERY_STATES)}),
                    *_paging(200),
                ],
            )
        },
        "/simulator/deliveries/{delivery_id}": {
            "get": _op(
                "One delivery with its attempts and the merchant's answers side by side",
                {"200": _json(ref("DeliveryDetail"), "The delivery"), "404": _error("No such delivery")},
                parameters=[_DELIVERY],
            )
        },
        "/simulator/deliveries/{delivery_id}/resend": _send(
            "Send a delivery again", _DELIVERY, "Resend", "No such delivery"
        ),
        "/simulator/deliveries/{delivery_id}/send": _send(
            "Send an edited body in its name", _DELIVERY, "EditedSend", "No such delivery"
        ),
        "/simulator/c2b/registrations": {
            "get": _op(
                "The C2B URLs each shortcode registered",
                {"200": _json(_list_of("registrations", "C2BRegistration"), "Registrations")},
            )
        },
        "/simulator/c2b/payments": {
            "get": _op(
                "C2B payments, newest first",
                {"200": _json(_list_of("payments", "C2BPayment"), "Payments")},
                parameters=[
                    _query("msisdn", {"type": "string"}),
                    _query("shortcode", {"type": "string"}),
                    *_paging(100),
                ],
            ),
            "post": _op(
                "A customer pays a paybill or till",
                {
                    "201": _json(ref("C2BPayment"), "The payment and how it ended"),
                    "404": _error("No such organisation"),
                },
                requestBody=_body("CustomerPays"),
            ),
        },
        "/simulator/initiator/requests": {
            "get": _op(
                "B2C, Pochi, Transaction Status, Account Balance and Reversal requests, newest first",
                {"200": _json(_list_of("requests", "InitiatorRequest"), "Requests")},
                parameters=[
                    _query("api", {"type": "string"}, f"one of {', '.join(INITIATOR_APIS)}; another matches nothing"),
                    *_paging(100),
                ],
            )
        },
        "/simulator/initiator/next": {
            "get": _op(
                "The outcomes chosen for the next initiator requests, in order",
                {"200": _json(_list_of("next", "ChosenOutcome"), "Chosen outcomes")},
            ),
            "post": _op(
                "Choose what the next initiator request gets",
                {"201": _json(_list_of("next", "ChosenOutcome"), "Every chosen outcome, this one last")},
                requestBody=_optional_body("NextOutcome"),
            ),
        },
        "/simulator/tokens/revoke": {
            "post": _op(
                "Revoke every access token",
                {
                    "200": _json(
                        {"type": "object", "required": ["revoked"], "properties": {"revoked": {"const": True}}},
                        "Revoked",
                    )
                },
            )
        },
        "/simulator/settings": {
            "get": _op(
                "The settings a running emulator can change", {"200": _json(ref("RuntimeSettings"), "Settings")}
            ),
            "patch": _op(
                "Change settings at once (all or nothing)",
                {"200": _json(ref("RuntimeSettings"), "Every runtime setting, after the change")},
                requestBody=_optional_body("RuntimeSettingsChange"),
            ),
        },
        "/simulator/rules": {
            "get": _op("The unattended outcome rules", {"200": _json(ref("Unattended"), "Rules")}),
            "put": _op(
                "Replace the unattended outcome rules (a key left out takes its default)",
                {"200": _json(ref("Unattended"), "The rules now in force")},
                requestBody=_optional_body("UnattendedRequest"),
            ),
        },
        "/simulator/events": {
            "get": _op(
                "Every engine event as Server-Sent Events",
                {
                    "200": {
                        "description": "A stream that stays open: 'event: <type>' and 'data: <JSON>' per event, "
                        "and a ': keep-alive' comment every 15 s",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    }
                },
            )
        },
        "/simulator/reset": {
            "post": _op(
                "Back to the configured handsets, merchants, settings and rules; history wiped, tokens kept",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["reset", "handsets"],
                            "properties": {
                                "reset": {"const": True},
                                "handsets": {"type": "array", "items": ref("Handset")},
                            },
                        },
                        "Reset done",
                    )
                },
            )
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "tags": ["control"],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


# --- the records the control API answers with ------------------------------------------------------
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
            "kind": {"type": "string", "enum": ["paybill", "till", "b2c"]},
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
            "status": {"type": "string", "enum": [C2B_COMPLETED, C2B_REJECTED, C2B_FAILED]},
            "reason": _STR,
            "via": {"type": "string", "enum": list(C2B_VIA)},
            "third_party_trans_id": _STR,
            "created_at": _TIME,
        }
    ),
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
    schemas.update(_RECORDS)
    return schemas
