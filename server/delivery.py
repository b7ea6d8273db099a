"""One outbound delivery for every message the emulator owes a merchant.

STK callbacks, C2B validation and confirmation calls, Results and queue
time-outs all go out here: POSTed with aiohttp's client, every attempt recorded
with a plain-words diagnosis, keyed by the delivery's id
(``<channel>:<subject>``), resendable and editable from the inspector.

Each delivery runs in its own task, so a merchant that hangs delays nobody
else. A delivery is marked delivered only after the merchant answered 2xx; one
interrupted by shutdown or a crash stays due and is sent again at the next
start. A round trip (C2B validation) is one attempt whose answer the caller
reads.

The client is aiohttp's (the server's own library), not httpx: under a burst
of callbacks httpx spent ~2 ms of CPU per POST where aiohttp spends ~0.25 ms,
and that CPU is taken from the requests and the screen sharing the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .answers import NOT_COPIES, compare_answers
from .daraja.catalogue import CALLBACK_CONTENT_TYPE
from .errors import StorageFailed
from .events import AnswersDiffer, CallbackAttempted, EventBus
from .fair_share import TurnBudget
from .models import (
    C2B_CONFIRMATION,
    C2B_VALIDATION,
    CALLBACK_DELIVERED,
    CALLBACK_DUE,
    CALLBACK_FAILED,
    CallbackAttempt,
    Delivery,
)
from .settings import Settings
from .store import Store

log = logging.getLogger(__name__)

RESPONSE_BODY_LIMIT = 2000
_PER_ORIGIN = 32  # posts in flight at once to one merchant origin
# C2B calls are plain JSON (their headers were never captured, spec §10.2); the rest as STK's (§3).
_CONTENT_TYPES = {C2B_VALIDATION: "application/json", C2B_CONFIRMATION: "application/json"}


def diagnose(exc: BaseException, url: str, timeout: float) -> str:
    """Say in plain words why a callback could not be delivered."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if host is None or isinstance(exc, aiohttp.InvalidURL):
        return f"the callback URL cannot be used: {exc}"
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        kind = "connecting" if isinstance(exc, aiohttp.ConnectionTimeoutError) else "for an answer"
        return f"timed out after {timeout:g} s waiting {kind} from {host}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"DNS failure: could not resolve host {host!r}"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return f"DNS failure: could not resolve host {host!r}"
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {host}: nothing is listening on that port"
        cause = getattr(cause, "os_error", None) or cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower():
        return f"connection refused by {host}: nothing is listening on that port"
    if isinstance(
        exc,
        (
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientPayloadError,
            aiohttp.ClientResponseError,
            aiohttp.ClientOSError,
        ),
    ):
        return f"the merchant closed the connection or sent a broken HTTP answer ({text})"
    return f"could not reach {host}: {text}"


def diagnose_status(status: int, location: str | None) -> str | None:
    """None for 2xx; otherwise what the merchant's status means."""
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"merchant answered HTTP {status} redirect to {location or '?'}; callbacks do not follow redirects"
    side = "merchant error" if status >= 500 else "merchant rejected the callback"
    return f"merchant answered HTTP {status} ({side})"


