"""The "connect your app" panel: everything a merchant needs, each piece one click from the clipboard."""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, HorizontalScroll, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from server.clock import wire_timestamp
from server.daraja.catalogue import BUY_GOODS, PAYBILL
from server.runner import Emulator
from server.sandbox_credentials import SandboxCredentials, sandbox_credentials


@dataclass(frozen=True)
class ConnectFacts:
    """What a merchant app must be told to talk to this emulator."""

    base_url: str
    shortcode: str
    merchant_name: str
    passkey: str
    consumer_key: str
    consumer_secret: str
    any_credentials: bool
    token_curl: str
    push_curl: str
    control_url: str
    database: str
    sandbox: SandboxCredentials


def connect_facts(emulator: Emulator) -> ConnectFacts:
    """Build the facts from the running emulator (the same ones ``handset serve`` prints)."""
    sim = emulator.simulator
    merchant = sim.merchants()[0]
    base = emulator.base_url
    creds = sim.settings.credentials
    key, secret = (creds[0].key, creds[0].secret) if creds else ("any-key", "any-secret")
    timestamp = wire_timestamp(sim.clock.now())
    password = base64.b64encode(f"{merchant.shortcode}{merchant.passkey}{timestamp}".encode()).decode()
    handsets = sim.handsets()
    phone = handsets[0].msisdn if handsets else "254708374149"
    body = {
        "BusinessShortCode": merchant.shortcode,
        "Password": password,
        "Timestamp": timestamp,
        "TransactionType": BUY_GOODS if merchant.kind == "till" else PAYBILL,
        "Amount": 1,
        "PartyA": phone,
        "PartyB": merchant.shortcode,
        "PhoneNumber": phone,
        "CallBackURL": "https://example.com/mpesa/callback",
        "AccountReference": "ORDER1",
        "TransactionDesc": "Payment",
    }
    token_url = f"{base}/oauth/v1/generate?grant_type=client_credentials"
    credentials = shlex.quote(f"{key}:{secret}")
    # Commands are broken into lines between words, with a backslash, never inside a word: a
    # line copied with the mouse runs as it is, and the panel never has to fold a URL.
    token_curl = f"curl -u {credentials} \\\n  {shlex.quote(token_url)}"
    push_curl = "\n".join(
        [
            f"TOKEN=$(curl -s -u {credentials} \\",
            f"  {shlex.quote(token_url)} \\",
            '  | sed \'s/.*"access_token": *"\\([^"]*\\)".*/\\1/\')',
            f"curl -X POST {shlex.quote(base + '/mpesa/stkpush/v1/processrequest')} \\",
            '  -H "Authorization: Bearer $TOKEN" \\',
            '  -H "Content-Type: application/json" \\',
            f"  -d {shlex.quote(json.dumps(body, indent=1))}",
        ]
    )
    return ConnectFacts(
        base_url=base,
        shortcode=merchant.shortcode,
        merchant_name=merchant.name,
        passkey=merchant.passkey,
        consumer_key=key,
        consumer_secret=secret,
        any_credentials=not creds,
        token_curl=token_curl,
        push_curl=push_curl,
        control_url=f"{base}/simulator/handsets",
        database=str(sim.store.path),
        sandbox=sandbox_credentials(sim.settings, base),
    )


