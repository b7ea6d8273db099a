"""The Textual app: one tab per handset beside the activity log, the emulator embedded.

The emulator (engine + aiohttp server) runs on the app's own event loop: it
starts in ``on_mount`` and stops in ``on_unmount``. The app calls engine
methods when the customer acts, and redraws when engine events arrive as
messages through the ``EngineBridge``; no widget ever changes state itself.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import App, ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, TabbedContent, TabPane
from textual.widgets.tabbed_content import ContentTabs

from server import heap
from server.clock import Clock
from server.errors import EngineError
from server.events import AnswersDiffer, C2BPaymentSettled, DuplicatePushFlagged, InitiatorSettled, MoneySent
from server.ids import IdGenerator
from server.models import QUEUE_TIMEOUT, Handset, InitiatorRequest, Transaction, delivery_id
from server.models import Message as InboxMessage
from server.rules import CallbackPlan
from server.runner import CannotStart, Emulator
from server.settings import Settings
from server.simulator import Simulator

from .bridge import EngineBridge, LogToApp
from .texts import ksh, ksh_whole, plan_words, settled_plan_note
from .throttle import Throttle
from .widgets.activity import (
    ActivityLog,
    answers_entry,
    c2b_entry,
    callback_entry,
    duplicate_entry,
    history_divider,
    initiator_entry,
    log_entry,
    request_entry,
    settled_entry,
    transfer_entry,
)
from .widgets.inbox import SHOWN_MESSAGES
from .widgets.phone import LOCK_MARK, Phone
from .widgets.phone_tabs import HiddenTabs, PhonesAndLog, short_name
from .widgets.stk_prompt import StkPrompt

PROMPT_MARKER = " ●"
ANNOUNCE_LULL = 0.3  # seconds without a new prompt before the notification shows
ANNOUNCE_MAX_WAIT = 1.5
# Engine messages are handled for at most this long (seconds) before keys and frames get a turn.
ENGINE_SLICE = 0.001
TAB_RELABEL_INTERVAL = 0.5  # seconds between tab relabels during a burst (quiet: at the next frame)
HISTORY_ENTRIES = 100  # payments and callback attempts read back from the database at start
OFFLINE_MARKER = " ✈"
LOCK_MARKER = f" {LOCK_MARK}"
# Actions that need something on the phone on screen; the footer only offers them then.
PROMPT_ACTIONS = ("settle_with_code", "callback_plan")


def pane_id(msisdn: str) -> str:
    return f"phone-{msisdn}"


def _typing_in(widget: object) -> bool:
    """Whether ``widget`` takes text (an Input or a TextArea): a new prompt must not take its focus.

    TextArea is only looked up once something imported it (the dialogs do): the first frame
    should not pay for loading it.
    """
    if isinstance(widget, Input):
        return True
    text_area = sys.modules.get("textual.widgets._text_area")
    return text_area is not None and isinstance(widget, text_area.TextArea)


class HandsetApp(App[None]):
    """Phones in tabs, each answering STK Pushes sent to the embedded Daraja server."""

    CSS_PATH = "handset.tcss"
    TITLE = "mpesa-handset"
    # Classes on the screen by terminal size (handset.tcss sizes the phone with them); 80x24,
    # the reference size, is narrow and short.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-normal"), (140, "-wide"), (180, "-very-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-medium"), (40, "-tall")]

    BINDINGS = [
        # The footer has room for the keys of the moment (at 80 columns, the first few); ? lists
        # every one, so it comes first.
        Binding("question_mark", "help", "Keys"),
        Binding("n", "next_prompt", "Next prompt"),
        Binding("m", "mpesa_menu", "M-PESA"),
        Binding("r", "settle_with_code", "Result code"),
        Binding("p", "callback_plan", "Callback plan"),
        Binding("u", "unlock_pin", "Unlock PIN"),
        Binding("c", "connect", "Connect"),
        Binding("i", "inspect_callbacks", "Callbacks"),
        Binding("s", "settings", "Settings"),
        Binding("d", "toggle_presenter", "Presenter"),
        Binding("a", "add_handset", "Add handset", show=False),
        Binding("b", "set_balance", "Balance", show=False),
        Binding("o", "toggle_online", "Offline/online", show=False),
        Binding("l", "focus_activity", "Activity", show=False),
        Binding("ctrl+r", "reset", "Reset", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    presenter: reactive[bool] = reactive(False, init=False)
    """Presenter mode: one phone large and centred, the log one line, the countdown in big digits."""

    def __init__(self, emulator: Emulator, *, presenter: bool = False, bell: bool = False) -> None:
        super().__init__()
        self.emulator = emulator
        self.set_reactive(HandsetApp.presenter, presenter)
        self.bell_on_prompt = bell  # ring the terminal bell when a prompt arrives (for a room)
        self.phones: dict[str, Phone] = {}
        self.start_error: CannotStart | None = None
        self.ready = asyncio.Event()
        self._bridge: EngineBridge | None = None
        self._log_handler: LogToApp | None = None
        self._started = False
        self._unannounced: list[Transaction] = []
        self._announce_timer: Timer | None = None
        self._burst_started = 0.0
        self._keys_state: tuple[str, bool, bool] | None = None  # what the footer's keys were last offered for
        # A relabelled tab lays the whole screen out again: a flood's relabels go together.
        self._stale_tabs: set[str] = set()
        self._labelled_names: dict[str, str] = {}  # the name each tab was last labelled with
        self._relabel = Throttle(self, self._relabel_tabs, TAB_RELABEL_INTERVAL)
        self._underlined_tab: str | None = None  # the active tab at the last layout (see _underline_active_tab)
        # Held, not queried: App.query_one looks at the top screen, which may be a dialog.
        # The phones' tabs and the log beside them are replaced whole when the handsets are
        # (re)loaded (see _show_all_handsets); until the first load these stay unmounted.
        self.activity = ActivityLog(id="activity")
        self.tabs = PhonesAndLog(self.activity, id="phones")
        self._main = Vertical(id="main")
        self._engine_handlers: dict[type[Message], Callable[[Any], Any]] = {
            EngineBridge.HandsetChanged: self.redraw_handset,
            EngineBridge.PromptArrived: self.show_prompt,
            EngineBridge.PlanChanged: self.show_plan_change,
            EngineBridge.TransactionSettled: self.settle_on_phone,
            EngineBridge.SmsReceived: self.deliver_sms,
            EngineBridge.RequestHandled: self.log_request,
            EngineBridge.CallbackAttempted: self.log_callback,
            EngineBridge.StateReset: self.rebuild_phones,
            EngineBridge.Noticed: self.log_notice,
        }

    @property
    def simulator(self) -> Simulator:
        return self.emulator.simulator

    # --- lifecycle -------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield self._main  # the phones' tabs and the log come once the handsets are loaded
        yield Footer(show_command_palette=False)  # Ctrl+P still opens it; the room goes to our keys

    async def on_mount(self) -> None:
        self.set_class(self.presenter, "-presenter")
        try:
            await self.emulator.start()
        except CannotStart as exc:
            self.start_error = exc
            self.exit(return_code=2)
            return
        self._started = True
        await self._show_all_handsets()
        # Before the bridge starts (and after the log is mounted): every entry after this comes
        # from an event, none twice.
        self._show_history()
        self._bridge = EngineBridge(self.simulator.bus, self)
        self._bridge.start()
        # Warnings and log records would scribble over the screen; the activity pane shows them.
        self._log_handler = LogToApp(self)
        logging.getLogger().addHandler(self._log_handler)
        logging.captureWarnings(True)
        self.screen_change_signal.subscribe(self, self._screen_changed)
        self.show_mode()
        # The mode can also change through the control API, which tells nobody; a glance a second is enough.
        self.set_interval(1.0, self.show_mode)
        self.screen.screen_layout_refresh_signal.subscribe(self, self._underline_active_tab)
        self.ready.set()
        self.call_after_refresh(heap.settle)  # after the first frame: it costs a full collection

    async def on_unmount(self) -> None:
        if self._bridge is not None:
            self._bridge.stop()
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            logging.captureWarnings(False)
        if self._started:
            await self.emulator.stop()
        heap.release()  # the app's widgets become garbage now; Pilot tests start many apps

    async def _show_all_handsets(self) -> None:
        """Put every handset's phone on screen in a new tab strip, replacing the one there.

        The strip is mounted with all its tabs, never filled tab by tab: Textual places the active
        tab's underline when the strip is laid out, and under a strip already laid out, the first
        tab added is highlighted before it has a size of its own (no underline, or one depending on
        the event loop's timing, which differs between Python versions).
        """
        handsets = self.simulator.handsets()
        phones = [self._phone(handset) for handset in handsets]
        names = [handset.name for handset in handsets]
        replacing = self.tabs.is_attached
        # The log lives beside the phones, inside the strip's widget: a new strip gets a new log
        # that carries on with the entries of the old one.
        activity = ActivityLog(id="activity", earlier=self.activity.entries) if replacing else self.activity
        tabs = PhonesAndLog(activity, id="phones")
        for handset, phone in zip(handsets, phones, strict=True):
            # What `with tabs:` does inside compose(): the panes are there when the strip mounts.
            tabs.compose_add_child(TabPane(self._tab_label(handset, False, names), phone, id=pane_id(handset.msisdn)))
        # The phones have the keys at start-up (the screen gave its first focus before they came)
        # and after a reset that took them from under the customer; not if they were elsewhere.
        keys_here = not replacing or self.tabs.has_focus_within
        with self.batch_update():  # no frame between the old strip leaving and the new one arriving
            if replacing:
                await self.tabs.remove()
            self.tabs, self.activity = tabs, activity
            self.phones = {handset.msisdn: phone for handset, phone in zip(handsets, phones, strict=True)}
            await self._main.mount(tabs)
        if keys_here:
            tabs.query_one("Tabs").focus()
        current = self.current_phone
        if current is not None:
            await current.build()
        for txn in self.simulator.live_transactions():
            self._open_prompt(txn, announce=False)

    def _show_history(self) -> None:
        """Put the recent payments and callback attempts from the database in the log, under a
        line that says where they come from: a restarted emulator's log is not empty."""
        sim = self.simulator
        names = {handset.msisdn: handset.name for handset in sim.handsets()}
        late = sim.settings.late_callback_delay
        settled = sim.transactions(status="settled", limit=HISTORY_ENTRIES)[::-1]  # oldest first
        place = {txn.checkout_request_id: index for index, txn in enumerate(settled)}
        # Oldest first by time; at the same instant (a frozen clock), a callback follows its payment.
        ordered = [
            (
                (txn.settled_at or txn.created_at, place[txn.checkout_request_id], 0),
                settled_entry(txn, names.get(txn.msisdn), settled_plan_note(txn, late)),
            )
            for txn in settled
        ]
        for number, attempt in enumerate(sim.callback_log(HISTORY_ENTRIES)[::-1], start=1):
            key = (attempt.started_at, place.get(attempt.checkout_request_id, len(settled)), number)
            ordered.append((key, callback_entry(attempt, attempt.started_at, True)))
        if not ordered:
            return
        ordered.sort(key=lambda keyed: keyed[0])
        for _, entry in ordered[-HISTORY_ENTRIES:]:
            self.activity.add(entry)
        self.activity.add(history_divider(sim.clock.now()))

    def _phone(self, handset: Handset) -> Phone:
        return Phone(handset, self.simulator.clock, self._inbox_loader(handset.msisdn))

    async def _add_phones(self, handsets: list[Handset]) -> None:
        """Give each new handset a tab after the others; many at once share one layout pass, not one each."""
        if not self.phones:  # the first tab would get no underline (see _show_all_handsets)
            await self._show_all_handsets()
            return
        phones = [self._phone(handset) for handset in handsets]
        names = [handset.name for handset in self.simulator.handsets()]
        # A new name can make an old label ambiguous: label them all again.
        self._stale_tabs.update(self.phones)
        self._relabel.poke()
        await AwaitComplete(
            *(
                self.tabs.add_pane(TabPane(self._tab_label(h, False, names), phone, id=pane_id(h.msisdn)))
                for h, phone in zip(handsets, phones, strict=True)
            )
        )
        for handset, phone in zip(handsets, phones, strict=True):
            self.phones[handset.msisdn] = phone
        current = self.current_phone
        if current is not None:
            await current.build()

    def show_mode(self) -> None:
        """Say in the header who answers prompts: a person, or the unattended mode."""
        unattended = self.simulator.settings.unattended
        mode = f"mode {unattended.mode}"
        if unattended.mode != "human" and unattended.think_time:
            mode += f" · think {unattended.think_time:g} s"
        subtitle = f"{self.emulator.base_url} · {mode}"
        if self.sub_title != subtitle:
            self.sub_title = subtitle

    def _inbox_loader(self, msisdn: str) -> Callable[[], list[InboxMessage]]:
        return lambda: self.simulator.inbox(msisdn, limit=SHOWN_MESSAGES)

    # --- tabs ------------------------------------------------------------------
    @property
    def current_phone(self) -> Phone | None:
        active = self.tabs.active
        return self.phones.get(active.removeprefix("phone-")) if active else None

    def _tab_label(self, handset: Handset, waiting: bool, names: list[str] | None = None) -> Content:
        """A phone's tab: the owner's name, shortened so it still tells it apart, and its marks."""
        if names is None:
            names = [other.name for other in self.simulator.handsets()]
        self._labelled_names[handset.msisdn] = handset.name
        return Content.assemble(
            short_name(handset.name, names),
            (OFFLINE_MARKER, "$warning") if not handset.online else "",
            (LOCK_MARKER, "bold $error") if handset.pin_locked else "",
            (PROMPT_MARKER, "bold $success") if waiting else "",
        )

    def _underline_active_tab(self, screen: Screen[Any]) -> None:
        """After a layout, put the underline back under the active tab if the tab changed size.

        Textual (8.2.8, pinned) moves the underline when a tab is relabelled, but unless it
        animates the move, it measures the tab before the layout that gives the new label its
        width: a tab that grows a ● or a ✈ would keep an underline too short. A tab that just
        became active is left to Textual, which slides the underline there itself.
        """
        strip = self.tabs.get_child_by_type(ContentTabs) if self.tabs.is_attached else None
        tab = strip.active_tab if strip is not None else None
        if strip is None or tab is None or tab.id != self._underlined_tab:
            self._underlined_tab = tab.id if tab is not None else None
            return
        underline: Any = strip.query_one("Underline")  # Textual keeps its Underline class private
        start, end = tab.virtual_region.shrink(tab.styles.gutter).column_span
        if (underline.highlight_start, underline.highlight_end) != (start, end) and not (
            self.animator.is_being_animated(underline, "highlight_start")
            or self.animator.is_being_animated(underline, "highlight_end")
        ):
            underline.highlight_start, underline.highlight_end = start, end

    def refresh_tab(self, msisdn: str) -> None:
        """Relabel a phone's tab (owner, offline mark, the dot while a prompt waits) soon."""
        phone = self.phones.get(msisdn)
        if phone is None:
            return
        self._stale_tabs.add(msisdn)
        self._relabel.poke()
        if phone is self.current_phone:
            self._refresh_prompt_keys()

    def _relabel_tabs(self) -> None:
        stale, self._stale_tabs = self._stale_tabs, set()
        if not self.tabs.is_attached:  # the app is closing
            return
        names = [handset.name for handset in self.simulator.handsets()]
        for msisdn in stale:
            phone = self.phones.get(msisdn)
            handset = self.simulator.handset(msisdn)
            if phone is None or handset is None:
                continue
            try:
                tab = self.tabs.get_tab(pane_id(msisdn))
            except NoMatches:  # its phone went (a reset) after the relabel was asked for
                continue
            label = self._tab_label(handset, phone.prompt_waiting, names)
            if tab.label != label:
                tab.label = label
        self.tabs.mark_waiting({pane_id(msisdn) for msisdn, phone in self.phones.items() if phone.prompt_waiting})

    def _refresh_prompt_keys(self) -> None:
        """Offer the prompt and unlock keys when what is on screen changed (not on every event).

        Refreshing the bindings rebuilds the footer, so a flood of settlements on the phone on
        screen must not do it once per settlement: only when a key comes or goes.
        """
        phone = self.current_phone
        state = (phone.msisdn, phone.prompt_waiting, phone.pin_locked) if phone is not None else None
        if state != self._keys_state:
            self._keys_state = state
            self.refresh_bindings()

    async def activate_phone(self, msisdn: str) -> None:
        """Put a phone on screen (drawing it if it is the first look) and hand it the keys."""
        self.tabs.active = pane_id(msisdn)
        await self._look_at(self.phones[msisdn])

    async def _look_at(self, phone: Phone) -> None:
        await phone.build()
        if phone.prompt_waiting:
            phone.prompt.pin_field.focus()

    @on(TabbedContent.TabActivated, "#phones")
    async def focus_waiting_prompt(self, event: TabbedContent.TabActivated) -> None:
        phone = self.phones.get((event.pane.id or "").removeprefix("phone-"))
        if phone is not None:
            await self._look_at(phone)
        self._refresh_prompt_keys()

    def _screen_changed(self, screen: object) -> None:
        """A dialog closed (the phones are on top again): guard the prompt, then give it the keys.

        Called as the dialog goes, before any later key is handled: the Esc that closed it, or a
        second one pressed out of habit, must not reach the payment behind it.
        """
        if screen is not self.screen_stack[0]:
            return
        phone = self.current_phone
        if phone is not None and phone.prompt_waiting and phone.built:
            phone.prompt.ignore_escape()
            self.call_after_refresh(self._focus_prompt_on_screen)

    def _focus_prompt_on_screen(self) -> None:
        """The prompt on the phone shown takes the PIN (one that arrived under a dialog included)."""
        phone = self.current_phone
        if self.screen is self.screen_stack[0] and phone is not None and phone.prompt_waiting and phone.built:
            phone.prompt.pin_field.focus()

    # --- engine events, as messages -----------------------------------------------
    @on(EngineBridge.EventsWaiting)
    async def take_engine_events(self) -> None:
        """Handle the engine's messages in order, a slice at a time (see ``handset.bridge``)."""
        if self._bridge is None:
            return
        for message in self._bridge.take(ENGINE_SLICE):
            if not self.tabs.is_attached:  # the app is closing: nothing left to draw on
                continue
            await self.handle_engine_message(message)

    async def handle_engine_message(self, message: Message) -> None:
        """Hand one engine message to its handler."""
        handler = self._engine_handlers.get(type(message))
        if handler is not None:
            result = handler(message)
            if inspect.isawaitable(result):
                await result

    async def redraw_handset(self, message: EngineBridge.HandsetChanged) -> None:
        handset = message.handset
        phone = self.phones.get(handset.msisdn)
        if phone is None:
            await self._add_phones([handset])
            return
        had_prompt = phone.prompt_waiting
        if self._labelled_names.get(handset.msisdn) != handset.name:  # others may need more of theirs now
            self._stale_tabs.update(self.phones)
        phone.show_handset(handset)
        if had_prompt and not phone.prompt_waiting:
            self._unannounced = [t for t in self._unannounced if t.msisdn != handset.msisdn]
        self.refresh_tab(handset.msisdn)

    def show_prompt(self, message: EngineBridge.PromptArrived) -> None:
        if self._open_prompt(message.transaction, announce=True) and self.bell_on_prompt:
            self.bell()

    def _open_prompt(self, txn: Transaction, *, announce: bool) -> bool:
        """Show a live prompt on its phone; True when it opened (the phone is on the network)."""
        phone = self.phones.get(txn.msisdn)
        # The engine may have settled it already (a burst, a timeout) before we got here;
        # at start-up a restored prompt can also be announced twice.
        if phone is None or not txn.pending or phone.transaction is txn:
            return False
        if not phone.show_prompt(txn):
            return False
        phone.show_plan(self._plan_words(txn))
        self.refresh_tab(txn.msisdn)
        on_screen = self.tabs.active == pane_id(txn.msisdn) and self.screen is self.screen_stack[0]
        typing = _typing_in(self.focused)
        if on_screen and not typing and phone.built:
            phone.prompt.pin_field.focus()
        elif announce:
            self._announce(txn)
        return True

    def show_plan_change(self, message: EngineBridge.PlanChanged) -> None:
        """A plan set anywhere (the control API too) shows on the prompt it belongs to."""
        txn = message.transaction
        phone = self.phones.get(txn.msisdn)
        shown = phone.transaction if phone is not None else None
        if phone is not None and shown is not None and shown.checkout_request_id == txn.checkout_request_id:
            phone.show_plan(self._plan_words(txn))

    def _announce(self, txn: Transaction) -> None:
        """Say a prompt arrived elsewhere; a burst of arrivals becomes one notification.

        Waits for a short lull (at most ``ANNOUNCE_MAX_WAIT``) so fifty pushes
        landing over a second make one toast, not fifty.
        """
        now = time.monotonic()
        if not self._unannounced:
            self._burst_started = now
        self._unannounced.append(txn)
        if self._announce_timer is not None:
            self._announce_timer.stop()
        wait = ANNOUNCE_LULL if now - self._burst_started < ANNOUNCE_MAX_WAIT else 0.01
        self._announce_timer = self.set_timer(wait, self._flush_announcements)

    def _flush_announcements(self) -> None:
        self._announce_timer = None
        waiting = [t for t in self._unannounced if t.pending]
        self._unannounced.clear()
        if not waiting:
            return
        if len(waiting) == 1:
            txn = waiting[0]
            handset = self.simulator.handset(txn.msisdn)
            who = handset.name if handset else txn.msisdn
            self.notify(
                f"{who}: pay {ksh_whole(txn.amount)} to {txn.merchant_name}. Press n to answer.",
                title="Payment prompt",
            )
        else:
            names = ", ".join((h.name if (h := self.simulator.handset(t.msisdn)) else t.msisdn) for t in waiting[:3])
            more = f" and {len(waiting) - 3} more" if len(waiting) > 3 else ""
            self.notify(f"{names}{more}. Press n to answer the next.", title=f"{len(waiting)} payment prompts")

    def settle_on_phone(self, message: EngineBridge.TransactionSettled) -> None:
        txn = message.transaction
        handset = self.simulator.handset(txn.msisdn)
        note = settled_plan_note(txn, self.simulator.settings.late_callback_delay)
        self.activity.add(settled_entry(txn, handset.name if handset else None, note))
        phone = self.phones.get(txn.msisdn)
        if phone is None:
            return
        # Only the prompt on the phone's screen closing moves the focus: a 1001 (busy) settlement
        # of another push to this phone leaves that prompt, and the customer typing in it, alone.
        prompt_had_focus = phone.built and phone.prompt.has_focus_within
        closed = phone.settle(txn)
        if not closed:
            return
        self.refresh_tab(txn.msisdn)
        if prompt_had_focus and phone.notice_text is not None:
            phone.notice.query_one("#dismiss").focus()
        elif prompt_had_focus:
            self.tabs.query_one("Tabs").focus()

    def deliver_sms(self, message: EngineBridge.SmsReceived) -> None:
        phone = self.phones.get(message.sms.msisdn)
        if phone is not None:
            phone.receive_sms(message.sms)

    def log_request(self, message: EngineBridge.RequestHandled) -> None:
        self.activity.add(request_entry(message.request))

    def log_callback(self, message: EngineBridge.CallbackAttempted) -> None:
        self.activity.add(callback_entry(message.attempt, message.at, message.final))
        inspector = sys.modules.get("handset.screens.inspector")  # not loaded: no inspector is open
        if inspector is not None:
            for screen in self.screen_stack:
                if isinstance(screen, inspector.CallbackInspectorScreen):
                    screen.add_attempt(message.attempt)

    def log_notice(self, message: EngineBridge.Noticed) -> None:
        event = message.event
        if isinstance(event, DuplicatePushFlagged):
            self.activity.add(duplicate_entry(event))
        elif isinstance(event, AnswersDiffer):
            self.activity.add(answers_entry(event))
            self.notify(
                "\n".join(event.differences), title="The merchant answered a copy differently", severity="warning"
            )
        elif isinstance(event, InitiatorSettled):
            request = event.request
            timed_out = self.simulator.delivery(delivery_id(QUEUE_TIMEOUT, request.conversation_id)) is not None
            self.activity.add(
                initiator_entry(request, event.at, customer=self._customer_of(request), queue_timeout=timed_out)
            )
        elif isinstance(event, MoneySent):
            sender, recipient = (self.simulator.handset(m) for m in (event.transfer.sender, event.transfer.recipient))
            self.activity.add(
                transfer_entry(event.transfer, sender.name if sender else None, recipient.name if recipient else None)
            )
        elif isinstance(event, C2BPaymentSettled):
            payment = event.payment
            merchant, handset = self.simulator.merchant(payment.shortcode), self.simulator.handset(payment.msisdn)
            self.activity.add(
                c2b_entry(payment, merchant.name if merchant else None, handset.name if handset else None)
            )

    def _customer_of(self, request: InitiatorRequest) -> str | None:
        """The name of the person an initiator request paid: a B2C recipient, or the payer a
        reversal gave the money back to (found by the receipt of the payment reversed)."""
        msisdn = request.counterpart
        if request.api == "reversal" and request.counterpart:
            store = self.simulator.store
            paid = [t.msisdn for t in store.transactions_by_receipt(request.counterpart)]
            paid += [p.msisdn for p in store.c2b_payments_by_receipt(request.counterpart)]
            msisdn = paid[0] if paid else None
        handset = self.simulator.handset(msisdn) if msisdn else None
        return handset.name if handset else None

    @on(EngineBridge.LogRecorded)
    def log_record(self, message: EngineBridge.LogRecorded) -> None:
        self.activity.add(log_entry(message.record, self.simulator.clock.now()))

    async def rebuild_phones(self, message: EngineBridge.StateReset | None = None) -> None:
        self._unannounced.clear()
        await self._show_all_handsets()
        self.notify("Back to the configured handsets and balances.", title="Emulator reset")

    # --- what the customer does -------------------------------------------------------
    @on(StkPrompt.PinEntered)
    def send_pin(self, message: StkPrompt.PinEntered) -> None:
        try:
            self.simulator.enter_pin(message.checkout_request_id, message.pin)
        except EngineError as exc:
            self.notify(str(exc), title="Not sent", severity="error")

    @on(StkPrompt.CancelPressed)
    def cancel_payment(self, message: StkPrompt.CancelPressed) -> None:
        try:
            self.simulator.cancel(message.checkout_request_id)
        except EngineError as exc:
            self.notify(str(exc), title="Not cancelled", severity="error")

    @on(ActivityLog.EntryChosen)
    def show_entry(self, message: ActivityLog.EntryChosen) -> None:
        from .screens.detail import EntryDetailScreen

        self.push_screen(EntryDetailScreen(message.entry))

    # --- actions -------------------------------------------------------------------
    def action_connect(self) -> None:
        from .screens.connect import ConnectScreen, connect_facts

        self.push_screen(ConnectScreen(connect_facts(self.emulator)))

    def action_add_handset(self) -> None:
        from .screens.handset_dialogs import AddHandsetScreen

        def opened(handset: Handset | None) -> None:
            if handset is not None:
                self.call_after_refresh(self._go_to_new_phone, handset)

        self.push_screen(AddHandsetScreen(self.simulator.add_handset), opened)

    async def _go_to_new_phone(self, handset: Handset) -> None:
        if handset.msisdn not in self.phones:
            await self._add_phones([handset])
        await self.activate_phone(handset.msisdn)
        self.notify(f"{handset.name} ({handset.msisdn}) with {ksh(handset.balance_cents)}.", title="Handset added")

    def action_mpesa_menu(self) -> None:
        """The M-PESA menu of the phone on screen, as its owner would open it."""
        phone = self.current_phone
        handset = self.simulator.handset(phone.msisdn) if phone else None
        if handset is None:
            return
        from .screens.mpesa_menu import MenuOutcome, MpesaMenuScreen

        def done(outcome: MenuOutcome | None) -> None:
            if outcome is not None:
                self.notify(outcome.words, title=outcome.title, severity="information" if outcome.ok else "error")

        self.push_screen(MpesaMenuScreen(handset, self.simulator.menu), done)

    def action_set_balance(self) -> None:
        phone = self.current_phone
        handset = self.simulator.handset(phone.msisdn) if phone else None
        if handset is None:
            return
        msisdn = handset.msisdn
        from .screens.handset_dialogs import BalanceScreen

        self.push_screen(BalanceScreen(handset, lambda kes: self.simulator.update_handset(msisdn, balance=kes)))

    def action_toggle_online(self) -> None:
        phone = self.current_phone
        handset = self.simulator.handset(phone.msisdn) if phone else None
        if handset is None:
            return
        try:
            self.simulator.update_handset(handset.msisdn, online=not handset.online)
        except EngineError as exc:
            self.notify(str(exc), severity="error")
            return
        if handset.online:
            self.notify(f"{handset.name} is back on the network.", title="Online")
        else:
            self.notify(
                f"{handset.name} is off the network: pushes to it time out with 1037.",
                title="Offline",
            )

    @on(HiddenTabs.Clicked)
    async def show_hidden_prompt(self, message: HiddenTabs.Clicked) -> None:
        """A click on a strip's edge mark: the nearest phone that way with a prompt, else the next."""
        await self.action_next_prompt(message.direction)

    async def action_next_prompt(self, direction: int = 1) -> None:
        """Go to the next phone (after the current one; before it for -1) with a prompt waiting."""
        order = list(self.phones)
        if not order:
            return
        if direction < 0:
            order.reverse()
        current = self.current_phone
        start = order.index(current.msisdn) + 1 if current else 0
        for msisdn in order[start:] + order[:start]:
            if self.phones[msisdn].prompt_waiting:
                await self.activate_phone(msisdn)
                return
        self.notify("No prompt is waiting.", timeout=2)

    def action_focus_activity(self) -> None:
        self.activity.focus_entries()

    def action_toggle_presenter(self) -> None:
        self.presenter = not self.presenter

    def watch_presenter(self, presenter: bool) -> None:
        """Switch the layout (handset.tcss does the sizes); the big countdown shows at once."""
        self.set_class(presenter, "-presenter")
        phone = self.current_phone
        if phone is not None and phone.prompt_waiting and phone.built:
            self.call_after_refresh(phone.prompt.refresh_countdown)
        if presenter:
            self.notify("One phone, large; press d to go back.", title="Presenter mode", timeout=3)

    # --- power tools ----------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer the prompt keys only while the phone on screen has a prompt, unlock only when locked."""
        phone = self.current_phone
        if action in PROMPT_ACTIONS:
            return phone is not None and phone.prompt_waiting
        if action == "unlock_pin":
            return phone is not None and phone.pin_locked
        return True

    def _effective_plan(self, txn: Transaction) -> CallbackPlan:
        if txn.callback_plan:
            return CallbackPlan.model_validate_json(txn.callback_plan)
        return self.simulator.settings.callback_plan

    def _plan_words(self, txn: Transaction) -> str | None:
        """How the prompt's callback will go out, or None for a plain delivery."""
        plan = self._effective_plan(txn)
        if plan.mode == "normal":
            return None
        return plan_words(plan, self.simulator.settings.late_callback_delay)

    def _prompt_on_screen(self) -> tuple[Phone, Transaction] | None:
        phone = self.current_phone
        if phone is None or phone.transaction is None:
            return None
        return phone, phone.transaction

    def _owner(self, msisdn: str) -> str:
        handset = self.simulator.handset(msisdn)
        return handset.name if handset else msisdn

    def action_settle_with_code(self) -> None:
        """Open the result-code picker on the prompt on screen."""
        shown = self._prompt_on_screen()
        if shown is None:
            return
        _, txn = shown
        checkout = txn.checkout_request_id

        def settle(code: int | str) -> Transaction:
            return self.simulator.settle_with(checkout, code)

        from .screens.prompt_tools import ResultCodeScreen

        self.push_screen(ResultCodeScreen(txn, self._owner(txn.msisdn), settle))

    def action_callback_plan(self) -> None:
        """Choose how the callback of the prompt on screen goes out."""
        shown = self._prompt_on_screen()
        if shown is None:
            return
        phone, txn = shown
        checkout = txn.checkout_request_id

        def chosen(changed: Transaction | None) -> None:
            if changed is None:
                return
            words = self._plan_words(changed)
            if phone.transaction is changed:
                phone.show_plan(words)
            self.notify(f"The callback will go out: {words or 'normal'}.", title="Callback plan", timeout=3)

        def set_plan(plan: CallbackPlan) -> Transaction:
            return self.simulator.set_callback_plan(checkout, plan)

        from .screens.prompt_tools import CallbackPlanScreen

        screen = CallbackPlanScreen(
            txn,
            self._effective_plan(txn),
            self.simulator.settings.late_callback_delay,
            set_plan,
        )
        self.push_screen(screen, chosen)

    def action_unlock_pin(self) -> None:
        phone = self.current_phone
        if phone is None or not phone.pin_locked:
            return
        try:
            handset = self.simulator.unlock_pin(phone.msisdn)
        except EngineError as exc:
            self.notify(str(exc), title="Not unlocked", severity="error")
            return
        self.notify(f"{handset.name} can pay again.", title="PIN unlocked")

    def action_inspect_callbacks(self) -> None:
        from .screens.inspector import CallbackInspectorScreen

        self.push_screen(CallbackInspectorScreen(self.simulator))

    def action_settings(self) -> None:
        def closed(applied: bool | None) -> None:
            self.show_mode()
            if applied:
                self.notify("Settings applied.", title="Settings", timeout=3)

        from .screens.settings import SettingsScreen

        self.push_screen(SettingsScreen(self.simulator), closed)

    async def action_quit(self) -> None:
        """Quit; with prompts waiting, ask once first (a second Ctrl+Q, or Enter, quits)."""
        from .screens.confirm import ConfirmScreen

        waiting = len(self.simulator.live_transactions())
        if not waiting or (isinstance(self.screen, ConfirmScreen) and self.screen.id == "confirm-quit"):
            self.exit()
            return
        prompts = "1 payment prompt is" if waiting == 1 else f"{waiting} payment prompts are"
        question = (
            f"{prompts} waiting for an answer. They stay pending while the emulator is down; "
            "at the next start, any past its timeout settles 1037 and its callback goes out."
        )

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                self.exit()

        screen = ConfirmScreen("Quit with prompts waiting?", question, "Quit", back="Stay", confirm_first=True)
        screen.id = "confirm-quit"
        self.push_screen(screen, answered)

    def action_reset(self) -> None:
        """Put the emulator back as configured, once the person says so."""
        from .screens.confirm import ConfirmScreen

        waiting = len(self.simulator.live_transactions())
        live = ""
        if waiting:
            live = " The live prompt ends" if waiting == 1 else f" The {waiting} live prompts end"
            live += " without a callback."
        question = (
            "Back to the configured handsets, merchants, balances, settings and rules; every payment, "
            f"SMS and callback attempt is wiped. Access tokens are kept.{live}"
        )

        def answered(reset: bool | None) -> None:
            if reset:
                self.simulator.reset()

        self.push_screen(ConfirmScreen("Reset the emulator?", question, "Reset"), answered)

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        self.push_screen(HelpScreen())


def make_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    presenter: bool = False,
    bell: bool = False,
) -> HandsetApp:
    """The one way to build the app: the CLI, every Pilot test and the screenshots use it."""
    # Requests get at most ENGINE_SLICE of a loop turn, like engine events: keys stay quick in a flood.
    emulator = Emulator(settings, clock=clock, ids=ids, turn_budget=ENGINE_SLICE)
    return HandsetApp(emulator, presenter=presenter, bell=bell)


def run_tui(settings: Settings, app: HandsetApp | None = None) -> int:
    """Run the phones in this terminal until the user quits; 2 when the emulator cannot start."""
    app = app if app is not None else make_app(settings)
    try:
        app.emulator.claim()  # the database and the port, before the TUI takes the terminal
    except CannotStart as exc:
        print(f"handset: {exc}", file=sys.stderr)
        return 2
    app.run()
    if app.start_error is not None:
        print(f"handset: {app.start_error}", file=sys.stderr)
        return 2
    return app.return_code or 0
