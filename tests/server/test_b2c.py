"""B2C over real HTTP: acknowledged at once, the Result POSTed to ResultURL a little later.

The merchant's ResultURL and QueueTimeOutURL are a real local receiver; the Result comes when
the ManualClock reaches ``result_delay`` (3 s by default, spec §8.4). Success moves money from
the shortcode's Utility account to the phone, with the SMS of §18 and the 8 parameters of §12;
the failures of §19 come from the amount, the recipient, the ledger, the credential, or the
control API's choice for the next request.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from server.clock import ManualClock
from server.ids import IdGenerator
from server.runner import Emulator
from server.settings import Settings
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver

WANJIKU = "254708374149"
CREDENTIAL = base64.b64encode(b"an RSA-encrypted password, in the sandbox's eyes").decode()


def _body(receiver: CallbackReceiver, **overrides: Any) -> dict[str, Any]:
    body = {
        "OriginatorConversationID": "600997_Test_32et3241ed8yu",
        "InitiatorName": "testapi",
        "SecurityCredential": CREDENTIAL,
        "CommandID": "BusinessPayment",
        "Amount": "10",
        "PartyA": "600992",
        "PartyB": WANJIKU,
        "Remarks": "remarked",
        "QueueTimeOutURL": receiver.url_for("/b2c/timeout"),
        "ResultURL": receiver.url_for("/b2c/result"),
        "Occassion": "ChristmasPay",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def _post(
    http: httpx.AsyncClient, body: dict[str, Any], path: str = "/mpesa/b2c/v3/paymentrequest"
) -> httpx.Response:
    token = await Daraja(http).token()
    return await http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


async def _result(emulator: Emulator, clock: ManualClock, receiver: CallbackReceiver, count: int = 1) -> dict[str, Any]:
    """Move the clock past the Result's time and return the latest Result that arrived."""
    clock.advance(emulator.settings.result_delay)
    await receiver.wait_for(count)
    await emulator.simulator.callbacks.wait_idle()
    return receiver.received[-1].json["Result"]


async def test_a_payout_is_acknowledged_then_paid_with_its_result(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
) -> None:
    ledger = emulator.simulator.ledger
    utility_before = ledger.balance(("600992", "utility"))
    ack = await _post(http, _body(receiver, Amount="1500"))
    assert ack.status_code == 200
    assert list(ack.json()) == ["ConversationID", "OriginatorConversationID", "ResponseCode", "ResponseDescription"]
    assert ack.json()["OriginatorConversationID"] == "600997_Test_32et3241ed8yu"
    assert ack.json()["ResponseCode"] == "0"
    assert ack.json()["ResponseDescription"] == "Accept the service request successfully."
    conversation = ack.json()["ConversationID"]
    assert conversation.startswith("AG_20261127_0100") and len(conversation) == 32
    assert receiver.received == []  # not before the Result's time

    result = await _result(emulator, clock, receiver)
    assert receiver.received[0].path == "/b2c/result"
    assert list(result) == [
        "ResultType",
        "ResultCode",
        "ResultDesc",
        "OriginatorConversationID",
        "ConversationID",
        "TransactionID",
        "ResultParameters",
        "ReferenceData",
    ]
    assert (result["ResultType"], result["ResultCode"]) == (0, 0)
    assert result["ResultDesc"] == "The service request is processed successfully."
    assert result["ConversationID"] == conversation
    params = {p["Key"]: p["Value"] for p in result["ResultParameters"]["ResultParameter"]}
    assert list(params) == [
        "TransactionAmount",
        "TransactionReceipt",
        "ReceiverPartyPublicName",
        "TransactionCompletedDateTime",
        "B2CUtilityAccountAvailableFunds",
        "B2CWorkingAccountAvailableFunds",
        "B2CRecipientIsRegisteredCustomer",
        "B2CChargesPaidAccountAvailableFunds",
    ]
    receipt = result["TransactionID"]
    assert params["TransactionAmount"] == 1500 and params["TransactionReceipt"] == receipt
    assert params["ReceiverPartyPublicName"] == f"{WANJIKU} - Wanjiku Kamau"
    assert params["TransactionCompletedDateTime"] == "27.11.2026 18:50:03"
    assert params["B2CUtilityAccountAvailableFunds"] == (utility_before - 150_000) / 100
    assert params["B2CRecipientIsRegisteredCustomer"] == "Y"
    raw = receiver.received[0].raw.decode()
    assert '"TransactionAmount","Value":1500}' in raw and '"B2CChargesPaidAccountAvailableFunds","Value":0.00' in raw
    assert '"https:\\/\\/internalsandbox.safaricom.co.ke\\/mpesa\\/b2cresults\\/v1\\/submit"' in raw

    assert ledger.balance(("600992", "utility")) == utility_before - 150_000
    assert (await http.get(f"/simulator/handsets/{WANJIKU}")).json()["balance"] == 10_000 + 1_500
    [sms] = (await http.get(f"/simulator/handsets/{WANJIKU}/inbox")).json()["messages"]
    assert sms["text"].startswith(f"{receipt} Confirmed.You have received Ksh1,500.00 from SAFARICOM DARAJA 992 600992")
    assert ledger.audit() == []
    [request] = (await http.get("/simulator/initiator/requests")).json()["requests"]
    assert (request["api"], request["status"], request["result_code"], request["receipt"]) == (
        "b2c",
        "settled",
        0,
        receipt,
    )


