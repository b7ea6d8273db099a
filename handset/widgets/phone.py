"""One customer's handset: status bar, owner, M-PESA balance, STK dialog, notices, inbox.

A phone keeps what it shows (handset, live prompt, notice) as plain state and
draws its screen only once it is first looked at: with fifty handsets, fifty
hidden screens would cost more to build than everything else together, and
a burst of prompts on hidden phones then only changes a few attributes.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message as TextualMessage
from textual.widgets import Button, Static

from server.clock import Clock
from server.models import Handset, Message, Transaction

from ..texts import ksh, outcome_notice, phone_number
from .inbox import Inbox
from .status_bar import StatusBar
from .stk_prompt import StkPrompt

LOCK_MARK = "⊘"  # not an emoji: it keeps one cell everywhere, and the PNG font has it
LOCK_TEXT = f"{LOCK_MARK} PIN locked after three wrong PINs\nPushes settle 8006 · press u to unlock"


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

    class Dismissed(TextualMessage):
        """The customer pressed OK on the notice."""

    @on(Button.Pressed, "#dismiss")
    def press_ok(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.Dismissed())


class Phone(VerticalScroll, can_focus=False):
    """Draws one handset; the app tells it what changed, it never calls the engine."""

    DEFAULT_CSS = """
    Phone {
        width: 100%;
        height: 1fr;
        max-height: 46;
        border: round $success 60%;
        border-title-align: center;
        border-subtitle-align: center;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        background: $surface;
        /* Scrolls only when even a live prompt's own lines cannot fit (a terminal under 24 rows). */
        scrollbar-size-vertical: 1;
    }
    Phone:focus-within { border: round $success; }
    Phone.-offline { border: round $warning 50%; }
    Phone #owner { width: 1fr; text-align: center; margin-top: 1; }
    Phone #wallet {
        margin: 1 1 0 1;
        padding: 0 1;
        border: round $success;
        border-title-color: $success;
        border-title-style: bold;
        background: $success 10%;
    }
    Phone #inbox-title { margin: 1 1 0 1; color: $text-muted; text-style: bold; }
    Phone.-offline #wallet { border: round $warning 50%; border-title-color: $warning; background: $warning 5%; }
    Phone #lock {
        display: none;
        margin: 1 1 0 1;
        color: $error;
        text-style: bold;
        background: $error 10%;
        text-align: center;
    }
    Phone.-locked #lock { display: block; }
    Phone.-locked { border: round $error 60%; }
    /* A live prompt gets the screen, as on a handset: the wallet and the inbox wait behind it,
       the owner's name stays (whose phone is ringing), the number goes. */
    Phone.-prompting #wallet, Phone.-prompting #inbox-title, Phone.-prompting #inbox { display: none; }
    Phone.-prompting #owner { height: 1; }
    """

    def __init__(self, handset: Handset, clock: Clock, load_inbox: Callable[[], list[Message]]) -> None:
        super().__init__(id=f"handset-{handset.msisdn}")
        self.msisdn = handset.msisdn
        self._handset = handset
        self._clock = clock
        self._load_inbox = load_inbox
        self._shown: tuple[str, int, bool] | None = None
        self.built = False
        self.transaction: Transaction | None = None  # the prompt on this phone's screen
        self.plan_words: str | None = None  # how that prompt's callback goes out, when not as usual
        self.notice_text: str | None = None

    def compose(self) -> ComposeResult:
        if not self.built:
            return
        yield StatusBar(self._clock)
        yield Static(id="owner")
        yield Static(id="wallet")
        yield Static(LOCK_TEXT, id="lock")
        yield Notice()
        yield StkPrompt(self._clock, id="stk")
        yield Static("Messages", id="inbox-title")
        yield Inbox(self._load_inbox(), id="inbox")

    def on_mount(self) -> None:
        self.border_title = "● ━━━ ●"
        self.border_subtitle = "▢"
        self.set_class(not self._handset.online, "-offline")
        self.set_class(self._handset.pin_locked, "-locked")

    async def build(self) -> None:
        """Draw the screen from the current state, the first time the phone is looked at."""
        if self.built:
            return
        self.built = True
        await self.recompose()
        self._shown = None
        self._draw_handset()
        if self.transaction is not None:
            self.prompt.open(self.transaction)
            self.prompt.show_plan(self.plan_words)
        if self.notice_text is not None:
            self.notice.show(self.notice_text)

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
        return self.transaction is not None

    @property
    def pin_locked(self) -> bool:
        return self._handset.pin_locked

    def show_handset(self, handset: Handset) -> None:
        """Take a changed handset; the dialog goes if the phone lost the network."""
        self._handset = handset
        self.set_class(not handset.online, "-offline")
        self.set_class(handset.pin_locked, "-locked")
        if not handset.online and self.transaction is not None:
            # The engine will time the prompt out: nobody can answer it any more.
            self._close_prompt()
        self._draw_handset()

    def _draw_handset(self) -> None:
        handset = self._handset
        shown = (handset.name, handset.balance_cents, handset.online)
        if not self.built or shown == self._shown:
            return
        self._shown = shown
        self.query_one("#owner", Static).update(
            Content.assemble(
                (handset.name, "bold"),
                "\n",
                (phone_number(self.msisdn), "$text-muted"),
            )
        )
        wallet = self.query_one("#wallet", Static)
        wallet.border_title = "M-PESA"
        wallet.update(Content.assemble(("Balance  ", "$text-muted"), (ksh(handset.balance_cents), "bold")))
        self.query_one(StatusBar).online = handset.online

    def show_prompt(self, transaction: Transaction) -> bool:
        """Open the STK dialog; False when the phone is offline and never got the push."""
        if not self._handset.online:
            return False
        self.transaction = transaction
        self.plan_words = None
        self.notice_text = None
        self.add_class("-prompting")
        if self.built:
            self.notice.hide()
            self.prompt.open(transaction)
            self.prompt.show_plan(None)
        return True

    def show_plan(self, words: str | None) -> None:
        """Say on the prompt how its callback will go out (None: as usual)."""
        self.plan_words = words
        if self.built and self.transaction is not None:
            self.prompt.show_plan(words)

    def settle(self, transaction: Transaction) -> bool:
        """The engine settled ``transaction``: close its dialog and say what the customer sees.

        True when that was the prompt on this phone's screen; False (nothing changes) for any
        other transaction, such as another push to this phone settled 1001 because it is busy.
        """
        if self.transaction is None or self.transaction.checkout_request_id != transaction.checkout_request_id:
            return False
        self._close_prompt()
        self.notice_text = outcome_notice(transaction)
        if self.notice_text is not None and self.built:
            self.notice.show(self.notice_text)
        return True

    def _close_prompt(self) -> None:
        self.transaction = None
        self.plan_words = None
        self.remove_class("-prompting")
        if self.built:
            self.prompt.close()

    def dismiss_notice(self) -> None:
        self.notice_text = None
        if self.built:
            self.notice.hide()

    @on(Notice.Dismissed)
    def forget_notice(self, event: Notice.Dismissed) -> None:
        event.stop()
        self.dismiss_notice()

    def receive_sms(self, sms: Message) -> None:
        if self.built:  # an unbuilt phone reads its inbox from the engine when it is built
            self.inbox.receive(sms)
