"""The activity log: requests with outcomes, Daraja codes and reasons, callback attempts, bodies."""

from __future__ import annotations

import json
import socket

from textual.widgets import OptionList, TextArea

from handset.screens.detail import EntryDetailScreen
from handset.widgets.activity import CALLBACK, REQUEST, SETTLED
from tests.daraja_client import password
from tests.handset.tui_kit import WANJIKU, wait_until


def summaries(app) -> list[str]:
    return [entry.summary.plain for entry in app.activity.entries]


async def test_a_rejected_push_shows_its_code_and_reason(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        bad = password(passkey="not-the-passkey")
        response = await merchant.daraja.push(receiver.url, Password=bad)
        assert response.status_code == 500
        await wait_until(lambda: len(app.activity.entries) >= 2, "two entries (token, push)")
        await pilot.pause()

        newest = app.activity.entries[0]
        assert newest.kind == REQUEST
        assert "500 POST /mpesa/stkpush/v1/processrequest" in newest.summary.plain
        assert "500.001.1001" in newest.summary.plain
        reason = dict(newest.facts)["Reason"]
        assert reason and reason in newest.summary.plain
        assert "base64" in reason  # the plain-words explanation of "Wrong credentials"
        assert "200 GET  /oauth/v1/generate" in summaries(app)[1]

        # Selecting the entry shows the full bodies.
        await pilot.press("l")
        assert isinstance(app.focused, OptionList)
        app.focused.highlighted = 0
        await pilot.press("enter")
        assert isinstance(app.screen, EntryDetailScreen)
        bodies = [area.text for area in app.screen.query(TextArea)]
        assert json.loads(bodies[0])["Password"] == bad
        assert json.loads(bodies[1])["errorCode"] == "500.001.1001"
        await pilot.press("escape")
        assert not isinstance(app.screen, EntryDetailScreen)


async def test_callback_attempts_are_logged_with_status_and_latency(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press(*"1234", "enter")
        await receiver.wait_for(1)
        await wait_until(lambda: any(e.kind == CALLBACK for e in app.activity.entries), "the callback entry")

        callback = next(e for e in app.activity.entries if e.kind == CALLBACK)
        assert f"200 callback → {receiver.url.split('://')[1]}" in callback.summary.plain
        assert dict(callback.facts)["HTTP status"] == "200"
        assert dict(callback.facts)["Latency"].endswith(" ms")
        sent = json.loads(dict(callback.bodies)["Body sent"])
        assert sent["Body"]["stkCallback"]["ResultCode"] == 0
        settled = next(e for e in app.activity.entries if e.kind == SETTLED)
        assert "Wanjiku Kamau" in settled.summary.plain and "0 paid\n" in settled.summary.plain
        assert "Wanjiku Kamau · Ksh100.00 → Daraja-Sandbox" in settled.summary.plain  # one money format
        assert dict(settled.facts)["Amount"] == "Ksh100.00"


async def test_a_failed_callback_is_diagnosed_in_plain_words(start_app):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(f"http://127.0.0.1:{dead_port}/callback")
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press("escape")
        await wait_until(lambda: any(e.kind == CALLBACK for e in app.activity.entries), "the callback entry")
        callback = next(e for e in app.activity.entries if e.kind == CALLBACK)
        assert "no answer" in callback.summary.plain
        assert "connection refused by 127.0.0.1" in callback.summary.plain
        assert "connection refused" in dict(callback.facts)["Diagnosis"]


async def test_warnings_go_to_the_activity_log_not_the_terminal(start_app):
    import logging

    async with start_app() as (app, pilot, merchant):
        logging.getLogger("server.test").warning("disk is %s", "full")
        await wait_until(lambda: any("disk is full" in s for s in summaries(app)), "the log record")
        assert "WARNING server.test: disk is full" in summaries(app)[0]


async def test_a_burst_beyond_the_cap_keeps_the_newest_entries_newest_first(start_app):
    import logging

    from handset.widgets.activity import KEPT_ENTRIES, log_entry

    def entry(n: int):
        record = logging.LogRecord("burst", logging.WARNING, __file__, 1, "entry %d", (n,), None)
        return log_entry(record, 0.0)

    async with start_app() as (app, pilot, merchant):
        log = app.activity
        options = log.query_one(OptionList)
        for n in range(10):
            log.add(entry(n))
        await wait_until(lambda: log.up_to_date, "the pane updated")
        await pilot.pause()
        await pilot.press("l")
        options.highlighted = 3  # "entry 6"
        assert options.highlighted_option.prompt.plain.endswith("entry 6")
        for n in range(10, 15):
            log.add(entry(n))
        await wait_until(lambda: log.up_to_date, "the pane updated")
        await pilot.pause()
        assert options.highlighted_option.prompt.plain.endswith("entry 6")  # the highlight follows it down

        # Two updates' worth of a flood, the first alone longer than the cap.
        for n in range(15, 10 + KEPT_ENTRIES + 40):
            log.add(entry(n))
        await wait_until(lambda: log.up_to_date, "the pane updated")
        await pilot.pause()
        for n in range(10 + KEPT_ENTRIES + 40, 10 + KEPT_ENTRIES + 60):
            log.add(entry(n))
        await wait_until(lambda: log.up_to_date, "the pane updated")
        await pilot.pause()

        newest = 10 + KEPT_ENTRIES + 59
        expected = [f"entry {n}" for n in range(newest, newest - KEPT_ENTRIES, -1)]
        assert [e.summary.plain.rsplit(": ", 1)[1] for e in log.entries] == expected
        assert options.option_count == KEPT_ENTRIES
        assert [o.prompt.plain.rsplit(": ", 1)[1] for o in options.options] == expected
        assert log.border_subtitle == f"{KEPT_ENTRIES} entries"
        assert options.highlighted is None  # "entry 6" fell off the end
        # Every shown line maps back to its entry (Enter and clicks choose the right one).
        options.highlighted = 2
        await pilot.press("enter")
        assert app.screen.entry.id == log.entries[2].id
        await pilot.press("escape")
        await pilot.pause()
        assert await pilot.click(options, offset=(5, 4))
        await pilot.pause()
        assert app.screen.entry.id == log.entries[4].id


async def test_entry_heights_match_textual_wrapping_at_any_width(start_app):
    """The line map is built without wrapping entries that fit; it must agree with a real wrap,
    for entries that fit, that wrap, and with wide characters."""
    import logging

    from handset.widgets.activity import INDENT, NewestFirstList, log_entry
    from handset.widgets.hanging import hang

    messages = ["short", "x" * 300, "二" * 40, "tab\there", "two\nlines " + "y" * 90]
    async with start_app() as (app, pilot, merchant):
        log = app.activity
        for text in messages:
            log.add(log_entry(logging.LogRecord("h", logging.WARNING, __file__, 1, text, None, None), 0.0))
        await wait_until(lambda: log.up_to_date, "the pane updated")
        await pilot.pause()
        options = log.query_one(NewestFirstList)
        for columns in (100, 140, 200):
            await pilot.resize_terminal(columns, 40)
            await pilot.pause()
            options._relayout_lines()
            width = options.scrollable_content_region.width - options._get_left_gutter_width()
            padding = options.get_component_styles("option-list--option").padding
            for index, option in enumerate(options.options):
                text_width = width - padding.width
                wrapped = hang(option.prompt, text_width, len(INDENT)).get_height(options.styles, text_width)
                assert options._line_cache.heights[index] == wrapped, (columns, option.prompt.plain[:30])


async def test_after_a_restart_the_log_shows_the_history_from_the_database(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        paid = await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press(*"1234", "enter")
        await receiver.wait_for(1)
        cancelled = await merchant.push(receiver.url, Amount=7)
        await wait_until(lambda: phone.prompt_waiting, "the second prompt")
        await merchant.client.post(f"/simulator/transactions/{cancelled}/cancel")
        await receiver.wait_for(2)

    async with start_app() as (app, pilot, merchant):  # the same database, a new process's worth of app
        await wait_until(lambda: app.activity.up_to_date, "the log drawn")
        kinds = [(entry.kind, entry.checkout_request_id) for entry in app.activity.entries]
        assert kinds[0] == ("history", None)  # the divider on top, then the newest first
        assert kinds[1:] == [
            (CALLBACK, cancelled),
            (SETTLED, cancelled),
            (CALLBACK, paid),
            (SETTLED, paid),
        ]
        settled = app.activity.entries[4]
        assert "0 paid" in settled.summary.plain and "Wanjiku Kamau · Ksh100.00" in settled.summary.plain
        assert app.activity.query_one(OptionList).option_count == 5  # on screen, not only in memory


def visible_text(options) -> list[str]:
    """The lines the list shows now, as text (what a person sees in the pane)."""
    from textual.geometry import Region

    region = options.scrollable_content_region
    return [strip.text.strip() for strip in options.render_lines(Region(0, 0, region.width, region.height))]


async def test_the_log_stays_on_the_newest_entry_unless_the_person_reads_older_ones(start_app):
    async with start_app() as (app, pilot, merchant):
        await pilot.resize_terminal(80, 24)
        log = app.activity
        options = log.query_one(OptionList)

        async def requests(count: int, path: str) -> None:
            for _ in range(count):
                assert (await merchant.client.get(path)).status_code == 200
            await wait_until(lambda: len(log.entries) and path in log.entries[0].summary.plain, f"{path} logged")
            await wait_until(lambda: log.up_to_date, "the pane updated")
            await pilot.pause()

        await requests(30, "/simulator/handsets")
        await pilot.press("l")  # a visit to the log: the newest entry is highlighted
        assert options.highlighted == 0
        await requests(5, "/simulator/merchants")
        # Still following: the view is on top, the highlight on the newest entry, which is on screen.
        assert options.scroll_offset.y == 0 and options.highlighted == 0
        assert "/simulator/merchants" in " ".join(visible_text(options)[:3])  # the newest, wrapped
        assert log.unseen == 0 and "new" not in log.border_subtitle

        await pilot.press("down", "down", "down", "down", "down", "down", "down", "down", "down", "down")
        reading = log.entries[options.highlighted]
        top_before = visible_text(options)
        await requests(4, "/simulator/settings")
        # Reading older entries: what is on screen stays put, the new ones are counted above it.
        assert log.entries[options.highlighted] is reading
        assert visible_text(options) == top_before
        assert log.unseen == 4 and log.border_subtitle.startswith("↑ 4 new · ")

        await pilot.press("home")  # back to the newest: following again
        assert log.unseen == 0 and options.scroll_offset.y == 0
        await requests(2, "/simulator/rules")
        assert options.highlighted == 0 and "/simulator/rules" in " ".join(visible_text(options)[:3])


async def test_entries_drawn_before_the_scrollbar_appeared_reflow_to_the_new_width(start_app):
    import logging

    from handset.widgets.activity import log_entry

    async with start_app() as (app, pilot, merchant):
        await pilot.resize_terminal(80, 24)
        log = app.activity
        options = log.query_one(OptionList)

        async def add(numbers: range) -> None:
            for n in numbers:
                text = f"entry {n} " + "word " * 8
                log.add(log_entry(logging.LogRecord("h", logging.WARNING, __file__, 1, text, None, None), 0.0))
            await wait_until(lambda: log.up_to_date, "the pane updated")
            await pilot.pause()

        await add(range(3))  # drawn without a scrollbar
        assert not options.show_vertical_scrollbar
        await add(range(3, 30))  # now the list scrolls: a scrollbar takes a column
        assert options.show_vertical_scrollbar
        options.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        shown = " ".join(visible_text(options)).split("WARNING h:")[1:]
        assert len(shown) >= 5
        for entry in shown:  # every word of every entry, none lost to a width it no longer has
            assert entry.split()[2:10] == ["word"] * 8, entry
        for line in options.render_lines(options.scrollable_content_region.reset_offset):
            assert line.cell_length == options.scrollable_content_region.width