async def test_a_promotion_payment_congratulates(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
) -> None:
    await _post(http, _body(receiver, CommandID="PromotionPayment", Amount=425))
    result = await _result(emulator, clock, receiver)
    [sms] = (await http.get(f"/simulator/handsets/{WANJIKU}/inbox")).json()["messages"]
    assert sms["text"].startswith(f"Congratulations! {result['TransactionID']} confirmed.You have received Ksh425.00")


async def test_v1_makes_its_own_originator_id_and_pochi_has_its_path(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
) -> None:
    v1 = await _post(http, _body(receiver, OriginatorConversationID=None), "/mpesa/b2c/v1/paymentrequest")
    assert v1.status_code == 200 and v1.json()["OriginatorConversationID"] != "600997_Test_32et3241ed8yu"
    pochi = await _post(
        http,
        _body(receiver, CommandID="BusinessPayToPochi", OriginatorConversationID="pochi-1"),
        "/mpesa/b2pochi/v1/paymentrequest",
    )
    assert pochi.status_code == 200 and next(iter(pochi.json())) == "ConversationID"
    clock.advance(3)
    await receiver.wait_for(2)
    assert [r.json["Result"]["ResultCode"] for r in receiver.received] == [0, 0]
    assert (await http.get("/mpesa/b2c/v2/paymentrequest")).status_code == 404


async def test_synchronous_refusals(emulator: Emulator, http: httpx.AsyncClient, receiver: CallbackReceiver) -> None:
    assert (await _post(http, _body(receiver))).status_code == 200
    again = await _post(http, _body(receiver))
    assert again.status_code == 500
    assert (
        again.json()["errorCode"] == "500.002.1001"
        and again.json()["errorMessage"] == "Duplicate OriginatorConversationID."
    )
    for overrides, message in (
        ({"PartyB": "0712345678", "OriginatorConversationID": "x1"}, "Bad Request - Invalid PartyB"),
        ({"InitiatorName": None, "OriginatorConversationID": "x2"}, "Bad Request - Invalid InitiatorName"),
        ({"SecurityCredential": None, "OriginatorConversationID": "x3"}, "Bad Request - Invalid SecurityCredential"),
        ({"ResultURL": "not a url", "OriginatorConversationID": "x4"}, "Invalid ResultURL"),
        ({"PartyA": "123456", "OriginatorConversationID": "x5"}, "Bad Request - Invalid PartyA"),
        ({"OriginatorConversationID": None}, "Bad Request - Invalid OriginatorConversationID"),
    ):
        refused = await _post(http, _body(receiver, **overrides))
        assert refused.status_code == 400 and refused.json()["errorMessage"] == message, (overrides, refused.text)
    no_token = await http.post("/mpesa/b2c/v3/paymentrequest", json=_body(receiver))
    assert no_token.status_code == 404 and no_token.json()["errorCode"] == "404.001.03"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"Amount": 5}, 2),
        ({"Amount": 300_000}, 3),
        ({"PartyA": "600101"}, 2028),  # a till has no Utility account to pay from
    ],
    ids=["below the minimum", "above the maximum", "a till"],
)
async def test_failures_from_the_request(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
    overrides: dict[str, Any],
    code: int,
) -> None:
    assert (await _post(http, _body(receiver, **overrides))).status_code == 200
    result = await _result(emulator, clock, receiver)
    assert result["ResultCode"] == code and "ResultParameters" not in result
    assert result["TransactionID"] == "UKR0000000"  # no transaction was made: the date and zeros
    assert (await http.get(f"/simulator/handsets/{WANJIKU}")).json()["balance"] == 10_000


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "merchants": [{"shortcode": "600992", "name": "Poor", "balances": {"utility": 50}}],
            "b2c_insufficient_code": 4001,
        }
    ],
)
async def test_a_poor_utility_account_and_a_full_phone(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
) -> None:
    await _post(http, _body(receiver, Amount=60))
    result = await _result(emulator, clock, receiver)
    assert (result["ResultCode"], result["ResultDesc"]) == (4001, "Insufficient balance")
    await http.patch(f"/simulator/handsets/{WANJIKU}", json={"balance": 499_990})
    await _post(http, _body(receiver, Amount=20, OriginatorConversationID="full"))
    result = await _result(emulator, clock, receiver, 2)
    assert (
        result["ResultCode"] == 8
        and result["ResultDesc"] == "Declined due to limit rule: would exceed the maximum balance."
    )


