"""The TUI, headless, in its own process: start to first frame, a prompt flood, keypress latency.

A "frame" is a screen update the app hands to its driver: we wrap
``App._display`` and, since the headless driver throws frames away, turn each
update into terminal bytes ourselves so that the cost a real terminal session
pays is counted too.

``python -m benchmarks.tui first-frame --t0 MONOTONIC``   (t0: the parent's
``time.monotonic()`` just before it spawned us, so interpreter start and
imports count)

``python -m benchmarks.tui flood --handsets 50 --prompts 20 --callback-url URL``

Each prints one JSON object on stdout. If ``handset.app`` cannot be imported
(the TUI is missing or broken) it prints ``{"skipped": "<why>"}``.
"""

from __future__ import annotations

import time

T_PROCESS = time.monotonic()  # as early as possible: the imports below are part of start-up

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import latency_stats, msisdn, push_body_template

SIZE = (120, 40)
FLOOD_PHONE_START = 5_000_000  # far from the push benchmark's phones
KEY_INTERVAL_S = 0.025
KEY_TIMEOUT_S = 5.0
FLOOD_TIMEOUT_S = 90.0


class FrameClock:
    """Wraps ``app._display``: records when each frame went out and runs checks on it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.frames: list[float] = []
        self.checks: list[tuple[Callable[[], bool], asyncio.Future[float]]] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None or app._batch_count:
                return
            render = getattr(renderable, "render_segments", None)
            if render is not None:
                render(app.console)  # what a real terminal session would also pay for
            now = time.perf_counter()
            self.frames.append(now)
            for check in list(self.checks):
                condition, future = check
                if future.done():
                    self.checks.remove(check)
                elif condition():
                    self.checks.remove(check)
                    future.set_result(now)

        app._display = display

    def first_frame_where(self, condition: Callable[[], bool]) -> asyncio.Future[float]:
        """A future set to the time of the first frame drawn while ``condition()`` holds."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.checks.append((condition, future))
        return future


def _import_app() -> tuple[Any, Any, Any] | str:
    try:
        from handset.app import make_app
        from server.settings import HandsetConfig, Settings
    except Exception as exc:  # the TUI is being written: say why it was skipped
        return f"handset.app cannot be imported: {type(exc).__name__}: {exc}"
    return make_app, Settings, HandsetConfig


async def first_frame(t0: float) -> dict[str, Any]:
    imported = _import_app()
    if isinstance(imported, str):
        return {"skipped": imported}
    t_imported = time.monotonic()
    make_app, Settings, _ = imported
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Settings(port=0, db=Path(tmp) / "h.db", fresh=True))
        frames = FrameClock(app)
        any_frame = frames.first_frame_where(lambda: True)
        phones_frame = frames.first_frame_where(lambda: app.ready.is_set() and bool(app.phones))
        async with app.run_test(size=SIZE):
            first = await asyncio.wait_for(any_frame, 30)
            with_phones = await asyncio.wait_for(phones_frame, 30)
            shown = len(app.phones)
        # perf_counter and monotonic share a clock on Linux, but convert through "now" to be safe.
        offset = time.monotonic() - time.perf_counter()
    return {
        "process_to_imported_s": t_imported - t0,
        "process_start_s": T_PROCESS - t0,
        "first_frame_s": first + offset - t0,
        "first_frame_with_phones_s": with_phones + offset - t0,
        "phones": shown,
    }