class Dispatcher:
    """Sends deliveries (now, later, never or several times, as the plan says) and records every attempt."""

    def __init__(self, settings: Settings, store: Store, bus: EventBus, clock: Any) -> None:
        self._settings = settings
        self._store = store
        self._bus = bus
        self._clock = clock
        self._clients: dict[str, aiohttp.ClientSession] = {}
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._started = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._scheduled: dict[str, Any] = {}  # timers of delayed and late callbacks
        # Shared with the HTTP server when a UI shares the loop (see server.fair_share).
        self.turn_budget: TurnBudget | None = None

    async def start(self) -> None:
        self._started = True

    def _client_for(self, origin: str) -> aiohttp.ClientSession:
        """One connection pool per merchant origin, so a merchant that hangs can only
        exhaust its own pool and never delays another merchant's callbacks."""
        client = self._clients.get(origin)
        if client is None or client.closed:
            client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=_PER_ORIGIN),
                headers={"User-Agent": "mpesa-handset"},
            )
            self._clients[origin] = client
        return client

    async def stop(self) -> None:
        for timer in self._scheduled.values():
            timer.cancel()
        self._scheduled.clear()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
        self._started = False

    def forget(self) -> None:
        """Drop everything scheduled or running (the engine was reset)."""
        for timer in self._scheduled.values():
            timer.cancel()
        self._scheduled.clear()
        for task in self._tasks.values():
            task.cancel()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def scheduled(self) -> int:
        return len(self._scheduled)

    def deliver(self, delivery: Delivery) -> None:
        """Send ``delivery`` in the background, at once or when its due time comes."""
        key = delivery.id
        if delivery.state != CALLBACK_DUE or key in self._tasks or key in self._scheduled:
            return
        if delivery.due_at is not None and delivery.due_at > self._clock.now():
            self._scheduled[key] = self._clock.call_at(delivery.due_at, lambda: self._due(delivery))
            return
        self._launch(delivery)

    def _due(self, delivery: Delivery) -> None:
        self._scheduled.pop(delivery.id, None)
        self._launch(delivery)

    def _launch(self, delivery: Delivery) -> None:
        key = delivery.id
        task = asyncio.get_running_loop().create_task(self._deliver(delivery))
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no delivery is running (tests and graceful shutdown)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(list(self._tasks.values()), timeout=max(0.0, deadline - time.monotonic()))

    async def _deliver(self, delivery: Delivery) -> None:
        plan = json.loads(delivery.plan) if delivery.plan else {}
        copies = int(plan.get("copies", 2)) if plan.get("mode") == "duplicate" else 1
        number = self._store.attempt_count(delivery.id)
        delivered = False
        for copy in range(copies):
            tries = self._settings.callback_retries + 1
            for n in range(tries):
                number += 1
                kind = "duplicate" if copy > 0 and n == 0 else "retry" if n > 0 else "callback"
                attempt = await self._attempt(delivery.id, delivery.url, delivery.body, number, kind)
                last = copy == copies - 1 and (attempt.ok or n == tries - 1)
                delivered = delivered or attempt.ok
                state = CALLBACK_DELIVERED if delivered else CALLBACK_FAILED
                try:
                    with self._store.atomic():
                        self._store.add_attempt(attempt)
                        if last:
                            self._store.set_delivery_state(delivery.id, state)
                except StorageFailed as exc:
                    # The delivery stays due on disk: the next start sends it again (at least once).
                    log.error("%s was sent but not recorded: %s", delivery.id, exc)
                    self._bus.publish(CallbackAttempted(at=self._clock.now(), attempt=attempt, final=True))
                    return
                if last:
                    delivery.state = state
                self._bus.publish(CallbackAttempted(at=self._clock.now(), attempt=attempt, final=last))
                self._compare(attempt)
                if attempt.ok:
                    break
                if n < tries - 1:
                    delay = min(self._settings.callback_backoff_cap, self._settings.callback_backoff * 2**n)
                    await asyncio.sleep(delay)

    async def send_now(
        self,
        delivery_id: str,
        url: str,
        body: str,
        kind: str,
        mark_delivered: bool = False,
        timeout: float | None = None,
    ) -> CallbackAttempt:
        """Send one body right away (resend, edited, forged, a round trip) and record it.

        ``timeout`` replaces callback_timeout (a C2B validation call has its own).
        """
        number = self._store.attempt_count(delivery_id) + 1
        attempt = await self._attempt(delivery_id, url, body, number, kind, timeout)
        with self._store.atomic():
            self._store.add_attempt(attempt)
            if mark_delivered and attempt.ok:
                self._store.set_delivery_state(delivery_id, CALLBACK_DELIVERED)
        self._bus.publish(CallbackAttempted(at=self._clock.now(), attempt=attempt, final=True))
        self._compare(attempt)
        return attempt

    def _compare(self, attempt: CallbackAttempt) -> None:
        """Say so when this copy's answer differs from the first copy's."""
        if attempt.kind in NOT_COPIES or attempt.status is None or attempt.attempt == 1:
            return
        comparison = compare_answers(self._store.attempts(attempt.delivery_id))
        if attempt.attempt in comparison.odd_ones:
            self._bus.publish(
                AnswersDiffer(
                    at=self._clock.now(),
                    delivery_id=attempt.delivery_id,
                    differences=comparison.differences,
                )
            )

    def _gate_for(self, origin: str) -> asyncio.Semaphore:
        """At most ``_PER_ORIGIN`` posts in flight per merchant origin: a burst of callbacks
        queues here, in order, instead of inside the client's pool."""
        gate = self._gates.get(origin)
        if gate is None:
            gate = self._gates[origin] = asyncio.Semaphore(_PER_ORIGIN)
        return gate

    async def _attempt(
        self,
        delivery_id: str,
        url: str,
        body: str,
        number: int,
        kind: str,
        timeout: float | None = None,
    ) -> CallbackAttempt:
        assert self._started, "dispatcher not started"
        origin = _origin(url)
        async with self._gate_for(origin):
            if self.turn_budget is not None:
                await self.turn_budget.admit()
            # Timed from here: waiting for our own gate or turn is not the merchant's latency.
            started_at = self._clock.now()
            began = time.perf_counter()
            status: int | None = None
            response_body: str | None = None
            timeout = self._settings.callback_timeout if timeout is None else timeout
            try:
                content_type = _CONTENT_TYPES.get(delivery_id.split(":", 1)[0], CALLBACK_CONTENT_TYPE)
                async with self._client_for(origin).post(
                    url,
                    data=body.encode("utf-8"),
                    headers={"Content-Type": content_type},
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=timeout),
                ) as response:
                    status = response.status
                    # Up to the limit: a merchant answering megabytes must not cost us megabytes.
                    raw = await response.content.read(RESPONSE_BODY_LIMIT * 4)
                    response_body = _text(raw, response.charset)[:RESPONSE_BODY_LIMIT]
                    error = diagnose_status(status, response.headers.get("Location"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure to reach the merchant is data, not a crash
                error = diagnose(exc, url, timeout)
            latency_ms = (time.perf_counter() - began) * 1000
        return CallbackAttempt(
            delivery_id=delivery_id,
            attempt=number,
            started_at=started_at,
            url=url,
            request_body=body,
            status=status,
            response_body=response_body,
            latency_ms=latency_ms,
            error=error,
            kind=kind,
        )


def _text(raw: bytes, charset: str | None) -> str:
    """The merchant's answer as text, whatever charset it claims (UTF-8 when it claims none we know)."""
    try:
        return raw.decode(charset or "utf-8", "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def _origin(url: str) -> str:
    """scheme://host:port of a URL (the URL itself if it has none), keying pools and gates."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}".lower() if parts.netloc else url
    except ValueError:
        return url
