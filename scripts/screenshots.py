"""Regenerate screenshots/*.svg and *.png from the real app, driven by real HTTP.

    .venv/bin/python scripts/screenshots.py [--port 8400] [--out screenshots]

The app runs exactly as ``handset`` builds it (``make_app``), with a frozen
clock and seeded ids so the pictures only change when the UI does. A small
local merchant receives the callbacks. Each scene is saved as SVG (Textual's
own export) and converted to PNG with cairosvg.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cairosvg
import httpx
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.widgets import Input

from handset.app import HandsetApp, make_app
from handset.screens.connect import CopyableFact
from handset.widgets.phone_tabs import HiddenTabs
from server.clock import ManualClock
from server.ids import IdGenerator
from server.settings import HandsetConfig, MerchantConfig, Settings

SIZE = (120, 40)
SHORTCODE = "174379"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
TIMESTAMP = "20261127185000"
OTIENO, ACHIENG = "254712345678", "254722000111"
# Textual's SVG asks for Fira Code from the web; cairosvg cannot fetch it, so use an installed mono font.
PNG_FONT = "DejaVu Sans Mono"


class Merchant:
    """A merchant app: gets a token, sends pushes, and receives callbacks on a local port."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=10)
        self.callbacks: list[bytes] = []
        self._runner: web.AppRunner | None = None
        self.callback_url = ""
        self._token = ""

    async def start(self) -> None:
        async def collect(request: web.Request) -> web.Response:
            self.callbacks.append(await request.read())
            return web.json_response({"ResultCode": 0, "ResultDesc": "Accepted"})

        app = web.Application()
        app.router.add_post("/mpesa/callback", collect)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp shows the bound port only on its private server
        self.callback_url = f"http://127.0.0.1:{port}/mpesa/callback"
        response = await self.client.get(
            "/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=("shop-key", "shop-secret"),
        )
        self._token = response.json()["access_token"]

    async def stop(self) -> None:
        await self.client.aclose()
        if self._runner is not None:
            await self._runner.cleanup()

    async def push(
        self,
        phone: str,
        amount: int,
        reference: str,
        *,
        shortcode: str = SHORTCODE,
        passkey: str = PASSKEY,
        **overrides: Any,
    ) -> httpx.Response:
        password = base64.b64encode(f"{shortcode}{passkey}{TIMESTAMP}".encode()).decode()
        body = {
            "BusinessShortCode": shortcode,
            "Password": password,
            "Timestamp": TIMESTAMP,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": amount,
            "PartyA": phone,
            "PartyB": shortcode,
            "PhoneNumber": phone,
            "CallBackURL": self.callback_url,
            "AccountReference": reference,
            "TransactionDesc": "Payment",
        }
        body.update(overrides)
        return await self.client.post(
            "/mpesa/stkpush/v1/processrequest",
            json=body,
            headers={"Authorization": f"Bearer {self._token}"},
        )