@pytest.mark.parametrize("settings_overrides", [{"b2c_unknown_msisdn": "2040"}])
async def test_an_unknown_recipient_is_2040_when_the_sandbox_way_is_asked(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
) -> None:
    await _post(http, _body(receiver, PartyB="254745959757"))
    result = await _result(emulator, clock, receiver)
    assert result["ResultCode"] == 2040
    assert result["ResultDesc"].endswith("can't be supported by the service .")  # sic, with the space


async def test_wrong_credentials_then_a_lock(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
) -> None:
    for n in range(6):
        await _post(http, _body(receiver, SecurityCredential="not base64!", OriginatorConversationID=f"bad-{n}"))
    clock.advance(3)
    await receiver.wait_for(6)
    codes = [r.json["Result"]["ResultCode"] for r in receiver.received]
    assert codes == [2001] * 5 + [8006]
    first = receiver.received[0].json["Result"]
    assert first["TransactionID"] != "UKR0000000" and len(first["TransactionID"]) == 10  # 2001 carries a receipt


async def test_the_next_outcome_can_be_chosen(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
) -> None:
    chosen = await http.post("/simulator/initiator/next", json={"result_code": 17})
    assert chosen.status_code == 201 and chosen.json()["next"][0]["result_code"] == 17
    await http.post("/simulator/initiator/next", json={"queue_timeout": True})
    await http.post("/simulator/initiator/next", json={"delay": 60})
    await _post(http, _body(receiver, OriginatorConversationID="one"))
    await _post(http, _body(receiver, OriginatorConversationID="two"))
    await _post(http, _body(receiver, OriginatorConversationID="three"))
    assert (await http.get("/simulator/initiator/next")).json()["next"] == []
    clock.advance(3)
    await receiver.wait_for(2)
    first, second = receiver.received
    assert (first.path, first.json["Result"]["ResultCode"]) == ("/b2c/result", 17)
    assert second.path == "/b2c/timeout" and json.loads(second.raw)["OriginatorConversationID"] == "two"
    clock.advance(57)
    await receiver.wait_for(3)
    assert receiver.received[2].json["Result"]["ResultCode"] == 0  # the third, a minute later
    for bad in ({"result_code": 12345}, {"delay": -1}, {"queue_timeout": "yes"}, {"colour": 1}):
        assert (await http.post("/simulator/initiator/next", json=bad)).status_code == 400


async def test_a_request_pending_at_a_stop_is_answered_after_the_restart(tmp_path, receiver: CallbackReceiver) -> None:
    clock = ManualClock()
    settings = Settings(port=0, db=tmp_path / "b2c.db")
    first = Emulator(settings, clock=clock, ids=IdGenerator(seed=1))
    await first.start()
    async with httpx.AsyncClient(base_url=first.base_url) as http:
        ack = (await _post(http, _body(receiver, Amount=100))).json()
    await first.stop()
    clock.advance(10)  # the Result was due while the emulator was down
    again = Emulator(settings, clock=clock, ids=IdGenerator(seed=2))
    await again.start()
    try:
        await receiver.wait_for(1)
        await again.simulator.callbacks.wait_idle()
        assert [r.json["Result"]["ConversationID"] for r in receiver.received] == [ack["ConversationID"]]
        assert again.simulator.handset(WANJIKU).balance_cents == 1_000_000 + 10_000
        assert again.simulator.ledger.audit() == []
    finally:
        await again.stop()
