"""Power tools at the prompt: any result code, a callback plan, the PIN lock; real pushes, real callbacks."""

from __future__ import annotations

from handset.screens.prompt_tools import CallbackPlanScreen, ResultCodeScreen
from server.models import CALLBACK_DROPPED
from tests.handset.tui_kit import WANJIKU, wait_until


def stk(received) -> dict:
    return received.json["Body"]["stkCallback"]


async def test_a_picked_result_code_reaches_the_merchant_exactly(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        first = await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press("1", "2")
        assert app.focused is phone.prompt.pin_field
        await pilot.press("r")  # a letter: the PIN field lets it through to the app
        assert phone.prompt.pin_field.value == "12"
        assert isinstance(app.screen, ResultCodeScreen)
        await pilot.press("down", "down", "enter")  # 0, 1, 17

        callback = stk((await receiver.wait_for(1))[0])
        assert callback["CheckoutRequestID"] == first
        assert callback["ResultCode"] == 17
        assert callback["ResultDesc"] == "Rule limited."
        assert "CallbackMetadata" not in callback
        await wait_until(lambda: not phone.prompt_waiting, "the prompt to close")

        await merchant.push(receiver.url, Amount=101)
        await wait_until(lambda: phone.prompt_waiting, "the second prompt")
        await pilot.press("r", "end", "enter")  # the last code: the string one
        callback = stk((await receiver.wait_for(2))[1])
        assert callback["ResultCode"] == "SFC_IC0003"  # a string on the wire, as Daraja sends it
        assert callback["ResultDesc"] == "The operator does not exist."
        assert "Ksh10,000.00" in str(phone.query_one("#wallet").content)


async def test_paying_more_than_the_balance_by_code_0_is_refused_in_the_picker(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url, Amount=20_000)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press("r", "enter")  # code 0 on a Ksh10,000 account
        assert (
            app.screen.error_text
            == "the payment cannot go through: the balance, Ksh10,000.00, is less than Ksh20,000.00"
        )
        await pilot.press("escape")
        assert phone.prompt_waiting and app.focused is phone.prompt.pin_field


async def test_a_dropped_callback_never_arrives(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        checkout = await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press("p")
        assert isinstance(app.screen, CallbackPlanScreen)
        await pilot.press("down", "down", "down", "enter")  # normal, delay, late, drop
        assert str(phone.prompt.query_one("#plan").content) == "↩ Callback: drop"
        await pilot.press(*"1234", "enter")

        await wait_until(lambda: not phone.prompt_waiting, "the payment")
        txn = app.simulator.transaction(checkout)
        assert txn.result_code == "0" and txn.callback_state == CALLBACK_DROPPED
        await app.simulator.callbacks.wait_idle()  # anything started has arrived by now
        assert receiver.received == [] and app.simulator.callbacks.scheduled == 0
        # The log says the drop was meant, on the payment's own entry.
        await wait_until(
            lambda: any(e.checkout_request_id == checkout and e.kind == "settled" for e in app.activity.entries),
            "the payment's entry",
        )
        settled = next(e for e in app.activity.entries if e.checkout_request_id == checkout and e.kind == "settled")
        assert "↩ callback dropped on purpose (plan: drop)" in settled.summary.plain
        assert dict(settled.facts)["Callback"].startswith("callback dropped on purpose")

        # The next payment's callback is the first the merchant ever gets: the dropped one never went.
        following = await merchant.push(receiver.url, Amount=7)
        await wait_until(lambda: phone.prompt_waiting, "the next prompt")
        await pilot.press(*"1234", "enter")
        [first] = await receiver.wait_for(1)
        assert stk(first)["CheckoutRequestID"] == following
        assert app.simulator.store.attempts(checkout) == []


async def test_a_plan_set_through_the_control_api_shows_on_the_prompt(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        checkout = await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        assert not phone.prompt.query_one("#plan").display
        response = await merchant.client.put(
            f"/simulator/transactions/{checkout}/callback-plan",
            json={"mode": "delay", "seconds": 30},
        )
        assert response.status_code == 200
        plan = phone.prompt.query_one("#plan")
        await wait_until(lambda: plan.display and str(plan.content) == "↩ Callback: delay 30 s", "the plan")
        response = await merchant.client.put(f"/simulator/transactions/{checkout}/callback-plan", json={"mode": "drop"})
        assert response.status_code == 200
        await wait_until(lambda: str(plan.content) == "↩ Callback: drop", "the new plan")
        await pilot.press("escape")
        await wait_until(
            lambda: any(
                e.checkout_request_id == checkout and "dropped on purpose" in e.summary.plain
                for e in app.activity.entries
            ),
            "the drop in the log",
        )


async def test_duplicate_2_sends_the_same_bytes_twice(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press("p", "end", "enter")  # duplicate, two copies by default
        assert str(phone.prompt.query_one("#plan").content) == "↩ Callback: duplicate ×2"
        await pilot.press(*"1234", "enter")

        first, second = await receiver.wait_for(2)
        assert first.raw == second.raw
        assert stk(first)["ResultCode"] == 0
        await app.simulator.callbacks.wait_idle()
        assert len(receiver.received) == 2


async def test_a_delay_plan_waits_for_the_clock(start_app, receiver, clock):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press("p", "down")
        plan = app.screen
        plan.query_one("#seconds").value = "45"
        await pilot.press("enter")
        assert str(phone.prompt.query_one("#plan").content) == "↩ Callback: delay 45 s"
        await pilot.press(*"1234", "enter")
        await wait_until(lambda: not phone.prompt_waiting, "the payment")
        await app.simulator.callbacks.wait_idle()
        assert receiver.received == [] and app.simulator.callbacks.scheduled == 1
        clock.advance(45)
        assert stk((await receiver.wait_for(1))[0])["ResultCode"] == 0


async def test_three_wrong_pins_lock_the_phone_until_u(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        for amount in (101, 102, 103):
            await merchant.push(receiver.url, Amount=amount)
            await wait_until(lambda: phone.prompt_waiting, "a prompt")
            await pilot.press(*"9999", "enter")
            await wait_until(lambda: not phone.prompt_waiting, "the wrong PIN")
        await wait_until(lambda: phone.has_class("-locked"), "the lock on the phone")
        assert phone.query_one("#lock").display
        assert "PIN locked" in str(phone.query_one("#lock").content)
        await wait_until(lambda: "⊘" in app.tabs.get_tab(f"phone-{WANJIKU}").label.plain, "the lock on the tab")

        await merchant.push(receiver.url, Amount=104)
        callback = stk((await receiver.wait_for(4))[3])
        assert callback["ResultCode"] == 8006
        assert callback["ResultDesc"] == "The security credential is locked."
        assert not phone.prompt_waiting

        await pilot.press("u")
        await wait_until(lambda: not phone.has_class("-locked"), "the unlock")
        await wait_until(lambda: "⊘" not in app.tabs.get_tab(f"phone-{WANJIKU}").label.plain, "the tab unlocked")
        await merchant.push(receiver.url, Amount=105)
        await wait_until(lambda: phone.prompt_waiting, "a prompt after the unlock")
        await pilot.press(*"1234", "enter")
        assert stk((await receiver.wait_for(5))[4])["ResultCode"] == 0
