"""Dialogs opened on a live prompt: settle it with any result code, choose how its callback goes out.

Like the handset dialogs they know no rule: each is handed the engine call to
make (``settle_with``, ``set_callback_plan``) and shows a refusal word for word.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from server.daraja.catalogue import PROMPT_CODES, RESULT_DESCRIPTIONS, RESULT_PLAIN_WORDS
from server.errors import EngineError
from server.models import Transaction
from server.rules import CallbackPlan

from ..texts import ksh_whole
from .handset_dialogs import DIALOG_CSS, Dialog, show_error

Settle = Callable[[int | str], Transaction]
SetPlan = Callable[[CallbackPlan], Transaction]


def validation_words(exc: ValidationError) -> str:
    """A pydantic refusal as one line a person can read: ``copies: Input should be ...``."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors())


def code_option(code: int | str) -> Option:
    """One row of the picker: the code and its exact ResultDesc, as the merchant will get them."""
    return Option(Content.assemble((f"{code!s:<11}", "bold $accent"), RESULT_DESCRIPTIONS[code]), id=f"code-{code}")


def code_meaning(code: int | str) -> Content:
    """What a code means to the merchant, under the list."""
    money = "the customer pays" if code == 0 else "no money moves"
    return Content.assemble(
        (f"{code}", "bold $accent"),
        " means ",
        (RESULT_PLAIN_WORDS[code], "bold"),
        f"; {money}.",
    )


class ResultCodeScreen(Dialog[Transaction | None]):
    """Pick a result code of spec §4 and settle the prompt with it."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Back to the prompt")]
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="ResultCodeScreen")
        + """
    ResultCodeScreen > .dialog { width: 110; padding: 1 1; }
    ResultCodeScreen.-short > .dialog { padding: 0 0; }
    ResultCodeScreen #codes { height: auto; max-height: 1fr; margin-top: 1; scrollbar-size-vertical: 1; }
    ResultCodeScreen #codes > .option-list--option { padding: 0 1; }
    ResultCodeScreen #meaning { margin: 1 1 0 1; color: $text-muted; }
    """
    )

    def __init__(self, transaction: Transaction, who: str, settle: Settle) -> None:
        super().__init__()
        self.transaction = transaction
        self._who = who
        self._settle = settle

    def compose(self) -> ComposeResult:
        txn = self.transaction
        with Vertical(classes="dialog") as box:
            box.border_title = "Settle with a result code"
            box.border_subtitle = "↑↓ choose · Enter settle · Esc back"
            yield Static(
                Content.assemble(
                    (self._who, "bold"),
                    f" · {ksh_whole(txn.amount)} to {txn.merchant_name}\n",
                    (txn.checkout_request_id, "$text-muted"),
                )
            )
            # The list scrolls itself on a short screen; what the chosen code means stays below it.
            yield OptionList(*(code_option(code) for code in PROMPT_CODES), id="codes")
            with Vertical(classes="dialog-foot"):
                yield Static(id="meaning")
                yield Static(id="error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        codes = self.query_one("#codes", OptionList)
        codes.highlighted = 0
        codes.focus()

    @on(OptionList.OptionHighlighted, "#codes")
    def explain_code(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#meaning", Static).update(code_meaning(PROMPT_CODES[event.option_index]))

    @on(OptionList.OptionSelected, "#codes")
    def settle_with_code(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        code = PROMPT_CODES[event.option_index]
        try:
            settled = self._settle(code)
        except EngineError as exc:
            show_error(self, str(exc))
            return
        self.dismiss(settled)


# Modes in the order the dialog lists them, with what each does to the merchant.
PLAN_CHOICES: tuple[tuple[str, str], ...] = (
    ("normal", "deliver at once"),
    ("delay", "deliver N seconds after settling"),
    ("late", "deliver after the merchant has given up"),
    ("drop", "never send it; STK Query still tells the truth"),
    ("duplicate", "send the same bytes N times"),
)


class CallbackPlanScreen(Dialog[Transaction | None]):
    """Choose how the prompt's callback is delivered; the numbers apply to delay and duplicate."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Back to the prompt")]
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="CallbackPlanScreen")
        + """
    CallbackPlanScreen > .dialog { width: 72; }
    CallbackPlanScreen #modes { height: auto; margin-top: 1; }
    CallbackPlanScreen .numbers { height: auto; }
    CallbackPlanScreen .numbers Label { width: 18; margin: 1 1 0 0; }
    CallbackPlanScreen .numbers Input { width: 12; }
    """
    )

    def __init__(self, transaction: Transaction, current: CallbackPlan, late_delay: float, set_plan: SetPlan) -> None:
        super().__init__()
        self.transaction = transaction
        self._current = current
        self._late_delay = late_delay
        self._set_plan = set_plan

    def compose(self) -> ComposeResult:
        late = f"deliver after {self._late_delay:g} s, when the merchant has given up"
        with Vertical(classes="dialog") as box:
            box.border_title = "Callback plan"
            box.border_subtitle = "↑↓ choose · Enter set · Tab numbers · Esc back"
            with VerticalScroll(classes="dialog-body"):
                yield Static(Content.styled(self.transaction.checkout_request_id, "$text-muted"))
                yield OptionList(
                    *(
                        Option(Content.assemble((f"{mode:<10}", "bold"), late if mode == "late" else words), id=mode)
                        for mode, words in PLAN_CHOICES
                    ),
                    id="modes",
                )
                with Horizontal(classes="numbers"):
                    yield Label("Delay (seconds)")
                    yield Input(f"{self._current.seconds or 30:g}", id="seconds", restrict=r"[\d.]*")
                with Horizontal(classes="numbers"):
                    yield Label("Copies")
                    yield Input(str(self._current.copies), id="copies", restrict=r"\d*")
            with Vertical(classes="dialog-foot"):
                yield Static(id="error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#error").display = False
        modes = self.query_one("#modes", OptionList)
        modes.highlighted = [mode for mode, _ in PLAN_CHOICES].index(self._current.mode)
        modes.focus()

    @on(OptionList.OptionSelected, "#modes")
    def choose_mode(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._apply(event.option_id or "normal")

    @on(Input.Submitted)
    def apply_highlighted_mode(self) -> None:
        option = self.query_one("#modes", OptionList).highlighted_option
        self._apply(option.id if option and option.id else "normal")

    def _apply(self, mode: str) -> None:
        seconds = self.query_one("#seconds", Input).value.strip() or "0"
        copies = self.query_one("#copies", Input).value.strip() or "0"
        try:
            plan = CallbackPlan.model_validate(
                {
                    "mode": mode,
                    "seconds": seconds if mode == "delay" else 0,
                    "copies": copies if mode == "duplicate" else 2,
                }
            )
        except ValidationError as exc:
            show_error(self, validation_words(exc))
            return
        try:
            changed = self._set_plan(plan)
        except EngineError as exc:
            show_error(self, str(exc))
            return
        self.dismiss(changed)
