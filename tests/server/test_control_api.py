"""The /simulator control API: handsets, inbox, transactions, settle actions, events, reset."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver


async def test_default_handsets(http: httpx.AsyncClient) -> None:
    handsets = (await http.get("/simulator/handsets")).json()["handsets"]
    assert len(handsets) >= 3
    sandbox = next(h for h in handsets if h["msisdn"] == "254708374149")
    assert sandbox["pin"] == "1234" and sandbox["balance"] == 10000.0 and sandbox["online"] is True
    merchants = (await http.get("/simulator/merchants")).json()["merchants"]
    assert merchants[0]["shortcode"] == "174379" and merchants[0]["name"] == "Daraja-Sandbox"


async def test_add_and_update_handset(http: httpx.AsyncClient) -> None:
    created = await http.post(
        "/simulator/handsets", json={"msisdn": "254711111111", "name": "Amina", "pin": "0000", "balance": 12.5}
    )
    assert created.status_code == 201
    assert created.json()["balance"] == 12.5
    again = await http.post("/simulator/handsets", json={"msisdn": "254711111111"})
    assert again.status_code == 409 and "already exists" in again.json()["error"]
    patched = await http.patch(
        "/simulator/handsets/254711111111", json={"name": "Amina W", "balance": 99, "online": False, "pin": "1111"}
    )
    assert patched.json() | {} == {
        "msisdn": "254711111111",
        "name": "Amina W",
        "pin": "1111",
        "balance": 99.0,
        "online": False,
        "pin_locked": False,
        "wrong_pins": 0,
        "live_prompt": None,
    }
    defaults = (await http.post("/simulator/handsets", json={"msisdn": "254122222222"})).json()
    assert defaults["pin"] == "1234" and defaults["balance"] == 10000.0 and defaults["name"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        ("post", "/simulator/handsets", {"msisdn": "0712"}, 400, "msisdn must look like"),
        ("post", "/simulator/handsets", {"name": "x"}, 400, "msisdn is required"),
        (
            "post",
            "/simulator/handsets",
            {"msisdn": "254711111112", "pin": 1234},
            400,
            "pin must be a string of 4 digits",
        ),
        ("post", "/simulator/handsets", {"msisdn": "254711111112", "balance": "lots"}, 400, "balance must be a number"),
        ("post", "/simulator/handsets", {"msisdn": "254711111112", "balance": -1}, 400, "between 0 and 500000"),
        ("post", "/simulator/handsets", {"msisdn": "254711111112", "colour": "red"}, 400, "unknown field(s) colour"),
        ("post", "/simulator/handsets", [1, 2], 400, "must be a JSON object"),
        ("patch", "/simulator/handsets/254799999999", {"name": "x"}, 404, "no handset"),
        ("patch", "/simulator/handsets/254708374149", {"online": "yes"}, 400, "online must be true or false"),
        ("get", "/simulator/handsets/254799999999/inbox", None, 404, "no handset"),
        ("get", "/simulator/transactions/ws_CO_nope", None, 404, "no transaction"),
        ("post", "/simulator/transactions/ws_CO_nope/pin", {"pin": "1234"}, 404, "no transaction"),
        ("post", "/simulator/transactions/ws_CO_nope/cancel", None, 404, "no transaction"),
        ("post", "/simulator/transactions/ws_CO_nope/timeout", None, 404, "no transaction"),
        ("get", "/simulator/transactions?status=weird", None, 400, "status must be"),
        ("get", "/simulator/transactions?limit=abc", None, 400, "whole numbers"),
        ("get", "/simulator/nothing", None, 404, "no endpoint"),
        ("delete", "/simulator/handsets", None, 405, "not allowed"),
    ],
)
async def test_bad_input_gets_error_json(http: httpx.AsyncClient, method, path, body, status, fragment) -> None:
    kwargs = {} if body is None else {"json": body}
    response = await http.request(method.upper(), path, **kwargs)
    assert response.status_code == status
    assert list(response.json()) == ["error"]
    assert fragment in response.json()["error"]


async def test_malformed_json_on_control(http: httpx.AsyncClient) -> None:
    response = await http.post("/simulator/handsets", content=b"{oops", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("the body is not valid JSON")


async def test_pin_requires_a_string(http: httpx.AsyncClient, daraja: Daraja, receiver: CallbackReceiver) -> None:
    checkout = (await daraja.push(receiver.url)).json()["CheckoutRequestID"]
    response = await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": 1234})
    assert response.status_code == 400 and "pin is required" in response.json()["error"]
    assert (await daraja.query(checkout)).json()["ResultCode"] == "4999"  # nothing settled


async def test_transaction_listing_filters(http: httpx.AsyncClient, daraja: Daraja, receiver: CallbackReceiver) -> None:
    a = (await daraja.push(receiver.url)).json()["CheckoutRequestID"]
    b = (await daraja.push(receiver.url, PhoneNumber=254712345678)).json()["CheckoutRequestID"]
    await http.post(f"/simulator/transactions/{a}/cancel")
    listed = (await http.get("/simulator/transactions")).json()["transactions"]
    assert [t["checkout_request_id"] for t in listed] == [b, a]  # newest first
    pending = (await http.get("/simulator/transactions", params={"status": "pending"})).json()["transactions"]
    assert [t["checkout_request_id"] for t in pending] == [b]
    settled = (await http.get("/simulator/transactions", params={"status": "settled"})).json()["transactions"]
    assert [t["result_code"] for t in settled] == [1032]
    by_phone = (await http.get("/simulator/transactions", params={"msisdn": "254712345678"})).json()["transactions"]
    assert [t["checkout_request_id"] for t in by_phone] == [b]
    by_code = (await http.get("/simulator/transactions", params={"result_code": "1032"})).json()["transactions"]
    assert [t["checkout_request_id"] for t in by_code] == [a]


async def test_event_stream(http: httpx.AsyncClient, daraja: Daraja, receiver: CallbackReceiver) -> None:
    events: list[tuple[str, dict]] = []

    async def listen() -> None:
        async with http.stream("GET", "/simulator/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            kind = None
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
                    if kind == "callback.attempted":
                        return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.1)
    checkout = (await daraja.push(receiver.url)).json()["CheckoutRequestID"]
    plan = await http.put(f"/simulator/transactions/{checkout}/callback-plan", json={"mode": "normal"})
    assert plan.status_code == 200
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    await asyncio.wait_for(listener, 5)
    kinds = [k for k, _ in events]
    for expected in (
        "prompt.arrived",
        "callback_plan.changed",
        "transaction.settled",
        "sms.received",
        "handset.changed",
        "callback.attempted",
    ):
        assert expected in kinds
    assert kinds.index("prompt.arrived") < kinds.index("callback_plan.changed") < kinds.index("transaction.settled")
    assert kinds.index("transaction.settled") < kinds.index("callback.attempted")
    settled = dict(events)["transaction.settled"]["transaction"]
    assert settled["checkout_request_id"] == checkout and settled["result_code"] == 0
    handled = [d for k, d in events if k == "request.handled"]
    assert any(d["path"] == "/mpesa/stkpush/v1/processrequest" and d["status"] == 200 for d in handled)


async def test_reset(http: httpx.AsyncClient, daraja: Daraja, receiver: CallbackReceiver, emulator) -> None:
    checkout = (await daraja.push(receiver.url)).json()["CheckoutRequestID"]
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    await http.post("/simulator/handsets", json={"msisdn": "254711111111"})
    live = (await daraja.push(receiver.url, PhoneNumber=254712345678)).json()["CheckoutRequestID"]
    response = await http.post("/simulator/reset")
    assert response.status_code == 200
    handsets = (await http.get("/simulator/handsets")).json()["handsets"]
    assert [h["msisdn"] for h in handsets] == [h.msisdn for h in emulator.settings.handsets]
    assert all(h["balance"] == c.balance for h, c in zip(handsets, emulator.settings.handsets, strict=True))
    assert (await http.get("/simulator/transactions")).json()["transactions"] == []
    assert (await http.post(f"/simulator/transactions/{live}/pin", json={"pin": "1234"})).status_code == 404
    # Still fully working after a reset.
    again = (await daraja.push(receiver.url)).json()["CheckoutRequestID"]
    assert (await http.post(f"/simulator/transactions/{again}/pin", json={"pin": "1234"})).json()["result_code"] == 0


async def test_event_stream_carries_the_new_flows(
    http: httpx.AsyncClient, daraja: Daraja, receiver: CallbackReceiver, clock, emulator
) -> None:
    """C2B payments, initiator Results and every kind of delivery reach SSE subscribers."""
    events: list[tuple[str, dict]] = []
    seen_result = asyncio.Event()

    async def listen() -> None:
        async with http.stream("GET", "/simulator/events") as stream:
            kind = None
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
                    if kind == "callback.attempted" and events[-1][1]["channel"] == "result":
                        seen_result.set()
                        return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.1)
    token = await daraja.token()
    headers = {"Authorization": f"Bearer {token}"}
    registered = await http.post(
        "/mpesa/c2b/v2/registerurl",
        headers=headers,
        json={
            "ShortCode": "600000",
            "ResponseType": "Completed",
            "ConfirmationURL": receiver.url_for("/confirmation"),
            "ValidationURL": receiver.url_for("/validation"),
        },
    )
    assert registered.status_code == 200
    paid = await http.post(
        "/simulator/c2b/payments", json={"msisdn": "254708374149", "shortcode": "600000", "amount": 7}
    )
    assert paid.status_code == 201
    payout = {
        "OriginatorConversationID": "sse-1",
        "InitiatorName": "testapi",
        "SecurityCredential": "c2VjcmV0",
        "CommandID": "BusinessPayment",
        "Amount": 15,
        "PartyA": "600000",
        "PartyB": "254708374149",
        "Remarks": "sse",
        "QueueTimeOutURL": receiver.url_for("/timeout"),
        "ResultURL": receiver.url_for("/result"),
        "Occasion": "",
    }
    assert (await http.post("/mpesa/b2c/v3/paymentrequest", json=payout, headers=headers)).status_code == 200
    clock.advance(emulator.settings.result_delay)
    await asyncio.wait_for(listener, 5)
    kinds = [k for k, _ in events]
    payment = dict(events)["c2b.payment"]["payment"]
    assert (payment["shortcode"], payment["amount"], payment["status"]) == ("600000", 7, "completed")
    result = dict(events)["initiator.result"]["request"]
    assert (result["originator_conversation_id"], result["result_code"], result["amount"]) == ("sse-1", 0, 15)
    channels = [d["channel"] for k, d in events if k == "callback.attempted"]
    assert {"c2b_validation", "c2b_confirmation", "result"} <= set(channels), channels
    assert kinds.count("sms.received") >= 2  # the payment's and the payout's
