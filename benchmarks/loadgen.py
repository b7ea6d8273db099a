"""The load generator: a separate process with an aiohttp client, closed loop, bounded.

Two modes, each printing one JSON object on stdout:

``push``  N workers send STK Pushes back to back (each waits for its answer before
          the next) for a number of requests or seconds, whichever comes first; latency
          is measured per request, throughput over the timed window. Every request may
          go to its own phone (``--phones 0``) so that most pushes open a live prompt.
``e2e``   each worker pushes to its own phone, approves the prompt through the
          control API (``POST /simulator/transactions/{id}/pin``) and waits until the
          callback reaches the receiver this process hosts; the latency is push sent
          to callback received.

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from benchmarks.common import PHONE_MARK, PUSH_PATH, latency_stats, msisdn, push_body_template

CALLBACK_WAIT_S = 10.0


def _loopback_only(url: str) -> None:
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
        sys.exit(f"loadgen: refusing to load anything but 127.0.0.1, got {url}")


class Budget:
    """Hands out request numbers until the count or the deadline runs out."""

    def __init__(self, requests: int, seconds: float) -> None:
        self.left = requests
        self.deadline = time.perf_counter() + seconds
        self.issued = 0

    def take(self) -> int | None:
        if self.left <= 0 or time.perf_counter() >= self.deadline:
            return None
        self.left -= 1
        self.issued += 1
        return self.issued - 1


async def run_push(args: argparse.Namespace) -> dict:
    template = push_body_template(args.callback_url)
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    url = args.url + PUSH_PATH
    next_phone = 0

    def body() -> bytes:
        nonlocal next_phone
        n = next_phone if args.phones == 0 else next_phone % args.phones
        next_phone += 1
        return template.replace(PHONE_MARK.encode(), msisdn(args.phone_start + n).encode())

    connector = aiohttp.TCPConnector(limit=args.concurrency + 4)
    timeout = aiohttp.ClientTimeout(total=30)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    last_done = 0.0

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker(budget: Budget, record: bool) -> None:
            nonlocal last_done
            while budget.take() is not None:
                data = body()
                began = time.perf_counter()
                try:
                    async with session.post(url, data=data, headers=headers) as response:
                        raw = await response.read()
                        ok = response.status == 200 and b'"ResponseCode":"0"' in raw
                        status = str(response.status) if ok or response.status != 200 else "200-not-ack"
                except (TimeoutError, aiohttp.ClientError) as exc:
                    status = type(exc).__name__
                done = time.perf_counter()
                if record:
                    statuses[status] += 1
                    if status == "200":
                        latencies.append(done - began)
                    last_done = done

        if args.warmup:
            warm = Budget(args.warmup, args.duration)
            await asyncio.gather(*(worker(warm, False) for _ in range(args.concurrency)))
        budget = Budget(args.requests, args.duration)
        started = time.perf_counter()
        await asyncio.gather(*(worker(budget, True) for _ in range(args.concurrency)))
        elapsed = max(last_done - started, 1e-9)
    ok = statuses.get("200", 0)
    return {
        "mode": "push",
        "url": args.url,
        "concurrency": args.concurrency,
        "completed": ok,
        "errors": sum(statuses.values()) - ok,
        "statuses": dict(statuses),
        "elapsed_s": elapsed,
        "rps": ok / elapsed,
        "latency": latency_stats(latencies),
        "phones_used": next_phone,
    }


async def run_e2e(args: argparse.Namespace) -> dict:
    arrived: dict[str, float] = {}
    waiting: dict[str, asyncio.Future[float]] = {}
    codes: Counter[str] = Counter()

    async def callback(request: web.Request) -> web.Response:
        at = time.perf_counter()
        body = json.loads(await request.read())
        stk = body["Body"]["stkCallback"]
        checkout = stk["CheckoutRequestID"]
        codes[str(stk["ResultCode"])] += 1
        future = waiting.pop(checkout, None)
        if future is not None and not future.done():
            future.set_result(at)
        else:
            arrived[checkout] = at
        return web.json_response({"ResultCode": 0, "ResultDesc": "Accepted"})

    app = web.Application()
    app.router.add_post("/callback", callback)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp shows the bound port only on its private server
    template = push_body_template(f"http://127.0.0.1:{port}/callback")
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    push_url = args.url + PUSH_PATH
    pin_body = json.dumps({"pin": args.pin}).encode()

    totals: list[float] = []
    acks: list[float] = []
    pins: list[float] = []
    after_pin: list[float] = []
    errors: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=args.concurrency + 4)
    timeout = aiohttp.ClientTimeout(total=30)
    loop = asyncio.get_running_loop()
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one(phone: str, record: bool) -> None:
                data = template.replace(PHONE_MARK.encode(), phone.encode())
                t0 = time.perf_counter()
                async with session.post(push_url, data=data, headers=headers) as response:
                    ack = await response.json(content_type=None)
                    if response.status != 200 or ack.get("ResponseCode") != "0":
                        errors[f"push {response.status}"] += 1
                        return
                t1 = time.perf_counter()
                checkout = ack["CheckoutRequestID"]
                future: asyncio.Future[float] = loop.create_future()
                waiting[checkout] = future
                async with session.post(
                    f"{args.url}/simulator/transactions/{checkout}/pin",
                    data=pin_body,
                    headers={"Content-Type": "application/json"},
                ) as response:
                    await response.read()
                    if response.status != 200:
                        errors[f"pin {response.status}"] += 1
                        waiting.pop(checkout, None)
                        return
                t2 = time.perf_counter()
                if checkout in arrived:
                    t3 = arrived.pop(checkout)
                    waiting.pop(checkout, None)
                else:
                    try:
                        t3 = await asyncio.wait_for(future, CALLBACK_WAIT_S)
                    except TimeoutError:
                        errors["callback timeout"] += 1
                        waiting.pop(checkout, None)
                        return
                if record:
                    totals.append(t3 - t0)
                    acks.append(t1 - t0)
                    pins.append(t2 - t1)
                    after_pin.append(max(0.0, t3 - t2))

            async def worker(number: int, budget: Budget, record: bool) -> None:
                phone = msisdn(args.phone_start + number)
                while budget.take() is not None:
                    try:
                        await one(phone, record)
                    except (TimeoutError, aiohttp.ClientError, ValueError, KeyError) as exc:
                        errors[type(exc).__name__] += 1

            if args.warmup:
                warm = Budget(args.warmup, args.duration)
                await asyncio.gather(*(worker(w, warm, False) for w in range(args.concurrency)))
            budget = Budget(args.requests, args.duration)
            started = time.perf_counter()
            await asyncio.gather(*(worker(w, budget, True) for w in range(args.concurrency)))
            elapsed = time.perf_counter() - started
    finally:
        await runner.cleanup()
    return {
        "mode": "e2e",
        "url": args.url,
        "concurrency": args.concurrency,
        "completed": len(totals),
        "errors": dict(errors),
        "elapsed_s": elapsed,
        "per_second": len(totals) / max(elapsed, 1e-9),
        "latency": latency_stats(totals),
        "push_ack": latency_stats(acks),
        "pin_answer": latency_stats(pins),
        "callback_after_pin": latency_stats(after_pin),
        "result_codes": dict(codes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["push", "e2e"])
    parser.add_argument("--url", required=True, help="base URL of the server, http://127.0.0.1:PORT")
    parser.add_argument("--token", default="none")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1000, help="at most this many timed requests")
    parser.add_argument("--duration", type=float, default=5.0, help="at most this many seconds per phase")
    parser.add_argument("--warmup", type=int, default=0, help="untimed requests first")
    parser.add_argument("--phone-start", type=int, default=0, help="first benchmark phone number index")
    parser.add_argument(
        "--phones", type=int, default=0, help="push: cycle over this many phones (0: a new one per request)"
    )
    parser.add_argument("--callback-url", default="http://127.0.0.1:9/callback")
    parser.add_argument("--pin", default="1234")
    args = parser.parse_args()
    _loopback_only(args.url)
    _loopback_only(args.callback_url)
    result = asyncio.run(run_push(args) if args.mode == "push" else run_e2e(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
