"""The callback inspector: every callback attempt ever made, newest first, with its bodies.

It opens on the engine's log (``callback_log``) and grows as the app hands it
new attempts. From a chosen attempt the merchant can be hit again: the same
bytes (resend), an edited copy, or a forged callback for an ID that never existed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from server.answers import AnswerComparison, compare_answers
from server.clock import eat
from server.errors import EngineError
from server.models import STK_CALLBACK, CallbackAttempt

from ..widgets.activity import CHANNEL_WORDS, pretty_body
from .callback_dialogs import EditCallbackScreen, ForgeCallbackScreen

if TYPE_CHECKING:
    from server.simulator import Simulator

# The screen lists the recent past; the engine keeps every attempt.
SHOWN_ATTEMPTS = 500
DEFAULT_FORGE_URL = "http://127.0.0.1:3000/mpesa/callback"
# Sent by the engine on its own: plain; sent again by hand: accent; tampered or made up: warning.
KIND_STYLES = {
    "callback": "bold",
    "retry": "bold",
    "duplicate": "bold $accent",
    "resend": "bold $accent",
    "edited": "bold $warning",
    "forged": "bold $warning",
}


def kind_word(attempt: CallbackAttempt) -> str:
    """How the attempt came about, in the list's words. The engine names every first attempt
    "callback"; for a C2B call or a Result that reads as the wrong thing, so those say "sent"."""
    if attempt.kind == "callback" and attempt.channel != STK_CALLBACK:
        return "sent"
    return attempt.kind


def attempt_key(attempt: CallbackAttempt) -> str:
    """One attempt's identity, so an attempt both in the log and in an event is listed once."""
    return f"{attempt.delivery_id}#{attempt.attempt}@{attempt.started_at!r}"


def status_text(attempt: CallbackAttempt) -> str:
    return str(attempt.status) if attempt.status is not None else "---"


def attempt_line(attempt: CallbackAttempt) -> Content:
    """The list row: when, how it went, what kind, what it carried about what, where, how fast."""
    ok = attempt.ok
    target = attempt.url.split("://", 1)[-1]
    line = Content.assemble(
        (f"{eat(attempt.started_at):%H:%M:%S}", "$text-muted"),
        " ",
        ("✓" if ok else "✗", "$success" if ok else "bold $error"),
        " ",
        (f"{status_text(attempt):>3}", "$success" if ok else "bold $error"),
        " ",
        (f"{kind_word(attempt):<9}", KIND_STYLES.get(attempt.kind, "bold")),
        " ",
        "" if attempt.channel == STK_CALLBACK else (f"{CHANNEL_WORDS.get(attempt.channel, attempt.channel)} ", "bold"),
        attempt.subject,
        ("  → ", "$text-muted"),
        target,
        (f"  {attempt.latency_ms:.0f} ms", "$text-muted"),
    )
    if attempt.error:
        line = Content.assemble(line, "\n", " " * 11, (attempt.error, "$warning"))
    return line


def attempt_facts(attempt: CallbackAttempt) -> Content:
    facts = [
        ("Delivery", f"{CHANNEL_WORDS.get(attempt.channel, attempt.channel)} for {attempt.subject}"),
        ("Kind", f"{kind_word(attempt)} (attempt {attempt.attempt} of this delivery)"),
        ("URL", attempt.url),
        ("Sent", f"{eat(attempt.started_at):%d/%m/%Y %H:%M:%S} EAT"),
        ("HTTP status", str(attempt.status) if attempt.status is not None else "no answer"),
        ("Latency", f"{attempt.latency_ms:.1f} ms"),
        ("Diagnosis", attempt.error or "delivered: the merchant answered 2xx"),
    ]
    return Content("\n").join(
        Content.assemble(
            (f"{label:<19}", "bold $text-muted"), (value, "$warning" if label == "Diagnosis" and attempt.error else "")
        )
        for label, value in facts
    )


