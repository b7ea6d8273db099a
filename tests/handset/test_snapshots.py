"""Snapshots of the main screens: frozen clock, seeded ids, fixed terminal size.

Snapshot tests run their own event loop, so they are plain ``def`` tests; the
scene is set in ``run_before``, inside the app's loop. Two things would make
pictures differ between runs and are pinned here: the port (the header shows
the base URL, so it is shown as 8400) and callback latencies (deliveries are
switched off where the activity pane is in view, or replaced by fixed events).
Update with ``pytest tests/handset --snapshot-update`` and look at the report.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from handset.app import HandsetApp, make_app
from server.clock import ManualClock
from server.daraja.catalogue import PAYBILL, SANDBOX_PASSKEY
from server.events import CallbackAttempted, RequestHandled
from server.ids import IdGenerator
from server.models import CallbackAttempt
from server.rules import CallbackPlan
from server.settings import MerchantConfig, Settings
from server.simulator import PushOrder
from tests.handset.tui_kit import SIZE, WANJIKU

SHOWN_BASE_URL = "http://127.0.0.1:8400"

# All on one xdist worker, one after another (--dist loadgroup): no picture is taken while
# another app competes for the same CPU, and one worker sees every snapshot of this file.
pytestmark = pytest.mark.xdist_group("snapshots")


@pytest.fixture
def snapshot_app(tmp_path) -> HandsetApp:
    # Real settings, no stand-ins: the header shows a fixed public URL while the server binds port 0,
    # and callbacks are dropped by plan, since their latency would differ from run to run.
    settings = Settings(port=0, db=tmp_path / "h.db", public_url=SHOWN_BASE_URL, callback_plan={"mode": "drop"})
    app = make_app(settings, clock=ManualClock(), ids=IdGenerator(seed=7))
    # A tab's underline slides when its label grows a marker: a picture taken mid-slide differs by run.
    app.animation_level = "none"
    return app


def order(phone: str = WANJIKU, amount: int = 1500, reference: str = "INV-2041") -> PushOrder:
    return PushOrder(
        shortcode="174379",
        transaction_type=PAYBILL,
        amount=amount,
        party_a=phone,
        party_b="174379",
        phone=phone,
        callback_url="https://shop.example/mpesa/callback",
        account_reference=reference,
        transaction_desc="Payment",
    )


async def until_ready(pilot) -> None:
    await pilot.app.ready.wait()
    await pilot.pause()


async def until(pilot, condition) -> None:
    """Wait for ``condition``, then for the screen to catch up."""
    for _ in range(200):
        if condition():
            break
        await pilot.pause(0.01)
    else:
        raise AssertionError("the scene never got ready")
    await pilot.pause()


def still_cursor(app: HandsetApp) -> None:
    for field in app.query("Input"):
        field.cursor_blink = False


def test_home(snap_compare, snapshot_app):
    """Three configured phones, the first on screen, an empty activity log."""
    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=until_ready)


def test_live_prompt(snap_compare, snapshot_app):
    """An STK prompt on the phone on screen: text, masked PIN (two digits typed), countdown."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await until_ready(pilot)
        await app.simulator.push(order())
        await until(pilot, lambda: app.phones[WANJIKU].prompt_waiting)
        app.simulator.clock.advance(17)
        app.phones[WANJIKU].prompt.refresh_countdown()
        await pilot.press("1", "2")
        still_cursor(app)

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=run_before)


