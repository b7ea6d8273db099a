"""The phone's own M-PESA menu (spec §17): what a customer starts from the handset, not from an app.

Send Money moves money from one phone to another (both get their SMS; no merchant is called).
Lipa na M-PESA pays a paybill (Pay Bill) or a till (Buy Goods and Services) as a C2B payment,
through the same path as ``POST /simulator/c2b/payments``: M-PESA's checks, the merchant's
validation, the money, the SMS and the confirmation. My Account's Check Balance answers with an
SMS. Every action asks for the M-PESA PIN first; a wrong one counts towards the same lock as a
wrong PIN on an STK prompt (three in a row, spec §4 ``8006``).
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import TYPE_CHECKING

from ..customer_texts import balance_sms, money_received_sms, money_sent_sms
from ..daraja.catalogue import BUY_GOODS, MAX_AMOUNT, PAYBILL, WRONG_PINS_BEFORE_LOCK
from ..errors import Conflict, InvalidInput, NotFound
from ..events import HandsetChanged, MoneySent
from ..ledger import handset_account
from ..models import C2BPaymentRecord, Handset, Merchant, Message, Transfer
from ..settings import MSISDN_PATTERN
from .c2b.flow import MPESA_SENDER

if TYPE_CHECKING:
    from ..simulator import Simulator


class WrongPin(InvalidInput):
    """The PIN typed in the menu is not the handset's (the words say how many tries are left)."""


