"""The OpenAPI 3.0 document of both surfaces, served at ``GET /openapi.json``.

Hand-written rather than generated because the Daraja side is defined by
Safaricom's quirks (numbers as strings or numbers, 500 for business errors,
an empty 400 on bad credentials), which no framework would infer.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from .daraja.catalogue import MAX_AMOUNT, TRANSACTION_TYPES

_SHORTCODE = {
    "oneOf": [{"type": "integer", "minimum": 10000, "maximum": 9999999}, {"type": "string", "pattern": "^[0-9]{5,7}$"}]
}
_MSISDN = {
    "oneOf": [
        {"type": "integer", "minimum": 254100000000, "maximum": 254199999999},
        {"type": "integer", "minimum": 254700000000, "maximum": 254799999999},
        {"type": "string", "pattern": "^254[17][0-9]{8}$"},
    ]
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _envelope(description: str) -> dict[str, Any]:
    return _json(_ref("ErrorEnvelope"), description)


def _control_error(description: str) -> dict[str, Any]:
    return _json(_ref("ControlError"), description)


_DARAJA_ERRORS = {
    "400": _envelope("Bad Request (400.002.02), invalid payload (400.002.05)"),
    "404": _envelope("Invalid Access Token (404.001.03)"),
    "500": _envelope("Business errors Daraja sends as HTTP 500 (500.001.1001)"),
}

_CONTROL_ERRORS = {
    "400": _control_error("The request is malformed; the message says what is wrong"),
    "401": _control_error("The control token is missing or wrong (when control_token is set)"),
    "413": _control_error("The body is larger than the limit"),
}


def _msisdn_param() -> dict[str, Any]:
    return {"name": "msisdn", "in": "path", "required": True, "schema": {"type": "string"}}


def _checkout_param() -> dict[str, Any]:
    return {"name": "checkout_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _settle_action(summary: str, body: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": ["control"],
        "parameters": [_checkout_param()],
        "responses": {
            "200": _json(_ref("Transaction"), "The settled transaction"),
            "404": _control_error("No such transaction"),
            "409": _control_error("Already settled, or the phone cannot answer (offline, unreachable)"),
            **_CONTROL_ERRORS,
        },
    }
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["pin"],
                        "additionalProperties": False,
                        "properties": {"pin": {"type": "string"}},
                    }
                }
            },
        }
    return operation


def openapi_document() -> dict[str, Any]:
    """Both the Daraja surface and the ``/simulator`` control API."""
    handset_patch: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 40, "pattern": "\\S"},
            "pin": {"type": "string", "pattern": "^[0-9]{4}$"},
            "balance": {"type": "number", "minimum": 0, "maximum": 500000},
            "online": {"type": "boolean"},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "mpesa-handset",
            "version": version("mpesa-handset"),  # the one version string is pyproject.toml's
            "description": "Safaricom Daraja (OAuth, STK Push, STK Query) as the emulator speaks it, "
            "and the /simulator control API that plays the customer.",
        },
        "paths": {
            "/oauth/v1/generate": {
                "get": {
                    "summary": "Get an access token",
                    "tags": ["daraja"],
                    "security": [{"basic": []}],
                    "parameters": [
                        {
                            "name": "grant_type",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "enum": ["client_credentials"]},
                        }
                    ],
                    "responses": {
                        "200": _json(_ref("Token"), "A token; expires_in is a string"),
                        # Two shapes share this status (an envelope, or an empty body for wrong
                        # credentials), which OpenAPI cannot say; so no content schema is given.
                        "400": {
                            "description": "Bad grant type (400.008.02) or auth type (400.008.01) as an "
                            "ErrorEnvelope, or wrong credentials as an empty body"
                        },
                    },
                }
            },
            "/mpesa/stkpush/v1/processrequest": {
                "post": {
                    "summary": "STK Push",
                    "tags": ["daraja"],
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("StkPushRequest")}},
                    },
                    "responses": {
                        "200": _json(_ref("StkPushAck"), "Accepted; the prompt is on the phone"),
                        **_DARAJA_ERRORS,
                    },
                }
            },
            "/mpesa/stkpushquery/v1/query": {
                "post": {
                    "summary": "STK Query",
                    "tags": ["daraja"],
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("StkQueryRequest")}},
                    },
                    "responses": {"200": _json(_ref("StkQueryResult"), "Pending (4999) or final"), **_DARAJA_ERRORS},
                }
            },
            "/simulator/handsets": {
                "get": {
                    "summary": "List handsets",
                    "tags": ["control"],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["handsets"],
                                "properties": {"handsets": {"type": "array", "items": _ref("Handset")}},
                            },
                            "Every handset",
                        ),
                        **_CONTROL_ERRORS,
                    },
                },
                "post": {
                    "summary": "Add a handset",
                    "tags": ["control"],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    **handset_patch,
                                    "required": ["msisdn"],
                                    "properties": {
                                        "msisdn": {"type": "string", "pattern": "^254[17][0-9]{8}$"},
                                        **{k: v for k, v in handset_patch["properties"].items() if k != "online"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(_ref("Handset"), "Created"),
                        "409": _control_error("The MSISDN exists"),
                        **_CONTROL_ERRORS,
                    },
                },
            },
            "/simulator/handsets/{msisdn}": {
                "get": {
                    "summary": "One handset",
                    "tags": ["control"],
                    "parameters": [_msisdn_param()],
                    "responses": {
                        "200": _json(_ref("Handset"), "The handset"),
                        "404": _control_error("No such handset"),
                        **_CONTROL_ERRORS,
                    },
                },
                "patch": {
                    "summary": "Change a handset",
                    "tags": ["control"],
                    "parameters": [_msisdn_param()],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": handset_patch}}},
                    "responses": {
                        "200": _json(_ref("Handset"), "The changed handset"),
                        "404": _control_error("No such handset"),
                        **_CONTROL_ERRORS,
                    },
                },
            },
            "/simulator/handsets/{msisdn}/inbox": {
                "get": {
                    "summary": "A handset's SMS, newest first",
                    "tags": ["control"],
                    "parameters": [_msisdn_param()],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["msisdn", "messages"],
                                "properties": {
                                    "msisdn": {"type": "string"},
                                    "messages": {"type": "array", "items": _ref("Message")},
                                },
                            },
                            "The inbox",
                        ),
                        "404": _control_error("No such handset"),
                        **_CONTROL_ERRORS,
                    },
                }
            },
            "/simulator/merchants": {
                "get": {
                    "summary": "Merchants",
                    "tags": ["control"],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["merchants"],
                                "properties": {"merchants": {"type": "array", "items": {"type": "object"}}},
                            },
                            "Every merchant",
                        ),
                        **_CONTROL_ERRORS,
                    },
                }
            },
            "/simulator/transactions": {
                "get": {
                    "summary": "Transactions, newest first",
                    "tags": ["control"],
                    "parameters": [
                        {"name": "msisdn", "in": "query", "schema": {"type": "string"}},
                        {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["pending", "settled"]}},
                        {"name": "result_code", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                        {
                            "name": "offset",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000},
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["transactions"],
                                "properties": {"transactions": {"type": "array", "items": _ref("Transaction")}},
                            },
                            "Transactions",
                        ),
                        **_CONTROL_ERRORS,
                    },
                }
            },
            "/simulator/transactions/{checkout_id}": {
                "get": {
                    "summary": "One transaction with its callback attempts",
                    "tags": ["control"],
                    "parameters": [_checkout_param()],
                    "responses": {
                        "200": _json(_ref("Transaction"), "The transaction"),
                        "404": _control_error("No such transaction"),
                        **_CONTROL_ERRORS,
                    },
                }
            },
            "/simulator/transactions/{checkout_id}/pin": {
                "post": _settle_action("Enter a PIN and press OK", body=True)
            },
            "/simulator/transactions/{checkout_id}/cancel": {"post": _settle_action("Press Cancel (1032)")},
            "/simulator/transactions/{checkout_id}/timeout": {"post": _settle_action("Time out now (1037)")},
            "/simulator/reset": {
                "post": {
                    "summary": "Back to the configured defaults",
                    "tags": ["control"],
                    "responses": {"200": _json({"type": "object"}, "Reset done"), **_CONTROL_ERRORS},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "ErrorEnvelope": {
                    "type": "object",
                    "required": ["requestId", "errorCode", "errorMessage"],
                    "properties": {
                        "requestId": {"type": "string"},
                        "errorCode": {"type": "string"},
                        "errorMessage": {"type": "string"},
                    },
                },
                "ControlError": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Token": {
                    "type": "object",
                    "required": ["access_token", "expires_in"],
                    "properties": {"access_token": {"type": "string"}, "expires_in": {"type": "string"}},
                },
                "StkPushRequest": {
                    "type": "object",
                    "required": [
                        "BusinessShortCode",
                        "Password",
                        "Timestamp",
                        "TransactionType",
                        "Amount",
                        "PartyA",
                        "PartyB",
                        "PhoneNumber",
                        "CallBackURL",
                        "AccountReference",
                        "TransactionDesc",
                    ],
                    "properties": {
                        "BusinessShortCode": _SHORTCODE,
                        "Password": {"type": "string", "minLength": 1},
                        "Timestamp": {"type": "string", "pattern": "^[0-9]{14}$"},
                        "TransactionType": {"type": "string", "enum": list(TRANSACTION_TYPES)},
                        "Amount": {
                            "oneOf": [
                                {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT},
                                {"type": "string", "pattern": "^[1-9][0-9]{0,4}$"},
                            ]
                        },
                        "PartyA": _MSISDN,
                        "PartyB": _SHORTCODE,
                        "PhoneNumber": _MSISDN,
                        "CallBackURL": {"type": "string", "pattern": "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/.*)?$"},
                        "AccountReference": {"type": "string", "minLength": 1, "maxLength": 12},
                        "TransactionDesc": {"type": "string", "minLength": 1},
                    },
                },
                "StkPushAck": {
                    "type": "object",
                    "required": [
                        "MerchantRequestID",
                        "CheckoutRequestID",
                        "ResponseCode",
                        "ResponseDescription",
                        "CustomerMessage",
                    ],
                    "properties": {
                        k: {"type": "string"}
                        for k in (
                            "MerchantRequestID",
                            "CheckoutRequestID",
                            "ResponseCode",
                            "ResponseDescription",
                            "CustomerMessage",
                        )
                    },
                },
                "StkQueryRequest": {
                    "type": "object",
                    "required": ["BusinessShortCode", "Password", "Timestamp", "CheckoutRequestID"],
                    "properties": {
                        "BusinessShortCode": _SHORTCODE,
                        "Password": {"type": "string", "minLength": 1},
                        "Timestamp": {"type": "string", "pattern": "^[0-9]{14}$"},
                        "CheckoutRequestID": {"type": "string", "minLength": 1},
                    },
                },
                "StkQueryResult": {
                    "type": "object",
                    "required": [
                        "ResponseCode",
                        "ResponseDescription",
                        "MerchantRequestID",
                        "CheckoutRequestID",
                        "ResultCode",
                        "ResultDesc",
                    ],
                    "properties": {
                        k: {"type": "string"}
                        for k in (
                            "ResponseCode",
                            "ResponseDescription",
                            "MerchantRequestID",
                            "CheckoutRequestID",
                            "ResultCode",
                            "ResultDesc",
                        )
                    },
                },
                "Handset": {
                    "type": "object",
                    "required": ["msisdn", "name", "pin", "balance", "online", "live_prompt"],
                    "properties": {
                        "msisdn": {"type": "string"},
                        "name": {"type": "string"},
                        "pin": {"type": "string"},
                        "balance": {"type": "number"},
                        "online": {"type": "boolean"},
                        "live_prompt": {"type": "string", "nullable": True},
                    },
                },
                "Message": {
                    "type": "object",
                    "required": ["id", "sender", "text", "received_at"],
                    "properties": {
                        "id": {"type": "integer"},
                        "sender": {"type": "string"},
                        "text": {"type": "string"},
                        "received_at": {"type": "string"},
                    },
                },
                "Transaction": {
                    "type": "object",
                    "required": [
                        "checkout_request_id",
                        "merchant_request_id",
                        "msisdn",
                        "amount",
                        "status",
                        "result_code",
                        "callback_state",
                    ],
                    "properties": {
                        "checkout_request_id": {"type": "string"},
                        "merchant_request_id": {"type": "string"},
                        "msisdn": {"type": "string"},
                        "amount": {"type": "integer"},
                        "status": {"type": "string", "enum": ["pending", "settled"]},
                        "result_code": {"nullable": True, "oneOf": [{"type": "integer"}, {"type": "string"}]},
                        "callback_state": {"type": "string", "enum": ["none", "due", "delivered", "failed"]},
                    },
                },
            },
        },
    }
