"""The settings screen: who answers prompts, which era of Daraja to copy, token and prompt lifetimes.

Changes go to the engine in one go when Apply is pressed (``set_unattended``
and ``update_settings``); a refusal is shown in the engine's words and nothing
changes. Revoking tokens happens at once, as it cannot be half-done.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from server.errors import EngineError
from server.rules import Unattended

from .handset_dialogs import DIALOG_CSS, error_text, show_error
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
    (
        "query_pending",
        "Pending query",
        (
            ("current", "current: ResultCode 4999, still under processing"),
            ("legacy", "legacy: HTTP 500, 500.001.1001"),
        ),
    ),
    (
        "result_desc_style",
        "ResultDesc style",
        (
            ("current", "current: plain descriptions"),
            ("legacy", "legacy: prefixed [STK_CB - ]"),
        ),
    ),
    (
        "account_reference",
        "AccountReference",
        (
            ("strict", "strict: at most 12 characters"),
            ("relaxed", "relaxed: longer ones accepted"),
        ),
    ),
    (
        "busy_phone",
        "Busy phone",
        (
            ("callback", "callback: accepted, then 1001"),
            ("error", "error: the push is refused at once"),
        ),
    ),
)


class SettingsScreen(ModalScreen[bool]):
    """Edit the runtime settings; dismisses True when something was applied."""

    BINDINGS = [
        Binding("escape", "dismiss(False)", "Close"),
        Binding("ctrl+s", "apply", "Apply", priority=True),
    ]

    DEFAULT_CSS = (
        DIALOG_CSS.format(name="SettingsScreen")
        + """
    SettingsScreen > .dialog { width: 96; padding: 0 2; }
    SettingsScreen.-short > .dialog { padding: 0 1; }
    SettingsScreen .section { color: $text; text-style: bold; margin-top: 1; }
    SettingsScreen .row { height: auto; margin-top: 1; }
    SettingsScreen .row Label { width: 20; margin: 0; padding: 0 0; color: $text-muted; }
    SettingsScreen.-narrow .row Label { width: 16; }
    SettingsScreen .row Select { width: 1fr; }
    SettingsScreen .row Input { width: 16; }
    SettingsScreen.-narrow .row Input { width: 10; }
    SettingsScreen .row .unit { width: 1fr; color: $text-muted; padding: 0 1; }
    SettingsScreen #tokens-note { width: 1fr; color: $text-muted; padding: 0 1; }
    SettingsScreen #rules { height: 5; margin-top: 1; }
    SettingsScreen .hint { color: $text-muted; margin-top: 1; }
    SettingsScreen .buttons { margin: 1 0; }
    SettingsScreen.-short .buttons { margin: 1 0 0 0; }
    """
    )

    def __init__(self, simulator: Simulator) -> None:
        super().__init__()
        self._sim = simulator

    def compose(self) -> ComposeResult:
        settings = self._sim.settings
        unattended = settings.unattended
        with Vertical(classes="dialog") as box:
            box.border_title = "Settings"
            box.border_subtitle = "Ctrl+S apply · Esc close"
            with VerticalScroll(classes="dialog-body"):
                yield Static("Who answers prompts", classes="section")
                with Horizontal(classes="row"):
                    yield Label("Mode")
                    yield Select(
                        [(f"{mode}: {words}", mode) for mode, words in MODES],
                        value=unattended.mode,
                        allow_blank=False,
                        compact=True,
                        id="mode",
                    )
                with Horizontal(classes="row"):
                    yield Label("Think time")
                    yield Input(f"{unattended.think_time:g}", id="think_time", compact=True)
                    yield Static("seconds before the rule answers", classes="unit")
                with Horizontal(classes="row"):
                    yield Label("Seed")
                    yield Input("" if unattended.seed is None else str(unattended.seed), id="seed", compact=True)
                    yield Static("for random mode: the same seed, the same answers", classes="unit")
                yield Static(
                    "Rules, tried before the mode (JSON list; each needs msisdn, amount, min_amount or "
                    'max_amount, and an outcome), e.g. [{"msisdn": "254712345678", "outcome": "cancel"}]',
                    classes="hint",
                )
                yield TextArea(_rules_text(unattended), language="json", id="rules", compact=True)
                yield Static("Daraja's eras", classes="section")
                for name, label, choices in ERAS:
                    with Horizontal(classes="row"):
                        yield Label(label)
                        yield Select(
                            [(words, value) for value, words in choices],
                            value=getattr(settings, name),
                            allow_blank=False,
                            compact=True,
                            id=name,
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
                yield Static("Callback retries", classes="section")
                with Horizontal(classes="row"):
                    yield Label("Retries")
                    yield Input(str(settings.callback_retries), id="callback_retries", compact=True)
                    yield Static("0 sends once, as Daraja does", classes="unit")
                with Horizontal(classes="row"):
                    yield Label("Backoff")
                    yield Input(f"{settings.callback_backoff:g}", id="callback_backoff", compact=True)
                    yield Static("seconds before the first retry, doubled each time", classes="unit")
                with Horizontal(classes="row"):
                    yield Label("Backoff cap")
                    yield Input(f"{settings.callback_backoff_cap:g}", id="callback_backoff_cap", compact=True)
                    yield Static("seconds at most between two attempts", classes="unit")
                with Horizontal(classes="row"):
                    yield Label("Access tokens")
                    yield Button("Revoke all now", variant="error", id="revoke", compact=True)
                    yield Static(
                        "every token dies; the next call gets 404.001.03",
                        id="tokens-note",
                    )
            with Vertical(classes="dialog-foot"):
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
        for name in (
            "token_lifetime",
            "prompt_timeout",
            "callback_retries",
            "callback_backoff",
            "callback_backoff_cap",
        ):
            changes[name] = self._text(name)
        return changes

    async def action_apply(self) -> None:
        self.apply_settings()

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def apply_settings(self) -> None:
        current = self._sim.settings.unattended
        try:
            rules = json.loads(self.query_one("#rules", TextArea).text or "[]")
        except ValueError as exc:
            show_error(self, f"the rules are not JSON: {exc}")
            return
        try:
            unattended = Unattended.model_validate(
                {
                    **current.model_dump(),
                    "mode": self.query_one("#mode", Select).value,
                    "think_time": self._text("think_time"),
                    "seed": self._text("seed") or None,
                    "rules": rules,
                }
            )
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
        self.query_one("#tokens-note", Static).update(
            Content.styled(
                "revoked: every token is dead, merchants must fetch a new one",
                "bold $warning",
            )
        )
        self.notify("Every access token is revoked.", title="Tokens")

    @on(Button.Pressed, "#close")
    def close_settings(self) -> None:
        self.dismiss(False)

    @property
    def error_text(self) -> str:
        return error_text(self)


def _rules_text(unattended: Unattended) -> str:
    """The rules as editable JSON, one rule a line."""
    rules = [rule.model_dump(exclude_none=True) for rule in unattended.rules]
    if not rules:
        return "[]"
    return "[\n" + ",\n".join(f"  {json.dumps(rule)}" for rule in rules) + "\n]"
