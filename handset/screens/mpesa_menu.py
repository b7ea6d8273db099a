"""The phone's M-PESA menu (spec §17): Send Money, Lipa na M-PESA and My Account, as the SIM toolkit asks.

The menu is a series of pages: a list to choose from (a digit picks the item with that number, as
on a handset), then one question at a time (``Enter business no.``, ``Enter amount``, ``Enter
PIN``), then a confirm page with OK and Back. Esc goes back a page; on the first page it closes
the menu. The dialog knows no rule: the engine's ``PhoneMenu`` does the work and its refusals
show word for word.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.events import Key
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from server.customer_texts import local_number
from server.errors import EngineError, NotFound
from server.flows.menu import PhoneMenu, WrongPin, customer_msisdn
from server.models import C2BPaymentRecord, Handset

from ..texts import ksh
from .handset_dialogs import DIALOG_CSS, Dialog, show_error

# Items in the handset's order; those with no action are on the menu but not in the emulator.
MENUS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "M-PESA": (
        ("Send Money", "form:send_money"),
        ("Withdraw Cash", None),
        ("Buy Airtime", None),
        ("Loans and Savings", None),
        ("Lipa na M-PESA", "menu:Lipa na M-PESA"),
        ("My Account", "menu:My Account"),
    ),
    "Lipa na M-PESA": (
        ("Pay Bill", "form:pay_bill"),
        ("Buy Goods and Services", "form:buy_goods"),
        ("Pochi la Biashara", None),
    ),
    "My Account": (
        ("Mini Statement", None),
        ("Check Balance", "form:check_balance"),
        ("Change PIN", None),
        ("Language", None),
        ("Update Menu", None),
    ),
}

# The questions of each action, in the handset's order (spec §17), with the keys each field takes.
FORMS: dict[str, tuple[tuple[str, str], ...]] = {
    "send_money": (("phone", "Enter phone no."), ("amount", "Enter amount")),
    "pay_bill": (("business", "Enter business no."), ("account", "Enter account no."), ("amount", "Enter amount")),
    "buy_goods": (("till", "Enter till no."), ("amount", "Enter amount")),
    "check_balance": (),
}
RESTRICT = {
    "business": r"\d*",
    "till": r"\d*",
    "amount": r"[\d,]*",
    "pin": r"\d*",
    "account": None,
    "phone": r"[\d+ ]*",
}
MAX_LENGTH = {"business": 7, "till": 7, "amount": 7, "pin": 4, "account": 20, "phone": 16}


@dataclass(frozen=True)
class MenuOutcome:
    """What the menu did, for the app to announce."""

    ok: bool
    title: str
    words: str


@dataclass(frozen=True)
class _Page:
    kind: str  # menu | field | confirm
    name: str  # the menu's name, or the form's
    field: str = ""  # for a field page
    question: str = ""


class MpesaMenuScreen(Dialog[MenuOutcome | None]):
    """One handset's M-PESA menu."""

    BINDINGS = [Binding("escape", "back", "Back")]
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="MpesaMenuScreen")
        + """
    MpesaMenuScreen > .dialog { width: 50; }
    MpesaMenuScreen #question { text-style: bold; margin-top: 1; }
    MpesaMenuScreen #choices { height: auto; max-height: 12; margin-top: 1; border: none; padding: 0; }
    MpesaMenuScreen #choices > .option-list--option { padding: 0 1; }
    MpesaMenuScreen #dimmed { margin-top: 1; }
    MpesaMenuScreen #entry { margin-top: 1; }
    MpesaMenuScreen #confirm { margin-top: 1; }
    """
    )

    def __init__(self, handset: Handset, menu: PhoneMenu) -> None:
        super().__init__()
        self._handset = handset
        self._menu = menu
        self._pages: list[_Page] = []
        self._answers: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "M-PESA"
            box.border_subtitle = "digit or Enter choose · Esc back"
            yield Static(Content.styled(f"{self._handset.name} · {self._handset.msisdn}", "dim"))
            yield Static(id="question")
            yield OptionList(id="choices")
            yield Static(
                Content.styled("Dimmed items are on the handset's menu but not in the emulator.", "dim"),
                id="dimmed",
            )
            yield Input(id="entry")
            yield Static(id="confirm")
            with Vertical(classes="dialog-foot"):
                yield Static(id="error", classes="error")
                with Horizontal(classes="buttons"):
                    yield Button("Back", id="back")
                    yield Button("OK", variant="success", id="ok")

    def on_mount(self) -> None:
        self._open(_Page("menu", "M-PESA"))

    # --- pages ------------------------------------------------------------------------------------
    @property
    def page(self) -> _Page:
        return self._pages[-1]

    def _open(self, page: _Page, error: str = "") -> None:
        self._pages.append(page)
        self._draw(error)

    def _draw(self, error: str = "") -> None:
        page = self.page
        question = self.query_one("#question", Static)
        choices = self.query_one("#choices", OptionList)
        entry = self.query_one("#entry", Input)
        confirm = self.query_one("#confirm", Static)
        self.query_one("#error").display = False
        choices.display = page.kind == "menu"
        self.query_one("#dimmed").display = page.kind == "menu" and any(a is None for _, a in MENUS[page.name])
        entry.display = page.kind == "field"
        confirm.display = page.kind == "confirm"
        box = self.query_one(".dialog")
        box.border_subtitle = "digit or Enter choose · Esc back" if page.kind == "menu" else "Enter OK · Esc back"
        self.query_one("#ok", Button).display = page.kind != "menu"
        self.query_one("#ok", Button).disabled = False
        if page.kind == "menu":
            question.update(page.name)
            choices.set_options(
                Option(
                    Content.assemble((f"{number} ", "bold"), label)
                    if action
                    else Content.styled(f"{number} {label}", "dim"),
                    disabled=action is None,
                )
                for number, (label, action) in enumerate(MENUS[page.name], 1)
            )
            choices.highlighted = next(i for i, (_, action) in enumerate(MENUS[page.name]) if action)
            choices.focus()
        elif page.kind == "field":
            question.update(page.question)
            entry.restrict = RESTRICT[page.field]
            entry.max_length = MAX_LENGTH[page.field]
            entry.password = page.field == "pin"
            entry.value = "" if page.field == "pin" else self._answers.get(page.field, "")
            entry.focus()
        else:
            question.update("Confirm")
            confirm.update(self._confirm_words(page.name))
            self.query_one("#ok", Button).focus()
        if error:
            show_error(self, error)

    def _confirm_words(self, form: str) -> Content:
        a = self._answers
        amount = ksh(int(a["amount"].replace(",", "")) * 100)
        if form == "send_money":
            # Hakikisha: the recipient's registered name, so a wrong number is caught before OK.
            recipient = self._menu.recipient(a["phone"])
            name = recipient.name.upper() if recipient else "A NUMBER NEW TO M-PESA HERE"
            number = local_number(customer_msisdn(a["phone"]) or a["phone"])
            return Content.assemble(f"Send money to {number[:4]} {number[4:]}, {amount}\n", (name, "bold"))
        if form == "pay_bill":
            name = (self._menu.payee_name(a["business"]) or "").upper()
            return Content.assemble(
                f"Pay bill {a['business']} Account {a['account']} {amount}\n", (f"to {name}", "bold")
            )
        name = (self._menu.payee_name(a["till"], till=True) or "").upper()
        return Content.assemble(f"Buy goods from till {a['till']} {amount}\n", (f"paid to {name}", "bold"))

    def action_back(self) -> None:
        if self.query_one("#ok", Button).disabled:
            return  # M-PESA is working on it: the answer comes first
        if len(self._pages) == 1:
            self.dismiss(None)
            return
        self._pages.pop()
        self._draw()

    @on(Button.Pressed, "#back")
    def back_pressed(self) -> None:
        self.action_back()

    # --- choosing -----------------------------------------------------------------------------------
    def on_key(self, event: Key) -> None:
        """On a menu a digit picks the item with that number, as on the handset's keypad."""
        if self.page.kind != "menu" or not event.character or not event.character.isdigit():
            return
        event.stop()
        items = MENUS[self.page.name]
        number = int(event.character)
        if 1 <= number <= len(items):
            self._choose(number - 1)

    @on(OptionList.OptionSelected, "#choices")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._choose(event.option_index)

    def _choose(self, index: int) -> None:
        label, action = MENUS[self.page.name][index]
        if action is None:
            show_error(self, f"{label} is on the handset's menu but not in the emulator")
            return
        kind, _, name = action.partition(":")
        if kind == "menu":
            self._open(_Page("menu", name))
            return
        self._answers = {}
        self._next_question(name, 0)

    def _next_question(self, form: str, index: int) -> None:
        questions = FORMS[form]
        if index < len(questions):
            field, question = questions[index]
            self._open(_Page("field", form, field, question))
        else:
            self._open(_Page("field", form, "pin", "Enter PIN"))

    # --- answering ----------------------------------------------------------------------------------
    @on(Input.Submitted, "#entry")
    @on(Button.Pressed, "#ok")
    def ok(self) -> None:
        page = self.page
        if page.kind == "menu":
            return
        if page.kind == "confirm":
            self._run(page.name)
            return
        value = self.query_one("#entry", Input).value.strip()
        if not value and page.field != "account":
            show_error(self, "enter a value first")
            return
        if page.field in ("business", "till") and self._menu.payee_name(value, till=page.field == "till") is None:
            show_error(self, f"{value} is not a {'business' if page.field == 'business' else 'till'} number here")
            return
        if page.field == "phone":
            msisdn = customer_msisdn(value)
            if msisdn is None:
                show_error(self, f"{value} is not a Kenyan mobile number (07XXXXXXXX)")
                return
            if msisdn == self._handset.msisdn:
                show_error(self, "that is this phone's own number")
                return
        if page.field == "amount" and not (value.replace(",", "").isdecimal() and int(value.replace(",", "")) >= 1):
            show_error(self, "enter the amount in whole shillings, 1 or more")
            return
        if page.field == "pin" and len(value) != 4:
            show_error(self, "the M-PESA PIN has 4 digits")
            return
        self._answers[page.field] = value
        if page.field != "pin":
            fields = [field for field, _ in FORMS[page.name]]
            self._next_question(page.name, fields.index(page.field) + 1)
        elif page.name == "check_balance":
            self._run(page.name)
        else:
            self._open(_Page("confirm", page.name))

    @work(exclusive=True, group="mpesa-menu")
    async def _run(self, form: str) -> None:
        """Ask M-PESA; a payment waits for the merchant's validation (up to c2b_validation_timeout)."""
        ok = self.query_one("#ok", Button)
        ok.disabled = True
        a, msisdn = self._answers, self._handset.msisdn
        try:
            if form == "check_balance":
                self._menu.check_balance(msisdn, a["pin"])
                self.dismiss(MenuOutcome(True, "Check Balance", "M-PESA sent the balance by SMS."))
                return
            if form == "send_money":
                transfer = self._menu.send_money(msisdn, a["pin"], a["phone"], a["amount"])
                recipient = self._menu.recipient(a["phone"])
                to = recipient.name if recipient else a["phone"]
                words = f"Sent {ksh(transfer.amount * 100)} to {to}: {transfer.receipt}. Both phones have the SMS."
                self.dismiss(MenuOutcome(True, "Send Money", words))
                return
            if form == "pay_bill":
                record = await self._menu.pay_bill(msisdn, a["pin"], a["business"], a["account"], a["amount"])
            else:
                record = await self._menu.buy_goods(msisdn, a["pin"], a["till"], a["amount"])
        except WrongPin as exc:
            self._back_to("pin", str(exc))
            return
        except NotFound as exc:
            self._back_to({"pay_bill": "business", "buy_goods": "till", "send_money": "phone"}[form], str(exc))
            return
        except EngineError as exc:
            ok.disabled = False
            show_error(self, str(exc))
            return
        self.dismiss(_payment_outcome(record))

    def _back_to(self, field: str, error: str) -> None:
        """Go back to the page that asked for ``field`` and say what was wrong with it."""
        while len(self._pages) > 1 and not (self.page.kind == "field" and self.page.field == field):
            self._pages.pop()
        self._draw(error)


def _payment_outcome(record: C2BPaymentRecord) -> MenuOutcome:
    what = f"{ksh(record.amount * 100)} to {record.shortcode}"
    if record.status == "completed":
        return MenuOutcome(True, "Lipa na M-PESA", f"Paid {what}: {record.trans_id}. The SMS is on the phone.")
    return MenuOutcome(False, "Not paid", f"{what} did not go through: {record.reason}")
