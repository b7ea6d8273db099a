"""WAL checkpoints on a thread of their own, so the event loop never pays for them.

In WAL mode every commit appends pages to the ``-wal`` file, and by default the
connection that commits past 1,000 pages copies them all back into the
database file right there, inside that commit: a pause of tens of
milliseconds for whichever request was unlucky, every second or so under load.
The store turns that off and this thread checkpoints instead, with its own
connection, in PASSIVE mode (it never waits for, or blocks, the writer).
SQLite releases the GIL while it works, so the copy runs beside the loop.

A PASSIVE checkpoint never makes the WAL start over, though: under steady load
the writer always has frames the checkpoint has not reached, so the file only
grows (nearly 1 GB after 10,000 pushes). Once it passes ``WAL_LIMIT`` the thread
runs a TRUNCATE checkpoint right after a PASSIVE one: it waits for the writer's
transaction to end, copies what the PASSIVE one left (a fraction of a second's
worth, so the writer waits some tens of milliseconds at most) and empties the file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

log = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between checkpoints when the WAL is small
TICK = 0.1  # seconds between looks at the WAL's size
WAL_LIMIT = 24 * 1024 * 1024  # bytes of WAL past which a checkpoint also empties it (half: copy now)
TRUNCATE_WAIT = 2.0  # seconds a TRUNCATE checkpoint may wait for the writer


class Checkpointer:
    """Checkpoints one database file every ``interval`` seconds until stopped."""

    def __init__(self, path: str, interval: float | None = None, wal_limit: int | None = None) -> None:
        self._path = path
        self._wal = f"{path}-wal"
        self._interval = INTERVAL if interval is None else interval
        self._wal_limit = WAL_LIMIT if wal_limit is None else wal_limit
        self.truncations = 0  # how many times the WAL was emptied (for tests and benchmarks)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            # The timeout is the busy handler's: how long TRUNCATE may wait for the writer.
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=TRUNCATE_WAIT)
        except sqlite3.Error as exc:
            log.warning("no background checkpoints for %s: %s", self._path, exc)
            return
        last = time.monotonic()
        try:
            # Look often (a stat is cheap), copy once a second, and sooner when the WAL is big:
            # under full load it grows by tens of MB a second.
            while not self._stop.wait(min(TICK, self._interval)):
                size = self._wal_size()
                if size <= self._wal_limit // 2 and time.monotonic() - last < self._interval:
                    continue
                last = time.monotonic()
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    if size > self._wal_limit:
                        busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                        self.truncations += not busy
                except sqlite3.Error as exc:  # busy or locked: the next turn tries again
                    log.debug("checkpoint skipped: %s", exc)
        finally:
            db.close()

    def _wal_size(self) -> int:
        try:
            return os.stat(self._wal).st_size
        except FileNotFoundError:
            return 0
