"""Whole STK flows over real HTTP: push, the customer acts through the control API,
the local receiver gets the exact callback, STK Query tells the same story."""

from __future__ import annotations

import re

import httpx
import pytest

from server.clock import ManualClock
from server.runner import Emulator
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver

PHONE = "254708374149"
RECEIPT = re.compile(r"^UKR[A-Z0-9]{7}$")  # 2026-11-27: U (2026), K (November), R (27th)


async def _push(daraja: Daraja, receiver: CallbackReceiver, **overrides) -> str:
    response = await daraja.push(receiver.url, **overrides)
    assert response.status_code == 200, response.text
    return response.json()["CheckoutRequestID"]


async def _balance(http: httpx.AsyncClient, msisdn: str = PHONE) -> float:
    return (await http.get(f"/simulator/handsets/{msisdn}")).json()["balance"]


async def test_ack_shape(daraja: Daraja, receiver: CallbackReceiver) -> None:
    response = await daraja.push(receiver.url)
    ack = response.json()
    assert list(ack) == [
        "MerchantRequestID",
        "CheckoutRequestID",
        "ResponseCode",
        "ResponseDescription",
        "CustomerMessage",
    ]
    assert ack["ResponseCode"] == "0"
    assert ack["ResponseDescription"] == ack["CustomerMessage"] == "Success. Request accepted for processing"
    # 2026-11-27 18:50:00.000 EAT, then the 9 national digits.
    assert ack["CheckoutRequestID"] == "ws_CO_27112026185000000708374149"
    assert len(ack["CheckoutRequestID"]) == 32
    assert re.fullmatch(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\d{4,7}", ack["MerchantRequestID"])
    assert "ORDER1" not in response.text  # AccountReference is never echoed


async def test_success(
    daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient, emulator: Emulator, clock: ManualClock
) -> None:
    before = await _balance(http)
    merchant_before = emulator.simulator.merchant("174379").balance_cents
    checkout = await _push(daraja, receiver, Amount=100)
    clock.advance(12)
    settled = await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    assert settled.status_code == 200
    assert settled.json()["result_code"] == 0

    [callback] = await receiver.wait_for(1)
    assert callback.headers["Content-Type"] == "application/json;charset=UTF-8"
    stk = callback.json["Body"]["stkCallback"]
    assert list(stk) == ["MerchantRequestID", "CheckoutRequestID", "ResultCode", "ResultDesc", "CallbackMetadata"]
    assert stk["CheckoutRequestID"] == checkout
    assert stk["ResultCode"] == 0 and isinstance(stk["ResultCode"], int)
    assert stk["ResultDesc"] == "The service request is processed successfully."
    items = stk["CallbackMetadata"]["Item"]
    assert [i["Name"] for i in items] == ["Amount", "MpesaReceiptNumber", "Balance", "TransactionDate", "PhoneNumber"]
    assert items[2] == {"Name": "Balance"}
    receipt = items[1]["Value"]
    assert RECEIPT.match(receipt)
    assert items[3]["Value"] == 20261127185012 and isinstance(items[3]["Value"], int)
    assert items[4]["Value"] == 254708374149 and isinstance(items[4]["Value"], int)
    # The raw bytes: Amount is written with two decimals, as Safaricom writes it.
    assert b'{"Name":"Amount","Value":100.00}' in callback.raw

    assert await _balance(http) == before - 100
    assert emulator.simulator.merchant("174379").balance_cents == merchant_before + 100 * 100
    inbox = (await http.get(f"/simulator/handsets/{PHONE}/inbox")).json()["messages"]
    assert inbox[0]["sender"] == "MPESA"
    assert inbox[0]["text"] == (
        f"{receipt} Confirmed. Ksh100.00 sent to DARAJA-SANDBOX for account ORDER1 on 27/11/26 at 6:50 PM "
        "New M-PESA balance is Ksh9,900.00. Transaction cost, Ksh0.00. "
        "Amount you can transact within the day is 499,900.00."
    )
    detail = (await http.get(f"/simulator/transactions/{checkout}")).json()
    assert detail["receipt"] == receipt
    assert detail["callback_state"] == "delivered"
    assert detail["callback_attempts"][0]["status"] == 200
    assert detail["callback_attempts"][0]["ok"] is True


async def test_buy_goods_sms(daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    checkout = await _push(daraja, receiver, TransactionType="CustomerBuyGoodsOnline", Amount=70)
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    text = (await http.get(f"/simulator/handsets/{PHONE}/inbox")).json()["messages"][0]["text"]
    assert re.fullmatch(
        r"UKR[A-Z0-9]{7} Confirmed\. Ksh70\.00 paid to DARAJA-SANDBOX\. on 27/11/26 at 6:50 PM\.New M-PESA "
        r"balance is Ksh9,930\.00\. Transaction cost, Ksh0\.00\. Amount you can transact within the day is 499,930\.00\.",
        text,
    )


FAILURES = [
    (
        "wrong_pin",
        lambda http, c: http.post(f"/simulator/transactions/{c}/pin", json={"pin": "9999"}),
        2001,
        "The initiator information is invalid.",
    ),
    ("cancel", lambda http, c: http.post(f"/simulator/transactions/{c}/cancel"), 1032, "Request cancelled by user"),
    (
        "timeout_now",
        lambda http, c: http.post(f"/simulator/transactions/{c}/timeout"),
        1037,
        "DS timeout user cannot be reached",
    ),
]


@pytest.mark.parametrize(("name", "act", "code", "desc"), FAILURES, ids=[f[0] for f in FAILURES])
async def test_failures(
    name, act, code, desc, daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    before = await _balance(http)
    checkout = await _push(daraja, receiver)
    response = await act(http, checkout)
    assert response.status_code == 200
    [callback] = await receiver.wait_for(1)
    stk = callback.json["Body"]["stkCallback"]
    assert list(stk) == ["MerchantRequestID", "CheckoutRequestID", "ResultCode", "ResultDesc"]
    assert (stk["ResultCode"], stk["ResultDesc"]) == (code, desc)
    assert await _balance(http) == before
    assert (await http.get(f"/simulator/handsets/{PHONE}/inbox")).json()["messages"] == []
    query = (await daraja.query(checkout)).json()
    assert (query["ResultCode"], query["ResultDesc"]) == (str(code), desc)


async def test_prompt_times_out_on_the_clock(daraja: Daraja, receiver: CallbackReceiver, clock: ManualClock) -> None:
    checkout = await _push(daraja, receiver)
    clock.advance(59.9)
    assert (await daraja.query(checkout)).json()["ResultCode"] == "4999"
    clock.advance(0.2)
    [callback] = await receiver.wait_for(1)
    assert callback.json["Body"]["stkCallback"]["ResultCode"] == 1037
    assert (await daraja.query(checkout)).json()["ResultCode"] == "1037"


@pytest.mark.parametrize("settings_overrides", [{"prompt_timeout": 5}])
async def test_prompt_timeout_is_a_setting(daraja: Daraja, receiver: CallbackReceiver, clock: ManualClock) -> None:
    checkout = await _push(daraja, receiver)
    clock.advance(5)
    assert (await daraja.query(checkout)).json()["ResultCode"] == "1037"


async def test_offline_phone_times_out(
    daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    await http.patch(f"/simulator/handsets/{PHONE}", json={"online": False})
    checkout = await _push(daraja, receiver)
    refused = await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    assert refused.status_code == 409
    assert "offline" in refused.json()["error"]
    clock.advance(60)
    [callback] = await receiver.wait_for(1)
    assert callback.json["Body"]["stkCallback"]["ResultCode"] == 1037


async def test_insufficient_funds(daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    await http.patch(f"/simulator/handsets/{PHONE}", json={"balance": 50})
    checkout = await _push(daraja, receiver, Amount=51)
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    [callback] = await receiver.wait_for(1)
    stk = callback.json["Body"]["stkCallback"]
    assert (stk["ResultCode"], stk["ResultDesc"]) == (1, "The balance is insufficient for the transaction.")
    assert "CallbackMetadata" not in stk
    assert await _balance(http) == 50


async def test_wrong_pin_beats_insufficient_funds(
    daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    await http.patch(f"/simulator/handsets/{PHONE}", json={"balance": 10})
    checkout = await _push(daraja, receiver, Amount=100)
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "0000"})
    [callback] = await receiver.wait_for(1)
    assert callback.json["Body"]["stkCallback"]["ResultCode"] == 2001


async def test_busy_phone_settles_1001(daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    first = await _push(daraja, receiver)
    second = await daraja.push(receiver.url)
    assert second.status_code == 200
    busy = second.json()["CheckoutRequestID"]
    [callback] = await receiver.wait_for(1)
    stk = callback.json["Body"]["stkCallback"]
    assert stk["CheckoutRequestID"] == busy
    assert stk["ResultCode"] == 1001
    assert (
        stk["ResultDesc"] == "Unable to lock subscriber, a transaction is already in process for the current subscriber"
    )
    # The first prompt is untouched and can still be paid.
    assert (await daraja.query(first)).json()["ResultCode"] == "4999"
    await http.post(f"/simulator/transactions/{first}/pin", json={"pin": "1234"})
    await receiver.wait_for(2)
    assert receiver.received[1].json["Body"]["stkCallback"]["ResultCode"] == 0


@pytest.mark.parametrize("settings_overrides", [{"busy_phone": "error"}])
async def test_busy_phone_error_setting(daraja: Daraja, receiver: CallbackReceiver) -> None:
    await _push(daraja, receiver)
    second = await daraja.push(receiver.url)
    assert second.status_code == 500
    assert second.json()["errorCode"] == "500.001.1001"
    assert second.json()["errorMessage"] == (
        "Unable to lock subscriber, a transaction is already in process for the current subscriber"
    )


async def test_query_before_and_after(daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    checkout = await _push(daraja, receiver)
    pending = await daraja.query(checkout)
    assert pending.status_code == 200
    body = pending.json()
    assert list(body) == [
        "ResponseCode",
        "ResponseDescription",
        "MerchantRequestID",
        "CheckoutRequestID",
        "ResultCode",
        "ResultDesc",
    ]
    assert body["ResponseCode"] == "0"
    assert body["ResponseDescription"] == "The service request has been accepted successsfully"
    assert (body["ResultCode"], body["ResultDesc"]) == ("4999", "The transaction is still under processing")
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    [callback] = await receiver.wait_for(1)
    final = (await daraja.query(checkout)).json()
    assert final["ResultCode"] == "0" and isinstance(final["ResultCode"], str)
    assert final["ResultDesc"] == callback.json["Body"]["stkCallback"]["ResultDesc"]
    assert final["MerchantRequestID"] == callback.json["Body"]["stkCallback"]["MerchantRequestID"]


@pytest.mark.parametrize("settings_overrides", [{"query_pending": "legacy"}])
async def test_query_pending_legacy(daraja: Daraja, receiver: CallbackReceiver) -> None:
    checkout = await _push(daraja, receiver)
    response = await daraja.query(checkout)
    assert response.status_code == 500
    assert response.json() == {
        "requestId": checkout,
        "errorCode": "500.001.1001",
        "errorMessage": "The transaction is being processed",
    }


async def test_query_errors(daraja: Daraja, receiver: CallbackReceiver) -> None:
    unknown = await daraja.query("ws_CO_01012026000000000700000000")
    assert unknown.status_code == 500
    assert (unknown.json()["errorCode"], unknown.json()["errorMessage"]) == (
        "500.001.1001",
        "The transaction does not exist",
    )
    wrong = await daraja.query("x", Password="d3Jvbmc=")
    assert (wrong.status_code, wrong.json()["errorMessage"]) == (500, "Wrong credentials")
    missing = await daraja.query("")
    assert (missing.status_code, missing.json()["errorMessage"]) == (400, "Bad Request - Invalid CheckoutRequestID")
    bad_time = await daraja.query("x", Timestamp="yesterday")
    assert bad_time.json()["errorMessage"] == "Bad Request - Invalid Timestamp"


async def test_unknown_number_is_provisioned(
    daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    checkout = await _push(daraja, receiver, PhoneNumber=254799000111, PartyA=254799000111)
    handset = (await http.get("/simulator/handsets/254799000111")).json()
    assert handset["pin"] == "1234" and handset["balance"] == 10000.0
    assert handset["live_prompt"] == checkout
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    assert (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]["ResultCode"] == 0


@pytest.mark.parametrize("settings_overrides", [{"unknown_msisdn": "unreachable"}])
async def test_unknown_number_unreachable(
    daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    checkout = await _push(daraja, receiver, PhoneNumber=254799000111)
    assert (await http.get("/simulator/handsets/254799000111")).status_code == 404
    assert (await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})).status_code == 409
    clock.advance(60)
    assert (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]["ResultCode"] == 1037


async def test_settled_is_final(
    daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    checkout = await _push(daraja, receiver)
    await http.post(f"/simulator/transactions/{checkout}/cancel")
    for path, body in (("pin", {"pin": "1234"}), ("cancel", None), ("timeout", None)):
        again = await http.post(f"/simulator/transactions/{checkout}/{path}", json=body)
        assert again.status_code == 409
        assert "already settled with ResultCode 1032" in again.json()["error"]
    clock.advance(120)  # the old timer must not fire a second settlement
    await receiver.wait_for(1)
    assert len(receiver.received) == 1
    assert (await daraja.query(checkout)).json()["ResultCode"] == "1032"


async def test_many_pushes_same_millisecond_have_unique_ids(
    daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    ids = set()
    for _ in range(20):
        ack = (await daraja.push(receiver.url)).json()
        ids.add(ack["CheckoutRequestID"])
    # The clock stands still: every id is in the same millisecond, yet all differ and keep the format.
    assert len(ids) == 20
    assert all(re.fullmatch(r"ws_CO_27112026185000\d{3}708374149", i) for i in ids)
    listed = (await http.get("/simulator/transactions", params={"msisdn": PHONE})).json()["transactions"]
    assert len(listed) == 20
    assert sum(t["result_code"] == 1001 for t in listed) == 19