class CopyableFact(Horizontal):
    """A label, a value, and a Copy button that puts the value on the clipboard.

    The value is never wrapped: its lines are shown as they are, and a line wider than the
    panel scrolls sideways (a wrapped URL cannot be copied with the mouse). On a narrow screen
    the label and the button go above the value, which then gets the whole width.
    """

    DEFAULT_CSS = """
    CopyableFact { height: auto; margin: 0 0 1 0; layers: base overlay; }
    CopyableFact .fact-label { width: 14; color: $text-muted; text-style: bold; }
    CopyableFact .fact-scroll { width: 1fr; height: auto; scrollbar-size-horizontal: 1; }
    CopyableFact .fact-value { width: auto; text-wrap: nowrap; }
    CopyableFact Button { margin-left: 1; }
    """

    def __init__(self, label: str, value: str, *, copy: bool = True, note: str = "") -> None:
        super().__init__()
        self.label = label
        self.value = value
        self.copy = copy
        self.note = note

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="fact-label")
        text = Content.assemble((self.value, "$text-accent"), (f"\n{self.note}" if self.note else "", "$text-muted"))
        with HorizontalScroll(classes="fact-scroll", can_focus=False):
            yield Static(text, classes="fact-value")
        if self.copy:
            yield Button("Copy", compact=True, classes="copy")

    @on(Button.Pressed, ".copy")
    def copy_value(self, event: Button.Pressed) -> None:
        event.stop()
        self.app.copy_to_clipboard(self.value)
        self.notify(f"{self.label} copied to the clipboard", timeout=2)


class ConnectScreen(ModalScreen[None]):
    """Shows how to point a Daraja client at this emulator."""

    BINDINGS = [Binding("escape,c", "dismiss", "Close")]

    DEFAULT_CSS = """
    ConnectScreen { align: center middle; }
    ConnectScreen > Vertical {
        width: 104;
        max-width: 100%;
        height: 95%;
        border: round $success;
        border-title-color: $success;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        background: $surface;
        padding: 1 2;
    }
    ConnectScreen.-short > Vertical { height: 100%; padding: 0 1; }
    ConnectScreen VerticalScroll { height: 1fr; scrollbar-size-vertical: 1; }
    ConnectScreen #intro { margin-bottom: 1; }
    ConnectScreen #close { width: 100%; }
    ConnectScreen.-short #close { margin-top: 1; }
    ConnectScreen.-narrow CopyableFact .fact-label { dock: top; width: 1fr; }
    ConnectScreen.-narrow CopyableFact .copy { layer: overlay; dock: right; }
    """

    def __init__(self, facts: ConnectFacts) -> None:
        super().__init__()
        self.facts = facts

    def compose(self) -> ComposeResult:
        facts = self.facts
        credentials_note = "any non-empty consumer key and secret get a token" if facts.any_credentials else ""
        with Vertical() as box:
            box.border_title = "Connect your app"
            box.border_subtitle = "↑↓ scroll · Esc close"
            yield Static(
                "Point your Daraja client at this base URL instead of sandbox.safaricom.co.ke; nothing else changes.",
                id="intro",
            )
            with VerticalScroll():
                yield CopyableFact("Base URL", facts.base_url)
                yield CopyableFact("Shortcode", facts.shortcode, note=facts.merchant_name)
                yield CopyableFact("Passkey", facts.passkey)
                yield CopyableFact(
                    "Credentials",
                    f"{facts.consumer_key}:{facts.consumer_secret}",
                    note=credentials_note,
                )
                sandbox = facts.sandbox
                yield CopyableFact(
                    "Shortcodes",
                    " ".join(sandbox.organisations),
                    note="C2B, B2C, status, balance, reversal"
                    + (f" · till {' '.join(sandbox.tills)}" if sandbox.tills else ""),
                )
                yield CopyableFact("Initiator", sandbox.initiator, note="SecurityCredential: any base64")
                if sandbox.initiator_passwords:
                    yield CopyableFact(
                        "Password",
                        sandbox.initiator_passwords[0],
                        note=" ".join(f"{p} works too" for p in sandbox.initiator_passwords[1:]),
                    )
                yield CopyableFact("Test MSISDN", sandbox.test_msisdn)
                yield CopyableFact(".env", sandbox.env_block(), note="a sandbox app's .env, pointed here")
                yield CopyableFact("Get a token", facts.token_curl)
                yield CopyableFact("STK Push", facts.push_curl)
                yield CopyableFact("Control API", facts.control_url)
                yield CopyableFact("Database", facts.database, copy=False)
            yield Button("Close", id="close")

    @on(Button.Pressed, "#close")
    def close_panel(self) -> None:
        self.dismiss(None)
