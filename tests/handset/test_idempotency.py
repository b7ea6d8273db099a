"""Idempotency aids in the TUI: a double submit in the log, a merchant's differing answers side by side.

Real HTTP both ways: the merchant app submits the same push twice; a shop that ships the
order on every callback it sees answers the duplicate copy unlike the first.
"""

from __future__ import annotations

import json

from aiohttp import web

from handset.screens.inspector import CallbackInspectorScreen
from handset.widgets.activity import C2B, NOTICE
from tests.handset.tui_kit import WANJIKU, wait_until
from tests.receiver import serve_posts


async def test_a_double_submit_is_pointed_out_in_the_log(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        first = await merchant.push(receiver.url)
        app.simulator.clock.advance(3)
        second = await merchant.push(receiver.url)
        await wait_until(lambda: any(e.kind == NOTICE for e in app.activity.entries), "the notice")
        notice = next(e for e in app.activity.entries if e.kind == NOTICE)
        assert f"possible double submit, same as {first} 3 s ago" in notice.summary.plain
        assert notice.checkout_request_id == second
        assert dict(notice.facts)["Like"] == first


async def test_the_inspector_shows_the_answers_to_copies_side_by_side(start_app):
    seen: dict[str, int] = {}

    async def shop(request: web.Request) -> web.Response:
        checkout = json.loads(await request.read())["Body"]["stkCallback"]["CheckoutRequestID"]
        seen[checkout] = seen.get(checkout, 0) + 1
        if seen[checkout] == 1:
            return web.json_response({"ResultCode": 0, "ResultDesc": "Accepted"})
        return web.json_response({"error": "order already shipped"}, status=500)

    runner, port = await serve_posts(shop)
    try:
        async with start_app() as (app, pilot, merchant):
            phone = app.phones[WANJIKU]
            checkout = await merchant.push(f"http://127.0.0.1:{port}/callback")
            await wait_until(lambda: phone.prompt_waiting, "the prompt")
            await pilot.press("p", "end", "enter")  # duplicate ×2
            await pilot.press(*"1234", "enter")
            await wait_until(lambda: seen.get(checkout) == 2, "both copies")
            await app.simulator.callbacks.wait_idle()
            await wait_until(lambda: any(e.kind == NOTICE for e in app.activity.entries), "the notice")
            notice = next(e for e in app.activity.entries if e.kind == NOTICE)
            assert "copy 2 (duplicate) got HTTP 500, copy 1 got HTTP 200" in notice.summary.plain
            assert any("answered a copy differently" in n.title for n in app._notifications)

            await pilot.press("i")
            inspector = app.screen
            assert isinstance(inspector, CallbackInspectorScreen)
            await wait_until(lambda: len(inspector.attempts) == 2, "both attempts listed")
            await pilot.pause()
            copies = inspector.query_one("#copies")
            assert copies.display
            text = str(copies.render())
            assert "#1" in text and "#2" in text and "order already shipped" in text
            assert "≠ copy 2 (duplicate) got HTTP 500, copy 1 got HTTP 200" in text
    finally:
        await runner.cleanup()


async def test_an_idempotent_merchant_gets_a_nod(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press("p", "end", "enter")
        await pilot.press(*"1234", "enter")
        await receiver.wait_for(2)
        await app.simulator.callbacks.wait_idle()
        await pilot.press("i")
        inspector = app.screen
        await wait_until(lambda: len(inspector.attempts) == 2, "both attempts listed")
        await pilot.pause()
        assert "= every copy got the same answer" in str(inspector.query_one("#copies").render())
        assert not any(e.kind == NOTICE for e in app.activity.entries)


async def test_a_c2b_payment_shows_in_the_log(start_app):
    async with start_app() as (app, pilot, merchant):
        paid = await merchant.client.post(
            "/simulator/c2b/payments", json={"msisdn": WANJIKU, "shortcode": "174379", "amount": 30, "account": "X1"}
        )
        assert paid.status_code == 201
        await wait_until(lambda: any(e.kind == C2B for e in app.activity.entries), "the C2B entry")
        entry = next(e for e in app.activity.entries if e.kind == C2B)
        assert "C2B completed" in entry.summary.plain and "Ksh30.00" in entry.summary.plain
        await wait_until(lambda: app.phones[WANJIKU].inbox.bubbles, "the SMS on the phone")
        assert app.simulator.handset(WANJIKU).balance_cents == 1_000_000 - 3_000


async def test_a_b2c_payout_lands_on_the_phone_and_in_the_log(start_app, receiver):
    """A B2C Result comes with the clock; the money and the SMS reach the phone on screen."""
    async with start_app() as (app, pilot, merchant):
        token = await merchant.daraja.token()
        ack = await merchant.client.post(
            "/mpesa/b2c/v3/paymentrequest",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "OriginatorConversationID": "tui-1",
                "InitiatorName": "testapi",
                "SecurityCredential": "c2VjcmV0",
                "CommandID": "BusinessPayment",
                "Amount": 700,
                "PartyA": "600984",
                "PartyB": WANJIKU,
                "Remarks": "refund",
                "QueueTimeOutURL": receiver.url,
                "ResultURL": receiver.url,
            },
        )
        assert ack.status_code == 200
        app.simulator.clock.advance(3)
        await receiver.wait_for(1)
        await wait_until(lambda: any("B2C" in e.summary.plain for e in app.activity.entries), "the B2C entry")
        entry = next(e for e in app.activity.entries if "B2C" in e.summary.plain)
        assert "B2C 0" in entry.summary.plain and "Ksh700.00" in entry.summary.plain
        await wait_until(lambda: app.phones[WANJIKU].inbox.bubbles, "the SMS on the phone")
        assert app.simulator.handset(WANJIKU).balance_cents == 1_000_000 + 70_000
