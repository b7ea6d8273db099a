"""The ceiling of our stack: a bare aiohttp server that answers the STK Push POST with a fixed ack.

Same framework, same runner and garbage-collector settings as ``handset
serve``, no engine, no validation, no database. Whatever ``handset serve`` reaches is reported as a
fraction of what this reaches with the same load generator in the same run.

``--floor`` makes it the least that any faithful STK Push handler must do, as a
second reference: parse the body strictly, validate it with the emulator's own
model, and store one transaction row durably (the emulator's Store, with its
group commit) before acknowledging. No ids, events, log lines, timers or
handsets. The gap between this and the ceiling is the price of the wire
contract and the durability promise; the gap between ``handset serve`` and
this is the engine.

Run: ``python -m benchmarks.ceiling PORT [--floor]``; prints ``listening on URL``; stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
from pathlib import Path

from aiohttp import web

from benchmarks.common import serve_until_signal
from server import heap

ACK = json.dumps(
    {
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": "ws_CO_191220191020363925",
        "ResponseCode": "0",
        "ResponseDescription": "Success. Request accepted for processing",
        "CustomerMessage": "Success. Request accepted for processing",
    },
    separators=(",", ":"),
)


async def ack(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text=ACK, content_type="application/json")


def floor_handler(db: Path):
    """The least faithful handler: strict parse, full validation, one durable row."""
    from server import json_body
    from server.daraja.models import StkPushRequest
    from server.models import Transaction
    from server.store import Store

    store = Store.open(db)
    serial = itertools.count()

    async def handle(request: web.Request) -> web.Response:
        push = StkPushRequest.model_validate(json_body.loads(await request.read()), context={"strict_reference": False})
        n = next(serial)
        with store.atomic(group=True):
            store.insert_transaction(
                Transaction(
                    checkout_request_id=f"ws_CO_{n:024d}",
                    merchant_request_id=f"floor-{n}",
                    msisdn=push.phone_number,
                    shortcode=push.business_short_code,
                    merchant_name="floor",
                    transaction_type=push.transaction_type,
                    amount=push.amount,
                    party_a=push.party_a,
                    party_b=push.party_b,
                    account_reference=push.account_reference,
                    transaction_desc=push.transaction_desc,
                    callback_url=push.callback_url,
                    prompt="",
                    created_at=0.0,
                    expires_at=60.0,
                )
            )
        await store.durable()
        return web.Response(text=ACK, content_type="application/json")

    return handle, store


async def main(port: int, floor: bool) -> None:
    app = web.Application()
    store = None
    with tempfile.TemporaryDirectory(prefix="handset-floor-") as tmp:
        handler = ack
        if floor:
            handler, store = floor_handler(Path(tmp) / "floor.db")
        app.router.add_post("/mpesa/stkpush/v1/processrequest", handler)
        heap.settle()  # the same collector settings as handset serve
        await serve_until_signal(app, port)
        if store is not None:
            store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("port", type=int)
    parser.add_argument("--floor", action="store_true", help="parse, validate and store durably before the ack")
    args = parser.parse_args()
    asyncio.run(main(args.port, args.floor))
