"""One line of text per request, settlement and callback attempt: the console of
``handset serve`` and the optional ``--log-file`` of both modes."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from server.clock import eat
from server.daraja.catalogue import RESULT_PLAIN_WORDS
from server.events import (
    AnswersDiffer,
    C2BPaymentSettled,
    CallbackAttempted,
    DuplicatePushFlagged,
    Event,
    EventBus,
    MoneySent,
    RequestHandled,
    TransactionSettled,
    duplicate_words,
)

from .texts import ksh_whole, settled_plan_note

_LOGGED = (
    RequestHandled,
    CallbackAttempted,
    TransactionSettled,
    DuplicatePushFlagged,
    AnswersDiffer,
    C2BPaymentSettled,
    MoneySent,
)
_CHANNEL_WORDS = {"stk_callback": "callback", "c2b_validation": "validation", "c2b_confirmation": "confirmation"}


def _hms(at: float) -> str:
    return _hms_of(int(at))


@functools.lru_cache(maxsize=1)  # lines come in bursts within one second: one strftime per second
def _hms_of(second: int) -> str:
    return f"{eat(second):%H:%M:%S}"


def log_line(event: Event) -> str | None:
    """One console line per request, settlement, delivery attempt and notice."""
    if not isinstance(event, _LOGGED):
        return None
    clock = _hms(event.at)
    if isinstance(event, RequestHandled):
        # A control-API refusal has a reason but no Daraja code: only what is known is written.
        why = [
            part
            for part in (event.error_code, event.reason if event.status >= 400 or event.error_code else None)
            if part
        ]
        tail = "  " + " ".join(why) if why else ""
        return f"{clock}  {event.method:<5} {event.path}  {event.status}  {event.latency_ms:.1f} ms{tail}"
    if isinstance(event, CallbackAttempted):
        a = event.attempt
        outcome = f"{a.status}" if a.ok else f"FAILED {a.error}"
        what = _CHANNEL_WORDS.get(a.channel, a.channel)
        return f"{clock}  {what} #{a.attempt} {a.subject} -> {a.url}  {outcome}  {a.latency_ms:.1f} ms"
    if isinstance(event, TransactionSettled):
        t = event.transaction
        code = t.wire_result_code
        words = RESULT_PLAIN_WORDS.get(code) if code is not None else "pending"
        line = f"{clock}  settled {t.checkout_request_id} {t.msisdn} {ksh_whole(t.amount)}: {code}"
        if words:
            line += f" ({words})"
        plan = settled_plan_note(t)
        return f"{line}  {plan}" if plan else line
    if isinstance(event, DuplicatePushFlagged):
        t = event.transaction
        return f"{clock}  NOTE {t.checkout_request_id}: {duplicate_words(event.original, event.seconds_ago)}"
    if isinstance(event, AnswersDiffer):
        return f"{clock}  NOTE {event.delivery_id}: the merchant answered a copy differently: " + "; ".join(
            event.differences
        )
    if isinstance(event, MoneySent):
        transfer = event.transfer
        return f"{clock}  send money {transfer.receipt} {transfer.sender} {ksh_whole(transfer.amount)} -> {transfer.recipient}"
    if isinstance(event, C2BPaymentSettled):
        p = event.payment
        line = f"{clock}  c2b {p.trans_id} {p.msisdn} {ksh_whole(p.amount)} -> {p.shortcode}: {p.status}"
        return line if p.status == "completed" else f"{line} ({p.reason})"
    return None


class LogFile:
    """Appends ``log_line`` of every event to a file, flushed line by line so nothing is lost."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8", buffering=1)
        self.path = path

    def attach(self, bus: EventBus, with_log_records: bool = False) -> None:
        """Follow the bus; with ``with_log_records``, warnings of Python's logging go here too
        (the TUI owns the terminal, so they have nowhere else to go but the activity pane)."""
        bus.subscribe(self.write_event)
        if with_log_records:
            handler = logging.StreamHandler(self._file)
            handler.setLevel(logging.WARNING)
            handler.setFormatter(logging.Formatter("%(asctime)s  %(levelname)s %(name)s: %(message)s"))
            logging.getLogger().addHandler(handler)

    def write_event(self, event: Event) -> None:
        line = log_line(event)
        if line:
            self._file.write(line + "\n")
