"""The database's layout, its version, and the steps that bring an older file up to date.

The version lives in SQLite's ``PRAGMA user_version`` (schema 1, the first
release, left it at 0 and wrote a ``meta`` row instead). ``migrate`` runs every
step from the file's version to ``SCHEMA_VERSION`` in one transaction, so a
migration that fails leaves the file exactly as it was. A file from a newer
release is refused before anything is written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 2

# What each account paid per day (EAT), kept as payments settle, so the daily limit is one
# look-up however long the history (schema 2).
_DAILY_TOTALS = """
CREATE TABLE daily_totals (
    account TEXT NOT NULL, day TEXT NOT NULL, paid_cents INTEGER NOT NULL,
    PRIMARY KEY (account, day)
) WITHOUT ROWID;
"""

# The ledger (schema 2): every balance is an account, every movement a posting between two
# accounts. Balances used to live on the handsets and merchants rows.
_LEDGER = """
CREATE TABLE accounts (
    owner TEXT NOT NULL, kind TEXT NOT NULL, balance_cents INTEGER NOT NULL,
    PRIMARY KEY (owner, kind)
) WITHOUT ROWID;
CREATE TABLE postings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, receipt TEXT,
    debit_owner TEXT NOT NULL, debit_kind TEXT NOT NULL,
    credit_owner TEXT NOT NULL, credit_kind TEXT NOT NULL,
    amount_cents INTEGER NOT NULL, reason TEXT NOT NULL
);
CREATE INDEX postings_receipt ON postings (receipt) WHERE receipt IS NOT NULL;
"""

# Only the few rows still pending are indexed: a settlement drops one small entry instead of
# moving one in an index over the whole history (schema 2).
_PARTIAL_INDEXES = """
CREATE INDEX transactions_pending ON transactions (seq) WHERE status = 'pending';
"""

# Everything the emulator owes merchants, whatever it carries (schema 2: STK callbacks used to
# live on their transaction's row). The id is "<channel>:<subject>", e.g. stk_callback:ws_CO_...
_DELIVERIES = """
CREATE TABLE deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, url TEXT NOT NULL, body TEXT NOT NULL,
    state TEXT NOT NULL, plan TEXT, due_at REAL, created_at REAL NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (seq) WHERE state = 'due';
"""

# C2B (schema 2): the URLs each shortcode registered, and every customer payment to a paybill or
# till that did not come through STK.
_C2B = """
CREATE TABLE c2b_registrations (
    shortcode TEXT PRIMARY KEY, version INTEGER NOT NULL, response_type TEXT NOT NULL,
    confirmation_url TEXT NOT NULL, validation_url TEXT NOT NULL, registered_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE c2b_payments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, trans_id TEXT NOT NULL UNIQUE, shortcode TEXT NOT NULL,
    msisdn TEXT NOT NULL, amount INTEGER NOT NULL, bill_ref TEXT NOT NULL, command_id TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL, via TEXT NOT NULL, third_party_trans_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX c2b_payments_msisdn ON c2b_payments (msisdn, seq);
"""

# The initiator APIs (schema 2): every B2C, Transaction Status, Account Balance and Reversal
# request, acknowledged at once and answered with a Result a little later (still due at a
# restart: answered then). ``receipt`` is the transaction the request made, if any; ``chosen``
# the outcome the control API chose for it (JSON), so that a restart still answers as chosen.
_INITIATOR = """
CREATE TABLE initiator_requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL UNIQUE, originator_id TEXT NOT NULL,
    api TEXT NOT NULL, shortcode TEXT NOT NULL, initiator TEXT NOT NULL, request TEXT NOT NULL,
    result_url TEXT NOT NULL, queue_timeout_url TEXT NOT NULL, status TEXT NOT NULL, result_code TEXT,
    receipt TEXT, counterpart TEXT, amount INTEGER, created_at REAL NOT NULL, due_at REAL NOT NULL, chosen TEXT
);
CREATE INDEX initiator_requests_originator ON initiator_requests (originator_id);
CREATE INDEX initiator_requests_receipt ON initiator_requests (receipt) WHERE receipt IS NOT NULL;
CREATE INDEX initiator_requests_pending ON initiator_requests (seq) WHERE status = 'pending';
"""

# The layout of a new database, at SCHEMA_VERSION.
_TABLES = (
    """
