"""The ceiling of our stack: a bare aiohttp server that answers the STK Push POST with a fixed ack.

Same framework, same runner settings as ``handset serve``, no engine, no
validation, no database. Whatever ``handset serve`` reaches is reported as a
fraction of what this reaches with the same load generator in the same run.

Run: ``python -m benchmarks.ceiling PORT``; prints ``listening on URL``; stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from aiohttp import web

ACK = json.dumps({
    "MerchantRequestID": "29115-34620561-1",
    "CheckoutRequestID": "ws_CO_191220191020363925",
    "ResponseCode": "0",
    "ResponseDescription": "Success. Request accepted for processing",
    "CustomerMessage": "Success. Request accepted for processing",
}, separators=(",", ":"))


async def ack(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text=ACK, content_type="application/json")


async def main(port: int) -> None:
    app = web.Application()
    app.router.add_post("/mpesa/stkpush/v1/processrequest", ack)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
