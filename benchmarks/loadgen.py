"""The load generator: a separate process with an aiohttp client, closed loop, bounded.

Four modes, each printing one JSON object on stdout:

``push``  N workers send STK Pushes back to back (each waits for its answer before
          the next) for a number of requests or seconds, whichever comes first; latency
          is measured per request, throughput over the timed window. Every request may
          go to its own phone (``--phones 0``) so that most pushes open a live prompt.
``e2e``   each worker pushes to its own phone, approves the prompt through the
          control API (``POST /simulator/transactions/{id}/pin``) and waits until the
          callback reaches the receiver this process hosts; the latency is push sent
          to callback received.
``b2c``   each worker sends B2C payment requests (``POST /mpesa/b2c/v3/paymentrequest``, PartyA
          600000, Ksh 10 to the worker's own phone) and waits until the Result reaches the
          receiver this process hosts; the latency is request sent to Result received. The server
          should run with ``result_delay`` 0, or the figure is mostly the deliberate delay.
``c2b``   registers this process's receiver as 600000's ValidationURL and ConfirmationURL, tops
          up the workers' phones, then each worker sends ``POST /mpesa/c2b/v2/simulate`` (Ksh 1
          from its own phone, a BillRefNumber of its own) and waits until the confirmation
          arrives; the receiver accepts every validation call. The latency is simulate sent to
          confirmation received.

With ``--samples`` the e2e, b2c and c2b modes also print every timed latency and its phases, so
that a caller can pool several runs before taking percentiles. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from benchmarks.common import (
    B2C_AMOUNT,
    C2B_AMOUNT,
    ORGANISATION,
    PHONE_MARK,
    PUSH_PATH,
    latency_stats,
    msisdn,
    push_body_template,
)

CALLBACK_WAIT_S = 10.0
B2C_PATH = "/mpesa/b2c/v3/paymentrequest"
C2B_REGISTER_PATH = "/mpesa/c2b/v2/registerurl"
C2B_SIMULATE_PATH = "/mpesa/c2b/v2/simulate"
C2B_TOPUP_KES = 100_000  # each C2B phone's balance before the run: far below the daily limit of 500,000
VALIDATION_ACCEPTED = {"ResultCode": "0", "ResultDesc": "Accepted"}


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


class Expected:
    """Arrivals at this process's receiver, each awaited by a key the load generator chose.

    The key is registered before the request goes out: with ``result_delay`` 0 a Result can reach
    the receiver before the client has read the acknowledgement, and must not be missed.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self.unexpected = 0  # arrivals nobody waited for (late ones, after a time-out)

    def expect(self, key: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        return future

    def arrive(self, key: str, value: Any) -> None:
        future = self._waiting.pop(key, None)
        if future is None or future.done():
            self.unexpected += 1
        else:
            future.set_result(value)

    def forget(self, key: str) -> None:
        self._waiting.pop(key, None)


async def _host(routes: list[web.RouteDef]) -> tuple[web.AppRunner, str]:
    """Serve ``routes`` on a free 127.0.0.1 port in this process: the merchant's receiver.

    In this process so that send and arrival are read from one clock. Returns the runner (to clean
    up) and the base URL.
    """
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp shows the bound port only on its private server
    return runner, f"http://127.0.0.1:{port}"


async def _drive(
    args: argparse.Namespace, one: Callable[[str, bool], Awaitable[None]], errors: Counter[str]
) -> tuple[float, int]:
    """The untimed warm-up, then the timed run: ``--concurrency`` workers, each on its own phone,
    one transaction at a time. Returns the timed run's seconds and how many transactions were
    started in all, warm-up included (what the server's CPU time is spent on)."""

    async def worker(number: int, budget: Budget, record: bool) -> None:
        phone = msisdn(args.phone_start + number)
        while budget.take() is not None:
            try:
                await one(phone, record)
            except (TimeoutError, aiohttp.ClientError, ValueError, KeyError) as exc:
                errors[type(exc).__name__] += 1

    warm = Budget(args.warmup, args.duration)
    if args.warmup:
        await asyncio.gather(*(worker(w, warm, False) for w in range(args.concurrency)))
    budget = Budget(args.requests, args.duration)
    started = time.perf_counter()
    await asyncio.gather(*(worker(w, budget, True) for w in range(args.concurrency)))
    return time.perf_counter() - started, warm.issued + budget.issued


def _report(
    args: argparse.Namespace,
    totals: list[float],
    elapsed: float,
    errors: Counter[str],
    phases: dict[str, list[float]],
    driven: int,
    **extra: Any,
) -> dict[str, Any]:
    """The JSON line of an e2e, b2c or c2b run; ``phases`` are the parts of each timed transaction."""
    out: dict[str, Any] = {
        "mode": args.mode,
        "url": args.url,
        "concurrency": args.concurrency,
        "completed": len(totals),
        "errors": dict(errors),
        "elapsed_s": elapsed,
        "per_second": len(totals) / max(elapsed, 1e-9),
        "driven": driven,
        "latency": latency_stats(totals),
        **{name: latency_stats(values) for name, values in phases.items()},
        **extra,
    }
    if args.samples:
        # Every timed transaction's latency and phases, in ms: a caller pools several runs.
        series = {"latency": totals, **phases}
        out["samples_ms"] = {name: [round(s * 1000, 4) for s in values] for name, values in series.items()}
    return out


def _accepted(response: aiohttp.ClientResponse, ack: Any) -> bool:
    return response.status == 200 and isinstance(ack, dict) and ack.get("ResponseCode") == "0"


def _merchant_answer() -> web.Response:
    return web.json_response({"ResultCode": 0, "ResultDesc": "Accepted"})


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


async def run_e2e(args: argparse.Namespace) -> dict[str, Any]:
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
        return _merchant_answer()

    runner, receiver = await _host([web.post("/callback", callback)])
    template = push_body_template(f"{receiver}/callback")
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

            elapsed, driven = await _drive(args, one, errors)
    finally:
        await runner.cleanup()
    return _report(
        args,
        totals,
        elapsed,
        errors,
        {"push_ack": acks, "pin_answer": pins, "callback_after_pin": after_pin},
        driven,
        result_codes=dict(codes),
    )


async def run_b2c(args: argparse.Namespace) -> dict[str, Any]:
    expected = Expected()
    codes: Counter[str] = Counter()
    queue_timeouts = 0

    async def result(request: web.Request) -> web.Response:
        at = time.perf_counter()
        body = json.loads(await request.read())["Result"]
        codes[str(body["ResultCode"])] += 1
        expected.arrive(str(body["OriginatorConversationID"]), (at, body["ResultCode"]))
        return _merchant_answer()

    async def queue_timeout(request: web.Request) -> web.Response:
        nonlocal queue_timeouts
        await request.read()
        queue_timeouts += 1
        return _merchant_answer()

    runner, receiver = await _host([web.post("/result", result), web.post("/queue-timeout", queue_timeout)])
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    url = args.url + B2C_PATH
    # Any base64 passes the emulator's credential check (the sandbox's value is an RSA ciphertext).
    credential = base64.b64encode(b"benchmark security credential").decode()

    totals: list[float] = []
    acks: list[float] = []
    after_ack: list[float] = []
    errors: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=args.concurrency + 4)
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one(phone: str, record: bool) -> None:
                # Unique across every run on this server: Daraja refuses a repeated one (spec §8.3).
                originator = f"bench-{uuid.uuid4().hex}"
                data = json.dumps(
                    {
                        "OriginatorConversationID": originator,
                        "InitiatorName": "testapi",
                        "SecurityCredential": credential,
                        "CommandID": "BusinessPayment",
                        "Amount": B2C_AMOUNT,
                        "PartyA": ORGANISATION,
                        "PartyB": phone,
                        "Remarks": "Benchmark",
                        "QueueTimeOutURL": f"{receiver}/queue-timeout",
                        "ResultURL": f"{receiver}/result",
                        "Occasion": "Benchmark",
                    }
                ).encode()
                arrival = expected.expect(originator)
                try:
                    t0 = time.perf_counter()
                    async with session.post(url, data=data, headers=headers) as response:
                        ack = await response.json(content_type=None)
                        if not _accepted(response, ack):
                            errors[f"b2c {response.status}"] += 1
                            return
                    t1 = time.perf_counter()
                    try:
                        at, code = await asyncio.wait_for(arrival, CALLBACK_WAIT_S)
                    except TimeoutError:
                        errors["result timeout"] += 1
                        return
                finally:
                    expected.forget(originator)
                if code not in (0, "0"):
                    errors[f"result {code}"] += 1  # refused payouts are not the figure
                    return
                if record:
                    totals.append(at - t0)
                    acks.append(t1 - t0)
                    after_ack.append(max(0.0, at - t1))

            elapsed, driven = await _drive(args, one, errors)
    finally:
        await runner.cleanup()
    return _report(
        args,
        totals,
        elapsed,
        errors,
        {"request_ack": acks, "result_after_ack": after_ack},
        driven,
        result_codes=dict(codes),
        queue_timeouts=queue_timeouts,
        unexpected=expected.unexpected,
    )


