"""Reversal on the wire (spec §15): the request and its Result.

The request key is Safaricom's misspelling ``RecieverIdentifierType``, and it is required: a
request that spells it correctly is refused with ``Bad Request - Invalid RecieverIdentifierType``.
The ack is ``initiator_wire.render_ack`` with ``InitiatorApi.REVERSAL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import AliasChoices, Field, field_validator

from ...clock import wire_timestamp
from .. import checks
from ..initiator_wire import (
    ALREADY_REVERSED,
    DEFAULT_STYLE,
    IDENTIFIER_MSISDN,
    IDENTIFIER_REVERSAL_DOCS,
    IDENTIFIER_SHORTCODE,
    IDENTIFIER_TILL,
    ORIGINAL_INVALID,
    REVERSAL_RESULTS,
    AccountLine,
    Conversation,
    InitiatorRequest,
    Param,
    ResultStyle,
    queue_timeout_reference,
    render_result,
)
from ..jsontext import ZERO, money

COMMAND_ID = "TransactionReversal"
IDENTIFIER_TYPES = (IDENTIFIER_MSISDN, IDENTIFIER_TILL, IDENTIFIER_SHORTCODE, IDENTIFIER_REVERSAL_DOCS)

FAILURE_CODES = (ALREADY_REVERSED, ORIGINAL_INVALID)  # the Reversal-only ones; the rest are §19's


class ReversalRequest(InitiatorRequest):
    """``POST /mpesa/reversal/v1/request``: reverse a payment into the caller's shortcode."""

    COMMANDS = (COMMAND_ID,)

    transaction_id: str = Field(alias="TransactionID")
    amount: int = Field(alias="Amount")
    receiver_party: str = Field(alias="ReceiverParty")
    reciever_identifier_type: str = Field(alias="RecieverIdentifierType")  # sic, and required
    result_url: str = Field(alias="ResultURL")
    queue_timeout_url: str = Field(alias="QueueTimeOutURL")
    remarks: str = Field(alias="Remarks")
    occasion: str | None = Field(default=None, validation_alias=AliasChoices("Occasion", "Occassion"))

    @field_validator("transaction_id", mode="before")
    @classmethod
    def _transaction(cls, value: Any) -> str:
        return checks.receipt_number(value, "TransactionID")

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> int:
        amount = checks.whole_amount(value, "Amount")
        if amount < 1:
            raise ValueError("Amount must be at least 1 KES")
        return amount

    @field_validator("receiver_party", mode="before")
    @classmethod
    def _receiver(cls, value: Any) -> str:
        return checks.shortcode(value, "ReceiverParty")

    @field_validator("reciever_identifier_type", mode="before")
    @classmethod
    def _identifier(cls, value: Any) -> str:
        return checks.identifier_type(value, "RecieverIdentifierType", IDENTIFIER_TYPES)


def parse_reversal(payload: Any) -> ReversalRequest:
    """The reversal request in ``payload``, or ``WireError``."""
    return checks.parse(ReversalRequest, payload)


# --- the Result --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reversed:
    """A completed reversal, for its Result.

    ``debit_account`` is the caller's account the money left, after the reversal (normally its
    Utility account); the public names are ``"<number> - <NAME>"``.
    """

    receipt: str
    original_receipt: str
    amount: Decimal
    completed_at: float
    debit_account: AccountLine
    credit_party_public_name: str
    debit_party_public_name: str
    charge: Decimal = ZERO


def result_parameters(done: Reversed) -> list[Param]:
    """The 7 success parameters in the docs' order (§15)."""
    return [
        Param("DebitAccountBalance", done.debit_account.wire()),
        Param("Amount", money(done.amount)),
        Param("TransCompletedTime", int(wire_timestamp(done.completed_at))),
        Param("OriginalTransactionID", done.original_receipt),
        Param("Charge", money(done.charge)),
        Param("CreditPartyPublicName", done.credit_party_public_name),
        Param("DebitPartyPublicName", done.debit_party_public_name),
    ]


def render_success(conversation: Conversation, done: Reversed, *, style: ResultStyle = DEFAULT_STYLE) -> str:
    """The Result of a completed reversal: its new receipt as TransactionID."""
    return render_result(
        conversation,
        code=0,
        transaction_id=done.receipt,
        parameters=result_parameters(done),
        reference=queue_timeout_reference(REVERSAL_RESULTS, style),
        style=style,
    )


def render_failure(
    conversation: Conversation, code: int | str, transaction_id: str, *, style: ResultStyle = DEFAULT_STYLE
) -> str:
    """The Result of a failed reversal: ``"R000001"``, ``"R000002"`` (with ``no_transaction_id``), or a §19 code."""
    if code in (0, "0"):
        raise ValueError("render_failure is for failures; a success is render_success")
    return render_result(
        conversation,
        code=code,
        transaction_id=transaction_id,
        parameters=None,
        reference=queue_timeout_reference(REVERSAL_RESULTS, style),
        style=style,
    )
