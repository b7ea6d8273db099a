"""The app around the phones: header, connect panel, port clash, messages of a flow, load."""

from __future__ import annotations

import asyncio
import socket

import httpx
from textual.app import App
from textual.widgets import Static

from handset.app import HandsetApp, make_app, run_tui
from handset.bridge import EngineBridge
from handset.screens.connect import ConnectScreen
from server.clock import ManualClock
from server.ids import IdGenerator
from server.settings import HandsetConfig, Settings
from tests.daraja_client import push_body
from tests.handset.tui_kit import SIZE, WANJIKU, wait_until


async def test_header_shows_the_base_url_and_c_opens_the_connect_panel(start_app):
    async with start_app() as (app, pilot, merchant):
        assert app.sub_title == f"{app.emulator.base_url} · mode human"
        await pilot.press("c")
        assert isinstance(app.screen, ConnectScreen)
        facts = app.screen.facts
        assert facts.base_url == app.emulator.base_url
        assert facts.shortcode == "174379"
        assert facts.passkey == "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
        assert f"'{app.emulator.base_url}/oauth/v1/generate?grant_type=client_credentials'" in facts.token_curl
        assert "/mpesa/stkpush/v1/processrequest" in facts.push_curl
        shown = " ".join(str(s.content) for s in app.screen.query(Static))
        assert facts.passkey in shown and facts.base_url in shown
        # The sandbox's test credentials, and a .env pointed at this emulator, one Copy away.
        assert f"MPESA_BASE_URL={app.emulator.base_url}\n" in facts.sandbox.env_block()
        assert facts.sandbox.env_block() in shown
        assert "600000 600984 600992" in shown and "testapi" in shown and "Safaricom123!!" in shown
        await pilot.press("escape")
        assert not isinstance(app.screen, ConnectScreen)


async def test_the_connect_panels_curl_really_gets_a_token(start_app):
    async with start_app() as (app, pilot, merchant):
        await pilot.press("c")
        facts = app.screen.facts
        process = await asyncio.create_subprocess_shell(
            facts.token_curl,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await process.communicate()
        assert b"access_token" in out


async def test_a_taken_port_ends_the_app_with_code_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = make_app(Settings(port=port, db=tmp_path / "h.db"), clock=ManualClock())
        async with app.run_test(size=SIZE):
            await wait_until(lambda: app.start_error is not None, "the start to fail")
        assert "already in use" in str(app.start_error)
        assert app.return_code == 2


def test_run_tui_prints_one_line_naming_the_port(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(HandsetApp, "run", lambda self: App.run(self, headless=True, size=SIZE))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = run_tui(Settings(port=port, db=tmp_path / "h.db"))
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"port {port}" in err and "--port" in err


async def test_every_step_of_a_payment_is_a_message(start_app, receiver, monkeypatch):
    seen: list[type] = []

    async with start_app() as (app, pilot, merchant):
        phone = app.phones[WANJIKU]
        # Engine messages reach the app through the bridge's queue (handset/bridge.py), the
        # customer's as posted messages: both roads lead here or to post_message.
        original_post, original_engine = app.post_message, app.handle_engine_message

        def spy(message):
            seen.append(type(message))
            return original_post(message)

        async def spy_engine(message):
            seen.append(type(message))
            await original_engine(message)

        monkeypatch.setattr(app, "post_message", spy)
        monkeypatch.setattr(app, "handle_engine_message", spy_engine)
        await merchant.push(receiver.url)
        await wait_until(lambda: phone.prompt_waiting, "the prompt")
        await pilot.press(*"1234", "enter")
        await receiver.wait_for(1)
        await wait_until(lambda: EngineBridge.CallbackAttempted in seen, "the callback message")
    flow = [kind for kind in seen if kind.__qualname__.startswith(("EngineBridge.", "StkPrompt."))]
    assert flow.index(EngineBridge.PromptArrived) < flow.index(EngineBridge.TransactionSettled)
    assert flow.index(EngineBridge.TransactionSettled) < flow.index(EngineBridge.SmsReceived)
    assert flow.index(EngineBridge.SmsReceived) < flow.index(EngineBridge.CallbackAttempted)


async def test_fifty_prompts_at_once_do_not_freeze_typing(tmp_path, receiver):
    clock = ManualClock()
    numbers = [f"2547100{n:05d}" for n in range(50)]
    settings = Settings(
        port=0,
        db=tmp_path / "h.db",
        handsets=[HandsetConfig(msisdn=n, name=f"Load {n[-2:]}") for n in numbers],
    )
    app = make_app(settings, clock=clock, ids=IdGenerator(seed=7))
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        assert list(app.phones) == numbers
        await pilot.pause()

        async with httpx.AsyncClient(base_url=app.emulator.base_url, timeout=30) as client:
            token = (
                await client.get(
                    "/oauth/v1/generate",
                    params={"grant_type": "client_credentials"},
                    auth=("k", "s"),
                )
            ).json()["access_token"]

            async def push(number: str) -> int:
                body = push_body(receiver.url, PartyA=number, PhoneNumber=number)
                response = await client.post(
                    "/mpesa/stkpush/v1/processrequest",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
                return response.status_code

            pushes = asyncio.gather(*(push(n) for n in numbers))
            # Type while the burst lands: every key must reach the PIN field of the phone on screen.
            first = app.phones[numbers[0]]
            await wait_until(lambda: first.prompt_waiting, "the first phone's prompt")
            await pilot.press(*"1234")
            assert first.prompt.pin_field.value == "1234"
            assert set(await pushes) == {200}

        await wait_until(lambda: all(app.phones[n].prompt_waiting for n in numbers), "fifty prompts")
        assert all(app.tabs.get_tab(f"phone-{n}").label.plain.endswith("●") for n in numbers)
        assert app.focused is first.prompt.pin_field
        await pilot.press("enter")
        callbacks = await receiver.wait_for(1)
        assert callbacks[0].json["Body"]["stkCallback"]["ResultCode"] == 0
        # One notification for the burst, not fifty.
        assert len(app._notifications) <= 3
        clock.advance(61)
        await receiver.wait_for(50, timeout=20)
        await wait_until(lambda: not any(p.prompt_waiting for p in app.phones.values()), "every prompt gone")
        assert app.focused is not first.prompt.pin_field, "a hidden PIN field kept the keyboard"


async def test_connect_panel_values_are_never_wrapped_and_its_push_curl_runs(start_app):
    from rich.cells import cell_len

    from handset.screens.connect import CopyableFact

    async with start_app(size=(80, 24)) as (app, pilot, merchant):
        await pilot.press("c")
        panel = app.screen
        facts = list(panel.query(CopyableFact))
        assert [fact.label for fact in facts][:3] == ["Base URL", "Shortcode", "Passkey"]
        await pilot.pause()
        for fact in facts:
            shown = fact.query_one(".fact-value", Static)
            lines = (fact.value + (f"\n{fact.note}" if fact.note else "")).split("\n")
            # One screen row per line of the value: nothing folded, a long line scrolls sideways instead.
            assert shown.size.height == len(lines), fact.label
            assert shown.size.width == max(cell_len(line) for line in lines), fact.label
        # The STK Push command, as a merchant would paste it into a shell, line breaks and all.
        process = await asyncio.create_subprocess_shell(
            panel.facts.push_curl,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await process.communicate()
        assert b'"ResponseCode":"0"' in out.replace(b" ", b"")
        await wait_until(lambda: app.phones[WANJIKU].prompt_waiting, "the prompt the curl asked for")
