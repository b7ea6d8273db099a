"""SQLite persistence: handsets, merchants, transactions, inboxes, callback attempts, tokens.

The engine keeps live state in memory and writes every change through this
store before it tells anyone about it, so a crash never loses a settled
payment or an undelivered callback. WAL mode with ``synchronous=NORMAL``
survives a killed process (the guarantee we make); ``durability="full"`` also
survives power loss at the cost of an fsync per commit.

Group commit: STK Push, the hot path, writes inside ``atomic(group=True)``.
Every push made in one turn of the event loop shares one transaction, which
commits at the start of the next turn; the view awaits ``durable()`` before it
acknowledges, so nothing is acknowledged before it is on disk, and a commit
(most of a push's cost) is paid once per turn instead of once per push. Any
other write first commits an open group, so everything else stays committed
the moment its method returns. (The screen and the event stream may hear of a
push up to one loop turn before its commit; the merchant never does, and a
PIN entered for it commits the group before its own settlement.)
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path
from typing import Iterator

from .checkpoints import Checkpointer
from .models import (
    CALLBACK_DUE,
    PENDING,
    CallbackAttempt,
    Handset,
    Merchant,
    Message,
    Transaction,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS handsets (
    msisdn TEXT PRIMARY KEY, name TEXT NOT NULL, pin TEXT NOT NULL,
    balance_cents INTEGER NOT NULL, online INTEGER NOT NULL, position INTEGER NOT NULL,
    wrong_pins INTEGER NOT NULL DEFAULT 0, pin_locked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS handsets_position ON handsets (position);
CREATE TABLE IF NOT EXISTS merchants (
    shortcode TEXT PRIMARY KEY, passkey TEXT NOT NULL, name TEXT NOT NULL,
    kind TEXT NOT NULL, balance_cents INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    checkout_request_id TEXT NOT NULL UNIQUE,
    merchant_request_id TEXT NOT NULL UNIQUE,
    msisdn TEXT NOT NULL, shortcode TEXT NOT NULL, merchant_name TEXT NOT NULL,
    transaction_type TEXT NOT NULL, amount INTEGER NOT NULL,
    party_a TEXT NOT NULL, party_b TEXT NOT NULL,
    account_reference TEXT NOT NULL, transaction_desc TEXT NOT NULL,
    callback_url TEXT NOT NULL, prompt TEXT NOT NULL,
    created_at REAL NOT NULL, expires_at REAL NOT NULL,
    status TEXT NOT NULL, result_code TEXT, result_desc TEXT,
    receipt TEXT UNIQUE, settled_at REAL, balance_after_cents INTEGER,
    callback_state TEXT NOT NULL, callback_body TEXT,
    callback_plan TEXT, callback_due_at REAL
);
CREATE INDEX IF NOT EXISTS transactions_msisdn ON transactions (msisdn, seq);
CREATE INDEX IF NOT EXISTS transactions_status ON transactions (status);
CREATE INDEX IF NOT EXISTS transactions_callback ON transactions (callback_state);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, msisdn TEXT NOT NULL, sender TEXT NOT NULL,
    text TEXT NOT NULL, received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_msisdn ON messages (msisdn, id);
CREATE TABLE IF NOT EXISTS callback_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, checkout_request_id TEXT NOT NULL,
    attempt INTEGER NOT NULL, started_at REAL NOT NULL, url TEXT NOT NULL,
    request_body TEXT NOT NULL, status INTEGER, response_body TEXT,
    latency_ms REAL NOT NULL, error TEXT, kind TEXT NOT NULL DEFAULT 'callback'
);
CREATE INDEX IF NOT EXISTS callback_attempts_txn ON callback_attempts (checkout_request_id, attempt);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, consumer_key TEXT NOT NULL, expires_at REAL NOT NULL
);
"""

_TXN_COLUMNS = (
    "checkout_request_id", "merchant_request_id", "msisdn", "shortcode", "merchant_name",
    "transaction_type", "amount", "party_a", "party_b", "account_reference", "transaction_desc",
    "callback_url", "prompt", "created_at", "expires_at", "status", "result_code", "result_desc",
    "receipt", "settled_at", "balance_after_cents", "callback_state", "callback_body",
    "callback_plan", "callback_due_at",
)

