"""How the phones write numbers, money and outcomes: presentation only, no rules.

The engine decides what happened (ResultCode); these helpers decide how a
customer's phone puts it into words. Keeping them here lets widgets, screens
and tests share one spelling.
"""

from __future__ import annotations

from server.clock import eat
from server.customer_texts import money
from server.daraja.catalogue import INSUFFICIENT_FUNDS, RESULT_DESCRIPTIONS, WRONG_PIN
from server.models import Transaction
from server.rules import CallbackPlan


def phone_number(msisdn: str) -> str:
    """``254708374149`` as a person reads it: ``+254 708 374 149``."""
    if len(msisdn) == 12 and msisdn.isdigit():
        return f"+{msisdn[:3]} {msisdn[3:6]} {msisdn[6:9]} {msisdn[9:]}"
    return msisdn


def ksh(cents: int) -> str:
    """An amount in cents as the phones write money everywhere: ``Ksh1,500.00``, as M-PESA's SMS do."""
    return f"Ksh{money(cents)}"


def ksh_whole(kes: int) -> str:
    """A whole-shilling amount (a transaction's ``Amount``) in the same spelling: ``Ksh1,500.00``."""
    return ksh(kes * 100)


def clock_face(moment: float) -> str:
    """The time in a phone's status bar (Nairobi time, 24-hour)."""
    return f"{eat(moment):%H:%M}"


def sms_stamp(moment: float) -> str:
    """When an SMS arrived, as an inbox lists it."""
    return f"{eat(moment):%d/%m/%y %H:%M}"


def countdown(seconds_left: float) -> str:
    """Time left on a prompt, never negative, rounded up so 0 means gone."""
    whole = max(0, int(-(-seconds_left // 1)))
    return f"{whole // 60}:{whole % 60:02d}"


def outcome_notice(txn: Transaction) -> str | None:
    """The message the phone shows after a failed answer, or None when it shows nothing.

    Success is told by the confirmation SMS, a cancel or a timeout by the
    prompt simply going away, as on a real handset.
    """
    code = txn.wire_result_code
    amount = ksh_whole(txn.amount)
    payee = txn.merchant_name.upper()
    if code == WRONG_PIN:
        return f"Wrong PIN. You entered the wrong M-PESA PIN. {amount} to {payee} was not paid."
    if code == INSUFFICIENT_FUNDS:
        return f"Failed. You do not have enough money in your M-PESA account to pay {amount} to {payee}."
    return None


def plan_words(plan: CallbackPlan, late_delay: float) -> str:
    """A callback plan as the prompt and the plan dialog name it."""
    if plan.mode == "delay":
        return f"delay {plan.seconds:g} s"
    if plan.mode == "late":
        return f"late (after {late_delay:g} s)"
    if plan.mode == "duplicate":
        return f"duplicate ×{plan.copies}"
    return plan.mode


def settled_plan_note(txn: Transaction, late_delay: float | None = None) -> str | None:
    """What a settled transaction's callback plan did, when it was not a plain delivery.

    A dropped callback leaves no attempt behind, so without this line a drop would look like a
    callback that got lost; the log says it was meant.
    """
    if not txn.callback_plan:
        return None
    plan = CallbackPlan.model_validate_json(txn.callback_plan)
    if plan.mode == "normal":
        return None
    if plan.mode == "drop":
        return "callback dropped on purpose (plan: drop)"
    if plan.mode == "late" and late_delay is None:
        return "callback plan: late"
    return f"callback plan: {plan_words(plan, late_delay or 0)}"


def result_code_label(code: int | str) -> str:
    """A result code as the picker lists it: the code, then its exact ResultDesc."""
    return f"{code}: {RESULT_DESCRIPTIONS[code]}"
