"""A yes-or-no question before something that cannot be taken back (quit with prompts live, reset)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Static
from textual.widgets.button import ButtonVariant

from .handset_dialogs import DIALOG_CSS, Dialog


class ConfirmScreen(Dialog[bool]):
    """Asks once; dismisses True for the action, False for Esc or the way back.

    ``confirm_first`` puts the keyboard on the action (Enter does it) when doing it is safe to do
    by habit, as quitting is; otherwise the way back has it.
    """

    BINDINGS = [Binding("escape", "dismiss(False)", "Back")]
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="ConfirmScreen")
        + """
    ConfirmScreen #question { height: auto; }
    """
    )

    def __init__(
        self,
        title: str,
        question: str,
        action: str,
        *,
        back: str = "Back",
        variant: ButtonVariant = "error",
        confirm_first: bool = False,
    ) -> None:
        super().__init__()
        self._title = title
        self._question = question
        self._action = action
        self._back = back
        self._variant = variant
        self._confirm_first = confirm_first

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            box.border_subtitle = "Esc back"
            with VerticalScroll(classes="dialog-body"):
                yield Static(self._question, id="question")
            with Vertical(classes="dialog-foot"), Horizontal(classes="buttons"):
                yield Button(self._back, id="back")
                yield Button(self._action, variant=self._variant, id="confirm")

    def on_mount(self) -> None:
        self.query_one("#confirm" if self._confirm_first else "#back", Button).focus()

    @on(Button.Pressed, "#confirm")
    def confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#back")
    def go_back(self) -> None:
        self.dismiss(False)
