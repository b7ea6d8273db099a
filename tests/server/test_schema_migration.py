"""Schema versions: a database made by the first release is migrated forward, in one go.

``tests/fixtures/schema-v1.db`` was written by the release before schema versions (see
tests/fixtures/README.md): three handsets, payments (one paid, one cancelled, one wrong
PIN, one paid whose callback is still due) and one live prompt. Started on a copy, the
emulator brings it to the current schema with everything kept, and goes on from there.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from server.clock import ManualClock
from server.errors import CannotStart
from server.ids import IdGenerator
from server.runner import Emulator
from server.schema import SCHEMA_VERSION
from server.settings import Settings
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "schema-v1.db"


def _read(db: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURE, path)
    return path


def test_the_fixture_is_a_first_release_database(old_db: Path) -> None:
    assert _read(old_db, "PRAGMA user_version") == [(0,)]
    assert _read(old_db, "SELECT value FROM meta WHERE key='schema_version'") == [("1",)]
    assert ("daily_totals",) not in _read(old_db, "SELECT name FROM sqlite_master")


async def test_a_first_release_database_is_migrated_with_everything_kept(
    old_db: Path, receiver: CallbackReceiver
) -> None:
    before = {
        table: _read(old_db, f"SELECT * FROM {table} ORDER BY 1")
        for table in ("handsets", "merchants", "transactions", "messages", "callback_attempts", "tokens")
    }
    clock = ManualClock()  # the fixture's own day: its payments count towards today's limit
    emulator = Emulator(Settings(port=0, db=old_db), clock=clock, ids=IdGenerator(seed=5))
    await emulator.start()
    try:
        assert _read(old_db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        for table in ("messages", "tokens"):
            assert _read(old_db, f"SELECT * FROM {table} ORDER BY 1") == before[table], table
        # Attempts now belong to deliveries: the STK callback of each transaction.
        assert _read(old_db, "SELECT * FROM callback_attempts ORDER BY 1") == [
            (row[0], f"stk_callback:{row[1]}", *row[2:]) for row in before["callback_attempts"]
        ]
        callbacks = {row[1]: row for row in before["transactions"] if row[22] != "none"}  # callback_state
        deliveries = _read(old_db, "SELECT id, url, body, state, plan, due_at FROM deliveries ORDER BY seq")
        assert [d[0] for d in deliveries] == [f"stk_callback:{c}" for c in callbacks]
        for (_, url, body, state, plan, due_at), old in zip(deliveries, callbacks.values(), strict=True):
            assert (url, body, state, plan, due_at) == (old[12], old[23], old[22], old[24], old[25])
        assert [d[3] for d in deliveries] == ["delivered", "delivered", "delivered", "due"]
        # Balances moved from the rows into the ledger's accounts; the rest of each row is kept.
        handsets = [(m, n, p, o, pos, w, lock) for m, n, p, _, o, pos, w, lock in before["handsets"]]
        assert _read(old_db, "SELECT * FROM handsets ORDER BY 1") == handsets
        merchants = {row[0]: row for row in _read(old_db, "SELECT * FROM merchants")}
        assert [merchants[row[0]] for row in before["merchants"]] == [(*row[:4], 1) for row in before["merchants"]]
        # The organisations of today's defaults join the old file's, with their own starting money.
        added = sorted(set(merchants) - {row[0] for row in before["merchants"]})
        assert "600984" in added and "600101" in added
        balances = {m: cents for m, _, _, cents, *_ in before["handsets"]}
        assert balances["254708374149"] == 1_000_000 - 15_700
        accounts = dict(((o, k), c) for o, k, c in _read(old_db, "SELECT owner, kind, balance_cents FROM accounts"))
        assert {o: c for (o, k), c in accounts.items() if k == "mpesa"} == balances
        assert accounts[("174379", "utility")] == 15_700
        opened = sum(c for (o, _), c in accounts.items() if o in added)
        assert emulator.simulator.ledger.in_circulation() == sum(balances.values()) + 15_700 + opened
        assert emulator.simulator.ledger.audit() == []
        kept = {row[1]: row for row in before["transactions"]}
        now = {row[1]: row for row in _read(old_db, "SELECT * FROM transactions ORDER BY 1")}
        assert set(now) == set(kept)
        # What was paid that day is now a running total: 150 + 7 from Wanjiku's phone.
        assert _read(old_db, "SELECT account, paid_cents FROM daily_totals") == [("254708374149", 15_700)]

        async with httpx.AsyncClient(base_url=emulator.base_url) as http:
            daraja = Daraja(http)
            checkout = (await daraja.push(receiver.url, Amount=43)).json()["CheckoutRequestID"]
            emulator.simulator.enter_pin(checkout, "1234")
            inbox = (await http.get("/simulator/handsets/254708374149/inbox")).json()["messages"]
        assert "Amount you can transact within the day is 499,800.00." in inbox[0]["text"]
        await emulator.simulator.callbacks.wait_idle()
        assert [c.json["Body"]["stkCallback"]["CheckoutRequestID"] for c in receiver.received] == [checkout]
    finally:
        await emulator.stop()


async def test_a_failed_migration_leaves_the_file_as_it_was(old_db: Path) -> None:
    """A step that fails halfway (here: a table in the way) rolls every step back."""
    with closing(sqlite3.connect(old_db)) as conn:
        conn.execute("CREATE TABLE daily_totals (something_else TEXT)")
        conn.commit()
    digest = hashlib.sha256(old_db.read_bytes()).hexdigest()
    emulator = Emulator(Settings(port=0, db=old_db), clock=ManualClock(), ids=IdGenerator(seed=5))
    with pytest.raises(CannotStart, match="daily_totals"):
        await emulator.start()
    assert hashlib.sha256(old_db.read_bytes()).hexdigest() == digest
    assert _read(old_db, "PRAGMA user_version") == [(0,)]
    assert not Path(f"{old_db}.lock").exists()


async def test_a_new_database_starts_at_the_current_version(tmp_path: Path) -> None:
    emulator = Emulator(Settings(port=0, db=tmp_path / "new.db"), clock=ManualClock())
    await emulator.start()
    await emulator.stop()
    assert _read(tmp_path / "new.db", "PRAGMA user_version") == [(SCHEMA_VERSION,)]
