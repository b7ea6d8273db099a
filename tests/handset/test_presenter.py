"""Presenter mode: one phone large and centred, the log one line, a big countdown, an optional bell."""

from __future__ import annotations

from textual.widgets import Digits

import handset.app
from handset.cli import main
from tests.handset.tui_kit import WANJIKU, fully_shown, wait_until

PROJECTOR = (100, 30)


async def test_presenter_mode_gives_the_room_to_one_phone(start_app, receiver, clock):
    async with start_app(size=PROJECTOR, presenter=True) as (app, pilot, merchant):
        assert app.has_class("-presenter")
        phone = app.phones[WANJIKU]
        screen = app.screen.region
        # The phone, centred, is most of the width; the log is one line along the bottom.
        assert phone.region.width >= 70
        assert abs(phone.region.center[0] - screen.center[0]) <= 1
        log = app.activity
        assert log.region.width == screen.width and log.region.height == 3  # its border and one line
        assert log.region.y > phone.region.bottom - 1

        checkout = await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        clock.advance(17)
        big = phone.prompt.query_one("#big-countdown", Digits)
        await wait_until(lambda: big.value == "0:43", "the big countdown")
        parts = [phone.prompt.query_one(part) for part in ("#prompt-text", "#pin", "#big-countdown", "#ok", "#cancel")]
        await wait_until(lambda: all(fully_shown(part) for part in parts), "every part of the prompt on screen")
        assert big.region.height == 3  # three rows tall, for the back of the room
        # The newest entry of the log is its one line.
        await wait_until(lambda: log.up_to_date and log.entries, "the push in the log")
        await pilot.pause()
        assert "/mpesa/stkpush/v1/processrequest" in log.entries[0].summary.plain

        await pilot.press(*"1234", "enter")
        callback = (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]
        assert (callback["CheckoutRequestID"], callback["ResultCode"]) == (checkout, 0)

        await pilot.press("d")  # back to the phones beside the log
        await pilot.pause()
        assert not app.has_class("-presenter")
        assert not big.display
        assert log.region.height > 3 and log.region.x > phone.region.right - 1


async def test_d_turns_presenter_mode_on_and_the_countdown_grows_at_once(start_app, receiver):
    async with start_app(size=PROJECTOR) as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        big = phone.prompt.query_one("#big-countdown", Digits)
        assert not big.display
        await pilot.press("1", "d")  # a letter at the PIN field still reaches the app's keys
        assert app.presenter and app.has_class("-presenter")
        await wait_until(lambda: big.display and big.value == "1:00", "the big countdown")
        assert phone.prompt.pin_field.value == "1" and app.focused is phone.prompt.pin_field


async def test_the_bell_rings_when_a_prompt_arrives(start_app, receiver, monkeypatch):
    async with start_app(size=PROJECTOR, presenter=True, bell=True) as (app, pilot, merchant):
        rings: list[None] = []
        ring = app.bell

        def counted() -> None:
            rings.append(None)
            ring()

        monkeypatch.setattr(app, "bell", counted)
        await merchant.push(receiver.url)
        await wait_until(lambda: rings, "the bell")
        assert len(rings) == 1


async def test_no_bell_unless_asked(start_app, receiver, monkeypatch):
    async with start_app(size=PROJECTOR, presenter=True) as (app, pilot, merchant):
        rings: list[None] = []
        monkeypatch.setattr(app, "bell", lambda: rings.append(None))
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press(*"1234", "enter")  # a full PIN: the handset has no reason to beep
        await receiver.wait_for(1)
        assert rings == []


def test_the_presenter_and_bell_flags_reach_the_app(tmp_path, monkeypatch):
    built = []

    def run_tui(settings, app) -> int:  # the app as the CLI built it, not run: its database closed
        built.append(app)
        app.simulator.store.close()
        return 0

    monkeypatch.setattr(handset.app, "run_tui", run_tui)
    assert main(["--db", str(tmp_path / "h.db"), "--port", "0", "--presenter", "--bell"]) == 0
    assert built[0].presenter and built[0].bell_on_prompt
    assert main(["--db", str(tmp_path / "h.db"), "--port", "0"]) == 0
    assert not built[1].presenter and not built[1].bell_on_prompt
