"""C2B: shortcodes register their URLs; customers pay a paybill or till; the merchant is called.

A payment runs as spec §10.1 tells it: M-PESA's own checks first (the phone, its money, its
limits); then, when External Validation is on for the shortcode and a ValidationURL is
registered, a validation call whose answer decides (no answer in time: the registered
ResponseType decides); then the money moves, the customer gets the SMS, and the confirmation
goes to the ConfirmationURL. With no URLs registered, the payment completes and nobody is
called. Every call to the merchant is a delivery (server.delivery): recorded, diagnosed,
resendable.

The flow works over the engine's shared parts (store, ledger, ids, clock, events, deliveries)
and never touches STK's state.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from ...customer_texts import confirmation_sms
from ...daraja.catalogue import BUY_GOODS, MAX_AMOUNT, PAYBILL
from ...errors import InvalidInput, NotFound, StorageFailed
from ...events import C2BPaymentSettled
from ...ledger import RECEIVING, handset_account
from ...models import (
    C2B_COMPLETED,
    C2B_CONFIRMATION,
    C2B_FAILED,
    C2B_PENDING,
    C2B_REJECTED,
    C2B_VALIDATION,
    C2BPaymentRecord,
    C2BRegistration,
    Delivery,
    Merchant,
    Transaction,
    delivery_id,
)
from ...settings import MSISDN_PATTERN
from ...store import DuplicateId
from .. import jsontext
from ..checks import WireError
from . import wire

if TYPE_CHECKING:
    from ...simulator import Simulator

log = logging.getLogger(__name__)

MPESA_SENDER = "MPESA"
SANDBOX_PAYER = "254708374149"  # the one number the sandbox's simulate calls back for (§10.1)
STORAGE_RETRY = 5.0  # seconds between tries to end an acknowledged payment the disk refused


def unknown_shortcode(shortcode: str, field: str = "ShortCode") -> WireError:
    # The sandbox answers "Service is currently unreachable" with a code nobody recorded (§9,
    # unknown 6); the emulator says which field is wrong, as Daraja does elsewhere (§2).
    from ...daraja.catalogue import bad_request

    return WireError(bad_request(field), f"no organisation with shortcode {shortcode} is configured")


class C2B:
    """The C2B flow of one emulator."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._registrations: dict[str, C2BRegistration] = {}
        self._tasks: set[asyncio.Task[C2BPaymentRecord]] = set()

    def load(self) -> None:
        self._registrations = {r.shortcode: r for r in self._sim.store.registrations()}
        # A payment acknowledged before the emulator stopped runs again now: the merchant was told
        # it was accepted, so it must end (completed, rejected or failed), and be confirmed.
        for record in self._sim.store.pending_c2b_payments():
            self._run_in_background(record)

    def forget(self) -> None:
        self._registrations = {}
        for task in self._tasks:
            task.cancel()

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)

    # --- register URL (§9) ---------------------------------------------------------------
    def register(self, request: wire.RegisterUrlRequest, version: Literal[1, 2]) -> str:
        """Keep the URLs; returns the acknowledgement body. Raises WireError as Daraja refuses."""
        sim = self._sim
        if sim.merchant(request.short_code) is None:
            raise unknown_shortcode(request.short_code)
        if request.short_code in self._registrations and sim.settings.c2b_register == "production":
            raise WireError(
                wire.duplicate_registration_error(request.short_code),
                f'URLs for {request.short_code} are registered already (c2b_register is "production")',
            )
        registration = C2BRegistration(
            request.short_code,
            version,
            request.response_type,
            request.confirmation_url,
            request.validation_url,
            sim.clock.now(),
        )
        sim.store.save_registration(registration)
        self._registrations[registration.shortcode] = registration
        return wire.render_register_ack(
            version,
            sim.ids.register_originator_id(version),
            bare=sim.settings.c2b_register_ack == "bare",
        )

    def registration(self, shortcode: str) -> C2BRegistration | None:
        return self._registrations.get(shortcode)

    def registrations(self) -> list[C2BRegistration]:
        return sorted(self._registrations.values(), key=lambda r: r.shortcode)

    def payments(
        self,
        msisdn: str | None = None,
        shortcode: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[C2BPaymentRecord]:
        """C2B payments, newest first (STK payments are transactions, not listed here)."""
        return self._sim.store.c2b_payments(msisdn, shortcode, limit, offset)

    # --- paying (§10, §11) ---------------------------------------------------------------------
    def simulate(self, request: wire.SimulateRequest) -> str:
        """Put the payment on record and answer at once, as the sandbox does (§11); it runs after.

        The payment is stored (pending) before the acknowledgement leaves, so a crash between the
        two loses nothing: the next start runs it.
        """
        if self._sim.merchant(request.short_code) is None:
            raise unknown_shortcode(request.short_code)
        record = self._begin(
            request.msisdn, request.short_code, request.amount, request.bill_ref_number, request.command_id, "simulate"
        )
        self._run_in_background(record)
        return wire.render_simulate_ack(self._sim.ids.originator_conversation_id())

    def _run_in_background(self, record: C2BPaymentRecord) -> None:
        task = asyncio.get_running_loop().create_task(self._run_until_kept(record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_until_kept(self, record: C2BPaymentRecord) -> C2BPaymentRecord:
        """Run an acknowledged payment; while the disk refuses its end, try again now and then
        (it stays pending on disk meanwhile, so a restart would run it too)."""
        while True:
            try:
                return await self._run(record)
            except StorageFailed as exc:
                log.warning("C2B payment %s: %s; trying again in %.0f s", record.trans_id, exc, STORAGE_RETRY)
                await asyncio.sleep(STORAGE_RETRY)

    async def customer_pays(
        self,
        msisdn: object,
        shortcode: object,
        amount: object,
        account: object = "",
        command_id: object = None,
        via: str = "control",
    ) -> C2BPaymentRecord:
        """A customer pays a paybill or till from the control API or the phone's menu (``via``): the
        values are checked first (InvalidInput, NotFound), then the payment runs as any other."""
        if not isinstance(msisdn, str) or not MSISDN_PATTERN.fullmatch(msisdn):
            raise InvalidInput("msisdn must look like 2547XXXXXXXX or 2541XXXXXXXX (12 digits)")
        merchant = self._sim.merchant(shortcode) if isinstance(shortcode, str) else None
        if merchant is None:
            raise NotFound(f"no organisation with shortcode {shortcode!r}")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_AMOUNT:
            raise InvalidInput(f"amount must be a whole number of KES from 1 to {MAX_AMOUNT}")
        if not isinstance(account, str) or len(account) > wire.BILL_REF_MAX:
            raise InvalidInput(f"account must be text of at most {wire.BILL_REF_MAX} characters")
        default = BUY_GOODS if merchant.kind == "till" else PAYBILL
        command = default if command_id is None else command_id
        if command not in (PAYBILL, BUY_GOODS):
            raise InvalidInput(f"command must be {PAYBILL} or {BUY_GOODS}")
        return await self.pay(msisdn, merchant.shortcode, amount, account, str(command), via=via)

    async def pay(
        self,
        msisdn: str,
        shortcode: str,
        amount: int,
        bill_ref: str = "",
        command_id: str = PAYBILL,
        via: str = "control",
    ) -> C2BPaymentRecord:
        """A customer pays ``amount`` KES to ``shortcode``: checks, validation, money, SMS, confirmation."""
        if self._sim.merchant(shortcode) is None:
            raise NotFound(f"no organisation with shortcode {shortcode}")
        return await self._run(self._begin(msisdn, shortcode, amount, bill_ref, command_id, via))

    def _begin(
        self, msisdn: str, shortcode: str, amount: int, bill_ref: str, command_id: str, via: str
    ) -> C2BPaymentRecord:
        """The payment on record with a fresh TransID, pending, before anyone is told of it."""
        now = self._sim.clock.now()
        while True:
            record = C2BPaymentRecord(
                self._new_receipt(now), shortcode, msisdn, amount, bill_ref, command_id, C2B_PENDING, "", via, "", now
            )
            try:
                self._sim.store.add_c2b_payment(record)
                return record
            except DuplicateId:
                continue

    def _calls_merchant(self, record: C2BPaymentRecord) -> bool:
        """Whether the merchant's URLs are called: with c2b_simulate = "sandbox", a simulated payment
        calls back only for the sandbox's test payer."""
        settings = self._sim.settings
        return record.via != "simulate" or settings.c2b_simulate == "any" or record.msisdn == SANDBOX_PAYER

    async def _run(self, record: C2BPaymentRecord) -> C2BPaymentRecord:
        """A pending payment to its end: M-PESA's checks, the merchant's validation, then the money."""
        sim = self._sim
        msisdn, shortcode, amount = record.msisdn, record.shortcode, record.amount
        merchant = sim.merchant(shortcode)
        if merchant is None:  # the configuration changed across a restart
            return self._settle(record, C2B_FAILED, f"no organisation with shortcode {shortcode} any more")
        handset = sim.handset(msisdn) or sim.provision(msisdn)
        if handset is None:
            return self._settle(record, C2B_FAILED, f"{msisdn} is not an M-PESA customer here (unknown_msisdn)")
        credit = (shortcode, RECEIVING[merchant.kind])
        refusal = sim.ledger.refusal(handset_account(msisdn), credit, amount * 100, sim.clock.now())
        if refusal is not None:
            return self._settle(record, C2B_FAILED, f"M-PESA declined the payment: {refusal.words}")
        registration = self._registrations.get(shortcode) if self._calls_merchant(record) else None
        payment = self._payment(record, handset.name, merchant)
        if registration is not None and merchant.external_validation and registration.validation_url:
            answer = await self._validate(payment, registration)
            record.third_party_trans_id = answer.third_party_trans_id
            if not answer.completes(registration.response_type):
                why = (
                    answer.reason
                    if answer.verdict is not wire.Verdict.NO_ANSWER
                    else (f"{answer.reason}; the registered ResponseType is Cancelled")
                )
                return self._settle(record, C2B_REJECTED, why)
            # The world may have moved while the merchant thought: check the money again.
            refusal = sim.ledger.refusal(handset_account(msisdn), credit, amount * 100, sim.clock.now())
            if refusal is not None:
                return self._settle(record, C2B_FAILED, f"M-PESA declined the payment: {refusal.words}")
        return self._complete(record, merchant, handset.name, registration)

    def _new_receipt(self, now: float) -> str:
        return self._sim.new_receipt(now)

    def _payment(self, record: C2BPaymentRecord, name: str, merchant: Merchant) -> wire.C2BPayment:
        first, _, rest = name.partition(" ")
        middle, _, last = rest.rpartition(" ")
        return wire.C2BPayment(
            trans_id=record.trans_id,
            trans_time=record.created_at,
            amount=Decimal(record.amount),
            business_short_code=record.shortcode,
            msisdn=record.msisdn,
            first_name=first,
            middle_name=middle,
            last_name=last,
            bill_ref_number=record.bill_ref,
            transaction_type=wire.transaction_type_for(record.command_id),
            third_party_trans_id=record.third_party_trans_id,
        )

    def _style(self) -> wire.C2BStyle:
        settings = self._sim.settings
        return wire.C2BStyle(names=settings.c2b_names, v1_msisdn=settings.c2b_v1_msisdn)

    async def _validate(self, payment: wire.C2BPayment, registration: C2BRegistration) -> wire.ValidationAnswer:
        """The validation round trip: one POST, its answer read (§10.4); recorded as a delivery."""
        sim = self._sim
        version: Literal[1, 2] = 2 if registration.version == 2 else 1
        body = wire.render_validation(payment, registration_version=version, style=self._style())
        call = Delivery(
            delivery_id(C2B_VALIDATION, payment.trans_id),
            registration.validation_url,
            body,
            state="failed",
            created_at=sim.clock.now(),
        )
        # A payment run again after a restart asks again: the call made before got no answer we kept.
        kind = "retry" if sim.store.delivery(call.id) is not None else "callback"
        sim.store.save_delivery(call)
        attempt = await sim.callbacks.send_now(
            call.id,
            call.url,
            body,
            kind,
            mark_delivered=True,
            timeout=sim.settings.c2b_validation_timeout,
        )
        return wire.parse_validation_answer(attempt.status, attempt.response_body)

    def _complete(
        self,
        record: C2BPaymentRecord,
        merchant: Merchant,
        name: str,
        registration: C2BRegistration | None,
    ) -> C2BPaymentRecord:
        sim = self._sim
        now = sim.clock.now()
        credit = (merchant.shortcode, RECEIVING[merchant.kind])
        confirmation = None
        with sim.store.atomic():
            record.status, record.reason = C2B_COMPLETED, "paid"
            sim.store.end_c2b_payment(record)
            sim.ledger.pay(
                handset_account(record.msisdn), credit, record.amount * 100, now, record.trans_id, "c2b payment"
            )
            message = sim.store.add_message(
                record.msisdn,
                MPESA_SENDER,
                confirmation_sms(
                    record.trans_id,
                    record.amount,
                    merchant.name,
                    record.bill_ref,
                    record.command_id,
                    now,
                    sim.ledger.current(handset_account(record.msisdn)),
                    sim.ledger.remaining_today(record.msisdn, now),
                ),
                now,
            )
            if registration is not None and registration.confirmation_url:
                confirmation = self._confirmation(record, name, merchant, registration, sim.ledger.current(credit), now)
                sim.store.save_delivery(confirmation)
        sim.bus.publish(C2BPaymentSettled(at=now, payment=record))
        sim.announce_sms(message)
        if confirmation is not None:
            sim.callbacks.deliver(confirmation)
        return record

    def _confirmation(
        self,
        record: C2BPaymentRecord,
        name: str,
        merchant: Merchant,
        registration: C2BRegistration,
        balance_after_cents: int,
        now: float,
    ) -> Delivery:
        version: Literal[1, 2] = 2 if registration.version == 2 else 1
        payment = self._payment(record, name, merchant)
        body = wire.render_confirmation(
            _with_balance(payment, balance_after_cents),
            registration_version=version,
            style=self._style(),
        )
        return Delivery(
            delivery_id(C2B_CONFIRMATION, record.trans_id), registration.confirmation_url, body, created_at=now
        )

    def _settle(self, record: C2BPaymentRecord, status: str, reason: str) -> C2BPaymentRecord:
        """A payment that did not go through: kept, with why, and announced."""
        sim = self._sim
        record.status, record.reason = status, reason
        sim.store.end_c2b_payment(record)
        sim.bus.publish(C2BPaymentSettled(at=sim.clock.now(), payment=record))
        return record

    # --- an STK payment into a paybill is a C2B payment too (§10.1) ----------------------------
    def stk_confirmation(
        self, txn: Transaction, merchant: Merchant, name: str, balance_after_cents: int
    ) -> Delivery | None:
        """The confirmation an STK payment into a paybill with a ConfirmationURL also fires."""
        registration = self._registrations.get(merchant.shortcode)
        if not self._sim.settings.stk_c2b_confirmation or registration is None or not registration.confirmation_url:
            return None
        record = C2BPaymentRecord(
            txn.receipt or "",
            merchant.shortcode,
            txn.msisdn,
            txn.amount,
            txn.account_reference,
            txn.transaction_type,
            C2B_COMPLETED,
            "paid",
            "stk",
            "",
            txn.settled_at or txn.created_at,
        )
        return self._confirmation(record, name, merchant, registration, balance_after_cents, record.created_at)


def _with_balance(payment: wire.C2BPayment, cents: int) -> wire.C2BPayment:
    from dataclasses import replace

    return replace(payment, org_account_balance=jsontext.from_cents(cents))
