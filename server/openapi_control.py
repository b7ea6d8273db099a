"""The ``/simulator`` control API in the OpenAPI document: every route, its parameters, body and answers.

The schemas the routes refer to (bodies from models, and the records answered) are in
``server.openapi_control_schemas``.
"""

from __future__ import annotations

from typing import Any

from .control import MAX_OFFSET
from .models import CHANNELS, DELIVERY_STATES, PENDING, SETTLED
from .openapi_control_schemas import INITIATOR_APIS
from .openapi_wire import ref

Schema = dict[str, Any]


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
        "/simulator/handsets/{msisdn}/send-money": {
            "post": _op(
                "Send Money from this phone to another customer (no merchant is called; both get the SMS)",
                {
                    "201": _json(ref("Transfer"), "The transfer"),
                    "404": _error("No such handset, or the recipient is not an M-PESA customer here"),
                    "409": _error("The phone is offline or PIN-locked, or M-PESA declined (balance, limits)"),
                },
                parameters=[_MSISDN],
                requestBody=_body("MoneyToSend"),
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
        "/simulator/certificate": {
            "get": _op(
                "The emulator's test certificate: encrypt initiator passwords with it (security_credential = check)",
                {
                    "200": {
                        "description": "The X.509 certificate, PEM-encoded (the same for every install)",
                        "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
                    }
                },
            )
        },
        "/simulator/security-credential": {
            "post": _op(
                "The SecurityCredential for an initiator password, made with the test certificate",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["security_credential"],
                            "properties": {
                                "security_credential": {
                                    "type": "string",
                                    "description": "base64 of the RSA PKCS#1 v1.5 encrypted password",
                                }
                            },
                        },
                        "The credential to send as SecurityCredential",
                    )
                },
                requestBody=_body("PasswordToEncrypt"),
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
