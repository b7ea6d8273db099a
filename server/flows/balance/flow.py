"""Account Balance: an organisation asks for its accounts; the Result lists them (spec §14)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from .. import initiator_wire as iw
from .. import jsontext
from ..initiator import Outcome
from . import wire

if TYPE_CHECKING:
    from ...models import InitiatorRequest
    from ...simulator import Simulator

# The ledger's account kinds, by the names Account Balance writes.
_NAMES = {
    "working": iw.WORKING,
    "utility": iw.UTILITY,
    "charges_paid": iw.CHARGES_PAID,
    "merchant": iw.MERCHANT,
    "organization_settlement": iw.ORGANIZATION_SETTLEMENT,
}


class AccountBalance:
    """The Account Balance flow."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def accept(self, payload: dict[str, Any]) -> str:
        request = wire.parse_balance(payload)
        return self._sim.initiator.accept(
            "balance",
            shortcode=request.party_a,
            initiator=request.initiator,
            payload=payload,
            result_url=request.result_url,
            queue_timeout_url=request.queue_timeout_url,
            originator_id=None,
            ack_api=iw.InitiatorApi.ACCOUNT_BALANCE,
        )

    def failure(self, request: InitiatorRequest, payload: dict[str, Any], code: int | str) -> Outcome:
        now = self._sim.clock.now()
        conversation = iw.Conversation(request.originator_id, request.conversation_id)
        return Outcome(code, wire.render_failure(conversation, code, now=now, style=self._sim.initiator.style))

    def answer(self, request: InitiatorRequest, payload: dict[str, Any], forced: int | str | None) -> Outcome:
        sim = self._sim
        if forced is not None and forced not in (0, "0"):
            return self.failure(request, payload, forced)
        merchant = sim.merchant(request.shortcode)
        assert merchant is not None  # accepted requests name a configured organisation
        balances = {
            _NAMES[kind]: jsontext.from_cents(cents) for kind, cents in merchant.accounts.items() if kind in _NAMES
        }
        now = sim.clock.now()
        lines = wire.account_lines(cast(wire.ShortcodeKind, merchant.kind), balances)  # the same three kinds
        conversation = iw.Conversation(request.originator_id, request.conversation_id)
        return Outcome(0, wire.render_success(conversation, lines, now=now, style=sim.initiator.style))
