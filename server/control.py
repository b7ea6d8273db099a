"""The ``/simulator`` control API: the customer's side of the phone, as JSON over HTTP.

Tests and scripts use it to play the customer (enter a PIN, cancel, time out),
to set up handsets, to read transactions with their callback attempts, and to
follow every engine event as Server-Sent Events. Bad input gets
``{"error": "<what is wrong>"}`` with a 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from . import json_body, security_credential
from .daraja.catalogue import PROMPT_CODES
from .errors import Conflict, EngineError, NotFound, StorageFailed
from .events import Event
from .flows.initiator import check_outcome
from .flows.menu import RECIPIENT_PATTERN
from .models import CHANNELS, DELIVERY_STATES, PENDING, SETTLED, Transaction
from .rules import CallbackPlan, Unattended, parse_outcome
from .settings import RUNTIME_SETTINGS
from .simulator import Simulator

SSE_TASKS = web.AppKey("sse_tasks", set[asyncio.Task[None]])
_KEEPALIVE_SECONDS = 15.0
MAX_OFFSET = 1_000_000_000  # SQLite integers overflow far above this; no listing is that long


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _engine_error(exc: EngineError) -> web.Response:
    status = (
        404
        if isinstance(exc, NotFound)
        else 409
        if isinstance(exc, Conflict)
        else 503
        if isinstance(exc, StorageFailed)
        else 400
    )
    return json_error(status, str(exc))


class ControlApi:
    """Handlers for ``/simulator``, bound to one Simulator."""

    def __init__(self, simulator: Simulator) -> None:
        self.sim = simulator

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/simulator/handsets", self.list_handsets, allow_head=False),
            web.post("/simulator/handsets", self.add_handset),
            web.get("/simulator/handsets/{msisdn}", self.get_handset, allow_head=False),
            web.patch("/simulator/handsets/{msisdn}", self.update_handset),
            web.get("/simulator/handsets/{msisdn}/inbox", self.inbox, allow_head=False),
            web.get("/simulator/merchants", self.list_merchants, allow_head=False),
            web.get("/simulator/transactions", self.list_transactions, allow_head=False),
            web.get("/simulator/transactions/{checkout_id}", self.get_transaction, allow_head=False),
            web.post("/simulator/transactions/{checkout_id}/pin", self.enter_pin),
            web.post("/simulator/transactions/{checkout_id}/cancel", self.cancel),
            web.post("/simulator/transactions/{checkout_id}/timeout", self.time_out),
            web.post("/simulator/transactions/{checkout_id}/settle", self.settle_with),
            web.put("/simulator/transactions/{checkout_id}/callback-plan", self.set_callback_plan),
            web.post("/simulator/transactions/{checkout_id}/callback/resend", self.resend_callback),
            web.post("/simulator/transactions/{checkout_id}/callback/send", self.send_edited_callback),
            web.get("/simulator/c2b/registrations", self.c2b_registrations, allow_head=False),
            web.get("/simulator/c2b/payments", self.c2b_payments, allow_head=False),
            web.post("/simulator/c2b/payments", self.c2b_pay),
            web.get("/simulator/initiator/requests", self.initiator_requests, allow_head=False),
            web.get("/simulator/initiator/next", self.next_outcomes, allow_head=False),
            web.post("/simulator/initiator/next", self.choose_next_outcome),
            web.get("/simulator/callbacks", self.callback_log, allow_head=False),
            web.get("/simulator/deliveries", self.list_deliveries, allow_head=False),
            web.get("/simulator/deliveries/{delivery_id}", self.get_delivery, allow_head=False),
            web.post("/simulator/deliveries/{delivery_id}/resend", self.resend_delivery),
            web.post("/simulator/deliveries/{delivery_id}/send", self.send_edited_delivery),
            web.post("/simulator/callbacks/forge", self.forge_callback),
            web.post("/simulator/handsets/{msisdn}/unlock", self.unlock_pin),
            web.post("/simulator/handsets/{msisdn}/send-money", self.send_money),
            web.post("/simulator/tokens/revoke", self.revoke_tokens),
            web.get("/simulator/certificate", self.certificate, allow_head=False),
            web.post("/simulator/security-credential", self.make_security_credential),
            web.get("/simulator/settings", self.get_settings, allow_head=False),
            web.patch("/simulator/settings", self.update_settings),
            web.get("/simulator/rules", self.get_rules, allow_head=False),
            web.put("/simulator/rules", self.set_rules),
            web.get("/simulator/events", self.events, allow_head=False),
            web.post("/simulator/reset", self.reset),
        ]

    # --- handsets ------------------------------------------------------------
    async def list_handsets(self, request: web.Request) -> web.Response:
        return web.json_response({"handsets": [h.to_json() for h in self.sim.handsets()]})

    async def get_handset(self, request: web.Request) -> web.Response:
        handset = self.sim.handset(request.match_info["msisdn"])
        if handset is None:
            return json_error(404, f"no handset with MSISDN {request.match_info['msisdn']}")
        return web.json_response(handset.to_json())

    async def add_handset(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed={"msisdn", "name", "pin", "balance"})
        if isinstance(body, web.Response):
            return body
        if "msisdn" not in body:
            return json_error(400, "msisdn is required")
        try:
            handset = self.sim.add_handset(body["msisdn"], body.get("name"), body.get("pin"), body.get("balance"))
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response(handset.to_json(), status=201)

    async def update_handset(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed={"name", "pin", "balance", "online"})
        if isinstance(body, web.Response):
            return body
        try:
            handset = self.sim.update_handset(request.match_info["msisdn"], **body)
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response(handset.to_json())

    async def inbox(self, request: web.Request) -> web.Response:
        msisdn = request.match_info["msisdn"]
        try:
            messages = self.sim.inbox(msisdn)
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response({"msisdn": msisdn, "messages": [m.to_json() for m in messages]})

    async def list_merchants(self, request: web.Request) -> web.Response:
        return web.json_response({"merchants": [m.to_json() for m in self.sim.merchants()]})

    # --- transactions --------------------------------------------------------
    async def list_transactions(self, request: web.Request) -> web.Response:
        query = request.query
        status = query.get("status")
        if status is not None and status not in (PENDING, SETTLED):
            return json_error(400, "status must be 'pending' or 'settled'")
        duplicate = query.get("duplicate")
        if duplicate is not None and duplicate not in ("true", "false"):
            return json_error(400, "duplicate must be 'true' or 'false'")
        paging = _paging(request, default_limit=100)
        if isinstance(paging, web.Response):
            return paging
        limit, offset = paging
        txns = self.sim.transactions(
            msisdn=query.get("msisdn"),
            status=status,
            result_code=query.get("result_code"),
            limit=limit,
            offset=offset,
            duplicate=None if duplicate is None else duplicate == "true",
        )
        return web.json_response({"transactions": [t.to_json() for t in txns]})

    async def get_transaction(self, request: web.Request) -> web.Response:
        checkout = request.match_info["checkout_id"]
        txn = self.sim.transaction_with_attempts(checkout)
        if txn is None:
            return json_error(404, f"no transaction with CheckoutRequestID {checkout}")
        return web.json_response(txn.to_json(with_attempts=True))

    async def enter_pin(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed={"pin"})
        if isinstance(body, web.Response):
            return body
        pin = body.get("pin")
        if not isinstance(pin, str):
            return json_error(400, 'pin is required, as a string: {"pin": "1234"}')
        return self._settle(lambda: self.sim.enter_pin(request.match_info["checkout_id"], pin))

    async def cancel(self, request: web.Request) -> web.Response:
        return self._settle(lambda: self.sim.cancel(request.match_info["checkout_id"]))

    async def time_out(self, request: web.Request) -> web.Response:
        return self._settle(lambda: self.sim.time_out(request.match_info["checkout_id"]))

    def _settle(self, action: Callable[[], Transaction]) -> web.Response:
        try:
            txn = action()
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response(txn.to_json())

    async def settle_with(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed={"result_code"})
        if isinstance(body, web.Response):
            return body
        code = _result_code(body.get("result_code", ""))
        if isinstance(code, web.Response):
            return code
        return self._settle(lambda: self.sim.settle_with(request.match_info["checkout_id"], code))

    async def set_callback_plan(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed={"mode", "seconds", "copies"})
        if isinstance(body, web.Response):
            return body
        try:
            plan = CallbackPlan.model_validate(body)
        except ValidationError as exc:
            return json_error(400, _pydantic_words(exc))
        return self._settle(lambda: self.sim.set_callback_plan(request.match_info["checkout_id"], plan))

    async def resend_callback(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed={"url"})
        if isinstance(body, web.Response):
            return body
        try:
            attempt = await self.sim.resend_callback(request.match_info["checkout_id"], body.get("url"))
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response(attempt.to_json())

    async def send_edited_callback(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed={"body", "url"})
        if isinstance(body, web.Response):
            return body
        payload = _edited_body(body.get("body"))
        if payload is None:
            return json_error(400, "body is required: the callback JSON to send, as an object or a string")
        try:
            attempt = await self.sim.send_edited_callback(request.match_info["checkout_id"], payload, body.get("url"))
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response(attempt.to_json())

    async def callback_log(self, request: web.Request) -> web.Response:
        paging = _paging(request, default_limit=200)
        if isinstance(paging, web.Response):
            return paging
        differ = request.query.get("answers_differ")
        if differ is None:
            return web.json_response({"attempts": [a.to_json() for a in self.sim.callback_log(*paging)]})
        if differ != "true":
            return json_error(400, "answers_differ can only be 'true' (leave it out for every callback)")
        limit, offset = paging
        found = self.sim.differing_answers(limit + offset)[offset:]
        return web.json_response(
            {
                "deliveries": [
                    {"delivery_id": key, "subject": key.split(":", 1)[1], "merchant_answers": comparison.to_json()}
                    for key, comparison in found
                ]
            }
        )

    # --- C2B -----------------------------------------------------------------------------
    async def c2b_registrations(self, request: web.Request) -> web.Response:
        return web.json_response({"registrations": [r.to_json() for r in self.sim.c2b.registrations()]})

    async def c2b_payments(self, request: web.Request) -> web.Response:
        paging = _paging(request, default_limit=100)
        if isinstance(paging, web.Response):
            return paging
        found = self.sim.c2b.payments(request.query.get("msisdn"), request.query.get("shortcode"), *paging)
        return web.json_response({"payments": [p.to_json() for p in found]})

    async def c2b_pay(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed={"msisdn", "shortcode", "amount", "account", "command"})
        if isinstance(body, web.Response):
            return body
        missing = sorted({"msisdn", "shortcode", "amount"} - set(body))
        if missing:
            return json_error(400, f"{', '.join(missing)} required: who pays, which paybill or till, how much")
        try:
            payment = await self.sim.c2b.customer_pays(
                body["msisdn"],
                body["shortcode"],
                body["amount"],
                body.get("account", ""),
                body.get("command"),
            )
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response(payment.to_json(), status=201)

    async def send_money(self, request: web.Request) -> web.Response:
        """Send Money from the phone's menu, for scripts: one customer pays another, both get the SMS."""
        body = await _object_body(request, allowed={"to", "amount", "pin"})
        if isinstance(body, web.Response):
            return body
        missing = sorted({"to", "amount"} - set(body))
        if missing:
            return json_error(400, f"{', '.join(missing)} required: whose phone gets the money, and how much")
        to, amount, pin = body["to"], body["amount"], body.get("pin")
        if not isinstance(to, str) or not re.fullmatch(RECIPIENT_PATTERN, to):
            return json_error(400, "to must be a phone number as text: 07XXXXXXXX, 2547XXXXXXXX or +2547XXXXXXXX")
        if isinstance(amount, bool) or not isinstance(amount, int):
            return json_error(400, "amount must be a whole number of KES (a JSON integer)")
        if pin is not None and not isinstance(pin, str):
            return json_error(400, "pin must be the 4 digits as text; leave it out to skip the PIN")
        try:
            transfer = self.sim.menu.send_money(request.match_info["msisdn"], pin, to, amount)
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response(transfer.to_json(), status=201)

    # --- initiator APIs: B2C, Transaction Status, Account Balance, Reversal ---------------
    async def initiator_requests(self, request: web.Request) -> web.Response:
        paging = _paging(request, default_limit=100)
        if isinstance(paging, web.Response):
            return paging
        found = self.sim.initiator_requests(request.query.get("api"), *paging)
        return web.json_response({"requests": [r.to_json() for r in found]})

    async def next_outcomes(self, request: web.Request) -> web.Response:
        return web.json_response({"next": [vars(chosen) for chosen in self.sim.initiator.chosen()]})

    async def choose_next_outcome(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed={"result_code", "queue_timeout", "delay"})
        if isinstance(body, web.Response):
            return body
        try:
            chosen = check_outcome(body)
        except EngineError as exc:
            return _engine_error(exc)
        self.sim.initiator.choose_next(chosen)
        return web.json_response({"next": [vars(c) for c in self.sim.initiator.chosen()]}, status=201)

    # --- deliveries: every message owed to merchants, whatever it carries ---------------
    async def list_deliveries(self, request: web.Request) -> web.Response:
        channel, state = request.query.get("channel"), request.query.get("state")
        if channel is not None and channel not in CHANNELS:
            return json_error(400, f"channel must be one of {', '.join(CHANNELS)}")
        if state is not None and state not in DELIVERY_STATES:
            return json_error(400, f"state must be one of {', '.join(DELIVERY_STATES)}")
        paging = _paging(request, default_limit=200)
        if isinstance(paging, web.Response):
            return paging
        found = self.sim.deliveries(channel, state, *paging)
        return web.json_response({"deliveries": [d.to_json() for d in found]})

    async def get_delivery(self, request: web.Request) -> web.Response:
        key = request.match_info["delivery_id"]
        found = self.sim.delivery(key)
        if found is None:
            return json_error(404, f"no delivery {key}")
        return web.json_response(found.to_json(attempts=self.sim.delivery_attempts(key)))

    async def resend_delivery(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed={"url"})
        if isinstance(body, web.Response):
            return body
        try:
            attempt = await self.sim.resend(request.match_info["delivery_id"], body.get("url"))
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response(attempt.to_json())

    async def send_edited_delivery(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed={"body", "url"})
        if isinstance(body, web.Response):
            return body
        payload = _edited_body(body.get("body"))
        if payload is None:
            return json_error(400, "body is required: the JSON to send, as an object or a string")
        try:
            attempt = await self.sim.send_edited(request.match_info["delivery_id"], payload, body.get("url"))
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response(attempt.to_json())

    async def forge_callback(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed={"url", "result_code", "amount", "msisdn"})
        if isinstance(body, web.Response):
            return body
        if "url" not in body:
            return json_error(400, "url is required: where to send the forged callback")
        code = _result_code(body.get("result_code", 0))
        if isinstance(code, web.Response):
            return code
        try:
            attempt = await self.sim.forge_callback(
                body["url"], code, body.get("amount", 1), body.get("msisdn", "254708374149")
            )
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response(attempt.to_json())

    async def unlock_pin(self, request: web.Request) -> web.Response:
        try:
            handset = self.sim.unlock_pin(request.match_info["msisdn"])
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response(handset.to_json())

    async def revoke_tokens(self, request: web.Request) -> web.Response:
        self.sim.revoke_tokens()
        return web.json_response({"revoked": True})

    # --- SecurityCredentials, for security_credential = "check" ---------------------------
    async def certificate(self, request: web.Request) -> web.Response:
        """The emulator's test certificate: encrypt initiator passwords with it instead of Safaricom's."""
        return web.Response(body=security_credential.certificate_pem(), content_type="application/x-pem-file")

    async def make_security_credential(self, request: web.Request) -> web.Response:
        """What the portal's tool does: a password in, its SecurityCredential out (our certificate)."""
        body = await _object_body(request, allowed={"password"})
        if isinstance(body, web.Response):
            return body
        password = body.get("password")
        if not isinstance(password, str) or not 0 < len(password) <= security_credential.PASSWORD_MAX_CHARS:
            limit = security_credential.PASSWORD_MAX_CHARS
            return json_error(400, f"password must be a non-empty string of at most {limit} characters")
        return web.json_response({"security_credential": security_credential.encrypt(password)})

    async def get_settings(self, request: web.Request) -> web.Response:
        return web.json_response(self._runtime_settings())

    async def update_settings(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed=set(RUNTIME_SETTINGS))
        if isinstance(body, web.Response):
            return body
        try:
            self.sim.update_settings(body)
        except EngineError as exc:
            return _engine_error(exc)
        return web.json_response(self._runtime_settings())

    def _runtime_settings(self) -> dict[str, Any]:
        dumped = self.sim.settings.model_dump(mode="json")
        return {key: dumped[key] for key in RUNTIME_SETTINGS}

    async def get_rules(self, request: web.Request) -> web.Response:
        return web.json_response(self.sim.settings.unattended.model_dump(mode="json"))

    async def set_rules(self, request: web.Request) -> web.Response:
        body = await _object_body(request, allowed=set(Unattended.model_fields))
        if isinstance(body, web.Response):
            return body
        try:
            config = Unattended.model_validate(body)
        except ValidationError as exc:
            return json_error(400, _pydantic_words(exc))
        return web.json_response(self.sim.set_unattended(config).model_dump(mode="json"))

    async def reset(self, request: web.Request) -> web.Response:
        self.sim.reset()
        return web.json_response({"reset": True, "handsets": [h.to_json() for h in self.sim.handsets()]})

    # --- events ----------------------------------------------------------------
    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        queue, unsubscribe = self.sim.bus.queue()
        task = asyncio.current_task()
        tasks = request.app[SSE_TASKS]
        if task is not None:
            tasks.add(task)
        try:
            await response.write(b": connected\n\n")
            while True:
                try:
                    event: Event = await asyncio.wait_for(queue.get(), _KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                data = json.dumps(event.to_json(), separators=(",", ":"))
                await response.write(f"event: {event.type}\ndata: {data}\n\n".encode())
        except (asyncio.CancelledError, ConnectionResetError):
            pass
        finally:
            unsubscribe()
            tasks.discard(task)
        return response


async def _object_body(request: web.Request, allowed: set[str]) -> dict[str, Any] | web.Response:
    """The JSON object body (empty if none), or an error response saying what is wrong."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json_body.loads(raw)
    except ValueError as exc:
        return json_error(400, f"the body is not valid JSON: {exc}")
    if not isinstance(body, dict):
        return json_error(400, "the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        return json_error(400, f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    nulls = sorted(key for key, value in body.items() if value is None)
    if nulls:
        return json_error(400, f"{', '.join(nulls)} must not be null; leave a field out to keep its value")
    return body


def _paging(request: web.Request, default_limit: int) -> tuple[int, int] | web.Response:
    """``limit`` and ``offset`` from the query string, or the error saying what is wrong."""
    try:
        limit = int(request.query.get("limit", str(default_limit)))
        offset = int(request.query.get("offset", "0"))
    except ValueError:
        return json_error(400, "limit and offset must be whole numbers")
    if not 1 <= limit <= 1000 or not 0 <= offset <= MAX_OFFSET:
        return json_error(400, f"limit must be 1 to 1000 and offset 0 to {MAX_OFFSET}")
    return limit, offset


def _result_code(value: object) -> int | str | web.Response:
    """A result code of spec §4 (as a number or a string), or the error listing them."""
    try:
        code = parse_outcome(value)
    except ValueError:
        code = None
    if code is None or code not in PROMPT_CODES:
        return json_error(400, f"result_code must be one of {', '.join(str(c) for c in PROMPT_CODES)}")
    return code


def _pydantic_words(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {str(e['msg']).removeprefix('Value error, ')}"
        for e in exc.errors()
    )


def _edited_body(value: object) -> str | None:
    """An edited body as sent: a JSON object or list compactly written, a string as it is."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value if isinstance(value, str) else None


async def cancel_event_streams(app: web.Application) -> None:
    """On shutdown, end open SSE streams so quitting never waits for them."""
    tasks: set[asyncio.Task[None]] = app[SSE_TASKS]
    for task in list(tasks):
        task.cancel()
