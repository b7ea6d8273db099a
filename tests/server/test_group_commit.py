"""Group commit: pushes share one commit per loop turn, and nothing is acknowledged before it is on disk.

"On disk" is checked the way a crash would see it: a second SQLite connection
to the same file, which sees committed data only.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest

from server.models import Handset, Transaction
from server.runner import Emulator
from server.store import DuplicateId, Store
from tests.daraja_client import Daraja


def _committed(db: Path, checkout_request_id: str) -> bool:
    with sqlite3.connect(db) as other:
        row = other.execute("SELECT 1 FROM transactions WHERE checkout_request_id=?", (checkout_request_id,)).fetchone()
    return row is not None


def _txn(number: int, checkout: str | None = None) -> Transaction:
    msisdn = f"2547{number:08d}"
    return Transaction(
        checkout_request_id=checkout or f"ws_CO_27112026100000000{number:09d}",
        merchant_request_id=f"m-{number}",
        msisdn=msisdn,
        shortcode="174379",
        merchant_name="Shop",
        transaction_type="CustomerPayBillOnline",
        amount=1,
        party_a=msisdn,
        party_b="174379",
        account_reference="A",
        transaction_desc="D",
        callback_url="http://127.0.0.1:9/cb",
        prompt="Pay",
        created_at=0.0,
        expires_at=60.0,
    )


async def _push(daraja: Daraja, number: int) -> str:
    phone = 254790000000 + number
    response = await daraja.push("http://127.0.0.1:9/cb", PhoneNumber=phone, PartyA=phone)
    assert response.status_code == 200, response.text
    return response.json()["CheckoutRequestID"]


async def test_concurrent_pushes_share_commits(
    emulator: Emulator,
    daraja: Daraja,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await daraja.token()
    store = emulator.simulator.store
    commits = 0
    flush = store.flush

    def counting_flush() -> None:
        nonlocal commits
        commits += store._group is not None
        flush()

    monkeypatch.setattr(store, "flush", counting_flush)
    checkouts = await asyncio.gather(*(_push(daraja, n) for n in range(40)))
    assert 1 <= commits < 40, f"{commits} commits for 40 concurrent pushes: the group did not group"
    assert all(_committed(db_path, checkout) for checkout in checkouts)


async def test_no_push_is_acknowledged_before_its_commit(
    emulator: Emulator,
    daraja: Daraja,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Commits are held back: the pushes are taken, yet no merchant hears of them until they land."""
    await daraja.token()
    store, sim = emulator.simulator.store, emulator.simulator
    flush = store.flush
    monkeypatch.setattr(store, "flush", lambda: None)  # commits held back
    pushes = [asyncio.create_task(_push(daraja, n)) for n in range(20)]
    for _ in range(500):
        if store.count_transactions() == 20:  # the writer's own connection sees its open group
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    taken = store.transactions(status="pending")
    assert len(taken) == 20
    assert not any(push.done() for push in pushes), "an ack went out before its transaction was committed"
    assert not any(_committed(db_path, txn.checkout_request_id) for txn in taken)
    assert not sim.live_transactions(), "a prompt went live (and could be answered) before its commit"
    monkeypatch.undo()
    flush()
    checkouts = await asyncio.gather(*pushes)
    assert all(_committed(db_path, checkout) for checkout in checkouts)
    assert {txn.checkout_request_id for txn in sim.live_transactions()} == set(checkouts)


async def test_a_failed_block_undoes_only_its_own_writes(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "g.db")
    try:
        with store.atomic(group=True):
            store.insert_transaction(_txn(1))
        with pytest.raises(DuplicateId), store.atomic(group=True):
            store.save_handset(Handset(msisdn="254700000002", name="Two", pin="1234", balance_cents=1))
            store.insert_transaction(_txn(2, checkout=_txn(1).checkout_request_id))  # a taken id
        with store.atomic(group=True):
            store.insert_transaction(_txn(3))
        assert not _committed(tmp_path / "g.db", _txn(1).checkout_request_id)  # not before the turn ends
        await store.durable()
        assert _committed(tmp_path / "g.db", _txn(1).checkout_request_id)
        assert _committed(tmp_path / "g.db", _txn(3).checkout_request_id)
        assert [h.msisdn for h in store.load_handsets()] == []  # the failed block's phone is gone
    finally:
        store.close()


