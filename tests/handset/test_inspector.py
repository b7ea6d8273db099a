"""The callback inspector: lists every attempt live, resends, sends edited JSON, forges; real HTTP both ways."""

from __future__ import annotations

import json

from handset.screens.callback_dialogs import EditCallbackScreen, ForgeCallbackScreen
from handset.screens.inspector import CallbackInspectorScreen
from tests.handset.tui_kit import WANJIKU, wait_until


async def pay(app, pilot, merchant, receiver) -> str:
    """One paid push; returns its CheckoutRequestID once its callback has arrived."""
    phone = app.phones[WANJIKU]
    expected = len(receiver.received) + 1
    checkout = await merchant.push(receiver.url)
    await wait_until(lambda: phone.prompt_waiting, "the prompt")
    await pilot.press(*"1234", "enter")
    await receiver.wait_for(expected)
    return checkout


async def test_the_inspector_lists_attempts_and_resends_the_same_bytes(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        checkout = await pay(app, pilot, merchant, receiver)
        await pilot.press("i")
        inspector = app.screen
        assert isinstance(inspector, CallbackInspectorScreen)
        await wait_until(lambda: inspector.attempts, "the first attempt listed")
        first = inspector.attempts[0]
        assert (first.kind, first.checkout_request_id, first.status, first.url) == (
            "callback",
            checkout,
            200,
            receiver.url,
        )
        assert '"ResultCode": 0' in inspector.query_one("#request").text
        assert '"Value": 100.00' in inspector.query_one("#request").text  # Daraja's spelling, kept
        assert "Accepted" in inspector.query_one("#response").text

        await pilot.press("r")
        again = (await receiver.wait_for(2))[1]
        assert again.raw == receiver.received[0].raw
        await wait_until(lambda: len(inspector.attempts) == 2, "the resend listed")
        assert inspector.attempts[0].kind == "resend"
        await wait_until(lambda: app._notifications, "the resend's notification")
        assert any("HTTP 200" in n.message for n in app._notifications)

        # A callback from a second payment arrives while the inspector is open: it is listed at once.
        await pilot.press("escape")
        second = await pay(app, pilot, merchant, receiver)
        await pilot.press("i")
        inspector = app.screen
        await wait_until(lambda: len(inspector.attempts) == 3, "three attempts")
        assert inspector.attempts[0].checkout_request_id == second


async def test_edit_and_send_delivers_the_edited_json(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        checkout = await pay(app, pilot, merchant, receiver)
        await pilot.press("i")
        await wait_until(lambda: app.screen.attempts, "the attempt listed")
        await pilot.press("e")
        editor_screen = app.screen
        assert isinstance(editor_screen, EditCallbackScreen)
        editor = editor_screen.editor
        assert editor.text.startswith('{\n  "Body": {\n    "stkCallback": {')
        editor.text = editor.text.replace('"ResultCode": 0', '"ResultCode": 1').replace("100.00", "1000.00")
        await pilot.press("ctrl+s")

        edited = (await receiver.wait_for(2))[1]
        expected = (
            receiver.received[0]
            .raw.decode()
            .replace('"ResultCode":0', '"ResultCode":1')
            .replace(
                "100.00",
                "1000.00",
            )
        )
        assert edited.raw.decode() == expected  # compact, every other byte as the engine wrote it
        assert json.loads(edited.raw)["Body"]["stkCallback"]["CheckoutRequestID"] == checkout
        inspector = app.screen
        assert isinstance(inspector, CallbackInspectorScreen)
        await wait_until(lambda: inspector.attempts[0].kind == "edited", "the edited attempt listed")


async def test_edit_refuses_text_that_is_not_json(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        await pay(app, pilot, merchant, receiver)
        await pilot.press("i")
        await wait_until(lambda: app.screen.attempts, "the attempt listed")
        await pilot.press("e")
        app.screen.editor.text = '{"Body": '
        await pilot.press("ctrl+s")
        assert app.screen.error_text.startswith("not JSON: Expecting value")
        assert len(receiver.received) == 1


async def test_forge_sends_a_callback_for_an_id_that_never_existed(start_app, receiver):
    async with start_app() as (app, pilot, merchant):
        await pilot.press("i")
        inspector = app.screen
        assert inspector.attempts == []
        await pilot.press("f")
        forge = app.screen
        assert isinstance(forge, ForgeCallbackScreen)
        forge.query_one("#url").value = "not a url"
        await pilot.press("enter")
        assert forge.error_text == "url must be an absolute http(s) URL, got 'not a url'"

        forge.query_one("#url").value = receiver.url
        forge.query_one("#amount").value = "750"
        await pilot.press("enter")
        forged = (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]
        assert forged["ResultCode"] == 0
        assert forged["CallbackMetadata"]["Item"][0]["Value"] == 750
        assert app.simulator.transaction(forged["CheckoutRequestID"]) is None
        await wait_until(lambda: inspector.attempts and inspector.attempts[0].kind == "forged", "forged listed")
        assert inspector.attempts[0].checkout_request_id == forged["CheckoutRequestID"]
