"""The OpenAPI 3.1 document of both surfaces, served at ``GET /openapi.json``.

One source for every wire shape: the pydantic models that validate a request or write an answer
also write its part of this document (``models_json_schema``), so a field added to a model shows
up here without anyone remembering to. OpenAPI 3.1 takes their JSON Schema 2020-12 as it is.

Generation alone would document the annotations, not the server: Daraja's numeric-looking fields
arrive as numbers or as strings, and ``mode="before"`` validators accept both where the annotation
says ``str``. Those fields are corrected by the table in ``server.openapi_requests``, kept beside
the generator and held to the models by ``tests/server/test_openapi.py``. Shapes no model writes
(the callbacks, the Result, the control API's records) are described once, in
``server.openapi_wire`` and ``server.openapi_control_schemas``. The same test fails when a route of the
running application is missing here, or documented here but not served.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from .openapi_control import control_paths
from .openapi_control_schemas import control_schemas
from .openapi_requests import request_schemas
from .openapi_wire import daraja_wire_schemas, ref

Schema = dict[str, Any]


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _envelope(description: str) -> Schema:
    return _json(ref("ErrorEnvelope"), description)


_BAD_REQUEST = _envelope(
    "400.002.02 Bad Request - Invalid <Field> for the first field refused (in Daraja's order), "
    "400.002.05 Invalid Request Payload for a body that is not a JSON object, or one larger than max_body_bytes"
)
_BAD_TOKEN = _envelope("404.001.03 Invalid Access Token: no bearer token, or an unknown or expired one")
_INTERNAL = "500.003.02 Internal Server Error when the emulator cannot write to its database"


def _callback(expression: str, body: str, description: str) -> Schema:
    return {
        expression: {
            "post": {
                "summary": description,
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref(body)}}},
                "responses": {"2XX": {"description": "Delivered (the body is logged, not read)"}},
            }
        }
    }


def _daraja(
    summary: str,
    body: str,
    answer: str,
    *,
    description: str,
    business: str | None = None,
    extra: dict[str, Schema] | None = None,
    callbacks: dict[str, Schema] | None = None,
) -> Schema:
    """A bearer-authenticated Daraja POST with its JSON body, its ack and its errors."""
    responses: dict[str, Schema] = {
        "200": _json(ref(answer), "Accepted"),
        "400": _BAD_REQUEST,
        "404": _BAD_TOKEN,
        "500": _envelope(f"{business}; or {_INTERNAL}" if business else _INTERNAL),
        **(extra or {}),
    }
    operation: Schema = {
        "summary": summary,
        "description": description,
        "tags": ["daraja"],
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref(body)}}},
        "responses": dict(sorted(responses.items())),
    }
    if callbacks:
        operation["callbacks"] = callbacks
    return {"post": operation}


_STK_CALLBACK = {"stkCallback": _callback("{$request.body#/CallBackURL}", "StkCallback", "The STK callback")}
_C2B_CALLS = {
    "validation": {
        "{$request.body#/ValidationURL}": {
            "post": {
                "summary": "A payment to approve (when the shortcode has external validation)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("C2BCallback")}}},
                "responses": {"2XX": _json(ref("C2BValidationAnswer"), "The merchant's verdict")},
            }
        }
    },
    "confirmation": _callback("{$request.body#/ConfirmationURL}", "C2BCallback", "A completed payment"),
}
_RESULT_CALLS = {
    "result": _callback("{$request.body#/ResultURL}", "InitiatorResult", "The Result"),
    "queueTimeout": _callback(
        "{$request.body#/QueueTimeOutURL}", "QueueTimeoutNotice", "A queue time-out, when one is chosen"
    ),
}
_DUPLICATE_ORIGINATOR = "500.002.1001 Duplicate OriginatorConversationID. for a value used before"


_UNKNOWN_PARTY = " A PartyA no organisation here has is 400 Bad Request - Invalid PartyA."


def _b2c(summary: str, body: str, description: str, *, duplicate: bool = True) -> Schema:
    return _daraja(
        summary,
        body,
        "InitiatorAck",
        description=description
        + _UNKNOWN_PARTY
        + " A bad ResultURL is 400.002.02 Invalid ResultURL, without the Bad Request prefix (spec §12).",
        business=_DUPLICATE_ORIGINATOR if duplicate else None,
        callbacks=_RESULT_CALLS,
    )


def _initiated(summary: str, body: str, description: str) -> Schema:
    return _daraja(summary, body, "InitiatorAck", description=description + _UNKNOWN_PARTY, callbacks=_RESULT_CALLS)


def daraja_paths() -> dict[str, Schema]:
    """OAuth, STK, C2B and the initiator APIs, as the emulator answers them."""
    return {
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
                    "200": _json(ref("TokenResponse"), "A token; expires_in is a string"),
                    # Two shapes share this status (an envelope, or an empty body for wrong
                    # credentials), which OpenAPI cannot tell apart; so no content schema is given.
                    "400": {
                        "description": "Bad grant type (400.008.02) or auth type (400.008.01) as an "
                        "ErrorEnvelope, or wrong credentials as an empty body"
                    },
                },
            }
        },
        "/mpesa/stkpush/v1/processrequest": _daraja(
            "STK Push",
            "StkPushRequest",
            "StkPushAck",
            description="Put a payment prompt on the customer's phone; the callback follows when it settles.",
            business="500.001.1001 Merchant does not exist, Wrong credentials, or (busy_phone = error) "
            "Unable to lock subscriber",
            extra={"409": _envelope('409.001.01: a likely double submit, refused with duplicate_push = "reject"')},
            callbacks=_STK_CALLBACK,
        ),
        "/mpesa/stkpushquery/v1/query": _daraja(
            "STK Query",
            "StkQueryRequest",
            "StkQueryResult",
            description='The state of a push: ResultCode "4999" while the prompt is live, then the final code.',
            business="500.001.1001 Merchant does not exist, Wrong credentials, The transaction does not exist, "
            "or (query_pending = legacy) The transaction is being processed",
        ),
        **{
            f"/mpesa/c2b/v{n}/registerurl": _daraja(
                f"C2B Register URL (v{n})",
                "RegisterUrlRequest",
                "RegisterUrlAck",
                description="Where to send a shortcode's C2B validation and confirmation calls. "
                + ("v1 registrations get the MSISDN hashed" if n == 1 else "v2 registrations get it masked")
                + " (spec §10.3). An unknown ShortCode is 400 Bad Request - Invalid ShortCode; a URL with "
                "the word MPESA is 400.003.02.",
                business='500.003.1001 Duplicate notification info (c2b_register = "production")',
                callbacks=_C2B_CALLS,
            )
            for n in (1, 2)
        },
        **{
            f"/mpesa/c2b/v{n}/simulate": _daraja(
                f"C2B Simulate (v{n})",
                "SimulateRequest",
                "SimulateAck",
                description="A customer pays a paybill or till (a sandbox-only API); the validation and "
                "confirmation calls to the registered URLs follow. An unknown ShortCode is 400 Bad Request - "
                "Invalid ShortCode.",
            )
            for n in (1, 2)
        },
        "/mpesa/b2c/v3/paymentrequest": _b2c(
            "B2C payment (v3)", "B2CRequest", "Pay a customer from a B2C shortcode; the Result follows."
        ),
        "/mpesa/b2c/v1/paymentrequest": _b2c(
            "B2C payment (v1)",
            "B2CV1Request",
            "The v3 payment without OriginatorConversationID.",
            duplicate=False,
        ),
        "/mpesa/b2pochi/v1/paymentrequest": _b2c(
            "Business to Pochi", "PochiRequest", "Pay a customer's Pochi la Biashara; the Result follows."
        ),
        "/mpesa/transactionstatus/v1/query": _initiated(
            "Transaction Status",
            "StatusRequest",
            "Look a transaction up by receipt (TransactionID) or OriginalConversationID; the Result carries it.",
        ),
        "/mpesa/accountbalance/v1/query": _initiated(
            "Account Balance", "BalanceRequest", "A shortcode's accounts; the Result carries them."
        ),
        "/mpesa/reversal/v1/request": _initiated(
            "Reversal", "ReversalRequest", "Reverse a payment into the caller's shortcode; the Result follows."
        ),
    }


def openapi_document() -> dict[str, Any]:
    """Both the Daraja surface and the ``/simulator`` control API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mpesa-handset",
            "version": version("mpesa-handset"),  # the one version string is pyproject.toml's
            "description": "Safaricom Daraja (OAuth, STK Push and Query, C2B, B2C, Business to Pochi, "
            "Transaction Status, Account Balance, Reversal) as the emulator speaks it, and the /simulator "
            "control API that plays the customer.",
        },
        "tags": [
            {"name": "daraja", "description": "Safaricom's API, byte for byte"},
            {"name": "control", "description": "The emulator's own API: the customer's side of the phone"},
        ],
        "paths": {**daraja_paths(), **control_paths()},
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {**request_schemas(), **daraja_wire_schemas(), **control_schemas()},
        },
    }
