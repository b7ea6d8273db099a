"""The tab strip: as wide as it needs, hidden prompts announced, names told apart."""

from __future__ import annotations

from textual.widgets._tabbed_content import ContentTabs

from handset.widgets.phone_tabs import HiddenTabs, short_name
from server.settings import HandsetConfig, Settings
from tests.handset.tui_kit import fully_shown, wait_until


def customers(tmp_path, names: list[str]) -> Settings:
    return Settings(
        port=0,
        db=tmp_path / "h.db",
        handsets=[HandsetConfig(msisdn=f"2547100000{n:02d}", name=name) for n, name in enumerate(names, start=1)],
    )


def label(app, number: int) -> str:
    return app.tabs.get_tab(f"phone-2547100000{number:02d}").label.plain


async def test_the_strip_takes_the_width_it_needs_beside_the_log(start_app, tmp_path):
    names = ["Wanjiku Kamau", "Otieno Odhiambo", "Achieng Njeri", "Kiprono Langat", "Nafula Wekesa", "Baraka Mwangi"]
    async with start_app(customers(tmp_path, names), size=(160, 40)) as (app, pilot, merchant):
        strip = app.tabs.get_child_by_type(ContentTabs)
        assert strip.size.width == 160  # over the phone and the log, not the phone's 50 columns
        assert [label(app, n) for n in range(1, 7)] == names
        tabs = list(strip.query("ContentTab"))
        await wait_until(lambda: all(fully_shown(tab) for tab in tabs), "every tab on screen")
        assert not app.tabs.query_one("#tabs-after", HiddenTabs).display
        assert fully_shown(app.activity)  # the log is still beside the phone


async def test_hidden_tabs_with_prompts_are_announced_at_the_edge(start_app, tmp_path, receiver):
    names = [f"Customer Number {n}" for n in range(1, 9)]
    async with start_app(customers(tmp_path, names), size=(80, 24)) as (app, pilot, merchant):
        after = app.tabs.query_one("#tabs-after", HiddenTabs)
        before = app.tabs.query_one("#tabs-before", HiddenTabs)
        await wait_until(lambda: after.display, "the mark for the tabs off the right edge")
        assert after.count == 0 and "●" not in str(after.content)

        seventh = "254710000007"
        checkout = await merchant.push(receiver.url, PartyA=int(seventh), PhoneNumber=int(seventh))
        await wait_until(lambda: after.count == 1, "the hidden prompt counted")
        assert str(after.content) == "1 ● ▸" and after.has_class("-prompts")
        assert fully_shown(after)
        assert not before.display

        assert await pilot.click(after)  # the mark takes you to the hidden phone with the prompt
        await wait_until(lambda: app.tabs.active == f"phone-{seventh}", "the seventh phone on screen")
        phone = app.phones[seventh]
        await wait_until(lambda: app.focused is phone.prompt.pin_field, "its PIN field")
        await wait_until(lambda: before.display and before.count == 0, "the mark for the tabs off the left")
        assert after.count == 0
        await pilot.press(*"1234", "enter")
        callback = (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]
        assert (callback["CheckoutRequestID"], callback["ResultCode"]) == (checkout, 0)


async def test_long_names_keep_the_part_that_tells_them_apart(start_app, tmp_path):
    names = ["Customer Number 12 Nairobi Branch", "Customer Number 13 Nairobi Branch", "Amina Hassan"]
    async with start_app(customers(tmp_path, names)) as (app, pilot, merchant):
        first, second, third = (label(app, n) for n in (1, 2, 3))
        assert first != second
        assert "12" in first and "13" in second and len(first) <= 20 and len(second) <= 20
        assert third == "Amina Hassan"

        # A name changed elsewhere (the control API) relabels the others when it makes them ambiguous.
        response = await merchant.client.patch(
            "/simulator/handsets/254710000003",
            json={"name": "Customer Number 12 Nairobi Annex"},
        )
        assert response.status_code == 200
        await wait_until(lambda: "Annex" in label(app, 3) or "Ann" in label(app, 3), "the renamed tab")
        await wait_until(lambda: label(app, 1) != label(app, 3), "the two 12s told apart")
        assert len({label(app, n) for n in (1, 2, 3)}) == 3


def test_short_name_keeps_the_distinguishing_word():
    others = ["Customer Number 12 Nairobi", "Customer Number 13 Nairobi"]
    assert short_name("Wanjiku Kamau", others) == "Wanjiku Kamau"
    assert short_name("Customer Number 12 Nairobi", others, limit=18) == "Custome…12 Nairobi"
    for limit in (12, 16, 20):
        twelve, thirteen = (short_name(name, others, limit) for name in others)
        assert twelve != thirteen and len(twelve) <= limit and len(thirteen) <= limit
        assert "12" in twelve and "13" in thirteen
    assert short_name("A very long name with nothing like it anywhere", others, 20) == "A very long name wi…"
