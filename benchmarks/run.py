"""Run every benchmark once and print a markdown table; JSON goes to ``--out``.

    .venv/bin/python -m benchmarks.run            # the full run (a few minutes)
    .venv/bin/python -m benchmarks.run --quick    # seconds-long smoke run (CI)

What it measures, in one run on one machine (issue 6):

1. STK Push acknowledgement throughput and p50/p99 latency at concurrency 1, 16
   and 64 against ``handset serve`` (a real subprocess, fresh database, valid
   token, every push to its own phone so each opens a live prompt), and with the
   same load generator against a bare aiohttp server that answers the same POST
   with a fixed acknowledgement: the ceiling of our stack. The ratio is printed.
   The load generator is wrk (a separate process) when installed, otherwise an
   aiohttp client process (``benchmarks/loadgen.py``).
2. End to end: push, approve through the control API, callback received.
3. The TUI, headless (``benchmarks/tui.py``): start to first frame, a flood of
   50 handsets x 20 prompts, keypress-to-screen latency during the flood.
   Skipped with a note when ``handset.app`` cannot be imported.
4. Memory and start-up: resident size of ``handset serve`` after 10,000
   transactions, and its start-up time (process start to first HTTP answer)
   with that database.
5. Soak (``benchmarks/soak.py``): 2 x 10,000 back-to-back pushes that all settle;
   CPU per push in each block (the last over the first), and the WAL's size.
6. B2C and C2B (``flows``): B2C request to Result received, and C2B simulate to
   confirmation received (the validation call answered "Accepted"), p50/p99 at
   concurrency 1 and 16, each as a ratio to STK end to end measured in the same
   part, on the same server, in interleaved rounds. The server runs with
   ``result_delay`` 0, so the B2C figure is the emulator's work, not the
   deliberate 3 s before a Result.

No figure fails the run: targets are printed next to the figures. The run fails
(exit 1) only when a part measured nothing (no Result, no confirmation).
Every process it starts is stopped on the way out, Ctrl-C included; all
traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script, `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from benchmarks.common import (
    B2C_AMOUNT,
    HANDSET_START_KES,
    MAX_BALANCE_KES,
    ORGANISATION,
    PUSH_PATH,
    Processes,
    cpu_seconds,
    free_port,
    latency_stats,
    push_body_template,
    python,
    rss_mb,
    wait_for_line,
)
from benchmarks.soak import soak

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results"


@dataclass(frozen=True)
class Plan:
    """How long and how big each part is."""

    levels: tuple[int, ...] = (1, 16, 64)
    push_seconds: int = 5
    push_warmup_seconds: int = 1
    e2e_requests: int = 2000
    e2e_seconds: float = 10.0
    memory_transactions: int = 10_000
    memory_concurrency: int = 16
    memory_seconds: float = 180.0
    first_frame_runs: int = 3
    flood_handsets: int = 50
    flood_prompts: int = 20
    server_per_level: bool = True  # a fresh `handset serve` for each concurrency level
    restarts: int = 3
    soak_blocks: int = 2
    soak_block: int = 10_000
    flow_levels: tuple[int, ...] = (1, 16)
    flow_requests: int = 2000  # timed transactions per flow and level, over all rounds
    flow_rounds: int = 4  # the flows take turns this many times per level
    flow_round_seconds: float = 15.0  # at most, per flow and round
    flow_warmup_per_worker: int = 4  # untimed transactions per worker before each timed round


FULL = Plan()
QUICK = Plan(
    push_seconds=1,
    push_warmup_seconds=0,
    e2e_requests=100,
    e2e_seconds=1.0,
    memory_transactions=200,
    memory_seconds=5.0,
    first_frame_runs=1,
    flood_handsets=10,
    flood_prompts=5,
    server_per_level=False,
    restarts=1,
    soak_block=500,
    flow_requests=48,
    flow_rounds=1,
    flow_round_seconds=5.0,
    flow_warmup_per_worker=2,
)

TARGETS = {
    "ack_ratio_c64": 0.6,  # throughput at concurrency 64 >= 0.6 x ceiling
    "ack_p99_ms": 20.0,  # acknowledgement p99 (at concurrency 64)
    "e2e_p99_ms": 30.0,
    "first_frame_s": 1.5,
    "keypress_ms": 100.0,  # during the flood (we compare p99)
    "rss_mb": 200.0,  # after 10,000 transactions
    "startup_s": 2.0,  # with that database
    "soak_cpu_ratio": 1.2,  # CPU per push, last block of 10,000 / first
    "soak_wal_mb": 64.0,  # largest -wal seen: at most max(64 MB, database size)
}


# --- processes -------------------------------------------------------------------
class Serve:
    """One ``handset serve`` process: its URL, pid, start-up time and log."""

    def __init__(
        self, procs: Processes, workdir: Path, db: Path, fresh: bool, name: str, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        args = [
            python(),
            "-m",
            "handset",
            "serve",
            "--port",
            str(self.port),
            "--db",
            str(db),
            "--prompt-timeout",
            "600",
        ]
        if fresh:
            args.append("--fresh")
        began = time.monotonic()
        with self.log.open("w") as log:
            # The log goes to a file: `handset serve` prints a line per request, a pipe would fill.
            self.proc = procs.spawn(args, stdout=log, stderr=subprocess.STDOUT, env=env or {})
        self.startup_s = _first_answer(self.url + "/simulator/merchants", self.proc, began)
        self.procs = procs

    def token(self) -> str:
        response = httpx.get(
            f"{self.url}/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=("bench", "bench"),
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def rss(self) -> dict[str, float]:
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        self.procs.stop(self.proc)


def _first_answer(url: str, proc: subprocess.Popen[Any], began: float, timeout: float = 30.0) -> float:
    """Seconds from ``began`` until ``url`` answers 200 (polled every 5 ms)."""
    deadline = began + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url).status_code == 200:
                    return time.monotonic() - began
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
            time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _start_helper(procs: Processes, module: str, workdir: Path, *extra: str) -> tuple[str, subprocess.Popen[Any]]:
    port = free_port()
    log = workdir / f"{module.rsplit('.', 1)[-1]}{''.join(extra)}.log"
    with log.open("w") as out:
        proc = procs.spawn([python(), "-m", module, str(port), *extra], stdout=out, stderr=subprocess.STDOUT)
    match = wait_for_line(log, r"listening on (http://\S+)", proc)
    return match.group(1), proc


# --- load generators -------------------------------------------------------------
def _json_line(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON in load generator output: {text[-2000:]}")


def _run(procs: Processes, args: list[str], timeout: float) -> str:
    proc = procs.spawn(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        procs.stop(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:4]} failed ({proc.returncode}): {err[-2000:]}")
    return out


def push_load(
    procs: Processes,
    loadgen: str,
    url: str,
    token: str,
    concurrency: int,
    seconds: int,
    phone_start: int,
    callback_url: str,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """One timed STK Push run; with ``server_pid``, also the server's CPU time per request."""
    before = cpu_seconds(server_pid) if server_pid else None
    result = _push_load(procs, loadgen, url, token, concurrency, seconds, phone_start, callback_url)
    if before is not None and result["completed"]:
        # CPU per request moves much less than throughput when the VM's neighbours are busy.
        result["cpu_us_per_request"] = (cpu_seconds(server_pid) - before) / result["completed"] * 1e6
    return result