def copies_view(comparison: AnswerComparison) -> Content:
    """The merchant's answers to each copy of the same bytes, side by side, and what differs."""
    if len(comparison.copies) < 2:
        return Content("")
    rows = [Content.styled("Answers to the copies of this delivery", "bold $text-muted")]
    for copy in comparison.copies:
        odd = copy.attempt in comparison.odd_ones
        body = " ".join((copy.response_body or "").split())
        rows.append(
            Content.assemble(
                (f"  #{copy.attempt:<3}", "$text-muted"),
                (f"{kind_word(copy):<9} ", KIND_STYLES.get(copy.kind, "bold")),
                (f"{copy.status} ", "bold $error" if odd else "$success"),
                (body[:70] + ("…" if len(body) > 70 else ""), "$error" if odd else ""),
            )
        )
    if comparison.differ:
        rows += [Content.styled(f"≠ {line}", "bold $error") for line in comparison.differences]
        rows.append(Content.styled("  an idempotent handler answers every copy alike", "$text-muted"))
    else:
        rows.append(Content.styled("= every copy got the same answer", "$success"))
    return Content("\n").join(rows)


def attempt_words(attempt: CallbackAttempt) -> str:
    """What happened to a hand-made send, for the notification."""
    if attempt.ok:
        return f"HTTP {attempt.status} from {attempt.url} in {attempt.latency_ms:.0f} ms"
    return attempt.error or "failed"


