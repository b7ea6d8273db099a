"""80x24, the reference size: everything that matters is on screen, or one scroll away.

Each test drives the real app at 80 columns by 24 rows with real HTTP, and checks
with the compositor that the parts a person needs are drawn whole (not clipped
by a scrolling parent, a dialog's edge or the terminal's), then uses them.
"""

from __future__ import annotations

import pytest
from textual.widgets import Button, OptionList

from handset.screens.confirm import ConfirmScreen
from handset.screens.connect import ConnectScreen
from handset.screens.handset_dialogs import AddHandsetScreen, BalanceScreen
from handset.screens.help import KEYS, HelpScreen
from handset.screens.prompt_tools import CallbackPlanScreen, ResultCodeScreen
from handset.screens.settings import SettingsScreen
from handset.widgets.activity import INDENT
from handset.widgets.hanging import hang
from server.settings import MerchantConfig, Settings
from tests.daraja_client import password
from tests.handset.tui_kit import WANJIKU, fully_shown, wait_until

SMALL = (80, 24)
LONGEST_NAME = "Mama Mboga Fresh Produce and General Supplies Limited Nairob"  # 60, the config's limit
TILL, PAYBILL, TILL_KEY, PAYBILL_KEY = "600100", "600200", "till-passkey", "paybill-passkey"


@pytest.fixture
def long_names(tmp_path) -> Settings:
    return Settings(
        port=0,
        db=tmp_path / "h.db",
        account_reference="relaxed",
        merchants=[
            MerchantConfig(shortcode=TILL, passkey=TILL_KEY, name=LONGEST_NAME, kind="till"),
            MerchantConfig(shortcode=PAYBILL, passkey=PAYBILL_KEY, name=LONGEST_NAME),
        ],
    )


def stk(received) -> dict:
    return received.json["Body"]["stkCallback"]


# The longest prompts the config accepts: a till (no account number), a PayBill with the
# 12-character AccountReference of the strict era, and the relaxed era's longest that still fits
# the 182 characters of a prompt (a longer one settles 1025 and never shows).
PROMPTS = [
    pytest.param(TILL, TILL_KEY, "CustomerBuyGoodsOnline", "X", id="till"),
    pytest.param(PAYBILL, PAYBILL_KEY, "CustomerPayBillOnline", "INV-2041-ABC", id="paybill-12"),
    pytest.param(PAYBILL, PAYBILL_KEY, "CustomerPayBillOnline", "R" * 55, id="paybill-182-characters"),
]


@pytest.mark.parametrize(("shortcode", "passkey", "kind", "reference"), PROMPTS)
async def test_a_live_prompt_shows_all_its_parts_for_the_longest_merchant_name(
    start_app,
    receiver,
    long_names,
    shortcode,
    passkey,
    kind,
    reference,
):
    async with start_app(long_names, size=SMALL) as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        checkout = await merchant.push(
            receiver.url,
            BusinessShortCode=int(shortcode),
            PartyB=int(shortcode),
            TransactionType=kind,
            Password=password(shortcode, passkey),
            Amount=250_000,
            AccountReference=reference,
        )
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        # With a callback plan the prompt has one more line to fit.
        plan = await merchant.client.put(f"/simulator/transactions/{checkout}/callback-plan", json={"mode": "drop"})
        assert plan.status_code == 200
        prompt = phone.prompt
        await wait_until(lambda: prompt.query_one("#plan").display, "the plan on the prompt")
        await pilot.pause()
        text = str(prompt.query_one("#prompt-text").content)
        assert LONGEST_NAME.upper() in text and len(text) <= 182
        if reference == "R" * 55:
            assert len(text) == 182  # the longest a prompt can be
        for part in ("#prompt-text", "#pin", "#countdown", "#plan", "#ok", "#cancel"):
            assert fully_shown(prompt.query_one(part)), part
        assert "left" in str(prompt.query_one("#countdown").content)

        await pilot.press(*"1234")
        assert not prompt.query_one("#ok", Button).disabled
        assert await pilot.click(prompt.query_one("#ok"))  # a click on OK where a person sees it
        # Ksh250,000 is more than Wanjiku has: the handset says so (the callback is dropped, by plan).
        await wait_until(lambda: phone.notice.display, "the notice")
        assert app.simulator.transaction(checkout).result_code == "1"
        await wait_until(lambda: fully_shown(phone.notice.query_one("#dismiss")), "the notice's OK on screen")


async def test_settings_show_a_refused_value_and_the_buttons(start_app):
    async with start_app(size=SMALL) as (app, pilot, merchant):
        await pilot.press("s")
        settings = app.screen
        assert isinstance(settings, SettingsScreen)
        assert fully_shown(settings.query_one("#apply")) and fully_shown(settings.query_one("#close"))
        settings.query_one("#think_time").value = "-1"  # a bad think time
        await pilot.press("ctrl+s")
        assert app.screen is settings
        assert settings.error_text.startswith("think_time: Input should be greater than or equal to 0")
        await wait_until(lambda: fully_shown(settings.query_one("#error")), "the refusal on screen")
        assert fully_shown(settings.query_one("#apply"))
        assert app.simulator.settings.unattended.think_time == 0  # nothing changed


