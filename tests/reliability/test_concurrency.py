"""1,000 concurrent STK pushes across 100 phones, over real HTTP.

Each phone ends up with exactly one live prompt and the other nine pushes settle 1001
(the default busy-phone rule); no id repeats; every acknowledgement is one transaction;
after the customers approve, the ledger balances and every callback arrived once.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx

from server.runner import Emulator
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver
from tests.reliability.reliability_kit import CHECKOUT_ID, poll

PHONES = [f"2547100{i:05d}" for i in range(100)]
PUSHES = 1000


async def _money(http: httpx.AsyncClient) -> tuple[dict[str, float], float]:
    handsets = {h["msisdn"]: h["balance"] for h in (await http.get("/simulator/handsets")).json()["handsets"]}
    merchant = sum(m["balance"] for m in (await http.get("/simulator/merchants")).json()["merchants"])
    return handsets, merchant


async def test_thousand_concurrent_pushes(emulator: Emulator, receiver: CallbackReceiver) -> None:
    rng = random.Random(5)
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    async with httpx.AsyncClient(base_url=emulator.base_url, timeout=60, limits=limits) as http:
        daraja = Daraja(http)
        await daraja.token()
        created = await asyncio.gather(
            *(
                http.post("/simulator/handsets", json={"msisdn": p, "name": f"Load {i}", "balance": 5000})
                for i, p in enumerate(PHONES)
            )
        )
        assert all(r.status_code == 201 for r in created)
        handsets_before, merchant_before = await _money(http)
        total_before = sum(handsets_before.values()) + merchant_before

        orders = [(PHONES[i % len(PHONES)], rng.randint(1, 400)) for i in range(PUSHES)]
        rng.shuffle(orders)
        # All 1,000 start at once; a semaphore keeps 20 on the wire (httpx's own pool queue
        # is quadratic in its length, which would time the client, not the emulator).
        on_the_wire = asyncio.Semaphore(20)

        async def push(phone: str, amount: int) -> httpx.Response:
            async with on_the_wire:
                return await daraja.push(receiver.url, PhoneNumber=int(phone), PartyA=int(phone), Amount=amount)

        responses = await asyncio.gather(*(push(phone, amount) for phone, amount in orders))
        assert [r.status_code for r in responses] == [200] * PUSHES
        acks = [r.json() for r in responses]
        assert all(a["ResponseCode"] == "0" and CHECKOUT_ID.match(a["CheckoutRequestID"]) for a in acks)
        checkouts = [a["CheckoutRequestID"] for a in acks]
        assert len(set(checkouts)) == PUSHES, "a CheckoutRequestID repeated"
        assert len({a["MerchantRequestID"] for a in acks}) == PUSHES, "a MerchantRequestID repeated"

        # Every acknowledgement is exactly one stored transaction, with what was pushed.
        listing = (await http.get("/simulator/transactions", params={"limit": 1000})).json()["transactions"]
        assert len(listing) == PUSHES
        by_id = {t["checkout_request_id"]: t for t in listing}
        assert set(by_id) == set(checkouts)
        for (phone, amount), ack in zip(orders, acks, strict=True):
            txn = by_id[ack["CheckoutRequestID"]]
            assert (txn["merchant_request_id"], txn["msisdn"], txn["amount"]) == (
                ack["MerchantRequestID"],
                phone,
                amount,
            )
            assert ack["CheckoutRequestID"].endswith(phone[-9:])

        # One live prompt per phone; the other nine settled 1001 at once.
        live = [t for t in listing if t["status"] == "pending"]
        assert sorted(t["msisdn"] for t in live) == sorted(PHONES)
        busy = [t for t in listing if t["status"] == "settled"]
        assert len(busy) == PUSHES - len(PHONES)
        assert {t["result_code"] for t in busy} == {1001}
        handsets = {h["msisdn"]: h for h in (await http.get("/simulator/handsets")).json()["handsets"]}
        assert {t["msisdn"]: t["checkout_request_id"] for t in live} == {p: handsets[p]["live_prompt"] for p in PHONES}

        # The customers approve every live prompt, concurrently.
        approvals = await asyncio.gather(
            *(http.post(f"/simulator/transactions/{t['checkout_request_id']}/pin", json={"pin": "1234"}) for t in live)
        )
        assert [a.status_code for a in approvals] == [200] * len(live)
        assert {a.json()["result_code"] for a in approvals} == {0}

        listing = (await http.get("/simulator/transactions", params={"limit": 1000})).json()["transactions"]
        assert all(t["status"] == "settled" for t in listing)
        paid = [t for t in listing if t["result_code"] == 0]
        assert len(paid) == len(PHONES)
        receipts = [t["receipt"] for t in paid]
        assert len(set(receipts)) == len(receipts) and all(receipts)
        assert all(t["receipt"] is None for t in listing if t["result_code"] != 0)

        # The ledger balances: nothing created or lost, the merchant holds exactly what was paid.
        handsets_after, merchant_after = await _money(http)
        assert sum(handsets_after.values()) + merchant_after == total_before
        assert merchant_after - merchant_before == sum(t["amount"] for t in paid)
        for t in paid:
            assert handsets_after[t["msisdn"]] == handsets_before[t["msisdn"]] - t["amount"]

        # Every callback arrived exactly once, saying what the ledger says.
        await receiver.wait_for(PUSHES, timeout=60)
        await emulator.simulator.callbacks.wait_idle(timeout=30)
        stk = [c.json["Body"]["stkCallback"] for c in receiver.received]
        counts = Counter(s["CheckoutRequestID"] for s in stk)
        assert set(counts) == set(checkouts) and set(counts.values()) == {1}
        results = {s["CheckoutRequestID"]: s["ResultCode"] for s in stk}
        assert results == {t["checkout_request_id"]: t["result_code"] for t in listing}
        await poll(lambda: emulator.simulator.store.due_deliveries() == [], "every callback to be marked delivered")
        states = Counter(
            t["callback_state"]
            for t in (await http.get("/simulator/transactions", params={"limit": 1000})).json()["transactions"]
        )
        assert states == {"delivered": PUSHES}
