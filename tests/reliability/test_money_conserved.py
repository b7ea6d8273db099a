"""Money is conserved over long random sequences of operations (hypothesis stateful testing).

The state machine drives the real engine (Simulator) with a ManualClock on its own event
loop, with every delivery (STK callbacks, C2B validations and confirmations, Results) sent
to a real receiver, and restarts it on the same SQLite file through the real Store. Every
flow that moves money takes part: STK Push, C2B payments (the control API's and simulate's
paths), B2C payouts from a paybill and from a B2C shortcode, and reversals of STK and C2B
payments; initiator requests are answered at once or later (while the clock moves or the
emulator is down). Invariants after every step:

- the ledger's world account gave out exactly what was put in (opening balances, new phones,
  balances set by hand), and all of it is still inside: phones + organisations' accounts +
  the world account = 0, in memory, on the phones and organisations shown, and on disk;
- each organisation account holds its starting balance plus what was paid in, less what was
  paid out and reversed, as the flows reported it;
- each phone has at most one live prompt, and the live prompts are the pending rows;
- each transaction and each initiator request is settled exactly once, and its result never
  changes afterwards; no payment is reversed twice.

At the end every delivery reached the receiver exactly once (a stop may interrupt one in
flight: it goes again at the next start).
"""

from __future__ import annotations

import asyncio
import json
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
from server.events import C2BPaymentSettled, InitiatorSettled, TransactionSettled
from server.flows.b2c.flow import B2C_APIS
from server.flows.c2b import wire as c2b_wire
from server.flows.checks import WireError
from server.flows.initiator import NextOutcome
from server.flows.initiator_wire import ALREADY_REVERSED, INSUFFICIENT_FUNDS, MAX_BALANCE, ORIGINAL_INVALID
from server.ids import IdGenerator
from server.ledger import MAX_BALANCE_CENTS, RECEIVING, WORLD
from server.models import CALLBACK_DUE, SETTLED
from server.settings import HandsetConfig, MerchantConfig, Settings
from server.simulator import Conflict, InvalidInput, NotFound, PushOrder, Simulator
from server.store import Store
from tests.receiver import CallbackReceiver