# Columns added after the first release: (table, column, declaration) for older files.
_ADDED_COLUMNS = (
    ("handsets", "wrong_pins", "INTEGER NOT NULL DEFAULT 0"),
    ("handsets", "pin_locked", "INTEGER NOT NULL DEFAULT 0"),
    ("transactions", "callback_plan", "TEXT"),
    ("transactions", "callback_due_at", "REAL"),
    ("callback_attempts", "kind", "TEXT NOT NULL DEFAULT 'callback'"),
)
_ATTEMPT_COLUMNS = (
    "checkout_request_id", "attempt", "started_at", "url", "request_body", "status", "response_body",
    "latency_ms", "error", "kind",
)
_txn_row = attrgetter(*_TXN_COLUMNS)  # the INSERT's parameters, read in C
_attempt_row = attrgetter(*_ATTEMPT_COLUMNS)
_TXN_SELECT = f"SELECT {', '.join(_TXN_COLUMNS)} FROM transactions"
_TXN_INSERT = (
    f"INSERT INTO transactions ({', '.join(_TXN_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _TXN_COLUMNS)})"
)


class DuplicateId(Exception):
    """An id that must be unique forever is already stored; ``column`` names which."""

    def __init__(self, column: str) -> None:
        super().__init__(f"{column} already taken")
        self.column = column


def _unique_violation(exc: sqlite3.IntegrityError) -> DuplicateId:
    # SQLite says "UNIQUE constraint failed: transactions.<column>".
    text = str(exc)
    if "UNIQUE constraint failed: transactions." not in text:
        raise exc
    return DuplicateId(text.rsplit(".", 1)[-1])