def test_success_sms(snap_compare, snapshot_app):
    """After the right PIN: the confirmation SMS on top of the inbox, the balance down."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await until_ready(pilot)
        await app.simulator.push(order())
        await until(pilot, lambda: app.phones[WANJIKU].prompt_waiting)
        await pilot.press(*"1234", "enter")
        await until(pilot, lambda: app.phones[WANJIKU].inbox.bubbles)

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=run_before)


def test_prompts_on_other_tabs(snap_compare, snapshot_app):
    """Prompts on phones not on screen mark their tabs and raise one notification."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await until_ready(pilot)
        await asyncio.gather(  # in one loop turn, as a burst from a merchant would be
            app.simulator.push(order("254712345678", 250, "ORDER-77")),
            app.simulator.push(order("254722000111", 2000, "RENT-NOV")),
        )
        # The notification, and both tabs relabelled with their ● (relabels are batched).
        await until(
            pilot,
            lambda: (
                app._notifications
                and all(
                    app.tabs.get_tab(f"phone-{msisdn}").label.plain.endswith("●")
                    for msisdn in ("254712345678", "254722000111")
                )
            ),
        )

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=run_before)


def test_activity_log(snap_compare, snapshot_app):
    """Requests (one rejected, with its code and reason), a payment, callback attempts; one highlighted."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await until_ready(pilot)
        sim = app.simulator
        now = sim.clock.now()
        sim.bus.publish(
            RequestHandled(
                at=now,
                method="GET",
                path="/oauth/v1/generate?grant_type=client_credentials",
                status=200,
                response_body='{"access_token": "x", "expires_in": "3599"}',
                latency_ms=1.2,
            )
        )
        sim.bus.publish(
            RequestHandled(
                at=now,
                method="POST",
                path="/mpesa/stkpush/v1/processrequest",
                status=500,
                error_code="500.001.1001",
                reason="the Password is not base64 of BusinessShortCode + passkey + Timestamp",
                request_body='{"BusinessShortCode": "174379"}',
                latency_ms=2.4,
            )
        )
        txn = await sim.push(order())
        # Late, not dropped: the picture's callback attempts below stand for its late delivery.
        sim.set_callback_plan(txn.checkout_request_id, CallbackPlan(mode="late"))
        sim.clock.advance(9)
        sim.cancel(txn.checkout_request_id)
        for number, (status, error, latency) in enumerate(
            [(None, "connection refused by shop.example: nothing is listening on that port", 3.0), (200, None, 41.0)],
            start=1,
        ):
            sim.bus.publish(
                CallbackAttempted(
                    at=sim.clock.now(),
                    final=error is None,
                    attempt=CallbackAttempt(
                        delivery_id=f"stk_callback:{txn.checkout_request_id}",
                        attempt=number,
                        started_at=sim.clock.now(),
                        url=txn.callback_url,
                        request_body=txn.callback_body or "",
                        status=status,
                        response_body='{"ResultCode": 0}' if status else None,
                        latency_ms=latency,
                        error=error,
                    ),
                )
            )
        await until(pilot, lambda: len(app.activity.entries) == 5)
        await pilot.press("l")
        await pilot.pause()

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=run_before)


def fixed_attempt(
    checkout: str, number: int, kind: str, status: int | None, error: str | None, latency: float, at: float, body: str
) -> CallbackAttempt:
    return CallbackAttempt(
        delivery_id=f"stk_callback:{checkout}",
        attempt=number,
        started_at=at,
        url="https://shop.example/mpesa/callback",
        request_body=body,
        status=status,
        response_body='{"ResultCode": 0, "ResultDesc": "Accepted"}' if status else None,
        latency_ms=latency,
        error=error,
        kind=kind,
    )


def test_result_code_picker(snap_compare, snapshot_app):
    """The picker on a live prompt: every code of the spec with its exact ResultDesc, 17 highlighted."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await until_ready(pilot)
        await app.simulator.push(order())
        await until(pilot, lambda: app.phones[WANJIKU].prompt_waiting)
        still_cursor(app)  # the PIN field shows through the dialog's backdrop
        await pilot.press("r", "down", "down")
        await pilot.pause()

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=run_before)


