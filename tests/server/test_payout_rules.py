"""B2C outcome rules and magic numbers, over real HTTP with Results to a real receiver.

Like the STK rules, a payout rule matches by recipient and amount and says how the payout ends
(a result code, the QueueTimeOutURL instead of a Result, another delay); the control API's
choice for the next request goes first, then the rules, then the magic numbers (2547990 + a
five-digit code of §19), then the payout's own merits.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from server.clock import ManualClock
from server.runner import Emulator
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver

WANJIKU, OTIENO = "254708374149", "254712345678"
CREDENTIAL = base64.b64encode(b"encrypted").decode()


async def _payout(http: httpx.AsyncClient, receiver: CallbackReceiver, party_b: str, amount: int, ref: str) -> None:
    token = await Daraja(http).token()
    body = {
        "OriginatorConversationID": ref,
        "InitiatorName": "testapi",
        "SecurityCredential": CREDENTIAL,
        "CommandID": "BusinessPayment",
        "Amount": amount,
        "PartyA": "600000",
        "PartyB": party_b,
        "Remarks": "ruled",
        "QueueTimeOutURL": receiver.url_for(f"/timeout/{ref}"),
        "ResultURL": receiver.url_for(f"/result/{ref}"),
        "Occasion": "",
    }
    ack = await http.post("/mpesa/b2c/v3/paymentrequest", json=body, headers={"Authorization": f"Bearer {token}"})
    assert ack.status_code == 200, ack.text


async def test_rules_then_magic_numbers_then_merits(
    emulator: Emulator, http: httpx.AsyncClient, receiver: CallbackReceiver, clock: ManualClock
) -> None:
    rules = {
        "payout_rules": [
            {"msisdn": OTIENO, "result_code": "2001"},
            {"min_amount": 5000, "result_code": 4001},
            {"amount": 77, "queue_timeout": True},
            {"amount": 88, "delay": 30},
        ]
    }
    put = await http.put("/simulator/rules", json=rules)
    assert put.status_code == 200, put.text
    assert put.json()["payout_rules"][0]["result_code"] == 2001  # in its wire type
    wanjiku_before = (await http.get(f"/simulator/handsets/{WANJIKU}")).json()["balance"]

    await _payout(http, receiver, OTIENO, 100, "by-msisdn")
    await _payout(http, receiver, WANJIKU, 6000, "by-amount")
    await _payout(http, receiver, WANJIKU, 77, "queue-timeout")
    await _payout(http, receiver, WANJIKU, 88, "delayed")
    await _payout(http, receiver, "254799002040", 100, "magic")
    await _payout(http, receiver, WANJIKU, 100, "merits")
    clock.advance(emulator.settings.result_delay)
    await receiver.wait_for(5)
    await emulator.simulator.callbacks.wait_idle()
    got = {c.path: c.json for c in receiver.received}
    assert got["/result/by-msisdn"]["Result"]["ResultCode"] == 2001
    assert got["/result/by-amount"]["Result"]["ResultCode"] == 4001
    assert "/result/queue-timeout" not in got and "/timeout/queue-timeout" in got
    assert got["/result/magic"]["Result"]["ResultCode"] == 2040
    assert got["/result/merits"]["Result"]["ResultCode"] == 0
    assert "/result/delayed" not in got  # 30 s, not 3
    clock.advance(30)
    await receiver.wait_for(6)
    assert receiver.received[-1].path == "/result/delayed"
    assert receiver.received[-1].json["Result"]["ResultCode"] == 0
    # Only the two that paid moved money.
    after = (await http.get(f"/simulator/handsets/{WANJIKU}")).json()["balance"]
    assert after == wanjiku_before + 100 + 88


async def test_the_control_apis_choice_goes_before_a_rule(
    emulator: Emulator, http: httpx.AsyncClient, receiver: CallbackReceiver, clock: ManualClock
) -> None:
    await http.put("/simulator/rules", json={"payout_rules": [{"msisdn": WANJIKU, "result_code": 1}]})
    await http.post("/simulator/initiator/next", json={"result_code": 2})
    await _payout(http, receiver, WANJIKU, 100, "chosen")
    await _payout(http, receiver, WANJIKU, 100, "ruled")
    clock.advance(emulator.settings.result_delay)
    await receiver.wait_for(2)
    got = {c.path: c.json["Result"]["ResultCode"] for c in receiver.received}
    assert got == {"/result/chosen": 2, "/result/ruled": 1}


async def test_magic_numbers_can_be_turned_off(
    emulator: Emulator, http: httpx.AsyncClient, receiver: CallbackReceiver, clock: ManualClock
) -> None:
    await http.put("/simulator/rules", json={"magic_numbers": False})
    await _payout(http, receiver, "254799002040", 100, "plain")
    clock.advance(emulator.settings.result_delay)
    await receiver.wait_for(1)
    assert receiver.received[0].json["Result"]["ResultCode"] == 0


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"result_code": 1}, "needs msisdn, amount"),
        ({"msisdn": WANJIKU}, "needs result_code, queue_timeout or delay"),
        ({"msisdn": WANJIKU, "result_code": 1037}, "result_code must be one of"),
        ({"msisdn": WANJIKU, "result_code": True}, "result_code must be a result code"),
        ({"amount": 5, "delay": -1}, "delay"),
    ],
)
async def test_bad_payout_rules_are_refused_in_plain_words(http: httpx.AsyncClient, rule: dict, words: str) -> None:
    refused = await http.put("/simulator/rules", json={"payout_rules": [rule]})
    assert refused.status_code == 400 and words in refused.json()["error"], refused.text
    assert (await http.get("/simulator/rules")).json()["payout_rules"] == []