CREATE TABLE handsets (
    msisdn TEXT PRIMARY KEY, name TEXT NOT NULL, pin TEXT NOT NULL,
    online INTEGER NOT NULL, position INTEGER NOT NULL,
    wrong_pins INTEGER NOT NULL DEFAULT 0, pin_locked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX handsets_position ON handsets (position);
CREATE TABLE merchants (
    shortcode TEXT PRIMARY KEY, passkey TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    external_validation INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE transactions (
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
    callback_plan TEXT, duplicate_of TEXT
);
CREATE INDEX transactions_msisdn ON transactions (msisdn, seq);
"""
    + _PARTIAL_INDEXES
    + _LEDGER
    + _DELIVERIES
    + _C2B
    + _INITIATOR
    + """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, msisdn TEXT NOT NULL, sender TEXT NOT NULL,
    text TEXT NOT NULL, received_at REAL NOT NULL
);
CREATE INDEX messages_msisdn ON messages (msisdn, id);
CREATE TABLE callback_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL,
    attempt INTEGER NOT NULL, started_at REAL NOT NULL, url TEXT NOT NULL,
    request_body TEXT NOT NULL, status INTEGER, response_body TEXT,
    latency_ms REAL NOT NULL, error TEXT, kind TEXT NOT NULL DEFAULT 'callback'
);
CREATE INDEX callback_attempts_delivery ON callback_attempts (delivery_id, attempt);
CREATE TABLE tokens (
    token TEXT PRIMARY KEY, consumer_key TEXT NOT NULL, expires_at REAL NOT NULL
);
"""
    + _DAILY_TOTALS
)

# Schema 1 files made before these columns existed lack them.
_V1_LATE_COLUMNS = (
    ("handsets", "wrong_pins", "INTEGER NOT NULL DEFAULT 0"),
    ("handsets", "pin_locked", "INTEGER NOT NULL DEFAULT 0"),
    ("transactions", "callback_plan", "TEXT"),
    ("transactions", "callback_due_at", "REAL"),
    ("callback_attempts", "kind", "TEXT NOT NULL DEFAULT 'callback'"),
)


def _statements(script: str) -> list[str]:
    # executescript() would commit our open transaction first; run the statements one by one.
    return [part.strip() for part in script.split(";") if part.strip()]


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def schema_version_of(db: sqlite3.Connection) -> int | None:
    """The file's schema version: 0 for an empty database, None for another program's."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version:
        return int(version)
    tables = _tables(db) - {"sqlite_sequence"}
    if not tables:
        return 0
    if {"handsets", "merchants", "transactions"} <= tables:
        return 1  # the first release: user_version unset, a meta row said 1
    return None


def refusal(found: int | None) -> str | None:
    """Why a file of this schema version cannot be used, or None when it can."""
    if found is None:
        return "is a database of some other program, not of mpesa-handset; choose another --db"
    if found > SCHEMA_VERSION:
        return (
            f"was written by a newer mpesa-handset (schema {found}; this one knows up to "
            f"{SCHEMA_VERSION}); upgrade mpesa-handset, or choose another --db"
        )
    return None


def _create(db: sqlite3.Connection) -> None:
    for statement in _statements(_TABLES):
        db.execute(statement)


