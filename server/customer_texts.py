"""What the customer reads on the phone: the STK prompt and the M-PESA SMS (spec §6)."""

from __future__ import annotations

from .clock import eat
from .daraja.catalogue import BUY_GOODS


def money(cents: int) -> str:
    """``9,900.00`` style, as M-PESA writes amounts."""
    return f"{cents / 100:,.2f}"


def prompt_text(amount: int, merchant_name: str, account_reference: str, transaction_type: str) -> str:
    """The STK dialog text; BuyGoods prompts have no account number."""
    name = merchant_name.upper()
    if transaction_type == BUY_GOODS:
        return f"Do you want to pay Ksh{money(amount * 100)} to {name}? Enter M-PESA PIN"
    return f"Do you want to pay Ksh{money(amount * 100)} to {name} Account no. {account_reference}? Enter M-PESA PIN"


def _sms_moment(moment: float) -> tuple[str, str]:
    when = eat(moment)
    hour = when.hour % 12 or 12
    return f"{when.day}/{when.month}/{when:%y}", f"{hour}:{when:%M} {when:%p}"


def confirmation_sms(
    receipt: str,
    amount: int,
    merchant_name: str,
    account_reference: str,
    transaction_type: str,
    settled_at: float,
    balance_after_cents: int,
    can_transact_cents: int,
) -> str:
    """The confirmation SMS after a successful payment."""
    date, time = _sms_moment(settled_at)
    name = merchant_name.upper()
    tail = (
        f"New M-PESA balance is Ksh{money(balance_after_cents)}. Transaction cost, Ksh0.00. "
        f"Amount you can transact within the day is {money(can_transact_cents)}."
    )
    if transaction_type == BUY_GOODS:
        return f"{receipt} Confirmed. Ksh{money(amount * 100)} paid to {name}. on {date} at {time}.{tail}"
    return (
        f"{receipt} Confirmed. Ksh{money(amount * 100)} sent to {name} for account {account_reference} "
        f"on {date} at {time} {tail}"
    )


def b2c_received_sms(
    receipt: str,
    amount: int,
    org_name: str,
    shortcode: str,
    settled_at: float,
    balance_after_cents: int,
    promotion: bool = False,
) -> str:
    """The recipient's SMS for a B2C payment (spec §18): the organisation's name and shortcode, or,
    for a PromotionPayment, the congratulatory form."""
    date, time = _sms_moment(settled_at)
    balance = f"Ksh{money(balance_after_cents)}"
    footer = "Separate personal and business funds through Pochi la Biashara on *334#."
    if promotion:
        return (
            f"Congratulations! {receipt} confirmed.You have received Ksh{money(amount * 100)} from {org_name.upper()}. "
            f"on {date} at {time}.New M-PESA balance is {balance}. {footer}"
        )
    return (
        f"{receipt} Confirmed.You have received Ksh{money(amount * 100)} from {org_name.upper()} {shortcode} "
        f"on {date} at {time} New M-PESA balance is {balance}.  {footer}"
    )


def reversal_sms(receipt: str, original: str, amount: int, settled_at: float, balance_after_cents: int) -> str:
    """The customer's SMS when a payment of theirs is reversed (no real text is known: spec §18
    says so; this one is the emulator's own, in M-PESA's manner)."""
    date, time = _sms_moment(settled_at)
    return (
        f"{receipt} Confirmed. Transaction {original} has been reversed. Ksh{money(amount * 100)} is credited to "
        f"your M-PESA account on {date} at {time}. New M-PESA balance is Ksh{money(balance_after_cents)}."
    )


def balance_sms(at: float, balance_cents: int, can_transact_cents: int) -> str:
    """The answer to My Account > Check Balance. Emulator-made: no real message was found (spec §18
    lists none), so it says the facts in the words of the other M-PESA texts."""
    date, time = _sms_moment(at)
    return (
        f"Confirmed. Your M-PESA balance on {date} at {time} is Ksh{money(balance_cents)}. "
        f"Amount you can transact within the day is {money(can_transact_cents)}."
    )


def local_number(msisdn: str) -> str:
    """``254712345678`` as Send Money's SMS write it: ``0712345678``."""
    return f"0{msisdn[3:]}" if len(msisdn) == 12 and msisdn.startswith("254") else msisdn


def money_sent_sms(
    receipt: str,
    cents: int,
    recipient_name: str,
    recipient_msisdn: str,
    at: float,
    balance_after_cents: int,
    can_transact_cents: int,
) -> str:
    """Send Money, the sender's SMS (spec §18, with the daily line of the newer form, no promo)."""
    date, time = _sms_moment(at)
    return (
        f"{receipt} Confirmed. Ksh{money(cents)} sent to {recipient_name.upper()} {local_number(recipient_msisdn)} "
        f"on {date} at {time}. New M-PESA balance is Ksh{money(balance_after_cents)}. Transaction cost, Ksh0.00. "
        f"Amount you can transact within the day is {money(can_transact_cents)}."
    )


def money_received_sms(
    receipt: str, cents: int, sender_name: str, sender_msisdn: str, at: float, balance_after_cents: int
) -> str:
    """Send Money, the recipient's SMS (spec §18: ``Confirmed.You`` with no space, two spaces before ``New``)."""
    date, time = _sms_moment(at)
    return (
        f"{receipt} Confirmed.You have received Ksh{money(cents)} from {sender_name.upper()} "
        f"{local_number(sender_msisdn)} on {date} at {time}  New M-PESA balance is Ksh{money(balance_after_cents)}."
    )
