"""A merchant's callback endpoint that answers 200 at once and counts what it got.

Run: ``python -m benchmarks.receiver PORT``; prints ``listening on URL``; on
SIGINT/SIGTERM prints ``received N`` and stops.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web

ACCEPTED = b'{"ResultCode":0,"ResultDesc":"Accepted"}'


async def main(port: int) -> None:
    received = 0

    async def callback(request: web.Request) -> web.Response:
        nonlocal received
        await request.read()
        received += 1
        return web.Response(body=ACCEPTED, content_type="application/json")

    app = web.Application()
    app.router.add_post("/{tail:.*}", callback)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print(f"received {received}", flush=True)
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