def test_callback_inspector(snap_compare, snapshot_app):
    """Fixed attempts (a refused one, its retry, a resend, an edited and a forged one), the retry chosen."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await until_ready(pilot)
        sim = app.simulator
        txn = await sim.push(order())
        sim.clock.advance(9)
        sim.cancel(txn.checkout_request_id)
        body, checkout, now = txn.callback_body or "", txn.checkout_request_id, sim.clock.now()
        refused = "connection refused by shop.example: nothing is listening on that port"
        attempts = [
            fixed_attempt(checkout, 1, "callback", None, refused, 3.0, now, body),
            fixed_attempt(checkout, 2, "retry", 200, None, 41.0, now + 1, body),
            fixed_attempt(checkout, 3, "resend", 200, None, 12.0, now + 30, body),
            fixed_attempt(
                checkout,
                4,
                "edited",
                500,
                "merchant answered HTTP 500 (merchant error)",
                8.0,
                now + 45,
                body.replace('"ResultCode":1032', '"ResultCode":0'),
            ),
            fixed_attempt("ws_CO_27112026185100000708374149", 1, "forged", 200, None, 9.0, now + 60, body),
        ]
        for attempt in attempts:
            sim.store.add_attempt(attempt)  # the engine's log, as if the sends had happened
        await pilot.press("i")
        await pilot.pause()
        await pilot.press("down", "down", "down")
        await pilot.pause()

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=run_before)


def test_settings_screen(snap_compare, snapshot_app):
    """The settings as configured: human mode, current eras, default lifetimes."""

    async def run_before(pilot) -> None:
        await until_ready(pilot)
        await pilot.press("s")
        await pilot.pause()
        for field in pilot.app.screen.query("Input"):
            field.cursor_blink = False

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=run_before)


# --- 80x24, the reference size: the home screen, a live prompt with the longest merchant name the
# config accepts, and every dialog. ---------------------------------------------------------------
SMALL = (80, 24)
LONGEST_NAME = "Mama Mboga Fresh Produce and General Supplies Limited Nairob"  # 60 characters
LONG_SHORTCODE = "600100"


@pytest.fixture
def small_app() -> HandsetApp:
    # The connect panel shows the database's path: an in-memory one reads the same on every run
    # (a file's absolute path depends on the run, and a longer one scrolls sideways: one row more).
    settings = Settings(
        port=0,
        db=Path(":memory:"),
        public_url=SHOWN_BASE_URL,
        callback_plan={"mode": "drop"},
        merchants=[
            MerchantConfig(shortcode="174379", passkey=SANDBOX_PASSKEY, name="Daraja-Sandbox"),
            MerchantConfig(shortcode=LONG_SHORTCODE, passkey="long-name-passkey", name=LONGEST_NAME),
        ],
    )
    app = make_app(settings, clock=ManualClock(), ids=IdGenerator(seed=7))
    app.animation_level = "none"
    return app


def long_order() -> PushOrder:
    return PushOrder(
        shortcode=LONG_SHORTCODE,
        transaction_type=PAYBILL,
        amount=1500,
        party_a=WANJIKU,
        party_b=LONG_SHORTCODE,
        phone=WANJIKU,
        callback_url="https://shop.example/mpesa/callback",
        account_reference="INV-2041",
        transaction_desc="Payment",
    )


async def live_long_prompt(pilot) -> None:
    app = pilot.app
    await until_ready(pilot)
    await app.simulator.push(long_order())
    await until(pilot, lambda: app.phones[WANJIKU].prompt_waiting)
    app.simulator.clock.advance(17)
    app.phones[WANJIKU].prompt.refresh_countdown()
    still_cursor(app)


def test_home_80x24(snap_compare, small_app):
    """Three phones, the first on screen, the log beside it; the tab strip over both."""

    async def run_before(pilot) -> None:
        await until(pilot, lambda: pilot.app.ready.is_set())

    assert snap_compare(small_app, terminal_size=SMALL, run_before=run_before)


def test_live_prompt_with_the_longest_merchant_name_80x24(snap_compare, small_app):
    """The prompt gets the phone: text, PIN (two digits typed), countdown, OK (still disabled), Cancel."""

    async def run_before(pilot) -> None:
        await live_long_prompt(pilot)
        await pilot.press("1", "2")
        still_cursor(pilot.app)

    assert snap_compare(small_app, terminal_size=SMALL, run_before=run_before)


async def settled(pilot) -> None:
    """Wait until no scrolling container of the screen changes between two frames: a scrollbar
    that appears (the connect panel's long commands) lays the dialog out again a frame later."""

    def scrollers() -> list[tuple]:
        return [
            (widget.size, widget.virtual_size, widget.show_horizontal_scrollbar, widget.show_vertical_scrollbar)
            for widget in pilot.app.screen.query("*")
            if widget.is_scrollable
        ]

    before = None
    for _ in range(100):
        now = scrollers()
        if now == before:
            return
        before = now
        await pilot.pause(0.02)
    raise AssertionError("the dialog's layout never settled")


def dialog_scene(*keys: str, prompt: bool = False, attempts: bool = False, entries: bool = False):
    """A ``run_before`` that sets the scene, then presses ``keys`` to open a dialog."""

    async def run_before(pilot) -> None:
        app = pilot.app
        if prompt:
            await live_long_prompt(pilot)
        else:
            await until_ready(pilot)
        sim = app.simulator
        if attempts or entries:
            txn = await sim.push(order())
            sim.clock.advance(9)
            sim.cancel(txn.checkout_request_id)
            sim.store.add_attempt(
                fixed_attempt(
                    txn.checkout_request_id,
                    1,
                    "callback",
                    None,
                    "connection refused by shop.example: nothing is listening on that port",
                    3.0,
                    sim.clock.now(),
                    txn.callback_body or "",
                )
            )
            await until(pilot, lambda: len(app.activity.entries) >= 1)
        await pilot.press(*keys)
        await pilot.pause()
        for screen in app.screen_stack:
            for field in screen.query("Input"):
                field.cursor_blink = False
        await settled(pilot)

    return run_before


@pytest.mark.parametrize(
    ("keys", "scene"),
    [
        pytest.param(("s",), {}, id="settings"),
        pytest.param(("a",), {}, id="add-handset"),
        pytest.param(("b",), {}, id="balance"),
        pytest.param(("c",), {}, id="connect"),
        pytest.param(("question_mark",), {}, id="keys"),
        pytest.param(("ctrl+r",), {}, id="reset"),
        pytest.param(("r",), {"prompt": True}, id="result-code"),
        pytest.param(("p",), {"prompt": True}, id="callback-plan"),
        pytest.param(("ctrl+q",), {"prompt": True}, id="quit-with-a-prompt"),
        pytest.param(("l", "enter"), {"entries": True}, id="entry-detail"),
        pytest.param(("m",), {}, id="mpesa-menu"),
        pytest.param(("i",), {"attempts": True}, id="callback-inspector"),
        pytest.param(("i", "e"), {"attempts": True}, id="edit-callback"),
        pytest.param(("i", "f"), {"attempts": True}, id="forge-callback"),
    ],
)
def test_dialog_80x24(snap_compare, small_app, keys, scene):
    """Each dialog at 80x24: its fields, its buttons and its key hints, or a scrollbar to reach them."""
    assert snap_compare(small_app, terminal_size=SMALL, run_before=dialog_scene(*keys, **scene))


def test_presenter_mode_100x30(snap_compare, tmp_path):
    """Presenter mode on a projector's 100x30: one phone large and centred, the big countdown,
    the log reduced to its newest line."""
    settings = Settings(port=0, db=tmp_path / "h.db", public_url=SHOWN_BASE_URL, callback_plan={"mode": "drop"})
    app = make_app(settings, clock=ManualClock(), ids=IdGenerator(seed=7), presenter=True)
    app.animation_level = "none"

    async def run_before(pilot) -> None:
        await until_ready(pilot)
        await pilot.app.simulator.push(order())
        await until(pilot, lambda: pilot.app.phones[WANJIKU].prompt_waiting)
        pilot.app.simulator.clock.advance(17)
        pilot.app.phones[WANJIKU].prompt.refresh_countdown()
        await pilot.press("1", "2")
        still_cursor(pilot.app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
