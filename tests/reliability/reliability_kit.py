"""Shared tools of the reliability suite: a real emulator in a background thread (for
hypothesis, which drives plain functions), raw HTTP for requests no client library will
send, checks of the two error shapes, a misbehaving merchant, and the headless CLI as a
subprocess.

Nothing here replaces our own code: the emulator, the receiver and the CLI are the real ones.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from server.clock import ManualClock
from server.ids import IdGenerator
from server.runner import Emulator
from server.settings import Settings
from tests.daraja_client import push_body
from tests.receiver import CallbackReceiver, serve_posts

ROOT = Path(__file__).resolve().parents[2]

PUSH = "/mpesa/stkpush/v1/processrequest"
QUERY = "/mpesa/stkpushquery/v1/query"
OAUTH = "/oauth/v1/generate"
SHORTCODE = "174379"
LIMIT = 1_048_576  # settings.max_body_bytes default

ENVELOPE_KEYS = ["requestId", "errorCode", "errorMessage"]
ACK_KEYS = ["MerchantRequestID", "CheckoutRequestID", "ResponseCode", "ResponseDescription", "CustomerMessage"]
QUERY_KEYS = [
    "ResponseCode",
    "ResponseDescription",
    "MerchantRequestID",
    "CheckoutRequestID",
    "ResultCode",
    "ResultDesc",
]
# The only 500s the spec lets the gateway answer (all 500.001.1001).
SPEC_500_MESSAGES = {
    "Merchant does not exist",
    "Wrong credentials",
    "Unable to lock subscriber, a transaction is already in process for the current subscriber",
    "The transaction does not exist",
    "The transaction is being processed",
}
CHECKOUT_ID = re.compile(r"^ws_CO_[0-9]{17}[0-9]{9}$")
REQUEST_ID = re.compile(r"^[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[0-9]{4,7}$")


# --- the two error shapes ------------------------------------------------------
def is_control_path(path: str) -> bool:
    return path == "/simulator" or path.startswith("/simulator/") or path == "/openapi.json"


def check_envelope(status: int, body: bytes, context: str = "") -> dict[str, str]:
    """A Daraja error: the three-string envelope, errorCode agreeing with the HTTP status,
    and a 5xx only when it is one of the spec's 500.001.1001 answers."""
    assert 400 <= status < 600, f"{context}: expected an error status, got {status}"
    try:
        data = json.loads(body)
    except ValueError:
        raise AssertionError(f"{context}: error body is not JSON: {body[:200]!r}") from None
    assert isinstance(data, dict) and list(data) == ENVELOPE_KEYS, f"{context}: not the envelope: {data!r}"
    assert all(isinstance(v, str) for v in data.values()), f"{context}: envelope values must be strings: {data!r}"
    assert data["errorCode"].split(".")[0] == str(status), f"{context}: errorCode {data['errorCode']} vs HTTP {status}"
    assert REQUEST_ID.match(data["requestId"]) or data["requestId"].startswith("ws_CO_"), f"{context}: {data!r}"
    if status >= 500:
        assert data["errorCode"] == "500.001.1001" and data["errorMessage"] in SPEC_500_MESSAGES, (
            f"{context}: unexpected 5xx {data!r}"
        )
    return data


def check_control_answer(status: int, body: bytes, context: str = "") -> Any:
    """A control answer: a valid 2xx JSON body, or 4xx with exactly ``{"error": "<words>"}``."""
    assert status < 500, f"{context}: unexpected {status}: {body[:300]!r}"
    data = json.loads(body) if body else None
    if status >= 400:
        assert isinstance(data, dict) and list(data) == ["error"], f"{context}: not an error object: {data!r}"
        assert isinstance(data["error"], str) and data["error"].strip(), f"{context}: empty error: {data!r}"
    else:
        assert 200 <= status < 300, f"{context}: unexpected status {status}"
        assert isinstance(data, (dict, list)), f"{context}: 2xx without a JSON document: {body[:200]!r}"
    return data


def check_ack(body: bytes, context: str = "") -> dict[str, str]:
    ack = json.loads(body)
    assert list(ack) == ACK_KEYS, f"{context}: {ack!r}"
    assert ack["ResponseCode"] == "0"
    assert CHECKOUT_ID.match(ack["CheckoutRequestID"]), f"{context}: {ack['CheckoutRequestID']!r}"
    return ack


