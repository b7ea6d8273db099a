"""B2C on the wire (spec §12): the payment request of v1, v3 and Business to Pochi, and its Result.

The ack is ``initiator_wire.render_ack`` with ``InitiatorApi.B2C`` (or ``POCHI``): ConversationID first.
The amount limits (10 to 250,000) are not request errors: they come back as Results 2 and 3 (§19),
so ``parse_b2c`` accepts any whole amount and ``amount_result_code`` says which Result it earns.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, ValidationInfo, field_validator

from ...clock import eat
from ...daraja.catalogue import GatewayError, bad_request
from .. import checks
from ..initiator_wire import (
    ABOVE_MAXIMUM,
    B2C_RESULTS,
    BELOW_MINIMUM,
    CREDENTIAL_LOCKED,
    DEFAULT_STYLE,
    INITIATOR_INVALID,
    RECEIVER_INVALID,
    Conversation,
    InitiatorTail,
    Param,
    ResultStyle,
    queue_timeout_reference,
    render_result,
)
from ..jsontext import money

BUSINESS_PAYMENT = "BusinessPayment"
SALARY_PAYMENT = "SalaryPayment"
PROMOTION_PAYMENT = "PromotionPayment"  # its SMS is the "congratulatory" one (§18)
POCHI_PAYMENT = "BusinessPayToPochi"
COMMAND_IDS = (BUSINESS_PAYMENT, SALARY_PAYMENT, PROMOTION_PAYMENT)

MIN_AMOUNT = 10
MAX_AMOUNT = 250_000
ORIGINATOR_ID_MAX = 100  # inferred: no limit is documented; this keeps a runaway value out of the store

WRONG_CONTENT_TYPE = bad_request("InitiatorName")
"""What a wrong Content-Type (or a wrong field name) earns on B2C (D-B2C FAQ 18)."""
INVALID_RESULT_URL = GatewayError(400, "400.002.02", "Invalid ResultURL")
"""A bad ResultURL on B2C, without the "Bad Request - " prefix (observed once, §12)."""

FAILURES_WITH_RECEIPT = frozenset({RECEIVER_INVALID, INITIATOR_INVALID, CREDENTIAL_LOCKED})
"""Failures found after a transaction was made: their Result carries a real receipt as TransactionID.
Every other failure carries ``initiator_wire.no_transaction_id`` (§8.4)."""


class B2CRequest(InitiatorTail):
    """``POST /mpesa/b2c/v3/paymentrequest``, ``/mpesa/b2c/v1/paymentrequest`` and ``/mpesa/b2pochi/v1/paymentrequest``.

    ``originator_conversation_id`` is the merchant's on v3 and Pochi, and None on v1 (Daraja makes
    one). ``occasion`` takes ``Occassion`` (sic, the docs) or ``Occasion``. IDType and IDNumber,
    sent by some production integrations, are ignored.
    """

    originator_conversation_id: str | None = Field(
        default=None, alias="OriginatorConversationID", validate_default=True
    )
    initiator_name: str = Field(alias="InitiatorName")
    security_credential: str = Field(alias="SecurityCredential")
    command_id: str = Field(alias="CommandID")
    amount: int = Field(alias="Amount")
    party_a: str = Field(alias="PartyA")
    party_b: str = Field(alias="PartyB")
    remarks: str = Field(alias="Remarks")
    queue_timeout_url: str = Field(alias="QueueTimeOutURL")
    result_url: str = Field(alias="ResultURL")
    occasion: str | None = Field(default=None, validation_alias=AliasChoices("Occassion", "Occasion"))

    OCCASION_NAME: ClassVar[str] = "Occassion"

    @field_validator("originator_conversation_id", mode="before")
    @classmethod
    def _originator(cls, value: Any, info: ValidationInfo) -> str | None:
        if (info.context or {}).get("version", 3) == 1:
            return None  # v1 has no such field: whatever was sent, Daraja makes its own
        if value is None:
            raise ValueError("OriginatorConversationID is required on B2C v3 and Business to Pochi")
        return checks.text(value, "OriginatorConversationID", max_len=ORIGINATOR_ID_MAX, numbers=True)

    @field_validator("initiator_name", mode="before")
    @classmethod
    def _initiator(cls, value: Any) -> str:
        return checks.text(value, "InitiatorName")

    @field_validator("security_credential", mode="before")
    @classmethod
    def _credential(cls, value: Any) -> str:
        # Only presence here: a wrong credential is an asynchronous 2001 (§8.2).
        return checks.text(value, "SecurityCredential", max_len=4096)

    @field_validator("command_id", mode="before")
    @classmethod
    def _command(cls, value: Any, info: ValidationInfo) -> str:
        pochi = (info.context or {}).get("pochi", False)
        return checks.one_of(value, "CommandID", (POCHI_PAYMENT,) if pochi else COMMAND_IDS)

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> int:
        return checks.whole_amount(value, "Amount")

    @field_validator("party_a", mode="before")
    @classmethod
    def _party_a(cls, value: Any) -> str:
        return checks.shortcode(value, "PartyA")

    @field_validator("party_b", mode="before")
    @classmethod
    def _party_b(cls, value: Any) -> str:
        return checks.msisdn(value, "PartyB")


def parse_b2c(
    payload: Any, *, version: Literal[1, 3] = 3, pochi: bool = False, result_url_quirk: bool = True
) -> B2CRequest:
    """The B2C (or, with ``pochi``, Business to Pochi) request in ``payload``, or ``WireError``.

    ``version`` 3 (and Pochi) requires OriginatorConversationID. ``result_url_quirk`` answers a bad
    ResultURL with ``Invalid ResultURL``, without the ``Bad Request - `` prefix (§12, observed once);
    off, it gets the usual ``Bad Request - Invalid ResultURL``.
    """
    return checks.parse(
        B2CRequest,
        payload,
        context={"version": 3 if pochi else version, "pochi": pochi},
        errors={"ResultURL": INVALID_RESULT_URL} if result_url_quirk else None,
    )


def amount_result_code(amount: int) -> int | None:
    """The Result an amount earns by itself: 2 below 10, 3 above 250,000, None within the limits (§12, §19)."""
    if amount < MIN_AMOUNT:
        return BELOW_MINIMUM
    if amount > MAX_AMOUNT:
        return ABOVE_MAXIMUM
    return None


# --- the Result --------------------------------------------------------------------------------
@dataclass(frozen=True)
class B2CPayout:
    """A completed B2C payment, for its Result.

    ``amount`` is whole KES, as requested (written as an integer); the balances are the paying
    shortcode's after the payment, as Decimals (``jsontext.from_cents`` from the ledger).
    """

    amount: int
    receipt: str
    recipient_msisdn: str
    recipient_name: str
    completed_at: float
    utility_balance: Decimal
    working_balance: Decimal
    charges_paid_balance: Decimal
    recipient_registered: bool = True


def public_name(msisdn: str, name: str, *, local: bool = False) -> str:
    """``ReceiverPartyPublicName``: ``254708374149 - John Doe``, or with ``local`` ``0708374149 - John Doe`` (§12)."""
    number = "0" + msisdn[3:] if local and msisdn.startswith("254") else msisdn
    return f"{number} - {name}"


def completed_time(moment: float) -> str:
    """``TransactionCompletedDateTime``: ``DD.MM.YYYY HH:mm:ss`` in EAT, a string (§12)."""
    return f"{eat(moment):%d.%m.%Y %H:%M:%S}"


def result_parameters(payout: B2CPayout, *, legacy_order: bool = False, local_public_name: bool = False) -> list[Param]:
    """The 8 success parameters, in the 2024-2026 order, or with ``legacy_order`` the 2019/2020 one (§12)."""
    amount = Param("TransactionAmount", payout.amount)
    receipt = Param("TransactionReceipt", payout.receipt)
    name = Param(
        "ReceiverPartyPublicName", public_name(payout.recipient_msisdn, payout.recipient_name, local=local_public_name)
    )
    completed = Param("TransactionCompletedDateTime", completed_time(payout.completed_at))
    utility = Param("B2CUtilityAccountAvailableFunds", money(payout.utility_balance))
    working = Param("B2CWorkingAccountAvailableFunds", money(payout.working_balance))
    registered = Param("B2CRecipientIsRegisteredCustomer", "Y" if payout.recipient_registered else "N")
    charges = Param("B2CChargesPaidAccountAvailableFunds", money(payout.charges_paid_balance))
    if legacy_order:
        return [amount, receipt, registered, charges, name, completed, utility, working]
    return [amount, receipt, name, completed, utility, working, registered, charges]


def render_success(
    conversation: Conversation,
    payout: B2CPayout,
    *,
    style: ResultStyle = DEFAULT_STYLE,
    legacy_order: bool = False,
    local_public_name: bool = False,
) -> str:
    """The Result of a completed payment: ResultCode 0, the receipt as TransactionID, 8 parameters."""
    return render_result(
        conversation,
        code=0,
        transaction_id=payout.receipt,
        parameters=result_parameters(payout, legacy_order=legacy_order, local_public_name=local_public_name),
        reference=queue_timeout_reference(B2C_RESULTS, style),
        style=style,
    )


def render_failure(
    conversation: Conversation, code: int | str, transaction_id: str, *, style: ResultStyle = DEFAULT_STYLE
) -> str:
    """The Result of a failed payment: no ``ResultParameters`` key (§12).

    ``transaction_id`` is a receipt for the codes in ``FAILURES_WITH_RECEIPT`` and
    ``no_transaction_id(now)`` for the rest.
    """
    if code in (0, "0"):
        raise ValueError("render_failure is for failures; a success is render_success")
    return render_result(
        conversation,
        code=code,
        transaction_id=transaction_id,
        parameters=None,
        reference=queue_timeout_reference(B2C_RESULTS, style),
        style=style,
    )