async def until(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the app did not get there in time")
        await asyncio.sleep(0.02)


def save(app: HandsetApp, out: Path, name: str) -> None:
    """Write ``name``.svg from the app, and ``name``.png from the SVG."""
    for field in app.screen.query("Input"):
        field.cursor_blink = False  # a blinking cursor would make every run differ
    svg_path = out / f"{name}.svg"
    app.save_screenshot(filename=svg_path.name, path=str(out))
    svg = svg_path.read_text(encoding="utf-8")
    svg = svg.replace("Fira Code, monospace", f"{PNG_FONT}, monospace").replace('"Fira Code"', f'"{PNG_FONT}"')
    cairosvg.svg2png(bytestring=svg.encode("utf-8"), write_to=str(out / f"{name}.png"), scale=1.0)
    print(f"wrote {svg_path} and {name}.png")


async def shoot(out: Path, port: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(port=port, db=Path(tmp) / "screenshots.db")
        app = make_app(settings, clock=ManualClock(), ids=IdGenerator(seed=7))
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await pilot.pause(0.5)  # let the tab underline slide into place
            save(app, out, "home")

            merchant = Merchant(app.emulator.base_url)
            await merchant.start()
            wanjiku = app.phones["254708374149"]
            await merchant.push("254708374149", 1500, "INV-2041")
            await until(lambda: wanjiku.prompt_waiting)
            await pilot.pause()
            await pilot.press("1", "2")
            app.simulator.clock.advance(17)  # type: ignore[attr-defined]  # a ManualClock here, a Clock to mypy
            wanjiku.prompt.refresh_countdown()
            await pilot.pause()
            save(app, out, "prompt")

            await pilot.press("3", "4", "enter")
            await until(lambda: wanjiku.built and wanjiku.inbox.bubbles and merchant.callbacks)
            await until(lambda: any(e.kind == "callback" for e in app.activity.entries))
            await pilot.pause(0.3)
            save(app, out, "success-sms")

            await merchant.push(OTIENO, 250, "ORDER-77")
            await merchant.push(ACHIENG, 2000, "RENT-NOV")
            await until(lambda: app.phones[OTIENO].prompt_waiting and app.phones[ACHIENG].prompt_waiting)
            await pilot.pause(0.6)  # the notification waits for the burst to end
            await pilot.pause()
            save(app, out, "tabs")

            app.clear_notifications()
            await pilot.press("n")  # Otieno
            await pilot.press(*"9999", "enter")
            await until(lambda: app.phones[OTIENO].notice_text is not None)
            await pilot.pause()
            save(app, out, "wrong-pin")

            await pilot.press("n")  # Achieng, Ksh500 on her account
            await pilot.press(*"1234", "enter")
            await until(lambda: app.phones[ACHIENG].notice_text is not None)
            await pilot.pause()
            save(app, out, "insufficient-funds")

            wrong = base64.b64encode(f"{SHORTCODE}wrong-passkey{TIMESTAMP}".encode()).decode()
            await merchant.push("254708374149", 10, "X1", Password=wrong)
            await merchant.push("254708374149", 10, "X2", Amount=0)
            await merchant.push("254708374149", 300, "ORDER9", CallBackURL="http://127.0.0.1:9/callback")
            await until(lambda: wanjiku.prompt_waiting)
            await app.activate_phone("254708374149")
            await pilot.press("escape")
            await until(lambda: any("refused" in e.summary.plain for e in app.activity.entries))
            await pilot.press("l")
            app.activity.query_one("OptionList").highlighted = 3
            await pilot.pause(0.3)
            save(app, out, "activity")

            await pilot.press("enter")
            await pilot.pause()
            save(app, out, "request-detail")
            await pilot.press("escape")

            app.clear_notifications()
            await pilot.press("c")
            await pilot.pause()
            save(app, out, "connect")
            await pilot.press("escape")

            await power_tools(app, pilot, merchant, out)
            await merchant.stop()


async def power_tools(app: HandsetApp, pilot: Any, merchant: Merchant, out: Path) -> None:
    """The result-code picker, a PIN-locked phone, the callback inspector, the settings and the keys."""
    wanjiku = app.phones["254708374149"]
    await merchant.push("254708374149", 2500, "INV-2042")
    await until(lambda: wanjiku.prompt_waiting)
    await app.activate_phone("254708374149")
    app.clear_notifications()
    await pilot.press("r", "down", "down")
    await pilot.pause()
    save(app, out, "result-code")
    await pilot.press("enter")  # 17: Rule limited.
    await until(lambda: not wanjiku.prompt_waiting)

    otieno = app.phones[OTIENO]
    await app.activate_phone(OTIENO)
    for amount in (11, 12):  # Otieno's first wrong PIN was in the wrong-pin picture
        await merchant.push(OTIENO, amount, "ORDER-78")
        await until(lambda: otieno.prompt_waiting)
        await pilot.press(*"9999", "enter")
        await until(lambda: not otieno.prompt_waiting)
    await merchant.push(OTIENO, 250, "ORDER-79")  # refused at once: 8006
    await until(lambda: otieno.pin_locked)
    await pilot.press("enter")  # OK on the wrong-PIN notice
    app.clear_notifications()
    await pilot.pause(0.3)
    save(app, out, "pin-locked")

    await pilot.press("i")
    inspector = app.screen
    await until(lambda: len(inspector.attempts) >= 5)  # type: ignore[attr-defined]  # the screen mypy sees is a plain Screen
    await pilot.press("r")  # resend the newest (the 8006 callback)
    await until(lambda: inspector.attempts[0].kind == "resend")  # type: ignore[attr-defined]  # the screen mypy sees is a plain Screen
    await pilot.press("f", "enter")  # forge one to the merchant's URL, prefilled from the chosen attempt
    await until(lambda: inspector.attempts[0].kind == "forged")  # type: ignore[attr-defined]  # the screen mypy sees is a plain Screen
    await pilot.press("home")
    app.clear_notifications()
    await pilot.pause(0.3)
    save(app, out, "inspector")
    await pilot.press("escape")

    await pilot.press("s")
    await pilot.pause()
    save(app, out, "settings")
    await pilot.press("escape")

    await pilot.press("question_mark")
    await pilot.pause()
    save(app, out, "keys")
    await pilot.press("escape")


# The longest merchant name the config accepts (60 characters), and more customers than fit the
# strip at 80 columns, two of whose names differ only near the end.
LONG_NAME = "Mama Mboga Fresh Produce and General Supplies Limited Nairob"
LONG_SHORTCODE, LONG_PASSKEY = "600100", "mama-mboga-passkey"
MORE_CUSTOMERS = [
    ("254711000004", "Baraka Mwangi"),
    ("254711000005", "Nafula Wekesa"),
    ("254711000012", "Customer Number 12 Nairobi Branch"),
    ("254711000013", "Customer Number 13 Nairobi Branch"),
]


async def small_terminal(out: Path, port: int) -> None:
    """80x24, the reference size; presenter mode at 100x30; the phone grown at 160x50."""
    with tempfile.TemporaryDirectory() as tmp:
        defaults = Settings()
        settings = Settings(
            port=port,
            db=Path(tmp) / "small.db",
            merchants=[
                *defaults.merchants,
                MerchantConfig(shortcode=LONG_SHORTCODE, passkey=LONG_PASSKEY, name=LONG_NAME),
            ],
            handsets=[*defaults.handsets, *(HandsetConfig(msisdn=m, name=n) for m, n in MORE_CUSTOMERS)],
        )
        clock = ManualClock()
        app = make_app(settings, clock=clock, ids=IdGenerator(seed=7))
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await pilot.pause(0.5)
            save(app, out, "home-80x24")

            merchant = Merchant(app.emulator.base_url)
            await merchant.start()
            wanjiku = app.phones["254708374149"]
            await merchant.push("254708374149", 1500, "INV-2041", shortcode=LONG_SHORTCODE, passkey=LONG_PASSKEY)
            await until(lambda: wanjiku.prompt_waiting)
            await pilot.press("1", "2")
            clock.advance(17)
            wanjiku.prompt.refresh_countdown()
            await pilot.pause(0.3)
            save(app, out, "prompt-80x24")

            last = MORE_CUSTOMERS[-1][0]  # a phone whose tab is off the right edge
            await merchant.push(last, 400, "ORDER-13")
            await until(lambda: app.phones[last].prompt_waiting)
            await until(lambda: app.tabs.query_one("#tabs-after", HiddenTabs).count == 1)
            await pilot.pause(0.6)
            app.clear_notifications()
            await pilot.pause(0.3)
            save(app, out, "hidden-tabs-80x24")

            await pilot.press("s")
            app.screen.query_one("#think_time", Input).value = "-5"
            await pilot.press("ctrl+s")
            await pilot.pause(0.3)
            save(app, out, "settings-80x24")
            await pilot.press("escape")

            await pilot.press("question_mark", "end")
            await pilot.pause(0.3)
            save(app, out, "keys-80x24")
            await pilot.press("escape")

            # The connect panel, scrolled to the sandbox's test credentials and the .env block.
            await pilot.press("c")
            await pilot.pause(0.3)
            shortcodes = next(fact for fact in app.screen.query(CopyableFact) if fact.label == "Shortcodes")
            shortcodes.scroll_visible(top=True, animate=False)
            await pilot.pause(0.3)
            save(app, out, "connect-80x24")
            await pilot.press("escape")

            # The phone's M-PESA menu: Lipa na M-PESA > Pay Bill, at its confirm page.
            await pilot.press("m", "5", "1")
            for answer in ("600984", "INV-9", "250", "1234"):
                await pilot.press(*answer, "enter")
            await pilot.pause(0.3)
            save(app, out, "mpesa-menu-80x24")
            app.screen.dismiss(None)  # not Esc: Esc is a step back in the menu, and the prompt behind is live
            await pilot.pause(0.3)

            await pilot.resize_terminal(100, 30)
            await pilot.press("d")
            await pilot.pause(0.3)
            app.clear_notifications()
            await pilot.pause(0.3)
            save(app, out, "presenter-100x30")
            await pilot.press("d")

            await pilot.resize_terminal(160, 50)
            await pilot.pause(0.5)
            app.clear_notifications()
            await pilot.pause(0.3)
            save(app, out, "large-160x50")
            await merchant.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8400, help="port for the embedded server (shown in the header)")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(args.out, args.port))
    asyncio.run(small_terminal(args.out, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
