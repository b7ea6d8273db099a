"""The aiohttp application: Daraja routes, control routes, and one middleware around both.

The middleware is where the "never a crash" promise is kept: oversized
bodies, unknown paths, wrong methods and any unexpected exception become the
right error for the surface (Daraja envelope or ``{"error": ...}``), and every
answered request is published as a ``RequestHandled`` event for the activity
log.
"""

from __future__ import annotations

import hmac
import json
import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from .control import SSE_TASKS, ControlApi, cancel_event_streams, json_error
from .daraja import catalogue as c
from .daraja.c2b_views import C2BViews
from .daraja.initiator_views import InitiatorViews
from .daraja.views import ERROR_CODE, REASON, DarajaViews, error_response
from .errors import StorageFailed
from .events import RequestHandled
from .fair_share import TurnBudget
from .openapi import openapi_document
from .simulator import Simulator

log = logging.getLogger(__name__)

SIMULATOR = web.AppKey("simulator", Simulator)
LOG_BODY_LIMIT = 4096
_UNLOGGED = {"/simulator/events"}


def _is_control(path: str) -> bool:
    return path == "/simulator" or path.startswith("/simulator/") or path == "/openapi.json"


def _text(raw: bytes | None) -> str:
    if not raw:
        return ""
    return raw[:LOG_BODY_LIMIT].decode("utf-8", "replace")


def build_app(simulator: Simulator, turn_budget: TurnBudget | None = None) -> web.Application:
    """The whole HTTP surface of one emulator; ``turn_budget`` shares the loop with a UI."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if turn_budget is not None:
            await turn_budget.admit()
        began = time.perf_counter()
        control = _is_control(request.path)
        raw = b""
        try:
            if request.body_exists:
                raw = await request.read()
            denied = _control_denied(request, simulator.settings.control_token) if control else None
            response = denied if denied is not None else await handler(request)
        except web.HTTPRequestEntityTooLarge:
            limit = simulator.settings.max_body_bytes
            reason = f"the body is larger than {limit:,} bytes"
            response = (
                json_error(413, reason)
                if control
                else error_response(request, c.INVALID_PAYLOAD, reason, simulator.ids.request_id())
            )
        except web.HTTPMethodNotAllowed as exc:
            reason = f"{request.method} is not allowed here; use {', '.join(sorted(exc.allowed_methods))}"
            response = (
                json_error(405, reason)
                if control
                else error_response(request, c.METHOD_NOT_ALLOWED, reason, simulator.ids.request_id())
            )
            response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        except web.HTTPNotFound:
            reason = f"no endpoint at {request.path}"
            response = (
                json_error(404, reason)
                if control
                else error_response(request, c.RESOURCE_NOT_FOUND, reason, simulator.ids.request_id())
            )
        except web.HTTPException as exc:
            response = (
                json_error(exc.status, exc.reason)
                if control
                else error_response(
                    request,
                    c.GatewayError(exc.status, str(exc.status), exc.reason),
                    exc.reason,
                    simulator.ids.request_id(),
                )
            )
        except StorageFailed as exc:  # the disk refused a write: say so (the log shows it), keep serving
            response = (
                json_error(503, str(exc))
                if control
                else error_response(
                    request,
                    c.INTERNAL_ERROR,
                    str(exc),
                    simulator.ids.request_id(),
                )
            )
        except ConnectionResetError:
            raise  # the client hung up mid-request: nobody to answer, and no fault of ours
        except Exception:  # the server must keep serving whatever happens in one request
            log.exception("unexpected error on %s %s", request.method, request.path)
            reason = "internal error in the emulator (a bug: please report it)"
            response = (
                json_error(500, reason)
                if control
                else error_response(
                    request,
                    c.INTERNAL_ERROR,
                    reason,
                    simulator.ids.request_id(),
                )
            )
        if request.path not in _UNLOGGED:
            body = response.body if isinstance(response, web.Response) else None
            simulator.bus.publish(
                RequestHandled(
                    at=simulator.clock.now(),
                    method=request.method,
                    path=request.path_qs,
                    status=response.status,
                    error_code=request.get(ERROR_CODE),
                    reason=request.get(REASON) or (_reason_of(response) if control else None),
                    request_body=_text(raw),
                    response_body=_text(body if isinstance(body, bytes) else None),
                    latency_ms=(time.perf_counter() - began) * 1000,
                )
            )
        return response

    app = web.Application(middlewares=[guard], client_max_size=simulator.settings.max_body_bytes)
    app[SIMULATOR] = simulator
    app[SSE_TASKS] = set()
    app.add_routes(DarajaViews(simulator).routes())
    app.add_routes(C2BViews(simulator).routes())
    app.add_routes(InitiatorViews(simulator).routes())
    app.add_routes(ControlApi(simulator).routes())
    document = openapi_document()

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/openapi.json", openapi, allow_head=False)
    app.on_shutdown.append(cancel_event_streams)
    return app


def _control_denied(request: web.Request, token: str | None) -> web.Response | None:
    """401 when a control token is configured and the request does not carry it."""
    if token is None or request.path == "/openapi.json":
        return None
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    return json_error(401, "this instance requires 'Authorization: Bearer <control_token>' on /simulator")


def _reason_of(response: web.StreamResponse) -> str | None:
    if response.status < 400 or not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return None
    try:
        error = json.loads(response.body).get("error")
    except (ValueError, AttributeError):
        return None
    return error if isinstance(error, str) else None
