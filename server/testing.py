"""The emulator inside a merchant's own test suite: a real server in a thread of its own.

``BackgroundEmulator`` starts a real emulator (its own event loop, port 0, a fresh database) and
plays the customer over the control API: wait for a prompt, enter the PIN, cancel, pay a paybill,
send money. It speaks HTTP with the standard library only, so a merchant's suite needs nothing
beyond this package, and it works from synchronous tests and asynchronous ones alike (the
emulator never shares their event loop). The pytest fixtures in ``server.pytest_plugin`` are built
on it; any other test runner can use it directly::

    with BackgroundEmulator() as mpesa:
        app.config.update(mpesa.env)          # MPESA_BASE_URL, MPESA_PASSKEY, ...
        app.checkout(phone="254708374149", amount=10)
        prompt = mpesa.wait_for_prompt("254708374149")
        mpesa.enter_pin(prompt["checkout_request_id"])
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .runner import Emulator
from .sandbox_credentials import SandboxCredentials, sandbox_credentials
from .settings import Settings, load_settings

START_TIMEOUT = 15.0
POLL_INTERVAL = 0.02  # seconds between looks while waiting for a prompt or a settlement


class ControlError(Exception):
    """The control API refused a request: ``status`` and its plain-words ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class BackgroundEmulator:
    """A real emulator serving from a thread of its own, and the customer's side of it."""

    def __init__(self, settings: Settings | None = None, *, config: Path | None = None) -> None:
        """``settings`` as given, or those of ``config`` (a TOML file) and the ``HANDSET_*``
        variables; either way on a free port and, unless a ``db`` is given, a fresh database
        in a temporary folder."""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if settings is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mpesa-handset-")
            flags = {"port": 0, "db": Path(self._tmp.name) / "handset.db", "fresh": True, "host": "127.0.0.1"}
            settings = load_settings(config, flags)
        self.settings = settings
        self._emulator = Emulator(settings)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="mpesa-handset", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> BackgroundEmulator:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"the emulator did not start within {START_TIMEOUT:.0f} s")
        if self._failed is not None:
            raise RuntimeError(f"the emulator did not start: {self._failed}") from self._failed
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._emulator.stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> BackgroundEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._emulator.start())
        except BaseException as exc:  # handed to start(), which raises it in the caller's thread
            self._failed = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    # --- what a merchant app is configured with --------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._emulator.base_url

    @property
    def credentials(self) -> SandboxCredentials:
        """The sandbox's test credentials as this emulator has them (shortcode, passkey, initiator)."""
        return sandbox_credentials(self.settings, self.base_url)

    @property
    def env(self) -> dict[str, str]:
        """``MPESA_BASE_URL``, ``MPESA_CONSUMER_KEY``, ``MPESA_PASSKEY``... pointed here."""
        return self.credentials.env()

    # --- the control API ---------------------------------------------------------------------------
    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One control API call; the JSON answer, or ControlError with the emulator's words."""
        data = json.dumps(body).encode() if body is not None else None
        call = urllib.request.Request(self.base_url + path, data=data, method=method)
        call.add_header("Content-Type", "application/json")
        if self.settings.control_token:
            call.add_header("Authorization", f"Bearer {self.settings.control_token}")
        try:
            with urllib.request.urlopen(call, timeout=30) as answer:  # our own http:// URL
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw).get("error", raw.decode())
            except ValueError:
                message = raw.decode(errors="replace")
            raise ControlError(exc.code, message) from None

    def reset(self) -> None:
        """Back to the configured handsets, organisations, settings and rules; history wiped."""
        self.request("POST", "/simulator/reset")

    def transactions(self, **filters: str) -> list[dict[str, Any]]:
        """STK transactions, newest first (filters as the control API takes them: msisdn, status...)."""
        query = "&".join(f"{key}={value}" for key, value in filters.items())
        return list(self.request("GET", f"/simulator/transactions?{query}")["transactions"])

    def transaction(self, checkout_request_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/simulator/transactions/{checkout_request_id}"))

    def handset(self, msisdn: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/simulator/handsets/{msisdn}"))

    def inbox(self, msisdn: str) -> list[str]:
        """The texts of a phone's SMS, newest first."""
        return [m["text"] for m in self.request("GET", f"/simulator/handsets/{msisdn}/inbox")["messages"]]

    # --- the customer's side -------------------------------------------------------------------------
    def wait_for_prompt(self, msisdn: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The newest live PIN prompt (on ``msisdn``'s phone, or any), once an STK Push brought one."""
        filters = {"status": "pending", **({"msisdn": msisdn} if msisdn else {})}
        deadline = time.monotonic() + timeout
        while True:
            pending = self.transactions(**filters)
            if pending:
                return pending[0]
            if time.monotonic() > deadline:
                where = f" on {msisdn}" if msisdn else ""
                raise TimeoutError(f"no STK Push prompt arrived{where} within {timeout} s")
            time.sleep(POLL_INTERVAL)

    def enter_pin(self, checkout_request_id: str, pin: str = "1234") -> dict[str, Any]:
        """Type the PIN and press OK: ``0`` with the right PIN, ``2001`` with a wrong one."""
        return dict(self.request("POST", f"/simulator/transactions/{checkout_request_id}/pin", {"pin": pin}))

    def cancel(self, checkout_request_id: str) -> dict[str, Any]:
        """Press Cancel: ``1032``."""
        return dict(self.request("POST", f"/simulator/transactions/{checkout_request_id}/cancel"))

    def time_out(self, checkout_request_id: str) -> dict[str, Any]:
        """Let the prompt time out now: ``1037``."""
        return dict(self.request("POST", f"/simulator/transactions/{checkout_request_id}/timeout"))

    def settle(self, checkout_request_id: str, result_code: int | str) -> dict[str, Any]:
        """End the prompt with any result code of the spec (``1``, ``1025``, ``8006``...)."""
        path = f"/simulator/transactions/{checkout_request_id}/settle"
        return dict(self.request("POST", path, {"result_code": result_code}))

    def pay_bill(self, msisdn: str, shortcode: str, amount: int, account: str = "") -> dict[str, Any]:
        """A customer pays a paybill or till (C2B): validation, money, SMS, confirmation."""
        body = {"msisdn": msisdn, "shortcode": shortcode, "amount": amount, "account": account}
        return dict(self.request("POST", "/simulator/c2b/payments", body))

    def send_money(self, msisdn: str, to: str, amount: int) -> dict[str, Any]:
        """One customer sends another money (Send Money); both get the SMS."""
        return dict(self.request("POST", f"/simulator/handsets/{msisdn}/send-money", {"to": to, "amount": amount}))

    def set_rules(self, **rules: Any) -> dict[str, Any]:
        """Who answers prompts with nobody at the keyboard (``mode="approve"``, ``rules=[...]``)."""
        return dict(self.request("PUT", "/simulator/rules", rules))

    def set_settings(self, **changes: Any) -> dict[str, Any]:
        """Change runtime settings (``result_delay=0``, ``prompt_timeout=5``...), all or nothing."""
        return dict(self.request("PATCH", "/simulator/settings", changes))