class CallbackInspectorScreen(ModalScreen[None]):
    """All attempts on top, the chosen one's facts and bodies below."""

    BINDINGS = [
        Binding("escape,i", "dismiss(None)", "Close"),
        Binding("r", "resend", "Resend"),
        Binding("e", "edit", "Edit & send"),
        Binding("f", "forge", "Forge"),
    ]

    DEFAULT_CSS = """
    CallbackInspectorScreen { background: $background; }
    CallbackInspectorScreen #inspector { height: 1fr; }
    CallbackInspectorScreen #attempts {
        height: 2fr;
        min-height: 8;  /* at 80x24 rows wrap to two lines: still three attempts to choose from */
        border: round $primary 50%;
        border-title-color: $text;
        border-title-style: bold;
        padding: 0;
    }
    CallbackInspectorScreen #attempts:focus { border: round $primary; }
    CallbackInspectorScreen #attempts > .option-list--option { padding: 0 1; }
    CallbackInspectorScreen #empty { color: $text-muted; text-style: italic; padding: 1 2; height: auto; }
    CallbackInspectorScreen #facts { height: auto; padding: 0 1; margin: 1 0 0 0; }
    CallbackInspectorScreen #copies { height: auto; padding: 0 1; margin: 1 0 0 0; }
    CallbackInspectorScreen #bodies { height: 3fr; }
    CallbackInspectorScreen #request { width: 3fr; }
    CallbackInspectorScreen #response { width: 2fr; }
    CallbackInspectorScreen #bodies TextArea {
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $text-muted;
    }
    """

    def __init__(self, simulator: Simulator) -> None:
        super().__init__()
        self._sim = simulator
        self._attempts: list[CallbackAttempt] = []  # newest first
        self._keys: set[str] = set()

    def compose(self) -> ComposeResult:
        with Vertical(id="inspector"):
            yield Static(
                "No callback sent yet. Settle a prompt, or press f to forge one.",
                id="empty",
            )
            yield OptionList(id="attempts")
            yield Static(id="facts")
            yield Static(id="copies")
            with Horizontal(id="bodies"):
                for body in ("request", "response"):
                    yield TextArea(
                        id=body,
                        read_only=True,
                        show_line_numbers=False,
                        soft_wrap=True,
                        highlight_cursor_line=False,
                    )
        yield Footer()

    def on_mount(self) -> None:
        attempts = self.query_one("#attempts", OptionList)
        attempts.border_title = "Callback inspector"
        self.query_one("#request").border_title = "Request body"
        self.query_one("#response").border_title = "Merchant's answer"
        for body in self.query(TextArea):
            body.match_cursor_bracket = False  # a read-only view: the highlight would only distract
        self._attempts = self._sim.callback_log(limit=SHOWN_ATTEMPTS)
        self._keys = {attempt_key(a) for a in self._attempts}
        self._redraw()
        attempts.focus()
        if self._attempts:
            attempts.highlighted = 0

    # --- what the app tells the inspector --------------------------------------
    @property
    def attempts(self) -> list[CallbackAttempt]:
        """Everything listed, newest first."""
        return list(self._attempts)

    @property
    def chosen(self) -> CallbackAttempt | None:
        index = self.query_one("#attempts", OptionList).highlighted
        return self._attempts[index] if index is not None and index < len(self._attempts) else None

    def add_attempt(self, attempt: CallbackAttempt) -> None:
        """A new attempt finished: put it on top, keeping the highlighted one where the eye is."""
        key = attempt_key(attempt)
        if key in self._keys:
            return
        self._keys.add(key)
        chosen = self.chosen
        self._attempts = [attempt, *self._attempts][:SHOWN_ATTEMPTS]
        self._redraw()
        attempts = self.query_one("#attempts", OptionList)
        attempts.highlighted = self._attempts.index(chosen) if chosen in self._attempts else 0

    def _redraw(self) -> None:
        attempts = self.query_one("#attempts", OptionList)
        attempts.set_options(Option(attempt_line(a)) for a in self._attempts)
        count = len(self._attempts)
        attempts.border_subtitle = f"{count} attempts" if count != 1 else "1 attempt"
        self.query_one("#empty").display = not self._attempts
        if not self._attempts:
            self._show(None)

    @on(OptionList.OptionHighlighted, "#attempts")
    def show_chosen(self) -> None:
        self._show(self.chosen)

    def _show(self, attempt: CallbackAttempt | None) -> None:
        self.query_one("#facts", Static).update(attempt_facts(attempt) if attempt else "")
        copies = compare_answers(self._sim.delivery_attempts(attempt.delivery_id)) if attempt else None
        self.query_one("#copies", Static).update(copies_view(copies) if copies else "")
        self.query_one("#copies").display = copies is not None and len(copies.copies) > 1
        self.query_one("#request", TextArea).text = pretty_body(attempt.request_body) if attempt else ""
        self.query_one("#response", TextArea).text = pretty_body(attempt.response_body) if attempt else ""

    # --- sending again -------------------------------------------------------------
    def action_resend(self) -> None:
        attempt = self.chosen
        if attempt is None:
            self.notify("Choose a callback first.", timeout=2)
            return
        self.resend(attempt.delivery_id)

    @work(group="send", exit_on_error=False)
    async def resend(self, delivery_id: str) -> None:
        """Send a delivery again, byte for byte, where it went."""
        try:
            sent = await self._sim.resend(delivery_id)
        except EngineError as exc:
            self.notify(str(exc), title="Not resent", severity="error")
            return
        self.report(sent)

    def action_edit(self) -> None:
        attempt = self.chosen
        if attempt is None:
            self.notify("Choose a callback first.", timeout=2)
            return
        key, url = attempt.delivery_id, attempt.url

        async def send(body: str) -> CallbackAttempt:
            return await self._sim.send_edited(key, body, url)

        self.app.push_screen(EditCallbackScreen(attempt.subject, attempt.url, attempt.request_body, send), self.report)

    def action_forge(self) -> None:
        attempt = self.chosen
        url = attempt.url if attempt is not None else DEFAULT_FORGE_URL
        self.app.push_screen(ForgeCallbackScreen(url, self._sim.forge_callback), self.report)

    def report(self, attempt: CallbackAttempt | None) -> None:
        """Say how a hand-made send went (the list gets the attempt from the engine's event)."""
        if attempt is None:
            return
        self.add_attempt(attempt)
        self.notify(
            attempt_words(attempt),
            title=f"{attempt.kind.capitalize()} {CHANNEL_WORDS.get(attempt.channel, attempt.channel)}",
            severity="information" if attempt.ok else "error",
        )
