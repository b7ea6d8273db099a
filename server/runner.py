"""Start and stop one emulator: the engine plus its aiohttp server.

An ``Emulator`` is an object with ``start()``, ``stop()`` and ``port``, so the
CLI, the TUI and every test run it the same way (bind port 0 in tests).
"""

from __future__ import annotations

import errno
import ipaddress

from aiohttp import web

from .clock import Clock
from .fair_share import TurnBudget
from .http_app import build_app
from .ids import IdGenerator
from .settings import Settings
from .simulator import Simulator
from .store import Store


class PortInUse(Exception):
    """The chosen port is taken by another program."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"port {port} on {host} is already in use; choose another with --port (for example --port {port + 1})")
        self.port = port


class Emulator:
    """One running emulator: engine, HTTP server, database."""

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, ids: IdGenerator | None = None,
        store: Store | None = None, turn_budget: float | None = None,
    ) -> None:
        self.settings = settings
        # Set when a UI shares the loop: see server.fair_share.
        self._turn_budget = TurnBudget(turn_budget) if turn_budget else None
        self.simulator = Simulator(
            settings, store=store if store is not None else Store(settings.db_path()), clock=clock, ids=ids
        )
        self.simulator.callbacks.turn_budget = self._turn_budget
        self._runner: web.AppRunner | None = None
        self.port: int = settings.port

    @property
    def host(self) -> str:
        return self.settings.host

    @property
    def base_url(self) -> str:
        """Where merchants should send requests: ``public_url`` if set, else where we listen."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return self.local_url

    @property
    def local_url(self) -> str:
        """The address this process is bound to."""
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        elif host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"

    async def start(self) -> None:
        await self.simulator.start()
        app = build_app(self.simulator, self._turn_budget)
        # shutdown_timeout: quitting must never stall on a client that keeps a connection open.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.settings.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            await self.simulator.stop()
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(self.host, self.settings.port) from None
            raise
        server = site._server  # aiohttp exposes the bound port only through the server's sockets
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving, stop timers and deliveries, close the database."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.simulator.stop()
        self.simulator.store.close()
