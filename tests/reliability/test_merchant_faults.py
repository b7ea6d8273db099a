"""Merchants that misbehave: every attempt is recorded with a diagnosis in plain words,
the emulator keeps serving, and a slow merchant delays nobody else.

Callbacks go to real servers: the shared CallbackReceiver (status, hang) and, for the
faults it cannot play, a FaultyMerchant (redirect, plain text, recorded hang, flaky).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from server.runner import Emulator
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver
from tests.reliability.reliability_kit import FaultyMerchant, free_port, poll

TECHNICAL = re.compile(r"Traceback|httpx\.|httpcore|\bErrno\b|Exception|\w+Error\(")


@pytest.fixture
async def merchant() -> AsyncIterator[FaultyMerchant]:
    server = FaultyMerchant()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _pay(http: httpx.AsyncClient, daraja: Daraja, url: str, phone: str = "254708374149", amount: int = 10) -> str:
    ack = await daraja.push(url, PhoneNumber=int(phone), PartyA=int(phone), Amount=amount)
    assert ack.status_code == 200, ack.text
    checkout = ack.json()["CheckoutRequestID"]
    settled = await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    assert settled.status_code == 200 and settled.json()["result_code"] == 0, settled.text
    return checkout


async def _final(http: httpx.AsyncClient, checkout: str, timeout: float = 10.0) -> dict[str, Any]:
    """The transaction once its callback is delivered or failed, read over the control API."""

    async def done() -> dict[str, Any] | None:
        detail = (await http.get(f"/simulator/transactions/{checkout}")).json()
        return detail if detail["callback_state"] in ("delivered", "failed") else None

    return await poll(done, f"the callback of {checkout} to finish", timeout=timeout)


async def _still_serving(http: httpx.AsyncClient, daraja: Daraja, receiver: CallbackReceiver) -> None:
    """A normal payment to a healthy merchant goes through end to end."""
    checkout = await _pay(http, daraja, receiver.url, phone="254712345678", amount=3)
    await poll(
        lambda: any(c.json["Body"]["stkCallback"]["CheckoutRequestID"] == checkout for c in receiver.received),
        "the healthy merchant's callback",
    )
    assert (await _final(http, checkout))["callback_state"] == "delivered"


@pytest.mark.parametrize("settings_overrides", [{"callback_timeout": 0.5}])
@pytest.mark.parametrize("fault", ["refused", "hang", "redirect", "404", "500", "dns"])
async def test_failed_delivery_is_recorded_in_plain_words(
    fault: str,
    http: httpx.AsyncClient,
    daraja: Daraja,
    receiver: CallbackReceiver,
    merchant: FaultyMerchant,
) -> None:
    bad: CallbackReceiver | None = None
    if fault in ("hang", "404", "500"):
        bad = CallbackReceiver(hang=fault == "hang", status=int(fault) if fault.isdigit() else 200)
        await bad.start()
    try:
        url = {
            "refused": f"http://127.0.0.1:{free_port()}/callback",
            "hang": bad.url if bad else "",
            "redirect": merchant.url("/redirect"),
            "404": bad.url if bad else "",
            "500": bad.url if bad else "",
            "dns": "http://merchant-callbacks.invalid/mpesa/callback",
        }[fault]
        expected = {
            "refused": r"^connection refused by 127\.0\.0\.1: nothing is listening on that port$",
            "hang": r"^timed out after 0\.5 s waiting for an answer from 127\.0\.0\.1$",
            "redirect": rf"^merchant answered HTTP 302 redirect to {re.escape(merchant.url('/ok'))}; callbacks do not follow redirects$",
            "404": r"^merchant answered HTTP 404 \(merchant rejected the callback\)$",
            "500": r"^merchant answered HTTP 500 \(merchant error\)$",
            "dns": r"^DNS failure: could not resolve host 'merchant-callbacks\.invalid'$",
        }[fault]
        checkout = await _pay(http, daraja, url)
        detail = await _final(http, checkout)
        assert detail["callback_state"] == "failed"
        [attempt] = detail["callback_attempts"]
        assert attempt["attempt"] == 1 and attempt["ok"] is False and attempt["url"] == url
        assert attempt["request_body"] == detail["callback_body"]
        assert re.match(expected, attempt["error"]), attempt["error"]
        assert not TECHNICAL.search(attempt["error"]), attempt["error"]
        assert attempt["status"] == {"redirect": 302, "404": 404, "500": 500}.get(fault)
        if fault == "redirect":
            assert [a.path for a in merchant.arrivals] == ["/redirect"]  # the redirect was not followed
        # The payment itself stands; only the callback failed.
        assert detail["result_code"] == 0 and detail["receipt"]
        await _still_serving(http, daraja, receiver)
    finally:
        if bad is not None:
            await bad.stop()


async def test_non_json_2xx_counts_as_delivered(
    http: httpx.AsyncClient, daraja: Daraja, merchant: FaultyMerchant
) -> None:
    checkout = await _pay(http, daraja, merchant.url("/text"))
    detail = await _final(http, checkout)
    assert detail["callback_state"] == "delivered"
    [attempt] = detail["callback_attempts"]
    assert attempt["ok"] is True and attempt["error"] is None and attempt["status"] == 200
    assert attempt["response_body"] == "thanks, got it"
    [arrival] = merchant.arrived("/text")
    assert arrival.body.decode() == detail["callback_body"]


@pytest.mark.parametrize("settings_overrides", [{"callback_timeout": 30.0}])
async def test_slow_merchant_does_not_delay_another(
    http: httpx.AsyncClient,
    daraja: Daraja,
    receiver: CallbackReceiver,
    merchant: FaultyMerchant,
) -> None:
    slow = await _pay(http, daraja, merchant.url("/hang"), phone="254708374149")
    await poll(lambda: merchant.arrived("/hang"), "the slow merchant to receive its callback")
    fast = await _pay(http, daraja, receiver.url, phone="254712345678")
    [callback] = await receiver.wait_for(1, timeout=10)
    assert callback.json["Body"]["stkCallback"]["CheckoutRequestID"] == fast
    # The fast callback arrived while the slow one was still hanging, unanswered and unrecorded.
    [arrival] = merchant.arrived("/hang")
    assert arrival.answered is False
    detail = (await http.get(f"/simulator/transactions/{slow}")).json()
    assert detail["callback_state"] == "due" and detail["callback_attempts"] == []
    assert (await _final(http, fast))["callback_state"] == "delivered"


@pytest.mark.parametrize("settings_overrides", [{"callback_timeout": 30.0}])
async def test_hundreds_of_hanging_callbacks_do_not_starve_another_merchant(
    http: httpx.AsyncClient,
    daraja: Daraja,
    receiver: CallbackReceiver,
    merchant: FaultyMerchant,
) -> None:
    """250 callbacks hang at one merchant (more than a whole shared connection pool once
    held: this starved everyone else until callback_timeout); another merchant's callback
    still arrives while all of them hang."""
    phones = [f"2547300{i:05d}" for i in range(250)]
    await daraja.token()
    limited = asyncio.Semaphore(20)

    async def hang_one(phone: str) -> None:
        async with limited:
            await _pay(http, daraja, merchant.url("/hang"), phone=phone, amount=1)

    await asyncio.gather(*(hang_one(p) for p in phones))
    # The dispatcher lets 32 posts per origin be in flight; the rest of the 250 queue behind them.
    await poll(
        lambda: len(merchant.arrived("/hang")) >= 30, "the slow merchant to be holding many callbacks", timeout=15
    )
    fast = await _pay(http, daraja, receiver.url, phone="254712345678")
    try:
        [callback] = await receiver.wait_for(1, timeout=5)
    except TimeoutError:
        raise AssertionError("the healthy merchant's callback is stuck behind the hanging ones") from None
    assert callback.json["Body"]["stkCallback"]["CheckoutRequestID"] == fast
    assert not any(a.answered for a in merchant.arrived("/hang")), "the slow merchant was meant to be still hanging"


@pytest.mark.parametrize("settings_overrides", [{"callback_retries": 2, "callback_backoff": 0.05}])
async def test_retry_after_500_then_delivered(
    emulator: Emulator,
    http: httpx.AsyncClient,
    daraja: Daraja,
    merchant: FaultyMerchant,
) -> None:
    checkout = await _pay(http, daraja, merchant.url("/flaky"))
    # The second attempt is held open by the merchant: the first must already be on record.
    await poll(lambda: len(merchant.arrived("/flaky")) == 2, "the second attempt to reach the merchant")
    detail = (await http.get(f"/simulator/transactions/{checkout}")).json()
    assert detail["callback_state"] == "due"
    [first] = detail["callback_attempts"]
    assert (first["attempt"], first["status"], first["ok"]) == (1, 500, False)
    assert first["error"] == "merchant answered HTTP 500 (merchant error)"
    merchant.release.set()
    detail = await _final(http, checkout)
    assert detail["callback_state"] == "delivered"
    assert [(a["attempt"], a["status"], a["ok"]) for a in detail["callback_attempts"]] == [
        (1, 500, False),
        (2, 200, True),
    ]
    assert detail["callback_attempts"][1]["error"] is None
    await emulator.simulator.callbacks.wait_idle()  # the delivery is over: no third attempt can follow
    assert emulator.simulator.callbacks.in_flight == 0
    assert len(merchant.arrived("/flaky")) == 2
    bodies = {a.body for a in merchant.arrived("/flaky")}
    assert bodies == {detail["callback_body"].encode()}  # every attempt sends the same body


@pytest.mark.parametrize("settings_overrides", [{"callback_retries": 2, "callback_backoff": 0.05}])
async def test_retries_exhausted_is_failed_with_every_attempt(http: httpx.AsyncClient, daraja: Daraja) -> None:
    failing = CallbackReceiver(status=503)
    await failing.start()
    try:
        checkout = await _pay(http, daraja, failing.url)
        detail = await _final(http, checkout)
        assert detail["callback_state"] == "failed"
        assert [(a["attempt"], a["status"]) for a in detail["callback_attempts"]] == [(1, 503), (2, 503), (3, 503)]
        assert all(a["error"] == "merchant answered HTTP 503 (merchant error)" for a in detail["callback_attempts"])
        assert len(failing.received) == 3
    finally:
        await failing.stop()
