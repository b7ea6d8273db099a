"""The activity log: every request, settlement, callback attempt and log record, newest first."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from rich.cells import cell_len
from rich.segment import Segment
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import Reactive
from textual.strip import Strip

if TYPE_CHECKING:
    from textual.cache import LRUCache
from textual.style import Style
from textual.visual import Padding, Visual
from textual.widgets import OptionList, Static
from textual.widgets.option_list import DuplicateID, Option

from server.clock import eat
from server.daraja.catalogue import RESULT_PLAIN_WORDS, parse_result_code
from server.events import AnswersDiffer, DuplicatePushFlagged, RequestHandled, duplicate_words
from server.flows.initiator_wire import RESULT_PLAIN_WORDS as INITIATOR_WORDS
from server.models import C2BPaymentRecord, CallbackAttempt, InitiatorRequest, Transaction, Transfer

from ..json_text import pretty_json
from ..texts import ksh_whole, phone_number
from ..throttle import Throttle
from .hanging import HangingIndent

# The pane shows the recent past; the engine's store keeps the full history.
KEPT_ENTRIES = 500
# During a burst the pane is updated at most this often (seconds): nobody reads a log
# scrolling at 60 frames a second, and the keys typed meanwhile should not wait for it.
FLUSH_INTERVAL = 0.5

REQUEST, CALLBACK, SETTLED, LOG, HISTORY, NOTICE, C2B = (
    "request",
    "callback",
    "settled",
    "log",
    "history",
    "notice",
    "c2b",
)
# What each kind of delivery is called in the log.
CHANNEL_WORDS = {
    "stk_callback": "callback",
    "c2b_validation": "validation",
    "c2b_confirmation": "confirmation",
    "result": "result",
    "queue_timeout": "queue time-out",
}
INDENT = " " * 11  # second lines start under the text, past the time and the mark


@dataclass
class ActivityEntry:
    """One line of the log, with everything its detail view shows."""

    kind: str
    at: float
    summary: Content
    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    # (title, text, is JSON to indent): indented only when the detail view asks, not per event.
    body_sources: list[tuple[str, str | None, bool]] = field(default_factory=list)
    checkout_request_id: str | None = None
    id: str = ""
    _bodies: list[tuple[str, str]] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def bodies(self) -> list[tuple[str, str]]:
        """The bodies as the detail view shows them (JSON indented, numbers kept as spelt)."""
        if self._bodies is None:
            self._bodies = [
                (title, pretty_body(text) if is_json else (text or "")) for title, text, is_json in self.body_sources
            ]
        return self._bodies


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
        _stamp(event.at),
        " ",
        mark,
        " ",
        (str(event.status), status_style),
        " ",
        (f"{event.method:<4}", "bold"),
        " ",
        path,
        (f"  {event.latency_ms:.0f} ms", "$text-muted"),
    )
    if not ok and (event.error_code or event.reason):
        why = Content.assemble(
            "\n",
            INDENT,
            (event.error_code or "", "bold $warning"),
            " ",
            (event.reason or "", "$text"),
        )
        line = Content.assemble(line, why)
    facts = [("Request", f"{event.method} {event.path}"), ("Status", str(event.status))]
    if event.error_code:
        facts.append(("Daraja code", event.error_code))
    if event.reason:
        facts.append(("Reason", event.reason))
    facts.append(("Latency", f"{event.latency_ms:.1f} ms"))
    return ActivityEntry(
        REQUEST,
        event.at,
        line,
        f"{event.method} {event.path}",
        facts,
        [("Request body", event.request_body, True), ("Response body", event.response_body, True)],
        id=f"entry-{next(_serial)}",
    )


def callback_entry(attempt: CallbackAttempt, at: float, final: bool) -> ActivityEntry:
    """One attempt to POST a callback, with a diagnosis when it failed."""
    ok = attempt.ok
    status = str(attempt.status) if attempt.status is not None else "no answer"
    target = attempt.url.split("://", 1)[-1]
    line = Content.assemble(
        _stamp(at),
        " ",
        ("↩", "$accent" if ok else "bold $error"),
        " ",
        (status, "$success" if ok else "bold $error"),
        " ",
        (CHANNEL_WORDS.get(attempt.channel, attempt.channel), "bold"),
        f" #{attempt.attempt}" if attempt.attempt > 1 else "",
        f" → {target}",
        (f"  {attempt.latency_ms:.0f} ms", "$text-muted"),
    )
    if not ok:
        tail = "" if final else " (will retry)"
        line = Content.assemble(line, "\n", INDENT, (f"{attempt.error}{tail}", "$warning"))
    facts = [
        ("Delivery", attempt.delivery_id),
        ("Attempt", f"{attempt.attempt} ({attempt.kind})"),
        ("URL", attempt.url),
        ("HTTP status", status),
        ("Latency", f"{attempt.latency_ms:.1f} ms"),
    ]
    if attempt.error:
        facts.append(("Diagnosis", attempt.error))
    return ActivityEntry(
        CALLBACK,
        at,
        line,
        f"{CHANNEL_WORDS.get(attempt.channel, attempt.channel).capitalize()} #{attempt.attempt} to {attempt.url}",
        facts,
        [("Body sent", attempt.request_body, True), ("Merchant's answer", attempt.response_body, True)],
        checkout_request_id=attempt.subject if attempt.channel == "stk_callback" else None,
        id=f"entry-{next(_serial)}",
    )


def settled_entry(txn: Transaction, handset_name: str | None, plan_note: str | None = None) -> ActivityEntry:
    """A transaction got its ResultCode: who, how much, what it means, and what its callback
    plan did when it was not a plain delivery (``plan_note``, from ``texts.settled_plan_note``)."""
    code = txn.wire_result_code
    words = RESULT_PLAIN_WORDS.get(code, "unknown") if code is not None else "pending"
    who = handset_name or phone_number(txn.msisdn)
    style = "$success" if code == 0 else "$warning"
    line = Content.assemble(
        _stamp(txn.settled_at or txn.created_at),
        " ",
        ("●", style),
        " ",
        (f"{code}", f"bold {style}"),
        " ",
        (words, style),
        "\n",
        INDENT,
        (who, "bold"),
        f" · {ksh_whole(txn.amount)} → {txn.merchant_name}",
    )
    if plan_note:
        line = Content.assemble(line, "\n", INDENT, ("↩ " + plan_note, "$accent"))
    facts = [
        ("CheckoutRequestID", txn.checkout_request_id),
        ("MerchantRequestID", txn.merchant_request_id),
        ("Phone", phone_number(txn.msisdn)),
        ("Amount", ksh_whole(txn.amount)),
        ("ResultCode", f"{code} ({txn.result_desc})"),
    ]
    if txn.receipt:
        facts.append(("Receipt", txn.receipt))
    if plan_note:
        facts.append(("Callback", plan_note))
    return ActivityEntry(
        SETTLED,
        txn.settled_at or txn.created_at,
        line,
        f"Payment {txn.checkout_request_id}",
        facts,
        [("Prompt", txn.prompt, False), ("Callback body", txn.callback_body, True)],
        checkout_request_id=txn.checkout_request_id,
        id=f"entry-{next(_serial)}",
    )


def duplicate_entry(event: DuplicatePushFlagged) -> ActivityEntry:
    """A push like one accepted moments ago: the merchant app may have submitted twice."""
    txn = event.transaction
    words = duplicate_words(event.original, event.seconds_ago)
    line = Content.assemble(
        _stamp(event.at),
        " ",
        ("⧉", "bold $warning"),
        " ",
        (words, "$warning"),
        "\n",
        INDENT,
        f"{phone_number(txn.msisdn)} · {ksh_whole(txn.amount)} · {txn.account_reference}",
    )
    return ActivityEntry(
        NOTICE,
        event.at,
        line,
        "Possible double submit",
        [
            ("This push", txn.checkout_request_id),
            ("Like", event.original),
            ("Seconds between", f"{event.seconds_ago:.1f}"),
            ("Same", "PhoneNumber, BusinessShortCode, Amount, AccountReference"),
        ],
        checkout_request_id=txn.checkout_request_id,
        id=f"entry-{next(_serial)}",
    )


def answers_entry(event: AnswersDiffer) -> ActivityEntry:
    """The merchant answered copies of one delivery differently: a handler that is not idempotent?"""
    line = Content.assemble(
        _stamp(event.at),
        " ",
        ("≠", "bold $error"),
        " ",
        ("the merchant answered a copy differently", "$error"),
        *[part for difference in event.differences for part in ("\n", INDENT, difference)],
    )
    return ActivityEntry(
        NOTICE,
        event.at,
        line,
        "Answers that differ",
        [("Delivery", event.delivery_id), *(("Difference", d) for d in event.differences)],
        checkout_request_id=event.subject if event.delivery_id.startswith("stk_callback:") else None,
        id=f"entry-{next(_serial)}",
    )


def c2b_entry(payment: C2BPaymentRecord, merchant_name: str | None, handset_name: str | None) -> ActivityEntry:
    """A customer's C2B payment (simulate, the control API, the phone's menu): paid, or why not."""
    paid = payment.status == "completed"
    style = "$success" if paid else "$warning"
    who = handset_name or phone_number(payment.msisdn)
    to = merchant_name or payment.shortcode
    line = Content.assemble(
        _stamp(payment.created_at),
        " ",
        ("◆", style),
        " ",
        ("C2B", "bold"),
        " ",
        (payment.status, style),
        ("  from the phone's M-PESA menu", "$text-muted") if payment.via == "menu" else "",
        "\n",
        INDENT,
        (who, "bold"),
        f" · {ksh_whole(payment.amount)} → {to}",
        f" ({payment.bill_ref})" if payment.bill_ref else "",
    )
    if not paid:
        line = Content.assemble(line, "\n", INDENT, (payment.reason, "$warning"))
    return ActivityEntry(
        C2B,
        payment.created_at,
        line,
        f"C2B payment {payment.trans_id}",
        [
            ("TransID", payment.trans_id),
            ("Shortcode", payment.shortcode),
            ("Phone", phone_number(payment.msisdn)),
            ("Amount", ksh_whole(payment.amount)),
            ("Account", payment.bill_ref or "(none)"),
            ("Status", f"{payment.status}: {payment.reason}"),
            ("Came from", payment.via),
        ],
        id=f"entry-{next(_serial)}",
    )


def transfer_entry(transfer: Transfer, sender_name: str | None, recipient_name: str | None) -> ActivityEntry:
    """Send Money: who sent whom how much (no merchant is involved)."""
    line = Content.assemble(
        _stamp(transfer.at),
        " ",
        ("◆", "$success"),
        " ",
        ("Send Money", "bold"),
        " ",
        (transfer.receipt, "$text-muted"),
        "\n",
        INDENT,
        (sender_name or phone_number(transfer.sender), "bold"),
        f" → {recipient_name or phone_number(transfer.recipient)} · {ksh_whole(transfer.amount)}",
    )
    return ActivityEntry(
        C2B,
        transfer.at,
        line,
        f"Send Money {transfer.receipt}",
        [
            ("Receipt", transfer.receipt),
            ("From", phone_number(transfer.sender)),
            ("To", phone_number(transfer.recipient)),
            ("Amount", ksh_whole(transfer.amount)),
            ("Came from", "the phone's M-PESA menu (Send Money)"),
        ],
        id=f"entry-{next(_serial)}",
    )


def result_words(code: int | str) -> str:
    return INITIATOR_WORDS.get(code, "unknown")


API_WORDS = {
    "b2c": "B2C",
    "b2c_v1": "B2C",
    "pochi": "Pochi",
    "status": "Status",
    "balance": "Balance",
    "reversal": "Reversal",
}


def initiator_entry(
    request: InitiatorRequest,
    at: float,
    *,
    customer: str | None = None,
    queue_timeout: bool = False,
) -> ActivityEntry:
    """An initiator request's Result: what it was, its code in plain words, what moved.

    ``customer`` names the person the money went to (a B2C recipient, the payer a reversal paid
    back); ``queue_timeout`` says the request timed out in the queue: no Result, its echo went
    to QueueTimeOutURL (its code 1 then means that, not "insufficient funds").
    """
    code = parse_result_code(request.result_code or "")
    ok = code == 0 and not queue_timeout
    style = "$success" if ok else "$warning"
    words = "queue time-out" if queue_timeout else result_words(code)
    moved = ""
    if ok and request.amount:
        if request.api == "reversal":  # the counterpart is the payment reversed, not a person
            who = customer or "the payer"
            moved = f" · {ksh_whole(request.amount)} back to {who} ({request.counterpart} reversed)"
        else:
            who = customer or (phone_number(request.counterpart) if request.counterpart else "?")
            moved = f" · {ksh_whole(request.amount)} → {who}"
    line = Content.assemble(
        _stamp(at),
        " ",
        ("◇", style),
        " ",
        (API_WORDS.get(request.api, request.api), "bold"),
        " ",
        ("" if queue_timeout else f"{code} ", f"bold {style}"),
        (words, style),
        "\n",
        INDENT,
        f"from {request.shortcode}{moved}",
        " · echoed to QueueTimeOutURL" if queue_timeout else "",
    )
    facts = [
        ("ConversationID", request.conversation_id),
        ("OriginatorConversationID", request.originator_id),
        ("Shortcode", request.shortcode),
        ("Initiator", request.initiator),
        ("ResultCode", f"{code} (queue time-out)" if queue_timeout else f"{code} ({words})"),
    ]
    if request.receipt:
        facts.append(("Receipt", request.receipt))
    if ok and request.api == "reversal" and request.counterpart:
        facts.append(("Reversed", request.counterpart))
    if ok and customer:
        facts.append(("Customer", customer))
    return ActivityEntry(
        C2B,
        at,
        line,
        f"{API_WORDS.get(request.api, request.api)} request {request.conversation_id}",
        facts,
        [("Request", request.request, True)],
        id=f"entry-{next(_serial)}",
    )


def history_divider(at: float) -> ActivityEntry:
    """The line between this run's entries (above) and those read back from the database (below)."""
    line = Content.assemble(
        _stamp(at),
        " ",
        ("─── started; below: earlier payments and callbacks, from the database", "$text-muted"),
    )
    return ActivityEntry(
        HISTORY,
        at,
        line,
        "Earlier entries",
        [("Where from", "the emulator's database, read at start")],
        id=f"entry-{next(_serial)}",
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
        LOG,
        at,
        line,
        f"{record.levelname} from {record.name}",
        [("Logger", record.name)],
        [("Message", body, False)],
        id=f"entry-{next(_serial)}",
    )


