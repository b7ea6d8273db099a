"""The keys screen (``?``): every key of the app, grouped by where it works.

``KEYS`` is the one list of them: this screen draws it and the README's key
table is written from it.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Phones", (
        ("n", "go to the next phone with a prompt waiting"),
        ("a", "add a handset"),
        ("b", "set the balance of the phone on screen"),
        ("o", "take the phone off the network, or back on (pushes to it time out)"),
        ("u", "unlock a PIN locked after three wrong PINs (locked pushes settle 8006)"),
        ("l", "go to the activity log; Enter shows an entry's bodies"),
    )),
    ("At a prompt", (
        ("0-9 Enter", "type the 4-digit M-PESA PIN and send it (a wrong one settles 2001)"),
        ("Esc", "cancel: 1032 (not in the half second after a dialog closed)"),
        ("r", "settle with any result code of the spec, each with its exact ResultDesc"),
        ("p", "callback plan: normal, delay N s, late, drop, duplicate N"),
    )),
    ("Callback inspector (i)", (
        ("↑ ↓", "choose an attempt: its request and the merchant's answer show below"),
        ("r", "resend the same bytes to the CallBackURL"),
        ("e", "edit the JSON and send it (Ctrl+S)"),
        ("f", "forge a callback for a CheckoutRequestID that never existed"),
    )),
    ("Everywhere", (
        ("s", "settings: who answers prompts, Daraja's eras, lifetimes, revoke tokens"),
        ("c", "how to connect your app"),
        ("?", "this list"),
        ("Ctrl+R", "reset the emulator to its configuration (asks first)"),
        ("Ctrl+Q", "quit (asks first while prompts are waiting)"),
    )),
)


def keys_table() -> Content:
    """The key list as the screen shows it."""
    parts: list[Content] = []
    for section, rows in KEYS:
        parts.append(Content.styled(section, "bold $success"))
        for key, words in rows:
            parts.append(Content.assemble("  ", (f"{key:<11}", "bold $accent"), words))
        parts.append(Content(""))
    return Content("\n").join(parts[:-1])


class HelpScreen(ModalScreen[None]):
    """Lists the keys; any of Esc, ? or q closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss(None)", "Close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 96;
        max-width: 95%;
        height: auto;
        max-height: 95%;
        border: round $success;
        border-title-color: $success;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        background: $surface;
        padding: 1 2;
    }
    HelpScreen VerticalScroll { height: auto; }
    """

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Keys"
            box.border_subtitle = "Esc close"
            with VerticalScroll():
                yield Static(keys_table(), id="keys")