def _push_load(
    procs: Processes,
    loadgen: str,
    url: str,
    token: str,
    concurrency: int,
    seconds: int,
    phone_start: int,
    callback_url: str,
) -> dict[str, Any]:
    if loadgen == "wrk":
        template = push_body_template(callback_url).decode()
        out = _run(
            procs,
            [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(HERE / "push.lua"),
                url + PUSH_PATH,
                "--",
                str(254_790_000_000 + phone_start),
                template,
                token,
                "1",
            ],
            timeout=seconds + 30,
        )
        raw = _json_line(out)
        errors = sum(raw["errors"].values())
        ok = raw["requests"] - raw["errors"]["status"]
        elapsed = raw["duration_us"] / 1e6
        return {
            "generator": "wrk",
            "concurrency": concurrency,
            "completed": ok,
            "errors": errors,
            "error_detail": raw["errors"],
            "elapsed_s": elapsed,
            "rps": ok / elapsed,
            "latency": {
                "p50_ms": raw["p50_us"] / 1000,
                "p90_ms": raw["p90_us"] / 1000,
                "p99_ms": raw["p99_us"] / 1000,
                "max_ms": raw["max_us"] / 1000,
                "mean_ms": raw["mean_us"] / 1000,
            },
        }
    out = _run(
        procs,
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
            "--duration",
            str(seconds),
            "--requests",
            "1000000",
            "--phone-start",
            str(phone_start),
            "--callback-url",
            callback_url,
        ],
        timeout=seconds + 60,
    )
    raw = _json_line(out)
    return {**raw, "generator": "aiohttp"}


