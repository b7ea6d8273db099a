"""Account Balance on the wire (spec §14): the query and its Result.

The ack is ``initiator_wire.render_ack`` with ``InitiatorApi.ACCOUNT_BALANCE`` (its description has
no period). The Result's ``TransactionID`` is always the zero-padded date code.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator

from ...clock import wire_timestamp
from .. import checks
from ..initiator_wire import (
    ACCOUNT_BALANCE_RESULTS,
    CHARGES_PAID,
    DEFAULT_STYLE,
    IDENTIFIER_SHORTCODE,
    IDENTIFIER_TILL,
    MERCHANT,
    ORGANIZATION_SETTLEMENT,
    UTILITY,
    WORKING,
    AccountLine,
    Conversation,
    InitiatorRequest,
    Param,
    ResultStyle,
    accounts_text,
    no_transaction_id,
    queue_timeout_reference,
    render_result,
)
from ..jsontext import ZERO

COMMAND_ID = "AccountBalance"
IDENTIFIER_TYPES = (IDENTIFIER_TILL, IDENTIFIER_SHORTCODE)  # the docs say 4; a till is 2 (inferred)

ShortcodeKind = Literal["b2c", "paybill", "till"]

ACCOUNTS_BY_KIND: dict[ShortcodeKind, tuple[str, ...]] = {
    "b2c": (WORKING, UTILITY, CHARGES_PAID),
    "paybill": (WORKING, UTILITY, CHARGES_PAID, ORGANIZATION_SETTLEMENT),
    # The docs table's order, as server/ledger.py has it. No real till result was found: the 2026
    # five-account result writes Merchant after Charges Paid, so the wire order may differ.
    "till": (MERCHANT, WORKING, CHARGES_PAID),
}
"""Which accounts a shortcode of each kind has, in the order they are written (D-AB table, §14)."""


class BalanceRequest(InitiatorRequest):
    """``POST /mpesa/accountbalance/v1/query``."""

    COMMANDS = (COMMAND_ID,)

    party_a: str = Field(alias="PartyA")
    identifier_type: str = Field(alias="IdentifierType")
    remarks: str = Field(alias="Remarks")
    queue_timeout_url: str = Field(alias="QueueTimeOutURL")
    result_url: str = Field(alias="ResultURL")

    @field_validator("party_a", mode="before")
    @classmethod
    def _party_a(cls, value: Any) -> str:
        return checks.shortcode(value, "PartyA")

    @field_validator("identifier_type", mode="before")
    @classmethod
    def _identifier(cls, value: Any) -> str:
        return checks.identifier_type(value, "IdentifierType", IDENTIFIER_TYPES)


def parse_balance(payload: Any) -> BalanceRequest:
    """The Account Balance query in ``payload``, or ``WireError``."""
    return checks.parse(BalanceRequest, payload)


# --- the Result --------------------------------------------------------------------------------
def account_lines(kind: ShortcodeKind, balances: Mapping[str, Decimal | AccountLine]) -> list[AccountLine]:
    """The accounts a shortcode of ``kind`` reports, in ``ACCOUNTS_BY_KIND`` order.

    ``balances`` maps an account name (``initiator_wire.UTILITY`` …) to its balance, or to a full
    ``AccountLine`` when available, reserved or uncleared differ from it. Accounts it lacks show 0.00.
    """
    lines = []
    for name in ACCOUNTS_BY_KIND[kind]:
        entry = balances.get(name, ZERO)
        lines.append(entry if isinstance(entry, AccountLine) else AccountLine(name, entry))
    return lines


def result_parameters(lines: list[AccountLine], *, completed_at: float, action_type: bool = True) -> list[Param]:
    """``ActionType`` (new in 2026; ``action_type`` False drops it), ``AccountBalance``, ``BOCompletedTime`` (a number)."""
    parameters = [Param("ActionType", COMMAND_ID)] if action_type else []
    parameters.append(Param("AccountBalance", accounts_text(lines)))
    parameters.append(Param("BOCompletedTime", int(wire_timestamp(completed_at))))
    return parameters


def render_success(
    conversation: Conversation,
    lines: list[AccountLine],
    *,
    now: float,
    style: ResultStyle = DEFAULT_STYLE,
    action_type: bool = True,
) -> str:
    """The Result of a balance query; ``now`` is the completion time and dates the TransactionID."""
    return render_result(
        conversation,
        code=0,
        transaction_id=no_transaction_id(now),
        parameters=result_parameters(lines, completed_at=now, action_type=action_type),
        reference=queue_timeout_reference(ACCOUNT_BALANCE_RESULTS, style),
        style=style,
    )


def render_failure(
    conversation: Conversation, code: int | str, *, now: float, style: ResultStyle = DEFAULT_STYLE
) -> str:
    """The Result of a failed balance query (2001, 8006, …): no ``ResultParameters`` key."""
    if code in (0, "0"):
        raise ValueError("render_failure is for failures; a success is render_success")
    return render_result(
        conversation,
        code=code,
        transaction_id=no_transaction_id(now),
        parameters=None,
        reference=queue_timeout_reference(ACCOUNT_BALANCE_RESULTS, style),
        style=style,
    )
