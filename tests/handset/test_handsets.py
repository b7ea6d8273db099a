"""Handsets changed from the UI exist in the engine and in the control API at once."""

from __future__ import annotations

from handset.screens.handset_dialogs import AddHandsetScreen, BalanceScreen
from tests.handset.tui_kit import OTIENO, WANJIKU, wait_until

NEW = "254799000111"


async def type_into(pilot, selector: str, text: str) -> None:
    await pilot.click(selector)
    await pilot.press(*text)


async def test_add_a_handset_from_the_dialog(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        await pilot.press("a")
        assert isinstance(app.screen, AddHandsetScreen)
        await pilot.press(*"Amina Hassan")
        await type_into(pilot, "#msisdn", NEW)
        await type_into(pilot, "#pin", "4321")
        await type_into(pilot, "#balance", "2,500")
        await pilot.press("enter")

        await wait_until(lambda: NEW in app.phones and app.tabs.active == f"phone-{NEW}", "the new phone's tab")
        handset = app.simulator.handset(NEW)
        assert (handset.name, handset.pin, handset.balance_cents) == ("Amina Hassan", "4321", 250_000)
        response = await merchant.client.get(f"/simulator/handsets/{NEW}")
        assert response.status_code == 200
        assert response.json()["name"] == "Amina Hassan"
        assert app.tabs.get_tab(f"phone-{NEW}").label.plain == "Amina Hassan"

        # And it takes payments with its own PIN.
        await merchant.push(receiver.url, PartyA=NEW, PhoneNumber=NEW, Amount=500)
        phone = app.phones[NEW]
        await wait_until(lambda: phone.prompt_waiting, "the new phone's prompt")
        await pilot.press(*"4321", "enter")
        assert (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]["ResultCode"] == 0
        await wait_until(lambda: "Ksh2,000.00" in str(phone.query_one("#wallet").content), "the new balance")


async def test_the_add_dialog_shows_the_engines_refusals(start_app):
    async with start_app() as (app, pilot, merchant):
        await pilot.press("a")
        dialog = app.screen
        await type_into(pilot, "#msisdn", "0712")
        await pilot.press("enter")
        assert app.screen is dialog
        assert dialog.error_text == "msisdn must look like 2547XXXXXXXX or 2541XXXXXXXX (12 digits)"

        await type_into(pilot, "#msisdn", "")
        dialog.query_one("#msisdn").value = WANJIKU
        await pilot.press("enter")
        assert dialog.error_text == f"a handset with MSISDN {WANJIKU} already exists"

        dialog.query_one("#msisdn").value = NEW
        dialog.query_one("#balance").value = "lots"
        await pilot.press("enter")
        assert dialog.error_text == "balance must be a number of KES"
        assert app.simulator.handset(NEW) is None

        await pilot.press("escape")
        assert not isinstance(app.screen, AddHandsetScreen)
        assert NEW not in app.phones


async def test_a_handset_added_over_the_control_api_gets_a_tab(start_app):
    async with start_app() as (app, pilot, merchant):
        response = await merchant.client.post("/simulator/handsets", json={"msisdn": NEW, "name": "Baraka"})
        assert response.status_code == 201
        await wait_until(lambda: NEW in app.phones, "a tab for the new handset")
        assert app.tabs.get_tab(f"phone-{NEW}").label.plain == "Baraka"
        assert app.tabs.active == f"phone-{WANJIKU}"  # a new phone does not take the screen


async def test_offline_phone_never_sees_the_prompt_and_it_times_out(start_app, receiver, clock):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await pilot.press("o")
        assert app.simulator.handset(WANJIKU).online is False
        await wait_until(lambda: phone.has_class("-offline"), "the phone to go offline")
        assert "✈" in app.tabs.get_tab(f"phone-{WANJIKU}").label.plain

        await merchant.push(receiver.url)
        await pilot.pause()
        assert not phone.prompt_waiting
        assert not app.tabs.get_tab(f"phone-{WANJIKU}").label.plain.endswith("●")
        clock.advance(61)
        assert (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]["ResultCode"] == 1037

        await pilot.press("o")
        assert app.simulator.handset(WANJIKU).online is True
        await wait_until(lambda: not phone.has_class("-offline"), "the phone to come back")
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "a prompt on the phone back online")


