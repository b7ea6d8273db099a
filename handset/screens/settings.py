"""The settings screen: who answers prompts, which era of Daraja to copy, token and prompt lifetimes.

Changes go to the engine in one go when Apply is pressed (``set_unattended``
and ``update_settings``); a refusal is shown in the engine's words and nothing
changes. Revoking tokens happens at once, as it cannot be half-done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from server.rules import Unattended
from server.simulator import EngineError

from .handset_dialogs import error_text, show_error
from .prompt_tools import validation_words

if TYPE_CHECKING:
    from server.simulator import Simulator

MODES = (
    ("human", "you answer every prompt"),
    ("approve", "the right PIN, after the think time"),
    ("cancel", "the customer cancels (1032)"),
    ("timeout", "nobody answers (1037)"),
    ("random", "any of those, repeatable with a seed"),
)

# Each spec switch: setting name, label, and the choices with what they do.
ERAS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("query_pending", "Pending query", (
        ("current", "current: ResultCode 4999, still under processing"),
        ("legacy", "legacy: HTTP 500, 500.001.1001"),
    )),
    ("result_desc_style", "ResultDesc style", (
        ("current", "current: plain descriptions"),
        ("legacy", "legacy: prefixed [STK_CB - ]"),
    )),
    ("account_reference", "AccountReference", (
        ("strict", "strict: at most 12 characters"),
        ("relaxed", "relaxed: longer ones accepted"),
    )),
    ("busy_phone", "Busy phone", (
        ("callback", "callback: accepted, then 1001"),
        ("error", "error: the push is refused at once"),
    )),
)


class SettingsScreen(ModalScreen[bool]):
    """Edit the runtime settings; dismisses True when something was applied."""

    BINDINGS = [
        Binding("escape", "dismiss(False)", "Close"),
        Binding("ctrl+s", "apply", "Apply", priority=True),
    ]

    DEFAULT_CSS = """
    SettingsScreen { align: center middle; }
    SettingsScreen > Vertical {
        width: 96;
        max-width: 95%;
        height: auto;
        max-height: 95%;
        border: round $success;
        border-title-color: $success;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        background: $surface;
        padding: 0 2;
    }
    SettingsScreen VerticalScroll { height: auto; max-height: 1fr; }
    SettingsScreen .section { color: $text; text-style: bold; margin-top: 1; }
    SettingsScreen .row { height: auto; margin-top: 1; }
    SettingsScreen .row Label { width: 20; padding: 0 0; color: $text-muted; }
    SettingsScreen .row Select { width: 1fr; }
    SettingsScreen .row Input { width: 16; }
    SettingsScreen .row .unit { width: 1fr; color: $text-muted; padding: 0 1; }
    SettingsScreen #tokens-note { width: 1fr; color: $text-muted; padding: 0 1; }
    SettingsScreen .error { color: $error; text-style: bold; margin-top: 1; }
    SettingsScreen .buttons { height: auto; margin: 1 0; align-horizontal: right; }
    SettingsScreen .buttons Button { margin-left: 2; }
    """

    def __init__(self, simulator: Simulator) -> None:
        super().__init__()
        self._sim = simulator

    def compose(self) -> ComposeResult:
        settings = self._sim.settings
        unattended = settings.unattended
        with Vertical() as box:
            box.border_title = "Settings"
            box.border_subtitle = "Ctrl+S apply · Esc close"
            with VerticalScroll():
                yield Static("Who answers prompts", classes="section")
                with Horizontal(classes="row"):
                    yield Label("Mode")
                    yield Select(
                        [(f"{mode}: {words}", mode) for mode, words in MODES],
                        value=unattended.mode, allow_blank=False, compact=True, id="mode",
                    )
                with Horizontal(classes="row"):
                    yield Label("Think time")
                    yield Input(f"{unattended.think_time:g}", id="think_time", compact=True)
                    yield Static("seconds before the rule answers", classes="unit")
                yield Static("Daraja's eras", classes="section")
                for name, label, choices in ERAS:
                    with Horizontal(classes="row"):
                        yield Label(label)
                        yield Select(
                            [(words, value) for value, words in choices],
                            value=getattr(settings, name), allow_blank=False, compact=True, id=name,
                        )
                yield Static("Lifetimes", classes="section")
                with Horizontal(classes="row"):
                    yield Label("Token lifetime")
                    yield Input(str(settings.token_lifetime), id="token_lifetime", compact=True)
                    yield Static("seconds, for tokens issued from now on", classes="unit")
                with Horizontal(classes="row"):
                    yield Label("Prompt timeout")
                    yield Input(f"{settings.prompt_timeout:g}", id="prompt_timeout", compact=True)
                    yield Static("seconds before an unanswered prompt settles 1037", classes="unit")
                with Horizontal(classes="row"):
                    yield Label("Access tokens")
                    yield Button("Revoke all now", variant="error", id="revoke", compact=True)
                    yield Static(
                        "every token dies; the next call gets 404.001.03", id="tokens-note",
                    )
            yield Static(id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close")
                yield Button("Apply", variant="success", id="apply")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        self.query_one("#mode", Select).focus()

    def _text(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def _changes(self) -> dict[str, Any]:
        """What the fields say, typed text passed on as typed: the engine's models parse and judge it."""
        changes: dict[str, Any] = {name: self.query_one(f"#{name}", Select).value for name, _, _ in ERAS}
        changes["token_lifetime"] = self._text("token_lifetime")
        changes["prompt_timeout"] = self._text("prompt_timeout")
        return changes

    async def action_apply(self) -> None:
        self.apply_settings()

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def apply_settings(self) -> None:
        current = self._sim.settings.unattended
        try:
            unattended = Unattended.model_validate({
                **current.model_dump(), "mode": self.query_one("#mode", Select).value,
                "think_time": self._text("think_time"),
            })
        except ValidationError as exc:
            show_error(self, validation_words(exc))
            return
        try:
            self._sim.update_settings(self._changes())
        except EngineError as exc:
            show_error(self, str(exc))
            return
        self._sim.set_unattended(unattended)
        self.dismiss(True)

    @on(Button.Pressed, "#revoke")
    def revoke_tokens(self) -> None:
        self._sim.revoke_tokens()
        self.query_one("#tokens-note", Static).update(Content.styled(
            "revoked: every token is dead, merchants must fetch a new one", "bold $warning",
        ))
        self.notify("Every access token is revoked.", title="Tokens")

    @on(Button.Pressed, "#close")
    def close_settings(self) -> None:
        self.dismiss(False)

    @property
    def error_text(self) -> str:
        return error_text(self)
