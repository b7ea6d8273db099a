"""A phone's SMS inbox, newest message first, with the engine's exact texts."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from server.models import Message

from ..texts import sms_stamp

# A phone keeps a bounded inbox on screen; the full history stays in the engine.
SHOWN_MESSAGES = 50


class SmsBubble(Static):
    """One SMS: sender and time on top, then the text as the engine wrote it."""

    DEFAULT_CSS = """
    SmsBubble {
        width: 1fr;
        margin: 0 0 1 0;
        padding: 0 1;
        background: $boost;
        border-left: outer $success;
    }
    SmsBubble.-new { background: $success 15%; }
    """

    def __init__(self, sms: Message) -> None:
        header = Content.assemble((sms.sender, "bold $success"), "  ", (sms_stamp(sms.received_at), "$text-muted"))
        super().__init__(Content.assemble(header, "\n", sms.text))
        self.sms = sms


class Inbox(VerticalScroll):
    """The messages list; ``receive`` adds one on top without redrawing the others."""

    DEFAULT_CSS = """
    Inbox { height: 1fr; padding: 0 1; scrollbar-size-vertical: 1; }
    Inbox #empty { color: $text-muted; text-style: italic; width: 1fr; text-align: center; margin-top: 1; }
    """

    def __init__(self, messages: list[Message], *, id: str | None = None) -> None:
        super().__init__(id=id, can_focus=False)
        self._initial = messages[:SHOWN_MESSAGES]

    def compose(self) -> ComposeResult:
        yield Static("No messages", id="empty")
        for sms in self._initial:
            yield SmsBubble(sms)

    def on_mount(self) -> None:
        self.query_one("#empty").display = not self._initial

    @property
    def bubbles(self) -> list[SmsBubble]:
        return list(self.query(SmsBubble))

    def receive(self, sms: Message) -> None:
        """Put a new SMS on top and scroll to it, as a phone does."""
        self.query_one("#empty").display = False
        for old in self.query(".-new"):
            old.remove_class("-new")
        bubble = SmsBubble(sms)
        bubble.add_class("-new")
        existing = self.bubbles
        if existing:
            self.mount(bubble, before=existing[0])
        else:
            self.mount(bubble)
        if len(existing) >= SHOWN_MESSAGES:
            existing[-1].remove()
        self.scroll_home(animate=False)
