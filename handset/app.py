"""The Textual app: one tab per handset beside the activity log, the emulator embedded.

The emulator (engine + aiohttp server) runs on the app's own event loop: it
starts in ``on_mount`` and stops in ``on_unmount``. The app calls engine
methods when the customer acts, and redraws when engine events arrive as
messages through the ``EngineBridge``; no widget ever changes state itself.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from textual import on
from textual.app import App, ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, TabbedContent, TabPane, TextArea

from server.clock import Clock
from server.ids import IdGenerator
from server.models import Handset, Transaction
from server.runner import Emulator, PortInUse
from server.settings import Settings
from server.simulator import EngineError, Simulator

from .bridge import EngineBridge, LogToApp
from .screens.connect import ConnectScreen, connect_facts
from .screens.detail import EntryDetailScreen
from .screens.handset_dialogs import AddHandsetScreen, BalanceScreen
from .texts import ksh
from .widgets.activity import ActivityLog, callback_entry, log_entry, request_entry, settled_entry
from .widgets.inbox import SHOWN_MESSAGES
from .widgets.phone import Phone
from .widgets.stk_prompt import StkPrompt

PROMPT_MARKER = " ●"
ANNOUNCE_LULL = 0.3  # seconds without a new prompt before the notification shows
ANNOUNCE_MAX_WAIT = 1.5
OFFLINE_MARKER = " ✈"


def pane_id(msisdn: str) -> str:
    return f"phone-{msisdn}"


class HandsetApp(App[None]):
    """Phones in tabs, each answering STK Pushes sent to the embedded Daraja server."""

    CSS_PATH = "handset.tcss"
    TITLE = "mpesa-handset"

    BINDINGS = [
        Binding("c", "connect", "Connect app"),
        Binding("a", "add_handset", "Add handset"),
        Binding("b", "set_balance", "Balance"),
        Binding("o", "toggle_online", "Offline/online"),
        Binding("n", "next_prompt", "Next prompt"),
        Binding("l", "focus_activity", "Activity"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, emulator: Emulator) -> None:
        super().__init__()
        self.emulator = emulator
        self.phones: dict[str, Phone] = {}
        self.port_error: PortInUse | None = None
        self.ready = asyncio.Event()
        self._bridge: EngineBridge | None = None
        self._log_handler: LogToApp | None = None
        self._started = False
        self._unannounced: list[Transaction] = []
        self._announce_timer: Timer | None = None
        self._burst_started = 0.0
        # Held, not queried: App.query_one looks at the top screen, which may be a dialog.
        self.tabs = TabbedContent(id="phones")
        self.activity = ActivityLog(id="activity")

    @property
    def simulator(self) -> Simulator:
        return self.emulator.simulator

    # --- lifecycle -------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="main"):
            yield self.tabs
            yield self.activity
        yield Footer()

    async def on_mount(self) -> None:
        try:
            await self.emulator.start()
        except PortInUse as exc:
            self.port_error = exc
            self.exit(return_code=2)
            return
        self._started = True
        self._bridge = EngineBridge(self.simulator.bus, self)
        self._bridge.start()
        # Warnings and log records would scribble over the screen; the activity pane shows them.
        self._log_handler = LogToApp(self)
        logging.getLogger().addHandler(self._log_handler)
        logging.captureWarnings(True)
        self.sub_title = self.emulator.base_url
        await self._show_all_handsets()
        self.ready.set()

    async def on_unmount(self) -> None:
        if self._bridge is not None:
            self._bridge.stop()
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            logging.captureWarnings(False)
        if self._started:
            await self.emulator.stop()
        else:
            self.simulator.store.close()

    async def _show_all_handsets(self) -> None:
        await self._add_phones(self.simulator.handsets())
        for txn in self.simulator.live_transactions():
            self._open_prompt(txn, announce=False)

    async def _add_phones(self, handsets: list[Handset]) -> None:
        """Give each handset a tab; many at once share one layout pass, not one each."""
        phones = [Phone(handset, self.simulator.clock, self._inbox_loader(handset.msisdn)) for handset in handsets]
        await AwaitComplete(*(
            self.tabs.add_pane(TabPane(self._tab_label(h, False), phone, id=pane_id(h.msisdn)))
            for h, phone in zip(handsets, phones)
        ))
        for handset, phone in zip(handsets, phones):
            self.phones[handset.msisdn] = phone
        current = self.current_phone
        if current is not None:
            await current.build()

    def _inbox_loader(self, msisdn: str):
        return lambda: self.simulator.inbox(msisdn, limit=SHOWN_MESSAGES)

    # --- tabs ------------------------------------------------------------------
    @property
    def current_phone(self) -> Phone | None:
        active = self.tabs.active
        return self.phones.get(active.removeprefix("phone-")) if active else None

    def _tab_label(self, handset: Handset, waiting: bool) -> Content:
        name = handset.name if len(handset.name) <= 16 else handset.name[:15] + "…"
        return Content.assemble(
            name,
            (OFFLINE_MARKER, "$warning") if not handset.online else "",
            (PROMPT_MARKER, "bold $success") if waiting else "",
        )

    def refresh_tab(self, msisdn: str) -> None:
        """Relabel a phone's tab: its owner, offline mark, and the dot while a prompt waits."""
        phone = self.phones.get(msisdn)
        handset = self.simulator.handset(msisdn)
        if phone is None or handset is None:
            return
        tab = self.tabs.get_tab(pane_id(msisdn))
        label = self._tab_label(handset, phone.prompt_waiting)
        if tab.label != label:
            tab.label = label

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

    # --- engine events, as messages -----------------------------------------------
    @on(EngineBridge.HandsetChanged)
    async def redraw_handset(self, message: EngineBridge.HandsetChanged) -> None:
        handset = message.handset
        phone = self.phones.get(handset.msisdn)
        if phone is None:
            await self._add_phones([handset])
            return
        had_prompt = phone.prompt_waiting
        phone.show_handset(handset)
        if had_prompt and not phone.prompt_waiting:
            self._unannounced = [t for t in self._unannounced if t.msisdn != handset.msisdn]
        self.refresh_tab(handset.msisdn)

    @on(EngineBridge.PromptArrived)
    def show_prompt(self, message: EngineBridge.PromptArrived) -> None:
        self._open_prompt(message.transaction, announce=True)

    def _open_prompt(self, txn: Transaction, *, announce: bool) -> None:
        phone = self.phones.get(txn.msisdn)
        # The engine may have settled it already (a burst, a timeout) before we got here;
        # at start-up a restored prompt can also be announced twice.
        if phone is None or not txn.pending or phone.transaction is txn:
            return
        if not phone.show_prompt(txn):
            return
        self.refresh_tab(txn.msisdn)
        on_screen = self.tabs.active == pane_id(txn.msisdn) and self.screen is self.screen_stack[0]
        typing = isinstance(self.focused, (Input, TextArea))
        if on_screen and not typing and phone.built:
            phone.prompt.pin_field.focus()
        elif announce:
            self._announce(txn)

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
                f"{who}: pay Ksh{txn.amount:,} to {txn.merchant_name}. Press n to answer.",
                title="Payment prompt",
            )
        else:
            names = ", ".join(
                (h.name if (h := self.simulator.handset(t.msisdn)) else t.msisdn) for t in waiting[:3]
            )
            more = f" and {len(waiting) - 3} more" if len(waiting) > 3 else ""
            self.notify(f"{names}{more}. Press n to answer the next.", title=f"{len(waiting)} payment prompts")

    @on(EngineBridge.TransactionSettled)
    def settle_on_phone(self, message: EngineBridge.TransactionSettled) -> None:
        txn = message.transaction
        handset = self.simulator.handset(txn.msisdn)
        self.activity.add(settled_entry(txn, handset.name if handset else None))
        phone = self.phones.get(txn.msisdn)
        if phone is None:
            return
        prompt_had_focus = phone.built and phone.prompt.has_focus_within
        phone.settle(txn)
        self.refresh_tab(txn.msisdn)
        if prompt_had_focus and phone.notice_text is not None:
            phone.notice.query_one("#dismiss").focus()
        elif prompt_had_focus:
            self.tabs.query_one("Tabs").focus()

    @on(EngineBridge.SmsReceived)
    def deliver_sms(self, message: EngineBridge.SmsReceived) -> None:
        phone = self.phones.get(message.sms.msisdn)
        if phone is not None:
            phone.receive_sms(message.sms)

    @on(EngineBridge.RequestHandled)
    def log_request(self, message: EngineBridge.RequestHandled) -> None:
        self.activity.add(request_entry(message.request))

    @on(EngineBridge.CallbackAttempted)
    def log_callback(self, message: EngineBridge.CallbackAttempted) -> None:
        self.activity.add(callback_entry(message.attempt, message.at, message.final))

    @on(EngineBridge.LogRecorded)
    def log_record(self, message: EngineBridge.LogRecorded) -> None:
        self.activity.add(log_entry(message.record, self.simulator.clock.now()))

    @on(EngineBridge.StateReset)
    async def rebuild_phones(self) -> None:
        await self.tabs.clear_panes()
        self.phones.clear()
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
        self.push_screen(EntryDetailScreen(message.entry))

    # --- actions -------------------------------------------------------------------
    def action_connect(self) -> None:
        self.push_screen(ConnectScreen(connect_facts(self.emulator)))

    def action_add_handset(self) -> None:
        def opened(handset: Handset | None) -> None:
            if handset is not None:
                self.call_after_refresh(self._go_to_new_phone, handset)

        self.push_screen(AddHandsetScreen(self.simulator.add_handset), opened)

    async def _go_to_new_phone(self, handset: Handset) -> None:
        if handset.msisdn not in self.phones:
            await self._add_phones([handset])
        await self.activate_phone(handset.msisdn)
        self.notify(f"{handset.name} ({handset.msisdn}) with {ksh(handset.balance_cents)}.", title="Handset added")

    def action_set_balance(self) -> None:
        phone = self.current_phone
        handset = self.simulator.handset(phone.msisdn) if phone else None
        if handset is None:
            return
        msisdn = handset.msisdn
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
                f"{handset.name} is off the network: pushes to it time out with 1037.", title="Offline",
            )

    async def action_next_prompt(self) -> None:
        """Go to the next phone (after the current one) with a prompt waiting."""
        order = list(self.phones)
        if not order:
            return
        current = self.current_phone
        start = order.index(current.msisdn) + 1 if current else 0
        for msisdn in order[start:] + order[:start]:
            if self.phones[msisdn].prompt_waiting:
                await self.activate_phone(msisdn)
                return
        self.notify("No prompt is waiting.", timeout=2)

    def action_focus_activity(self) -> None:
        self.activity.focus_entries()


def make_app(settings: Settings, *, clock: Clock | None = None, ids: IdGenerator | None = None) -> HandsetApp:
    """The one way to build the app: the CLI, every Pilot test and the screenshots use it."""
    return HandsetApp(Emulator(settings, clock=clock, ids=ids))


def run_tui(settings: Settings) -> int:
    """Run the phones in this terminal until the user quits; 2 when the port is taken."""
    app = make_app(settings)
    app.run()
    if app.port_error is not None:
        print(f"handset: {app.port_error}", file=sys.stderr)
        return 2
    return app.return_code or 0