async def flood(args: argparse.Namespace) -> dict[str, Any]:
    imported = _import_app()
    if isinstance(imported, str):
        return {"skipped": imported}
    make_app, Settings, HandsetConfig = imported
    import httpx
    from textual import events

    from server.events import RequestHandled

    phones = [msisdn(FLOOD_PHONE_START + i) for i in range(args.handsets)]
    total = args.handsets * args.prompts
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            port=0,
            db=Path(tmp) / "h.db",
            fresh=True,
            prompt_timeout=600,
            handsets=[HandsetConfig(msisdn=p, name=f"Bench {i:02d}") for i, p in enumerate(phones)],
        )
        app = make_app(settings)
        frames = FrameClock(app)
        pushes: list[float] = []

        def count(event: Any) -> None:
            if isinstance(event, RequestHandled) and event.path.startswith("/mpesa/stkpush"):
                pushes.append(time.perf_counter())

        async with app.run_test(size=SIZE):
            await asyncio.wait_for(app.ready.wait(), 30)
            app.simulator.bus.subscribe(count)
            base = app.emulator.base_url
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                token = (
                    await client.get(
                        "/oauth/v1/generate",
                        params={"grant_type": "client_credentials"},
                        auth=("bench", "bench"),
                    )
                ).json()["access_token"]
                # One prompt on the phone on screen first, so there is a PIN field to type into.
                body = push_body_template(args.callback_url).replace(b"254799999999", phones[0].encode())
                await client.post(
                    "/mpesa/stkpush/v1/processrequest",
                    content=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
            phone0 = app.phones[phones[0]]
            await asyncio.wait_for(frames.first_frame_where(lambda: phone0.prompt_waiting), 10)
            pin = phone0.prompt.pin_field
            pin.focus()
            pushes.clear()

            loadgen = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.loadgen",
                "push",
                "--url",
                base,
                "--token",
                token,
                "--concurrency",
                str(args.concurrency),
                "--requests",
                str(total),
                "--duration",
                str(FLOOD_TIMEOUT_S),
                "--phones",
                str(args.handsets),
                "--phone-start",
                str(FLOOD_PHONE_START),
                "--callback-url",
                args.callback_url,
                stdout=asyncio.subprocess.PIPE,
            )
            spawned = time.perf_counter()
            activity = app.query_one("ActivityLog")
            rendered = frames.first_frame_where(
                lambda: (
                    len(pushes) >= total
                    and all(p.prompt_waiting for p in app.phones.values())
                    and not activity._pending
                )
            )
            keys: list[float] = []
            refocused = key_timeouts = keys_lost = 0
            try:
                deadline = time.perf_counter() + FLOOD_TIMEOUT_S
                while not rendered.done() and time.perf_counter() < deadline:
                    if app.focused is not pin:
                        refocused += 1
                        pin.focus()
                        await asyncio.sleep(KEY_INTERVAL_S)
                        continue
                    target = "" if pin.value else "1"
                    key = events.Key("backspace", None) if pin.value else events.Key("1", "1")
                    key.set_sender(app)
                    seen = frames.first_frame_where(lambda t=target: pin.value == t)
                    pressed = time.perf_counter()
                    app._driver.send_message(key)
                    # Wait for the frame showing the key, unless the focus moved away meanwhile
                    # (then the key went to another widget and will never show in the field).
                    while not seen.done() and time.perf_counter() - pressed < KEY_TIMEOUT_S:
                        await asyncio.wait([seen], timeout=0.05)
                        if not seen.done() and app.focused is not pin and pin.value != target:
                            break
                    if seen.done():
                        keys.append(seen.result() - pressed)
                    elif app.focused is not pin:
                        keys_lost += 1
                        seen.cancel()
                    else:
                        key_timeouts += 1
                        seen.cancel()
                    await asyncio.sleep(KEY_INTERVAL_S)
                done_at = await asyncio.wait_for(rendered, max(0.1, deadline - time.perf_counter()))
            finally:
                if loadgen.returncode is None:
                    try:
                        await asyncio.wait_for(loadgen.wait(), 30)
                    except TimeoutError:
                        loadgen.kill()
            out, _ = await loadgen.communicate()
            generated = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
            flood_frames = [f for f in frames.frames if pushes and pushes[0] <= f <= done_at]
            gaps = [b - a for a, b in itertools.pairwise(flood_frames)]
            started = pushes[0] if pushes else spawned
            return {
                "handsets": args.handsets,
                "prompts_per_handset": args.prompts,
                "pushes": total,
                "pushes_acknowledged": generated.get("completed"),
                "flood_rendered_s": done_at - started,
                "flood_sent_s": (pushes[-1] - started) if pushes else None,
                "frames_during_flood": len(flood_frames),
                "longest_frame_gap_ms": max(gaps) * 1000 if gaps else None,
                "keypress": latency_stats(keys),
                "keypress_timeouts": key_timeouts,
                "keys_lost_to_focus_change": keys_lost,
                "pin_field_refocused": refocused,
                "live_prompts_shown": sum(p.prompt_waiting for p in app.phones.values()),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["first-frame", "flood"])
    parser.add_argument("--t0", type=float, help="first-frame: the parent's time.monotonic() at spawn")
    parser.add_argument("--handsets", type=int, default=50)
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--callback-url", default="http://127.0.0.1:9/callback")
    args = parser.parse_args()
    if args.mode == "first-frame":
        result = asyncio.run(first_frame(args.t0 if args.t0 is not None else T_PROCESS))
    else:
        result = asyncio.run(flood(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