async def test_the_keys_screen_scrolls_to_its_last_line(start_app):
    async with start_app(size=SMALL) as (app, pilot, merchant):
        await pilot.press("question_mark")
        keys = app.screen
        assert isinstance(keys, HelpScreen)
        rows = list(keys.query(".key-row"))
        assert len(rows) == sum(len(section_rows) for _, section_rows in KEYS)
        assert not fully_shown(rows[-1])  # longer than the screen
        await pilot.press("end")
        await wait_until(lambda: fully_shown(rows[-1]), "the last key on screen")
        assert str(rows[-1].query_one(".key").content) == KEYS[-1][1][-1][0]
        await pilot.press("home")
        await wait_until(lambda: fully_shown(rows[0]), "the first key on screen again")


async def test_the_result_code_picker_reaches_its_last_code(start_app, receiver):
    async with start_app(size=SMALL) as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press("r")
        picker = app.screen
        assert isinstance(picker, ResultCodeScreen)
        await pilot.press("end")
        await pilot.pause()
        codes = picker.query_one("#codes", OptionList)
        assert codes.highlighted_option.id == "code-SFC_IC0003"
        assert fully_shown(picker.query_one("#meaning"))
        assert "SFC_IC0003" in str(picker.query_one("#meaning").content)
        await pilot.press("enter")
        assert stk((await receiver.wait_for(1))[0])["ResultCode"] == "SFC_IC0003"


async def test_the_add_handset_dialog_can_be_filled_and_sent(start_app):
    async with start_app(size=SMALL) as (app, pilot, merchant):
        await pilot.press("a")
        dialog = app.screen
        assert isinstance(dialog, AddHandsetScreen)
        assert fully_shown(dialog.query_one("#add")) and fully_shown(dialog.query_one("#cancel"))
        await pilot.press(*"Amina Hassan", "tab", *"254799000111", "tab", "tab")
        await pilot.press(*"lots")  # the balance field, at the bottom of the scrolled part
        await wait_until(lambda: fully_shown(dialog.query_one("#balance")), "the balance field scrolled into view")
        assert await pilot.click(dialog.query_one("#add"))
        await wait_until(lambda: dialog.error_text == "balance must be a number of KES", "the refusal")
        await wait_until(lambda: fully_shown(dialog.query_one("#error")), "the refusal on screen")
        dialog.query_one("#balance").value = "2500"
        add = dialog.query_one("#add")
        await wait_until(lambda: not add.has_class("-active"), "the button's press effect to end")
        assert await pilot.click(add)
        await wait_until(lambda: "254799000111" in app.phones, "the new phone")
        assert app.simulator.handset("254799000111").balance_cents == 250_000


async def test_every_other_dialog_shows_its_way_out(start_app, receiver):
    async with start_app(size=SMALL) as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        for key, screen_type, button in (
            ("b", BalanceScreen, "#set"),
            ("c", ConnectScreen, "#close"),
            ("ctrl+r", ConfirmScreen, "#confirm"),
        ):
            await pilot.press(key)
            assert isinstance(app.screen, screen_type)
            way_out = app.screen.query_one(button)
            await wait_until(lambda: fully_shown(way_out), f"the way out of {key}")  # noqa: B023  (awaited here)
            await pilot.press("escape")
            assert app.screen is app.screen_stack[0]

        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press("p")
        plan = app.screen
        assert isinstance(plan, CallbackPlanScreen)
        parts = [plan.query_one(part) for part in ("#modes", "#seconds", "#copies")]
        await wait_until(lambda: all(fully_shown(part) for part in parts), "the plan's fields on screen")


async def test_the_phone_grows_on_a_big_terminal_and_the_log_reflows(start_app, receiver):
    async with start_app(size=(160, 50)) as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        big = phone.region
        assert big.width >= 58 and big.height >= 44  # a bigger handset, still taller than wide on screen
        assert big.width <= 2 * big.height
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await wait_until(lambda: app.activity.up_to_date and app.activity.entries, "the push logged")
        await pilot.pause()
        # Tall enough for the wallet beside the prompt.
        assert fully_shown(phone.query_one("#wallet")) and fully_shown(phone.prompt.query_one("#cancel"))

        await pilot.resize_terminal(*SMALL)
        await pilot.pause()
        assert phone.region.width <= 44 and phone.region.height <= 20
        assert not phone.query_one("#wallet").display  # the prompt gets the room
        for part in ("#prompt-text", "#pin", "#countdown", "#ok", "#cancel"):
            assert fully_shown(phone.prompt.query_one(part)), part
        log = app.activity.query_one(OptionList)
        width = log.scrollable_content_region.width - log._get_left_gutter_width()
        padding = log.get_component_styles("option-list--option").padding.width
        for index, option in enumerate(log.options):  # every entry measured again at the new width
            wrapped = hang(option.prompt, width - padding, len(INDENT)).get_height(log.styles, width - padding)
            assert log._line_cache.heights[index] == wrapped


def test_the_readme_names_every_key_of_the_keys_screen():
    """The keys screen's list (``KEYS``) is the one list: the README's tables name every key in it."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for _, rows in KEYS:
        for key, _ in rows:
            assert f"`{key}`" in readme, key
