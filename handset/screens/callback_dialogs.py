"""Dialogs that send a callback by hand: an edited copy of a real one, or a forged one.

Each awaits the engine call it was given and shows the engine's refusal in
place, so a mistyped URL or amount is fixed without starting over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from server.daraja.catalogue import PROMPT_CODES, RESULT_DESCRIPTIONS, SANDBOX_TEST_MSISDN
from server.errors import EngineError
from server.models import CallbackAttempt

from ..json_text import compact_json, pretty_json
from .handset_dialogs import DIALOG_CSS, Dialog, show_error

SendEdited = Callable[[str], Awaitable[CallbackAttempt]]
# The engine checks the typed values itself (and says which one is wrong), so they pass as typed.
Forge = Callable[[str, object, object, object], Awaitable[CallbackAttempt]]


class EditCallbackScreen(Dialog[CallbackAttempt | None]):
    """The callback's JSON in an editor; Send checks it is JSON and sends it, compacted, to the same URL."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "send", "Send", priority=True),
    ]
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="EditCallbackScreen")
        + """
    EditCallbackScreen > .dialog { width: 100; height: 90%; }
    EditCallbackScreen.-short > .dialog { height: 100%; }
    EditCallbackScreen TextArea { height: 1fr; min-height: 4; margin-top: 1; }
    """
    )

    def __init__(self, subject: str, url: str, body: str, send: SendEdited) -> None:
        super().__init__()
        self.subject = subject  # what the delivery is about: a CheckoutRequestID, a TransID, ...
        self.url = url
        self._body = body
        self._send = send

    def compose(self) -> ComposeResult:
        try:
            text = pretty_json(self._body)
        except ValueError:
            text = self._body  # an earlier edit may not have been JSON; show it as it went
        with Vertical(classes="dialog") as box:
            box.border_title = "Edit and send a callback"
            box.border_subtitle = "Ctrl+S send · Esc cancel"
            yield Static(
                Content.assemble(
                    ("To ", "$text-muted"),
                    self.url,
                    "\n",
                    ("For ", "$text-muted"),
                    self.subject,
                )
            )
            yield TextArea(text, id="body", show_line_numbers=True, tab_behavior="indent")
            with Vertical(classes="dialog-foot"):
                yield Static(id="error", classes="error")
                with Horizontal(classes="buttons"):
                    yield Button("Cancel", id="cancel")
                    yield Button("Send", variant="warning", id="send")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        self.query_one("#body", TextArea).focus()

    @property
    def editor(self) -> TextArea:
        return self.query_one("#body", TextArea)

    async def action_send(self) -> None:
        await self.send_edited()

    @on(Button.Pressed, "#send")
    async def send_edited(self) -> None:
        try:
            body = compact_json(self.editor.text)
        except ValueError as exc:
            show_error(self, f"not JSON: {exc}")
            return
        await self._send_and_close(body)

    async def _send_and_close(self, body: str) -> None:
        button = self.query_one("#send", Button)
        button.disabled = True
        button.label = "Sending…"
        try:
            attempt = await self._send(body)
        except EngineError as exc:
            show_error(self, str(exc))
            return
        finally:
            button.disabled = False
            button.label = "Send"
        self.dismiss(attempt)


def _code_choices() -> list[tuple[str, int | str]]:
    return [(f"{code}: {RESULT_DESCRIPTIONS[code]}", code) for code in PROMPT_CODES]


class ForgeCallbackScreen(Dialog[CallbackAttempt | None]):
    """A well-formed callback for a CheckoutRequestID that never existed, sent where you say."""

    DEFAULT_CSS = (
        DIALOG_CSS.format(name="ForgeCallbackScreen")
        + """
    ForgeCallbackScreen > .dialog { width: 84; }
    """
    )

    def __init__(self, url: str, forge: Forge) -> None:
        super().__init__()
        self._url = url
        self._forge = forge

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "Forge a callback"
            box.border_subtitle = "Enter send · Esc cancel"
            with VerticalScroll(classes="dialog-body"):
                yield Static(
                    Content.styled(
                        "A callback nobody asked for: its CheckoutRequestID was never issued. "
                        "Your app should refuse it.",
                        "$text-muted",
                    )
                )
                yield Label("Callback URL")
                yield Input(self._url, id="url")
                yield Label("ResultCode")
                yield Select(_code_choices(), value=0, allow_blank=False, id="code")
                yield Label("Amount (KES)")
                yield Input("1", id="amount", restrict=r"\d*")
                yield Label("PhoneNumber")
                yield Input(SANDBOX_TEST_MSISDN, id="msisdn", restrict=r"\d*", max_length=12)
            with Vertical(classes="dialog-foot"):
                yield Static(id="error", classes="error")
                with Horizontal(classes="buttons"):
                    yield Button("Cancel", id="cancel")
                    yield Button("Send forged callback", variant="warning", id="send")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        self.query_one("#url", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#send")
    async def send_forged(self) -> None:
        url = self.query_one("#url", Input).value.strip()
        code = self.query_one("#code", Select).value
        amount_text = self.query_one("#amount", Input).value.strip()
        amount: int | str = int(amount_text) if amount_text.isdigit() else amount_text
        msisdn = self.query_one("#msisdn", Input).value.strip()
        button = self.query_one("#send", Button)
        button.disabled = True
        try:
            attempt = await self._forge(url, code, amount, msisdn)
        except EngineError as exc:
            show_error(self, str(exc))
            return
        finally:
            button.disabled = False
        self.dismiss(attempt)
