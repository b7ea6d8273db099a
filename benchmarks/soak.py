"""Soak: back-to-back STK Pushes that all settle, in blocks of 10,000; does the cost stay flat?

    .venv/bin/python -m benchmarks.soak                    # 2 x 10,000 pushes (about a minute)
    .venv/bin/python -m benchmarks.soak --blocks 3 --block 5000

A real ``handset serve`` (fresh database, ``--mode approve --think-time 0``, so every
push is paid at once and its callback goes to a local receiver) gets pushes from the
load generator at concurrency 16, cycling over 100 phones so that each phone builds a
long history (what made the daily-limit sum slow). For each block it reports the
server's CPU time per push (from /proc, steadier than wall time on a shared VM), the
database and ``-wal`` sizes after the block, and the largest ``-wal`` seen while the
block ran (sampled every 50 ms). The figure that matters is the ratio of the last
block's CPU per push to the first's (target: at most 1.2), and the WAL's high-water
mark against max(64 MB, database size). No figure fails the run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import Processes, cpu_seconds, free_port, python, rss_mb, wait_for_line

MB = 1024 * 1024
WAL_LIMIT_FLOOR = 64 * MB


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class WalWatcher:
    """Samples the ``-wal`` file's size on a thread; ``peak()`` is the largest since ``reset()``."""

    def __init__(self, wal: Path, every: float = 0.05) -> None:
        self._wal, self._every = wal, every
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WalWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._peak = max(self._peak, _size(self._wal))

    def reset(self) -> None:
        self._peak = _size(self._wal)

    def peak(self) -> int:
        return max(self._peak, _size(self._wal))


def _block(
    procs: Processes,
    url: str,
    token: str,
    pushes: int,
    phone_start: int,
    phones: int,
    callback_url: str,
    concurrency: int,
) -> dict[str, Any]:
    out = subprocess.run(
        [
            python(),
            "-m",
            "benchmarks.loadgen",
            "push",
            "--url",
            url,
            "--token",
            token,
            "--concurrency",
            str(concurrency),
            "--requests",
            str(pushes),
            "--duration",
            "600",
            "--phone-start",
            str(phone_start),
            "--phones",
            str(phones),
            "--callback-url",
            callback_url,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    ).stdout
    return json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("{")))


def soak(
    procs: Processes, workdir: Path, callback_url: str, blocks: int, block: int, phones: int, concurrency: int
) -> dict[str, Any]:
    db = workdir / "soak.db"
    wal = Path(f"{db}-wal")
    port = free_port()
    log = workdir / "serve-soak.log"
    with log.open("w") as out:
        serve = procs.spawn(
            [
                python(),
                "-m",
                "handset",
                "serve",
                "--port",
                str(port),
                "--db",
                str(db),
                "--fresh",
                "--mode",
                "approve",
                "--think-time",
                "0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = wait_for_line(log, r"listening on (http://\S+)", serve).group(1)
    token = httpx.get(
        f"{url}/oauth/v1/generate", params={"grant_type": "client_credentials"}, auth=("soak", "soak")
    ).json()["access_token"]
    results: list[dict[str, Any]] = []
    try:
        with WalWatcher(wal) as watcher:
            for number in range(blocks):
                watcher.reset()
                before = cpu_seconds(serve.pid)
                load = _block(procs, url, token, block, 0, phones, callback_url, concurrency)
                cpu = cpu_seconds(serve.pid) - before
                time.sleep(0.5)  # the last callbacks and one checkpoint turn
                results.append(
                    {
                        "block": number + 1,
                        "pushes": load["completed"],
                        "errors": load.get("errors", 0),
                        "rps": load["rps"],
                        "p99_ms": load["latency"]["p99_ms"],
                        "cpu_us_per_push": cpu / max(1, load["completed"]) * 1e6,
                        "db_mb": _size(db) / MB,
                        "wal_mb": _size(wal) / MB,
                        "wal_peak_mb": watcher.peak() / MB,
                        "rss_mb": rss_mb(serve.pid)["VmRSS"],
                    }
                )
                print(f"block {number + 1}: {json.dumps(results[-1])}", file=sys.stderr)
        with httpx.Client(base_url=url) as http:
            transactions = http.get("/simulator/transactions", params={"limit": 1}).status_code
    finally:
        procs.stop(serve)
    first, last = results[0], results[-1]
    db_mb = max(r["db_mb"] for r in results)
    return {
        "blocks": results,
        "phones": phones,
        "concurrency": concurrency,
        "server_answering": transactions == 200,
        "cpu_ratio_last_to_first": last["cpu_us_per_push"] / first["cpu_us_per_push"],
        "wal_peak_mb": max(r["wal_peak_mb"] for r in results),
        "wal_limit_mb": max(WAL_LIMIT_FLOOR / MB, db_mb),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "| Block | Pushes | CPU per push | Throughput | p99 | Database | WAL after | WAL peak | RSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["blocks"]:
        lines.append(
            f"| {r['block']} | {r['pushes']:,} | {r['cpu_us_per_push']:.0f} us | {r['rps']:,.0f}/s | "
            f"{r['p99_ms']:.1f} ms | {r['db_mb']:.1f} MB | {r['wal_mb']:.1f} MB | {r['wal_peak_mb']:.1f} MB | "
            f"{r['rss_mb']:.0f} MB |"
        )
    lines.append("")
    lines.append(
        f"CPU per push, last block / first: {result['cpu_ratio_last_to_first']:.2f} (target <= 1.2); "
        f"WAL peak {result['wal_peak_mb']:.1f} MB (limit max(64 MB, database) = {result['wal_limit_mb']:.1f} MB)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--block", type=int, default=10_000, help="pushes per block")
    parser.add_argument("--phones", type=int, default=100, help="phones the pushes cycle over")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    procs = Processes()
    try:
        with tempfile.TemporaryDirectory(prefix="handset-soak-") as tmp:
            workdir = Path(tmp)
            port = free_port()
            receiver_log = workdir / "receiver.log"
            with receiver_log.open("w") as out:
                receiver = procs.spawn(
                    [python(), "-m", "benchmarks.receiver", str(port)], stdout=out, stderr=subprocess.STDOUT
                )
            receiver_url = wait_for_line(receiver_log, r"listening on (http://\S+)", receiver).group(1)
            result = soak(
                procs, workdir, receiver_url + "/callback", args.blocks, args.block, args.phones, args.concurrency
            )
    finally:
        procs.stop_all()
    print(table(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