class PhoneMenu:
    """The actions of the M-PESA menu, for one emulator."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    # --- Lipa na M-PESA ------------------------------------------------------------------------
    async def pay_bill(self, msisdn: str, pin: str, business_no: str, account: str, amount: str) -> C2BPaymentRecord:
        """Pay Bill: business no., account no., amount, PIN, OK."""
        merchant, kes = self._organisation(business_no, till=False), _whole_kes(amount)
        self._check_pin(msisdn, pin)
        return await self._sim.c2b.customer_pays(msisdn, merchant.shortcode, kes, account.strip(), PAYBILL, via="menu")

    async def buy_goods(self, msisdn: str, pin: str, till_no: str, amount: str) -> C2BPaymentRecord:
        """Buy Goods and Services: till no., amount, PIN, OK."""
        merchant, kes = self._organisation(till_no, till=True), _whole_kes(amount)
        self._check_pin(msisdn, pin)
        return await self._sim.c2b.customer_pays(msisdn, merchant.shortcode, kes, "", BUY_GOODS, via="menu")

    def payee_name(self, number: str, till: bool = False) -> str | None:
        """The registered name the confirm screen shows for a business number (or, with ``till``, a
        till number); None when no organisation of that kind has it."""
        try:
            return self._organisation(number, till).name
        except NotFound:
            return None

    def _organisation(self, number: str, till: bool) -> Merchant:
        merchant = self._sim.merchant(number.strip())
        if merchant is None or (merchant.kind == "till") != till:
            kind = "till" if till else "Pay Bill business"
            raise NotFound(f"{number.strip() or 'that'} is not a {kind} number here")
        return merchant

    # --- Send Money -------------------------------------------------------------------------------
    def recipient(self, number: str) -> Handset | None:
        """The customer a number reaches (``07...``, ``2547...`` or ``+2547...``), for the
        confirm screen's name (Hakikisha); None when no phone here has it."""
        msisdn = customer_msisdn(number)
        return self._sim.handset(msisdn) if msisdn else None

    def send_money(self, msisdn: str, pin: str | None, to: str, amount: str | int) -> Transfer:
        """Send Money: phone no., amount, PIN, OK. The money moves phone to phone at once; both get
        an SMS; no merchant is called. ``pin`` None skips the PIN (the control API's own send)."""
        sim = self._sim
        sender = sim.handset(msisdn)
        if sender is None:
            raise NotFound(f"no handset {msisdn}")
        target = customer_msisdn(to)
        if target is None:
            raise InvalidInput(f"{to!r} is not a Kenyan mobile number (07XXXXXXXX or 2547XXXXXXXX)")
        if target == msisdn:
            raise InvalidInput("M-PESA does not send money to the number it comes from")
        cents = (_whole_kes(amount) if isinstance(amount, str) else _checked_kes(amount)) * 100
        if pin is not None:
            self._check_pin(msisdn, pin)
        elif not sender.online:
            raise Conflict("the phone is off the network: M-PESA cannot be reached")
        recipient = sim.handset(target) or sim.provision(target)
        if recipient is None:
            raise NotFound(f"{to} is not an M-PESA customer here")
        now = sim.clock.now()
        refusal = sim.ledger.refusal(handset_account(msisdn), handset_account(target), cents, now)
        if refusal is not None:
            raise Conflict(f"M-PESA declined the transfer: {refusal.words}")
        receipt = sim.new_receipt(now)
        with sim.store.atomic():
            sim.ledger.pay(handset_account(msisdn), handset_account(target), cents, now, receipt, "send money")
            sent = sim.store.add_message(
                msisdn,
                MPESA_SENDER,
                money_sent_sms(
                    receipt,
                    cents,
                    recipient.name,
                    target,
                    now,
                    sim.ledger.current(handset_account(msisdn)),
                    sim.ledger.remaining_today(msisdn, now),
                ),
                now,
            )
            received = sim.store.add_message(
                target,
                MPESA_SENDER,
                money_received_sms(
                    receipt, cents, sender.name, msisdn, now, sim.ledger.current(handset_account(target))
                ),
                now,
            )
        transfer = Transfer(receipt, msisdn, target, cents // 100, now)
        sim.bus.publish(MoneySent(at=now, transfer=transfer))
        sim.announce_sms(sent)
        sim.announce_sms(received)
        return transfer

    # --- My Account -------------------------------------------------------------------------------
    def check_balance(self, msisdn: str, pin: str) -> Message:
        """Check Balance: the PIN, then the balance by SMS."""
        sim = self._sim
        self._check_pin(msisdn, pin)
        now = sim.clock.now()
        text = balance_sms(now, sim.ledger.current(handset_account(msisdn)), sim.ledger.remaining_today(msisdn, now))
        message = sim.store.add_message(msisdn, MPESA_SENDER, text, now)
        sim.announce_sms(message)
        return message

    # --- the PIN ------------------------------------------------------------------------------------
    def _check_pin(self, msisdn: str, pin: str) -> Handset:
        sim = self._sim
        handset = sim.handset(msisdn)
        if handset is None:
            raise NotFound(f"no handset {msisdn}")
        if not handset.online:
            raise Conflict("the phone is off the network: M-PESA cannot be reached")
        if handset.pin_locked:
            raise Conflict("the M-PESA PIN is locked after three wrong PINs: unlock it first (u)")
        if hmac.compare_digest(pin.encode(), handset.pin.encode()):
            if handset.wrong_pins:
                self._save_pin_state(handset, 0, False)
            return handset
        wrong = handset.wrong_pins + 1
        locked = wrong >= WRONG_PINS_BEFORE_LOCK
        self._save_pin_state(handset, wrong, locked)
        if locked:
            raise WrongPin("wrong PIN: the M-PESA PIN is now locked (three wrong PINs in a row)")
        left = WRONG_PINS_BEFORE_LOCK - wrong
        raise WrongPin(f"wrong PIN: {left} {'try' if left == 1 else 'tries'} left before the PIN locks")

    def _save_pin_state(self, handset: Handset, wrong: int, locked: bool) -> None:
        sim = self._sim
        sim.store.save_handset(replace(handset, wrong_pins=wrong, pin_locked=locked))
        handset.wrong_pins, handset.pin_locked = wrong, locked
        sim.bus.publish(HandsetChanged(at=sim.clock.now(), handset=handset))


def _whole_kes(text: str) -> int:
    """An amount typed on the phone's keypad: whole shillings."""
    cleaned = text.strip().replace(",", "")
    if not cleaned.isdigit() or not cleaned.isascii():
        raise InvalidInput("enter the amount in whole shillings, digits only")
    return _checked_kes(int(cleaned))


def _checked_kes(amount: object) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_AMOUNT:
        raise InvalidInput(f"amount must be a whole number of KES from 1 to {MAX_AMOUNT}")
    return amount


# A recipient's number as scripts give it (the control API): 07XXXXXXXX, 2547XXXXXXXX or +2547XXXXXXXX
# (and 01..., 2541...). The menu also takes the spaces a person types (``0712 345 678``).
RECIPIENT_PATTERN = r"^(?:\+?254|0)[17][0-9]{8}$"


def customer_msisdn(number: str) -> str | None:
    """A phone number as a customer types it (``0712 345 678``, ``+254712345678``), as an MSISDN."""
    digits = number.strip().replace(" ", "").removeprefix("+")
    if len(digits) == 10 and digits.startswith("0"):
        digits = f"254{digits[1:]}"
    return digits if MSISDN_PATTERN.fullmatch(digits) else None
