"""Transaction Status on the wire (spec §13): the query and its Result.

The ack is ``initiator_wire.render_ack`` with ``InitiatorApi.TRANSACTION_STATUS``. The Result's
outer ids belong to the query; the queried transaction's own ids are parameters. Its
``TransactionID`` is always the zero-padded date code (a query is not a transaction), and its
``ReferenceItem`` echoes the request's ``Occasion``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator, model_validator

from ...clock import wire_timestamp
from ...daraja.catalogue import bad_request
from .. import checks
from ..initiator_wire import (
    DEFAULT_STYLE,
    IDENTIFIER_MSISDN,
    IDENTIFIER_SHORTCODE,
    IDENTIFIER_TILL,
    Conversation,
    InitiatorRequest,
    Param,
    ResultStyle,
    no_transaction_id,
    render_result,
)
from ..jsontext import money, money_text

COMMAND_ID = "TransactionStatusQuery"
IDENTIFIER_TYPES = (IDENTIFIER_MSISDN, IDENTIFIER_TILL, IDENTIFIER_SHORTCODE)
_SHORTCODE = re.compile(r"[0-9]{5,7}")
_MSISDN = re.compile(r"254[17][0-9]{8}")

# Values seen in ReasonType and DebitAccountType (§13).
PAY_BILL_ONLINE = "Pay Bill Online"
PAY_UTILITY_WITH_OD = "Pay Utility with OD Online"  # paid with a Fuliza overdraft
B2C_PAYMENT = "Business Payment to Customer via API"
CUSTOMER_ACCOUNT = "MMF Account For Customer"
UTILITY_ACCOUNT = "Utility Account"
COMPLETED = "Completed"
NO_CREDIT_PARTY_CHARGES = Param("CreditPartyCharges")  # a customer's payment: the item has no Value


class StatusRequest(InitiatorRequest):
    """``POST /mpesa/transactionstatus/v1/query``: by receipt (``TransactionID``) or by ``OriginalConversationID``.

    ``transaction_id`` and ``original_conversation_id`` are None when not given; at least one is.
    """

    COMMANDS = (COMMAND_ID,)

    transaction_id: str | None = Field(default=None, alias="TransactionID")
    original_conversation_id: str | None = Field(default=None, alias="OriginalConversationID")
    party_a: str = Field(alias="PartyA")
    identifier_type: str = Field(alias="IdentifierType")
    result_url: str = Field(alias="ResultURL")
    queue_timeout_url: str = Field(alias="QueueTimeOutURL")
    remarks: str = Field(alias="Remarks")
    occasion: str | None = Field(default=None, alias="Occasion")

    @field_validator("transaction_id", mode="before")
    @classmethod
    def _transaction(cls, value: Any) -> str | None:
        if value is None or value == "":
            return None
        return checks.receipt_number(value, "TransactionID")

    @field_validator("original_conversation_id", mode="before")
    @classmethod
    def _original(cls, value: Any) -> str | None:
        return checks.optional_text(value, "OriginalConversationID")

    @field_validator("party_a", mode="before")
    @classmethod
    def _party_a(cls, value: Any) -> str:
        # A shortcode, or an MSISDN with IdentifierType 1 (some clients query that way).
        code = checks.digits(value, "PartyA")
        if not (_SHORTCODE.fullmatch(code) or _MSISDN.fullmatch(code)):
            raise ValueError(
                f"PartyA must be a shortcode of 5 to 7 digits or an MSISDN like 2547XXXXXXXX, got {code!r}"
            )
        return code

    @field_validator("identifier_type", mode="before")
    @classmethod
    def _identifier(cls, value: Any) -> str:
        return checks.identifier_type(value, "IdentifierType", IDENTIFIER_TYPES)

    @model_validator(mode="after")
    def _something_to_look_up(self) -> StatusRequest:
        if self.transaction_id is None and self.original_conversation_id is None:
            # Inferred: no capture of this case; the missing receipt is the natural field to name.
            raise checks.daraja_error(
                bad_request("TransactionID"), "give a TransactionID (receipt) or an OriginalConversationID to look up"
            )
        return self


def parse_status(payload: Any) -> StatusRequest:
    """The Transaction Status query in ``payload``, or ``WireError``."""
    return checks.parse(StatusRequest, payload)


# --- the Result --------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueriedTransaction:
    """The transaction a status query found, as its Result describes it.

    ``debit_party_name`` and ``credit_party_name`` are ``"<number> - <NAME>"`` (see ``party_name``);
    the payer's MSISDN is not masked here. ``charges`` is ``CreditPartyCharges`` with no value for a
    customer's payment, and ``b2c_fee`` for a B2C one.
    """

    debit_party_name: str
    credit_party_name: str
    originator_conversation_id: str
    conversation_id: str
    initiated_at: float
    finalised_at: float
    amount: Decimal
    receipt: str
    reason_type: str
    debit_account_type: str
    status: str = COMPLETED
    charges: Param = NO_CREDIT_PARTY_CHARGES
    transaction_reason: str | None = None


def party_name(number: str, name: str) -> str:
    """``254722810063 - SALIM RURU``: a party's number, then its registered name."""
    return f"{number} - {name}"


