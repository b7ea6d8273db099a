"""A graceful stop with pushes, PINs and a hanging callback in flight leaves no half-written
state: reopened with plain sqlite3, every row is consistent, every acknowledged push and
every answered PIN is on disk, the ledger balances, and the interrupted callback is
still due and goes out at the next start.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import httpx

from server.clock import ManualClock
from server.ids import IdGenerator
from server.runner import Emulator
from server.settings import Settings
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver
from tests.reliability.reliability_kit import FaultyMerchant, poll

PHONES = [f"2547400{i:05d}" for i in range(40)]
PUSHES = 300


def _check_rows(db: Path) -> dict[str, sqlite3.Row]:
    """Every transaction row is whole: pending rows carry no result, settled rows a full one."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = {
            r["checkout_request_id"]: r
            for r in conn.execute(
                "SELECT t.*, COALESCE(d.state, 'none') AS callback_state, d.body AS callback_body FROM transactions t "
                "LEFT JOIN deliveries d ON d.id = 'stk_callback:' || t.checkout_request_id"
            )
        }
        attempts: dict[str, list[sqlite3.Row]] = {}
        for a in conn.execute("SELECT * FROM callback_attempts ORDER BY delivery_id, attempt"):
            attempts.setdefault(a["delivery_id"].removeprefix("stk_callback:"), []).append(a)
        handsets = {
            r["owner"]: r["balance_cents"]
            for r in conn.execute("SELECT owner, balance_cents FROM accounts WHERE kind = 'mpesa'")
        }
        merchant = conn.execute(
            "SELECT balance_cents FROM accounts WHERE owner = '174379' AND kind = 'utility'"
        ).fetchone()[0]
    for checkout, row in rows.items():
        if row["status"] == "pending":
            assert row["result_code"] is None and row["result_desc"] is None and row["receipt"] is None, checkout
            assert row["settled_at"] is None and row["balance_after_cents"] is None and row["callback_body"] is None
            assert row["callback_state"] == "none" and checkout not in attempts
            continue
        assert row["status"] == "settled", checkout
        assert row["result_code"] is not None and row["result_desc"] and row["settled_at"] is not None, checkout
        assert row["callback_state"] in ("due", "delivered", "failed"), checkout
        stk = json.loads(row["callback_body"])["Body"]["stkCallback"]
        assert stk["CheckoutRequestID"] == checkout and str(stk["ResultCode"]) == row["result_code"]
        if row["result_code"] == "0":
            assert row["receipt"] and row["balance_after_cents"] is not None, checkout
        else:
            assert row["receipt"] is None and row["balance_after_cents"] is None, checkout
        tries = attempts.get(checkout, [])
        assert [a["attempt"] for a in tries] == list(range(1, len(tries) + 1))
        if row["callback_state"] == "delivered":
            assert tries and tries[-1]["error"] is None, checkout
        elif row["callback_state"] == "failed":
            assert tries and all(a["error"] for a in tries), checkout
        else:
            assert all(a["error"] for a in tries), checkout
    paid = sum(r["amount"] * 100 for r in rows.values() if r["result_code"] == "0")
    assert merchant == paid, "the merchant's balance is not the sum of its payments"
    for msisdn in PHONES:
        spent = sum(r["amount"] * 100 for r in rows.values() if r["msisdn"] == msisdn and r["result_code"] == "0")
        assert handsets[msisdn] == 500_000 - spent, msisdn
    return rows


async def test_graceful_stop_mid_traffic(tmp_path: Path, receiver: CallbackReceiver) -> None:
    db = tmp_path / "handset.db"
    settings = Settings(port=0, db=db, callback_timeout=60)
    slow = FaultyMerchant()
    await slow.start()
    clock = ManualClock()
    emulator = Emulator(settings, clock=clock, ids=IdGenerator(seed=3))
    await emulator.start()
    acked: dict[str, str] = {}  # CheckoutRequestID -> phone
    paid_by_pin: set[str] = set()
    try:
        async with httpx.AsyncClient(
            base_url=emulator.base_url, timeout=30, limits=httpx.Limits(max_connections=20)
        ) as http:
            daraja = Daraja(http)
            await daraja.token()
            for phone in PHONES:
                assert (
                    await http.post("/simulator/handsets", json={"msisdn": phone, "balance": 5000})
                ).status_code == 201
            # A callback hanging at a slow merchant when the stop comes.
            hanging = (await daraja.push(slow.url("/hang"), Amount=9)).json()["CheckoutRequestID"]
            await http.post(f"/simulator/transactions/{hanging}/pin", json={"pin": "1234"})
            await poll(lambda: slow.arrived("/hang"), "the slow merchant to be holding its callback")

            async def customer(i: int) -> None:
                phone = PHONES[i % len(PHONES)]
                ack = await daraja.push(receiver.url, PhoneNumber=int(phone), PartyA=int(phone), Amount=1 + i % 50)
                assert ack.status_code == 200, f"a push answered during shutdown: {ack.status_code} {ack.text}"
                checkout = ack.json()["CheckoutRequestID"]
                acked[checkout] = phone
                if i % 3 == 0:
                    answer = await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
                    if answer.status_code == 409:  # that push found its phone busy: settled 1001 at once
                        assert "already settled with ResultCode 1001" in answer.json()["error"], answer.text
                        return
                    assert answer.status_code == 200, (
                        f"a PIN answered during shutdown: {answer.status_code} {answer.text}"
                    )
                    if answer.json()["result_code"] == 0:
                        paid_by_pin.add(checkout)

            traffic = [asyncio.create_task(customer(i)) for i in range(PUSHES)]
            await poll(lambda: len(acked) >= 40, "traffic to be flowing")
            await emulator.stop()  # pushes, PINs and callbacks still in flight
            outcomes = await asyncio.gather(*traffic, return_exceptions=True)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        # A request the stopping server did not take fails to connect or is cut; none is answered wrongly.
        assert all(isinstance(e, httpx.TransportError) for e in errors), [
            e for e in errors if not isinstance(e, httpx.TransportError)
        ][:3]
        assert len(errors) > 0, "the stop came too late to interrupt anything"
    finally:
        if emulator._runner is not None:
            await emulator.stop()

    rows = _check_rows(db)
    assert set(acked) <= set(rows), "an acknowledged push is missing from the database"
    for checkout in paid_by_pin:
        assert rows[checkout]["result_code"] == "0", "an answered PIN was not kept"
    assert rows[hanging]["callback_state"] == "due"  # interrupted, not marked failed or delivered

    # The next start sends what was due, the slow merchant now answering at once.
    await slow.stop()
    back = CallbackReceiver(port=slow.port)
    await back.start()
    again = Emulator(settings, clock=clock, ids=IdGenerator(seed=4))
    await again.start()
    try:
        [callback] = await back.wait_for(1)
        assert callback.json["Body"]["stkCallback"]["CheckoutRequestID"] == hanging
        await again.simulator.callbacks.wait_idle(10)
    finally:
        await again.stop()
        await back.stop()
    rows = _check_rows(db)
    assert rows[hanging]["callback_state"] == "delivered"
    assert {r["callback_state"] for r in rows.values() if r["status"] == "settled"} <= {"delivered"}
