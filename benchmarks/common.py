"""What every benchmark process shares: the Daraja push body, percentiles, process control.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SHORTCODE = "174379"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
TIMESTAMP = "20261127185000"
PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
# Phones for the benchmarks: 2547 then 8 digits; far from the configured sandbox numbers.
MSISDN_BASE = 254_790_000_000
PHONE_MARK = "254799999999"  # placeholder in the body template, swapped per request

# B2C and C2B: the sandbox's test organisation, a PayBill whose Utility account starts with
# Ksh 1,000,000 (server.settings), and the amounts the benchmarks move.
ORGANISATION = "600000"
B2C_AMOUNT = 10  # B2C's smallest amount (a smaller one earns Result 2)
C2B_AMOUNT = 1
HANDSET_START_KES = 10_000  # what a phone the engine provisions starts with (server.settings)
MAX_BALANCE_KES = 500_000  # a phone's maximum balance, and a customer's daily limit (spec §6)


def msisdn(n: int) -> str:
    """The n-th benchmark phone number (2547XXXXXXXX)."""
    number = MSISDN_BASE + n
    if not 254_700_000_000 <= number <= 254_799_999_998:
        raise ValueError(f"phone #{n} is outside 2547XXXXXXXX")
    return str(number)


def password() -> str:
    return base64.b64encode(f"{SHORTCODE}{PASSKEY}{TIMESTAMP}".encode()).decode()


def push_body_template(callback_url: str, amount: int = 1) -> bytes:
    """A valid STK Push body with PHONE_MARK where the phone number goes."""
    body = {
        "BusinessShortCode": SHORTCODE,
        "Password": password(),
        "Timestamp": TIMESTAMP,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": amount,
        "PartyA": PHONE_MARK,
        "PartyB": SHORTCODE,
        "PhoneNumber": PHONE_MARK,
        "CallBackURL": callback_url,
        "AccountReference": "BENCH1",
        "TransactionDesc": "Benchmark",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_stats(seconds: list[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean in milliseconds."""
    ms = sorted(s * 1000 for s in seconds)
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": ms[-1],
        "mean_ms": sum(ms) / len(ms),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Processes:
    """Every child process of a run, stopped for sure on the way out (Ctrl-C included)."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[Any]] = []

    def spawn(self, args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **kwargs.pop("env", {})}
        proc = subprocess.Popen(args, cwd=ROOT, env=env, **kwargs)
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
        """SIGINT (a graceful stop), then SIGKILL if it does not go."""
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if proc in self._procs:
            self._procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self._procs)):
            try:
                self.stop(proc, timeout=3.0)
            except Exception:  # keep stopping the others whatever happens to one
                proc.kill()


def wait_for_line(path: Path, pattern: str, proc: subprocess.Popen[Any], timeout: float = 20.0) -> re.Match[str]:
    """Poll a child's log file until a line matches ``pattern``."""
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        if path.exists():
            match = regex.search(path.read_text(errors="replace"))
            if match:
                return match
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}: {path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.01)
    raise RuntimeError(f"{proc.args}: no line matching {pattern!r} within {timeout} s")


def python() -> str:
    return sys.executable


async def serve_until_signal(app: Any, port: int) -> None:
    """Serve an aiohttp ``app`` on 127.0.0.1:``port``, print ``listening on URL``, stop on SIGINT/SIGTERM."""
    import asyncio

    from aiohttp import web

    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
