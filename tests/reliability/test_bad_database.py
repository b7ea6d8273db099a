"""Every database the emulator cannot use is refused in one plain line, exit 2, untouched.

Each case runs the real CLI (`handset serve`, and the TUI for a few) on a bad ``--db``: a
folder, a file that is not a database, another program's SQLite file, a file from a newer
release, a file in the way of the folder, a read-only file, a folder the process may not
write, a read-only mount and a full disk. The line names the path and what to do; no
traceback; the file's bytes are as before and nothing new appears beside it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.reliability.reliability_kit import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "schema-v1.db"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _run(db: Path, *extra: str, prefix: list[str] | None = None, ui: str = "serve") -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HANDSET_")}
    environ["PYTHONDONTWRITEBYTECODE"] = "1"  # another user may not write __pycache__ either
    command = [*(prefix or []), sys.executable, "-m", "handset", *(["serve"] if ui == "serve" else [])]
    return subprocess.run(
        [*command, "--db", str(db), "--port", "0", *extra],
        cwd=ROOT,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        for path in sorted(folder.rglob("*"))
    }


def _assert_refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder others may enter (pytest's own are private to us), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="handset-baddb-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _folder_case(folder: Path) -> Path:
    (folder / "h.db").mkdir()
    return folder / "h.db"


def _garbage(folder: Path) -> Path:
    path = folder / "h.db"
    path.write_bytes(b"this is a shopping list, not a database\n" * 50)
    return path


def _other_program(folder: Path) -> Path:
    path = folder / "h.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
        conn.execute("INSERT INTO recipes VALUES ('ugali')")
    return path


def _newer(folder: Path) -> Path:
    path = folder / "h.db"
    shutil.copy(FIXTURE, path)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version = 999")
    return path


def _file_in_the_way(folder: Path) -> Path:
    (folder / "data").write_text("a file where a folder should be")
    return folder / "data" / "h.db"


CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "folder": (_folder_case, ("is a folder", "--db")),
    "not-a-database": (_garbage, ("is not a database", "--db")),
    "another-program": (_other_program, ("some other program", "--db")),
    "newer-release": (_newer, ("newer mpesa-handset", "schema 999", "upgrade")),
    "file-in-the-way": (_file_in_the_way, ("is not a folder", "--db")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_database_is_refused_in_one_line(folder: Path, case: str) -> None:
    make, words = CASES[case]
    db = make(folder)
    before = _snapshot(folder)
    line = _assert_refused(_run(db), *words)
    assert str(db) in line or str(db.parent) in line
    assert _snapshot(folder) == before


@pytest.mark.parametrize("case", ["folder", "newer-release"])
def test_the_tui_refuses_before_it_draws(folder: Path, case: str) -> None:
    make, words = CASES[case]
    db = make(folder)
    before = _snapshot(folder)
    result = _run(db, ui="tui")
    _assert_refused(result, *words)
    assert "\x1b[" not in result.stdout  # refused before Textual took the terminal
    assert _snapshot(folder) == before


def _as_another_user() -> list[str]:
    """Permissions do not bind root: run the child as nobody when we are root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop privileges to test permissions")
    # An interpreter installed under a private home (pyenv in /root) does not start as nobody.
    probe = subprocess.run([*NOBODY, sys.executable, "-c", "pass"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"nobody cannot run {sys.executable}: {last}")
    return NOBODY


def test_a_read_only_database_file(folder: Path) -> None:
    db = folder / "h.db"
    shutil.copy(FIXTURE, db)
    db.chmod(0o444)
    folder.chmod(0o777)  # the folder is writable: only the file is not
    before = _snapshot(folder)
    _assert_refused(_run(db, prefix=_as_another_user()), str(db), "read-only or no permission")
    assert _snapshot(folder) == before


def test_a_folder_the_process_may_not_write(folder: Path) -> None:
    db = folder / "h.db"
    shutil.copy(FIXTURE, db)
    db.chmod(0o666)
    before = _snapshot(folder)  # folder is 0o755, owned by us: nobody else may create files in it
    _assert_refused(_run(db, prefix=_as_another_user()), str(folder), "cannot write in")
    assert _snapshot(folder) == before


@pytest.fixture
def tmpfs(folder: Path) -> Iterator[Path]:
    """A tiny file system of our own (root only), unmounted afterwards."""
    mount = folder / "mnt"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_read_only_mount(tmpfs: Path) -> None:
    db = tmpfs / "h.db"
    shutil.copy(FIXTURE, db)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    before = _snapshot(tmpfs)
    _assert_refused(_run(db), str(tmpfs), "read-only or no permission")
    assert _snapshot(tmpfs) == before


def test_a_full_disk_at_start_up(tmpfs: Path) -> None:
    """A new database on a disk with no room: refused in one line, and nothing left behind."""
    filler = tmpfs / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
                out.flush()
        except OSError:
            pass
    before = _snapshot(tmpfs)
    _assert_refused(_run(tmpfs / "h.db"), "is full", str(tmpfs / "h.db"))
    assert _snapshot(tmpfs) == before
