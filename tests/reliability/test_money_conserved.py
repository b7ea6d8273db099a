"""Money is conserved over long random sequences of operations (hypothesis stateful testing).

The state machine drives the real engine (Simulator) with a ManualClock on its own event
loop, with callbacks delivered to a real receiver, and restarts it on the same SQLite
file through the real Store. Invariants after every step:

- the sum of all handset and merchant balances equals the expected total (which only
  moves when a test changes a balance or adds a phone), in memory and on disk alike;
- each merchant holds exactly the sum of its successful payments;
- each phone has at most one live prompt, and the live prompts are the pending rows;
- each transaction is settled exactly once and its result never changes afterwards.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from server.clock import ManualClock
from server.daraja import catalogue
from server.daraja.catalogue import BUY_GOODS, PAYBILL
from server.events import TransactionSettled
from server.flows.checks import WireError
from server.ids import IdGenerator
from server.models import SETTLED
from server.settings import HandsetConfig, MerchantConfig, Settings
from server.simulator import Conflict, InvalidInput, NotFound, PushOrder, Simulator
from server.store import Store
from tests.receiver import CallbackReceiver

PAYBILL_CODE, TILL_CODE = "174379", "600100"
CONFIGURED = ["254708374149", "254712345678", "254722000111"]
NEW_PHONES = ["254733000001", "254733000002", "254111000003"]
PHONES = CONFIGURED + NEW_PHONES
PINS = {"254708374149": "1234", "254712345678": "4321", "254722000111": "0000"}
# The codes a prompt may be settled with by hand (spec §4).
SETTLE_CODES = sorted(getattr(catalogue, "PROMPT_CODES", catalogue.RESULT_DESCRIPTIONS), key=str)
PIN_LOCKED = str(getattr(catalogue, "PIN_LOCKED", "none"))


class MoneyMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="money-"))
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock()
        self.settings = Settings(
            port=0,
            db=self.dir / "handset.db",
            prompt_timeout=60,
            callback_timeout=2,
            sandbox_organisations="replace",  # only these two: the total is the handsets' money
            result_delay=0,  # B2C Results on the next loop turn: the clock is the prompts' alone
            merchants=[
                MerchantConfig(shortcode=PAYBILL_CODE, passkey="pk-paybill", name="Daraja-Sandbox"),
                MerchantConfig(shortcode=TILL_CODE, passkey="pk-till", name="Corner Shop", kind="till"),
            ],
            handsets=[
                HandsetConfig(msisdn="254708374149", name="Wanjiku", pin="1234", balance=10_000),
                HandsetConfig(msisdn="254712345678", name="Otieno", pin="4321", balance=250.50),
                HandsetConfig(msisdn="254722000111", name="Achieng", pin="0000", balance=0),
            ],
        )
        self.receiver = CallbackReceiver()
        self.run(self.receiver.start())
        self.generation = 0
        self.sim = self._boot()
        self.expected_total = sum(round(h.balance * 100) for h in self.settings.handsets)
        self.pins = dict(PINS)
        self.settled_count: Counter[str] = Counter()
        self.results: dict[str, tuple[str | None, str | None, int]] = {}  # id -> (result, receipt, amount)
        self.paid: Counter[str] = Counter()  # shortcode -> cents
        self.interrupted_restarts = 0

    # --- plumbing ------------------------------------------------------------
    def run(self, coro) -> Any:
        return self.loop.run_until_complete(coro)

    def call(self, fn, *args, **kwargs) -> Any:
        """Run an engine method inside the loop (settling starts callback tasks)."""

        async def inside() -> Any:
            return fn(*args, **kwargs)

        return self.run(inside())

    def _boot(self) -> Simulator:
        self.generation += 1
        sim = Simulator(
            self.settings,
            store=Store.open(self.settings.db_path()),
            clock=self.clock,
            ids=IdGenerator(seed=self.generation),
        )
        sim.bus.subscribe(self._on_event)
        self.run(sim.start())
        return sim

    def _on_event(self, event: Any) -> None:
        if isinstance(event, TransactionSettled):
            self.settled_count[event.transaction.checkout_request_id] += 1

    def _record(self, txn) -> None:
        assert txn.status == SETTLED
        self.results[txn.checkout_request_id] = (txn.result_code, txn.receipt, txn.amount)
        if txn.result_code == "0":
            self.paid[txn.shortcode] += txn.amount * 100

    def _live(self) -> list:
        return sorted(self.sim.live_transactions(), key=lambda t: t.checkout_request_id)

    def teardown(self) -> None:
        try:
            self.run(self.sim.callbacks.wait_idle(10))
            # Every settled transaction's callback reached the merchant exactly once.
            delivered = Counter(
                c.json["Body"]["stkCallback"]["CheckoutRequestID"] for c in self.receiver.received if "Body" in c.json
            )
            assert set(delivered) == set(self.results), "a settled transaction's callback never arrived"
            if self.interrupted_restarts == 0:
                assert set(delivered.values()) <= {1}, "a callback was sent twice"
            else:
                # A stop interrupts callbacks in flight; they stay due and go again at the next start.
                assert max(delivered.values(), default=0) <= 1 + self.interrupted_restarts
        finally:
            self.run(self.sim.stop())
            self.sim.store.close()
            self.run(self.receiver.stop())
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- rules ---------------------------------------------------------------
    @rule(phone=st.sampled_from(PHONES), amount=st.integers(1, 6_000), till=st.booleans())
    def push(self, phone: str, amount: int, till: bool) -> None:
        handset = self.sim.handset(phone)
        known = handset is not None
        busy = self.sim.live_prompt(phone) is not None
        locked = known and getattr(handset, "pin_locked", False)
        order = PushOrder(
            shortcode=TILL_CODE if till else PAYBILL_CODE,
            transaction_type=BUY_GOODS if till else PAYBILL,
            amount=amount,
            party_a=phone,
            party_b=TILL_CODE if till else PAYBILL_CODE,
            phone=phone,
            callback_url=self.receiver.url,
            account_reference="ACC",
            transaction_desc="Pay",
        )
        txn = self.run(self.sim.push(order))
        if not known:  # an unknown number gets a new phone with the default balance
            self.expected_total += round(self.settings.default_balance * 100)
            self.pins[phone] = self.settings.default_pin
        if busy:
            assert (txn.status, txn.result_code) == (SETTLED, "1001")
            self._record(txn)
        elif locked:  # three wrong PINs in a row lock the phone: pushes settle at once
            assert (txn.status, txn.result_code) == (SETTLED, PIN_LOCKED)
            self._record(txn)
        else:
            assert txn.pending and self.sim.live_prompt(phone) is txn

    @rule(phone=st.sampled_from(PHONES), amount=st.integers(1, 6_000), till=st.booleans())
    def c2b_payment(self, phone: str, amount: int, till: bool) -> None:
        """A customer pays a paybill or till outside STK (simulate, or the phone's menu)."""
        known = self.sim.handset(phone) is not None
        before = self.sim.handset(phone).balance_cents if known else None
        shortcode = TILL_CODE if till else PAYBILL_CODE
        payment = self.run(self.sim.c2b.pay(phone, shortcode, amount, "ACC"))
        if not known:  # a new number gets a phone with the default balance
            self.expected_total += round(self.settings.default_balance * 100)
            self.pins[phone] = self.settings.default_pin
            before = round(self.settings.default_balance * 100)
        assert before is not None
        if payment.status == "completed":
            self.paid[shortcode] += amount * 100
            assert self.sim.handset(phone).balance_cents == before - amount * 100
        else:
            assert payment.status == "failed" and before < amount * 100, payment
            assert self.sim.handset(phone).balance_cents == before

    @rule(phone=st.sampled_from(PHONES), amount=st.integers(1, 3_000))
    def b2c_payout(self, phone: str, amount: int) -> None:
        """The paybill pays a customer back from what it received (B2C), its Result a little later."""
        known = self.sim.handset(phone) is not None
        utility = self.sim.ledger.balance((PAYBILL_CODE, "utility"))
        before = self.sim.handset(phone).balance_cents if known else round(self.settings.default_balance * 100)
        payload = {
            "OriginatorConversationID": f"payout-{self.generation}-{len(self.results)}-{amount}-{phone}-{utility}",
            "InitiatorName": "testapi",
            "SecurityCredential": "c2VjcmV0",
            "CommandID": "BusinessPayment",
            "Amount": amount,
            "PartyA": PAYBILL_CODE,
            "PartyB": phone,
            "Remarks": "refund",
            "QueueTimeOutURL": self.receiver.url,
            "ResultURL": self.receiver.url,
        }
        try:
            self.call(self.sim.b2c.accept, payload, version=3, pochi=False)
        except WireError:  # the same OriginatorConversationID twice: refused, nothing moves
            return
        self.run(asyncio.sleep(0))  # result_delay 0: the Result is worked out on the next loop turn
        handset = self.sim.handset(phone)
        if not known and handset is not None:  # the payout gave a new number a phone, with money on it
            self.expected_total += round(self.settings.default_balance * 100)
            self.pins[phone] = self.settings.default_pin
        paid = amount >= 10 and utility >= amount * 100 and before + amount * 100 <= 50_000_000
        after = handset.balance_cents if handset is not None else before
        if paid:
            self.paid[PAYBILL_CODE] -= amount * 100
            assert after == before + amount * 100
        else:
            assert after == before

    @precondition(lambda self: self.sim.live_transactions())
    @rule(data=st.data(), right=st.booleans())
    def enter_pin(self, data: st.DataObject, right: bool) -> None:
        txn = data.draw(st.sampled_from(self._live()))
        handset = self.sim.handset(txn.msisdn)
        pin = self.pins[txn.msisdn] if right else ("1111" if self.pins[txn.msisdn] != "1111" else "2222")
        balance = handset.balance_cents
        try:
            settled = self.call(self.sim.enter_pin, txn.checkout_request_id, pin)
        except Conflict:
            assert not handset.online, "only an offline phone refuses a PIN"
            return
        assert handset.online
        self._record(settled)
        code = settled.result_code
        if not right:
            assert code == "2001"
        elif txn.amount * 100 > balance:
            assert code == "1"
        else:
            assert code == "0"
        assert handset.balance_cents == balance - (txn.amount * 100 if code == "0" else 0)

    @precondition(lambda self: self.sim.live_transactions())
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        txn = data.draw(st.sampled_from(self._live()))
        try:
            self._record(self.call(self.sim.cancel, txn.checkout_request_id))
        except Conflict:
            assert not self.sim.handset(txn.msisdn).online

    @precondition(lambda self: self.sim.live_transactions())
    @rule(data=st.data())
    def time_out(self, data: st.DataObject) -> None:
        txn = data.draw(st.sampled_from(self._live()))
        settled = self.call(self.sim.time_out, txn.checkout_request_id)
        assert settled.result_code == "1037"
        self._record(settled)

    @precondition(lambda self: self.sim.live_transactions())
    @rule(data=st.data(), code=st.sampled_from(SETTLE_CODES))
    def settle_with(self, data: st.DataObject, code: int | str) -> None:
        txn = data.draw(st.sampled_from(self._live()))
        try:
            settled = self.call(self.sim.settle_with, txn.checkout_request_id, code)
        except (Conflict, InvalidInput):
            return
        assert settled.result_code == str(code)
        self._record(settled)

    @precondition(lambda self: self.results)
    @rule(data=st.data(), action=st.sampled_from(["pin", "cancel", "time_out", "settle"]))
    def act_on_settled(self, data: st.DataObject, action: str) -> None:
        """A settled transaction refuses every further action and does not change."""
        checkout = data.draw(st.sampled_from(sorted(self.results)))
        act = {
            "pin": lambda: self.sim.enter_pin(checkout, "1234"),
            "cancel": lambda: self.sim.cancel(checkout),
            "time_out": lambda: self.sim.time_out(checkout),
            "settle": lambda: self.sim.settle_with(checkout, 0),
        }[action]
        try:
            self.call(act)
        except Conflict:
            return
        raise AssertionError(f"{action} on settled {checkout} was accepted")

    @rule(seconds=st.floats(0, 90))
    def advance(self, seconds: float) -> None:
        due = [t for t in self._live() if t.expires_at <= self.clock.now() + seconds]
        self.call(self.clock.advance, seconds)
        for txn in due:
            stored = self.sim.transaction(txn.checkout_request_id)
            assert stored.result_code == "1037", "a prompt outlived its timeout"
            self._record(stored)

    @rule(phone=st.sampled_from(PHONES), kes=st.integers(0, 500_000) | st.decimals(0, 1000, places=2).map(float))
    def set_balance(self, phone: str, kes: float) -> None:
        handset = self.sim.handset(phone)
        if handset is None:
            try:
                self.call(self.sim.update_handset, phone, balance=kes)
            except NotFound:
                return
            raise AssertionError("updated a phone that does not exist")
        old = handset.balance_cents
        self.call(self.sim.update_handset, phone, balance=kes)
        self.expected_total += handset.balance_cents - old
        assert handset.balance_cents == round(kes * 100)

    @rule(phone=st.sampled_from(PHONES), online=st.booleans())
    def set_online(self, phone: str, online: bool) -> None:
        if self.sim.handset(phone) is not None:
            self.call(self.sim.update_handset, phone, online=online)

    @rule(phone=st.sampled_from(PHONES), pin=st.sampled_from(["1234", "4321", "0000", "9876"]))
    def change_pin(self, phone: str, pin: str) -> None:
        if self.sim.handset(phone) is not None:
            self.call(self.sim.update_handset, phone, pin=pin)
            self.pins[phone] = pin

    @precondition(lambda self: hasattr(self.sim, "unlock_pin"))
    @rule(phone=st.sampled_from(PHONES))
    def unlock_pin(self, phone: str) -> None:
        if self.sim.handset(phone) is not None:
            self.call(self.sim.unlock_pin, phone)

    @rule(phone=st.sampled_from(PHONES), kes=st.integers(0, 500_000), pin=st.sampled_from(["1234", "5555"]))
    def add_handset(self, phone: str, kes: int, pin: str) -> None:
        exists = self.sim.handset(phone) is not None
        try:
            self.call(self.sim.add_handset, phone, None, pin, kes)
        except Conflict:
            assert exists
            return
        assert not exists
        self.expected_total += kes * 100
        self.pins[phone] = pin

    @rule(down_for=st.sampled_from([0.0, 0.0, 30.0, 61.0, 3600.0]), drain=st.booleans(), now=st.integers(0, 2))
    def restart(self, down_for: float, drain: bool, now: int) -> None:
        """Stop, maybe let time pass while down, start again on the same database file."""
        expiring = any(t.expires_at <= self.clock.now() + down_for for t in self.sim.live_transactions())
        if now and not expiring:
            return  # a start costs ~50 ms (the callback client loads CA certificates): restart one draw in three
        if drain:
            self.run(self.sim.callbacks.wait_idle(10))
        elif self.sim.callbacks.in_flight:
            self.interrupted_restarts += 1
        self.run(self.sim.stop())
        self.sim.store.close()
        self.clock.advance(down_for)  # timers were cancelled by stop: nothing fires while down
        expired = [t for t in self._live() if t.expires_at <= self.clock.now()]
        self.sim = self._boot()
        for txn in expired:
            stored = self.sim.transaction(txn.checkout_request_id)
            assert stored.result_code == "1037", "a prompt that expired while down was not settled 1037"
            self._record(stored)
        if not drain:
            self.run(self.sim.callbacks.wait_idle(10))

    # --- invariants ------------------------------------------------------------
    @invariant()
    def money_is_conserved(self) -> None:
        assert self.sim.total_money_cents() == self.expected_total
        on_disk = sum(self.sim.store.load_accounts().values())
        assert on_disk == self.expected_total, "memory and database disagree"
        # Every balance, in memory and on disk, is what its postings add up to.
        assert self.sim.ledger.audit() == []

    @invariant()
    def merchants_hold_what_was_paid(self) -> None:
        for shortcode in (PAYBILL_CODE, TILL_CODE):
            assert self.sim.merchant(shortcode).balance_cents == self.paid[shortcode]

    @invariant()
    def one_live_prompt_per_phone(self) -> None:
        live = self.sim.live_transactions()
        assert max(Counter(t.msisdn for t in live).values(), default=0) <= 1
        pending = {t.checkout_request_id for t in self.sim.store.pending_transactions()}
        assert pending == {t.checkout_request_id for t in live}
        for handset in self.sim.handsets():
            prompt = self.sim.live_prompt(handset.msisdn)
            assert prompt is None or prompt.msisdn == handset.msisdn

    @invariant()
    def settled_exactly_once_and_for_good(self) -> None:
        assert set(self.settled_count.values()) <= {1}, "a transaction was settled twice"
        assert set(self.settled_count) == set(self.results)
        rows = self.sim.store.transactions(status=SETTLED, limit=100_000)
        assert {t.checkout_request_id: (t.result_code, t.receipt, t.amount) for t in rows} == self.results


MoneyMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_money_is_conserved = MoneyMachine.TestCase
