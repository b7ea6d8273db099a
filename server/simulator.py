"""The engine: handsets, merchants, transactions, ledger, prompt timers, tokens, events.

It is the only place where state changes. The Daraja views, the control API
and the Textual UI all call these methods; every rule (busy phone, wrong PIN,
insufficient funds, timeout) is written here once. Methods that change state
are synchronous, so on one event loop each runs to completion without
interleaving, and each writes to SQLite before it publishes its events.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from .answers import AnswerComparison, compare_answers
from .callbacks import render_callback
from .clock import Clock, SystemClock, TimerHandle
from .customer_texts import confirmation_sms, prompt_text
from .daraja.catalogue import (
    CANCELLED,
    INSUFFICIENT_FUNDS,
    MAX_PROMPT_CHARS,
    PHONE_BUSY,
    PIN_LOCKED,
    PROMPT_CODES,
    PUSH_FAILED,
    RULE_LIMITED,
    SUCCESS,
    TIMED_OUT,
    WRONG_PIN,
    WRONG_PINS_BEFORE_LOCK,
    result_desc,
)
from .delivery import Dispatcher
from .errors import Conflict, DuplicatePush, EngineError, InvalidInput, NotFound, PhoneBusy, StorageFailed
from .events import (
    CallbackPlanChanged,
    DuplicatePushFlagged,
    EventBus,
    HandsetChanged,
    PromptArrived,
    SmsReceived,
    StateReset,
    TransactionSettled,
    duplicate_words,
)
from .flows.b2c.flow import B2C, B2C_APIS
from .flows.balance.flow import AccountBalance
from .flows.c2b.flow import C2B
from .flows.initiator import InitiatorQueue
from .flows.menu import PhoneMenu
from .flows.reversal.flow import Reversal
from .flows.status.flow import TransactionStatus
from .ids import IdGenerator
from .ledger import HANDSET, MAX_BALANCE_CENTS, ORGANISATION_ACCOUNTS, RECEIVING, Ledger, Refusal, handset_account
from .models import (
    CALLBACK_DROPPED,
    CALLBACK_DUE,
    CALLBACK_FAILED,
    SETTLED,
    STK_CALLBACK,
    CallbackAttempt,
    Delivery,
    Handset,
    InitiatorRequest,
    Merchant,
    Message,
    Transaction,
    delivery_id,
)
from .rules import CallbackPlan, Decision, OutcomeRules, Unattended
from .settings import MSISDN_PATTERN, PIN_PATTERN, RUNTIME_SETTINGS, Settings
from .store import DuplicateId, Store

log = logging.getLogger(__name__)

MPESA_SENDER = "MPESA"
# What a payment the ledger refuses settles with, by the ledger's rule. STK has no daily-limit
# code of its own: "Rule limited." is the nearest of its codes (spec §4; an emulator choice).
STK_REFUSALS: dict[str, int | str] = {"insufficient": INSUFFICIENT_FUNDS, "daily_limit": RULE_LIMITED}

STORAGE_RETRY = 1.0  # seconds before a refused timeout settlement is tried again


@dataclass(frozen=True)
class PushOrder:
    """A validated STK Push, as the engine needs it."""

    shortcode: str
    transaction_type: str
    amount: int
    party_a: str
    party_b: str
    phone: str
    callback_url: str
    account_reference: str
    transaction_desc: str


class Simulator:
    """One emulator's whole state."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.settings = settings
        self.store = store if store is not None else Store(settings.db_path())
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.ids = ids if ids is not None else IdGenerator()
        self.bus = bus if bus is not None else EventBus()
        self.callbacks = Dispatcher(settings, self.store, self.bus, self.clock)
        self.ledger = Ledger(self.store)
        self.ledger.on_change = self._balance_changed
        self.c2b = C2B(self)
        self.menu = PhoneMenu(self)  # the phone's own M-PESA menu (Lipa na M-PESA, Check Balance)
        self.initiator = InitiatorQueue(self)
        self.b2c = B2C(self)
        for api in B2C_APIS:
            self.initiator.register(api, self.b2c)
        self.status = TransactionStatus(self)
        self.balance = AccountBalance(self)
        self.reversal = Reversal(self)
        self.initiator.register("status", self.status)
        self.initiator.register("balance", self.balance)
        self.initiator.register("reversal", self.reversal)
        self._handsets: dict[str, Handset] = {}
        self._merchants: dict[str, Merchant] = {}
        self._live: dict[str, Transaction] = {}
        self._live_by_msisdn: dict[str, str] = {}  # phone -> CheckoutRequestID of its live prompt
        self._reserved: dict[str, Transaction] = {}  # pushes waiting for their commit, by id
        # Fingerprint (phone, shortcode, amount, AccountReference) -> (CheckoutRequestID, when) of
        # the latest push accepted with it, oldest first: the double-submit check.
        self._recent_pushes: OrderedDict[tuple[str, str, int, str], tuple[str, float]] = OrderedDict()
        self._timers: dict[str, TimerHandle] = {}
        self._tokens: dict[str, float] = {}
        self._auto: dict[str, Any] = {}  # pending unattended answers, by CheckoutRequestID
        self.rules = OutcomeRules(settings.unattended)
        self._initial = settings.model_copy(deep=True)  # what a reset goes back to
        self._started = False

    # --- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        """Load state, settle prompts that expired while we were down, resume due callbacks."""
        await self.callbacks.start()
        if self.settings.fresh:
            self.store.wipe()
        self._load()
        self._started = True
        for due in self.store.due_deliveries():
            self.callbacks.deliver(due)

    async def stop(self) -> None:
        """Stop timers and deliveries; everything settled is already on disk."""
        self._cancel_timers()
        self.initiator.forget()
        await self.c2b.stop()
        await self.callbacks.stop()
        self.store.flush()
        self._started = False

    def _cancel_timers(self) -> None:
        for timer in [*self._timers.values(), *self._auto.values()]:
            timer.cancel()
        self._timers.clear()
        self._auto.clear()

    def _load(self) -> None:
        """Read the database into memory; an empty one gets the configured merchants and handsets."""
        now = self.clock.now()
        self.ledger.load()
        with self.store.atomic():
            # Merchants from the config win over stored ones (passkeys and names can change);
            # configured handsets missing from the database are added with their money.
            for config in self.settings.merchants:
                self.store.save_merchant(
                    Merchant(
                        config.shortcode,
                        config.passkey or "",  # "": no Lipa na M-PESA Online for this shortcode
                        config.name,
                        config.kind,
                        config.external_validation,
                    )
                )
                for kind in ORGANISATION_ACCOUNTS[config.kind]:
                    if not self.ledger.has((config.shortcode, kind)):
                        starting = round(config.balances.get(kind, 0) * 100)
                        self.ledger.open((config.shortcode, kind), starting, now)
            known = {h.msisdn for h in self.store.load_handsets()}
            for phone in self.settings.handsets:
                if phone.msisdn not in known:
                    self.store.save_handset(Handset(phone.msisdn, phone.name, phone.pin, 0))
                    self.ledger.open(handset_account(phone.msisdn), round(phone.balance * 100), now)
        self._merchants = {m.shortcode: m for m in self.store.load_merchants()}
        for merchant in self._merchants.values():
            merchant.balance_cents = self.ledger.balance((merchant.shortcode, RECEIVING[merchant.kind]))
            merchant.accounts = {
                kind: self.ledger.balance((merchant.shortcode, kind)) for kind in ORGANISATION_ACCOUNTS[merchant.kind]
            }
        self._handsets = {h.msisdn: h for h in self.store.load_handsets()}
        self._tokens = self.store.load_tokens(self.clock.now())
        self.c2b.load()
        self.initiator.load()
        self._recent_pushes.clear()
        for txn in self.store.pushes_since(self.clock.now() - self.settings.duplicate_window):
            key = (txn.msisdn, txn.shortcode, txn.amount, txn.account_reference)
            self._recent_pushes[key] = (txn.checkout_request_id, txn.created_at)
        self._live.clear()
        self._live_by_msisdn.clear()
        self._reserved.clear()
        now = self.clock.now()
        for txn in self.store.pending_transactions():
            if txn.expires_at <= now:
                self._settle(txn, TIMED_OUT)
            else:
                self._make_live(txn)

    def reset(self) -> None:
        """Back to the configured defaults: handsets, merchants, balances, runtime settings and
        outcome rules; history is wiped.

        Access tokens survive, so a merchant app under test does not have to log in again.
        """
        self._cancel_timers()
        self.callbacks.forget()
        self.c2b.forget()
        self.initiator.forget()
        restored = self._initial.model_copy(deep=True)
        for key in (*RUNTIME_SETTINGS, "unattended"):
            setattr(self.settings, key, getattr(restored, key))
        self.rules.replace(self.settings.unattended)
        self._live.clear()
        self._live_by_msisdn.clear()
        self._reserved.clear()
        self.store.wipe(keep_tokens=True)
        self._load()
        self.bus.publish(StateReset(at=self.clock.now()))

    # --- merchants, tokens ---------------------------------------------------
    def merchant(self, shortcode: str) -> Merchant | None:
        return self._merchants.get(shortcode)

    def merchants(self) -> list[Merchant]:
        return list(self._merchants.values())

    def credentials_accepted(self, key: str, secret: str) -> bool:
        """Whether a consumer key and secret may get a token."""
        if not key or not secret:
            return False
        if not self.settings.credentials:
            return True
        found = False
        for cred in self.settings.credentials:
            # Compare every pair in constant time so timing says nothing about near misses.
            found |= hmac.compare_digest(cred.key.encode(), key.encode()) & hmac.compare_digest(
                cred.secret.encode(), secret.encode()
            )
        return found

    def issue_token(self, consumer_key: str) -> tuple[str, int]:
        """A new access token and its lifetime in seconds."""
        lifetime = self.settings.token_lifetime
        expires_at = self.clock.now() + lifetime
        token = self.ids.access_token()
        while not self.store.save_token(token, consumer_key, expires_at):
            token = self.ids.access_token()
        self._tokens[token] = expires_at
        return token, lifetime

    def token_valid(self, token: str) -> bool:
        expires_at = self._tokens.get(token)
        if expires_at is None:
            return False
        if expires_at <= self.clock.now():
            del self._tokens[token]
            return False
        return True

    def revoke_tokens(self) -> None:
        self.store.delete_tokens()
        self._tokens.clear()

    # --- handsets --------------------------------------------------------------
    def handsets(self) -> list[Handset]:
        return list(self._handsets.values())

    def handset(self, msisdn: str) -> Handset | None:
        return self._handsets.get(msisdn)

    def add_handset(
        self, msisdn: str, name: str | None = None, pin: str | None = None, balance: float | None = None
    ) -> Handset:
        """Add a phone; raises Conflict if the number exists, InvalidInput if a value is wrong."""
        _check_msisdn(msisdn)
        if msisdn in self._handsets:
            raise Conflict(f"a handset with MSISDN {msisdn} already exists")
        handset = self._new_handset(msisdn, name, pin, balance)
        with self.store.atomic():
            self._save_new_handset(handset)
        self._register_handset(handset)
        return handset

    def provision(self, msisdn: str) -> Handset | None:
        """A phone for a number nobody configured, as ``unknown_msisdn`` says: a new one, or None."""
        if self.settings.unknown_msisdn != "provision":
            return None
        handset = self._new_handset(msisdn, None, None, None)

        def known() -> None:  # once on disk: with the balance the block left it (a payout may have come)
            handset.balance_cents = self.ledger.balance(handset_account(msisdn))
            self._register_handset(handset)

        if self.store.in_transaction():  # part of a bigger write (a B2C payout to a new number)
            self._save_new_handset(handset)
            self.store.after_commit(known)
            return handset
        with self.store.atomic():
            self._save_new_handset(handset)
        known()
        return handset

    def new_receipt(self, now: float) -> str:
        """A receipt no payment of any flow has yet (STK's own are checked by its UNIQUE column)."""
        receipt = self.ids.receipt(now)
        while self.store.receipt_taken(receipt):
            receipt = self.ids.receipt(now)
        return receipt

    def deliver_when_running(self, delivery: Delivery) -> None:
        """Send a delivery now that its commit landed (after a stop it stays due for the next start)."""
        if self._started:  # otherwise it stays due and the next start sends it
            self.callbacks.deliver(delivery)

    def announce_sms(self, message: Message) -> None:
        """An SMS landed (after its commit): the phone shows it, and its new balance."""
        self.bus.publish(SmsReceived(at=message.received_at, message=message))
        handset = self._handsets.get(message.msisdn)
        if handset is not None:
            self.bus.publish(HandsetChanged(at=message.received_at, handset=handset))

    def _save_new_handset(self, handset: Handset) -> None:
        """Store a new phone and open its M-PESA account with the money it starts with."""
        self.store.save_handset(handset)
        self.ledger.open(handset_account(handset.msisdn), handset.balance_cents, self.clock.now())

    def _balance_changed(self, account: tuple[str, str], cents: int) -> None:
        """The ledger committed a new balance: the phone or merchant in memory shows it."""
        owner, kind = account
        handset = self._handsets.get(owner) if kind == HANDSET else None
        if handset is not None:
            handset.balance_cents = cents
        merchant = self._merchants.get(owner)
        if merchant is not None and kind in merchant.accounts:
            merchant.accounts[kind] = cents
            if RECEIVING[merchant.kind] == kind:
                merchant.balance_cents = cents

    def _new_handset(self, msisdn: str, name: str | None, pin: str | None, balance: float | None) -> Handset:
        return Handset(
            msisdn=msisdn,
            name=_check_name(name) if name is not None else f"Customer {msisdn[-4:]}",
            pin=_check_pin(pin) if pin is not None else self.settings.default_pin,
            balance_cents=_check_balance(balance)
            if balance is not None
            else round(self.settings.default_balance * 100),
        )

    def _register_handset(self, handset: Handset) -> None:
        """Make a handset (already on disk) known and tell the world."""
        self._handsets[handset.msisdn] = handset
        self.bus.publish(HandsetChanged(at=self.clock.now(), handset=handset))

    def update_handset(
        self,
        msisdn: str,
        *,
        name: str | None = None,
        pin: str | None = None,
        balance: float | None = None,
        online: bool | None = None,
    ) -> Handset:
        handset = self._require_handset(msisdn)
        changed = replace(handset)
        if name is not None:
            changed.name = _check_name(name)
        if pin is not None:
            changed.pin = _check_pin(pin)
        cents = _check_balance(balance) if balance is not None else None
        if online is not None:
            if not isinstance(online, bool):
                raise InvalidInput("online must be true or false")
            changed.online = online
        with self.store.atomic():
            self.store.save_handset(changed)
            if cents is not None:
                self.ledger.set_balance(handset_account(msisdn), cents, self.clock.now())
        handset.name, handset.pin, handset.online = changed.name, changed.pin, changed.online
        self.bus.publish(HandsetChanged(at=self.clock.now(), handset=handset))
        return handset

    def unlock_pin(self, msisdn: str) -> Handset:
        """Clear a PIN lock (three wrong PINs in a row) so pushes reach the phone again."""
        handset = self._require_handset(msisdn)
        changed = replace(handset, pin_locked=False, wrong_pins=0)
        self.store.save_handset(changed)
        handset.pin_locked, handset.wrong_pins = False, 0
        self.bus.publish(HandsetChanged(at=self.clock.now(), handset=handset))
        return handset

    def inbox(self, msisdn: str, limit: int = 200) -> list[Message]:
        self._require_handset(msisdn)
        return self.store.inbox(msisdn, limit)

    def _require_handset(self, msisdn: str) -> Handset:
        handset = self._handsets.get(msisdn)
        if handset is None:
            raise NotFound(f"no handset with MSISDN {msisdn}")
        return handset

    # --- transactions ------------------------------------------------------------
    async def push(self, order: PushOrder) -> Transaction:
        """Accept an STK Push: the prompt goes live, or it settles at once (busy, undeliverable).

        Returns once the push is on disk (and its prompt live); raises StorageFailed,
        with the push forgotten, if the disk refused it.
        """
        txn, twin = self._accept(order)
        key = _fingerprint(order)
        self._recent_pushes[key] = (txn.checkout_request_id, txn.created_at)  # at once: a double click
        self._recent_pushes.move_to_end(key)  # is two pushes in one turn
        try:
            await self.store.durable()
        except StorageFailed:
            if self._recent_pushes.get(key, ("",))[0] == txn.checkout_request_id:
                del self._recent_pushes[key]
            raise
        if twin is not None:
            self.bus.publish(
                DuplicatePushFlagged(
                    at=txn.created_at,
                    transaction=txn,
                    original=twin[0],
                    seconds_ago=txn.created_at - twin[1],
                )
            )
        return txn

    def _earlier_twin(self, order: PushOrder, now: float) -> tuple[str, float] | None:
        """The latest push accepted like this one within duplicate_window, if any."""
        if self.settings.duplicate_push == "allow":
            return None
        recent = self._recent_pushes
        window = self.settings.duplicate_window
        while recent:  # forget what left the window (oldest first)
            oldest = next(iter(recent.values()))
            if now - oldest[1] < window:
                break
            recent.popitem(last=False)
        return recent.get(_fingerprint(order))

    def _accept(self, order: PushOrder) -> tuple[Transaction, tuple[str, float] | None]:
        merchant = self._merchants[order.shortcode]
        now = self.clock.now()
        handset = self._handsets.get(order.phone)
        # A number nobody configured gets a phone on its first push (unless it is "unreachable").
        new_phone = (
            self._new_handset(order.phone, None, None, None)
            if handset is None and self.settings.unknown_msisdn == "provision"
            else None
        )
        provisioned = new_phone is not None
        if new_phone is not None:
            handset = new_phone
        twin = self._earlier_twin(order, now)
        if twin is not None and self.settings.duplicate_push == "reject":
            raise DuplicatePush(
                f"{duplicate_words(twin[0], now - twin[1])}: the same PhoneNumber, BusinessShortCode, Amount "
                'and AccountReference (duplicate_push is "reject")'
            )
        busy = order.phone in self._live_by_msisdn
        if busy and self.settings.busy_phone == "error":
            raise PhoneBusy(f"{order.phone} already has a live prompt")
        txn = Transaction(
            checkout_request_id=self.ids.checkout_request_id(order.phone, now),
            merchant_request_id=self.ids.merchant_request_id(),
            msisdn=order.phone,
            shortcode=merchant.shortcode,
            merchant_name=merchant.name,
            transaction_type=order.transaction_type,
            amount=order.amount,
            party_a=order.party_a,
            party_b=order.party_b,
            account_reference=order.account_reference,
            transaction_desc=order.transaction_desc,
            callback_url=order.callback_url,
            prompt=prompt_text(order.amount, merchant.name, order.account_reference, order.transaction_type),
            created_at=now,
            expires_at=now + self.settings.prompt_timeout,
        )
        if twin is not None:
            txn.duplicate_of = twin[0]
        decision = self.rules.decide(order.phone, order.amount)
        if decision.callback is not None:
            txn.callback_plan = decision.callback.model_dump_json()
        if new_phone is not None and (busy or len(txn.prompt) > MAX_PROMPT_CHARS):
            with self.store.atomic():
                self._save_new_handset(new_phone)
            self._register_handset(new_phone)
        if busy:
            self._settle(txn, PHONE_BUSY, insert=True)
        elif handset is not None and handset.pin_locked:
            self._settle(txn, PIN_LOCKED, insert=True)
        elif len(txn.prompt) > MAX_PROMPT_CHARS:
            self._settle(txn, PUSH_FAILED, insert=True)
        else:
            # One commit for the new phone (if any) and its transaction, shared with the other
            # pushes of this loop turn (see store.atomic).
            while True:
                try:
                    with self.store.atomic(group=True):
                        if new_phone is not None:
                            self._save_new_handset(new_phone)
                        self.store.insert_transaction(txn)
                    break
                except DuplicateId as taken:
                    self._replace_id(txn, taken.column)
            # Reserved until the commit lands: the phone counts as busy at once, but nobody
            # sees the prompt (nor can answer it) before it is on disk.
            self._reserved[txn.checkout_request_id] = txn
            self._live_by_msisdn[txn.msisdn] = txn.checkout_request_id
            if new_phone is not None:
                self._handsets[new_phone.msisdn] = new_phone
            # A callback, not code after an await: it runs even if the request is abandoned.
            self.store.durable().add_done_callback(
                lambda committed: self._push_committed(txn, decision, provisioned, committed)
            )
        return txn, twin

    def _push_committed(
        self,
        txn: Transaction,
        decision: Decision,
        provisioned: bool,
        committed: asyncio.Future[None],
    ) -> None:
        """The push's commit landed (the prompt goes live) or was refused (the push is forgotten)."""
        checkout = txn.checkout_request_id
        if self._reserved.pop(checkout, None) is None or not self._started:
            return  # a reset or a stop came first; a stored prompt is loaded again at the next start
        failed = committed.exception() if not committed.cancelled() else None
        if committed.cancelled() or failed is not None:
            if self._live_by_msisdn.get(txn.msisdn) == checkout:
                del self._live_by_msisdn[txn.msisdn]
            if provisioned and not self.store.has_handset(txn.msisdn):
                self._handsets.pop(txn.msisdn, None)
            log.error("push %s to %s was not stored: %s", checkout, txn.msisdn, failed)
            return
        handset = self._handsets.get(txn.msisdn)
        if provisioned and handset is not None:
            self._register_handset(handset)
        self._make_live(txn)
        self.bus.publish(PromptArrived(at=txn.created_at, transaction=txn))
        self._schedule_answer(txn, decision)

    # --- unattended answers ----------------------------------------------------
    def _schedule_answer(self, txn: Transaction, decision: Decision) -> None:
        """Answer the prompt as the rules say, after the think time (a person answers if "human")."""
        if decision.outcome in ("human", "timeout"):
            return  # a person answers, or nobody does and the prompt timer settles 1037
        checkout = txn.checkout_request_id

        def answer() -> None:
            self._auto.pop(checkout, None)
            self._answer(checkout, decision.outcome)

        if decision.think_time > 0:
            self._auto[checkout] = self.clock.call_at(self.clock.now() + decision.think_time, answer)
        else:
            # Never inside push(): the merchant gets its acknowledgement before any callback.
            self._auto[checkout] = asyncio.get_running_loop().call_soon(answer)

    def _answer(self, checkout_request_id: str, outcome: str | int) -> None:
        txn = self._live.get(checkout_request_id)
        handset = self._handsets.get(txn.msisdn) if txn else None
        if txn is None or handset is None or not handset.online:
            return  # already settled, or the phone cannot answer: the prompt times out
        try:
            if outcome in ("approve", 0):
                self.enter_pin(checkout_request_id, handset.pin)
            elif outcome == "wrong_pin":
                self.enter_pin(checkout_request_id, "0000" if handset.pin != "0000" else "1111")
            elif outcome == "cancel":
                self.cancel(checkout_request_id)
            else:
                self.settle_with(checkout_request_id, outcome)
        except EngineError as exc:
            log.warning("unattended answer to %s failed: %s", checkout_request_id, exc)

    def set_unattended(self, config: Unattended) -> Unattended:
        """Replace the outcome rules at runtime (new prompts follow them)."""
        self.settings.unattended = config
        self.rules.replace(config)
        return config

    # --- callback plans and the inspector ----------------------------------------
    def set_callback_plan(self, checkout_request_id: str, plan: CallbackPlan) -> Transaction:
        """Choose how this transaction's callback goes out; only while its prompt is live."""
        txn = self._require_live(checkout_request_id)
        txn.callback_plan = plan.model_dump_json()
        self.store.set_callback_plan(checkout_request_id, txn.callback_plan)
        self.bus.publish(CallbackPlanChanged(at=self.clock.now(), transaction=txn))
        return txn

    # --- deliveries: the inspector's view of everything sent to merchants ----------
    def delivery(self, delivery_id: str) -> Delivery | None:
        return self.store.delivery(delivery_id)

    def deliveries(
        self,
        channel: str | None = None,
        state: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[Delivery]:
        return self.store.deliveries(channel, state, limit, offset)

    def initiator_requests(self, api: str | None = None, limit: int = 100, offset: int = 0) -> list[InitiatorRequest]:
        """B2C, Transaction Status, Account Balance and Reversal requests, newest first."""
        return self.store.initiator_requests(api=api, limit=limit, offset=offset)

    def delivery_attempts(self, delivery_id: str) -> list[CallbackAttempt]:
        return self.store.attempts(delivery_id)

    def _require_delivery(self, delivery_id: str) -> Delivery:
        found = self.store.delivery(delivery_id)
        if found is None:
            raise NotFound(f"no delivery {delivery_id}")
        return found

    async def resend(self, delivery_id: str, url: str | None = None) -> CallbackAttempt:
        """Send a delivery again, the same bytes; a failed or dropped one counts as delivered if this works."""
        found = self._require_delivery(delivery_id)
        target = _check_url(url) if url is not None else found.url
        return await self.callbacks.send_now(
            found.id,
            target,
            found.body,
            "resend",
            mark_delivered=found.state in (CALLBACK_FAILED, CALLBACK_DROPPED),
        )

    async def send_edited(self, delivery_id: str, body: str, url: str | None = None) -> CallbackAttempt:
        """Send a tampered body in a delivery's name, to test the merchant's checks."""
        found = self._require_delivery(delivery_id)
        target = _check_url(url) if url is not None else found.url
        return await self.callbacks.send_now(found.id, target, body, "edited")

    async def resend_callback(self, checkout_request_id: str, url: str | None = None) -> CallbackAttempt:
        """Send an STK callback again, exactly as first sent: a settled transaction's, or a forged one's."""
        if self.transaction(checkout_request_id) is not None:
            self._require_settled(checkout_request_id)
        elif self.store.delivery(delivery_id(STK_CALLBACK, checkout_request_id)) is None:
            raise NotFound(f"no transaction or callback with CheckoutRequestID {checkout_request_id}")
        return await self.resend(delivery_id(STK_CALLBACK, checkout_request_id), url)

    async def send_edited_callback(
        self, checkout_request_id: str, body: str, url: str | None = None
    ) -> CallbackAttempt:
        """Send a tampered STK callback for a transaction (even a pending one) or a forged callback."""
        key = delivery_id(STK_CALLBACK, checkout_request_id)
        found = self.store.delivery(key)
        if found is not None:
            return await self.send_edited(key, body, url)
        txn = self.transaction(checkout_request_id)
        if txn is None:
            raise NotFound(f"no transaction or callback with CheckoutRequestID {checkout_request_id}")
        target = _check_url(url) if url is not None else txn.callback_url
        return await self.callbacks.send_now(key, target, body, "edited")

    async def forge_callback(
        self,
        url: str,
        result_code: object = 0,
        amount: object = 1,
        msisdn: object = "254708374149",
    ) -> CallbackAttempt:
        """Send a well-formed callback for a CheckoutRequestID that never existed.

        The values are checked here (a person may have typed them): InvalidInput says which is wrong.
        """
        _check_url(url)
        if result_code not in PROMPT_CODES:
            raise InvalidInput(f"result_code must be one of {', '.join(str(c) for c in PROMPT_CODES)}")
        msisdn = _check_msisdn(msisdn)
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= 250_000:
            raise InvalidInput("amount must be a whole number from 1 to 250000")
        now = self.clock.now()
        fake = Transaction(
            checkout_request_id=self.ids.checkout_request_id(msisdn, now),
            merchant_request_id=self.ids.merchant_request_id(),
            msisdn=msisdn,
            shortcode="",
            merchant_name="",
            transaction_type="",
            amount=amount,
            party_a=msisdn,
            party_b="",
            account_reference="",
            transaction_desc="",
            callback_url=url,
            prompt="",
            created_at=now,
            expires_at=now,
            status=SETTLED,
            result_code=str(result_code),
            result_desc=result_desc(result_code, self.settings.result_desc_style),
            receipt=self.ids.receipt(now) if result_code == SUCCESS else None,
            settled_at=now,
        )
        # Kept as a delivery (failed until the merchant takes it), so it can be resent and edited.
        forged = Delivery(
            delivery_id(STK_CALLBACK, fake.checkout_request_id),
            url,
            render_callback(fake),
            CALLBACK_FAILED,
            created_at=now,
        )
        self.store.save_delivery(forged)
        return await self.callbacks.send_now(forged.id, url, forged.body, "forged", mark_delivered=True)

    def callback_log(self, limit: int = 200, offset: int = 0) -> list[CallbackAttempt]:
        return self.store.recent_attempts(limit, offset)

    def differing_answers(self, limit: int = 200) -> list[tuple[str, AnswerComparison]]:
        """Deliveries whose copies the merchant answered differently, most recent first."""
        found = []
        for key in self.store.repeated_deliveries(limit):
            comparison = compare_answers(self.store.attempts(key))
            if comparison.differ:
                found.append((key, comparison))
        return found

    def _require_settled(self, checkout_request_id: str) -> Transaction:
        txn = self.transaction(checkout_request_id)
        if txn is None:
            raise NotFound(f"no transaction with CheckoutRequestID {checkout_request_id}")
        if txn.pending:
            raise Conflict(f"transaction {checkout_request_id} is still pending: it has no callback yet")
        return txn

    # --- runtime settings ------------------------------------------------------
    def update_settings(self, changes: dict[str, Any]) -> Settings:
        """Change settings that take effect at once; all or nothing."""
        unknown = sorted(set(changes) - set(RUNTIME_SETTINGS))
        if unknown:
            raise InvalidInput(
                f"cannot change {', '.join(unknown)} at runtime; changeable: {', '.join(RUNTIME_SETTINGS)}"
            )
        try:
            checked = Settings.model_validate({**self.settings.model_dump(), **changes})
        except ValidationError as exc:
            raise InvalidInput(
                "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            ) from None
        for key in changes:
            setattr(self.settings, key, getattr(checked, key))
        return self.settings

    def _make_live(self, txn: Transaction) -> None:
        self._live[txn.checkout_request_id] = txn
        self._live_by_msisdn[txn.msisdn] = txn.checkout_request_id
        handset = self._handsets.get(txn.msisdn)
        if handset is not None:
            handset.live_prompt = txn.checkout_request_id
        checkout = txn.checkout_request_id
        self._timers[checkout] = self.clock.call_at(txn.expires_at, lambda: self._expire(checkout))

    def _expire(self, checkout_request_id: str) -> None:
        self._timers.pop(checkout_request_id, None)
        txn = self._live.get(checkout_request_id)
        if txn is None:
            return
        try:
            self._settle(txn, TIMED_OUT)
        except StorageFailed as exc:
            # Still live in memory and on disk; try again shortly rather than lose the timeout.
            log.error("prompt %s timed out but could not be settled: %s", checkout_request_id, exc)
            self._timers[checkout_request_id] = self.clock.call_at(
                self.clock.now() + STORAGE_RETRY, lambda: self._expire(checkout_request_id)
            )

    def live_prompt(self, msisdn: str) -> Transaction | None:
        handset = self._handsets.get(msisdn)
        if handset is None or handset.live_prompt is None:
            return None
        return self._live.get(handset.live_prompt)

    def live_transactions(self) -> list[Transaction]:
        return list(self._live.values())

    def enter_pin(self, checkout_request_id: str, pin: str) -> Transaction:
        """The customer typed a PIN and pressed OK."""
        txn = self._require_live(checkout_request_id)
        handset = self._require_answerable(txn)
        if not isinstance(pin, str) or not hmac.compare_digest(pin.encode(), handset.pin.encode()):
            wrong = handset.wrong_pins + 1
            return self._settle(
                txn,
                WRONG_PIN,
                handset_change={
                    "wrong_pins": wrong,
                    "pin_locked": wrong >= WRONG_PINS_BEFORE_LOCK,
                },
            )
        reset = {"wrong_pins": 0} if handset.wrong_pins else None
        refusal = self._payment_refusal(txn)
        if refusal is not None:
            return self._settle(txn, STK_REFUSALS.get(refusal.rule, RULE_LIMITED), handset_change=reset)
        return self._settle(txn, SUCCESS, handset_change=reset)

    def _payment_refusal(self, txn: Transaction) -> Refusal | None:
        """Why the ledger would not let this prompt's payment through, if it would not."""
        merchant = self._merchants[txn.shortcode]
        return self.ledger.refusal(
            handset_account(txn.msisdn),
            (merchant.shortcode, RECEIVING[merchant.kind]),
            txn.amount * 100,
            self.clock.now(),
        )

    def cancel(self, checkout_request_id: str) -> Transaction:
        """The customer pressed Cancel."""
        txn = self._require_live(checkout_request_id)
        self._require_answerable(txn)
        return self._settle(txn, CANCELLED)

    def time_out(self, checkout_request_id: str) -> Transaction:
        """Settle now as if the prompt had timed out (1037)."""
        return self._settle(self._require_live(checkout_request_id), TIMED_OUT)

    def settle_with(self, checkout_request_id: str, code: int | str) -> Transaction:
        """Settle a live prompt with any result code of spec §4 (no money moves unless 0)."""
        if code not in PROMPT_CODES:
            raise InvalidInput(f"result code must be one of {', '.join(str(c) for c in PROMPT_CODES)}, got {code!r}")
        txn = self._require_live(checkout_request_id)
        if code == SUCCESS:
            self._require_answerable(txn)
            refusal = self._payment_refusal(txn)
            if refusal is not None:
                raise Conflict(f"the payment cannot go through: {refusal.words}")
        return self._settle(txn, code)

    def transaction(self, checkout_request_id: str) -> Transaction | None:
        live = self._live.get(checkout_request_id)
        return live if live is not None else self.store.transaction(checkout_request_id)

    def transaction_with_attempts(self, checkout_request_id: str) -> Transaction | None:
        txn = self.transaction(checkout_request_id)
        if txn is not None:
            txn = replace(txn, attempts=self.store.attempts(delivery_id(STK_CALLBACK, checkout_request_id)))
        return txn

    def transactions(
        self,
        msisdn: str | None = None,
        status: str | None = None,
        result_code: str | None = None,
        limit: int = 100,
        offset: int = 0,
        duplicate: bool | None = None,
    ) -> list[Transaction]:
        return self.store.transactions(msisdn, status, result_code, limit, offset, duplicate)

    def _require_live(self, checkout_request_id: str) -> Transaction:
        txn = self._live.get(checkout_request_id)
        if txn is not None:
            return txn
        if checkout_request_id in self._reserved:
            raise Conflict(f"transaction {checkout_request_id} is still being stored; try again in a moment")
        stored = self.store.transaction(checkout_request_id)
        if stored is None:
            raise NotFound(f"no transaction with CheckoutRequestID {checkout_request_id}")
        raise Conflict(
            f"transaction {checkout_request_id} is already settled with ResultCode {stored.result_code} "
            f"({stored.result_desc})"
        )

    def _require_answerable(self, txn: Transaction) -> Handset:
        handset = self._handsets.get(txn.msisdn)
        if handset is None:
            raise Conflict(f"{txn.msisdn} is unreachable: the prompt can only time out")
        if not handset.online:
            raise Conflict(f"{txn.msisdn} is offline: the prompt never reached it and can only time out")
        return handset

    def _replace_id(self, txn: Transaction, column: str) -> None:
        """Give ``txn`` a fresh id where the store found the old one taken.

        The generators make collisions rare; the store's UNIQUE constraints make
        them impossible, so an id is unique forever without a look-up per push.
        """
        if column == "checkout_request_id":
            txn.checkout_request_id = self.ids.checkout_request_id(txn.msisdn, self.clock.now())
        elif column == "merchant_request_id":
            txn.merchant_request_id = self.ids.merchant_request_id()
        elif column == "receipt":
            txn.receipt = self.ids.receipt(txn.settled_at or self.clock.now())
        else:
            raise RuntimeError(f"unexpected unique column {column}")

    def _settle(
        self,
        txn: Transaction,
        code: int | str,
        insert: bool = False,
        handset_change: dict[str, Any] | None = None,
    ) -> Transaction:
        """Give ``txn`` its one ResultCode, move money on success, queue the callback as planned."""
        now = self.clock.now()
        handset = self._handsets.get(txn.msisdn)
        merchant = self._merchants.get(txn.shortcode)
        settled = replace(
            txn,
            status=SETTLED,
            result_code=str(code),
            result_desc=result_desc(code, self.settings.result_desc_style),
            settled_at=now,
            callback_state=CALLBACK_DUE,
        )
        plan = CallbackPlan.model_validate_json(txn.callback_plan) if txn.callback_plan else self.settings.callback_plan
        settled.callback_plan = plan.model_dump_json()
        if plan.mode == "drop":
            settled.callback_state = CALLBACK_DROPPED
        elif plan.mode == "delay":
            settled.callback_due_at = now + plan.seconds
        elif plan.mode == "late":
            settled.callback_due_at = now + self.settings.late_callback_delay
        new_handset = replace(handset, **handset_change) if handset is not None and handset_change else None
        if code == SUCCESS:
            assert handset is not None and merchant is not None
            settled.receipt = self.ids.receipt(now)
            settled.balance_after_cents = handset.balance_cents - txn.amount * 100
        while True:
            settled.callback_body = render_callback(settled)
            callback = Delivery(
                delivery_id(STK_CALLBACK, settled.checkout_request_id),
                settled.callback_url,
                settled.callback_body,
                settled.callback_state,
                settled.callback_plan,
                settled.callback_due_at,
                now,
            )
            try:
                message = self._write_settlement(
                    settled,
                    insert,
                    new_handset,
                    merchant if code == SUCCESS else None,
                    callback,
                    now,
                )
                break
            except DuplicateId as taken:
                self._replace_id(settled, taken.column)
        self._apply_settlement(txn, settled, handset, new_handset, now, message, callback)
        return txn

    def _write_settlement(
        self,
        settled: Transaction,
        insert: bool,
        new_handset: Handset | None,
        paid_to: Merchant | None,
        callback: Delivery,
        now: float,
    ) -> Message | None:
        """One commit: the transaction, the payment, the SMS and the callback owed, or nothing at all."""
        message = None
        txn = settled
        with self.store.atomic():
            if insert:
                self.store.insert_transaction(settled)
            else:
                self.store.update_transaction(settled)
            self.store.save_delivery(callback)
            if new_handset is not None:
                self.store.save_handset(new_handset)
            if paid_to is not None:
                credit = (paid_to.shortcode, RECEIVING[paid_to.kind])
                self.ledger.pay(handset_account(txn.msisdn), credit, txn.amount * 100, now, settled.receipt, "stk push")
                handset = self._handsets.get(txn.msisdn)
                confirmation = self.c2b.stk_confirmation(
                    settled,
                    paid_to,
                    handset.name if handset else "",
                    self.ledger.current(credit),
                )
                if confirmation is not None:
                    self.store.save_delivery(confirmation)
                    self.store.after_commit(lambda: self.deliver_when_running(confirmation))
                message = self.store.add_message(
                    txn.msisdn,
                    MPESA_SENDER,
                    confirmation_sms(
                        settled.receipt or "",
                        txn.amount,
                        txn.merchant_name,
                        txn.account_reference,
                        txn.transaction_type,
                        now,
                        settled.balance_after_cents or 0,
                        self.ledger.remaining_today(txn.msisdn, now),
                    ),
                    now,
                )
        return message

    def _apply_settlement(
        self,
        txn: Transaction,
        settled: Transaction,
        handset: Handset | None,
        new_handset: Handset | None,
        now: float,
        message: Message | None,
        callback: Delivery,
    ) -> None:
        """After the commit: memory follows the database and the world hears of it (the
        balances already did, through the ledger)."""
        txn.__dict__.update(settled.__dict__)
        if new_handset is not None and handset is not None:
            handset.wrong_pins, handset.pin_locked = new_handset.wrong_pins, new_handset.pin_locked
        self._live.pop(txn.checkout_request_id, None)
        auto = self._auto.pop(txn.checkout_request_id, None)
        if auto is not None:
            auto.cancel()
        if self._live_by_msisdn.get(txn.msisdn) == txn.checkout_request_id:
            del self._live_by_msisdn[txn.msisdn]
        timer = self._timers.pop(txn.checkout_request_id, None)
        if timer is not None:
            timer.cancel()
        if handset is not None and handset.live_prompt == txn.checkout_request_id:
            handset.live_prompt = None
        self.bus.publish(TransactionSettled(at=now, transaction=txn))
        if message is not None:
            self.bus.publish(SmsReceived(at=now, message=message))
        if handset is not None:
            self.bus.publish(HandsetChanged(at=now, handset=handset))
        if self._started:
            self.callbacks.deliver(callback)

    # --- ledger -----------------------------------------------------------------
    def total_money_cents(self) -> int:
        """Every account's money together (phones and organisations); payments never change it."""
        return self.ledger.in_circulation()


def _fingerprint(order: PushOrder) -> tuple[str, str, int, str]:
    """What makes two pushes look like one payment submitted twice."""
    return order.phone, order.shortcode, order.amount, order.account_reference


def _check_url(url: object) -> str:
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        raise InvalidInput("url must be an absolute http(s) URL")
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:
        ok = False
    if not ok:
        raise InvalidInput(f"url must be an absolute http(s) URL, got {url!r}")
    return url


def _check_msisdn(msisdn: object) -> str:
    if not isinstance(msisdn, str) or not MSISDN_PATTERN.fullmatch(msisdn):
        raise InvalidInput("msisdn must look like 2547XXXXXXXX or 2541XXXXXXXX (12 digits)")
    return msisdn


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 40:
        raise InvalidInput("name must be a non-empty string of at most 40 characters")
    return name.strip()


def _check_pin(pin: object) -> str:
    if not isinstance(pin, str) or not PIN_PATTERN.fullmatch(pin):
        raise InvalidInput("pin must be a string of 4 digits")
    return pin


def _check_balance(balance: object) -> int:
    if isinstance(balance, bool) or not isinstance(balance, (int, float)) or not math.isfinite(balance):
        raise InvalidInput("balance must be a number of KES")
    if not 0 <= balance <= MAX_BALANCE_CENTS / 100:
        raise InvalidInput("balance must be between 0 and 500000 KES")
    cents = round(balance * 100)
    if not 0 <= cents <= MAX_BALANCE_CENTS:
        raise InvalidInput("balance must be between 0 and 500000 KES")
    return cents
