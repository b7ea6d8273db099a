"""A merchant's callback endpoint that answers 200 at once and counts what it got.

Run: ``python -m benchmarks.receiver PORT``; prints ``listening on URL``; on
SIGINT/SIGTERM prints ``received N`` and stops.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from benchmarks.common import serve_until_signal

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
    await serve_until_signal(app, port)
    print(f"received {received}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
