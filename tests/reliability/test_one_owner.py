"""One owner per database, as real processes: a second instance is refused and changes nothing.

A second `handset serve` or `handset` (TUI) on the same database file, with or without
``--fresh``, on the same port or another, exits 2 with one line naming the file and the
process that holds it; the first instance keeps serving with its data intact. A SIGKILLed
owner leaves no stale lock: the next process takes the file at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.daraja_client import push_body
from tests.reliability.reliability_kit import ROOT, ServeProcess, sigkill, spawn_serve


def _run(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m handset ...`` to its end, with no terminal (stdin closed)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HANDSET_")}
    return subprocess.run(
        [sys.executable, "-m", "handset", *args],
        cwd=ROOT,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _pay(base_url: str, msisdn: str = "254708374149", amount: int = 150) -> str:
    """A paid STK Push, through the real Daraja and control endpoints; returns its id."""
    with httpx.Client(base_url=base_url, timeout=10) as http:
        token = http.get("/oauth/v1/generate", params={"grant_type": "client_credentials"}, auth=("k", "s"))
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        body = push_body("http://127.0.0.1:9/cb", Amount=amount, PhoneNumber=int(msisdn), PartyA=int(msisdn))
        ack = http.post("/mpesa/stkpush/v1/processrequest", json=body, headers=headers)
        assert ack.status_code == 200, ack.text
        checkout = ack.json()["CheckoutRequestID"]
        paid = http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
        assert paid.status_code == 200 and paid.json()["result_code"] == 0, paid.text
        return checkout


def _state(base_url: str) -> tuple[dict[str, float], list[tuple[str, int | str | None]]]:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        handsets = {h["msisdn"]: h["balance"] for h in http.get("/simulator/handsets").json()["handsets"]}
        txns = http.get("/simulator/transactions", params={"limit": 1000}).json()["transactions"]
    return handsets, sorted((t["checkout_request_id"], t["result_code"]) for t in txns)


def _rows(db: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return sorted(conn.execute("SELECT checkout_request_id, result_code FROM transactions"))


@pytest.fixture
def owner(tmp_path: Path):
    db = tmp_path / "shared.db"
    first = spawn_serve(db, tmp_path / "first.log")
    try:
        yield first, db
    finally:
        if first.proc.poll() is None:
            first.proc.send_signal(signal.SIGINT)
            first.proc.wait(10)


@pytest.mark.parametrize("ui", ["serve", "tui"])
@pytest.mark.parametrize("fresh", [False, True], ids=["plain", "fresh"])
def test_a_second_instance_is_refused_and_the_first_keeps_its_data(owner, ui: str, fresh: bool) -> None:
    first, db = owner
    paid = [_pay(first.url), _pay(first.url, amount=20)]
    before = _state(first.url)
    port = first.url.rsplit(":", 1)[1]  # the same port too, as a second terminal with defaults would
    args = (["serve"] if ui == "serve" else []) + ["--db", str(db), "--port", port] + (["--fresh"] if fresh else [])

    second = _run(*args)

    assert second.returncode == 2, second.stdout + second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    assert str(db) in lines[0] and f"process {first.proc.pid}" in lines[0], lines[0]
    assert first.proc.poll() is None, "the first instance died"
    assert _state(first.url) == before  # memory untouched...
    assert set(paid) <= {c for c, _ in _rows(db)}  # ...and the file too: nothing wiped
    third = _pay(first.url, amount=7)  # and it keeps taking payments
    assert third in {c for c, _ in _rows(db)}


def test_another_database_beside_a_running_one_is_fine(owner, tmp_path: Path) -> None:
    first, _ = owner
    other = spawn_serve(tmp_path / "other.db", tmp_path / "other.log")
    try:
        _pay(other.url)
        _pay(first.url)
    finally:
        other.proc.send_signal(signal.SIGINT)
        assert other.proc.wait(10) == 0


def test_the_lock_names_the_owner_and_goes_with_a_clean_exit(owner) -> None:
    first, db = owner
    lock = Path(f"{db}.lock")
    assert lock.read_text() == f"process {first.proc.pid}, serving {first.url}"
    first.proc.send_signal(signal.SIGINT)
    assert first.proc.wait(10) == 0
    assert not lock.exists()


def test_a_sigkilled_owner_leaves_no_stale_lock(tmp_path: Path) -> None:
    db = tmp_path / "killed.db"
    first = spawn_serve(db, tmp_path / "first.log")
    paid = _pay(first.url)
    sigkill(first)
    assert Path(f"{db}.lock").exists()  # the file stays behind; the kernel dropped the lock itself

    again: ServeProcess = spawn_serve(db, tmp_path / "again.log")  # at once: no waiting, no flag
    try:
        handsets, txns = _state(again.url)
        assert (paid, 0) in txns
        assert handsets["254708374149"] == 10_000 - 150
        assert Path(f"{db}.lock").read_text().startswith(f"process {again.proc.pid}")
    finally:
        again.proc.send_signal(signal.SIGINT)
        again.proc.wait(10)


def test_a_refused_fresh_start_on_a_taken_port_leaves_a_new_database_uncreated(owner, tmp_path: Path) -> None:
    """Port in use: the start gives up having created nothing (no database, no lock file)."""
    first, _ = owner
    port = first.url.rsplit(":", 1)[1]
    new_db = tmp_path / "new" / "h.db"
    result = _run("serve", "--db", str(new_db), "--port", port, "--fresh")
    assert result.returncode == 2 and f"port {port}" in result.stderr and "--port" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(new_db.parent.iterdir()) == []


def test_a_first_release_database_is_migrated_by_a_real_process(tmp_path: Path) -> None:
    """`handset serve` on a copy of the committed schema-1 file: upgraded, history served."""
    db = tmp_path / "old.db"
    shutil.copy(ROOT / "tests" / "fixtures" / "schema-v1.db", db)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        before = sorted(conn.execute("SELECT checkout_request_id, result_code FROM transactions"))
    serve = spawn_serve(db, tmp_path / "serve.log")
    try:
        _, txns = _state(serve.url)
        # The one prompt that was live in the file has long expired: settled 1037 at start-up.
        assert [(c, None if code is None else str(code)) for c, code in txns] == [
            (c, code if code is not None else "1037") for c, code in before
        ]
        _pay(serve.url, amount=11)
    finally:
        serve.proc.send_signal(signal.SIGINT)
        assert serve.proc.wait(10) == 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 2
        assert conn.execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == len(before) + 1


def test_a_disk_that_fills_up_under_a_real_process(tmp_path: Path) -> None:
    """A real `handset serve` on a tiny file system (root only): the disk fills up, the push that
    needed room gets the error envelope, reads go on, and once there is room pushes work again."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root (tests/reliability/test_disk_full.py covers the rest)")
    mount = tmp_path / "mnt"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        serve = spawn_serve(mount / "h.db", tmp_path / "serve.log")
        try:
            paid = _pay(serve.url)
            with httpx.Client(base_url=serve.url, timeout=10) as http:
                token = http.get("/oauth/v1/generate", params={"grant_type": "client_credentials"}, auth=("k", "s"))
                headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
                with (mount / "filler").open("wb", buffering=0) as out:
                    try:
                        while True:
                            out.write(b"\0" * 4096)
                    except OSError:
                        pass
                # A token needs room too: granted if its row fits where the WAL has space, else the envelope.
                more = http.get("/oauth/v1/generate", params={"grant_type": "client_credentials"}, auth=("k", "s"))
                assert more.status_code == 200 or more.json()["errorCode"] == "500.003.02", more.text
                statuses = []
                for n in range(60):
                    phone = 254791000000 + n
                    body = push_body("http://127.0.0.1:9/cb", PhoneNumber=phone, PartyA=phone)
                    response = http.post("/mpesa/stkpush/v1/processrequest", json=body, headers=headers)
                    statuses.append(response.status_code)
                    if response.status_code != 200:
                        assert response.json()["errorCode"] == "500.003.02"
                        break
                assert statuses[-1] == 500, statuses
                assert http.get("/simulator/handsets").status_code == 200
                assert http.get(f"/simulator/transactions/{paid}").json()["result_code"] == 0
            (mount / "filler").unlink()
            _pay(serve.url, amount=3)
            assert serve.proc.poll() is None
        finally:
            serve.proc.send_signal(signal.SIGINT)
            serve.proc.wait(10)
        assert "Traceback" not in serve.log.read_text()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
