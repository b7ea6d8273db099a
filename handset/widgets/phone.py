"""One customer's handset: status bar, owner, M-PESA balance, STK dialog, notices, inbox."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Button, Static

from server.clock import Clock
from server.models import Handset, Message, Transaction

from ..texts import ksh, outcome_notice, phone_number
from .inbox import Inbox
from .status_bar import StatusBar
from .stk_prompt import StkPrompt


class Notice(Vertical):
    """A message the network shows on the phone after a failed answer, until OK is pressed."""

    DEFAULT_CSS = """
    Notice {
        height: auto;
        margin: 1 1 0 1;
        padding: 0 1;
        border: round $error;
        border-title-color: $error;
        border-title-style: bold;
        background: $error 10%;
    }
    Notice #notice-text { margin: 1 0 0 0; }
    Notice Button { width: 1fr; margin: 1 0; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="notice-text")
        yield Button("OK", id="dismiss", compact=True)

    def on_mount(self) -> None:
        self.border_title = "M-PESA"
        self.display = False

    @property
    def text(self) -> str:
        return str(self.query_one("#notice-text", Static).content)

    def show(self, text: str) -> None:
        self.query_one("#notice-text", Static).update(text)
        self.display = True

    def hide(self) -> None:
        self.display = False

    @on(Button.Pressed, "#dismiss")
    def dismiss_notice(self, event: Button.Pressed) -> None:
        event.stop()
        self.hide()


class Phone(Vertical):
    """Draws one handset; the app tells it what changed, it never calls the engine."""

    DEFAULT_CSS = """
    Phone {
        width: 44;
        max-width: 100%;
        height: 1fr;
        max-height: 44;
        border: round $success 60%;
        border-title-align: center;
        border-subtitle-align: center;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        background: $surface;
    }
    Phone:focus-within { border: round $success; }
    Phone.-offline { border: round $warning 50%; }
    Phone #owner { width: 1fr; text-align: center; text-style: bold; margin-top: 1; }
    Phone #number { width: 1fr; text-align: center; color: $text-muted; }
    Phone #wallet {
        height: auto;
        margin: 1 1 0 1;
        padding: 0 1;
        border: tall $success;
        background: $success 10%;
    }
    Phone #wallet-label { color: $success; text-style: bold; }
    Phone #balance { text-style: bold; }
    Phone #inbox-title { margin: 1 1 0 1; color: $text-muted; text-style: bold; }
    Phone.-offline #wallet { border: tall $warning 50%; background: $warning 5%; }
    """

    def __init__(self, handset: Handset, messages: list[Message], clock: Clock) -> None:
        super().__init__(id=f"handset-{handset.msisdn}")
        self.msisdn = handset.msisdn
        self._handset = handset
        self._messages = messages
        self._clock = clock
        self._shown: tuple[str, int, bool] | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar(self._clock)
        yield Static(id="owner")
        yield Static(phone_number(self.msisdn), id="number")
        with Vertical(id="wallet"):
            yield Static("M-PESA", id="wallet-label")
            yield Static(id="balance")
        yield Notice()
        yield StkPrompt(self._clock, id="stk")
        yield Static("Messages", id="inbox-title")
        yield Inbox(self._messages, id="inbox")

    def on_mount(self) -> None:
        self.border_title = "● ━━━ ●"
        self.border_subtitle = "▢"
        self.show_handset(self._handset)

    # --- what the app tells the phone ------------------------------------------
    @property
    def prompt(self) -> StkPrompt:
        return self.query_one(StkPrompt)

    @property
    def notice(self) -> Notice:
        return self.query_one(Notice)

    @property
    def inbox(self) -> Inbox:
        return self.query_one(Inbox)

    @property
    def online(self) -> bool:
        return self._handset.online

    @property
    def prompt_waiting(self) -> bool:
        return self.prompt.transaction is not None

    def show_handset(self, handset: Handset) -> None:
        """Redraw owner, balance and signal, only the parts that changed."""
        self._handset = handset
        shown = (handset.name, handset.balance_cents, handset.online)
        if shown == self._shown:
            return
        self._shown = shown
        self.query_one("#owner", Static).update(Content(handset.name))
        self.query_one("#balance", Static).update(
            Content.assemble(("Balance", "$text-muted"), "  ", (ksh(handset.balance_cents), "bold"))
        )
        self.query_one(StatusBar).online = handset.online
        self.set_class(not handset.online, "-offline")
        if not handset.online and self.prompt_waiting:
            # The phone lost the network: the dialog goes; the engine will time it out.
            self.prompt.close()

    def show_prompt(self, transaction: Transaction) -> bool:
        """Open the STK dialog; False when the phone is offline and never got the push."""
        if not self._handset.online:
            return False
        self.notice.hide()
        self.prompt.open(transaction)
        return True

    def settle(self, transaction: Transaction) -> None:
        """The engine settled ``transaction``: close its dialog and say what the customer sees."""
        if self.prompt.checkout_request_id == transaction.checkout_request_id:
            self.prompt.close()
        text = outcome_notice(transaction)
        if text is not None:
            self.notice.show(text)

    def receive_sms(self, sms: Message) -> None:
        self.inbox.receive(sms)