async def _c2b_setup(session: aiohttp.ClientSession, args: argparse.Namespace, receiver: str) -> None:
    """Point 600000's URLs at this process's receiver and give every worker's phone money enough."""
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    registration = {
        "ShortCode": ORGANISATION,
        "ResponseType": "Completed",
        # Daraja refuses C2B URLs with the word "mpesa" in them (spec §9): these have none.
        "ConfirmationURL": f"{receiver}/c2b/confirmation",
        "ValidationURL": f"{receiver}/c2b/validation",
    }
    async with session.post(args.url + C2B_REGISTER_PATH, json=registration, headers=headers) as response:
        if response.status != 200:
            sys.exit(f"loadgen: registering C2B URLs failed: {response.status} {await response.text()}")
    for number in range(args.concurrency):
        phone = msisdn(args.phone_start + number)
        async with session.post(
            f"{args.url}/simulator/handsets",
            json={"msisdn": phone, "name": f"Bench Payer {number}", "balance": C2B_TOPUP_KES},
        ) as response:
            created = response.status
            await response.read()
        if created == 409:  # the phone exists (an earlier run): top it up instead
            async with session.patch(
                f"{args.url}/simulator/handsets/{phone}", json={"balance": C2B_TOPUP_KES}
            ) as response:
                created = 201 if response.status == 200 else response.status
                await response.read()
        if created != 201:
            sys.exit(f"loadgen: could not give {phone} its balance: HTTP {created}")