def _unwrapped_height(prompt: object, width: int) -> int | None:
    """Lines of a Content whose every line fits ``width``: no need to wrap it to know.

    Wrapping (Content.get_height) costs ~0.2 ms an entry, and a flood brings
    hundreds per update; entries almost always fit. None means: measure properly.
    """
    if not isinstance(prompt, Content) or "\t" in prompt.plain:
        return None
    lines = prompt.plain.split("\n")
    for line in lines:
        if len(line) > width or cell_len(line) > width:
            return None
    return len(lines)


class NewestFirstList(OptionList):
    """An OptionList that takes new options on top and forgets the oldest past a cap.

    ``OptionList.set_options`` measures, lays out and renders every option
    again. Here a flush costs what arrived, not what is shown: each option's
    height is measured once per width, and its rendered lines are kept per width
    (a scrollbar that appears narrows the list without a resize), because they are
    tagged with the option's serial number, which never changes, rather than with
    its index, which moves down with every new entry. Clicks and hovers turn the
    serial back into the index. This works on OptionList's internals (Textual is
    pinned in pyproject.toml; tests/handset/test_activity.py covers it).

    The list is *pinned* to the newest entry while its view is at the top and
    nothing older is highlighted: new entries then show at once, as in ``tail -f``.
    Once the person scrolls down or highlights an older entry, new entries go
    above without moving what they are reading; ``unseen`` counts them until the
    view is back at the top.
    """

    unseen: Reactive[int] = Reactive(0)

    # Every update grows or shrinks the list's virtual height, and Widget's virtual_size then lays out
    # the whole screen again (~20 ms with fifty phones, twice a second in a flood). The list's own
    # box never changes with its content: a repaint is enough. (Scrollbars that appear or go still
    # ask for their layout themselves.)
    virtual_size = Reactive(Size(0, 0), repaint=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._height_of: dict[Option, int] = {}
        self._height_width = -1
        self._serial_of: dict[Option, int] = {}
        self._next_serial = 0

    def prepend(self, fresh: list[Option], keep: int) -> None:
        """Put ``fresh`` (newest first) above everything, then keep only the first ``keep`` options."""
        if not fresh:
            return
        highlighted, hovered = self.highlighted, self._mouse_hovering_over
        pinned = self.pinned
        scrolled = self.scroll_offset.y
        old_lines = len(self._line_cache.lines)
        options = self._options
        for option in reversed(fresh):
            if option._id is not None:
                if option._id in self._id_to_option:
                    raise DuplicateID(f"Unable to add {option!r} due to duplicate ID")
                self._id_to_option[option._id] = option
            self._serial_of[option] = self._next_serial
            self._next_serial += 1
        options[:0] = fresh
        for option in options[keep:]:
            if option._id is not None:
                del self._id_to_option[option._id]
            self._height_of.pop(option, None)
            del self._serial_of[option]
        del options[keep:]
        self._option_to_index = {option: index for index, option in enumerate(options)}
        self._relayout_lines()
        shift = len(fresh)
        if hovered is not None:
            self._mouse_hovering_over = hovered + shift if hovered + shift < len(options) else None
        if highlighted is not None and highlighted + shift >= len(options):
            pinned, highlighted = True, None  # what the person was reading fell off the end
        if pinned:
            # Following the newest: the view stays on top, a highlight stays on the newest entry.
            self.scroll_to(y=0, animate=False, immediate=True)
            self.highlighted = None if highlighted is None else 0
            self.unseen = 0
        else:
            # Reading older entries: what is on screen stays put; the new ones wait above it.
            above = self._line_cache.index_to_line.get(shift, len(self._line_cache.lines)) if old_lines else 0
            self.scroll_to(y=scrolled + above, animate=False, immediate=True)
            self.highlighted = (
                highlighted + shift if highlighted is not None and highlighted + shift < len(options) else None
            )
            self.unseen = min(self.unseen + shift, len(options))
        self.refresh()

    @property
    def pinned(self) -> bool:
        """Whether the view follows the newest entry (at the top, nothing older highlighted)."""
        return self.scroll_offset.y == 0 and not self.highlighted

    def watch_highlighted(self, highlighted: int | None) -> None:
        super().watch_highlighted(highlighted)
        if self.unseen and self.pinned:
            self.unseen = 0  # the person went back to the newest entry

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(new_value) == 0 and self.unseen:
            self.unseen = 0  # back at the top: everything new is in view

    def _relayout_lines(self) -> None:
        """Rebuild the line map from the heights already measured, measuring only new options."""
        lines = self._line_cache
        lines.clear()
        if not self.is_mounted or not self.scrollable_content_region:
            self._height_of.clear()  # OptionList measures everything when it is laid out
            return
        width = self.scrollable_content_region.width - self._get_left_gutter_width()
        if width != self._height_width:
            self._height_of.clear()
            self._height_width = width
        padding = self.get_component_styles("option-list--option").padding
        height_of = self._height_of
        for index, option in enumerate(self._options):
            height = height_of.get(option)
            if height is None:
                height = _unwrapped_height(option.prompt, width - padding.width)
                if height is None:
                    # OptionList measures this way too; Textual types styles narrower than it passes them.
                    height = self._get_visual(option).get_height(cast(Any, self.styles), width - padding.width)
                height += option._divider
                height_of[option] = height
            lines.index_to_line[index] = len(lines.lines)
            lines.heights[index] = height
            lines.lines.extend((index, line_no) for line_no in range(height))
        self._update_lines()  # nothing left to measure: it only sets the virtual size

    def _clear_caches(self) -> None:
        self._height_of.clear()
        super()._clear_caches()

    def render_lines(self, crop: Region) -> list[Strip]:
        # A scrollbar that came or went changed the width without a resize: measure again.
        if self._options and self.scrollable_content_region:
            width = self.scrollable_content_region.width - self._get_left_gutter_width()
            if width != self._height_width and self._height_of:
                self._relayout_lines()
        return super().render_lines(crop)

    def _index_of(self, serial: int | None) -> int | None:
        """The index of the option rendered with ``serial`` (None if it is gone)."""
        if serial is None or not self._options:
            return None
        index = self._serial_of[self._options[0]] - serial
        return index if 0 <= index < len(self._options) else None

    def _get_visual(self, option: Option) -> Visual:
        # Entries wrap under their text, past the time and the mark (INDENT), not under the time.
        if option._visual is None and isinstance(option.prompt, Content):
            option._visual = HangingIndent(option.prompt, len(INDENT))
        return super()._get_visual(option)

    def _get_option_render(self, option: Option, style: Style) -> list[Strip]:
        # OptionList._get_option_render, with the serial in the meta instead of the index.
        padding = self.get_component_styles("option-list--option").padding
        width = self.scrollable_content_region.width - self._get_left_gutter_width()
        cache_key = (option, style, padding, width)
        # OptionList's own cache (it clears it when it must), keyed by the width as well.
        cache = cast("LRUCache[tuple[Any, ...], list[Strip]]", self._option_render_cache)
        if (strips := cache.get(cache_key)) is None:
            visual = self._get_visual(option)
            if padding:
                visual = Padding(visual, padding)
            strips = visual.to_strips(self, visual, width, None, style)
            meta = {"option": self._serial_of.get(option)}
            strips = [strip.extend_cell_length(width, style.rich_style).apply_meta(meta) for strip in strips]
            if option._divider:
                rule = self.get_visual_style("option-list--separator")
                strips.append(Strip([Segment("─" * width, rule.rich_style)], width))
            cache[cache_key] = strips
        return strips

    async def _on_click(self, event: events.Click) -> None:
        event.prevent_default()  # OptionList's own handler would read the serial as an index
        clicked = self._index_of(event.style.meta.get("option"))
        if clicked is not None and not self._options[clicked].disabled:
            self.highlighted = clicked
            self.action_select()

    def _on_mouse_move(self, event: events.MouseMove) -> None:
        event.prevent_default()
        self._mouse_hovering_over = self._index_of(event.style.meta.get("option"))


class ActivityLog(Vertical):
    """The pane; entries arrive in bursts, so they are added together, at most every ``FLUSH_INTERVAL``."""

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

    def __init__(self, *, id: str | None = None, earlier: list[ActivityEntry] | None = None) -> None:
        """``earlier``: entries (newest first) of a log this one replaces, shown at its first update."""
        super().__init__(id=id)
        self._entries: list[ActivityEntry] = []  # newest first
        self._by_id: dict[str, ActivityEntry] = {}
        self._pending: list[ActivityEntry] = list(reversed(earlier or []))  # oldest first
        self._throttle = Throttle(self, self._flush, FLUSH_INTERVAL)
        self._list = NewestFirstList(id="activity-list")

    def compose(self) -> ComposeResult:
        yield Static("Waiting for requests… press c to see how to connect your app.", id="activity-empty")
        yield self._list

    def on_mount(self) -> None:
        self.border_title = "Activity"
        self._list.display = False
        self.watch(self._list, "unseen", self._show_count, init=False)
        if self._pending:
            self._throttle.poke()

    def _show_count(self) -> None:
        """Say how many entries there are, and how many new ones wait above a person reading."""
        count = len(self._entries)
        total = f"{count} entries" if count != 1 else "1 entry"
        unseen = self._list.unseen
        self.border_subtitle = f"↑ {unseen} new · {total}" if unseen else total

    @property
    def unseen(self) -> int:
        """New entries above the view while the person reads older ones (0 when following the newest)."""
        return self._list.unseen

    @property
    def entries(self) -> list[ActivityEntry]:
        """Everything shown, newest first (entries still waiting for a refresh included)."""
        return list(reversed(self._pending)) + self._entries

    @property
    def up_to_date(self) -> bool:
        """Whether the pane shows every entry added (none waits for the next update)."""
        return not self._pending

    def add(self, entry: ActivityEntry) -> None:
        """Queue an entry; it shows at the next frame, or within ``FLUSH_INTERVAL`` during a burst."""
        if not self.is_attached:  # the app is closing; nobody will see it
            return
        self._pending.append(entry)
        self._throttle.poke()

    def _flush(self) -> None:
        """Show what arrived since the last update: one update, however many entries came."""
        if not self._pending or not self.is_attached:
            return
        # A burst longer than the cap: only its newest entries would survive the cut anyway.
        fresh = self._pending[: -KEPT_ENTRIES - 1 : -1]
        self._pending.clear()
        entries = self._entries
        entries[:0] = fresh
        for entry in entries[KEPT_ENTRIES:]:
            del self._by_id[entry.id]
        del entries[KEPT_ENTRIES:]
        for entry in fresh:
            self._by_id[entry.id] = entry
        options = self._list
        options.prepend([Option(entry.summary, id=entry.id) for entry in fresh], KEPT_ENTRIES)
        if not options.display:
            self.query_one("#activity-empty").display = False
            options.display = True
        self._show_count()

    def focus_entries(self) -> None:
        """Put the keyboard on the list, on the newest entry if none is highlighted yet."""
        self._throttle.run_now()  # show what is waiting first: the keys act on what is on screen
        options = self._list
        options.focus()
        if options.highlighted is None and options.option_count:
            options.highlighted = 0

    @on(OptionList.OptionSelected, "#activity-list")
    def choose_entry(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        entry = self._by_id.get(event.option_id or "")
        if entry is not None:
            self.post_message(self.EntryChosen(entry))