def e2e_load(
    procs: Processes,
    url: str,
    token: str,
    concurrency: int,
    requests: int,
    seconds: float,
    warmup: int,
    phone_start: int,
) -> dict[str, Any]:
    out = _run(
        procs,
        [
            python(),
            "-m",
            "benchmarks.loadgen",
            "e2e",
            "--url",
            url,
            "--token",
            token,
            "--concurrency",
            str(concurrency),
            "--requests",
            str(requests),
            "--duration",
            str(seconds),
            "--warmup",
            str(warmup),
            "--phone-start",
            str(phone_start),
        ],
        timeout=seconds + 60,
    )
    return _json_line(out)


# --- the parts -------------------------------------------------------------------
def bench_push(procs: Processes, plan: Plan, loadgen: str, workdir: Path, callback_url: str) -> dict[str, Any]:
    ceiling_url, ceiling = _start_helper(procs, "benchmarks.ceiling", workdir)
    levels: list[dict[str, Any]] = []
    startups: list[float] = []
    shared: Serve | None = None
    try:
        for number, concurrency in enumerate(plan.levels):
            # A fresh server per level, so one level's database does not slow the next
            # (the quick run shares one, to save start-ups).
            if plan.server_per_level or shared is None:
                serve = Serve(
                    procs, workdir, workdir / f"push-c{concurrency}.db", fresh=True, name=f"serve-push-c{concurrency}"
                )
                startups.append(serve.startup_s)
                shared = None if plan.server_per_level else serve
            else:
                serve = shared
            phones = 1_000_000 * (1 + 2 * number)  # distinct phones even on a shared server
            try:
                token = serve.token()
                if plan.push_warmup_seconds:
                    push_load(
                        procs, loadgen, serve.url, token, concurrency, plan.push_warmup_seconds, phones, callback_url
                    )
                    push_load(
                        procs, loadgen, ceiling_url, "none", concurrency, plan.push_warmup_seconds, 0, callback_url
                    )
                ours = push_load(
                    procs,
                    loadgen,
                    serve.url,
                    token,
                    concurrency,
                    plan.push_seconds,
                    phones + 1_000_000,
                    callback_url,
                    serve.proc.pid,
                )
                ours["rss_after_mb"] = serve.rss()
            finally:
                if shared is None or concurrency == plan.levels[-1]:
                    serve.stop()
            bare = push_load(
                procs,
                loadgen,
                ceiling_url,
                "none",
                concurrency,
                plan.push_seconds,
                1_000_000,
                callback_url,
                ceiling.pid,
            )
            levels.append(
                {
                    "concurrency": concurrency,
                    "handset": ours,
                    "ceiling": bare,
                    "throughput_ratio": ours["rps"] / bare["rps"] if bare["rps"] else None,
                }
            )
        # The second reference, at the last level: the least a faithful handler does (see ceiling.py).
        floor_url, floor = _start_helper(procs, "benchmarks.ceiling", workdir, "--floor")
        try:
            last = levels[-1]
            if plan.push_warmup_seconds:
                push_load(
                    procs, loadgen, floor_url, "none", last["concurrency"], plan.push_warmup_seconds, 0, callback_url
                )
            least = push_load(
                procs,
                loadgen,
                floor_url,
                "none",
                last["concurrency"],
                plan.push_seconds,
                1_000_000,
                callback_url,
                floor.pid,
            )
            last["floor"] = least
            last["floor_ratio"] = least["rps"] / last["ceiling"]["rps"] if last["ceiling"]["rps"] else None
        finally:
            procs.stop(floor)
    finally:
        procs.stop(ceiling)
    return {"generator": loadgen, "levels": levels, "startup_empty_db_s": startups}