async def run_c2b(args: argparse.Namespace) -> dict[str, Any]:
    if C2B_AMOUNT * (args.requests + args.warmup) > C2B_TOPUP_KES:
        sys.exit(f"loadgen: at most {C2B_TOPUP_KES // C2B_AMOUNT:,} C2B payments a run (one phone may make them all)")
    expected = Expected()
    validated: dict[str, float] = {}
    validations = 0

    async def validation(request: web.Request) -> web.Response:
        nonlocal validations
        at = time.perf_counter()
        body = json.loads(await request.read())
        validations += 1
        validated[str(body["BillRefNumber"])] = at
        return web.json_response(VALIDATION_ACCEPTED)

    async def confirmation(request: web.Request) -> web.Response:
        at = time.perf_counter()
        body = json.loads(await request.read())
        expected.arrive(str(body["BillRefNumber"]), at)
        return _merchant_answer()

    runner, receiver = await _host(
        [web.post("/c2b/validation", validation), web.post("/c2b/confirmation", confirmation)]
    )
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    url = args.url + C2B_SIMULATE_PATH
    sent = 0

    totals: list[float] = []
    acks: list[float] = []
    to_validation: list[float] = []
    validation_to_confirmation: list[float] = []
    errors: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=args.concurrency + 4)
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await _c2b_setup(session, args, receiver)

            async def one(phone: str, record: bool) -> None:
                nonlocal sent
                # The simulate ack names no transaction: the account number is what ties the
                # validation and the confirmation to this payment (20 characters at most).
                reference = f"BENCH{sent}"
                sent += 1
                data = json.dumps(
                    {
                        "ShortCode": ORGANISATION,
                        "CommandID": "CustomerPayBillOnline",
                        "Amount": C2B_AMOUNT,
                        "Msisdn": phone,
                        "BillRefNumber": reference,
                    }
                ).encode()
                arrival = expected.expect(reference)
                try:
                    t0 = time.perf_counter()
                    async with session.post(url, data=data, headers=headers) as response:
                        ack = await response.json(content_type=None)
                        if not _accepted(response, ack):
                            errors[f"simulate {response.status}"] += 1
                            return
                    t1 = time.perf_counter()
                    try:
                        at = await asyncio.wait_for(arrival, CALLBACK_WAIT_S)
                    except TimeoutError:
                        errors["confirmation timeout"] += 1
                        return
                finally:
                    expected.forget(reference)
                checked = validated.pop(reference, None)
                if checked is None:
                    errors["confirmed without validation"] += 1
                    return
                if record:
                    totals.append(at - t0)
                    acks.append(t1 - t0)
                    to_validation.append(checked - t0)
                    validation_to_confirmation.append(max(0.0, at - checked))

            elapsed, driven = await _drive(args, one, errors)
    finally:
        await runner.cleanup()
    return _report(
        args,
        totals,
        elapsed,
        errors,
        {
            "simulate_ack": acks,
            "validation_after_send": to_validation,
            "confirmation_after_validation": validation_to_confirmation,
        },
        driven,
        validations=validations,
        unexpected=expected.unexpected,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["push", "e2e", "b2c", "c2b"])
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
    parser.add_argument(
        "--samples", action="store_true", help="e2e, b2c, c2b: also print every timed latency and phase (ms)"
    )
    args = parser.parse_args()
    _loopback_only(args.url)
    _loopback_only(args.callback_url)
    runs = {"push": run_push, "e2e": run_e2e, "b2c": run_b2c, "c2b": run_c2b}
    result = asyncio.run(runs[args.mode](args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
