"""B2C (and Business to Pochi): an organisation pays a customer from its Utility account.

The request is acknowledged at once (server.flows.initiator); the Result, ``result_delay``
seconds later, is worked out here in the order M-PESA would find things wrong (spec §12, §19):
the amount's limits (2, 3), the recipient (2040 for a number with no phone here, when
``b2c_unknown_msisdn`` says so), the ledger's limits (the Utility account's money: 1 or 4001; the
recipient's maximum balance: 8). A payment that goes through moves the money, sends the
recipient the SMS of §18 and a Result with the 8 parameters of the current order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...customer_texts import b2c_received_sms
from ...ledger import CHARGES_PAID, UTILITY, WORKING, handset_account
from ...models import InitiatorRequest
from .. import initiator_wire as iw
from .. import jsontext
from ..initiator import NextOutcome, Outcome
from . import wire

if TYPE_CHECKING:
    from ...simulator import Simulator

MPESA_SENDER = "MPESA"
B2C_APIS = ("b2c", "b2c_v1", "pochi")


class B2C:
    """The B2C flow: what a payout request ends with."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def accept(self, payload: dict[str, Any], *, version: int, pochi: bool) -> str:
        """Check the request, store it, acknowledge it; raises WireError as Daraja refuses."""
        sim = self._sim
        request = wire.parse_b2c(payload, version=1 if version == 1 else 3, pochi=pochi)
        decision = sim.rules.decide_payout(request.party_b, request.amount)
        ruled = None if decision is None else NextOutcome(decision.result_code, decision.queue_timeout, decision.delay)
        return sim.initiator.accept(
            "pochi" if pochi else "b2c_v1" if version == 1 else "b2c",
            shortcode=request.party_a,
            initiator=request.initiator_name,
            payload=payload,
            result_url=request.result_url,
            queue_timeout_url=request.queue_timeout_url,
            originator_id=request.originator_conversation_id,
            ack_api=iw.InitiatorApi.POCHI if pochi else iw.InitiatorApi.B2C,
            ruled=ruled,
        )

    def _conversation(self, request: InitiatorRequest) -> iw.Conversation:
        return iw.Conversation(request.originator_id, request.conversation_id)

    def failure(self, request: InitiatorRequest, payload: dict[str, Any], code: int | str) -> Outcome:
        """A Result with no ResultParameters; a receipt only where M-PESA had made a transaction."""
        sim = self._sim
        now = sim.clock.now()
        transaction_id = sim.ids.receipt(now) if code in wire.FAILURES_WITH_RECEIPT else iw.no_transaction_id(now)
        body = wire.render_failure(self._conversation(request), code, transaction_id, style=sim.initiator.style)
        return Outcome(code, body, counterpart=str(payload.get("PartyB", "")) or None)

    def answer(self, request: InitiatorRequest, payload: dict[str, Any], forced: int | str | None) -> Outcome:
        sim = self._sim
        # Checked when it was accepted: parsed again for its typed values.
        parsed = wire.parse_b2c(payload, version=1 if request.api == "b2c_v1" else 3, pochi=request.api == "pochi")
        if forced is not None and forced not in (0, "0"):
            return self.failure(request, payload, forced)
        amount, recipient = parsed.amount, parsed.party_b
        code = wire.amount_result_code(amount)
        if code is not None:
            return self.failure(request, payload, code)
        handset = sim.handset(recipient)
        if handset is None and sim.settings.b2c_unknown_msisdn == "provision":
            handset = sim.provision(recipient)
        if handset is None:
            return self.failure(request, payload, iw.UNREGISTERED_CUSTOMER)
        now = sim.clock.now()
        debit, credit = (request.shortcode, UTILITY), handset_account(recipient)
        if not sim.ledger.has(debit):
            return self.failure(request, payload, iw.PRODUCT_NOT_PERMITTED)  # a till has no Utility account
        refusal = sim.ledger.refusal(debit, credit, amount * 100, now)
        if refusal is not None:
            code = {
                "insufficient": sim.settings.b2c_insufficient_code,
                "max_balance": iw.MAX_BALANCE,
                "too_large": iw.ABOVE_MAXIMUM,
            }.get(refusal.rule, iw.SYSTEM_ERROR)
            return self.failure(request, payload, code)
        receipt = sim.new_receipt(now)
        merchant = sim.merchant(request.shortcode)
        assert merchant is not None  # accepted requests name a configured organisation
        sim.ledger.pay(debit, credit, amount * 100, now, receipt, f"{parsed.command_id} {request.conversation_id}")
        balance_after = sim.ledger.current(credit)
        message = sim.store.add_message(
            recipient,
            MPESA_SENDER,
            b2c_received_sms(
                receipt,
                amount,
                merchant.name,
                merchant.shortcode,
                now,
                balance_after,
                promotion=parsed.command_id == wire.PROMOTION_PAYMENT,
            ),
            now,
        )
        payout = wire.B2CPayout(
            amount=amount,
            receipt=receipt,
            recipient_msisdn=recipient,
            recipient_name=handset.name,
            completed_at=now,
            utility_balance=_kes(sim.ledger.current(debit)),
            working_balance=_kes(sim.ledger.current((request.shortcode, WORKING))),
            charges_paid_balance=_kes(sim.ledger.current((request.shortcode, CHARGES_PAID))),
        )
        body = wire.render_success(
            self._conversation(request),
            payout,
            style=sim.initiator.style,
            legacy_order=sim.settings.b2c_legacy_order,
        )
        return Outcome(0, body, receipt, recipient, amount, then=[lambda: sim.announce_sms(message)])


def _kes(cents: int) -> Decimal:
    return jsontext.from_cents(cents)