def b2c_fee(fee: Decimal) -> Param:
    """The ``DebitPartyCharges`` item a B2C transaction's status carries: ``Fee For B2C Payment|KES|22.40``."""
    return Param("DebitPartyCharges", f"Fee For B2C Payment|KES|{money_text(fee)}")


def occasion_reference(occasion: str | None) -> Param:
    """The ``ReferenceItem``: the request's Occasion, or an item with no Value when it sent none (§8.4)."""
    return Param("Occasion", occasion)


def result_parameters(queried: QueriedTransaction, *, string_values: bool = False) -> list[Param]:
    """The 13 parameters in the order of real 2024 traffic (§13).

    The times are numbers ``YYYYMMDDHHmmss`` and the amount a number with two decimals;
    ``string_values`` writes all three as strings, as the 2018 docs sample does.
    """
    initiated: str | int = wire_timestamp(queried.initiated_at)
    finalised: str | int = wire_timestamp(queried.finalised_at)
    amount: str | Decimal = _plain_amount(queried.amount)
    if not string_values:
        initiated, finalised, amount = int(initiated), int(finalised), money(queried.amount)
    return [
        Param("DebitPartyName", queried.debit_party_name),
        Param("CreditPartyName", queried.credit_party_name),
        Param("OriginatorConversationID", queried.originator_conversation_id),
        Param("InitiatedTime", initiated),
        queried.charges,
        Param("DebitAccountType", queried.debit_account_type),
        Param("TransactionReason", queried.transaction_reason),
        Param("ReasonType", queried.reason_type),
        Param("TransactionStatus", queried.status),
        Param("FinalisedTime", finalised),
        Param("Amount", amount),
        Param("ConversationID", queried.conversation_id),
        Param("ReceiptNo", queried.receipt),
    ]


def render_success(
    conversation: Conversation,
    queried: QueriedTransaction,
    *,
    now: float,
    occasion: str | None,
    style: ResultStyle = DEFAULT_STYLE,
    string_values: bool = False,
) -> str:
    """The Result of a query that found its transaction. ``now`` dates the zero-padded TransactionID."""
    return render_result(
        conversation,
        code=0,
        transaction_id=no_transaction_id(now),
        parameters=result_parameters(queried, string_values=string_values),
        reference=occasion_reference(occasion),
        style=style,
    )


def render_failure(
    conversation: Conversation,
    code: int | str,
    *,
    now: float,
    occasion: str | None,
    style: ResultStyle = DEFAULT_STYLE,
) -> str:
    """The Result of a failed query (2001, 8006, or 2033 for not found): no ``ResultParameters`` key."""
    if code in (0, "0"):
        raise ValueError("render_failure is for failures; a success is render_success")
    return render_result(
        conversation,
        code=code,
        transaction_id=no_transaction_id(now),
        parameters=None,
        reference=occasion_reference(occasion),
        style=style,
    )


def _plain_amount(amount: Decimal) -> str:
    """The 2018 string form of an amount: ``"300"`` when whole, else two decimals."""
    return str(int(amount)) if amount == amount.to_integral_value() else money_text(amount)