def bench_e2e_and_memory(procs: Processes, plan: Plan, workdir: Path) -> dict[str, Any]:
    """End to end at c=1 on a fresh server, then load it up to the memory figure's size."""
    out: dict[str, Any] = {}
    db = workdir / "memory.db"
    serve = Serve(procs, workdir, db, fresh=True, name="serve-e2e")
    try:
        out["rss_fresh_mb"] = serve.rss()
        token = serve.token()
        out["e2e_c1"] = e2e_load(procs, serve.url, token, 1, plan.e2e_requests, plan.e2e_seconds, 20, 0)
        done = out["e2e_c1"]["completed"] + 20
        loaded = e2e_load(
            procs,
            serve.url,
            token,
            plan.memory_concurrency,
            max(0, plan.memory_transactions - done),
            plan.memory_seconds,
            0,
            100,
        )
        out[f"e2e_c{plan.memory_concurrency}"] = loaded
        time.sleep(0.2)  # let the last callback's attempt row be written
        out["rss_after_transactions_mb"] = serve.rss()
        out["transactions"] = done + loaded["completed"]
    finally:
        serve.stop()
    with sqlite3.connect(db) as con:
        out["db_transactions"] = con.execute("SELECT COUNT(*) FROM transactions").fetchone()[0]
        out["db_handsets"] = con.execute("SELECT COUNT(*) FROM handsets").fetchone()[0]
    out["db_mb"] = sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 1e6
    restarts = []
    for n in range(plan.restarts):
        serve = Serve(procs, workdir, db, fresh=False, name=f"serve-restart-{n}")
        try:
            restarts.append(serve.startup_s)
            out["rss_restarted_mb"] = serve.rss()
        finally:
            serve.stop()
    out["startup_loaded_db_s"] = restarts
    return out


def bench_tui(procs: Processes, plan: Plan, workdir: Path, callback_url: str) -> dict[str, Any]:
    # ---- TUI hook: benchmarks/tui.py drives handset.app.make_app() with run_test(); it reports
    # {"skipped": why} when the TUI cannot be imported, and so does this section.
    frames = []
    for _ in range(plan.first_frame_runs):
        t0 = time.monotonic()
        result = _json_line(_run(procs, [python(), "-m", "benchmarks.tui", "first-frame", "--t0", repr(t0)], 90))
        if "skipped" in result:
            return {"skipped": result["skipped"]}
        frames.append(result)
    flood = _json_line(
        _run(
            procs,
            [
                python(),
                "-m",
                "benchmarks.tui",
                "flood",
                "--handsets",
                str(plan.flood_handsets),
                "--prompts",
                str(plan.flood_prompts),
                "--callback-url",
                callback_url,
            ],
            240,
        )
    )
    return {"first_frame": frames, "flood": flood}


# --- B2C and C2B, as ratios to STK end to end -------------------------------------------
FLOWS = ("stk", "b2c", "c2b")
FLOW_MODES = {"stk": "e2e", "b2c": "b2c", "c2b": "c2b"}  # the load generator's mode for each
FLOW_NAMES = {
    "stk": "STK end to end (push, PIN via control API, callback received)",
    "b2c": "B2C request to Result received (result_delay 0)",
    "c2b": "C2B simulate to confirmation received (validation answered Accepted)",
}


def _flow_warmup(plan: Plan, concurrency: int) -> int:
    return plan.flow_warmup_per_worker * concurrency


