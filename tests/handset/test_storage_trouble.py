"""The TUI when the disk refuses writes: the person sees why, and the prompt is not lost."""

from __future__ import annotations

from tests.handset.tui_kit import WANJIKU, wait_until


async def test_a_full_disk_is_shown_and_the_prompt_survives(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        checkout = await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        db = app.simulator.store._db
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")

        # Each of these needs a new page sooner or later: a settlement, its SMS, a push.
        refused = None
        for n in range(60):
            response = await merchant.daraja.push(receiver.url, PhoneNumber=254791000000 + n, PartyA=254791000000 + n)
            if response.status_code != 200:
                refused = response
                break
        assert refused is not None and refused.json()["errorCode"] == "500.003.02"
        await wait_until(
            lambda: any("is full" in e.summary.plain for e in app.activity.entries), "the refusal in the log"
        )
        entry = next(e for e in app.activity.entries if "is full" in e.summary.plain)
        assert "500.003.02" in entry.summary.plain

        await pilot.press(*"1234", "enter")
        await wait_until(lambda: app._notifications, "a notification")
        assert any("is full" in n.message for n in app._notifications)
        assert app.simulator.live_prompt(WANJIKU) is not None
        assert app.simulator.live_prompt(WANJIKU).checkout_request_id == checkout
        assert app.simulator.handset(WANJIKU).balance_cents == 1_000_000

        db.execute("PRAGMA max_page_count = 1073741823")
        await pilot.press(*"1234", "enter")
        await wait_until(lambda: app.simulator.live_prompt(WANJIKU) is None, "the payment, once there is room")
        assert app.simulator.handset(WANJIKU).balance_cents == 1_000_000 - 100 * 100