# --- raw HTTP ------------------------------------------------------------------
@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(port: int, head: bytes, body: bytes = b"", timeout: float = 10.0) -> RawResponse:
    """Send bytes exactly as given (odd paths, broken encodings) and parse the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + body)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    header_blob, _, rest = data.partition(b"\r\n\r\n")
    lines = header_blob.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    length = headers.get("content-length")
    body_out = rest[: int(length)] if length is not None else rest
    return RawResponse(status, headers, body_out)


def request_head(
    method: str, target: bytes, headers: dict[str, str] | None = None, body_len: int | None = None
) -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}".encode("latin-1"))
    if body_len is not None:
        lines.append(f"Content-Length: {body_len}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


# --- the emulator in a background thread ------------------------------------------
class BackgroundEmulator:
    """The real emulator and a real receiver on their own event loop in a thread.

    hypothesis drives plain functions; they talk to this server with a blocking httpx
    client. ``assert_healthy`` proves the server still does a whole payment correctly
    and that every payment it settled before is unchanged.
    """

    def __init__(self, settings: Settings, seed: int = 11) -> None:
        self.settings = settings
        self.seed = seed
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="emulator", daemon=True)
        self.emulator: Emulator | None = None
        self.receiver: CallbackReceiver | None = None
        # Set by the fuzz fixture: a prompt still live and a payment settled before the fuzzing.
        self.live_checkout = ""
        self.settled_checkout = ""
        self.clock: ManualClock | None = None
        self.client: httpx.Client | None = None
        self._health = itertools.count(1)
        self.settled: dict[str, dict[str, Any]] = {}  # CheckoutRequestID -> detail when it was final
        self.balances: dict[str, float] = {}
        self._token: str | None = None

    def call(self, coro, timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> BackgroundEmulator:
        self.thread.start()

        async def boot() -> None:
            self.clock = ManualClock()
            self.emulator = Emulator(self.settings, clock=self.clock, ids=IdGenerator(seed=self.seed))
            await self.emulator.start()
            self.receiver = CallbackReceiver()
            await self.receiver.start()

        self.call(boot())
        self.client = httpx.Client(base_url=self.base_url, timeout=30)
        return self

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()

        async def halt() -> None:
            assert self.emulator is not None and self.receiver is not None
            await self.emulator.stop()
            await self.receiver.stop()

        try:
            self.call(halt())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    @property
    def base_url(self) -> str:
        assert self.emulator is not None
        return self.emulator.base_url

    @property
    def port(self) -> int:
        assert self.emulator is not None
        return self.emulator.port

    def token(self) -> str:
        if self._token is None:
            response = self.http().get(OAUTH, params={"grant_type": "client_credentials"}, auth=("health", "check"))
            assert response.status_code == 200, response.text
            self._token = response.json()["access_token"]
        return self._token

    def http(self) -> httpx.Client:
        assert self.client is not None
        return self.client

    def callbacks_for(self, checkout: str) -> list[dict[str, Any]]:
        assert self.receiver is not None
        found = []
        for callback in list(self.receiver.received):
            try:
                stk = callback.json["Body"]["stkCallback"]
            except (ValueError, KeyError, TypeError):
                continue
            if stk.get("CheckoutRequestID") == checkout:
                found.append(stk)
        return found

    def wait(self, predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.01)

    def pay(self, msisdn: str, pin: str, amount: int, answer: str | None = None) -> dict[str, Any]:
        """Push to ``msisdn``, have the customer answer (PIN, or ``cancel``), wait for the
        callback; return the transaction detail once its callback is delivered."""
        http = self.http()
        assert self.receiver is not None
        response = http.post(
            PUSH,
            json=push_body(
                self.receiver.url_for("/health"), PhoneNumber=int(msisdn), PartyA=int(msisdn), Amount=amount
            ),
            headers={"Authorization": f"Bearer {self.token()}"},
        )
        assert response.status_code == 200, response.text
        checkout = check_ack(response.content)["CheckoutRequestID"]
        if answer == "cancel":
            settled = http.post(f"/simulator/transactions/{checkout}/cancel")
        else:
            settled = http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": answer or pin})
        assert settled.status_code == 200, settled.text
        [stk] = self.wait(lambda: self.callbacks_for(checkout), f"the callback of {checkout}")
        assert stk["ResultCode"] == settled.json()["result_code"]
        detail = self.wait(
            lambda: (
                (d := http.get(f"/simulator/transactions/{checkout}").json())["callback_state"] == "delivered" and d
            ),
            f"{checkout} to be marked delivered",
        )
        self.settled[checkout] = detail
        return detail

    def assert_healthy(self) -> None:
        """A new phone pays 7 KES end to end; everything settled earlier is untouched."""
        http = self.http()
        n = next(self._health)
        msisdn = f"2541990{n:05d}"  # a range the bad-input strategies never produce
        created = http.post(
            "/simulator/handsets", json={"msisdn": msisdn, "name": "Health", "pin": "4321", "balance": 1000}
        )
        assert created.status_code == 201, created.text
        detail = self.pay(msisdn, "4321", 7)
        assert detail["result_code"] == 0 and detail["amount"] == 7
        [stk] = self.callbacks_for(detail["checkout_request_id"])
        items = {i["Name"]: i.get("Value") for i in stk["CallbackMetadata"]["Item"]}
        assert items["Amount"] == 7 and items["PhoneNumber"] == int(msisdn)
        assert items["MpesaReceiptNumber"] == detail["receipt"]
        query = http.post(
            QUERY,
            json={
                "BusinessShortCode": SHORTCODE,
                "Password": push_body("")["Password"],
                "Timestamp": push_body("")["Timestamp"],
                "CheckoutRequestID": detail["checkout_request_id"],
            },
            headers={"Authorization": f"Bearer {self.token()}"},
        )
        assert query.status_code == 200 and query.json()["ResultCode"] == "0", query.text
        self.balances[msisdn] = 993.0
        self.assert_history_intact()

    def assert_history_intact(self) -> None:
        http = self.http()
        for checkout, before in self.settled.items():
            now = http.get(f"/simulator/transactions/{checkout}")
            assert now.status_code == 200, now.text
            assert now.json() == before, f"settled transaction {checkout} changed"
            assert len(self.callbacks_for(checkout)) == 1, f"callback of {checkout} sent again"
        for msisdn, balance in self.balances.items():
            handset = http.get(f"/simulator/handsets/{msisdn}").json()
            assert handset["balance"] == balance, f"balance of {msisdn} changed: {handset}"


# --- a merchant that misbehaves in the ways the receiver cannot ----------------------
@dataclass
class Arrival:
    path: str
    body: bytes
    answered: bool = False


@dataclass
class FaultyMerchant:
    """A real HTTP server playing a merchant: redirects, plain-text answers, a hang that
    records its arrival, and a flaky endpoint (500, then 200 once released)."""

    port: int = 0
    arrivals: list[Arrival] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.release = asyncio.Event()
        self._flaky_calls = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self._runner, self.port = await serve_posts(self._handle, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def arrived(self, path: str) -> list[Arrival]:
        return [a for a in self.arrivals if a.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrival = Arrival(request.path, await request.read())
        self.arrivals.append(arrival)
        try:
            if request.path == "/redirect":
                return web.Response(status=302, headers={"Location": self.url("/ok")})
            if request.path == "/text":
                return web.Response(text="thanks, got it", content_type="text/plain")
            if request.path == "/hang":
                await asyncio.sleep(3600)
            if request.path == "/flaky":
                self._flaky_calls += 1
                if self._flaky_calls == 1:
                    return web.json_response({"error": "database is down"}, status=500)
                await self.release.wait()
            return web.json_response({"ResultCode": 0, "ResultDesc": "Accepted"})
        finally:
            arrival.answered = True


# --- the headless CLI as a real process ------------------------------------------------
@dataclass
class ServeProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path


def spawn_serve(
    db: Path, log: Path, *flags: str, env: dict[str, str] | None = None, timeout: float = 20.0
) -> ServeProcess:
    """Run ``python -m handset serve --port 0 --db <db> ...`` and wait for its URL.

    ``log`` must be a new file for each process. Output goes to a file, not a pipe: the server prints a line per request and must
    never block on a full pipe nobody reads.
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HANDSET_")}
    environ.update({"PYTHONUNBUFFERED": "1", **(env or {})})
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "handset", "serve", "--port", "0", "--db", str(db), *flags],
        cwd=ROOT,
        env=environ,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = log.read_bytes().decode("utf-8", "replace")
        match = re.search(r"listening on (http://\S+)", seen)
        if match:
            return ServeProcess(proc, match.group(1), log)
        if proc.poll() is not None:
            raise AssertionError(f"handset serve exited early:\n{seen}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"handset serve printed no URL:\n{seen}")


def sigkill(process: ServeProcess) -> None:
    process.proc.send_signal(signal.SIGKILL)
    process.proc.wait(10)
    assert process.proc.returncode == -signal.SIGKILL


def free_port() -> int:
    """A port where nothing listens (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def poll(predicate: Callable[[], Any], what: str, timeout: float = 10.0, every: float = 0.02) -> Any:
    """Await an async or sync predicate until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)