def _v1_to_v2(db: sqlite3.Connection) -> None:
    """Late columns of schema 1, partial indexes, the per-day totals (filled from the history),
    the double-submit mark, and the ledger (opened with the balances the rows held)."""
    for table, column, declaration in _V1_LATE_COLUMNS:
        existing = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in existing:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    db.execute("ALTER TABLE transactions ADD COLUMN duplicate_of TEXT")
    db.execute("DROP INDEX IF EXISTS transactions_status")
    db.execute("DROP INDEX IF EXISTS transactions_callback")
    for statement in _statements(_PARTIAL_INDEXES + _DAILY_TOTALS + _DELIVERIES + _C2B + _INITIATOR):
        db.execute(statement)
    db.execute("ALTER TABLE merchants ADD COLUMN external_validation INTEGER NOT NULL DEFAULT 1")
    # Each settled transaction's callback becomes a delivery; so does each forged callback
    # (attempts for an id no transaction has), which the first release kept as attempts only.
    db.execute(
        "INSERT INTO deliveries (id, url, body, state, plan, due_at, created_at) "
        "SELECT 'stk_callback:' || checkout_request_id, callback_url, callback_body, callback_state, "
        "callback_plan, callback_due_at, COALESCE(settled_at, created_at) FROM transactions "
        "WHERE callback_state != 'none' AND callback_body IS NOT NULL ORDER BY seq"
    )
    db.execute(
        "INSERT INTO deliveries (id, url, body, state, created_at) "
        "SELECT 'stk_callback:' || a.checkout_request_id, a.url, a.request_body, "
        "CASE WHEN MAX(a.error IS NULL) THEN 'delivered' ELSE 'failed' END, MIN(a.started_at) "
        "FROM callback_attempts a WHERE NOT EXISTS "
        "(SELECT 1 FROM transactions t WHERE t.checkout_request_id = a.checkout_request_id) "
        "GROUP BY a.checkout_request_id ORDER BY MIN(a.id)"
    )
    db.execute("DROP INDEX IF EXISTS callback_attempts_txn")
    db.execute("ALTER TABLE callback_attempts RENAME COLUMN checkout_request_id TO delivery_id")
    db.execute("UPDATE callback_attempts SET delivery_id = 'stk_callback:' || delivery_id")
    db.execute("CREATE INDEX callback_attempts_delivery ON callback_attempts (delivery_id, attempt)")
    for column in ("callback_state", "callback_body", "callback_due_at"):
        db.execute(f"ALTER TABLE transactions DROP COLUMN {column}")
    for statement in _statements(_LEDGER):
        db.execute(statement)
    # Phones' money in their M-PESA account; a merchant's in the account payments reach (a
    # paybill's Utility account, a till's Merchant account). The world (the other side of
    # money put in by hand) has no row: it always holds minus everything else.
    db.execute("INSERT INTO accounts SELECT msisdn, 'mpesa', balance_cents FROM handsets")
    db.execute(
        "INSERT INTO accounts SELECT shortcode, CASE kind WHEN 'till' THEN 'merchant' ELSE 'utility' END, "
        "balance_cents FROM merchants"
    )
    # Each balance came from somewhere: an opening posting from the world, so every account is what
    # its postings add up to (the ledger's audit holds from the first start).
    db.execute(
        "INSERT INTO postings (at, receipt, debit_owner, debit_kind, credit_owner, credit_kind, amount_cents, reason) "
        "SELECT strftime('%s', 'now'), NULL, 'world', 'outside', owner, kind, balance_cents, 'balance before schema 2' "
        "FROM accounts WHERE balance_cents > 0"
    )
    db.execute("ALTER TABLE handsets DROP COLUMN balance_cents")
    db.execute("ALTER TABLE merchants DROP COLUMN balance_cents")
    # EAT is UTC+3 all year: the day of a payment is the date of settled_at + 3 h.
    db.execute(
        "INSERT INTO daily_totals (account, day, paid_cents) "
        "SELECT msisdn, date(settled_at + 10800, 'unixepoch'), SUM(amount) * 100 FROM transactions "
        "WHERE result_code = '0' AND settled_at IS NOT NULL GROUP BY 1, 2"
    )


# STEPS[n] brings a file from schema n to n + 1.
STEPS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2}


def migrate(db: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION in one transaction; returns the version it had.

    Raises ValueError for another program's database or a newer schema (nothing written).
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version_of(db)
        problem = refusal(found)
        if problem is not None:
            raise ValueError(problem)
        assert found is not None
        if found == 0:
            _create(db)
        else:
            for version in range(found, SCHEMA_VERSION):
                STEPS[version](db)
        if found != SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return found
