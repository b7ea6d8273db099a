"""The full story of one activity entry: facts, then the request and response bodies."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static, TextArea

from ..widgets.activity import ActivityEntry


class EntryDetailScreen(ModalScreen[None]):
    """Read-only view of an entry; bodies are in text areas so they can be selected and copied."""

    BINDINGS = [Binding("escape", "dismiss", "Close")]

    DEFAULT_CSS = """
    EntryDetailScreen { align: center middle; }
    EntryDetailScreen > Vertical {
        width: 110;
        max-width: 95%;
        height: 90%;
        border: round $primary;
        border-title-color: $text;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    EntryDetailScreen.-short > Vertical { height: 100%; }
    EntryDetailScreen #facts { height: auto; margin: 1 0; }
    EntryDetailScreen VerticalScroll { height: 1fr; }
    EntryDetailScreen .body-label { color: $text-muted; text-style: bold; margin-top: 1; }
    EntryDetailScreen TextArea { height: auto; max-height: 24; }
    EntryDetailScreen #close { width: 100%; margin: 1 0; }
    EntryDetailScreen.-short #close { margin: 0; }
    """

    def __init__(self, entry: ActivityEntry) -> None:
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        entry = self.entry
        width = max((len(label) for label, _ in entry.facts), default=0) + 2
        facts = Content("\n").join(
            Content.assemble((f"{label:<{width}}", "bold $text-muted"), value) for label, value in entry.facts
        )
        with Vertical() as box:
            box.border_title = entry.title
            box.border_subtitle = "↑↓ scroll · Esc close"
            with VerticalScroll():
                yield Static(facts, id="facts")
                for label, body in entry.bodies:
                    yield Label(label, classes="body-label")
                    yield TextArea(body, read_only=True, show_line_numbers=False, soft_wrap=True)
            yield Button("Close", id="close")

    @on(Button.Pressed, "#close")
    def close_detail(self) -> None:
        self.dismiss(None)
