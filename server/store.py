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
the moment its method returns. The engine makes a push visible (the prompt,
its events) only once its group has committed; if the commit is refused, every
push of the group is answered with an error and forgotten.

Every write the disk refuses (full, I/O error, read-only) raises StorageFailed
after rolling back, so memory, which the engine changes only after a write
succeeds, still agrees with the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeGuard

from .checkpoints import Checkpointer
from .db_owner import OwnerLock
from .errors import CannotStart, StorageFailed
from .models import (
    CALLBACK_DUE,
    CALLBACK_NONE,
    PENDING,
    C2BPaymentRecord,
    C2BRegistration,
    CallbackAttempt,
    Delivery,
    Handset,
    InitiatorRequest,
    Merchant,
    Message,
    Transaction,
)
from .schema import migrate, refusal, schema_version_of

log = logging.getLogger(__name__)

_TXN_COLUMNS = (
    "checkout_request_id",
    "merchant_request_id",
    "msisdn",
    "shortcode",
    "merchant_name",
    "transaction_type",
    "amount",
    "party_a",
    "party_b",
    "account_reference",
    "transaction_desc",
    "callback_url",
    "prompt",
    "created_at",
    "expires_at",
    "status",
    "result_code",
    "result_desc",
    "receipt",
    "settled_at",
    "balance_after_cents",
    "callback_plan",
    "duplicate_of",
)
# A transaction as read: its row, and how its callback went (from its delivery, if it has one).
_TXN_FIELDS = (*_TXN_COLUMNS, "callback_state", "callback_body", "callback_due_at")
_ATTEMPT_COLUMNS = (
    "delivery_id",
    "attempt",
    "started_at",
    "url",
    "request_body",
    "status",
    "response_body",
    "latency_ms",
    "error",
    "kind",
)
_txn_row = attrgetter(*_TXN_COLUMNS)  # the INSERT's parameters, read in C
_attempt_row = attrgetter(*_ATTEMPT_COLUMNS)
_TXN_SELECT = (
    f"SELECT {', '.join('t.' + c for c in _TXN_COLUMNS)}, COALESCE(d.state, '{CALLBACK_NONE}'), d.body, d.due_at "
    "FROM transactions t LEFT JOIN deliveries d ON d.id = 'stk_callback:' || t.checkout_request_id"
)
_DELIVERY_COLUMNS = ("id", "url", "body", "state", "plan", "due_at", "created_at")
_REQUEST_COLUMNS = (
    "conversation_id",
    "originator_id",
    "api",
    "shortcode",
    "initiator",
    "request",
    "result_url",
    "queue_timeout_url",
    "status",
    "result_code",
    "receipt",
    "counterpart",
    "amount",
    "created_at",
    "due_at",
    "chosen",
)
_REQUEST_INSERT = f"INSERT INTO initiator_requests ({', '.join(_REQUEST_COLUMNS)}) VALUES ({', '.join('?' for _ in _REQUEST_COLUMNS)})"
_DELIVERY_SELECT = f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM deliveries"
_TXN_INSERT = f"INSERT INTO transactions ({', '.join(_TXN_COLUMNS)}) VALUES ({', '.join('?' for _ in _TXN_COLUMNS)})"
_SQLITE_MAGIC = b"SQLite format 3\x00"
# The conditions of the partial indexes (server.schema), written as literals so SQLite uses them.
_IS_PENDING = f"t.status = '{PENDING}'"
_IS_DUE = f"state = '{CALLBACK_DUE}'"


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


