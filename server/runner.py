"""Start and stop one emulator: the engine plus its aiohttp server.

An ``Emulator`` is an object with ``start()``, ``stop()`` and ``port``, so the
CLI, the TUI and every test run it the same way (bind port 0 in tests).
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp import web

from .clock import Clock
from .errors import CannotStart, StorageFailed
from .fair_share import TurnBudget
from .http_app import build_app
from .ids import IdGenerator
from .listen import PortInUse, bind_sockets
from .settings import Settings
from .simulator import Simulator
from .store import Store

__all__ = ["CannotStart", "Emulator", "PortInUse"]


class Emulator:
    """One running emulator: engine, HTTP server, database.

    Start-up runs in an order that keeps a failed start harmless: ``claim()``
    takes the database (the owner lock, checks that write nothing) and binds the
    port; only then does ``start()`` migrate the file, wipe it for ``--fresh``,
    load it, settle expired prompts and resend due callbacks. Any failure is a
    CannotStart with one plain line.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        store: Store | None = None,
        turn_budget: float | None = None,
    ) -> None:
        self.settings = settings
        # Set when a UI shares the loop: see server.fair_share.
        self._turn_budget = TurnBudget(turn_budget) if turn_budget else None
        self.simulator = Simulator(
            settings, store=store if store is not None else Store(settings.db_path()), clock=clock, ids=ids
        )
        self.simulator.callbacks.turn_budget = self._turn_budget
        self._runner: web.AppRunner | None = None
        self._sockets: list[socket.socket] = []
        self._claimed = False
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

    def claim(self) -> None:
        """Take the database and the port, or raise CannotStart having changed nothing.

        Synchronous, so the CLI can call it before the TUI takes the terminal.
        """
        if self._claimed:
            return
        store = self.simulator.store
        store.claim()
        try:
            self._sockets = bind_sockets(self.host, self.settings.port)
        except CannotStart:
            store.abandon()
            raise
        self.port = self._sockets[0].getsockname()[1]
        if store.owner is not None:
            store.owner.note(self.local_url)
        self._claimed = True

    async def start(self) -> None:
        """Claim (if not yet), then make the database ready, load it and serve."""
        self.claim()
        store = self.simulator.store
        try:
            store.prepare()
            await self.simulator.start()
        except BaseException as exc:
            await self.simulator.stop()
            self._close_sockets()
            store.abandon()
            self._claimed = False
            if isinstance(exc, StorageFailed):
                raise CannotStart(f"could not load the database: {exc}") from None
            raise
        app = build_app(self.simulator, self._turn_budget)
        # shutdown_timeout: quitting must never stall on a client that keeps a connection open.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        for sock in self._sockets:
            await web.SockSite(self._runner, sock).start()

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    async def stop(self) -> None:
        """Stop serving, stop timers and deliveries, close the database and let it go."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._close_sockets()
        await self.simulator.stop()
        self.simulator.store.close()
        self._claimed = False
