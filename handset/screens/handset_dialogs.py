"""Dialogs that change a handset: add a new one, set a balance.

The dialogs do not know the rules: they hand what was typed to the engine
function they were given and show the engine's refusal word for word.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from server.errors import EngineError
from server.models import Handset

from ..texts import ksh, phone_number

AddHandset = Callable[[str, str | None, str | None, float | None], Handset]
SetBalance = Callable[[float], Handset]

# Every dialog is a ``.dialog`` box: as tall as its content, never taller than the screen. Its
# fields are in a ``.dialog-body`` that scrolls when the screen is short (80x24 is the reference
# size); its ``.dialog-foot`` (the refusal and the buttons) is docked at the bottom, always in view.
DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > .dialog {{
    width: 60;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: round $success;
    border-title-color: $success;
    border-title-style: bold;
    border-subtitle-color: $text-muted;
    background: $surface;
    padding: 1 2;
}}
{name}.-short > .dialog {{ padding: 0 1; }}
{name} .dialog-body {{ height: auto; max-height: 1fr; scrollbar-size-vertical: 1; }}
{name} .dialog-foot {{ dock: bottom; height: auto; }}
{name} Label {{ margin-top: 1; color: $text-muted; }}
{name} .error {{ color: $error; text-style: bold; margin-top: 1; }}
{name} .buttons {{ height: auto; margin-top: 1; align-horizontal: right; }}
{name} .buttons Button {{ margin-left: 2; }}
"""


class NotANumber(ValueError):
    pass


def show_error(dialog: ModalScreen[Any], text: str) -> None:
    """Show the engine's refusal word for word, under the fields."""
    error = dialog.query_one("#error", Static)
    error.update(Content.assemble("✗ ", text))
    error.display = True
    error.scroll_visible(animate=False)  # a dialog whose refusal sits in its scrolling part


def error_text(dialog: ModalScreen[Any]) -> str:
    """The refusal on show, without its mark ("" when none)."""
    error = dialog.query_one("#error", Static)
    return str(error.content).removeprefix("✗ ") if error.display else ""


ResultType = TypeVar("ResultType")


class Dialog(ModalScreen[ResultType]):
    """A modal form: Escape or its Cancel button closes it with None; the engine's
    refusals show under the fields (``#error``), readable by tests as ``error_text``."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    @on(Button.Pressed, "#cancel")
    def cancel_dialog(self) -> None:
        self.dismiss(None)

    @property
    def error_text(self) -> str:
        return error_text(self)


def parse_kes(text: str) -> float | None:
    """A typed amount of KES (``1,500`` is fine), None when left empty."""
    cleaned = text.strip().replace(",", "").replace("_", "")
    if cleaned.lower().startswith("ksh"):
        cleaned = cleaned[3:].strip()
    if not cleaned:
        return None
    try:
        return float(cleaned)
    except ValueError:
        raise NotANumber("balance must be a number of KES") from None


class AddHandsetScreen(Dialog[Handset | None]):
    """Name, MSISDN, PIN and opening balance of a new phone."""

    DEFAULT_CSS = DIALOG_CSS.format(name="AddHandsetScreen")

    def __init__(self, add_handset: AddHandset) -> None:
        super().__init__()
        self._add_handset = add_handset

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "Add a handset"
            box.border_subtitle = "Enter add · Esc cancel"
            with VerticalScroll(classes="dialog-body"):
                yield Label("Owner's name")
                yield Input(placeholder="Amina Hassan", id="name")
                yield Label("MSISDN")
                yield Input(placeholder="2547XXXXXXXX", id="msisdn", restrict=r"\d*", max_length=12)
                yield Label("M-PESA PIN (empty: the default PIN)")
                yield Input(placeholder="1234", id="pin", restrict=r"\d*", max_length=4)
                yield Label("Balance in KES (empty: the default balance)")
                yield Input(placeholder="10000", id="balance")
            with Vertical(classes="dialog-foot"):
                yield Static(id="error", classes="error")
                with Horizontal(classes="buttons"):
                    yield Button("Cancel", id="cancel")
                    yield Button("Add", variant="success", id="add")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        self.query_one("#name", Input).focus()

    def _value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    @on(Input.Submitted)
    @on(Button.Pressed, "#add")
    def add_the_handset(self) -> None:
        try:
            balance = parse_kes(self._value("balance"))
            handset = self._add_handset(
                self._value("msisdn"),
                self._value("name") or None,
                self._value("pin") or None,
                balance,
            )
        except (EngineError, NotANumber) as exc:
            show_error(self, str(exc))
            return
        self.dismiss(handset)


class BalanceScreen(Dialog[Handset | None]):
    """Set a handset's M-PESA balance to a new amount."""

    DEFAULT_CSS = DIALOG_CSS.format(name="BalanceScreen")

    def __init__(self, handset: Handset, set_balance: SetBalance) -> None:
        super().__init__()
        self._handset = handset
        self._set_balance = set_balance

    def compose(self) -> ComposeResult:
        handset = self._handset
        with Vertical(classes="dialog") as box:
            box.border_title = f"Balance of {handset.name}"
            box.border_subtitle = "Enter set · Esc cancel"
            with VerticalScroll(classes="dialog-body"):
                yield Static(
                    Content.assemble(
                        phone_number(handset.msisdn), ("  now ", "$text-muted"), ksh(handset.balance_cents)
                    )
                )
                yield Label("New M-PESA balance in KES")
                yield Input(value=f"{handset.balance_cents / 100:.2f}", id="balance")
            with Vertical(classes="dialog-foot"):
                yield Static(id="error", classes="error")
                with Horizontal(classes="buttons"):
                    yield Button("Cancel", id="cancel")
                    yield Button("Set balance", variant="success", id="set")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        field = self.query_one("#balance", Input)
        field.focus()
        field.select_all()

    @on(Input.Submitted)
    @on(Button.Pressed, "#set")
    def set_the_balance(self) -> None:
        try:
            amount = parse_kes(self.query_one("#balance", Input).value)
            if amount is None:
                raise NotANumber("balance must be a number of KES")
            handset = self._set_balance(amount)
        except (EngineError, NotANumber) as exc:
            show_error(self, str(exc))
            return
        self.dismiss(handset)
