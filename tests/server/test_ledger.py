"""The ledger: every movement of money is a posting between two accounts, limits in one place.

Over real HTTP: a paid STK push moves the amount from the phone's M-PESA account to the
account payments reach (a paybill's Utility account, a till's Merchant account), with one
posting carrying the receipt; a balance set by hand is a posting against the world; a
phone cannot pay more than the daily limit; and every balance, in memory and on disk, is
what its postings add up to.
"""

from __future__ import annotations

import httpx
import pytest

from server.daraja.catalogue import BUY_GOODS
from server.ledger import WORLD, Refusal, handset_account
from server.runner import Emulator
from tests.daraja_client import Daraja, password
from tests.receiver import CallbackReceiver

WANJIKU = "254708374149"
TILL = {"shortcode": "600100", "passkey": "till-passkey", "name": "Mama Mboga", "kind": "till"}
SANDBOX = {
    "shortcode": "174379",
    "passkey": "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
    "name": "Daraja-Sandbox",
}


async def _pay(daraja: Daraja, http: httpx.AsyncClient, receiver: CallbackReceiver, **overrides: object) -> dict:
    pushed = await daraja.push(receiver.url, **overrides)
    assert pushed.status_code == 200, pushed.text
    checkout = pushed.json()["CheckoutRequestID"]
    answer = await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("settings_overrides", [{"merchants": [SANDBOX, TILL]}])
async def test_a_payment_is_one_posting_from_the_phone_to_the_receiving_account(
    emulator: Emulator,
    daraja: Daraja,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
) -> None:
    ledger = emulator.simulator.ledger
    before = ledger.in_circulation()
    paybill = await _pay(daraja, http, receiver, Amount=250)
    till = await _pay(
        daraja,
        http,
        receiver,
        Amount=70,
        BusinessShortCode=600100,
        PartyB=600100,
        TransactionType=BUY_GOODS,
        Password=password("600100", "till-passkey"),
    )
    assert ledger.balance(handset_account(WANJIKU)) == 1_000_000 - 32_000
    assert ledger.balance(("174379", "utility")) == 25_000
    assert ledger.balance(("600100", "merchant")) == 7_000
    assert ledger.in_circulation() == before  # payments move money, they never make any
    for txn, debit, credit, cents in ((paybill, WANJIKU, "174379", 25_000), (till, WANJIKU, "600100", 7_000)):
        [posting] = emulator.simulator.store.postings(txn["receipt"])
        assert posting[2:7] == (debit, "mpesa", credit, "utility" if credit == "174379" else "merchant", cents)
    merchants = {m["shortcode"]: m for m in (await http.get("/simulator/merchants")).json()["merchants"]}
    assert merchants["174379"]["accounts"] == {
        "working": 0.0,
        "utility": 250.0,
        "charges_paid": 0.0,
        "organization_settlement": 0.0,
    }
    assert merchants["600100"]["accounts"] == {"merchant": 70.0, "working": 0.0, "charges_paid": 0.0}
    assert merchants["600100"]["balance"] == 70.0
    assert ledger.audit() == []


async def test_a_balance_set_by_hand_comes_from_the_world(
    emulator: Emulator,
    http: httpx.AsyncClient,
) -> None:
    ledger = emulator.simulator.ledger
    before = ledger.in_circulation()
    assert (await http.patch(f"/simulator/handsets/{WANJIKU}", json={"balance": 12_500})).status_code == 200
    assert ledger.balance(handset_account(WANJIKU)) == 1_250_000
    assert ledger.in_circulation() == before + 250_000
    assert ledger.balance(WORLD) == -ledger.in_circulation()
    assert (await http.patch(f"/simulator/handsets/{WANJIKU}", json={"balance": 0})).status_code == 200
    assert ledger.balance(handset_account(WANJIKU)) == 0
    assert ledger.audit() == []


async def test_the_daily_limit_is_the_ledgers(
    emulator: Emulator,
    daraja: Daraja,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
) -> None:
    await http.patch(f"/simulator/handsets/{WANJIKU}", json={"balance": 500_000})
    assert (await _pay(daraja, http, receiver, Amount=250_000))["result_code"] == 0
    assert (await _pay(daraja, http, receiver, Amount=250_000))["result_code"] == 0
    await http.patch(f"/simulator/handsets/{WANJIKU}", json={"balance": 500_000})
    refused = await _pay(daraja, http, receiver, Amount=1)
    assert refused["result_code"] == 17  # STK has no daily-limit code: "Rule limited."
    assert emulator.simulator.ledger.remaining_today(WANJIKU, emulator.simulator.clock.now()) == 0
    # The next day the limit starts again.
    emulator.simulator.clock.advance(24 * 3600)
    await daraja.token()  # yesterday's token has expired
    assert (await _pay(daraja, http, receiver, Amount=1))["result_code"] == 0


def _rule(refusal: Refusal | None) -> str | None:
    return None if refusal is None else refusal.rule


def test_the_limits_are_checked_in_one_place(emulator: Emulator) -> None:
    ledger, now = emulator.simulator.ledger, emulator.simulator.clock.now()
    phone = handset_account(WANJIKU)
    assert ledger.refusal(phone, ("174379", "utility"), 1_000_001, now) == Refusal(
        "insufficient", "the balance, Ksh10,000.00, is less than Ksh10,000.01"
    )
    assert _rule(ledger.refusal(phone, ("174379", "utility"), 25_000_001, now)) == "too_large"
    assert _rule(ledger.refusal(("174379", "utility"), phone, 1, now)) == "insufficient"
    assert ledger.refusal(("174379", "charges_paid"), phone, 1, now) is None  # it may go below zero
    ledger.set_balance(phone, 45_000_000, now)
    assert _rule(ledger.refusal(WORLD, phone, 5_000_001, now)) == "max_balance"
    assert ledger.refusal(WORLD, phone, 5_000_000, now) is None
