"""Write failures at run time: the disk fills up (SQLITE_FULL) while the emulator serves.

``PRAGMA max_page_count`` caps the database at its current size, so the next write that
needs a new page fails exactly as on a full disk, without a special file system. The
request that hit it gets an error envelope (Daraja) or ``{"error"}`` (control), memory and
the file still agree, nothing settled is lost, reads keep working, and once there is room
again everything works as before.
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from server.events import RequestHandled
from server.flows.c2b import flow as c2b_flow
from server.runner import Emulator
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver

FIRST_PHONE = 254791000000


def _file_state(db: Path) -> dict[str, object]:
    """What a fresh reader of the file sees: committed rows only."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return {
            "balances": dict(conn.execute("SELECT owner, balance_cents FROM accounts WHERE kind = 'mpesa'")),
            "merchants": dict(
                conn.execute(
                    "SELECT m.shortcode, a.balance_cents FROM merchants m JOIN accounts a ON a.owner = m.shortcode "
                    "AND a.kind = CASE m.kind WHEN 'till' THEN 'merchant' ELSE 'utility' END"
                )
            ),
            "transactions": dict(
                conn.execute("SELECT checkout_request_id, COALESCE(result_code, 'pending') FROM transactions")
            ),
        }


async def _memory_state(http: httpx.AsyncClient, emulator: Emulator) -> dict[str, object]:
    handsets = (await http.get("/simulator/handsets")).json()["handsets"]
    merchants = (await http.get("/simulator/merchants")).json()["merchants"]
    listed = (await http.get("/simulator/transactions", params={"limit": 1000})).json()["transactions"]
    live = {t.checkout_request_id for t in emulator.simulator.live_transactions()}
    transactions = {
        t["checkout_request_id"]: str(t["result_code"]) if t["result_code"] is not None else "pending" for t in listed
    }
    assert live == {c for c, code in transactions.items() if code == "pending"}, "live prompts and rows disagree"
    return {
        "balances": {h["msisdn"]: round(h["balance"] * 100) for h in handsets},
        "merchants": {m["shortcode"]: round(m["balance"] * 100) for m in merchants},
        "transactions": transactions,
    }


async def test_a_full_database_refuses_the_write_and_loses_nothing(
    emulator: Emulator,
    receiver: CallbackReceiver,
    http: httpx.AsyncClient,
    daraja: Daraja,
    db_path: Path,
) -> None:
    sim = emulator.simulator
    handled: list[RequestHandled] = []
    sim.bus.subscribe(lambda event: handled.append(event) if isinstance(event, RequestHandled) else None)
    paid = (await daraja.push(receiver.url, Amount=120)).json()["CheckoutRequestID"]
    assert (await http.post(f"/simulator/transactions/{paid}/pin", json={"pin": "1234"})).status_code == 200
    # Prompts left live on phones with money, to try settling once the disk is full.
    waiting = [
        (await daraja.push(receiver.url, Amount=5, PhoneNumber=phone, PartyA=phone)).json()["CheckoutRequestID"]
        for phone in range(254712000000, 254712000030)
    ]
    await sim.callbacks.wait_idle()

    db = sim.store._db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from here on
    refused = None
    for n in range(300):
        phone = FIRST_PHONE + n
        response = await daraja.push(receiver.url, PhoneNumber=phone, PartyA=phone)
        if response.status_code != 200:
            refused = response
            break
    assert refused is not None, "300 pushes fitted in a full database"
    assert refused.status_code == 500
    envelope = refused.json()
    assert list(envelope) == ["requestId", "errorCode", "errorMessage"]
    assert (envelope["errorCode"], envelope["errorMessage"]) == ("500.003.02", "Internal Server Error")
    assert "is full" in (handled[-1].reason or ""), handled[-1]  # the activity log says why

    # Memory and the file agree: the refused push left no trace in either.
    assert await _memory_state(http, emulator) == _file_state(db_path)
    # Reads keep working, and what was settled is still there.
    assert (await http.get("/simulator/handsets/254708374149")).json()["balance"] == 10_000 - 120
    query = await daraja.query(paid)
    assert query.status_code == 200 and query.json()["ResultCode"] == "0"

    # Settling needs room too (a settlement writes the row, the payment, the SMS and the callback
    # owed): sooner or later one is refused in plain words, its prompt still live, nothing moved.
    for live in waiting:
        answer = await http.post(f"/simulator/transactions/{live}/pin", json={"pin": "1234"})
        if answer.status_code != 200:
            break
    assert answer.status_code == 503 and "is full" in answer.json()["error"], answer.text
    assert await _memory_state(http, emulator) == _file_state(db_path)
    assert live in {t.checkout_request_id for t in sim.live_transactions()}

    db.execute("PRAGMA max_page_count = 1073741823")  # room again
    answer = await http.post(f"/simulator/transactions/{live}/pin", json={"pin": "1234"})
    assert answer.status_code == 200, answer.text
    again = await daraja.push(receiver.url, Amount=3)
    assert again.status_code == 200
    assert await _memory_state(http, emulator) == _file_state(db_path)


