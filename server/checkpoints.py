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
runs one TRUNCATE checkpoint: it waits for the writer's transaction to end,
copies what the PASSIVE ones left (a second's worth, so the writer waits a few
milliseconds at most) and empties the file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

log = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between checkpoints
WAL_LIMIT = 16 * 1024 * 1024  # bytes of WAL past which a checkpoint also empties it
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
        try:
            while not self._stop.wait(self._interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    if self._wal_size() > self._wal_limit:
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
