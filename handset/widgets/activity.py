"""The activity log: every request, settlement, callback attempt and log record, newest first."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from server.clock import eat
from server.daraja.catalogue import RESULT_PLAIN_WORDS
from server.events import RequestHandled
from server.models import CallbackAttempt, Transaction

from ..json_text import pretty_json
from ..texts import phone_number

# The pane shows the recent past; the engine's store keeps the full history.
KEPT_ENTRIES = 500

REQUEST, CALLBACK, SETTLED, LOG = "request", "callback", "settled", "log"
INDENT = " " * 11  # second lines start under the text, past the time and the mark


@dataclass
class ActivityEntry:
    """One line of the log, with everything its detail view shows."""

    kind: str
    at: float
    summary: Content
    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[tuple[str, str]] = field(default_factory=list)
    checkout_request_id: str | None = None
    id: str = ""


_serial = itertools.count(1)


def _stamp(at: float) -> Content:
    return Content.styled(f"{eat(at):%H:%M:%S}", "$text-muted")


def pretty_body(raw: str | None) -> str:
    """A body as sent, indented when it is JSON so a person can read it (numbers kept as spelt)."""
    if not raw:
        return "(empty)"
    try:
        return pretty_json(raw)
    except ValueError:
        return raw


def request_entry(event: RequestHandled) -> ActivityEntry:
    """An answered HTTP request; rejected ones carry their Daraja code and the reason."""
    ok = event.status < 400
    mark = ("✓", "$success") if ok else ("✗", "bold $error")
    status_style = "$success" if ok else "bold $error"
    path = event.path.split("?", 1)[0]  # the query string is in the detail view
    line = Content.assemble(
        _stamp(event.at), " ", mark, " ", (str(event.status), status_style), " ", (f"{event.method:<4}", "bold"),
        " ", path, (f"  {event.latency_ms:.0f} ms", "$text-muted"),
    )
    if not ok and (event.error_code or event.reason):
        why = Content.assemble(
            "\n", INDENT, (event.error_code or "", "bold $warning"), " ", (event.reason or "", "$text"),
        )
        line = Content.assemble(line, why)
    facts = [("Request", f"{event.method} {event.path}"), ("Status", str(event.status))]
    if event.error_code:
        facts.append(("Daraja code", event.error_code))
    if event.reason:
        facts.append(("Reason", event.reason))
    facts.append(("Latency", f"{event.latency_ms:.1f} ms"))
    return ActivityEntry(
        REQUEST, event.at, line, f"{event.method} {event.path}", facts,
        [("Request body", pretty_body(event.request_body)), ("Response body", pretty_body(event.response_body))],
        id=f"entry-{next(_serial)}",
    )


def callback_entry(attempt: CallbackAttempt, at: float, final: bool) -> ActivityEntry:
    """One attempt to POST a callback, with a diagnosis when it failed."""
    ok = attempt.ok
    status = str(attempt.status) if attempt.status is not None else "no answer"
    target = attempt.url.split("://", 1)[-1]
    line = Content.assemble(
        _stamp(at), " ", ("↩", "$accent" if ok else "bold $error"), " ",
        (status, "$success" if ok else "bold $error"), " ", ("callback", "bold"),
        f" #{attempt.attempt}" if attempt.attempt > 1 else "", f" → {target}",
        (f"  {attempt.latency_ms:.0f} ms", "$text-muted"),
    )
    if not ok:
        tail = "" if final else " (will retry)"
        line = Content.assemble(line, "\n", INDENT, (f"{attempt.error}{tail}", "$warning"))
    facts = [
        ("CheckoutRequestID", attempt.checkout_request_id),
        ("Attempt", str(attempt.attempt)),
        ("URL", attempt.url),
        ("HTTP status", status),
        ("Latency", f"{attempt.latency_ms:.1f} ms"),
    ]
    if attempt.error:
        facts.append(("Diagnosis", attempt.error))
    return ActivityEntry(
        CALLBACK, at, line, f"Callback #{attempt.attempt} to {attempt.url}", facts,
        [("Callback body sent", pretty_body(attempt.request_body)),
         ("Merchant's answer", pretty_body(attempt.response_body))],
        checkout_request_id=attempt.checkout_request_id, id=f"entry-{next(_serial)}",
    )


def settled_entry(txn: Transaction, handset_name: str | None) -> ActivityEntry:
    """A transaction got its ResultCode: who, how much, and what it means."""
    code = txn.wire_result_code
    words = RESULT_PLAIN_WORDS.get(code, "unknown") if code is not None else "pending"
    who = handset_name or phone_number(txn.msisdn)
    style = "$success" if code == 0 else "$warning"
    line = Content.assemble(
        _stamp(txn.settled_at or txn.created_at), " ", ("●", style), " ", (f"{code}", f"bold {style}"),
        " ", (words, style), "\n", INDENT, (who, "bold"), f" · Ksh{txn.amount:,} → {txn.merchant_name}",
    )
    facts = [
        ("CheckoutRequestID", txn.checkout_request_id),
        ("MerchantRequestID", txn.merchant_request_id),
        ("Phone", phone_number(txn.msisdn)),
        ("Amount", f"Ksh{txn.amount:,}"),
        ("ResultCode", f"{code} ({txn.result_desc})"),
    ]
    if txn.receipt:
        facts.append(("Receipt", txn.receipt))
    return ActivityEntry(
        SETTLED, txn.settled_at or txn.created_at, line, f"Payment {txn.checkout_request_id}", facts,
        [("Prompt", txn.prompt), ("Callback body", pretty_body(txn.callback_body))],
        checkout_request_id=txn.checkout_request_id, id=f"entry-{next(_serial)}",
    )


def log_entry(record: logging.LogRecord, at: float) -> ActivityEntry:
    """A log record, shown here because the terminal belongs to Textual."""
    style = "bold $error" if record.levelno >= logging.ERROR else "$warning"
    text = record.getMessage()
    line = Content.assemble(_stamp(at), " ", ("!", style), " ", (record.levelname, style), f" {record.name}: {text}")
    body = text
    if record.exc_info:
        body += "\n\n" + logging.Formatter().formatException(record.exc_info)
    return ActivityEntry(
        LOG, at, line, f"{record.levelname} from {record.name}", [("Logger", record.name)],
        [("Message", body)], id=f"entry-{next(_serial)}",
    )


class ActivityLog(Vertical):
    """The pane; entries arrive in bursts, so they are added once per screen refresh."""

    DEFAULT_CSS = """
    ActivityLog { border: round $primary 50%; border-title-color: $text; border-title-style: bold; }
    ActivityLog:focus-within { border: round $primary; }
    ActivityLog OptionList, ActivityLog OptionList:focus {
        height: 1fr;
        border: none;
        padding: 0;
        background: transparent;
    }
    ActivityLog OptionList > .option-list--option { padding: 0 1; }
    ActivityLog #activity-empty { color: $text-muted; text-style: italic; padding: 1 2; }
    """

    class EntryChosen(Message):
        """The user selected an entry to see its bodies."""

        def __init__(self, entry: ActivityEntry) -> None:
            super().__init__()
            self.entry = entry

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._entries: list[ActivityEntry] = []  # newest first
        self._by_id: dict[str, ActivityEntry] = {}
        self._pending: list[ActivityEntry] = []
        self._flush_scheduled = False

    def compose(self) -> ComposeResult:
        yield Static("Waiting for requests… press c to see how to connect your app.", id="activity-empty")
        yield OptionList(id="activity-list")

    def on_mount(self) -> None:
        self.border_title = "Activity"
        self.query_one(OptionList).display = False

    @property
    def entries(self) -> list[ActivityEntry]:
        """Everything shown, newest first (entries still waiting for a refresh included)."""
        return list(reversed(self._pending)) + self._entries

    def add(self, entry: ActivityEntry) -> None:
        if not self.is_attached:  # the app is closing; nobody will see it
            return
        self._pending.append(entry)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.call_after_refresh(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending:
            return
        fresh = list(reversed(self._pending))
        self._pending.clear()
        options = self.query_one(OptionList)
        highlighted = options.highlighted_option.id if options.highlighted_option else None
        self._entries = (fresh + self._entries)[:KEPT_ENTRIES]
        self._by_id = {entry.id: entry for entry in self._entries}
        options.set_options(Option(entry.summary, id=entry.id) for entry in self._entries)
        if highlighted in self._by_id:
            options.highlighted = options.get_option_index(highlighted)
        self.query_one("#activity-empty").display = False
        options.display = True
        self.border_subtitle = f"{len(self._entries)} entries"

    def focus_entries(self) -> None:
        """Put the keyboard on the list, on the newest entry if none is highlighted yet."""
        options = self.query_one(OptionList)
        options.focus()
        if options.highlighted is None and options.option_count:
            options.highlighted = 0

    @on(OptionList.OptionSelected, "#activity-list")
    def choose_entry(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        entry = self._by_id.get(event.option_id or "")
        if entry is not None:
            self.post_message(self.EntryChosen(entry))