PAYBILL_CODE, TILL_CODE, B2C_CODE = "174379", "600100", "600500"
KINDS = {PAYBILL_CODE: "paybill", TILL_CODE: "till", B2C_CODE: "b2c"}
# The B2C shortcode starts with money of its own; the paybill and the till only with what customers pay.
B2C_BALANCES = {"working": 20_000.0, "utility": 30_000.0}
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
            sandbox_organisations="replace",  # only these three: what was put in is known exactly
            result_delay=0,  # initiator Results on the next loop turn, unless a rule chooses a delay
            merchants=[
                MerchantConfig(shortcode=PAYBILL_CODE, passkey="pk-paybill", name="Daraja-Sandbox"),
                MerchantConfig(shortcode=TILL_CODE, passkey="pk-till", name="Corner Shop", kind="till"),
                MerchantConfig(shortcode=B2C_CODE, name="Payouts Ltd", kind="b2c", balances=B2C_BALANCES),
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
        self.settled_count: Counter[str] = Counter()
        self.results: dict[str, tuple[str | None, str | None, int]] = {}  # id -> (result, receipt, amount)
        # Each organisation account's money as the flows report it: what it started with, plus
        # payments in, less payouts and reversals.
        self.org: Counter[tuple[str, str]] = Counter(
            {(B2C_CODE, kind): round(kes * 100) for kind, kes in B2C_BALANCES.items()}
        )
        self.answered: Counter[str] = Counter()  # ConversationID -> InitiatorSettled events
        self.answers: dict[str, tuple[str | None, str | None, int | None]] = {}  # -> (result, receipt, amount)
        # Receipts a reversal may name: receipt -> (shortcode paid, payer, whole KES, flow).
        self.reversible: dict[str, tuple[str, str, int, str]] = {}
        self.reversed: set[str] = set()
        self.reversed_twice: list[str] = []
        self.c2b_settled = 0
        self.sent = 0  # initiator requests sent: each B2C gets its own OriginatorConversationID
        self.pins = dict(PINS)  # every phone there is, with its PIN
        self.sim = self._boot()
        # The paybill calls its shop (this receiver) for C2B validations and confirmations; an STK
        # payment into it fires a confirmation too. Kept on disk across restarts.
        self.call(
            self.sim.c2b.register,
            c2b_wire.parse_register_url(
                {
                    "ShortCode": PAYBILL_CODE,
                    "ResponseType": "Completed",
                    "ConfirmationURL": self.receiver.url_for("/c2b/confirmation"),
                    "ValidationURL": self.receiver.url_for("/c2b/validation"),
                }
            ),
            2,
        )
        # What was put in: the phones' and the B2C shortcode's opening balances.
        self.expected_total = sum(round(h.balance * 100) for h in self.settings.handsets) + sum(self.org.values())
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
        # The machine looks at the new engine from its first event on: a start answers the
        # initiator requests that came due while it was down.
        self.sim = sim
        self.run(sim.start())
        return sim

    def _on_event(self, event: Any) -> None:
        if isinstance(event, TransactionSettled):
            self.settled_count[event.transaction.checkout_request_id] += 1
        elif isinstance(event, C2BPaymentSettled):
            self.c2b_settled += 1
        elif isinstance(event, InitiatorSettled):
            self._answered(event.request)

    def _answered(self, request) -> None:
        """An initiator request got its Result (now, when the clock moved, or after a restart)."""
        self.answered[request.conversation_id] += 1
        self.answers[request.conversation_id] = (request.result_code, request.receipt, request.amount)
        phone = json.loads(request.request).get("PartyB") if request.api in B2C_APIS else None
        if phone is not None and phone not in self.pins and self.sim.handset(phone) is not None:
            # A payout to a number nobody had gave it a phone, with the default balance (even
            # when the payout then failed): that money came in from the world.
            self.expected_total += round(self.settings.default_balance * 100)
            self.pins[phone] = self.settings.default_pin
        if request.result_code != "0":
            return  # a failure moves nothing (checked by the rules that can predict it)
        if request.api in B2C_APIS:
            self.org[(request.shortcode, "utility")] -= request.amount * 100
            self.reversible[request.receipt] = (request.shortcode, request.counterpart, request.amount, "b2c")
        elif request.api == "reversal":
            # Noted, not asserted: the bus swallows a subscriber's exception (an invariant checks it).
            if request.counterpart in self.reversed:
                self.reversed_twice.append(request.counterpart)
            self.reversed.add(request.counterpart)
            self.org[(request.shortcode, RECEIVING[KINDS[request.shortcode]])] -= request.amount * 100

    def _record(self, txn) -> None:
        assert txn.status == SETTLED
        self.results[txn.checkout_request_id] = (txn.result_code, txn.receipt, txn.amount)
        if txn.result_code == "0":
            self.org[(txn.shortcode, RECEIVING[KINDS[txn.shortcode]])] += txn.amount * 100
            self.reversible[txn.receipt] = (txn.shortcode, txn.msisdn, txn.amount, "stk")

    def _pending_requests(self) -> list:
        return self.sim.store.initiator_requests(pending=True, limit=1000)

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
            # So did every other delivery: each C2B call and each Result, by its exact bytes.
            arrived = Counter(c.raw.decode() for c in self.receiver.received)
            deliveries = self.sim.store.deliveries(limit=100_000)
            assert [d.id for d in deliveries if d.state == CALLBACK_DUE] == [], "a delivery is still owed"
            assert {d.id for d in deliveries if arrived[d.body] == 0} == set(), "a delivery never arrived"
            answered = {d.subject for d in deliveries if d.channel in ("result", "queue_timeout")}
            assert answered == set(self.answered), "an answered request has no Result, or a Result no request"
            counts = set(delivered.values()) | {arrived[d.body] for d in deliveries}
            if self.interrupted_restarts == 0:
                assert counts <= {1}, "a delivery was sent twice"
            else:
                # A stop interrupts deliveries in flight; they stay due and go again at the next start.
                assert max(counts, default=0) <= 1 + self.interrupted_restarts
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

    @rule(
        phone=st.sampled_from(PHONES),
        amount=st.integers(1, 6_000),
        till=st.booleans(),
        via=st.sampled_from(["control", "simulate"]),
    )
    def c2b_payment(self, phone: str, amount: int, till: bool, via: str) -> None:
        """A customer pays a paybill or till outside STK: the control API's path, or simulate's.
        The paybill validates with its shop first (which accepts) and gets a confirmation."""
        known = self.sim.handset(phone) is not None
        before = self.sim.handset(phone).balance_cents if known else None
        shortcode = TILL_CODE if till else PAYBILL_CODE
        if via == "control":
            payment = self.run(self.sim.c2b.customer_pays(phone, shortcode, amount, "ACC"))
        else:
            settled = self.c2b_settled
            ack = self.call(
                self.sim.c2b.simulate,
                c2b_wire.parse_simulate(
                    {
                        "ShortCode": shortcode,
                        "CommandID": BUY_GOODS if till else PAYBILL,
                        "Amount": amount,
                        "Msisdn": phone,
                        "BillRefNumber": "ACC",
                    }
                ),
            )
            assert '"ResponseCode":"0"' in ack
            # The payment runs after the acknowledgement, as in the sandbox (the paybill's
            # validation is a real round trip to the receiver).
            self.run(self._until(lambda: self.c2b_settled > settled, "the simulated payment"))
            [payment] = self.sim.c2b.payments(msisdn=phone, limit=1)
        if not known:  # a new number gets a phone with the default balance
            self.expected_total += round(self.settings.default_balance * 100)
            self.pins[phone] = self.settings.default_pin
            before = round(self.settings.default_balance * 100)
        assert before is not None
        if payment.status == "completed":
            self.org[(shortcode, RECEIVING[KINDS[shortcode]])] += amount * 100
            self.reversible[payment.trans_id] = (shortcode, phone, amount, "c2b")
            assert self.sim.handset(phone).balance_cents == before - amount * 100
        else:
            assert payment.status == "failed" and before < amount * 100, payment
            assert self.sim.handset(phone).balance_cents == before

    @rule(
        sender=st.sampled_from(PHONES),
        recipient=st.sampled_from(PHONES),
        amount=st.integers(1, 6_000),
        right_pin=st.booleans(),
    )
    def send_money(self, sender: str, recipient: str, amount: int, right_pin: bool) -> None:
        """One customer sends another money from the phone's menu: phone to phone, nothing else moves."""
        payer = self.sim.handset(sender)
        payee = self.sim.handset(recipient)
        before = (payer.balance_cents if payer else None, payee.balance_cents if payee else None)
        pin = self.pins.get(sender, "1234") if right_pin else "9999"
        if right_pin and pin == "9999":
            pin = "1234"
        try:
            transfer = self.call(self.sim.menu.send_money, sender, pin, recipient, str(amount))
        except (NotFound, InvalidInput, Conflict) as exc:
            # Refused: no such sender, to itself, a wrong PIN, offline, locked, or M-PESA's limits.
            assert (
                payer is None
                or sender == recipient
                or not right_pin
                or not payer.online
                or payer.pin_locked
                or ("declined" in str(exc))
            ), exc
            assert (payer.balance_cents if payer else None) == before[0]
            now = self.sim.handset(recipient)
            assert (now.balance_cents if now and payee else None) == (before[1] if payee else None)
            if payee is None and now is not None:  # a new number got its phone before the ledger said no
                self.expected_total += round(self.settings.default_balance * 100)
                self.pins[recipient] = self.settings.default_pin
            return
        if payee is None:  # a new number gets a phone with the default balance
            self.expected_total += round(self.settings.default_balance * 100)
            self.pins[recipient] = self.settings.default_pin
            before = (before[0], round(self.settings.default_balance * 100))
        assert payer is not None and before[0] is not None and before[1] is not None
        assert (transfer.sender, transfer.recipient, transfer.amount) == (sender, recipient, amount)
        assert payer.balance_cents == before[0] - amount * 100
        assert self.sim.handset(recipient).balance_cents == before[1] + amount * 100
        assert len(self.sim.store.postings(transfer.receipt)) == 1

    async def _until(self, done, what: str) -> None:
        for _ in range(5_000):
            if done():
                return
            await asyncio.sleep(0.001)
        raise AssertionError(f"timed out waiting for {what}")

    def _initiator(self, accept, payload: dict[str, Any], later: float | None) -> str:
        """Send an initiator request; its Result comes at once, or ``later`` seconds on (the clock
        moving, or a restart). Returns its ConversationID."""
        self.sent += 1
        if later is not None:
            self.sim.initiator.choose_next(NextOutcome(delay=later))
        ack = self.call(accept, payload)
        self.run(asyncio.sleep(0))  # result_delay 0: the Result is worked out on the next loop turn
        conversation = str(json.loads(ack)["ConversationID"])
        assert (self.answered[conversation] == 1) is (later is None), "answered at the wrong time"
        return conversation

    def _urls(self) -> dict[str, str]:
        return {"ResultURL": self.receiver.url_for("/result"), "QueueTimeOutURL": self.receiver.url_for("/timeout")}

    @rule(
        phone=st.sampled_from(PHONES),
        amount=st.integers(1, 3_000),
        payer=st.sampled_from([PAYBILL_CODE, B2C_CODE, TILL_CODE]),
        later=st.none() | st.sampled_from([5.0, 45.0]),
    )
    def b2c_payout(self, phone: str, amount: int, payer: str, later: float | None) -> None:
        """An organisation pays a customer (B2C): the paybill from what it received, the B2C
        shortcode from its own money; a till has no Utility account and cannot."""
        known = self.sim.handset(phone) is not None
        utility = self.sim.ledger.balance((payer, "utility"))
        before = self.sim.handset(phone).balance_cents if known else round(self.settings.default_balance * 100)
        payload = {
            "OriginatorConversationID": f"payout-{self.sent}",
            "InitiatorName": "testapi",
            "SecurityCredential": "c2VjcmV0",
            "CommandID": "BusinessPayment",
            "Amount": amount,
            "PartyA": payer,
            "PartyB": phone,
            "Remarks": "refund",
            **self._urls(),
        }
        conversation = self._initiator(lambda p: self.sim.b2c.accept(p, version=3, pochi=False), payload, later)
        if later is not None:
            return  # its Result comes when the clock moves or after a restart: the invariants check it
        # Nothing else was answered in between: requests answered later wait for the clock.
        handset = self.sim.handset(phone)
        paid = payer != TILL_CODE and amount >= 10 and utility >= amount * 100 and before + amount * 100 <= 50_000_000
        after = handset.balance_cents if handset is not None else before
        assert (self.answers[conversation][0] == "0") is paid, self.answers[conversation]
        assert after == before + (amount * 100 if paid else 0)

    @precondition(lambda self: self.sent)
    @rule()
    def b2c_again(self) -> None:
        """The latest payout's OriginatorConversationID used again: refused at once, nothing moves."""
        payload = {
            "OriginatorConversationID": f"payout-{self.sent}",
            "InitiatorName": "testapi",
            "SecurityCredential": "c2VjcmV0",
            "CommandID": "BusinessPayment",
            "Amount": 100,
            "PartyA": B2C_CODE,
            "PartyB": CONFIGURED[0],
            "Remarks": "refund",
            **self._urls(),
        }
        if not self.sim.store.initiator_requests(originator_id=f"payout-{self.sent}", limit=1):
            return  # the latest request was a reversal
        try:
            self.call(self.sim.b2c.accept, payload, version=3, pochi=False)
        except WireError:
            return
        raise AssertionError("a used OriginatorConversationID was accepted again")

    @precondition(lambda self: self.reversible)
    @rule(data=st.data(), later=st.none() | st.sampled_from([5.0, 45.0]))
    def reverse(self, data: st.DataObject, later: float | None) -> None:
        """The organisation paid gives a payment back (STK or C2B); a B2C payout cannot be
        reversed, nor can a payment twice, nor more than the organisation holds."""
        receipt = data.draw(st.sampled_from(sorted(self.reversible)))
        shortcode, payer, amount, flow = self.reversible[receipt]
        account = (shortcode, RECEIVING[KINDS[shortcode]])
        holds, had = self.sim.ledger.balance(account), self.sim.handset(payer).balance_cents
        already = receipt in self.reversed
        payload = {
            "Initiator": "testapi",
            "SecurityCredential": "c2VjcmV0",
            "CommandID": "TransactionReversal",
            "TransactionID": receipt,
            "Amount": str(amount),
            "ReceiverParty": shortcode,
            "RecieverIdentifierType": "11" if KINDS[shortcode] == "till" else "4",
            "Remarks": "give it back",
            **self._urls(),
        }
        conversation = self._initiator(self.sim.reversal.accept, payload, later)
        if later is not None:
            return  # its Result comes when the clock moves or after a restart: the invariants check it
        if flow == "b2c":
            expected: int | str = ORIGINAL_INVALID
        elif already:
            expected = ALREADY_REVERSED
        elif holds < amount * 100:
            expected = INSUFFICIENT_FUNDS
        elif had + amount * 100 > MAX_BALANCE_CENTS:
            expected = MAX_BALANCE
        else:
            expected = 0
        assert self.answers[conversation][0] == str(expected), (receipt, flow, self.answers[conversation])
        moved = amount * 100 if expected == 0 else 0
        assert self.sim.handset(payer).balance_cents == had + moved
        assert self.sim.ledger.balance(account) == holds - moved

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
        # Money enters only from the world account: its postings gave out exactly what was put in.
        assert self.sim.store.sums_of_postings().get(WORLD, 0) == -self.expected_total, "money came from nowhere"
        # And all of it is still inside: phones + organisations' accounts + the world account = 0,
        # in the ledger, on the phones and organisations the UI and the control API show, on disk.
        assert self.sim.total_money_cents() + self.sim.ledger.balance(WORLD) == 0
        assert self.sim.total_money_cents() == self.expected_total
        shown = sum(h.balance_cents for h in self.sim.handsets()) + sum(
            sum(m.accounts.values()) for m in self.sim.merchants()
        )
        assert shown == self.expected_total, "the phones and organisations shown disagree with the ledger"
        on_disk = sum(self.sim.store.load_accounts().values())
        assert on_disk == self.expected_total, "memory and database disagree"
        # Every balance, in memory and on disk, is what its postings add up to.
        assert self.sim.ledger.audit() == []

    @invariant()
    def organisations_hold_what_the_flows_moved(self) -> None:
        for shortcode, kind in KINDS.items():
            merchant = self.sim.merchant(shortcode)
            for account, cents in merchant.accounts.items():
                assert cents == self.org[(shortcode, account)], (shortcode, account, cents)
            assert merchant.balance_cents == self.org[(shortcode, RECEIVING[kind])]

    @invariant()
    def initiator_requests_answered_once_and_for_good(self) -> None:
        assert set(self.answered.values()) <= {1}, "an initiator request was answered twice"
        assert self.reversed_twice == [], "a payment was reversed twice"
        pending = self._pending_requests()
        assert {r.conversation_id for r in pending}.isdisjoint(self.answered), "a request answered is still pending"
        # None is forgotten: each is answered when its time comes, even if that came while the emulator was down.
        assert all(r.due_at > self.clock.now() for r in pending), "a request is overdue"
        done = self.sim.store.initiator_requests(limit=100_000)
        answered = {r.conversation_id: (r.result_code, r.receipt, r.amount) for r in done if r.status == SETTLED}
        assert answered == self.answers, "an answer changed, or a request was answered without a word"

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
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_money_is_conserved = MoneyMachine.TestCase
