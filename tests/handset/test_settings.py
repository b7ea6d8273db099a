"""The settings screen: unattended mode, Daraja's eras, token revocation; checked over real HTTP."""

from __future__ import annotations

from textual.widgets import Select

from handset.screens.settings import SettingsScreen
from tests.handset.tui_kit import WANJIKU, wait_until


async def open_settings(app, pilot) -> SettingsScreen:
    await pilot.press("s")
    assert isinstance(app.screen, SettingsScreen)
    return app.screen


async def test_approve_mode_pays_without_a_key_after_the_think_time(start_app, receiver, clock):
    async with start_app() as (app, pilot, merchant):
        assert app.sub_title.endswith("· mode human")
        settings = await open_settings(app, pilot)
        await pilot.press("enter", "down", "enter")  # open the mode list, human → approve
        assert settings.query_one("#mode", Select).value == "approve"
        settings.query_one("#think_time").value = "2"
        await pilot.press("ctrl+s")
        assert app.screen is not settings
        assert app.simulator.settings.unattended.mode == "approve"
        assert app.sub_title.endswith("· mode approve · think 2 s")

        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt, shown while the rule thinks")
        clock.advance(2)
        callback = (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]
        assert callback["ResultCode"] == 0
        await wait_until(lambda: not phone.prompt_waiting, "the prompt to close")
        await wait_until(lambda: phone.inbox.bubbles, "the confirmation SMS")


async def test_legacy_query_pending_answers_500_for_a_live_prompt(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        settings = await open_settings(app, pilot)
        settings.query_one("#query_pending", Select).value = "legacy"
        await pilot.press("ctrl+s")
        assert app.simulator.settings.query_pending == "legacy"

        checkout = await merchant.push(receiver.url)
        await wait_until(lambda: app.phones[WANJIKU].prompt_waiting, "the prompt")
        response = await merchant.daraja.query(checkout)
        assert response.status_code == 500
        assert response.json()["errorCode"] == "500.001.1001"
        assert response.json()["errorMessage"] == "The transaction is being processed"


async def test_revoked_tokens_get_404_001_03(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        await merchant.push(receiver.url)  # the merchant holds a working token
        settings = await open_settings(app, pilot)
        settings.query_one("#revoke").focus()
        await pilot.press("enter")
        assert "revoked" in str(settings.query_one("#tokens-note").content)
        await pilot.press("escape")

        response = await merchant.daraja.push(receiver.url, Amount=7)
        assert response.status_code == 404
        assert response.json()["errorCode"] == "404.001.03"
        assert response.json()["errorMessage"] == "Invalid Access Token"


async def test_a_refused_value_is_shown_and_nothing_changes(start_app):
    async with start_app() as (app, pilot, merchant):
        settings = await open_settings(app, pilot)
        settings.query_one("#busy_phone", Select).value = "error"
        settings.query_one("#token_lifetime").value = "0"
        await pilot.press("ctrl+s")
        assert app.screen is settings
        assert settings.error_text == "token_lifetime: Input should be greater than or equal to 1"
        assert app.simulator.settings.busy_phone == "callback"  # all or nothing

        settings.query_one("#token_lifetime").value = "60"
        settings.query_one("#prompt_timeout").value = "90"
        await pilot.press("ctrl+s")
        assert app.screen is not settings
        assert (app.simulator.settings.token_lifetime, app.simulator.settings.prompt_timeout) == (60, 90)
        assert app.simulator.settings.busy_phone == "error"


async def test_rules_and_retries_from_the_settings_screen(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        settings = await open_settings(app, pilot)
        rules = settings.query_one("#rules")
        rules.text = "[{not json"
        await pilot.press("ctrl+s")
        assert app.screen is settings
        assert settings.error_text.startswith("the rules are not JSON")

        rules.text = '[{"amount": 17, "outcome": 17}, {"msisdn": "254700000000"}]'
        await pilot.press("ctrl+s")
        assert app.screen is settings and "outcome" in settings.error_text  # the second rule lacks one

        rules.text = '[{"amount": 17, "outcome": 17}]'
        settings.query_one("#callback_retries").value = "2"
        settings.query_one("#seed").value = "9"
        await pilot.press("ctrl+s")
        assert app.screen is not settings
        assert app.simulator.settings.callback_retries == 2
        assert app.simulator.settings.unattended.seed == 9
        assert [r.amount for r in app.simulator.settings.unattended.rules] == [17]

        await merchant.push(receiver.url, Amount=17)  # answered by the rule, no key pressed
        callback = (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]
        assert (callback["ResultCode"], callback["ResultDesc"]) == (17, "Rule limited.")

        reopened = await open_settings(app, pilot)
        assert '"amount": 17' in reopened.query_one("#rules").text  # what is in force is shown
