"""SIGKILL the headless emulator with prompts live and callbacks unsent, then restart it
on the same database.

Before the kill: payments settled and delivered (to merchant A), payments settled whose
callbacks hang at merchant B (so they are still due), and live prompts (callbacks to A).
After the restart: every settled transaction and balance is as the control API showed
before; the prompts that timed out while the process was dead settle 1037 and their
callbacks go to A; B's due callbacks go out once B is back; nothing A already had is
sent again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver
from tests.reliability.reliability_kit import poll, sigkill, spawn_serve

PROMPT_TIMEOUT = 3.0  # real seconds: this is a real process with a real clock
# A hanging merchant must stay hanging until the kill.
ENV = {"HANDSET_CALLBACK_TIMEOUT": "120"}


def _stk(receiver: CallbackReceiver) -> Counter[str]:
    return Counter(c.json["Body"]["stkCallback"]["CheckoutRequestID"] for c in receiver.received)


async def _snapshot(http: httpx.AsyncClient) -> dict[str, Any]:
    transactions = (await http.get("/simulator/transactions", params={"limit": 1000})).json()["transactions"]
    return {
        "handsets": {h["msisdn"]: h for h in (await http.get("/simulator/handsets")).json()["handsets"]},
        "merchants": (await http.get("/simulator/merchants")).json()["merchants"],
        "transactions": {t["checkout_request_id"]: t for t in transactions},
    }


async def test_sigkill_with_live_prompts_and_unsent_callbacks(tmp_path: Path) -> None:
    db = tmp_path / "handset.db"
    merchant_a = CallbackReceiver()
    merchant_b = CallbackReceiver(hang=True)
    await merchant_a.start()
    await merchant_b.start()
    first = await asyncio.to_thread(
        spawn_serve, db, tmp_path / "first.log", "--fresh", "--prompt-timeout", str(PROMPT_TIMEOUT), env=ENV
    )
    second = None
    try:
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as http:
            daraja = Daraja(http)

            async def push(url: str, phone: str, amount: int) -> str:
                ack = await daraja.push(url, PhoneNumber=int(phone), PartyA=int(phone), Amount=amount)
                assert ack.status_code == 200, ack.text
                return ack.json()["CheckoutRequestID"]

            async def answer(checkout: str, action: str) -> None:
                path = f"/simulator/transactions/{checkout}/" + ("cancel" if action == "cancel" else "pin")
                body = None if action == "cancel" else {"pin": action}
                assert (await http.post(path, json=body)).status_code == 200

            # Settled and delivered: paid, wrong PIN, cancelled; each prompt answered at once.
            delivered = []
            for amount, action in ((250, "1234"), (40, "9999"), (60, "cancel"), (75, "1234")):
                checkout = await push(merchant_a.url, "254708374149", amount)
                await answer(checkout, action)
                delivered.append(checkout)

            async def all_delivered() -> bool:
                states = [(await http.get(f"/simulator/transactions/{c}")).json()["callback_state"] for c in delivered]
                return states == ["delivered"] * len(delivered)

            await poll(all_delivered, "merchant A's callbacks to be marked delivered")

            # Settled, callback due: merchant B hangs, so these are not delivered when we kill.
            due = []
            for amount, action in ((120, "1234"), (33, "cancel")):
                checkout = await push(merchant_b.url, "254712345678", amount)
                await answer(checkout, action)
                due.append(checkout)

            # Live prompts on two phones; their callbacks will go to A.
            live = [await push(merchant_a.url, "254722000111", 20), await push(merchant_a.url, "254733000444", 5)]
            created = time.monotonic()
            before = await _snapshot(http)
        sigkill(first)

        assert [before["transactions"][c]["status"] for c in live] == ["pending", "pending"], "prompts died too early"
        assert [before["transactions"][c]["callback_state"] for c in due] == ["due", "due"]
        a_before = _stk(merchant_a)
        assert a_before == Counter(delivered)

        # Merchant B comes back, working, on the same port. The prompts' time runs out while down.
        await merchant_b.stop()
        merchant_b = CallbackReceiver(port=merchant_b.port)
        await merchant_b.start()
        await asyncio.sleep(max(0.0, created + PROMPT_TIMEOUT + 0.5 - time.monotonic()))

        second = await asyncio.to_thread(
            spawn_serve, db, tmp_path / "second.log", "--prompt-timeout", str(PROMPT_TIMEOUT), env=ENV
        )
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as http:

            async def everything_delivered() -> dict[str, Any] | None:
                snap = await _snapshot(http)
                states = {t["callback_state"] for t in snap["transactions"].values()}
                return snap if states == {"delivered"} else None

            after = await poll(everything_delivered, "every callback to be delivered after the restart", timeout=15)
            await merchant_b.wait_for(len(due))

        # Money: every balance exactly as before the kill (timeouts move none).
        assert after["merchants"] == before["merchants"]
        for msisdn, handset in before["handsets"].items():
            assert after["handsets"][msisdn] == {**handset, "live_prompt": None}
        # Every settled transaction intact; only the callback state of the due ones moved on.
        assert set(after["transactions"]) == set(before["transactions"])
        for checkout, txn in before["transactions"].items():
            if txn["status"] == "settled":
                assert after["transactions"][checkout] == {**txn, "callback_state": "delivered"}
        # The prompts that expired while down: 1037, callbacks to A, once each.
        for checkout in live:
            txn = after["transactions"][checkout]
            assert (txn["status"], txn["result_code"], txn["receipt"]) == ("settled", 1037, None)
        a_after = _stk(merchant_a)
        assert a_after == Counter(delivered) + Counter(live), "A got a callback twice or missed one"
        codes = {
            c.json["Body"]["stkCallback"]["CheckoutRequestID"]: c.json["Body"]["stkCallback"]["ResultCode"]
            for c in merchant_a.received
        }
        assert [codes[c] for c in live] == [1037, 1037]
        # The due callbacks went to B once each, with the results they settled with before the kill.
        assert _stk(merchant_b) == Counter(due)
        b_codes = {
            c.json["Body"]["stkCallback"]["CheckoutRequestID"]: c.json["Body"]["stkCallback"]["ResultCode"]
            for c in merchant_b.received
        }
        assert [b_codes[c] for c in due] == [before["transactions"][c]["result_code"] for c in due] == [0, 1032]
    finally:
        for process in (first, second):
            if process is not None and process.proc.poll() is None:
                process.proc.kill()
                process.proc.wait(10)
        await merchant_a.stop()
        await merchant_b.stop()