async def test_any_other_write_commits_the_open_group_first(tmp_path: Path) -> None:
    """A settle, a handset edit, a callback attempt: committed when the call returns, group or not."""
    store = Store.open(tmp_path / "g.db")
    try:
        with store.atomic(group=True):
            store.insert_transaction(_txn(1))
        store.save_handset(Handset(msisdn="254700000009", name="Nine", pin="1234", balance_cents=1))
        assert _committed(tmp_path / "g.db", _txn(1).checkout_request_id)
        with sqlite3.connect(tmp_path / "g.db") as other:
            assert other.execute("SELECT name FROM handsets").fetchall() == [("Nine",)]
        await store.durable()  # nothing left open: resolves at once
    finally:
        store.close()


async def test_closing_commits_the_open_group(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "g.db")
    with store.atomic(group=True):
        store.insert_transaction(_txn(1))
    store.close()
    assert _committed(tmp_path / "g.db", _txn(1).checkout_request_id)


async def test_stopping_the_emulator_loses_no_acknowledged_push(emulator: Emulator, db_path: Path) -> None:
    async with httpx.AsyncClient(base_url=emulator.base_url) as http:
        daraja = Daraja(http)
        responses = await asyncio.gather(
            *(
                daraja.push("http://127.0.0.1:9/cb", PhoneNumber=254791000000 + n, PartyA=254791000000 + n)
                for n in range(10)
            )
        )
    await emulator.stop()
    for response in responses:
        assert _committed(db_path, response.json()["CheckoutRequestID"])


async def test_the_wal_is_folded_back_by_the_checkpoint_thread_not_by_commits(tmp_path: Path, monkeypatch) -> None:
    """Commits never copy the WAL into the database file (that pause would land on a request);
    the background thread does, so the file grows while the writer only appends."""
    import server.checkpoints

    monkeypatch.setattr(server.checkpoints, "INTERVAL", 3600.0)  # first: no thread at work
    # Nor on size: this WAL passes half of WAL_LIMIT, and a loaded machine (or a parallel run)
    # is slow enough for the thread to look at it before the last commit.
    monkeypatch.setattr(server.checkpoints, "WAL_LIMIT", 1 << 40)
    path = tmp_path / "w.db"
    store = Store.open(path)
    try:
        empty = path.stat().st_size
        for n in range(1500):  # ~6 MB of WAL, past SQLite's own 1,000-page checkpoint
            with store.atomic():
                store.insert_transaction(_txn(n))
        assert path.stat().st_size == empty, "a commit checkpointed by itself"
        assert Path(f"{path}-wal").stat().st_size > 4_000_000
    finally:
        store.close()
    assert path.stat().st_size > empty  # the last close folds the WAL in
    monkeypatch.setattr(server.checkpoints, "INTERVAL", 0.05)
    store = Store.open(path)
    try:
        before = path.stat().st_size
        for n in range(1500, 3000):
            with store.atomic():
                store.insert_transaction(_txn(n))
        for _ in range(100):
            if path.stat().st_size > before:
                break
            await asyncio.sleep(0.05)
        assert path.stat().st_size > before, "the checkpoint thread never folded the WAL back"
    finally:
        store.close()


async def test_the_wal_stays_bounded_while_writes_keep_coming(tmp_path: Path, monkeypatch) -> None:
    """PASSIVE checkpoints alone never let the WAL start over under steady writes; past the
    limit the thread empties it (TRUNCATE), so it stays near the limit however long the run."""
    import server.checkpoints

    monkeypatch.setattr(server.checkpoints, "INTERVAL", 0.02)
    monkeypatch.setattr(server.checkpoints, "WAL_LIMIT", 1_000_000)
    path = tmp_path / "b.db"
    wal = Path(f"{path}-wal")
    store = Store.open(path)
    try:
        largest = 0
        for n in range(6000):  # ~200 MB of WAL frames in all (about 7 pages a commit)
            with store.atomic():
                store.insert_transaction(_txn(n))
            if n % 20 == 0:  # the loop turns now and then, as a server's does
                largest = max(largest, wal.stat().st_size if wal.exists() else 0)
                await asyncio.sleep(0.002)
        assert store._checkpoints is not None and store._checkpoints.truncations >= 3
        # Without the TRUNCATE step this run ends with a WAL of ~200 MB; with it, a few MB
        # (more on a busy machine, where the thread gets fewer turns).
        assert largest < 64_000_000, f"the WAL reached {largest:,} bytes with a 1 MB limit"
    finally:
        store.close()
    again = Store.open(path)
    try:
        assert again.count_transactions() == 6000
    finally:
        again.close()