class Store:
    """One SQLite database file (or ``:memory:``) behind the engine."""

    def __init__(self, path: Path | str, durability: str = "normal") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        # isolation_level=None: we open transactions ourselves, so each settle is one commit.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._group: asyncio.Future[None] | None = None  # set while a group transaction is open
        self._depth = 0  # atomic() blocks we are inside
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        for table, column, declaration in _ADDED_COLUMNS:
            existing = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in existing:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        self._db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        self._checkpoints: Checkpointer | None = None
        if self.path != ":memory:":
            # Commits never stop to copy the WAL back: a thread does it (see server.checkpoints).
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpoints = Checkpointer(self.path)
            self._checkpoints.start()

    def close(self) -> None:
        self.flush()
        if self._checkpoints is not None:
            self._checkpoints.stop()
            self._checkpoints = None
        self._db.close()  # the last connection to close folds the WAL into the file

    @contextmanager
    def atomic(self, group: bool = False) -> Iterator[None]:
        """All writes inside commit together or not at all.

        Plain: committed when the block ends. ``group=True``: the block joins the
        transaction shared by this loop turn (see the module docstring); await
        ``durable()`` before telling anyone outside the process about it.
        """
        if group:
            with self._in_group():
                yield
            return
        self.flush()
        self._db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth -= 1

    @contextmanager
    def _in_group(self) -> Iterator[None]:
        if self._group is None:
            loop = asyncio.get_running_loop()
            self._db.execute("BEGIN IMMEDIATE")
            self._group = loop.create_future()
            loop.call_soon(self.flush)
        # A savepoint, so a failed block undoes only its own writes, not its neighbours'.
        self._db.execute("SAVEPOINT grouped")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK TO grouped")
            raise
        finally:
            self._depth -= 1
            self._db.execute("RELEASE grouped")

    def durable(self) -> asyncio.Future[None]:
        """Resolves once every grouped write made so far is committed."""
        if self._group is None:
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return self._group

    def flush(self) -> None:
        """Commit the open group transaction, if any, and wake whoever awaits it."""
        waiters, self._group = self._group, None
        if waiters is None:
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("group commit failed: %s", exc)
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if not waiters.done():
                waiters.set_exception(exc)
            return
        if not waiters.done():
            waiters.set_result(None)

    def _write(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        """Run one write; outside atomic() it commits alone, after any open group."""
        if self._depth == 0:
            self.flush()
        return self._db.execute(sql, args)

    def wipe(self, keep_tokens: bool = False) -> None:
        """Forget everything (``--fresh``); a reset keeps tokens so merchant apps stay logged in."""
        tables = ["handsets", "merchants", "transactions", "messages", "callback_attempts"]
        if not keep_tokens:
            tables.append("tokens")
        with self.atomic():
            for table in tables:
                self._db.execute(f"DELETE FROM {table}")

    # --- handsets and merchants ---------------------------------------------
    def save_handset(self, handset: Handset) -> None:
        self._write(
            "INSERT INTO handsets (msisdn, name, pin, balance_cents, online, wrong_pins, pin_locked, position) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(position), 0) + 1 FROM handsets)) "
            "ON CONFLICT (msisdn) DO UPDATE SET name=excluded.name, pin=excluded.pin, "
            "balance_cents=excluded.balance_cents, online=excluded.online, wrong_pins=excluded.wrong_pins, "
            "pin_locked=excluded.pin_locked",
            (handset.msisdn, handset.name, handset.pin, handset.balance_cents, int(handset.online),
             handset.wrong_pins, int(handset.pin_locked)),
        )

    def load_handsets(self) -> list[Handset]:
        rows = self._db.execute(
            "SELECT msisdn, name, pin, balance_cents, online, wrong_pins, pin_locked FROM handsets ORDER BY position"
        ).fetchall()
        return [
            Handset(msisdn=r[0], name=r[1], pin=r[2], balance_cents=r[3], online=bool(r[4]), wrong_pins=r[5],
                    pin_locked=bool(r[6]))
            for r in rows
        ]

    def save_merchant(self, merchant: Merchant) -> None:
        self._write(
            "INSERT INTO merchants (shortcode, passkey, name, kind, balance_cents) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (shortcode) DO UPDATE SET passkey=excluded.passkey, name=excluded.name, "
            "kind=excluded.kind, balance_cents=excluded.balance_cents",
            (merchant.shortcode, merchant.passkey, merchant.name, merchant.kind, merchant.balance_cents),
        )

    def load_merchants(self) -> list[Merchant]:
        rows = self._db.execute("SELECT shortcode, passkey, name, kind, balance_cents FROM merchants").fetchall()
        return [Merchant(*r) for r in rows]

    # --- transactions --------------------------------------------------------
    def insert_transaction(self, txn: Transaction) -> None:
        """Store a new transaction; raises DuplicateId if one of its ids is taken."""
        try:
            self._write(_TXN_INSERT, _txn_row(txn))
        except sqlite3.IntegrityError as exc:
            raise _unique_violation(exc) from None

    def update_transaction(self, txn: Transaction) -> None:
        """Store a transaction's new state; raises DuplicateId if its receipt is taken."""
        try:
            self._update_transaction(txn)
        except sqlite3.IntegrityError as exc:
            raise _unique_violation(exc) from None

    def _update_transaction(self, txn: Transaction) -> None:
        self._write(
            "UPDATE transactions SET status=?, result_code=?, result_desc=?, receipt=?, settled_at=?, "
            "balance_after_cents=?, callback_state=?, callback_body=?, callback_plan=?, callback_due_at=? "
            "WHERE checkout_request_id=?",
            (txn.status, txn.result_code, txn.result_desc, txn.receipt, txn.settled_at,
             txn.balance_after_cents, txn.callback_state, txn.callback_body, txn.callback_plan,
             txn.callback_due_at, txn.checkout_request_id),
        )

    def set_callback_plan(self, checkout_request_id: str, plan: str | None) -> None:
        self._write(
            "UPDATE transactions SET callback_plan=? WHERE checkout_request_id=?", (plan, checkout_request_id)
        )

    def set_callback_state(self, checkout_request_id: str, state: str) -> None:
        self._write(
            "UPDATE transactions SET callback_state=? WHERE checkout_request_id=?", (state, checkout_request_id)
        )

    def transaction(self, checkout_request_id: str) -> Transaction | None:
        row = self._db.execute(f"{_TXN_SELECT} WHERE checkout_request_id=?", (checkout_request_id,)).fetchone()
        return None if row is None else Transaction(**dict(zip(_TXN_COLUMNS, row)))

    def transactions(
        self, msisdn: str | None = None, status: str | None = None, result_code: str | None = None,
        limit: int = 100, offset: int = 0,
    ) -> list[Transaction]:
        where, args = [], []
        for column, value in (("msisdn", msisdn), ("status", status), ("result_code", result_code)):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(
            f"{_TXN_SELECT}{clause} ORDER BY seq DESC LIMIT ? OFFSET ?", (*args, limit, offset)
        ).fetchall()
        return [Transaction(**dict(zip(_TXN_COLUMNS, r))) for r in rows]

    def pending_transactions(self) -> list[Transaction]:
        rows = self._db.execute(f"{_TXN_SELECT} WHERE status=? ORDER BY seq", (PENDING,)).fetchall()
        return [Transaction(**dict(zip(_TXN_COLUMNS, r))) for r in rows]

    def due_callbacks(self) -> list[Transaction]:
        rows = self._db.execute(f"{_TXN_SELECT} WHERE callback_state=? ORDER BY seq", (CALLBACK_DUE,)).fetchall()
        return [Transaction(**dict(zip(_TXN_COLUMNS, r))) for r in rows]

    def spent_since(self, msisdn: str, since: float) -> int:
        """Whole KES this handset paid successfully since ``since`` (for the daily limit)."""
        row = self._db.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM transactions WHERE msisdn=? AND result_code='0' AND settled_at>=?",
            (msisdn, since),
        ).fetchone()
        return int(row[0])

    def count_transactions(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM transactions").fetchone()[0]

    # --- inbox -----------------------------------------------------------------
    def add_message(self, msisdn: str, sender: str, text: str, received_at: float) -> Message:
        cursor = self._write(
            "INSERT INTO messages (msisdn, sender, text, received_at) VALUES (?, ?, ?, ?)",
            (msisdn, sender, text, received_at),
        )
        return Message(id=cursor.lastrowid, msisdn=msisdn, sender=sender, text=text, received_at=received_at)

    def inbox(self, msisdn: str, limit: int = 200) -> list[Message]:
        rows = self._db.execute(
            "SELECT id, msisdn, sender, text, received_at FROM messages WHERE msisdn=? ORDER BY id DESC LIMIT ?",
            (msisdn, limit),
        ).fetchall()
        return [Message(*r) for r in rows]

    # --- callback attempts -----------------------------------------------------
    def add_attempt(self, attempt: CallbackAttempt) -> None:
        self._write(
            f"INSERT INTO callback_attempts ({', '.join(_ATTEMPT_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _ATTEMPT_COLUMNS)})",
            _attempt_row(attempt),
        )

    def attempts(self, checkout_request_id: str) -> list[CallbackAttempt]:
        rows = self._db.execute(
            f"SELECT {', '.join(_ATTEMPT_COLUMNS)} FROM callback_attempts WHERE checkout_request_id=? ORDER BY id",
            (checkout_request_id,),
        ).fetchall()
        return [CallbackAttempt(*r) for r in rows]

    def attempt_count(self, checkout_request_id: str) -> int:
        return self._db.execute(
            "SELECT COUNT(*) FROM callback_attempts WHERE checkout_request_id=?", (checkout_request_id,)
        ).fetchone()[0]

    def recent_attempts(self, limit: int = 200, offset: int = 0) -> list[CallbackAttempt]:
        """Every callback ever sent (forged ones too), newest first: the inspector's list."""
        rows = self._db.execute(
            f"SELECT {', '.join(_ATTEMPT_COLUMNS)} FROM callback_attempts ORDER BY id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        return [CallbackAttempt(*r) for r in rows]

    # --- tokens ---------------------------------------------------------------
    def save_token(self, token: str, consumer_key: str, expires_at: float) -> bool:
        """Store a new token; False if that token string is already taken."""
        try:
            self._write(
                "INSERT INTO tokens (token, consumer_key, expires_at) VALUES (?, ?, ?)", (token, consumer_key, expires_at)
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def load_tokens(self, now: float) -> dict[str, float]:
        self._write("DELETE FROM tokens WHERE expires_at<=?", (now,))
        return dict(self._db.execute("SELECT token, expires_at FROM tokens").fetchall())

    def delete_tokens(self) -> None:
        self._write("DELETE FROM tokens")
