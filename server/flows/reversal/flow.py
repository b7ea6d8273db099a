"""Reversal: an organisation gives back a customer's payment into its shortcode (spec §15).

The payment is found by its receipt among STK and C2B payments into the asking shortcode
(``ReceiverParty``); B2C payments cannot be reversed. The money goes back from the account it
reached to the customer, with an SMS, and the Result carries the new receipt. A payment reversed
already gets ``R000001``; one that is not a payment into the shortcode, ``R000002``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...customer_texts import reversal_sms
from ...ledger import RECEIVING, handset_account
from .. import initiator_wire as iw
from .. import jsontext
from ..initiator import Outcome
from . import wire

if TYPE_CHECKING:
    from ...models import InitiatorRequest
    from ...simulator import Simulator

MPESA_SENDER = "MPESA"
_ACCOUNT_NAMES = {"utility": iw.UTILITY, "merchant": iw.MERCHANT}


class Reversal:
    """The Reversal flow."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def accept(self, payload: dict[str, Any]) -> str:
        request = wire.parse_reversal(payload)
        return self._sim.initiator.accept(
            "reversal",
            shortcode=request.receiver_party,
            initiator=request.initiator,
            payload=payload,
            result_url=request.result_url,
            queue_timeout_url=request.queue_timeout_url,
            originator_id=None,
            ack_api=iw.InitiatorApi.REVERSAL,
        )

    def failure(self, request: InitiatorRequest, payload: dict[str, Any], code: int | str) -> Outcome:
        sim = self._sim
        now = sim.clock.now()
        transaction_id = (
            sim.ids.receipt(now)
            if code in (iw.INITIATOR_INVALID, iw.CREDENTIAL_LOCKED)
            else (iw.no_transaction_id(now))
        )
        conversation = iw.Conversation(request.originator_id, request.conversation_id)
        return Outcome(code, wire.render_failure(conversation, code, transaction_id, style=sim.initiator.style))

    def answer(self, request: InitiatorRequest, payload: dict[str, Any], forced: int | str | None) -> Outcome:
        sim = self._sim
        if forced is not None and forced not in (0, "0"):
            return self.failure(request, payload, forced)
        parsed = wire.parse_reversal(payload)
        original = self._original(parsed.transaction_id, request.shortcode)
        if original is None:
            return self.failure(request, payload, iw.ORIGINAL_INVALID)
        msisdn, amount = original
        if self._reversed(parsed.transaction_id):
            return self.failure(request, payload, iw.ALREADY_REVERSED)
        merchant = sim.merchant(request.shortcode)
        assert merchant is not None
        kind = RECEIVING[merchant.kind]
        debit, credit = (merchant.shortcode, kind), handset_account(msisdn)
        now = sim.clock.now()
        refusal = sim.ledger.refusal(debit, credit, amount * 100, now)
        if refusal is not None:
            code = iw.INSUFFICIENT_FUNDS if refusal.rule == "insufficient" else iw.MAX_BALANCE
            return self.failure(request, payload, code)
        receipt = sim.new_receipt(now)
        sim.ledger.pay(debit, credit, amount * 100, now, receipt, f"reversal of {parsed.transaction_id}")
        handset = sim.handset(msisdn)
        message = sim.store.add_message(
            msisdn,
            MPESA_SENDER,
            reversal_sms(receipt, parsed.transaction_id, amount, now, sim.ledger.current(credit)),
            now,
        )
        done = wire.Reversed(
            receipt=receipt,
            original_receipt=parsed.transaction_id,
            amount=jsontext.from_cents(amount * 100),
            completed_at=now,
            debit_account=iw.AccountLine(
                _ACCOUNT_NAMES.get(kind, iw.UTILITY), jsontext.from_cents(sim.ledger.current(debit))
            ),
            credit_party_public_name=f"{msisdn} - {handset.name if handset else ''}",
            debit_party_public_name=f"{merchant.shortcode} - {merchant.name}",
        )
        conversation = iw.Conversation(request.originator_id, request.conversation_id)
        body = wire.render_success(conversation, done, style=sim.initiator.style)
        # The reversed payment's receipt is kept as the counterpart: it answers "reversed already?".
        return Outcome(0, body, receipt, parsed.transaction_id, amount, then=[lambda: sim.announce_sms(message)])

    def _original(self, receipt: str, shortcode: str) -> tuple[str, int] | None:
        """(payer, whole KES) of a completed STK or C2B payment into ``shortcode`` with this receipt."""
        store = self._sim.store
        for txn in store.transactions_by_receipt(receipt):
            if txn.result_code == "0" and txn.shortcode == shortcode:
                return txn.msisdn, txn.amount
        for payment in store.c2b_payments_by_receipt(receipt):
            if payment.status == "completed" and payment.shortcode == shortcode:
                return payment.msisdn, payment.amount
        return None

    def _reversed(self, receipt: str) -> bool:
        done = self._sim.store.initiator_requests(api="reversal", counterpart=receipt, limit=100)
        return any(r.result_code == "0" for r in done)
