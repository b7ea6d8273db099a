"""The merchant's answers to copies of one callback, side by side.

A shop whose handler is not idempotent answers the second copy of a callback unlike the
first; the emulator points that out (transaction detail, the callbacks filter, an event).
"""

from __future__ import annotations

import json

import httpx
import pytest
from aiohttp import web

from server.events import AnswersDiffer
from server.runner import Emulator
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver, serve_posts


class ForgetfulShop:
    """Ships the order on every callback it sees; the second time it says it failed."""

    def __init__(self, second: tuple[int, dict[str, object]]) -> None:
        self.second = second
        self.seen: dict[str, int] = {}

    async def handle(self, request: web.Request) -> web.Response:
        checkout = json.loads(await request.read())["Body"]["stkCallback"]["CheckoutRequestID"]
        self.seen[checkout] = self.seen.get(checkout, 0) + 1
        if self.seen[checkout] == 1:
            return web.json_response({"ResultCode": 0, "ResultDesc": "Accepted"})
        status, body = self.second
        return web.json_response(body, status=status)


@pytest.fixture
async def shop_url():
    shops: list[web.AppRunner] = []

    async def start(second: tuple[int, dict[str, object]]) -> str:
        shop = ForgetfulShop(second)
        runner, port = await serve_posts(shop.handle)
        shops.append(runner)
        return f"http://127.0.0.1:{port}/callback"

    yield start
    for runner in shops:
        await runner.cleanup()


def _differ_events(emulator: Emulator) -> list[AnswersDiffer]:
    seen: list[AnswersDiffer] = []
    emulator.simulator.bus.subscribe(lambda e: seen.append(e) if isinstance(e, AnswersDiffer) else None)
    return seen


async def _paid_with_copies(daraja: Daraja, http: httpx.AsyncClient, url: str, copies: int = 2) -> str:
    checkout = (await daraja.push(url)).json()["CheckoutRequestID"]
    plan = await http.put(
        f"/simulator/transactions/{checkout}/callback-plan", json={"mode": "duplicate", "copies": copies}
    )
    assert plan.status_code == 200
    assert (await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})).status_code == 200
    return checkout


@pytest.mark.parametrize(
    ("second", "words"),
    [
        ((500, {"error": "order already shipped"}), "copy 2 (duplicate) got HTTP 500, copy 1 got HTTP 200"),
        ((200, {"ResultCode": 1, "ResultDesc": "Duplicate"}), 'copy 2 (duplicate) got {"ResultCode": 1'),
    ],
    ids=["status", "body"],
)
async def test_a_handler_that_answers_a_copy_differently_is_pointed_out(
    emulator: Emulator,
    daraja: Daraja,
    http: httpx.AsyncClient,
    shop_url,
    second,
    words: str,
) -> None:
    events = _differ_events(emulator)
    checkout = await _paid_with_copies(daraja, http, await shop_url(second))
    await emulator.simulator.callbacks.wait_idle()

    answers = (await http.get(f"/simulator/transactions/{checkout}")).json()["merchant_answers"]
    assert answers["differ"] is True
    assert [c["attempt"] for c in answers["copies"]] == [1, 2]
    assert [c["status"] for c in answers["copies"]] == [200, second[0]]
    assert len(answers["differences"]) == 1 and answers["differences"][0].startswith(words)
    [event] = events
    assert event.subject == checkout and event.to_json()["type"] == "callback.answers_differ"
    assert event.delivery_id == f"stk_callback:{checkout}"

    listed = (await http.get("/simulator/callbacks", params={"answers_differ": "true"})).json()["deliveries"]
    assert [d["subject"] for d in listed] == [checkout]


async def test_an_idempotent_handler_is_not_flagged(
    emulator: Emulator,
    daraja: Daraja,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
) -> None:
    events = _differ_events(emulator)
    checkout = await _paid_with_copies(daraja, http, receiver.url, copies=3)
    await emulator.simulator.callbacks.wait_idle()
    assert len(receiver.received) == 3
    answers = (await http.get(f"/simulator/transactions/{checkout}")).json()["merchant_answers"]
    assert answers["differ"] is False and len(answers["copies"]) == 3
    assert events == []
    assert (await http.get("/simulator/callbacks", params={"answers_differ": "true"})).json()["deliveries"] == []
    assert (await http.get("/simulator/callbacks", params={"answers_differ": "yes"})).status_code == 400


async def test_a_resend_is_a_copy_an_edited_send_is_not(
    emulator: Emulator,
    daraja: Daraja,
    http: httpx.AsyncClient,
    shop_url,
) -> None:
    url = await shop_url((409, {"error": "seen it"}))
    checkout = (await daraja.push(url)).json()["CheckoutRequestID"]
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    await emulator.simulator.callbacks.wait_idle()
    edited = await http.post(f"/simulator/transactions/{checkout}/callback/send", json={"body": {"tampered": True}})
    assert edited.status_code == 200
    answers = (await http.get(f"/simulator/transactions/{checkout}")).json()["merchant_answers"]
    assert answers["differ"] is False  # the edited body is another message, not a copy

    resent = await http.post(f"/simulator/transactions/{checkout}/callback/resend")
    assert resent.status_code == 200
    answers = (await http.get(f"/simulator/transactions/{checkout}")).json()["merchant_answers"]
    assert answers["differ"] is True
    assert answers["differences"] == ["copy 3 (resend) got HTTP 409, copy 1 got HTTP 200"]
