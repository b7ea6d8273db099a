"""WAL checkpoints on a thread of their own, so the event loop never pays for them.

In WAL mode every commit appends pages to the ``-wal`` file, and by default the
connection that commits past 1,000 pages copies them all back into the
database file right there, inside that commit: a pause of tens of
milliseconds for whichever request was unlucky, every second or so under load.
The store turns that off and this thread checkpoints instead, with its own
connection, in PASSIVE mode (it never waits for, or blocks, the writer).
SQLite releases the GIL while it works, so the copy runs beside the loop.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between checkpoints


class Checkpointer:
    """Checkpoints one database file every ``interval`` seconds until stopped."""

    def __init__(self, path: str, interval: float | None = None) -> None:
        self._path = path
        self._interval = INTERVAL if interval is None else interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("no background checkpoints for %s: %s", self._path, exc)
            return
        try:
            while not self._stop.wait(self._interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # busy or locked: the next turn tries again
                    log.debug("checkpoint skipped: %s", exc)
        finally:
            db.close()
