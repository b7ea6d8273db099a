"""The phone's M-PESA menu (m), driven with keys as a customer would: Lipa na M-PESA and My Account.

Payments go through the real C2B path: the merchant's receiver gets the validation call and the
confirmation over HTTP, the money moves, the SMS lands on the phone.
"""

from __future__ import annotations

from textual.widgets import Input

from handset.screens.mpesa_menu import MpesaMenuScreen
from handset.widgets.activity import C2B
from tests.handset.tui_kit import WANJIKU, Merchant, wait_until
from tests.receiver import CallbackReceiver


async def _register(merchant: Merchant, shortcode: str, receiver: CallbackReceiver, response_type: str = "Completed"):
    token = await merchant.daraja.token()
    answer = await merchant.client.post(
        "/mpesa/c2b/v2/registerurl",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "ShortCode": shortcode,
            "ResponseType": response_type,
            "ConfirmationURL": receiver.url_for("/confirmation"),
            "ValidationURL": receiver.url_for("/validation"),
        },
    )
    assert answer.status_code == 200, answer.text


async def _type(pilot, text: str) -> None:
    await pilot.press(*text, "enter")
    await pilot.pause()


def _menu(app) -> MpesaMenuScreen:
    screen = app.screen
    assert isinstance(screen, MpesaMenuScreen), type(screen)
    return screen


def _question(app) -> str:
    return str(_menu(app).query_one("#question").content)


