"""State survives a restart on the same database; due callbacks go out after it."""

from __future__ import annotations

import httpx

from server.clock import ManualClock
from server.ids import IdGenerator
from server.runner import Emulator
from server.settings import Settings
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver


async def _start(settings: Settings, clock: ManualClock, seed: int) -> Emulator:
    emulator = Emulator(settings, clock=clock, ids=IdGenerator(seed=seed))
    await emulator.start()
    return emulator


async def test_state_survives_restart(settings: Settings, clock: ManualClock, receiver: CallbackReceiver) -> None:
    first = await _start(settings, clock, seed=1)
    async with httpx.AsyncClient(base_url=first.base_url) as http:
        daraja = Daraja(http)
        token = await daraja.token()
        paid = (await daraja.push(receiver.url, Amount=250)).json()["CheckoutRequestID"]
        await http.post(f"/simulator/transactions/{paid}/pin", json={"pin": "1234"})
        await receiver.wait_for(1)
        await http.post(
            "/simulator/handsets", json={"msisdn": "254733000001", "name": "New Phone", "pin": "4321", "balance": 77}
        )
        await http.patch("/simulator/handsets/254712345678", json={"online": False, "name": "Renamed"})
        live = (await daraja.push(receiver.url, PhoneNumber=254733000001, Amount=50)).json()["CheckoutRequestID"]
    await first.stop()

    clock.advance(10)
    second = await _start(settings, clock, seed=2)
    try:
        async with httpx.AsyncClient(base_url=second.base_url) as http:
            handsets = {h["msisdn"]: h for h in (await http.get("/simulator/handsets")).json()["handsets"]}
            assert handsets["254708374149"]["balance"] == 10000 - 250
            assert handsets["254733000001"] == {
                "msisdn": "254733000001",
                "name": "New Phone",
                "pin": "4321",
                "balance": 77.0,
                "online": True,
                "pin_locked": False,
                "wrong_pins": 0,
                "live_prompt": live,
            }
            assert handsets["254712345678"]["online"] is False
            assert handsets["254712345678"]["name"] == "Renamed"
            assert second.simulator.merchant("174379").balance_cents == 250 * 100
            inbox = (await http.get("/simulator/handsets/254708374149/inbox")).json()["messages"]
            assert "Ksh250.00 sent to DARAJA-SANDBOX" in inbox[0]["text"]
            detail = (await http.get(f"/simulator/transactions/{paid}")).json()
            assert detail["callback_state"] == "delivered" and len(detail["callback_attempts"]) == 1
            # The token issued before the restart still works, and so does the live prompt.
            daraja = Daraja(http)
            daraja._token = token
            assert (await daraja.query(live)).json()["ResultCode"] == "4999"
            await http.post(f"/simulator/transactions/{live}/pin", json={"pin": "4321"})
            await receiver.wait_for(2)
            assert receiver.received[1].json["Body"]["stkCallback"]["ResultCode"] == 0
            assert len(receiver.received) == 2  # the delivered callback was not sent again
    finally:
        await second.stop()


async def test_due_callback_is_delivered_after_restart(settings: Settings, clock: ManualClock) -> None:
    hanging = CallbackReceiver(hang=True)
    await hanging.start()
    first = await _start(settings, clock, seed=1)
    async with httpx.AsyncClient(base_url=first.base_url) as http:
        daraja = Daraja(http)
        checkout = (await daraja.push(hanging.url)).json()["CheckoutRequestID"]
        await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    assert first.simulator.callbacks.in_flight == 1  # the merchant is hanging: not delivered
    await first.stop()
    await hanging.stop()

    # The merchant comes back on the same port; the emulator restarts.
    working = CallbackReceiver(port=hanging.port)
    await working.start()
    second = await _start(settings, clock, seed=2)
    try:
        [callback] = await working.wait_for(1)
        stk = callback.json["Body"]["stkCallback"]
        assert (stk["CheckoutRequestID"], stk["ResultCode"]) == (checkout, 0)
        await second.simulator.callbacks.wait_idle()
        txn = second.simulator.transaction_with_attempts(checkout)
        assert txn is not None and txn.callback_state == "delivered"
    finally:
        await second.stop()
        await working.stop()


async def test_prompt_expired_while_down_settles_1037(
    settings: Settings, clock: ManualClock, receiver: CallbackReceiver
) -> None:
    first = await _start(settings, clock, seed=1)
    async with httpx.AsyncClient(base_url=first.base_url) as http:
        checkout = (await Daraja(http).push(receiver.url)).json()["CheckoutRequestID"]
    await first.stop()
    clock.advance(3600)
    second = await _start(settings, clock, seed=2)
    try:
        [callback] = await receiver.wait_for(1)
        assert callback.json["Body"]["stkCallback"]["CheckoutRequestID"] == checkout
        assert callback.json["Body"]["stkCallback"]["ResultCode"] == 1037
    finally:
        await second.stop()


async def test_fresh_starts_empty(settings: Settings, clock: ManualClock, receiver: CallbackReceiver) -> None:
    first = await _start(settings, clock, seed=1)
    first.simulator.add_handset("254733000002")
    await first.stop()
    second = await _start(settings.model_copy(update={"fresh": True}), clock, seed=2)
    try:
        assert second.simulator.handset("254733000002") is None
        assert [h.msisdn for h in second.simulator.handsets()] == [h.msisdn for h in settings.handsets]
    finally:
        await second.stop()


async def test_ids_stay_unique_across_a_restart_in_the_same_millisecond(
    settings: Settings, clock: ManualClock, receiver: CallbackReceiver
) -> None:
    """Same clock reading and the same id seed after a restart: the store's constraints
    force fresh ids instead of overwriting a stored payment."""
    first = await _start(settings, clock, seed=5)
    async with httpx.AsyncClient(base_url=first.base_url) as http:
        daraja = Daraja(http)
        paid = (await daraja.push(receiver.url)).json()
        await http.post(f"/simulator/transactions/{paid['CheckoutRequestID']}/pin", json={"pin": "1234"})
        receipt = (await http.get(f"/simulator/transactions/{paid['CheckoutRequestID']}")).json()["receipt"]
    await first.stop()

    second = await _start(settings, clock, seed=5)  # replays the same random ids
    try:
        async with httpx.AsyncClient(base_url=second.base_url) as http:
            daraja = Daraja(http)
            again = (await daraja.push(receiver.url)).json()
            assert again["CheckoutRequestID"] != paid["CheckoutRequestID"]
            assert again["MerchantRequestID"] != paid["MerchantRequestID"]
            await http.post(f"/simulator/transactions/{again['CheckoutRequestID']}/pin", json={"pin": "1234"})
            second_receipt = (await http.get(f"/simulator/transactions/{again['CheckoutRequestID']}")).json()["receipt"]
            assert second_receipt != receipt
            old = (await http.get(f"/simulator/transactions/{paid['CheckoutRequestID']}")).json()
            assert old["receipt"] == receipt and old["result_code"] == 0  # the first payment is untouched
            assert len((await http.get("/simulator/transactions")).json()["transactions"]) == 2
    finally:
        await second.stop()