def _check_flow_money(plan: Plan, utility_kes: float) -> None:
    """Refuse a plan whose B2C payouts would empty 600000's Utility account or fill a phone.

    A refused payout is a Result with a non-zero code: counted as an error, not measured, so a
    plan that runs out of money would measure less and less as it went.
    """
    per_round = -(-plan.flow_requests // plan.flow_rounds)
    payouts = sum(plan.flow_requests + plan.flow_rounds * _flow_warmup(plan, c) for c in plan.flow_levels)
    if payouts * B2C_AMOUNT > utility_kes:
        raise RuntimeError(
            f"{payouts:,} B2C payouts of Ksh {B2C_AMOUNT} need more than the Ksh {utility_kes:,.0f} "
            f"in {ORGANISATION}'s Utility account"
        )
    # One phone per worker and round: at c=1 one phone takes a whole round's payouts.
    most = HANDSET_START_KES + (per_round + _flow_warmup(plan, 1)) * B2C_AMOUNT
    if most > MAX_BALANCE_KES:
        raise RuntimeError(f"a B2C recipient would reach Ksh {most:,}, above the maximum balance")
    # C2B payers: the load generator tops each phone up and refuses a run it could not pay for.


def flow_load(
    procs: Processes, serve: Serve, token: str, flow: str, concurrency: int, plan: Plan, requests: int, phone_start: int
) -> dict[str, Any]:
    """One load generator run of one flow, with the server's CPU time per transaction driven."""
    before = cpu_seconds(serve.proc.pid)
    warmup = _flow_warmup(plan, concurrency)
    result = _json_line(
        _run(
            procs,
            [
                python(),
                "-m",
                "benchmarks.loadgen",
                FLOW_MODES[flow],
                "--url",
                serve.url,
                "--token",
                token,
                "--concurrency",
                str(concurrency),
                "--requests",
                str(requests),
                "--duration",
                str(plan.flow_round_seconds),
                "--warmup",
                str(warmup),
                "--phone-start",
                str(phone_start),
                "--samples",
            ],
            timeout=2 * plan.flow_round_seconds + 60,
        )
    )
    if result["driven"]:
        # Warm-up included: the server worked for those too, and CPU is read around the process.
        result["cpu_us_per_transaction"] = (cpu_seconds(serve.proc.pid) - before) / result["driven"] * 1e6
    return result


def _pool(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One flow at one level: its rounds' samples pooled into one set of percentiles."""
    samples: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    for run in runs:
        for name, values in run.pop("samples_ms").items():
            samples.setdefault(name, []).extend(v / 1000 for v in values)
        for kind, count in run["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    cpu = [r["cpu_us_per_transaction"] for r in runs if "cpu_us_per_transaction" in r]
    latency = samples.pop("latency", [])
    return {
        "completed": len(latency),
        "errors": errors,
        "latency": latency_stats(latency),
        "phases": {name: latency_stats(values) for name, values in samples.items()},
        # The median round: one round with a busy neighbour moves it less than a mean.
        "cpu_us_per_transaction": statistics.median(cpu) if cpu else None,
        "rounds": runs,
    }


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


def bench_flows(procs: Processes, plan: Plan, workdir: Path) -> dict[str, Any]:
    """B2C and C2B end to end next to STK end to end: one fresh server, the three flows in turns."""
    # The deliberate delay before a Result (3 s by default, as the sandbox) would be the whole
    # B2C figure: off, so that it measures what the emulator does.
    serve = Serve(
        procs, workdir, workdir / "flows.db", fresh=True, name="serve-flows", env={"HANDSET_RESULT_DELAY": "0"}
    )
    out: dict[str, Any] = {"levels": []}
    try:
        with httpx.Client(base_url=serve.url) as client:
            out["result_delay"] = client.get("/simulator/settings").json()["result_delay"]
            if out["result_delay"] != 0:
                raise RuntimeError(f"the flows' server runs with result_delay {out['result_delay']}, not 0")
            merchants = client.get("/simulator/merchants").json()["merchants"]
        utility = next(m for m in merchants if m["shortcode"] == ORGANISATION)["accounts"]["utility"]
        out["utility_before_kes"] = utility
        _check_flow_money(plan, utility)
        token = serve.token()
        per_round = -(-plan.flow_requests // plan.flow_rounds)
        for level, concurrency in enumerate(plan.flow_levels):
            runs: dict[str, list[dict[str, Any]]] = {flow: [] for flow in FLOWS}
            for round_ in range(plan.flow_rounds):
                # Each round starts with another flow, so that none is always first after a
                # pause, or always after the same neighbour.
                order = FLOWS[round_ % len(FLOWS) :] + FLOWS[: round_ % len(FLOWS)]
                for flow in order:
                    # Fresh phones per flow, level and round: no phone's history, balance or
                    # daily total carries over into another run.
                    phones = 3_000_000 + FLOWS.index(flow) * 1_000_000 + level * 10_000 + round_ * 100
                    runs[flow].append(flow_load(procs, serve, token, flow, concurrency, plan, per_round, phones))
            pooled = {flow: _pool(runs[flow]) for flow in FLOWS}
            base = pooled["stk"]
            ratios = {
                flow: {
                    "p50": _ratio(pooled[flow]["latency"].get("p50_ms"), base["latency"].get("p50_ms")),
                    "p99": _ratio(pooled[flow]["latency"].get("p99_ms"), base["latency"].get("p99_ms")),
                    "cpu": _ratio(pooled[flow]["cpu_us_per_transaction"], base["cpu_us_per_transaction"]),
                }
                for flow in FLOWS
                if flow != "stk"
            }
            out["levels"].append({"concurrency": concurrency, **pooled, "ratios_to_stk": ratios})
        with httpx.Client(base_url=serve.url) as client:
            merchants = client.get("/simulator/merchants").json()["merchants"]
        out["utility_after_kes"] = next(m for m in merchants if m["shortcode"] == ORGANISATION)["accounts"]["utility"]
    finally:
        serve.stop()
    return out


def flows_measured_nothing(flows: dict[str, Any]) -> list[str]:
    """The flows and levels with no timed transaction at all: what makes a smoke run fail."""
    return [
        f"{flow} at c={level['concurrency']} (errors: {level[flow]['errors'] or 'none'})"
        for level in flows["levels"]
        for flow in FLOWS
        if not level[flow]["completed"]
    ]


# --- report ----------------------------------------------------------------------
def describe_machine(loadgen: str) -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    versions = {}
    for name in ("aiohttp", "httpx", "pydantic", "textual"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            versions[name] = None
    wrk = shutil.which("wrk")
    wrk_version = None
    if wrk:
        wrk_version = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
        "load_generator": loadgen,
        "wrk": wrk_version,
    }


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def _vs(value: float | None, target: float, higher_is_better: bool = False) -> str:
    if value is None:
        return ""
    ok = value >= target if higher_is_better else value <= target
    return "within" if ok else "over" if not higher_is_better else "under"


def _flow_figure(pooled: dict[str, Any]) -> str:
    latency = pooled["latency"]
    return (
        f"{_fmt(latency.get('p50_ms'), ' ms', 2)} / {_fmt(latency.get('p99_ms'), ' ms', 2)} "
        f"({_fmt(pooled['cpu_us_per_transaction'], ' us', 0)})"
    )


def _errors_note(errors: dict[str, int]) -> str:
    return "; errors: " + ", ".join(f"{kind} {count}" for kind, count in errors.items()) if errors else ""


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    push = results.get("push")
    if push:
        for level in push["levels"]:
            c = level["concurrency"]
            ours, bare = level["handset"], level["ceiling"]
            ratio = level["throughput_ratio"]
            rows.append(
                (
                    f"STK Push ack, c={c}: handset serve req/s (ceiling req/s)",
                    f"{_fmt(ours['rps'], digits=0)} ({_fmt(bare['rps'], digits=0)})",
                    ">= 0.6 x ceiling at c=64" if c == 64 else "",
                    f"ratio {ratio:.2f}" + (f", {_vs(ratio, TARGETS['ack_ratio_c64'], True)}" if c == 64 else ""),
                )
            )
            rows.append(
                (
                    f"STK Push ack, c={c}: p50 / p99 latency (ceiling p50 / p99)",
                    f"{_fmt(ours['latency']['p50_ms'], ' ms', 2)} / {_fmt(ours['latency']['p99_ms'], ' ms', 2)} "
                    f"({_fmt(bare['latency']['p50_ms'], ' ms', 2)} / {_fmt(bare['latency']['p99_ms'], ' ms', 2)})",
                    "p99 <= 20 ms" if c == 64 else "",
                    _vs(ours["latency"]["p99_ms"], TARGETS["ack_p99_ms"]) if c == 64 else "",
                )
            )
            if ours.get("cpu_us_per_request") and bare.get("cpu_us_per_request"):
                rows.append(
                    (
                        f"STK Push ack, c={c}: server CPU per request, handset serve (ceiling)",
                        f"{_fmt(ours['cpu_us_per_request'], ' us', 0)} ({_fmt(bare['cpu_us_per_request'], ' us', 0)})",
                        "",
                        f"ratio {bare['cpu_us_per_request'] / ours['cpu_us_per_request']:.2f}",
                    )
                )
            least = level.get("floor")
            if least:
                cpu = least.get("cpu_us_per_request")
                rows.append(
                    (
                        f"Reference, c={c}: least faithful handler (strict parse, validation, one durable row) "
                        "req/s, p50 / p99, CPU per request",
                        f"{_fmt(least['rps'], digits=0)}, {_fmt(least['latency']['p50_ms'], ' ms', 2)} / "
                        f"{_fmt(least['latency']['p99_ms'], ' ms', 2)}, {_fmt(cpu, ' us', 0)}",
                        "",
                        f"ratio {level['floor_ratio']:.2f} of the ceiling",
                    )
                )
    mem = results.get("e2e_memory")
    if mem:
        e2e = mem["e2e_c1"]["latency"]
        rows.append(
            (
                "End to end (push, PIN via control API, callback received), c=1: p50 / p99",
                f"{_fmt(e2e.get('p50_ms'), ' ms', 2)} / {_fmt(e2e.get('p99_ms'), ' ms', 2)}",
                "p99 <= 30 ms",
                _vs(e2e.get("p99_ms"), TARGETS["e2e_p99_ms"]),
            )
        )
        key = next(k for k in mem if k.startswith("e2e_c") and k != "e2e_c1")
        loaded = mem[key]
        rows.append(
            (
                f"End to end under load, {key.removeprefix('e2e_')} ({loaded['completed']:,} transactions): "
                "p50 / p99, transactions/s",
                f"{_fmt(loaded['latency'].get('p50_ms'), ' ms', 2)} / {_fmt(loaded['latency'].get('p99_ms'), ' ms', 2)}, "
                f"{_fmt(loaded['per_second'], digits=0)}/s",
                "",
                "",
            )
        )
        rows.append(
            (
                f"Resident size (VmRSS) after {mem['transactions']:,} transactions (fresh: {_fmt(mem['rss_fresh_mb']['VmRSS'], ' MB')})",
                f"{_fmt(mem['rss_after_transactions_mb']['VmRSS'], ' MB')} (peak {_fmt(mem['rss_after_transactions_mb']['VmHWM'], ' MB')})",
                "<= 200 MB",
                _vs(mem["rss_after_transactions_mb"]["VmRSS"], TARGETS["rss_mb"]),
            )
        )
        loaded_start = statistics.median(mem["startup_loaded_db_s"])
        empty_start = statistics.median(push["startup_empty_db_s"]) if push else None
        rows.append(
            (
                f"Start-up to first HTTP answer, {mem['db_transactions']:,}-transaction db, "
                f"median of {len(mem['startup_loaded_db_s'])} "
                f"(empty db: {_fmt(empty_start, ' s', 2)})",
                _fmt(loaded_start, " s", 2),
                "<= 2 s",
                _vs(loaded_start, TARGETS["startup_s"]),
            )
        )
    tui = results.get("tui")
    if tui and "skipped" in tui:
        rows.append(("TUI (start to first frame, flood, keypress)", "skipped", "", tui["skipped"]))
    elif tui:
        first = statistics.median(r["first_frame_with_phones_s"] for r in tui["first_frame"])
        rows.append(
            (
                f"TUI start (process spawn) to first frame with phones, median of {len(tui['first_frame'])}",
                _fmt(first, " s", 2),
                "<= 1.5 s",
                _vs(first, TARGETS["first_frame_s"]),
            )
        )
        flood = tui["flood"]
        rows.append(
            (
                f"TUI flood: {flood['handsets']} handsets x {flood['prompts_per_handset']} prompts, "
                "first push to all rendered",
                f"{_fmt(flood['flood_rendered_s'], ' s', 2)} ({flood['frames_during_flood']} frames, longest gap "
                f"{_fmt(flood['longest_frame_gap_ms'], ' ms', 0)})",
                "",
                "",
            )
        )
        keys = flood["keypress"]
        rows.append(
            (
                f"TUI keypress to screen during the flood ({keys.get('n', 0)} keys; {flood['keypress_timeouts']} not shown "
                f"within 5 s; {flood['keys_lost_to_focus_change']} lost because the PIN field lost focus, which "
                f"happened {flood['pin_field_refocused']} times): p50 / p99",
                f"{_fmt(keys.get('p50_ms'), ' ms', 1)} / {_fmt(keys.get('p99_ms'), ' ms', 1)}",
                "<= 100 ms",
                _vs(keys.get("p99_ms"), TARGETS["keypress_ms"]) if keys.get("n") else "",
            )
        )
    soaked = results.get("soak")
    if soaked:
        blocks = soaked["blocks"]
        rows.append(
            (
                f"Soak: CPU per push, block {len(blocks)} / block 1 ({blocks[0]['pushes']:,} pushes a block, "
                f"{_fmt(blocks[0]['cpu_us_per_push'], ' us', 0)} then {_fmt(blocks[-1]['cpu_us_per_push'], ' us', 0)})",
                f"{soaked['cpu_ratio_last_to_first']:.2f}",
                "<= 1.2",
                _vs(soaked["cpu_ratio_last_to_first"], TARGETS["soak_cpu_ratio"]),
            )
        )
        rows.append(
            (
                f"Soak: largest -wal seen (database {_fmt(blocks[-1]['db_mb'], ' MB', 1)} at the end)",
                _fmt(soaked["wal_peak_mb"], " MB", 1),
                "<= max(64 MB, database)",
                _vs(soaked["wal_peak_mb"], soaked["wal_limit_mb"]),
            )
        )
    flows = results.get("flows")
    if flows:
        for level in flows["levels"]:
            c = level["concurrency"]
            stk = level["stk"]
            rows.append(
                (
                    f"{FLOW_NAMES['stk']}, c={c}, the baseline of the two rows below "
                    f"({stk['completed']:,} transactions): p50 / p99 (server CPU per transaction)",
                    _flow_figure(stk),
                    "",
                    "1 (baseline)",
                )
            )
            for flow in ("b2c", "c2b"):
                ratio = level["ratios_to_stk"][flow]
                rows.append(
                    (
                        f"{FLOW_NAMES[flow]}, c={c} ({level[flow]['completed']:,} transactions"
                        f"{_errors_note(level[flow]['errors'])}): p50 / p99 (server CPU per transaction)",
                        _flow_figure(level[flow]),
                        "",
                        f"x{_fmt(ratio['p50'], digits=2)} / x{_fmt(ratio['p99'], digits=2)} of STK e2e "
                        f"(CPU x{_fmt(ratio['cpu'], digits=2)})",
                    )
                )
    lines = ["| Measure | Figure | Target | Ratio / vs target |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (CI): tiny sizes, same code")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where the JSON goes (default {DEFAULT_OUT})")
    parser.add_argument(
        "--loadgen",
        choices=["auto", "wrk", "aiohttp"],
        default="auto",
        help="auto: wrk when installed, else the aiohttp client process",
    )
    parser.add_argument(
        "--only",
        choices=["push", "e2e", "tui", "soak", "flows"],
        action="append",
        help="run only these parts (repeatable); flows: B2C and C2B as ratios to STK end to end",
    )
    parser.add_argument(
        "--levels",
        type=lambda text: tuple(int(n) for n in text.split(",")),
        help="STK Push concurrency levels, comma-separated (default 1,16,64)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.levels:
        plan = replace(plan, levels=args.levels)
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "aiohttp"
    elif loadgen == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install -y wrk)")
    if loadgen == "aiohttp" and args.loadgen == "auto":
        print(
            "note: wrk not found, using the aiohttp client load generator "
            "(it is slower than wrk, so the ceiling, and the ratio, are less sharp)",
            file=sys.stderr,
        )
    parts = set(args.only or ["push", "e2e", "tui", "soak", "flows"])

    began = time.monotonic()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "plan": plan.__dict__,
        "machine": describe_machine(loadgen),
        "targets": TARGETS,
    }
    procs = Processes()
    try:
        with tempfile.TemporaryDirectory(prefix="handset-bench-") as tmp:
            workdir = Path(tmp)
            receiver_url, receiver = _start_helper(procs, "benchmarks.receiver", workdir)
            callback_url = receiver_url + "/callback"
            if "push" in parts:
                print(f"[{time.monotonic() - began:5.1f} s] STK Push acknowledgement ({loadgen})...", file=sys.stderr)
                results["push"] = bench_push(procs, plan, loadgen, workdir, callback_url)
            if "e2e" in parts:
                print(f"[{time.monotonic() - began:5.1f} s] end to end, memory, start-up...", file=sys.stderr)
                results["e2e_memory"] = bench_e2e_and_memory(procs, plan, workdir)
            if "tui" in parts:
                print(f"[{time.monotonic() - began:5.1f} s] TUI...", file=sys.stderr)
                results["tui"] = bench_tui(procs, plan, workdir, callback_url)
            if "soak" in parts:
                print(f"[{time.monotonic() - began:5.1f} s] soak...", file=sys.stderr)
                results["soak"] = soak(procs, workdir, callback_url, plan.soak_blocks, plan.soak_block, 100, 16)
            if "flows" in parts:
                print(
                    f"[{time.monotonic() - began:5.1f} s] B2C and C2B against STK end to end "
                    "(result_delay 0: the B2C figure leaves out the deliberate 3 s before a Result)...",
                    file=sys.stderr,
                )
                results["flows"] = bench_flows(procs, plan, workdir)
            procs.stop(receiver)
    except KeyboardInterrupt:
        print("interrupted: stopping everything this run started", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
    results["took_s"] = time.monotonic() - began
    report = table(results)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    text = json.dumps({**results, "table": report}, indent=2)
    (args.out / f"bench-{results['mode']}-{stamp}.json").write_text(text)
    (args.out / f"latest-{results['mode']}.json").write_text(text)
    print(f"\n{results['mode']} run took {results['took_s']:.1f} s; JSON in {args.out}", file=sys.stderr)
    empty = flows_measured_nothing(results["flows"]) if "flows" in results else []
    if empty:
        print(f"benchmark measured nothing for: {'; '.join(empty)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