async def test_a_really_full_disk_refuses_a_whole_group_commit(tmp_path: Path, receiver: CallbackReceiver) -> None:
    """On a real file system with no room left, SQLite fails at COMMIT (writing the WAL), so
    every push of that loop turn's group is refused together, and none of them goes live."""
    import asyncio
    import os
    import shutil
    import subprocess

    import pytest

    from server.clock import ManualClock
    from server.ids import IdGenerator
    from server.settings import Settings

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    mount = tmp_path / "mnt"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    emulator = Emulator(Settings(port=0, db=mount / "h.db"), clock=ManualClock(), ids=IdGenerator(seed=9))
    try:
        await emulator.start()
        async with httpx.AsyncClient(base_url=emulator.base_url, timeout=10) as http:
            daraja = Daraja(http)
            paid = (await daraja.push(receiver.url, Amount=100)).json()["CheckoutRequestID"]
            assert (await http.post(f"/simulator/transactions/{paid}/pin", json={"pin": "1234"})).status_code == 200
            await daraja.token()
            with (mount / "filler").open("wb", buffering=0) as out:
                try:
                    while True:
                        out.write(b"\0" * 4096)
                except OSError:
                    pass
            responses = await asyncio.gather(
                *(daraja.push(receiver.url, PhoneNumber=FIRST_PHONE + n, PartyA=FIRST_PHONE + n) for n in range(40))
            )
            statuses = [r.status_code for r in responses]
            assert 500 in statuses, statuses
            assert all(r.json()["errorCode"] == "500.003.02" for r in responses if r.status_code == 500)
            assert await _memory_state(http, emulator) == _file_state(mount / "h.db")
            (mount / "filler").unlink()  # room again
            again = await daraja.push(receiver.url, Amount=2)
            assert again.status_code == 200, again.text
            assert await _memory_state(http, emulator) == _file_state(mount / "h.db")
            assert (await daraja.query(paid)).json()["ResultCode"] == "0"
    finally:
        await emulator.stop()
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_database_refuses_a_simulated_payment_instead_of_acknowledging_it(
    emulator: Emulator,
    receiver: CallbackReceiver,
    http: httpx.AsyncClient,
    daraja: Daraja,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = emulator.simulator
    headers = {"Authorization": f"Bearer {await daraja.token()}"}
    urls = {"ConfirmationURL": receiver.url_for("/confirmation"), "ValidationURL": receiver.url_for("/validation")}
    registered = await http.post(
        "/mpesa/c2b/v2/registerurl", json={"ShortCode": "600984", "ResponseType": "Completed", **urls}, headers=headers
    )
    assert registered.status_code == 200, registered.text

    async def simulate(amount: int) -> httpx.Response:
        body = {"ShortCode": "600984", "CommandID": "CustomerPayBillOnline", "Amount": amount, "Msisdn": 254708374149}
        return await http.post("/mpesa/c2b/v2/simulate", json={**body, "BillRefNumber": "X"}, headers=headers)

    monkeypatch.setattr(c2b_flow, "STORAGE_RETRY", 0.05)  # a payment the full disk stopped tries again soon
    db = sim.store._db
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    acknowledged = 0
    for _ in range(300):
        answer = await simulate(1)
        if answer.status_code != 200:
            break
        acknowledged += 1
    assert answer.status_code == 500 and answer.json()["errorCode"] == "500.003.02", answer.text
    # Every acknowledged payment is on record, the refused one is not; some could not end yet.
    assert len(sim.c2b.payments(limit=1000)) == acknowledged
    await asyncio.sleep(0.1)
    assert any("trying again" in r.getMessage() for r in caplog.records), "no payment met the full disk"

    db.execute("PRAGMA max_page_count = 1073741823")  # room again
    assert (await simulate(2)).status_code == 200
    for _ in range(500):
        if all(p.status == "completed" for p in sim.c2b.payments(limit=1000)):
            break
        await asyncio.sleep(0.02)
    assert [p.status for p in sim.c2b.payments(limit=1000)] == ["completed"] * (acknowledged + 1)
    await sim.callbacks.wait_idle()
    assert len([c for c in receiver.received if c.path == "/confirmation"]) == acknowledged + 1
