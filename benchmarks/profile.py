"""Profile ``handset serve`` under the benchmark loads with py-spy (``pip install py-spy``).

    .venv/bin/python -m benchmarks.profile [--seconds 8] [--out DIR]

Runs the server under ``py-spy record`` twice: once under the STK Push load
(concurrency 64, every push to its own phone), once under the end-to-end load
(concurrency 16: push, PIN through the control API, callback). Writes py-spy's
raw collapsed stacks (open them with speedscope or flamegraph.pl) and prints
the functions with the most samples.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.common import Processes, free_port, python
from benchmarks.flame_summary import summarise
from benchmarks.run import DEFAULT_OUT, _first_answer, _start_helper, e2e_load, push_load


def profiled(procs: Processes, workdir: Path, name: str, out: Path, rate: int):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    log = (workdir / f"{name}.log").open("w")
    began = time.monotonic()
    proc = procs.spawn(
        [
            spy,
            "record",
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(out / f"profile-{name}.txt"),
            "--",
            python(),
            "-m",
            "handset",
            "serve",
            "--port",
            str(port),
            "--db",
            str(workdir / f"{name}.db"),
            "--fresh",
            "--prompt-timeout",
            "600",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    _first_answer(url + "/simulator/merchants", proc, began)
    token = httpx.get(f"{url}/oauth/v1/generate", params={"grant_type": "client_credentials"}, auth=("p", "p")).json()[
        "access_token"
    ]
    return proc, url, token


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    loadgen = "wrk" if shutil.which("wrk") else "aiohttp"
    procs = Processes()
    try:
        with tempfile.TemporaryDirectory(prefix="handset-profile-") as tmp:
            workdir = Path(tmp)
            receiver_url, _ = _start_helper(procs, "benchmarks.receiver", workdir)
            proc, url, token = profiled(procs, workdir, "push", args.out, args.rate)
            result = push_load(procs, loadgen, url, token, 64, args.seconds, 1_000_000, receiver_url + "/callback")
            print(f"push c=64 under py-spy: {result['rps']:.0f} req/s, p99 {result['latency']['p99_ms']:.1f} ms")
            procs.stop(proc, timeout=15)
            proc, url, token = profiled(procs, workdir, "e2e", args.out, args.rate)
            result = e2e_load(procs, url, token, 16, 100_000, args.seconds, 0, 100)
            print(f"e2e c=16 under py-spy: {result['per_second']:.0f}/s, p99 {result['latency']['p99_ms']:.1f} ms")
            procs.stop(proc, timeout=15)
    finally:
        procs.stop_all()
    for name in ("push", "e2e"):
        total, inclusive, own = summarise(args.out / f"profile-{name}.txt", args.top)
        print(f"\n== {name}: {total} samples; inclusive % (top {args.top})")
        for fn, share in inclusive:
            print(f"{share:6.1f}  {fn}")
        print(f"-- {name}: self %")
        for fn, share in own:
            print(f"{share:6.1f}  {fn}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