async def test_pay_bill_from_the_menu_is_a_c2b_payment_with_its_calls(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        await _register(merchant, "600984", receiver)
        await pilot.press("m")
        assert _question(app) == "M-PESA"
        await pilot.press("5")  # Lipa na M-PESA
        assert _question(app) == "Lipa na M-PESA"
        await pilot.press("1")  # Pay Bill
        assert _question(app) == "Enter business no."
        await _type(pilot, "600984")
        assert _question(app) == "Enter account no."
        await _type(pilot, "INV-7")
        assert _question(app) == "Enter amount"
        await _type(pilot, "250")
        assert _question(app) == "Enter PIN"
        assert _menu(app).query_one("#entry", Input).password  # the PIN is not shown
        await _type(pilot, "1234")
        confirm = str(_menu(app).query_one("#confirm").content)
        assert "Pay bill 600984 Account INV-7 Ksh250.00" in confirm and "SAFARICOM DARAJA 984" in confirm
        await pilot.press("enter")  # OK

        await wait_until(lambda: not isinstance(app.screen, MpesaMenuScreen), "the menu to close")
        await receiver.wait_for(2)
        validation, confirmation = receiver.received
        assert (validation.path, confirmation.path) == ("/validation", "/confirmation")
        assert confirmation.json["TransAmount"] == "250.00" and confirmation.json["BillRefNumber"] == "INV-7"
        assert confirmation.json["TransactionType"] == "Pay Bill"
        [payment] = app.simulator.c2b.payments()
        assert (payment.status, payment.via, payment.trans_id) == ("completed", "menu", confirmation.json["TransID"])
        assert app.simulator.handset(WANJIKU).balance_cents == 1_000_000 - 25_000
        await wait_until(lambda: app.phones[WANJIKU].inbox.bubbles, "the SMS on the phone")
        [sms] = app.simulator.inbox(WANJIKU)
        assert sms.text.startswith(f"{payment.trans_id} Confirmed. Ksh250.00 sent to SAFARICOM DARAJA 984")
        assert any("Paid Ksh250.00 to 600984" in n.message for n in app._notifications)
        await wait_until(lambda: any(e.kind == C2B for e in app.activity.entries), "the log entry")
        entry = next(e for e in app.activity.entries if e.kind == C2B)
        assert "from the phone's M-PESA menu" in entry.summary.plain


async def test_buy_goods_pays_a_till(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        await pilot.press("m", "5", "2")
        assert _question(app) == "Enter till no."
        await _type(pilot, "600984")  # a paybill is not a till
        assert "600984 is not a till number here" in _menu(app).error_text
        _menu(app).query_one("#entry", Input).value = ""
        await _type(pilot, "600101")
        await _type(pilot, "70")
        await _type(pilot, "1234")
        assert "Buy goods from till 600101 Ksh70.00" in str(_menu(app).query_one("#confirm").content)
        await pilot.press("enter")
        await wait_until(lambda: not isinstance(app.screen, MpesaMenuScreen), "the menu to close")
        [payment] = app.simulator.c2b.payments()
        assert (payment.status, payment.shortcode, payment.command_id) == (
            "completed",
            "600101",
            "CustomerBuyGoodsOnline",
        )
        [sms] = app.simulator.inbox(WANJIKU)
        assert "Ksh70.00 paid to SANDBOX TILL. on" in sms.text
        assert app.simulator.merchant("600101").balance_cents == 7_000


async def test_wrong_pins_in_the_menu_lock_the_pin_as_on_a_prompt(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        await pilot.press("m", "6", "2")  # My Account > Check Balance
        assert _question(app) == "Enter PIN"
        await _type(pilot, "0000")
        assert "wrong PIN: 2 tries left" in _menu(app).error_text
        assert _question(app) == "Enter PIN"  # asked again
        await _type(pilot, "0000")
        assert "1 try left" in _menu(app).error_text
        await _type(pilot, "0000")
        assert "now locked" in _menu(app).error_text
        handset = app.simulator.handset(WANJIKU)
        assert handset.pin_locked
        await _type(pilot, "1234")  # even the right PIN: locked until unlocked
        assert "locked after three wrong PINs" in _menu(app).error_text
        # The lock is the phone's: an STK Push to it now settles 8006 with no prompt.
        checkout = await merchant.push(receiver.url)
        [callback] = await receiver.wait_for(1)
        assert callback.json["Body"]["stkCallback"]["CheckoutRequestID"] == checkout
        assert callback.json["Body"]["stkCallback"]["ResultCode"] == 8006


async def test_check_balance_answers_by_sms(start_app):
    async with start_app() as (app, pilot, merchant):
        await pilot.press("m", "6", "2")
        await _type(pilot, "1234")
        await wait_until(lambda: not isinstance(app.screen, MpesaMenuScreen), "the menu to close")
        [sms] = app.simulator.inbox(WANJIKU)
        assert "Your M-PESA balance on" in sms.text and "is Ksh10,000.00." in sms.text
        await wait_until(lambda: app.phones[WANJIKU].inbox.bubbles, "the SMS on the phone")
        assert app.simulator.handset(WANJIKU).balance_cents == 1_000_000  # asking costs nothing


async def test_a_refused_validation_is_said_and_nothing_moves(start_app):
    async def refuse(request):
        from aiohttp import web

        return web.json_response({"ResultCode": "C2B00012", "ResultDesc": "Invalid Account Number"})

    from tests.receiver import serve_posts

    runner, port = await serve_posts(refuse)
    try:
        async with start_app() as (app, pilot, merchant):
            refusing = CallbackReceiver(port=port)  # only for its URLs: the refusing server answers there
            await _register(merchant, "600984", refusing)
            await pilot.press("m", "5", "1")
            for text in ("600984", "NOPE", "100", "1234"):
                await _type(pilot, text)
            await pilot.press("enter")
            await wait_until(lambda: not isinstance(app.screen, MpesaMenuScreen), "the menu to close")
            [payment] = app.simulator.c2b.payments()
            assert payment.status == "rejected" and "C2B00012" in payment.reason
            assert app.simulator.handset(WANJIKU).balance_cents == 1_000_000
            note = next(n for n in app._notifications if n.title == "Not paid")
            assert note.severity == "error" and "C2B00012" in note.message
    finally:
        await runner.cleanup()


async def test_items_not_emulated_say_so_and_esc_goes_back_a_page_at_a_time(start_app):
    async with start_app() as (app, pilot, merchant):
        await pilot.press("m", "2")
        assert "Withdraw Cash is on the handset's menu but not in the emulator" in _menu(app).error_text
        await pilot.press("6")
        assert _question(app) == "My Account"
        await pilot.press("escape")
        assert _question(app) == "M-PESA"
        await pilot.press("5", "1")
        await _type(pilot, "600984")
        await pilot.press("escape", "escape")
        assert _question(app) == "Lipa na M-PESA"
        await pilot.press("escape", "escape")
        assert not isinstance(app.screen, MpesaMenuScreen)
        assert app.simulator.c2b.payments() == []


async def test_an_offline_phone_cannot_reach_m_pesa(start_app):
    async with start_app() as (app, pilot, merchant):
        await pilot.press("o")
        await pilot.press("m", "6", "2")
        await _type(pilot, "1234")
        assert "off the network" in _menu(app).error_text


async def test_the_menu_path_and_the_control_api_agree(start_app, receiver):
    """The menu's payment and POST /simulator/c2b/payments send the merchant the same body shape."""
    async with start_app() as (app, pilot, merchant):
        await _register(merchant, "600984", receiver)
        paid = await merchant.client.post(
            "/simulator/c2b/payments", json={"msisdn": WANJIKU, "shortcode": "600984", "amount": 5, "account": "A"}
        )
        assert paid.status_code == 201
        await pilot.press("m", "5", "1")
        for text in ("600984", "A", "5", "1234"):
            await _type(pilot, text)
        await pilot.press("enter")
        await receiver.wait_for(4)
        bodies = [c.json for c in receiver.received if c.path == "/confirmation"]
        assert [list(body) for body in bodies] == [list(bodies[0])] * 2
        listed = (await merchant.client.get("/simulator/c2b/payments")).json()["payments"]
        assert [p["via"] for p in listed] == ["menu", "control"]


async def test_send_money_moves_money_between_two_phones_on_screen(start_app):
    from tests.handset.tui_kit import OTIENO

    async with start_app() as (app, pilot, merchant):
        otieno_before = app.simulator.handset(OTIENO).balance_cents
        await pilot.press("m", "1")  # Send Money
        assert _question(app) == "Enter phone no."
        await _type(pilot, "0708374149")
        assert "this phone's own number" in _menu(app).error_text
        _menu(app).query_one("#entry", Input).value = ""
        await _type(pilot, "0712 345 678")
        await _type(pilot, ",")
        assert "whole shillings" in _menu(app).error_text
        _menu(app).query_one("#entry", Input).value = ""
        await _type(pilot, "1,500")
        await _type(pilot, "1234")
        confirm = str(_menu(app).query_one("#confirm").content)
        assert "Send money to 0712 345678, Ksh1,500.00" in confirm and "OTIENO ODHIAMBO" in confirm  # Hakikisha
        await pilot.press("enter")
        await wait_until(lambda: not isinstance(app.screen, MpesaMenuScreen), "the menu to close")

        assert app.simulator.handset(WANJIKU).balance_cents == 1_000_000 - 150_000
        assert app.simulator.handset(OTIENO).balance_cents == otieno_before + 150_000
        [sent] = app.simulator.inbox(WANJIKU)
        [received] = app.simulator.inbox(OTIENO)
        assert "Ksh1,500.00 sent to OTIENO ODHIAMBO 0712345678" in sent.text
        assert "Confirmed.You have received Ksh1,500.00 from WANJIKU KAMAU 0708374149" in received.text
        await app.activate_phone(OTIENO)  # the other customer's tab
        await wait_until(lambda: app.phones[OTIENO].inbox.bubbles, "the SMS on Otieno's phone")
        await wait_until(lambda: any("Send Money" in e.summary.plain for e in app.activity.entries), "the log")
        assert any("Sent Ksh1,500.00 to Otieno Odhiambo" in n.message for n in app._notifications)
