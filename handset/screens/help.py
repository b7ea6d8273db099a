"""The keys screen (``?``): every key of the app, grouped by where it works.

``KEYS`` is the one list of them: this screen draws it, and a test checks that
the README's key tables name every one.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .handset_dialogs import DIALOG_CSS

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Phones",
        (
            ("n", "go to the next phone with a prompt waiting"),
            ("m", "the phone's M-PESA menu: Send Money, Lipa na M-PESA (Pay Bill, Buy Goods), Check Balance"),
            ("a", "add a handset"),
            ("b", "set the balance of the phone on screen"),
            ("o", "take the phone off the network, or back on (pushes to it time out)"),
            ("u", "unlock a PIN locked after three wrong PINs (locked pushes settle 8006)"),
            ("l", "go to the activity log; Enter shows an entry's bodies"),
        ),
    ),
    (
        "At a prompt",
        (
            ("0-9 Enter", "type the 4-digit M-PESA PIN and send it (a wrong one settles 2001)"),
            ("Esc", "cancel: 1032 (not in the half second after a dialog closed)"),
            ("r", "settle with any result code of the spec, each with its exact ResultDesc"),
            ("p", "callback plan: normal, delay N s, late, drop, duplicate N"),
        ),
    ),
    (
        "Callback inspector (i)",
        (
            ("↑ ↓", "choose an attempt: its request and the merchant's answer show below"),
            ("r", "resend the same bytes to the CallBackURL"),
            ("e", "edit the JSON and send it (Ctrl+S)"),
            ("f", "forge a callback for a CheckoutRequestID that never existed"),
        ),
    ),
    (
        "Everywhere",
        (
            ("s", "settings: who answers prompts, Daraja's eras, lifetimes, revoke tokens"),
            ("c", "how to connect your app"),
            ("d", "presenter mode: one phone large and centred, the log one line, a big countdown"),
            ("?", "this list"),
            ("Ctrl+R", "reset the emulator to its configuration (asks first)"),
            ("Ctrl+Q", "quit (asks first while prompts are waiting)"),
        ),
    ),
)


class HelpScreen(ModalScreen[None]):
    """Lists the keys, scrolling when the screen is short; any of Esc, ? or q closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss(None)", "Close")]

    DEFAULT_CSS = (
        DIALOG_CSS.format(name="HelpScreen")
        + """
    HelpScreen > .dialog { width: 96; }
    HelpScreen .section { color: $success; text-style: bold; margin-top: 1; }
    HelpScreen .section.-first { margin-top: 0; }
    HelpScreen .key-row { height: auto; }
    /* The key in its own column, so a description that wraps stays under the descriptions. */
    HelpScreen .key { width: 13; padding-left: 2; color: $accent; text-style: bold; }
    HelpScreen .words { width: 1fr; }
    HelpScreen #keys:focus { background-tint: $foreground 3%; }
    """
    )

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "Keys"
            box.border_subtitle = "↑↓ PgUp PgDn scroll · Esc close"
            with VerticalScroll(classes="dialog-body", id="keys"):
                for number, (section, rows) in enumerate(KEYS):
                    yield Static(section, classes="section -first" if number == 0 else "section")
                    for key, words in rows:
                        with Horizontal(classes="key-row"):
                            yield Static(key, classes="key")
                            yield Static(words, classes="words")

    def on_mount(self) -> None:
        self.query_one("#keys").focus()  # the arrows and PgDn scroll the list at once
