"""The headless CLI as a user runs it: a real process, real signals, real ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.daraja_client import Daraja
from tests.reliability.reliability_kit import spawn_serve

ROOT = Path(__file__).resolve().parents[2]


def _stop(proc: subprocess.Popen[str], sig: int) -> tuple[str, str, float]:
    """Send ``sig``, wait, and return the rest of stdout, stderr and how long it took."""
    proc.send_signal(sig)
    began = time.monotonic()
    proc.wait(timeout=5)
    took = time.monotonic() - began
    assert proc.stdout is not None and proc.stderr is not None
    return proc.stdout.read(), proc.stderr.read(), took


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "handset", "serve", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_url(proc: subprocess.Popen[str], timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return match.group(1)
        if proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.stderr.read() if proc.stderr else ''}")
    raise AssertionError("no base URL printed")


def test_serve_prints_banner_logs_requests_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = _spawn("--port", "0", "--db", str(tmp_path / "h.db"), "--fresh")
    try:
        url = _wait_for_url(proc)
        assert url.startswith("http://127.0.0.1:")
        token = httpx.get(f"{url}/oauth/v1/generate", params={"grant_type": "client_credentials"}, auth=("a", "b"))
        assert token.status_code == 200
        bad = httpx.post(f"{url}/mpesa/stkpush/v1/processrequest", json={})
        assert bad.status_code == 404
        time.sleep(0.2)
        out, err, took = _stop(proc, signal.SIGINT)
        assert took < 2.0
        assert proc.returncode == 0, err
        assert "GET   /oauth/v1/generate?grant_type=client_credentials  200" in out
        assert "404.001.03" in out
        assert err == ""
    finally:
        if proc.poll() is None:
            proc.kill()


def test_banner_names_shortcode_passkey_and_token_command(tmp_path: Path) -> None:
    proc = _spawn("--port", "0", "--db", str(tmp_path / "h.db"))
    try:
        _wait_for_url(proc)
        out, _, _ = _stop(proc, signal.SIGTERM)
        assert "shortcode  174379" in out
        assert "passkey    bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919" in out
        assert "/oauth/v1/generate?grant_type=client_credentials" in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_port_in_use_exits_2_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _spawn("--port", str(port), "--db", str(tmp_path / "h.db"))
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert str(port) in lines[0] and "--port" in lines[0]


def test_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('prompt_timeout = "soon"\n')
    proc = _spawn("--config", str(config), "--db", str(tmp_path / "h.db"))
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2
    assert "prompt_timeout" in err


def test_log_file(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "handset.log"
    proc = _spawn("--port", "0", "--db", str(tmp_path / "h.db"), "--log-file", str(log))
    try:
        url = _wait_for_url(proc)
        httpx.get(f"{url}/oauth/v1/generate", params={"grant_type": "client_credentials"}, auth=("a", "b"))
        httpx.post(f"{url}/mpesa/stkpush/v1/processrequest", json={})
        _stop(proc, signal.SIGINT)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = log.read_text().splitlines()
    assert any("/oauth/v1/generate?grant_type=client_credentials  200" in line for line in lines)
    assert any("404.001.03" in line for line in lines)


def _imported_modules(importtime_log: str) -> set[str]:
    """The modules a ``-X importtime`` log says were imported ("import time: self | cumulative | name")."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime_log.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


async def test_serve_never_imports_textual(tmp_path: Path, receiver) -> None:
    """A whole payment through ``handset serve``: not one Textual module (nor the app) is loaded.

    Python's import-time log (PYTHONPROFILEIMPORTTIME, the -X importtime switch) names every
    module the process imports, at start-up or later in a request, so lazy imports count too.
    """
    serve = spawn_serve(tmp_path / "h.db", tmp_path / "serve.log", env={"PYTHONPROFILEIMPORTTIME": "1"})
    try:
        async with httpx.AsyncClient(base_url=serve.url, timeout=10) as client:
            push = await Daraja(client).push(receiver.url)
            assert push.status_code == 200, push.text
            checkout = push.json()["CheckoutRequestID"]
            paid = await client.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
            assert paid.status_code == 200, paid.text
            [callback] = await receiver.wait_for(1)
            assert callback.json["Body"]["stkCallback"]["ResultCode"] == 0
            assert (await client.get("/openapi.json")).status_code == 200
    finally:
        serve.proc.send_signal(signal.SIGINT)
        serve.proc.wait(10)
    imported = _imported_modules(serve.log.read_text())
    # The log really lists what the server loaded: a parsing slip cannot pass for "no Textual".
    assert {"server.runner", "server.callbacks", "aiohttp.web", "handset.cli"} <= imported
    assert sorted(m for m in imported if m.split(".")[0] == "textual" or m.startswith("handset.app")) == []
