"""End to end through the phone: a real STK Push arrives, keys are pressed, the merchant gets its callback."""

from __future__ import annotations

from textual.widgets import Input

from handset.widgets.phone import Phone
from tests.handset.tui_kit import ACHIENG, OTIENO, WANJIKU, wait_until

SUCCESS_SMS_TAIL = (
    " Confirmed. Ksh100.00 sent to DARAJA-SANDBOX for account ORDER1 on 27/11/26 at 6:50 PM "
    "New M-PESA balance is Ksh9,900.00. Transaction cost, Ksh0.00. "
    "Amount you can transact within the day is 499,900.00."
)


def tab_text(app, msisdn: str) -> str:
    return app.tabs.get_tab(f"phone-{msisdn}").label.plain


async def test_correct_pin_pays_and_sends_the_success_callback(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone: Phone = app.phones[WANJIKU]
        checkout = await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt on Wanjiku's phone")

        assert phone.prompt.query_one("#prompt-text").content == (
            "Do you want to pay Ksh100.00 to DARAJA-SANDBOX Account no. ORDER1? Enter M-PESA PIN"
        )
        await wait_until(lambda: tab_text(app, WANJIKU).endswith("●"), "the dot on Wanjiku's tab")
        assert app.focused is phone.prompt.pin_field  # the phone on screen takes the PIN at once
        assert "1:00 left" in str(phone.prompt.query_one("#countdown").content)

        await pilot.press("1", "2", "3", "5", "backspace", "4")
        assert phone.prompt.pin_field.value == "1234"
        await pilot.press("enter")

        received = await receiver.wait_for(1)
        callback = received[0].json["Body"]["stkCallback"]
        assert callback["CheckoutRequestID"] == checkout
        assert callback["ResultCode"] == 0
        assert callback["ResultDesc"] == "The service request is processed successfully."
        items = callback["CallbackMetadata"]["Item"]
        assert [item["Name"] for item in items] == [
            "Amount",
            "MpesaReceiptNumber",
            "Balance",
            "TransactionDate",
            "PhoneNumber",
        ]
        receipt = items[1]["Value"]

        await wait_until(lambda: phone.inbox.bubbles, "the confirmation SMS")
        sms = phone.inbox.bubbles[0].sms
        assert sms.text == receipt + SUCCESS_SMS_TAIL
        assert not phone.prompt_waiting
        await wait_until(lambda: not tab_text(app, WANJIKU).endswith("●"), "the dot to go")
        assert "Ksh9,900.00" in str(phone.query_one("#wallet").content)
        assert not phone.notice.display


async def test_wrong_pin_settles_2001_and_the_phone_says_so(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press("9", "9", "9", "9", "enter")

        callback = (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]
        assert callback["ResultCode"] == 2001
        assert callback["ResultDesc"] == "The initiator information is invalid."
        assert "CallbackMetadata" not in callback
        await wait_until(lambda: phone.notice.display, "the wrong-PIN notice")
        assert phone.notice.text.startswith("Wrong PIN.")
        assert not phone.prompt_waiting
        assert phone.inbox.bubbles == []
        assert "Ksh10,000.00" in str(phone.query_one("#wallet").content)
        # The notice's OK takes the focus, so Enter clears it like on a handset.
        await pilot.press("enter")
        assert not phone.notice.display


async def test_insufficient_funds_settles_1_and_the_phone_says_so(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        await app.activate_phone(ACHIENG)  # Achieng has Ksh500
        phone = app.phones[ACHIENG]
        await merchant.push(receiver.url, Amount=1000, PartyA=ACHIENG, PhoneNumber=ACHIENG)
        await wait_until(lambda: phone.prompt_waiting, "the prompt on Achieng's phone")
        await pilot.press("1", "2", "3", "4", "enter")

        callback = (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]
        assert callback["ResultCode"] == 1
        assert callback["ResultDesc"] == "The balance is insufficient for the transaction."
        await wait_until(lambda: phone.notice.display, "the insufficient-funds notice")
        assert phone.notice.text.startswith("Failed. You do not have enough money")
        assert "Ksh500.00" in str(phone.query_one("#wallet").content)


async def test_escape_cancels_with_1032_and_leaves_nothing_on_the_phone(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press("1", "escape")

        callback = (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]
        assert callback["ResultCode"] == 1032
        assert callback["ResultDesc"] == "Request cancelled by user"
        await wait_until(lambda: not phone.prompt_waiting, "the prompt to go")
        assert not phone.notice.display
        assert phone.inbox.bubbles == []
        await wait_until(lambda: not tab_text(app, WANJIKU).endswith("●"), "the dot to go")


async def test_the_mouse_answers_too(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the first prompt")
        await pilot.pause()  # let the dialog be laid out before aiming at its buttons
        assert await pilot.click("#handset-254708374149 #cancel")
        assert (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]["ResultCode"] == 1032

        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the second prompt")
        await pilot.pause()
        assert await pilot.click("#handset-254708374149 #pin")
        await pilot.press(*"1234")
        assert await pilot.click("#handset-254708374149 #ok")
        assert (await receiver.wait_for(2))[1].json["Body"]["stkCallback"]["ResultCode"] == 0


async def test_unanswered_prompt_times_out_with_1037_and_vanishes(start_app, receiver, clock):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        clock.advance(30)
        await wait_until(lambda: "0:30 left" in str(phone.prompt.query_one("#countdown").content), "0:30 left")
        clock.advance(31)

        callback = (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]
        assert callback["ResultCode"] == 1037
        assert callback["ResultDesc"] == "DS timeout user cannot be reached"
        await wait_until(lambda: not phone.prompt_waiting, "the prompt to vanish")
        assert not phone.prompt.display
        assert not phone.notice.display
        assert phone.inbox.bubbles == []


async def test_each_phone_keeps_its_own_countdown(start_app, receiver, clock):
    async with start_app() as (app, pilot, merchant):
        wanjiku, otieno = app.phones[WANJIKU], app.phones[OTIENO]
        await merchant.push(receiver.url)
        clock.advance(20)
        await merchant.push(receiver.url, PartyA=OTIENO, PhoneNumber=OTIENO)
        await wait_until(lambda: wanjiku.prompt_waiting and otieno.prompt_waiting, "two prompts")

        async def left_on(msisdn: str) -> str:
            await app.activate_phone(msisdn)
            phone = app.phones[msisdn]
            phone.prompt.refresh_countdown()
            return str(phone.prompt.query_one("#countdown").content)

        assert "0:40 left" in await left_on(WANJIKU)
        assert "1:00 left" in await left_on(OTIENO)
        clock.advance(41)  # Wanjiku's prompt is 61 s old, Otieno's 41 s
        callback = (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]
        assert callback["ResultCode"] == 1037
        assert callback["CheckoutRequestID"].endswith(WANJIKU[-9:])
        await wait_until(lambda: not wanjiku.prompt_waiting, "Wanjiku's prompt to time out")
        assert otieno.prompt_waiting
        # The phone on screen counts down by itself, once a second.
        await wait_until(lambda: "0:19 left" in str(otieno.prompt.query_one("#countdown").content), "0:19")
        await wait_until(lambda: not tab_text(app, WANJIKU).endswith("●"), "the dot to leave Wanjiku's tab")
        assert tab_text(app, OTIENO).endswith("●")
        assert not wanjiku.prompt.display


async def test_a_prompt_elsewhere_never_steals_focus(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        await app.activate_phone(OTIENO)
        otieno, wanjiku = app.phones[OTIENO], app.phones[WANJIKU]
        await merchant.push(receiver.url, PartyA=OTIENO, PhoneNumber=OTIENO)
        await wait_until(lambda: otieno.prompt_waiting, "Otieno's prompt")
        await pilot.pause()
        assert app.focused is otieno.prompt.pin_field
        await pilot.press("1", "2")

        await merchant.push(receiver.url)  # to Wanjiku, whose tab is not on screen
        await wait_until(lambda: wanjiku.prompt_waiting, "Wanjiku's prompt")
        await pilot.pause()
        assert app.tabs.active == f"phone-{OTIENO}"
        assert app.focused is otieno.prompt.pin_field
        await wait_until(lambda: tab_text(app, WANJIKU).endswith("●"), "the dot on Wanjiku's tab")
        await wait_until(lambda: app._notifications, "a notification")
        assert any("Wanjiku Kamau: pay Ksh100.00 to Daraja-Sandbox" in n.message for n in app._notifications)

        await pilot.press("3", "4", "enter")  # the keys kept going to Otieno
        callback = (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]
        assert callback["ResultCode"] == 0
        assert callback["CheckoutRequestID"].endswith(OTIENO[-9:])
        assert wanjiku.prompt_waiting

        await pilot.press("n")  # next waiting prompt
        assert app.tabs.active == f"phone-{WANJIKU}"
        assert app.focused is wanjiku.prompt.pin_field
        assert isinstance(app.focused, Input)


async def test_a_busy_push_to_the_phone_on_screen_leaves_the_pin_field_alone(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        await app.activate_phone(WANJIKU)
        wanjiku = app.phones[WANJIKU]
        first = await merchant.push(receiver.url)
        await wait_until(lambda: wanjiku.prompt_waiting, "the prompt")
        await pilot.pause()
        await pilot.press("1", "2")
        assert app.focused is wanjiku.prompt.pin_field

        # A second push to the same phone settles 1001 (busy) and sends its callback; the prompt
        # on screen, the half-typed PIN and the focus stay as they were.
        await merchant.push(receiver.url)
        busy = (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]
        assert busy["ResultCode"] == 1001
        await wait_until(lambda: any("1001" in e.summary.plain for e in app.activity.entries), "the 1001 entry")
        await pilot.pause()
        assert wanjiku.transaction is not None and wanjiku.transaction.checkout_request_id == first
        assert app.focused is wanjiku.prompt.pin_field
        assert wanjiku.prompt.pin_field.value == "12"
        assert tab_text(app, WANJIKU).endswith("●")

        await pilot.press("3", "4", "enter")
        paid = (await receiver.wait_for(2))[1].json["Body"]["stkCallback"]
        assert paid["ResultCode"] == 0 and paid["CheckoutRequestID"] == first
