"""The SIM-toolkit dialog an STK Push opens on the phone: prompt, PIN, OK / Cancel, countdown."""

from __future__ import annotations

import time

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.widgets import Button, Digits, Input, Static

from server.clock import Clock
from server.models import Transaction

from ..texts import countdown

BAR_WIDTH = 20
PIN_LENGTH = 4  # an M-PESA PIN; a handset sends nothing shorter
# Seconds after a dialog closes in which Esc does not cancel the payment: the Esc that closed the
# dialog, or a second one pressed out of habit, was meant for the dialog.
ESCAPE_GUARD = 0.5


class PinField(Input):
    """The masked PIN entry: it takes digits only, so letter keys reach the app's bindings.

    A plain Input swallows every printable key, which would hide the prompt's
    power keys (result code, callback plan) whenever the PIN field has focus.
    """

    # Input sets its virtual size on every key, and Widget's virtual_size asks for a new layout
    # of the whole screen when it changes: ~30 ms per digit with fifty phones and a busy log.
    # A PIN never outgrows its field, so here a new virtual size only repaints the field.
    virtual_size = Reactive(Size(0, 0), repaint=True)

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character.isdigit()

    async def _on_key(self, event: events.Key) -> None:
        if event.is_printable and not (event.character or "").isdigit():
            # Skip Input's handler (which would swallow it); the key still bubbles to the bindings.
            event.prevent_default()


class StkPrompt(Vertical):
    """Shows one live prompt; posts what the customer answered, never calls the engine."""

    DEFAULT_CSS = """
    StkPrompt {
        height: auto;
        margin: 1 1 0 1;
        padding: 0 1;
        border: round $success;
        border-title-color: $success;
        border-title-style: bold;
        background: $boost;
    }
    StkPrompt #prompt-text { margin: 1 0; }
    StkPrompt #pin { width: 1fr; border: tall $success 40%; }
    StkPrompt #pin:focus { border: tall $success; }
    StkPrompt #countdown { color: $text-muted; margin: 1 0 0 0; }
    StkPrompt #countdown.-urgent { color: $error; }
    /* The time left in digits three rows tall, for a room watching a projector (presenter mode). */
    StkPrompt #big-countdown { display: none; width: 1fr; text-align: center; color: $success; margin: 1 0 0 0; }
    StkPrompt #big-countdown.-urgent { color: $error; }
    StkPrompt #plan { color: $accent; text-style: bold; }
    StkPrompt #answer { height: auto; align-horizontal: center; margin: 1 0; }
    StkPrompt Button { width: 1fr; min-width: 8; margin: 0 1; }
    """

    BINDINGS = [Binding("escape", "cancel_prompt", "Cancel payment")]

    class PinEntered(Message):
        """The customer typed a PIN and pressed OK (or Enter)."""

        def __init__(self, checkout_request_id: str, pin: str) -> None:
            super().__init__()
            self.checkout_request_id = checkout_request_id
            self.pin = pin

    class CancelPressed(Message):
        """The customer pressed Cancel (or Escape)."""

        def __init__(self, checkout_request_id: str) -> None:
            super().__init__()
            self.checkout_request_id = checkout_request_id

    def __init__(self, clock: Clock, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self.transaction: Transaction | None = None
        self.border_title = "M-PESA"
        self._escape_ignored_until = 0.0

    def compose(self) -> ComposeResult:
        yield Static(id="prompt-text")
        yield PinField(
            placeholder="M-PESA PIN",
            password=True,
            restrict=r"\d{0,4}",
            max_length=4,
            id="pin",
        )
        yield Digits(id="big-countdown")
        yield Static(id="countdown")
        yield Static(id="plan")
        with Horizontal(id="answer"):
            yield Button("OK", variant="success", id="ok", disabled=True)
            yield Button("Cancel", variant="default", id="cancel")

    def on_mount(self) -> None:
        self.display = False
        self.query_one("#plan").display = False
        self._ticker = self.set_interval(1.0, self.refresh_countdown, pause=True)

    @property
    def pin_field(self) -> PinField:
        return self.query_one("#pin", PinField)

    @property
    def checkout_request_id(self) -> str | None:
        return self.transaction.checkout_request_id if self.transaction else None

    def open(self, transaction: Transaction) -> None:
        """Show ``transaction``'s prompt with an empty PIN field."""
        self.transaction = transaction
        self.query_one("#prompt-text", Static).update(transaction.prompt)
        self.pin_field.value = ""
        self.query_one("#ok", Button).disabled = True
        self.display = True
        self.refresh_countdown()
        self._ticker.resume()

    def show_plan(self, words: str | None) -> None:
        """Say how this prompt's callback will go out; None hides the line (a normal delivery)."""
        plan = self.query_one("#plan", Static)
        plan.update(f"↩ Callback: {words}" if words else "")
        plan.display = words is not None

    def close(self) -> None:
        """Take the prompt off the screen (answered, cancelled, timed out or lost)."""
        self._ticker.pause()
        self.transaction = None
        self.pin_field.value = ""
        self.display = False

    def refresh_countdown(self) -> None:
        """Redraw the time left, read from the engine's clock against the prompt's expiry."""
        txn = self.transaction
        if txn is None:
            return
        total = max(1.0, txn.expires_at - txn.created_at)
        left = max(0.0, txn.expires_at - self._clock.now())
        filled = round(BAR_WIDTH * left / total)
        bar = Content.assemble(("━" * filled, "$success"), ("━" * (BAR_WIDTH - filled), "$panel-lighten-2"))
        label = self.query_one("#countdown", Static)
        # One line of fixed width: no new layout needed, only a repaint (a layout costs the whole screen).
        label.update(Content.assemble(bar, f"  {countdown(left)} left"), layout=False)
        label.set_class(left <= 10, "-urgent")
        big = self.query_one("#big-countdown", Digits)
        if big.display:
            big.update(countdown(left))
            big.set_class(left <= 10, "-urgent")

    @on(Input.Changed, "#pin")
    def offer_ok(self, event: Input.Changed) -> None:
        """OK only lights up once the PIN has all its digits, as on a handset."""
        event.stop()
        self.query_one("#ok", Button).disabled = len(event.value) < PIN_LENGTH

    @on(Input.Submitted, "#pin")
    @on(Button.Pressed, "#ok")
    def send_pin(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        pin = self.pin_field.value
        if self.transaction is None:
            return
        if len(pin) < PIN_LENGTH:
            # A real handset will not send a short PIN (it would cost one of the three tries):
            # keep the customer on the field.
            self.pin_field.focus()
            self.app.bell()
            return
        self.post_message(self.PinEntered(self.transaction.checkout_request_id, pin))

    @on(Button.Pressed, "#cancel")
    def press_cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self._cancel()

    def ignore_escape(self) -> None:
        """A dialog just closed over this prompt: for ``ESCAPE_GUARD`` seconds Esc cancels nothing."""
        self._escape_ignored_until = time.monotonic() + ESCAPE_GUARD

    @property
    def escape_ignored(self) -> bool:
        """Whether an Esc now would be taken for one meant for the dialog that just closed."""
        return time.monotonic() < self._escape_ignored_until

    def action_cancel_prompt(self) -> None:
        if not self.escape_ignored:
            self._cancel()

    def _cancel(self) -> None:
        if self.transaction is not None:
            self.post_message(self.CancelPressed(self.transaction.checkout_request_id))
