"""What every Daraja view shares: the error envelope, the token check, the strict JSON body.

A view raises ``Rejected`` (or a flow's ``WireError``) and ``guard`` answers with the exact
envelope, noting the plain-words reason for the activity log.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from .. import json_body
from ..flows.checks import WireError
from ..simulator import Simulator
from . import catalogue as c
from .models import ErrorEnvelope

JSON = "application/json"

# Keys under which a view tells the logging middleware why it said no.
ERROR_CODE = web.RequestKey("daraja_error_code", str)
REASON = web.RequestKey("daraja_reason", str)


class Rejected(Exception):
    """Raised inside a view to answer with a Daraja error envelope."""

    def __init__(self, error: c.GatewayError, reason: str, request_id: str | None = None) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.request_id = request_id


def error_response(request: web.Request, error: c.GatewayError, reason: str, request_id: str) -> web.Response:
    """The envelope response, with the reason noted for the activity log."""
    request[ERROR_CODE] = error.code
    request[REASON] = reason
    body = ErrorEnvelope(request_id=request_id, error_code=error.code, error_message=error.message).wire()
    return web.Response(status=error.status, text=body, content_type=JSON)


class ViewBase:
    """A set of Daraja routes bound to one Simulator."""

    def __init__(self, simulator: Simulator) -> None:
        self.sim = simulator

    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Rejected as rejection:
            request_id = rejection.request_id or self.sim.ids.request_id()
            return error_response(request, rejection.error, rejection.reason, request_id)
        except WireError as refused:
            return error_response(request, refused.error, refused.reason, self.sim.ids.request_id())

    def _check_token(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Rejected(c.INVALID_ACCESS_TOKEN, "no 'Authorization: Bearer <token>' header")
        if not self.sim.token_valid(token):
            raise Rejected(
                c.INVALID_ACCESS_TOKEN,
                "the access token is unknown or expired; get a new one from /oauth/v1/generate",
            )

    async def _payload(self, request: web.Request, first_field: str = "BusinessShortCode") -> dict[str, Any]:
        if not request.content_type.lower().startswith(JSON):
            raise Rejected(
                c.bad_request(first_field),
                f"Content-Type must be application/json, got {request.content_type or 'none'!r} "
                f"(Daraja reports this as an invalid {first_field})",
            )
        raw = await request.read()
        try:
            payload = json_body.loads(raw)
        except ValueError as exc:
            raise Rejected(c.INVALID_PAYLOAD, f"the body is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise Rejected(c.INVALID_PAYLOAD, f"the body must be a JSON object, got {type(payload).__name__}")
        return payload
