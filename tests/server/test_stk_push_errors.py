"""Every STK Push validation error of spec §2, over real HTTP, and what is accepted."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.daraja_client import Daraja, password, push_body

PUSH = "/mpesa/stkpush/v1/processrequest"


class _Missing:
    """Stands for a field left out of the body."""

    def __repr__(self) -> str:  # test ids must be the same in every xdist worker: no address in them
        return "missing"


MISSING = _Missing()


def _invalid(field: str) -> tuple[int, str, str]:
    return 400, "400.002.02", f"Bad Request - Invalid {field}"


CASES: list[tuple[str, Any, tuple[int, str, str]]] = [
    ("BusinessShortCode", "12", _invalid("BusinessShortCode")),
    ("BusinessShortCode", "abcdef", _invalid("BusinessShortCode")),
    ("BusinessShortCode", MISSING, _invalid("BusinessShortCode")),
    ("BusinessShortCode", True, _invalid("BusinessShortCode")),
    ("BusinessShortCode", 600999, (500, "500.001.1001", "Merchant does not exist")),
    ("Password", "d3Jvbmc=", (500, "500.001.1001", "Wrong credentials")),
    ("Password", MISSING, _invalid("Password")),
    ("Timestamp", "2026-11-27", _invalid("Timestamp")),
    ("Timestamp", "20261332185000", _invalid("Timestamp")),
    ("Timestamp", MISSING, _invalid("Timestamp")),
    ("TransactionType", "CustomerPayBill", _invalid("TransactionType")),
    ("TransactionType", MISSING, _invalid("TransactionType")),
    ("Amount", 0, _invalid("Amount")),
    ("Amount", 250001, _invalid("Amount")),
    ("Amount", -5, _invalid("Amount")),
    ("Amount", 10.5, _invalid("Amount")),
    ("Amount", "ten", _invalid("Amount")),
    ("Amount", None, _invalid("Amount")),
    ("Amount", MISSING, _invalid("Amount")),
    ("PartyA", "0708374149", _invalid("PartyA")),
    ("PartyB", "12", _invalid("PartyB")),
    ("PhoneNumber", "0708374149", _invalid("PhoneNumber")),
    ("PhoneNumber", 254608374149, _invalid("PhoneNumber")),
    ("PhoneNumber", "2547083741490", _invalid("PhoneNumber")),
    ("PhoneNumber", MISSING, _invalid("PhoneNumber")),
    ("CallBackURL", "not a url", _invalid("CallBackURL")),
    ("CallBackURL", "ftp://example.com/cb", _invalid("CallBackURL")),
    ("CallBackURL", "/relative/path", _invalid("CallBackURL")),
    ("CallBackURL", MISSING, _invalid("CallBackURL")),
    ("AccountReference", "A" * 13, _invalid("AccountReference")),
    ("AccountReference", MISSING, _invalid("AccountReference")),
    ("TransactionDesc", MISSING, _invalid("Remarks")),
    ("TransactionDesc", "", _invalid("Remarks")),
]


@pytest.mark.parametrize(("field", "value", "expected"), CASES, ids=[f"{c[0]}={c[1]!r}"[:60] for c in CASES])
async def test_push_rejections(
    daraja: Daraja, receiver, field: str, value: Any, expected: tuple[int, str, str]
) -> None:
    body = push_body(receiver.url)
    if value is MISSING:
        del body[field]
    else:
        body[field] = value
    if field == "BusinessShortCode" and value == 600999:
        body["Password"] = password(shortcode="600999")
    response = await daraja.client.post(PUSH, json=body, headers=await daraja._auth())
    status, code, message = expected
    assert response.status_code == status
    envelope = response.json()
    assert list(envelope) == ["requestId", "errorCode", "errorMessage"]
    assert (envelope["errorCode"], envelope["errorMessage"]) == (code, message)
    assert all(isinstance(v, str) for v in envelope.values())


async def test_not_json_is_invalid_payload(daraja: Daraja) -> None:
    headers = {**await daraja._auth(), "Content-Type": "application/json"}
    for raw in (b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe\xfa"):
        response = await daraja.client.post(PUSH, content=raw, headers=headers)
        assert response.status_code == 400
        assert response.json()["errorCode"] == "400.002.05"
        assert response.json()["errorMessage"] == "Invalid Request Payload"


async def test_wrong_content_type_surfaces_as_invalid_shortcode(daraja: Daraja, receiver) -> None:
    import json

    headers = {**await daraja._auth(), "Content-Type": "text/plain"}
    response = await daraja.client.post(PUSH, content=json.dumps(push_body(receiver.url)), headers=headers)
    assert response.status_code == 400
    assert response.json()["errorMessage"] == "Bad Request - Invalid BusinessShortCode"


async def test_wrong_method_and_unknown_path(http: httpx.AsyncClient) -> None:
    wrong = await http.get(PUSH)
    assert wrong.status_code == 405
    assert wrong.json()["errorCode"] == "405.001"
    unknown = await http.post("/mpesa/nothing/v1/here", json={})
    assert unknown.status_code == 404
    assert (unknown.json()["errorCode"], unknown.json()["errorMessage"]) == ("404.001.01", "Resource not found")


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # numbers as JSON numbers
        {
            "BusinessShortCode": "174379",
            "Amount": "100",
            "PartyA": "254708374149",
            "PartyB": "174379",
            "PhoneNumber": "254708374149",
        },  # the same as strings
        {"Amount": 100.0},
        {"PhoneNumber": 254112345678, "PartyA": 254112345678},  # 2541 numbers
        {"TransactionType": "CustomerBuyGoodsOnline"},
        {"AccountReference": "A" * 12},
        {"CallBackURL": "https://merchant.example.com:8443/mpesa/callback?x=1"},
        {"Extra": "ignored"},
    ],
)
async def test_accepted_variants(daraja: Daraja, receiver, overrides: dict[str, Any]) -> None:
    response = await daraja.push(receiver.url, **overrides)
    assert response.status_code == 200, response.text
    assert response.json()["ResponseCode"] == "0"


@pytest.mark.parametrize("settings_overrides", [{"account_reference": "relaxed"}])
async def test_relaxed_account_reference(daraja: Daraja, receiver) -> None:
    response = await daraja.push(receiver.url, AccountReference="A" * 15)
    assert response.status_code == 200


async def test_rejections_are_explained_in_plain_words(daraja: Daraja, emulator, receiver) -> None:
    from server.events import RequestHandled

    seen: list[RequestHandled] = []
    emulator.simulator.bus.subscribe(
        lambda e: seen.append(e) if isinstance(e, RequestHandled) and "stkpush" in e.path else None
    )
    await daraja.push(receiver.url, Password="d3Jvbmc=")
    await daraja.push(receiver.url, Amount=0)
    assert seen[0].error_code == "500.001.1001"
    assert "base64 of BusinessShortCode + passkey + Timestamp" in (seen[0].reason or "")
    assert seen[1].error_code == "400.002.02"
    assert "Amount must be between 1 and 250,000" in (seen[1].reason or "")


async def test_identical_submissions_are_two_payments(daraja: Daraja, receiver, emulator) -> None:
    first = (await daraja.push(receiver.url)).json()
    emulator.simulator.enter_pin(first["CheckoutRequestID"], "1234")
    second = (await daraja.push(receiver.url)).json()
    assert first["CheckoutRequestID"] != second["CheckoutRequestID"]
    assert first["MerchantRequestID"] != second["MerchantRequestID"]
