"""Transaction Status: an organisation asks about a transaction it was party to (spec §13).

Found by its receipt (``TransactionID``) or by the OriginatorConversationID of the request that
made it (``OriginalConversationID``), among every flow's payments: STK, C2B, B2C and reversals.
A transaction the asking shortcode was not party to is not found (2033).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...daraja.catalogue import BUY_GOODS
from .. import initiator_wire as iw
from .. import jsontext
from ..initiator import Outcome
from . import wire

if TYPE_CHECKING:
    from ...models import InitiatorRequest
    from ...simulator import Simulator

BUY_GOODS_ONLINE = "Buy Goods Online"  # inferred: the spec gives only the paybill's ReasonType
B2C_REASON = "Business Payment to Customer via API"


@dataclass(frozen=True)
class Found:
    """A transaction as a status query sees it."""

    receipt: str
    amount_cents: int
    payer: str  # "<number> - <NAME>"
    payee: str
    parties: frozenset[str]  # the shortcodes and numbers on either side
    originator_id: str
    conversation_id: str
    initiated_at: float
    finalised_at: float
    reason_type: str
    debit_account_type: str
    charges: iw.Param = wire.NO_CREDIT_PARTY_CHARGES


class TransactionStatus:
    """The Transaction Status flow."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def accept(self, payload: dict[str, Any]) -> str:
        request = wire.parse_status(payload)
        return self._sim.initiator.accept(
            "status",
            shortcode=request.party_a,
            initiator=request.initiator,
            payload=payload,
            result_url=request.result_url,
            queue_timeout_url=request.queue_timeout_url,
            originator_id=None,
            ack_api=iw.InitiatorApi.TRANSACTION_STATUS,
        )

    def failure(self, request: InitiatorRequest, payload: dict[str, Any], code: int | str) -> Outcome:
        sim = self._sim
        conversation = iw.Conversation(request.originator_id, request.conversation_id)
        occasion = payload.get("Occasion") if isinstance(payload.get("Occasion"), str) else None
        body = wire.render_failure(
            conversation, code, now=sim.clock.now(), occasion=occasion, style=sim.initiator.style
        )
        return Outcome(code, body)

    def answer(self, request: InitiatorRequest, payload: dict[str, Any], forced: int | str | None) -> Outcome:
        sim = self._sim
        if forced is not None and forced not in (0, "0"):
            return self.failure(request, payload, forced)
        parsed = wire.parse_status(payload)
        found = self.find(parsed.transaction_id, parsed.original_conversation_id)
        if found is None or request.shortcode not in found.parties:
            return self.failure(request, payload, iw.STATUS_NOT_FOUND)
        queried = wire.QueriedTransaction(
            debit_party_name=found.payer,
            credit_party_name=found.payee,
            originator_conversation_id=found.originator_id,
            conversation_id=found.conversation_id,
            initiated_at=found.initiated_at,
            finalised_at=found.finalised_at,
            amount=jsontext.from_cents(found.amount_cents),
            receipt=found.receipt,
            reason_type=found.reason_type,
            debit_account_type=found.debit_account_type,
            charges=found.charges,
        )
        conversation = iw.Conversation(request.originator_id, request.conversation_id)
        body = wire.render_success(
            conversation, queried, now=sim.clock.now(), occasion=parsed.occasion, style=sim.initiator.style
        )
        return Outcome(0, body, found.receipt, amount=found.amount_cents // 100)

    def find(self, receipt: str | None, originator_id: str | None) -> Found | None:
        """The transaction with this receipt, or made by the request with this OriginatorConversationID."""
        sim = self._sim
        if receipt is None and originator_id is not None:
            made = sim.store.initiator_requests(originator_id=originator_id, limit=1)
            receipt = made[0].receipt if made else None
        if receipt is None:
            return None
        return self._stk(receipt) or self._c2b(receipt) or self._initiated(receipt)

    def _name(self, number: str) -> str:
        handset = self._sim.handset(number)
        merchant = self._sim.merchant(number)
        name = handset.name if handset else merchant.name if merchant else ""
        return wire.party_name(number, name.upper() if handset else name)

    def _stk(self, receipt: str) -> Found | None:
        sim = self._sim
        txn = next(iter(sim.store.transactions_by_receipt(receipt)), None)
        if txn is None:
            return None
        reason = BUY_GOODS_ONLINE if txn.transaction_type == BUY_GOODS else wire.PAY_BILL_ONLINE
        settled = txn.settled_at or txn.created_at
        return Found(
            receipt,
            txn.amount * 100,
            self._name(txn.msisdn),
            self._name(txn.shortcode),
            frozenset({txn.msisdn, txn.shortcode}),
            txn.merchant_request_id,
            sim.ids.conversation_id(settled),
            txn.created_at,
            settled,
            reason,
            wire.CUSTOMER_ACCOUNT,
        )

    def _c2b(self, receipt: str) -> Found | None:
        sim = self._sim
        payment = next((p for p in sim.store.c2b_payments_by_receipt(receipt) if p.status == "completed"), None)
        if payment is None:
            return None
        reason = BUY_GOODS_ONLINE if payment.command_id == BUY_GOODS else wire.PAY_BILL_ONLINE
        return Found(
            receipt,
            payment.amount * 100,
            self._name(payment.msisdn),
            self._name(payment.shortcode),
            frozenset({payment.msisdn, payment.shortcode}),
            sim.ids.originator_conversation_id(),
            sim.ids.conversation_id(payment.created_at),
            payment.created_at,
            payment.created_at,
            reason,
            wire.CUSTOMER_ACCOUNT,
        )

    def _initiated(self, receipt: str) -> Found | None:
        made = self._sim.store.initiator_requests(receipt=receipt, limit=1)
        request = made[0] if made else None
        if request is None or request.amount is None or request.counterpart is None:
            return None
        if request.api == "reversal":
            payer, payee = request.shortcode, request.counterpart
            reason, account = "Reversal", wire.UTILITY_ACCOUNT
        elif request.api in ("b2c", "b2c_v1", "pochi"):
            payer, payee = request.shortcode, request.counterpart
            reason, account = B2C_REASON, wire.UTILITY_ACCOUNT
        else:
            return None
        return Found(
            receipt,
            request.amount * 100,
            self._name(payer),
            self._name(payee),
            frozenset({payer, payee}),
            request.originator_id,
            request.conversation_id,
            request.created_at,
            request.due_at,
            reason,
            account,
            wire.b2c_fee(jsontext.from_cents(0)) if reason == B2C_REASON else wire.NO_CREDIT_PARTY_CHARGES,
        )
