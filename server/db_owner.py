"""One owner per database file: an OS lock held for as long as the process uses the file.

Two emulators writing one database each keep balances in memory and write
absolute values, so every payment made on one is silently undone by the
other. The first process to open a database therefore takes an exclusive
``flock`` on ``<db>.lock`` and keeps it until it exits. The kernel drops the
lock when the process dies, however it dies, so a SIGKILL never leaves a
stale lock behind: the next process takes the file at once.

The lock file also says who holds it (process id, and the URL once the port
is bound), so a refusal can name the other process.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .errors import CannotStart

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]  # Windows has no flock: there, no owner check


class DatabaseInUse(CannotStart):
    """Another process holds the database."""


class OwnerLock:
    """The exclusive lock on one database file; ``acquire`` or raise, ``release`` when done."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.path = Path(f"{db_path}.lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock now, or raise DatabaseInUse naming the holder; never waits."""
        if fcntl is None:  # pragma: no cover
            return
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise CannotStart(
                    f"cannot create the lock file {self.path}: {exc.strerror}; "
                    "check the folder's permissions or choose another --db"
                ) from None
            try:
                _lock(fd)
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                raise DatabaseInUse(
                    f"the database {self.db_path} is in use by another mpesa-handset ({holder}); "
                    "stop that one first, or give this one another --db"
                ) from None
            # A releasing owner unlinks the lock file while holding it; if we locked a file
            # that was just unlinked, our lock guards nothing: open the new one and try again.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                self.note()
                return
            os.close(fd)

    def note(self, url: str | None = None) -> None:
        """Record who holds the lock (our pid, and where we serve once we know)."""
        if self._fd is None:
            return
        text = f"process {os.getpid()}" + (f", serving {url}" if url else "")
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, text.encode(), 0)
        except OSError:
            pass  # the note is a courtesy to the next process; the lock is what matters

    def release(self) -> None:
        """Drop the lock and remove the lock file (unlinked while still held: see acquire)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)  # closing the descriptor releases the lock
        self._fd = None


def _lock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "a process that has not said which"
