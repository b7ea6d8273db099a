"""Send Money (spec §17, §18): one customer pays another from the phone's menu; over the control API
here (``POST /simulator/handsets/{msisdn}/send-money``), the same engine call the menu makes."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from server.events import MoneySent
from server.ledger import Ledger
from server.runner import Emulator
from server.store import Store

WANJIKU, OTIENO, ACHIENG = "254708374149", "254712345678", "254722000111"
# d/M/yy and h:mm AM|PM, as every M-PESA SMS writes them.
WHEN = r"on \d{1,2}/\d{1,2}/\d{2} at \d{1,2}:\d{2} [AP]M"


async def _send(http: httpx.AsyncClient, sender: str, **body: Any) -> httpx.Response:
    return await http.post(f"/simulator/handsets/{sender}/send-money", json=body)


async def _balance(http: httpx.AsyncClient, msisdn: str) -> float:
    return float((await http.get(f"/simulator/handsets/{msisdn}")).json()["balance"])


async def _inbox(http: httpx.AsyncClient, msisdn: str) -> list[str]:
    return [m["text"] for m in (await http.get(f"/simulator/handsets/{msisdn}/inbox")).json()["messages"]]


async def test_money_moves_phone_to_phone_and_both_get_their_sms(emulator: Emulator, http: httpx.AsyncClient) -> None:
    seen: list[MoneySent] = []
    emulator.simulator.bus.subscribe(lambda e: seen.append(e) if isinstance(e, MoneySent) else None)
    before = {m: await _balance(http, m) for m in (WANJIKU, OTIENO)}

    sent = await _send(http, WANJIKU, to="0712345678", amount=175, pin="1234")
    assert sent.status_code == 201, sent.text
    transfer = sent.json()
    assert list(transfer) == ["receipt", "from", "to", "amount", "at"]
    assert (transfer["from"], transfer["to"], transfer["amount"]) == (WANJIKU, OTIENO, 175)
    assert re.fullmatch(r"[A-Z0-9]{10}", transfer["receipt"])
    assert await _balance(http, WANJIKU) == before[WANJIKU] - 175
    assert await _balance(http, OTIENO) == before[OTIENO] + 175

    [to_sender] = await _inbox(http, WANJIKU)
    assert re.fullmatch(
        rf"{transfer['receipt']} Confirmed\. Ksh175\.00 sent to OTIENO ODHIAMBO 0712345678 {WHEN}\. "
        r"New M-PESA balance is Ksh9,825\.00\. Transaction cost, Ksh0\.00\. "
        r"Amount you can transact within the day is 499,825\.00\.",
        to_sender,
    ), to_sender
    [to_recipient] = await _inbox(http, OTIENO)
    assert re.fullmatch(
        rf"{transfer['receipt']} Confirmed\.You have received Ksh175\.00 from WANJIKU KAMAU 0708374149 {WHEN}  "
        rf"New M-PESA balance is Ksh{before[OTIENO] + 175:,.2f}\.",
        to_recipient,
    ), to_recipient
    assert [e.transfer.receipt for e in seen] == [transfer["receipt"]]

    # On disk: one posting with the receipt, and the books balance.
    store = emulator.simulator.store
    assert len(store.postings(transfer["receipt"])) == 1
    assert store.receipt_taken(transfer["receipt"])  # no later payment of any flow gets it
    assert emulator.simulator.ledger.audit() == []


async def test_a_number_nobody_has_gets_a_phone_as_unknown_msisdn_says(http: httpx.AsyncClient) -> None:
    sent = await _send(http, WANJIKU, to="+254799000111", amount=50)
    assert sent.status_code == 201, sent.text
    handset = (await http.get("/simulator/handsets/254799000111")).json()
    assert handset["msisdn"] == "254799000111"
    assert len(await _inbox(http, "254799000111")) == 1


@pytest.mark.parametrize("settings_overrides", [{"unknown_msisdn": "unreachable"}])
async def test_with_unknown_numbers_unreachable_nothing_moves(http: httpx.AsyncClient) -> None:
    sent = await _send(http, WANJIKU, to="0799000111", amount=50)
    assert sent.status_code == 404 and "not an M-PESA customer" in sent.json()["error"]
    assert await _balance(http, WANJIKU) == 10_000


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"to": WANJIKU, "amount": 5}, 400, "does not send money to the number it comes from"),
        ({"to": "12345", "amount": 5}, 400, "to must be a phone number as text"),
        ({"to": OTIENO, "amount": 0}, 400, "from 1 to 250000"),
        ({"to": OTIENO, "amount": "5"}, 400, "JSON integer"),
        ({"to": 254712345678, "amount": 5}, 400, "as text"),
        ({"to": OTIENO}, 400, "amount required"),
        ({"to": OTIENO, "amount": 5, "pin": 1234}, 400, "4 digits as text"),
        ({"to": OTIENO, "amount": 5, "pin": "9999"}, 400, "wrong PIN: 2 tries left"),
        ({"to": OTIENO, "amount": 10_001}, 409, "the balance, Ksh10,000.00, is less than Ksh10,001.00"),
        ({"to": OTIENO, "amount": 5, "memo": "x"}, 400, "unknown field(s) memo"),
    ],
)
async def test_refusals_say_why_and_move_nothing(
    http: httpx.AsyncClient, body: dict[str, Any], status: int, words: str
) -> None:
    refused = await _send(http, WANJIKU, **body)
    assert refused.status_code == status, refused.text
    assert words in refused.json()["error"]
    assert await _balance(http, WANJIKU) == 10_000 and await _inbox(http, OTIENO) == []


async def test_an_offline_or_locked_phone_cannot_send_and_an_unknown_one_is_404(http: httpx.AsyncClient) -> None:
    assert (await _send(http, "254700000000", to=OTIENO, amount=5)).status_code == 404
    await http.patch(f"/simulator/handsets/{WANJIKU}", json={"online": False})
    offline = await _send(http, WANJIKU, to=OTIENO, amount=5)
    assert offline.status_code == 409 and "off the network" in offline.json()["error"]
    await http.patch(f"/simulator/handsets/{WANJIKU}", json={"online": True})
    for _ in range(3):
        await _send(http, WANJIKU, to=OTIENO, amount=5, pin="0000")
    locked = await _send(http, WANJIKU, to=OTIENO, amount=5, pin="1234")
    assert locked.status_code == 409 and "locked" in locked.json()["error"]
    assert (await http.get(f"/simulator/handsets/{WANJIKU}")).json()["pin_locked"] is True
    assert await _balance(http, WANJIKU) == 10_000


async def test_the_daily_limit_counts_transfers(emulator: Emulator, http: httpx.AsyncClient) -> None:
    """A phone holds at most Ksh500,000 and may pay Ksh500,000 a day: money sent back to it can be
    sent again only until the day's total is reached."""
    assert (await http.patch(f"/simulator/handsets/{WANJIKU}", json={"balance": 500_000})).status_code == 200
    over = await _send(http, WANJIKU, to=ACHIENG, amount=250_001)
    assert over.status_code == 400 and "from 1 to 250000" in over.json()["error"]  # the largest single payment
    for _ in range(2):
        assert (await _send(http, WANJIKU, to=OTIENO, amount=250_000)).status_code == 201
        assert (await _send(http, OTIENO, to=WANJIKU, amount=250_000)).status_code == 201
    assert await _balance(http, WANJIKU) == 500_000  # all of it back, and Ksh500,000 paid today
    over = await _send(http, WANJIKU, to=ACHIENG, amount=1)
    assert over.status_code == 409 and "daily limit" in over.json()["error"], over.text


async def test_transfers_survive_a_restart(emulator: Emulator, http: httpx.AsyncClient, db_path) -> None:
    sent = (await _send(http, WANJIKU, to=OTIENO, amount=300)).json()
    await emulator.stop()
    store = Store.open(db_path)
    try:
        ledger = Ledger(store)
        ledger.load()
        assert ledger.audit() == []
        assert ledger.balance((WANJIKU, "mpesa")) == 1_000_000 - 30_000
        [posting] = store.postings(sent["receipt"])
        assert posting is not None
    finally:
        store.close()