async def test_going_offline_takes_the_prompt_off_the_phone(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[OTIENO]
        await merchant.push(receiver.url, PartyA=OTIENO, PhoneNumber=OTIENO)
        await wait_until(lambda: phone.prompt_waiting, "Otieno's prompt")
        response = await merchant.client.patch(f"/simulator/handsets/{OTIENO}", json={"online": False})
        assert response.status_code == 200
        await wait_until(lambda: not phone.prompt_waiting, "the prompt to go with the network")
        assert not app.tabs.get_tab(f"phone-{OTIENO}").label.plain.endswith("●")


async def test_change_the_balance(start_app):
    async with start_app() as (app, pilot, merchant):
        await pilot.press("b")
        assert isinstance(app.screen, BalanceScreen)
        await pilot.press(*"750.50", "enter")
        assert app.simulator.handset(WANJIKU).balance_cents == 75_050
        phone = app.phones[WANJIKU]
        await wait_until(lambda: "Ksh750.50" in str(phone.query_one("#wallet").content), "the new balance")

        await pilot.press("b")
        await pilot.press(*"900000", "enter")
        assert app.screen.error_text == "balance must be between 0 and 500000 KES"
        await pilot.press("escape")
        assert app.simulator.handset(WANJIKU).balance_cents == 75_050


async def test_a_prompt_answered_over_the_control_api_leaves_the_phone(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        checkout = await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        response = await merchant.client.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
        assert response.status_code == 200
        assert (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]["ResultCode"] == 0
        await wait_until(lambda: not phone.prompt_waiting and phone.inbox.bubbles, "the prompt gone, the SMS in")
        assert not phone.prompt.display


async def test_a_reset_brings_back_the_configured_phones(start_app):
    async with start_app() as (app, pilot, merchant):
        await merchant.client.post("/simulator/handsets", json={"msisdn": NEW, "name": "Baraka"})
        await wait_until(lambda: NEW in app.phones, "the added phone")
        await pilot.press("o")  # Wanjiku offline
        response = await merchant.client.post("/simulator/reset")
        assert response.status_code == 200
        await wait_until(lambda: NEW not in app.phones and len(app.phones) == 3, "three phones again")
        await pilot.pause()
        assert app.tabs.active == f"phone-{WANJIKU}"
        # The new tab strip underlines its active tab (tabs added one by one to a strip on screen got none).
        tab, underline = app.tabs.get_tab(f"phone-{WANJIKU}"), app.tabs.query_one("Underline")
        assert (underline.highlight_start, underline.highlight_end) == tab.virtual_region.shrink(
            tab.styles.gutter
        ).column_span
        phone = app.phones[WANJIKU]
        assert phone.built and phone.online and not phone.has_class("-offline")
        assert [tab.label.plain for tab in app.tabs.query("ContentTab")] == [
            "Wanjiku Kamau",
            "Otieno Odhiambo",
            "Achieng Njeri",
        ]


async def test_a_push_to_an_unknown_number_brings_its_phone_with_the_prompt(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        await merchant.push(receiver.url, PartyA=NEW, PhoneNumber=NEW)
        await wait_until(lambda: NEW in app.phones and app.phones[NEW].prompt_waiting, "the new phone's prompt")
        await wait_until(
            lambda: app.tabs.get_tab(f"phone-{NEW}").label.plain == "Customer 0111 ●", "the dot on its tab"
        )
        await pilot.press("n")
        assert app.tabs.active == f"phone-{NEW}"
        await pilot.press(*"1234", "enter")  # the default PIN
        assert (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]["ResultCode"] == 0
