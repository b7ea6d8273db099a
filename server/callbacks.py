"""Callback delivery: the exact STK callback body, POSTed with httpx, every attempt recorded.

Each transaction's delivery runs in its own task, so a merchant that hangs
delays nobody else. A callback is marked delivered only after the merchant
answered 2xx; one interrupted by shutdown or a crash stays due and is sent
again at the next start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from typing import Any

import httpx

from .clock import wire_timestamp
from .daraja.catalogue import CALLBACK_CONTENT_TYPE
from .events import CallbackAttempted, EventBus
from .models import CALLBACK_DELIVERED, CALLBACK_FAILED, CallbackAttempt, Transaction
from .settings import Settings
from .store import Store

log = logging.getLogger(__name__)

RESPONSE_BODY_LIMIT = 2000


class _TwoDecimals:
    """A number that must be written with two decimals (``1.00``), as Daraja writes Amount."""

    def __init__(self, value: int) -> None:
        self.text = f"{value:.2f}"


def _dumps(value: Any) -> str:
    # json cannot write 1.00; emit a placeholder string and swap the raw number in.
    raw: list[str] = []

    def default(obj: Any) -> str:
        if isinstance(obj, _TwoDecimals):
            raw.append(obj.text)
            return f"\x00{len(raw) - 1}\x00"
        raise TypeError(f"cannot serialise {type(obj).__name__}")

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=default)
    for index, number in enumerate(raw):
        text = text.replace(f'"\\u0000{index}\\u0000"', number)
    return text


def render_callback(txn: Transaction) -> str:
    """The body Safaricom POSTs to CallBackURL for a settled transaction (spec §3)."""
    stk: dict[str, Any] = {
        "MerchantRequestID": txn.merchant_request_id,
        "CheckoutRequestID": txn.checkout_request_id,
        "ResultCode": txn.wire_result_code,
        "ResultDesc": txn.result_desc,
    }
    if txn.result_code == "0":
        assert txn.receipt is not None and txn.settled_at is not None
        stk["CallbackMetadata"] = {"Item": [
            {"Name": "Amount", "Value": _TwoDecimals(txn.amount)},
            {"Name": "MpesaReceiptNumber", "Value": txn.receipt},
            {"Name": "Balance"},
            {"Name": "TransactionDate", "Value": int(wire_timestamp(txn.settled_at))},
            {"Name": "PhoneNumber", "Value": int(txn.msisdn)},
        ]}
    return _dumps({"Body": {"stkCallback": stk}})


def diagnose(exc: Exception, url: str, timeout: float) -> str:
    """Say in plain words why a callback could not be delivered."""
    host = httpx.URL(url).host
    if isinstance(exc, httpx.TimeoutException):
        kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "for an answer"
        return f"timed out after {timeout:g} s waiting {kind} from {host}"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return f"DNS failure: could not resolve host {host!r}"
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {host}: nothing is listening on that port"
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return f"DNS failure: could not resolve host {host!r}"
    if "refused" in text.lower():
        return f"connection refused by {host}: nothing is listening on that port"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the merchant closed the connection or sent a broken HTTP answer ({text})"
    return f"could not reach {host}: {text}"


def diagnose_status(response: httpx.Response) -> str | None:
    """None for 2xx; otherwise what the merchant's status means."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        target = response.headers.get("location", "?")
        return f"merchant answered HTTP {status} redirect to {target}; callbacks do not follow redirects"
    side = "merchant error" if status >= 500 else "merchant rejected the callback"
    return f"merchant answered HTTP {status} ({side})"


class CallbackDispatcher:
    """Sends callbacks and records every attempt."""

    def __init__(self, settings: Settings, store: Store, bus: EventBus, clock: Any) -> None:
        self._settings = settings
        self._store = store
        self._bus = bus
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=self._settings.callback_timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            headers={"User-Agent": "mpesa-handset"},
        )

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def deliver(self, txn: Transaction) -> None:
        """Start delivering ``txn``'s callback in the background."""
        if txn.checkout_request_id in self._tasks or txn.callback_body is None:
            return
        task = asyncio.get_running_loop().create_task(self._deliver(txn))
        self._tasks[txn.checkout_request_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(txn.checkout_request_id, None))

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no delivery is running (tests and graceful shutdown)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(list(self._tasks.values()), timeout=max(0.0, deadline - time.monotonic()))

    async def _deliver(self, txn: Transaction) -> None:
        first = len(self._store.attempts(txn.checkout_request_id)) + 1
        tries = self._settings.callback_retries + 1
        for n in range(tries):
            attempt = await self._attempt(txn, first + n)
            final = attempt.ok or n == tries - 1
            with self._store.atomic():
                self._store.add_attempt(attempt)
                if final:
                    state = CALLBACK_DELIVERED if attempt.ok else CALLBACK_FAILED
                    self._store.set_callback_state(txn.checkout_request_id, state)
                    txn.callback_state = state
            txn.attempts.append(attempt)
            self._bus.publish(CallbackAttempted(at=self._clock.now(), attempt=attempt, final=final))
            if final:
                return
            delay = min(self._settings.callback_backoff_cap, self._settings.callback_backoff * 2**n)
            await asyncio.sleep(delay)

    async def _attempt(self, txn: Transaction, number: int) -> CallbackAttempt:
        assert self._client is not None, "dispatcher not started"
        body = txn.callback_body or ""
        started_at = self._clock.now()
        began = time.perf_counter()
        status: int | None = None
        response_body: str | None = None
        try:
            response = await self._client.post(
                txn.callback_url, content=body.encode("utf-8"), headers={"Content-Type": CALLBACK_CONTENT_TYPE}
            )
            status = response.status_code
            response_body = response.text[:RESPONSE_BODY_LIMIT]
            error = diagnose_status(response)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure to reach the merchant is data, not a crash
            error = diagnose(exc, txn.callback_url, self._settings.callback_timeout)
        latency_ms = (time.perf_counter() - began) * 1000
        return CallbackAttempt(
            checkout_request_id=txn.checkout_request_id, attempt=number, started_at=started_at,
            url=txn.callback_url, request_body=body, status=status, response_body=response_body,
            latency_ms=latency_ms, error=error,
        )