def _refused_write(exc: sqlite3.Error, path: str) -> StorageFailed:
    """Plain words for a write SQLite refused, by its error code."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL":
        what = f"the disk holding {path} is full (or the database reached its size limit)"
    elif name.startswith("SQLITE_IOERR"):
        what = f"the disk returned an I/O error writing {path} ({name})"
    elif name.startswith("SQLITE_READONLY"):
        what = f"{path} has become read-only"
    elif name.startswith("SQLITE_CORRUPT"):
        what = f"{path} is damaged ({exc})"
    else:
        what = f"the database {path} refused the write: {exc}"
    return StorageFailed(f"{what}; nothing of this request was stored")


def _is_refusal(exc: BaseException) -> TypeGuard[sqlite3.Error]:
    """A database error that is about the disk or file, not about our SQL or our ids."""
    return isinstance(exc, (sqlite3.OperationalError, sqlite3.DatabaseError)) and not isinstance(
        exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)
    )


def _transaction(row: tuple[Any, ...]) -> Transaction:
    return Transaction(**dict(zip(_TXN_FIELDS, row, strict=True)))


def _fail(waiters: asyncio.Future[None], exc: BaseException) -> None:
    if not waiters.done():
        waiters.set_exception(exc)
        waiters.exception()  # retrieved: a group whose pushes all failed early has nobody awaiting it


class Store:
    """One SQLite database file (or ``:memory:``) behind the engine.

    Opening is in two steps so that a start that fails changes nothing on disk:
    ``claim()`` takes the file (the owner lock) and checks it without writing;
    ``prepare()`` migrates it and makes it ready for writes. ``Store.open()``
    does both, for tools and tests that need no port in between.
    """

    def __init__(self, path: Path | str, durability: str = "normal") -> None:
        # Absolute, so that refusals and the banner name the file beyond doubt.
        self.path = str(path) if str(path) == ":memory:" else str(Path(path).absolute())
        self._durability = durability
        self._memory = self.path == ":memory:"
        self._owner = None if self._memory else OwnerLock(Path(self.path))
        self._created = False  # the file did not exist before claim(): remove it if we give up
        self._conn: sqlite3.Connection | None = None
        self._group: asyncio.Future[None] | None = None  # set while a group transaction is open
        self._depth = 0  # atomic() blocks we are inside
        self._checkpoints: Checkpointer | None = None
        self._prepared = False
        self._after: list[list[Callable[[], None]]] = []  # after_commit steps of each open block
        self._block: dict[str, Any] | None = None  # what callers keep about the open atomic() block
        self._group_after: list[Callable[[], None]] = []  # ...and of the open group's finished blocks

    @classmethod
    def open(cls, path: Path | str, durability: str = "normal") -> Store:
        store = cls(path, durability)
        store.claim()
        try:
            store.prepare()
        except BaseException:
            store.abandon()
            raise
        return store

    @property
    def owner(self) -> OwnerLock | None:
        return self._owner

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"the database {self.path} is not open (claim() first, or it was closed)")
        return self._conn

    # --- opening --------------------------------------------------------------
    def claim(self) -> None:
        """Take the database for this process and check it can be used; writes nothing.

        Raises CannotStart with one plain line: another process holds it, the
        path is a folder, the file is not a database (or another program's), it
        was written by a newer release, or it or its folder cannot be written.
        """
        if self._memory:
            self._conn = self._connect()
            return
        path = Path(self.path)
        if path.is_dir():
            raise CannotStart(f"{path} is a folder, not a database file; give --db the path of a file")
        folder = path.parent
        if any(p.exists() and not p.is_dir() for p in (folder, *folder.parents)):
            raise CannotStart(f"{folder} is not a folder (a file is in the way); give --db a path inside a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CannotStart(f"cannot create the folder {folder} for the database: {exc.strerror}") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise CannotStart(
                f"cannot write in {folder} (read-only or no permission): the database needs to create "
                "files beside it; choose another --db"
            )
        exists = path.exists()
        if exists and not os.access(path, os.R_OK | os.W_OK):
            raise CannotStart(f"cannot read and write {path} (read-only or no permission); choose another --db")
        assert self._owner is not None
        self._owner.acquire()
        try:
            if exists:
                self._check_existing(path)
            self._created = not exists
            self._conn = self._connect()
        except BaseException:
            self.abandon()
            raise

    def _check_existing(self, path: Path) -> None:
        with open(path, "rb") as file:
            header = file.read(100)
        if not header:
            return  # an empty file: a new database
        if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
            raise CannotStart(f"{path} is not a database (it is some other file); choose another --db")
        # The header's user_version, read without SQLite: a newer release's file is refused
        # before anything could touch it. (prepare() checks again, WAL included.)
        version: int | None = int.from_bytes(header[60:64], "big")
        if not version:
            try:  # schema 1 files and other programs' both say 0: only the tables tell them apart
                with closing(sqlite3.connect(path, isolation_level=None)) as probe:
                    version = schema_version_of(probe)
            except sqlite3.DatabaseError as exc:
                raise CannotStart(f"{path} cannot be read as a database ({exc}); choose another --db") from None
        problem = refusal(version)
        if problem is not None:
            raise CannotStart(f"{path} {problem}")

    def _connect(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: we open transactions ourselves, so each settle is one commit.
            return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise CannotStart(f"cannot open the database {self.path}: {exc}") from None

    def prepare(self) -> None:
        """Make the claimed database ready: WAL mode, schema created or migrated in one transaction."""
        db = self._db
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={'FULL' if self._durability == 'full' else 'NORMAL'}")
            db.execute("PRAGMA foreign_keys=ON")
            migrate(db)
        except sqlite3.Error as exc:
            if _is_refusal(exc):
                refused = _refused_write(exc, self.path)
                raise CannotStart(str(refused).replace("this request", "the start-up")) from None
            raise
        except ValueError as exc:  # refused by migrate(): seen only now (the header was stale)
            raise CannotStart(f"{self.path} {exc}") from None
        if not self._memory:
            # Commits never stop to copy the WAL back: a thread does it (see server.checkpoints).
            db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpoints = Checkpointer(self.path)
            self._checkpoints.start()
        self._prepared = True

    def abandon(self) -> None:
        """Give the file back after a failed start: close it, remove it if this start created
        it, and let it go; writes nothing more."""
        self._group = None
        if self._checkpoints is not None:
            self._checkpoints.stop()
            self._checkpoints = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._created:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{self.path}{suffix}")
            self._created = False
        self._prepared = False
        if self._owner is not None:
            self._owner.release()

    def close(self) -> None:
        """Commit what is open, stop checkpoints, close the file and let it go."""
        if not self._prepared:
            self.abandon()
            return
        self.flush()
        if self._checkpoints is not None:
            self._checkpoints.stop()
            self._checkpoints = None
        if self._conn is not None:
            self._conn.close()  # the last connection to close folds the WAL into the file
            self._conn = None
        self._prepared = False
        if self._owner is not None:
            self._owner.release()

    # --- transactions ---------------------------------------------------------
    @contextmanager
    def atomic(self, group: bool = False) -> Iterator[None]:
        """All writes inside commit together or not at all.

        Plain: committed when the block ends. ``group=True``: the block joins the
        transaction shared by this loop turn (see the module docstring); await
        ``durable()`` before telling anyone outside the process about it.
        A write the disk refuses raises StorageFailed with nothing stored.
        """
        if group:
            with self._in_group():
                yield
            return
        self.flush()
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _refused_write(exc, self.path) from None
        self._depth += 1
        self._after.append([])
        self._block = {}
        try:
            yield
            db.execute("COMMIT")
        except BaseException as exc:
            self._block = None
            self._after.pop()
            if db.in_transaction:
                db.execute("ROLLBACK")
            if _is_refusal(exc):
                raise _refused_write(exc, self.path) from None
            raise
        else:
            self._block = None
            for then in self._after.pop():
                then()
        finally:
            self._depth -= 1

    def in_transaction(self) -> bool:
        """Inside an atomic() block, grouped or not."""
        return self._depth > 0

    def block_state(self) -> dict[str, Any] | None:
        """A dict that lives as long as the open atomic() block (None outside one): where the
        ledger keeps the balances the block's postings will leave. Group blocks have none:
        money never moves in a grouped write."""
        return self._block

    def after_commit(self, then: Callable[[], None]) -> None:
        """Run ``then`` once the writes made so far are committed; never if they are rolled back.

        How memory follows the file: the engine changes its in-memory state only here, so a
        write the disk refuses leaves memory as it was. Outside atomic() the write already
        committed, so ``then`` runs at once.
        """
        if self._after:
            self._after[-1].append(then)
        else:
            then()

    @contextmanager
    def _in_group(self) -> Iterator[None]:
        db = self._db
        if self._group is None:
            loop = asyncio.get_running_loop()
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _refused_write(exc, self.path) from None
            self._group = loop.create_future()
            loop.call_soon(self.flush)
        # A savepoint, so a failed block undoes only its own writes, not its neighbours'.
        db.execute("SAVEPOINT grouped")
        self._depth += 1
        self._after.append([])
        try:
            yield
        except BaseException as exc:
            self._after.pop()
            raised = _refused_write(exc, self.path) if _is_refusal(exc) else exc
            if db.in_transaction:
                db.execute("ROLLBACK TO grouped")
                db.execute("RELEASE grouped")
            else:
                # SQLite rolled the whole transaction back by itself (disk full, I/O error):
                # the neighbours' writes are gone too, and they must hear so.
                self._fail_group(raised)
            if raised is exc:
                raise
            raise raised from None
        else:
            db.execute("RELEASE grouped")
            self._group_after.extend(self._after.pop())  # run when the whole group commits
        finally:
            self._depth -= 1

    def _fail_group(self, exc: BaseException) -> None:
        self._group_after = []
        waiters, self._group = self._group, None
        if waiters is not None:
            _fail(waiters, exc)

    def durable(self) -> asyncio.Future[None]:
        """Resolves once every grouped write made so far is committed; raises StorageFailed if
        the commit was refused (then none of the group's writes is stored)."""
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
        then, self._group_after = self._group_after, []
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("the database refused a group commit (%s): its pushes are answered with an error", exc)
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            _fail(waiters, _refused_write(exc, self.path))
            return
        for step in then:
            step()
        if not waiters.done():
            waiters.set_result(None)

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """Run one write; outside atomic() it commits alone, after any open group."""
        if self._depth == 0:
            self.flush()
            try:
                return self._db.execute(sql, args)
            except sqlite3.Error as exc:
                if _is_refusal(exc):
                    raise _refused_write(exc, self.path) from None
                raise
        return self._db.execute(sql, args)

    def wipe(self, keep_tokens: bool = False) -> None:
        """Forget everything (``--fresh``); a reset keeps tokens so merchant apps stay logged in."""
        tables = [
            "handsets",
            "merchants",
            "transactions",
            "messages",
            "callback_attempts",
            "daily_totals",
            "accounts",
            "postings",
            "deliveries",
            "c2b_registrations",
            "c2b_payments",
            "initiator_requests",
        ]
        if not keep_tokens:
            tables.append("tokens")
        with self.atomic():
            for table in tables:
                self._db.execute(f"DELETE FROM {table}")

    # --- handsets and merchants ---------------------------------------------
    def save_handset(self, handset: Handset) -> None:
        self._write(
            "INSERT INTO handsets (msisdn, name, pin, online, wrong_pins, pin_locked, position) "
            "VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(position), 0) + 1 FROM handsets)) "
            "ON CONFLICT (msisdn) DO UPDATE SET name=excluded.name, pin=excluded.pin, "
            "online=excluded.online, wrong_pins=excluded.wrong_pins, pin_locked=excluded.pin_locked",
            (
                handset.msisdn,
                handset.name,
                handset.pin,
                int(handset.online),
                handset.wrong_pins,
                int(handset.pin_locked),
            ),
        )

    # --- ledger -----------------------------------------------------------------
    def load_accounts(self) -> dict[tuple[str, str], int]:
        return {
            (owner, kind): cents
            for owner, kind, cents in self._db.execute("SELECT owner, kind, balance_cents FROM accounts")
        }

    def save_account(self, account: tuple[str, str], cents: int) -> None:
        self._write(
            "INSERT INTO accounts (owner, kind, balance_cents) VALUES (?, ?, ?) "
            "ON CONFLICT (owner, kind) DO UPDATE SET balance_cents = excluded.balance_cents",
            (*account, cents),
        )

    def post(
        self,
        at: float,
        receipt: str | None,
        debit: tuple[str, str],
        credit: tuple[str, str],
        cents: int,
        reason: str,
        balances: dict[tuple[str, str], int],
    ) -> None:
        """One posting and the balances it leaves (inside atomic())."""
        self._write(
            "INSERT INTO postings (at, receipt, debit_owner, debit_kind, credit_owner, credit_kind, amount_cents, reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (at, receipt, *debit, *credit, cents, reason),
        )
        for account, balance in balances.items():
            self.save_account(account, balance)

    def sums_of_postings(self) -> dict[tuple[str, str], int]:
        """Each account's credits minus its debits, over every posting (for the ledger's audit)."""
        sums: dict[tuple[str, str], int] = {}
        for owner, kind, cents in self._db.execute(
            "SELECT credit_owner, credit_kind, SUM(amount_cents) FROM postings GROUP BY 1, 2 "
            "UNION ALL SELECT debit_owner, debit_kind, -SUM(amount_cents) FROM postings GROUP BY 1, 2"
        ):
            sums[(owner, kind)] = sums.get((owner, kind), 0) + cents
        return sums

    def postings(self, receipt: str) -> list[tuple[Any, ...]]:
        return self._db.execute(
            "SELECT at, receipt, debit_owner, debit_kind, credit_owner, credit_kind, amount_cents, reason "
            "FROM postings WHERE receipt = ? ORDER BY id",
            (receipt,),
        ).fetchall()

    def has_handset(self, msisdn: str) -> bool:
        return self._db.execute("SELECT 1 FROM handsets WHERE msisdn=?", (msisdn,)).fetchone() is not None

    def load_handsets(self) -> list[Handset]:
        rows = self._db.execute(
            "SELECT h.msisdn, h.name, h.pin, COALESCE(a.balance_cents, 0), h.online, h.wrong_pins, h.pin_locked "
            "FROM handsets h LEFT JOIN accounts a ON a.owner = h.msisdn AND a.kind = 'mpesa' ORDER BY h.position"
        ).fetchall()
        return [
            Handset(
                msisdn=r[0],
                name=r[1],
                pin=r[2],
                balance_cents=r[3],
                online=bool(r[4]),
                wrong_pins=r[5],
                pin_locked=bool(r[6]),
            )
            for r in rows
        ]

    def save_merchant(self, merchant: Merchant) -> None:
        self._write(
            "INSERT INTO merchants (shortcode, passkey, name, kind, external_validation) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (shortcode) DO UPDATE SET passkey=excluded.passkey, name=excluded.name, kind=excluded.kind, "
            "external_validation=excluded.external_validation",
            (merchant.shortcode, merchant.passkey, merchant.name, merchant.kind, int(merchant.external_validation)),
        )

    def load_merchants(self) -> list[Merchant]:
        rows = self._db.execute("SELECT shortcode, passkey, name, kind, external_validation FROM merchants")
        return [Merchant(code, passkey, name, kind, bool(validation)) for code, passkey, name, kind, validation in rows]

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
            "balance_after_cents=?, callback_plan=? WHERE checkout_request_id=?",
            (
                txn.status,
                txn.result_code,
                txn.result_desc,
                txn.receipt,
                txn.settled_at,
                txn.balance_after_cents,
                txn.callback_plan,
                txn.checkout_request_id,
            ),
        )

    def set_callback_plan(self, checkout_request_id: str, plan: str | None) -> None:
        self._write("UPDATE transactions SET callback_plan=? WHERE checkout_request_id=?", (plan, checkout_request_id))

    def transaction(self, checkout_request_id: str) -> Transaction | None:
        row = self._db.execute(f"{_TXN_SELECT} WHERE t.checkout_request_id=?", (checkout_request_id,)).fetchone()
        return None if row is None else _transaction(row)

    def transactions(
        self,
        msisdn: str | None = None,
        status: str | None = None,
        result_code: str | None = None,
        limit: int = 100,
        offset: int = 0,
        duplicate: bool | None = None,
    ) -> list[Transaction]:
        where: list[str] = []
        args: list[Any] = []
        if duplicate is not None:
            where.append("t.duplicate_of IS NOT NULL" if duplicate else "t.duplicate_of IS NULL")
        if status == PENDING:
            where.append(_IS_PENDING)  # a literal, so SQLite can use the partial index
            status = None
        for column, value in (("msisdn", msisdn), ("status", status), ("result_code", result_code)):
            if value is not None:
                where.append(f"t.{column}=?")
                args.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(
            f"{_TXN_SELECT}{clause} ORDER BY t.seq DESC LIMIT ? OFFSET ?", (*args, limit, offset)
        ).fetchall()
        return [_transaction(r) for r in rows]

    def pushes_since(self, since: float, at_most: int = 10_000) -> list[Transaction]:
        """Pushes accepted at or after ``since``, oldest first (the newest ``at_most`` of them)."""
        created = _TXN_FIELDS.index("created_at")
        found = []
        for row in self._db.execute(f"{_TXN_SELECT} ORDER BY t.seq DESC LIMIT ?", (at_most,)):
            if row[created] < since:
                break  # ids grow with time: everything further back is older still
            found.append(_transaction(row))
        return found[::-1]

    def pending_transactions(self) -> list[Transaction]:
        rows = self._db.execute(f"{_TXN_SELECT} WHERE {_IS_PENDING} ORDER BY t.seq").fetchall()
        return [_transaction(r) for r in rows]

    # --- C2B ------------------------------------------------------------------------
    def save_registration(self, registration: C2BRegistration) -> None:
        r = registration
        self._write(
            "INSERT INTO c2b_registrations (shortcode, version, response_type, confirmation_url, validation_url, "
            "registered_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (shortcode) DO UPDATE SET version=excluded.version, "
            "response_type=excluded.response_type, confirmation_url=excluded.confirmation_url, "
            "validation_url=excluded.validation_url, registered_at=excluded.registered_at",
            (r.shortcode, r.version, r.response_type, r.confirmation_url, r.validation_url, r.registered_at),
        )

    def registrations(self) -> list[C2BRegistration]:
        return [
            C2BRegistration(*row)
            for row in self._db.execute(
                "SELECT shortcode, version, response_type, confirmation_url, validation_url, registered_at "
                "FROM c2b_registrations ORDER BY shortcode"
            )
        ]

    def add_c2b_payment(self, payment: C2BPaymentRecord) -> None:
        """Store a C2B payment; raises DuplicateId if its TransID is taken."""
        p = payment
        try:
            self._write(
                "INSERT INTO c2b_payments (trans_id, shortcode, msisdn, amount, bill_ref, command_id, status, reason, "
                "via, third_party_trans_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    p.trans_id,
                    p.shortcode,
                    p.msisdn,
                    p.amount,
                    p.bill_ref,
                    p.command_id,
                    p.status,
                    p.reason,
                    p.via,
                    p.third_party_trans_id,
                    p.created_at,
                ),
            )
        except sqlite3.IntegrityError:
            raise DuplicateId("trans_id") from None

    def end_c2b_payment(self, payment: C2BPaymentRecord) -> None:
        """A pending C2B payment's end: its status, why, and the merchant's ThirdPartyTransID."""
        self._write(
            "UPDATE c2b_payments SET status=?, reason=?, third_party_trans_id=? WHERE trans_id=?",
            (payment.status, payment.reason, payment.third_party_trans_id, payment.trans_id),
        )

    def pending_c2b_payments(self) -> list[C2BPaymentRecord]:
        """C2B payments acknowledged and not yet ended (the emulator stopped while they ran), oldest first."""
        rows = self._db.execute(
            "SELECT trans_id, shortcode, msisdn, amount, bill_ref, command_id, status, reason, via, "
            "third_party_trans_id, created_at FROM c2b_payments WHERE status='pending' ORDER BY seq"
        )
        return [C2BPaymentRecord(*row) for row in rows]

    def c2b_payments(
        self,
        msisdn: str | None = None,
        shortcode: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[C2BPaymentRecord]:
        where, args = [], []
        for column, value in (("msisdn", msisdn), ("shortcode", shortcode)):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(
            "SELECT trans_id, shortcode, msisdn, amount, bill_ref, command_id, status, reason, via, "
            f"third_party_trans_id, created_at FROM c2b_payments{clause} ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [C2BPaymentRecord(*row) for row in rows]

    def transactions_by_receipt(self, receipt: str) -> list[Transaction]:
        rows = self._db.execute(f"{_TXN_SELECT} WHERE t.receipt=?", (receipt,)).fetchall()
        return [_transaction(r) for r in rows]

    def c2b_payments_by_receipt(self, trans_id: str) -> list[C2BPaymentRecord]:
        rows = self._db.execute(
            "SELECT trans_id, shortcode, msisdn, amount, bill_ref, command_id, status, reason, via, "
            "third_party_trans_id, created_at FROM c2b_payments WHERE trans_id=?",
            (trans_id,),
        )
        return [C2BPaymentRecord(*row) for row in rows]

    def receipt_taken(self, receipt: str) -> bool:
        """Whether any payment (STK, C2B, B2C, a reversal) has this receipt: unique across flows."""
        return (
            self._db.execute(
                "SELECT 1 FROM transactions WHERE receipt=? UNION ALL SELECT 1 FROM c2b_payments WHERE trans_id=? "
                "UNION ALL SELECT 1 FROM initiator_requests WHERE receipt=? "
                # A transfer between phones (Send Money) has its receipt on its posting only.
                "UNION ALL SELECT 1 FROM postings WHERE receipt=? LIMIT 1",
                (receipt, receipt, receipt, receipt),
            ).fetchone()
            is not None
        )

    # --- initiator requests ---------------------------------------------------------
    def add_initiator_request(self, request: InitiatorRequest) -> None:
        """Store a new request; raises DuplicateId if its ConversationID is taken."""
        try:
            self._write(_REQUEST_INSERT, tuple(getattr(request, c) for c in _REQUEST_COLUMNS))
        except sqlite3.IntegrityError:
            raise DuplicateId("conversation_id") from None

    def initiator_request(self, conversation_id: str) -> InitiatorRequest | None:
        row = self._db.execute(
            f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM initiator_requests WHERE conversation_id=?", (conversation_id,)
        ).fetchone()
        return None if row is None else InitiatorRequest(*row)

    def settle_initiator_request(self, request: InitiatorRequest) -> None:
        r = request
        self._write(
            "UPDATE initiator_requests SET status=?, result_code=?, receipt=?, counterpart=?, amount=? "
            "WHERE conversation_id=?",
            (r.status, r.result_code, r.receipt, r.counterpart, r.amount, r.conversation_id),
        )

    def initiator_requests(
        self,
        api: str | None = None,
        pending: bool = False,
        originator_id: str | None = None,
        receipt: str | None = None,
        limit: int = 100,
        offset: int = 0,
        counterpart: str | None = None,
    ) -> list[InitiatorRequest]:
        """Newest first (pending ones oldest first, to answer them in order)."""
        where: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("api", api),
            ("originator_id", originator_id),
            ("receipt", receipt),
            ("counterpart", counterpart),
        ):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        if pending:
            where.append("status = 'pending'")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        order = "seq" if pending else "seq DESC"
        rows = self._db.execute(
            f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM initiator_requests{clause} ORDER BY {order} LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [InitiatorRequest(*row) for row in rows]

    # --- deliveries ---------------------------------------------------------------
    def save_delivery(self, delivery: Delivery) -> None:
        """Store a new delivery, or its new state, plan or due time."""
        self._write(
            "INSERT INTO deliveries (id, url, body, state, plan, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET url=excluded.url, body=excluded.body, state=excluded.state, "
            "plan=excluded.plan, due_at=excluded.due_at",
            (
                delivery.id,
                delivery.url,
                delivery.body,
                delivery.state,
                delivery.plan,
                delivery.due_at,
                delivery.created_at,
            ),
        )

    def set_delivery_state(self, delivery_id: str, state: str) -> None:
        self._write("UPDATE deliveries SET state=? WHERE id=?", (state, delivery_id))

    def delivery(self, delivery_id: str) -> Delivery | None:
        row = self._db.execute(f"{_DELIVERY_SELECT} WHERE id=?", (delivery_id,)).fetchone()
        return None if row is None else Delivery(*row)

    def due_deliveries(self) -> list[Delivery]:
        """Everything still owed to a merchant, oldest first (resent at start-up)."""
        return [Delivery(*r) for r in self._db.execute(f"{_DELIVERY_SELECT} WHERE {_IS_DUE} ORDER BY seq")]

    def deliveries(
        self,
        channel: str | None = None,
        state: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[Delivery]:
        """Newest first, optionally of one channel or in one state."""
        where: list[str] = []
        args: list[Any] = []
        if channel is not None:
            where.append("id >= ? AND id < ?")  # the ids of a channel share its prefix
            args += [f"{channel}:", f"{channel};"]
        if state is not None:
            where.append("state = ?")
            args.append(state)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(
            f"{_DELIVERY_SELECT}{clause} ORDER BY seq DESC LIMIT ? OFFSET ?", (*args, limit, offset)
        )
        return [Delivery(*r) for r in rows]

    def paid_on(self, account: str, day: str) -> int:
        """Cents this account paid on ``day`` (an EAT date, ``YYYY-MM-DD``): one look-up."""
        row = self._db.execute(
            "SELECT paid_cents FROM daily_totals WHERE account=? AND day=?", (account, day)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def add_paid(self, account: str, day: str, cents: int) -> None:
        """Count a payment towards the account's total for ``day``."""
        self._write(
            "INSERT INTO daily_totals (account, day, paid_cents) VALUES (?, ?, ?) "
            "ON CONFLICT (account, day) DO UPDATE SET paid_cents = paid_cents + excluded.paid_cents",
            (account, day, cents),
        )

    def count_transactions(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM transactions").fetchone()[0])

    # --- inbox -----------------------------------------------------------------
    def add_message(self, msisdn: str, sender: str, text: str, received_at: float) -> Message:
        cursor = self._write(
            "INSERT INTO messages (msisdn, sender, text, received_at) VALUES (?, ?, ?, ?)",
            (msisdn, sender, text, received_at),
        )
        assert cursor.lastrowid is not None  # an INSERT into a rowid table always has one
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

    def attempts(self, delivery_id: str) -> list[CallbackAttempt]:
        rows = self._db.execute(
            f"SELECT {', '.join(_ATTEMPT_COLUMNS)} FROM callback_attempts WHERE delivery_id=? ORDER BY id",
            (delivery_id,),
        ).fetchall()
        return [CallbackAttempt(*r) for r in rows]

    def attempt_count(self, delivery_id: str) -> int:
        return int(
            self._db.execute("SELECT COUNT(*) FROM callback_attempts WHERE delivery_id=?", (delivery_id,)).fetchone()[0]
        )

    def recent_attempts(self, limit: int = 200, offset: int = 0) -> list[CallbackAttempt]:
        """Every callback ever sent (forged ones too), newest first: the inspector's list."""
        rows = self._db.execute(
            f"SELECT {', '.join(_ATTEMPT_COLUMNS)} FROM callback_attempts ORDER BY id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        return [CallbackAttempt(*r) for r in rows]

    def repeated_deliveries(self, limit: int = 200) -> list[str]:
        """Ids whose delivery reached the merchant more than once (copies with an HTTP answer),
        most recent first: the only ones whose answers can disagree."""
        rows = self._db.execute(
            "SELECT delivery_id FROM callback_attempts "
            "WHERE kind NOT IN ('edited', 'forged') AND status IS NOT NULL "
            "GROUP BY delivery_id HAVING COUNT(*) > 1 ORDER BY MAX(id) DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [row[0] for row in rows]

    # --- tokens ---------------------------------------------------------------
    def save_token(self, token: str, consumer_key: str, expires_at: float) -> bool:
        """Store a new token; False if that token string is already taken."""
        try:
            self._write(
                "INSERT INTO tokens (token, consumer_key, expires_at) VALUES (?, ?, ?)",
                (token, consumer_key, expires_at),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def load_tokens(self, now: float) -> dict[str, float]:
        self._write("DELETE FROM tokens WHERE expires_at<=?", (now,))
        return dict(self._db.execute("SELECT token, expires_at FROM tokens").fetchall())

    def delete_tokens(self) -> None:
        self._write("DELETE FROM tokens")
