"""One outbound delivery: every message owed to a merchant, keyed by its delivery id.

These tests pin the delivery surface every channel shares (STK callbacks here; the C2B and
initiator tests send theirs through it too): the id ``<channel>:<subject>``, listing by channel
and state, the detail with its attempts, resend and edited sends by id, and forged callbacks
kept as deliveries.
"""

from __future__ import annotations

import httpx
import pytest

from server.runner import Emulator
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver


async def _paid(daraja: Daraja, http: httpx.AsyncClient, url: str) -> str:
    checkout = (await daraja.push(url)).json()["CheckoutRequestID"]
    assert (await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})).status_code == 200
    return checkout


async def test_a_settled_push_owes_one_delivery(
    emulator: Emulator,
    daraja: Daraja,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
) -> None:
    checkout = await _paid(daraja, http, receiver.url)
    await emulator.simulator.callbacks.wait_idle()
    key = f"stk_callback:{checkout}"
    detail = (await http.get(f"/simulator/deliveries/{key}")).json()
    assert (detail["delivery_id"], detail["channel"], detail["subject"]) == (key, "stk_callback", checkout)
    assert detail["url"] == receiver.url and detail["state"] == "delivered"
    assert detail["body"].encode() == receiver.received[0].raw
    assert [a["attempt"] for a in detail["attempts"]] == [1]
    assert detail["attempts"][0]["delivery_id"] == key and detail["attempts"][0]["checkout_request_id"] == checkout
    assert detail["merchant_answers"]["differ"] is False
    assert (await http.get("/simulator/deliveries/stk_callback:nope")).status_code == 404


async def test_deliveries_are_listed_by_channel_and_state(
    emulator: Emulator,
    daraja: Daraja,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
) -> None:
    delivered = await _paid(daraja, http, receiver.url)
    dropped = (await daraja.push(receiver.url, PhoneNumber=254712345678, PartyA=254712345678)).json()[
        "CheckoutRequestID"
    ]
    await http.put(f"/simulator/transactions/{dropped}/callback-plan", json={"mode": "drop"})
    await http.post(f"/simulator/transactions/{dropped}/cancel")
    await emulator.simulator.callbacks.wait_idle()

    listed = (await http.get("/simulator/deliveries")).json()["deliveries"]
    assert [d["subject"] for d in listed] == [dropped, delivered]  # newest first
    only = (await http.get("/simulator/deliveries", params={"state": "dropped"})).json()["deliveries"]
    assert [d["subject"] for d in only] == [dropped]
    stk = (await http.get("/simulator/deliveries", params={"channel": "stk_callback"})).json()["deliveries"]
    assert len(stk) == 2
    assert (await http.get("/simulator/deliveries", params={"channel": "result"})).json()["deliveries"] == []
    assert (await http.get("/simulator/deliveries", params={"channel": "fax"})).status_code == 400
    assert (await http.get("/simulator/deliveries", params={"state": "lost"})).status_code == 400


async def test_resend_and_edited_sends_by_delivery_id(
    emulator: Emulator,
    daraja: Daraja,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
) -> None:
    dead = CallbackReceiver(status=500)
    await dead.start()
    try:
        checkout = await _paid(daraja, http, dead.url)
        await emulator.simulator.callbacks.wait_idle()
        key = f"stk_callback:{checkout}"
        assert (await http.get(f"/simulator/deliveries/{key}")).json()["state"] == "failed"

        resent = await http.post(f"/simulator/deliveries/{key}/resend", json={"url": receiver.url})
        assert resent.status_code == 200 and resent.json()["kind"] == "resend"
        assert (await http.get(f"/simulator/deliveries/{key}")).json()["state"] == "delivered"
        edited = await http.post(
            f"/simulator/deliveries/{key}/send", json={"body": {"changed": True}, "url": receiver.url}
        )
        assert edited.status_code == 200 and edited.json()["request_body"] == '{"changed":true}'
        assert [r.raw for r in receiver.received][-1] == b'{"changed":true}'
        attempts = (await http.get(f"/simulator/deliveries/{key}")).json()["attempts"]
        assert [a["kind"] for a in attempts] == ["callback", "resend", "edited"]
        assert (await http.post(f"/simulator/deliveries/{key}/send", json={})).status_code == 400
        assert (await http.post("/simulator/deliveries/stk_callback:nope/resend")).status_code == 404
    finally:
        await dead.stop()


async def test_a_forged_callback_is_a_delivery_too(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
) -> None:
    forged = (await http.post("/simulator/callbacks/forge", json={"url": receiver.url, "amount": 50})).json()
    key = forged["delivery_id"]
    assert key.startswith("stk_callback:ws_CO_")
    detail = (await http.get(f"/simulator/deliveries/{key}")).json()
    assert detail["state"] == "delivered" and detail["body"].encode() == receiver.received[0].raw
    again = await http.post(f"/simulator/deliveries/{key}/resend")
    assert again.status_code == 200 and receiver.received[1].raw == receiver.received[0].raw


@pytest.mark.parametrize("settings_overrides", [{"callback_plan": {"mode": "delay", "seconds": 30}}])
async def test_a_delayed_delivery_says_when(
    emulator: Emulator,
    daraja: Daraja,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
) -> None:
    checkout = await _paid(daraja, http, receiver.url)
    detail = (await http.get(f"/simulator/deliveries/stk_callback:{checkout}")).json()
    assert detail["state"] == "due" and detail["due_at"] is not None
    assert detail["plan"] == {"mode": "delay", "seconds": 30.0, "copies": 2}
