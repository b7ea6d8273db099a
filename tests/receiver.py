"""A real local HTTP server that plays the merchant: it collects callbacks.

Tests point CallBackURL at it. It can also misbehave on purpose (answer a
given status, hang) so that delivery failures are tested for real.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


async def serve_posts(handler, port: int = 0) -> tuple[web.AppRunner, int]:
    """Serve every POST on 127.0.0.1 with ``handler``; returns the runner and the bound port."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp shows the bound port only on its private server


@dataclass
class ReceivedCallback:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass
class CallbackReceiver:
    """Collects POSTs; ``status`` and ``hang`` make it misbehave."""

    status: int = 200
    hang: bool = False
    received: list[ReceivedCallback] = field(default_factory=list)
    port: int = 0  # 0 picks a free port; set one to come back where a merchant was

    def __post_init__(self) -> None:
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def url_for(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self._runner, self.port = await serve_posts(self._handle, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.hang:
            await asyncio.sleep(3600)
        async with self._arrived:
            self.received.append(ReceivedCallback(request.path, dict(request.headers), raw))
            self._arrived.notify_all()
        return web.json_response({"ResultCode": 0, "ResultDesc": "Accepted"}, status=self.status)

    async def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedCallback]:
        """Wait until ``count`` callbacks have arrived; fail the test if they do not."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.received) >= count), timeout)
        return self.received
