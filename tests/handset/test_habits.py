"""A person's habits at the keyboard: no stray key pays, cancels, quits or resets by accident."""

from __future__ import annotations

from textual.widgets import Button

from handset.screens.confirm import ConfirmScreen
from handset.screens.prompt_tools import ResultCodeScreen
from handset.screens.settings import SettingsScreen
from tests.handset.tui_kit import OTIENO, WANJIKU, wait_until


def stk(received) -> dict:
    return received.json["Body"]["stkCallback"]


async def test_ok_stays_disabled_and_a_short_pin_is_never_sent(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        checkout = await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        ok = phone.prompt.query_one("#ok", Button)
        assert ok.disabled
        await pilot.press("1", "2", "3")
        assert ok.disabled
        await pilot.press("enter")  # three digits: the handset keeps them and sends nothing
        assert phone.prompt_waiting and phone.prompt.pin_field.value == "123"
        assert app.focused is phone.prompt.pin_field
        assert app.simulator.handset(WANJIKU).wrong_pins == 0
        assert (await merchant.daraja.query(checkout)).json()["ResultCode"] == "4999"  # still waiting

        await pilot.press("4")
        assert not ok.disabled
        await pilot.press("backspace")
        assert ok.disabled
        await pilot.press("4", "enter")
        [callback] = await receiver.wait_for(1)
        assert (stk(callback)["CheckoutRequestID"], stk(callback)["ResultCode"]) == (checkout, 0)


async def test_a_prompt_that_arrives_under_a_dialog_gets_the_keys_when_it_closes(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await pilot.press("s")
        assert isinstance(app.screen, SettingsScreen)
        checkout = await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt, under the dialog")
        assert app.focused is not phone.prompt.pin_field

        await pilot.press("escape")  # closes the settings
        await wait_until(lambda: app.focused is phone.prompt.pin_field, "the PIN field to take the keys")
        await pilot.press(*"1234", "enter")
        [callback] = await receiver.wait_for(1)
        assert (stk(callback)["CheckoutRequestID"], stk(callback)["ResultCode"]) == (checkout, 0)


async def test_the_esc_after_a_dialog_closes_never_cancels_the_payment(start_app, receiver, monkeypatch):
    from handset.widgets import stk_prompt

    # A guard far longer than the real half second, so that a slow machine cannot outlast it
    # between the two presses and the checks; the second half shortens it again to see it end.
    monkeypatch.setattr(stk_prompt, "ESCAPE_GUARD", 60.0)
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        checkout = await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press("1", "2", "r")  # the result-code picker, over the prompt
        assert isinstance(app.screen, ResultCodeScreen)
        await pilot.press("escape", "escape")  # the first closes the picker, the second is habit
        assert app.screen is app.screen_stack[0]
        assert phone.prompt_waiting and phone.prompt.escape_ignored
        assert app.focused is phone.prompt.pin_field and phone.prompt.pin_field.value == "12"
        await pilot.press("3", "4", "enter")  # the payment was still there to pay
        [callback] = await receiver.wait_for(1)
        assert (stk(callback)["CheckoutRequestID"], stk(callback)["ResultCode"]) == (checkout, 0)

        # Away from a dialog, one Esc is still one deliberate cancel, as the handset's Cancel key.
        second = await merchant.push(receiver.url, Amount=5)
        await wait_until(lambda: phone.prompt_waiting, "the second prompt")
        monkeypatch.setattr(stk_prompt, "ESCAPE_GUARD", 0.5)
        await pilot.press("p", "escape")  # the plan dialog, closed
        await wait_until(lambda: not phone.prompt.escape_ignored, "the half second after the dialog")
        await pilot.press("escape")
        callback = (await receiver.wait_for(2))[1]
        assert (stk(callback)["CheckoutRequestID"], stk(callback)["ResultCode"]) == (second, 1032)


async def test_ctrl_q_with_prompts_waiting_asks_once(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        await merchant.push(receiver.url)
        await merchant.push(receiver.url, PartyA=OTIENO, PhoneNumber=OTIENO)
        await wait_until(lambda: len(app.simulator.live_transactions()) == 2, "two prompts")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "2 payment prompts are waiting" in str(app.screen.query_one("#question").content)
        await pilot.press("escape")  # stay
        assert app.screen is app.screen_stack[0] and app.is_running
        await pilot.press("ctrl+q")
        await pilot.press("ctrl+q")  # asked once: the second Ctrl+Q quits
        await wait_until(lambda: not app.is_running, "the app to quit")
    assert app.return_code == 0


async def test_ctrl_q_with_no_prompt_quits_at_once(start_app):
    async with start_app() as (app, pilot, merchant):
        await pilot.press("ctrl+q")
        await wait_until(lambda: not app.is_running, "the app to quit, with no question")


async def test_ctrl_r_resets_the_emulator_after_asking(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press(*"1234", "enter")
        await receiver.wait_for(1)
        await wait_until(lambda: app.simulator.handset(WANJIKU).balance_cents == 990_000, "the payment")

        await pilot.press("ctrl+r")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.focused is app.screen.query_one("#back")  # the safe answer has the keyboard
        await pilot.press("enter")  # "Back": nothing happens
        assert app.screen is app.screen_stack[0]
        assert (await merchant.client.get(f"/simulator/handsets/{WANJIKU}")).json()["balance"] == 9900

        await pilot.press("ctrl+r")
        await pilot.click("#confirm")
        await wait_until(lambda: app.simulator.handset(WANJIKU).balance_cents == 1_000_000, "the reset")
        assert (await merchant.client.get(f"/simulator/handsets/{WANJIKU}")).json()["balance"] == 10000
        assert (await merchant.client.get("/simulator/transactions")).json()["transactions"] == []
        await wait_until(lambda: WANJIKU in app.phones and app.phones[WANJIKU] is not phone, "the phones rebuilt")


async def test_the_main_screen_keys_do_nothing_behind_a_dialog(start_app):
    """Textual keeps app keys away from a modal screen; this holds it (a priority binding would not)."""
    from handset.screens.inspector import CallbackInspectorScreen

    async with start_app() as (app, pilot, merchant):
        await pilot.press("i")
        inspector = app.screen
        assert isinstance(inspector, CallbackInspectorScreen)
        # o would take the hidden phone off the network; s, a, b, ctrl+r would open a dialog on this one.
        await pilot.press("o", "s", "a", "b", "d", "n", "ctrl+r")
        await pilot.pause()
        assert app.screen_stack == [app.screen_stack[0], inspector]
        assert app.simulator.handset(WANJIKU).online and not app.presenter
        footer_keys = {binding.key for _, binding, enabled, _ in app.screen.active_bindings.values() if enabled}
        assert {"o", "s", "a", "ctrl+r"}.isdisjoint(footer_keys) and "e" in footer_keys  # its own keys stay
        await pilot.press("escape")
        await pilot.press("o")  # the same key on the main screen does its work
        await wait_until(lambda: not app.simulator.handset(WANJIKU).online, "the phone goes offline")
