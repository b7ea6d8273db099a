"""The merchant's answers to copies of one callback, side by side.

A shop whose handler is not idempotent answers the second copy of a callback unlike the
first; the emulator points that out (transaction detail, the callbacks filter, an event).
"""

from __future__ import annotations

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
        # Copies carry the same bytes, whatever the delivery (an STK callback, a C2B confirmation, a Result).
        body = (await request.read()).decode()
        self.seen[body] = self.seen.get(body, 0) + 1
        if self.seen[body] == 1:
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


async def test_a_c2b_confirmation_and_a_result_answered_differently_are_pointed_out(
    emulator: Emulator,
    daraja: Daraja,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    shop_url,
) -> None:
    """The same for the new flows' deliveries: a confirmation and a B2C Result sent again."""
    seen = _differ_events(emulator)
    url = await shop_url((409, {"error": "already credited"}))
    headers = {"Authorization": f"Bearer {await daraja.token()}"}
    registered = await http.post(
        "/mpesa/c2b/v2/registerurl",
        headers=headers,
        json={
            "ShortCode": "600984",
            "ResponseType": "Completed",
            "ConfirmationURL": url,
            "ValidationURL": receiver.url,
        },
    )
    assert registered.status_code == 200, registered.text
    paid = await http.post(
        "/simulator/c2b/payments", json={"msisdn": "254708374149", "shortcode": "600984", "amount": 40}
    )
    assert paid.status_code == 201 and paid.json()["status"] == "completed", paid.text
    confirmation = f"c2b_confirmation:{paid.json()['trans_id']}"

    assert (await http.post("/simulator/initiator/next", json={"delay": 0})).status_code == 201
    ack = await http.post(
        "/mpesa/b2c/v3/paymentrequest",
        headers=headers,
        json={
            "OriginatorConversationID": "copies-1",
            "InitiatorName": "testapi",
            "SecurityCredential": "c2VjcmV0",
            "CommandID": "BusinessPayment",
            "Amount": 70,
            "PartyA": "600984",
            "PartyB": "254708374149",
            "Remarks": "refund",
            "QueueTimeOutURL": url,
            "ResultURL": url,
        },
    )
    assert ack.status_code == 200, ack.text
    result = f"result:{ack.json()['ConversationID']}"

    async def delivered(key: str) -> bool:
        return bool((await http.get(f"/simulator/deliveries/{key}")).json().get("state") == "delivered")

    for _ in range(200):
        await emulator.simulator.callbacks.wait_idle()
        if await delivered(confirmation) and await delivered(result):
            break
    for key in (confirmation, result):
        assert (await http.get(f"/simulator/deliveries/{key}")).json()["merchant_answers"]["differ"] is False
        assert (await http.post(f"/simulator/deliveries/{key}/resend")).status_code == 200
        answers = (await http.get(f"/simulator/deliveries/{key}")).json()["merchant_answers"]
        assert answers["differ"] is True, key
        assert answers["differences"] == ["copy 2 (resend) got HTTP 409, copy 1 got HTTP 200"], key
    flagged = (await http.get("/simulator/callbacks", params={"answers_differ": "true"})).json()["deliveries"]
    assert {d["delivery_id"] for d in flagged} == {confirmation, result}
    assert {e.delivery_id for e in seen} == {confirmation, result}
