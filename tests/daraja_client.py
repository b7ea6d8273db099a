"""A small Daraja client used by the tests, written like a merchant would write one."""

from __future__ import annotations

import base64
from typing import Any

import httpx

SHORTCODE = "174379"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
TIMESTAMP = "20261127185000"


def password(shortcode: str = SHORTCODE, passkey: str = PASSKEY, timestamp: str = TIMESTAMP) -> str:
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode()


def push_body(callback_url: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "BusinessShortCode": 174379,
        "Password": password(),
        "Timestamp": TIMESTAMP,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 100,
        "PartyA": 254708374149,
        "PartyB": 174379,
        "PhoneNumber": 254708374149,
        "CallBackURL": callback_url,
        "AccountReference": "ORDER1",
        "TransactionDesc": "Payment",
    }
    body.update(overrides)
    return body


class Daraja:
    """Talks to an emulator's Daraja surface over real HTTP."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self._token: str | None = None

    async def token(self, key: str = "key", secret: str = "secret") -> str:
        response = await self.client.get(
            "/oauth/v1/generate", params={"grant_type": "client_credentials"}, auth=(key, secret)
        )
        response.raise_for_status()
        self._token = response.json()["access_token"]
        return self._token

    async def _auth(self) -> dict[str, str]:
        if self._token is None:
            await self.token()
        return {"Authorization": f"Bearer {self._token}"}

    async def push(self, callback_url: str, **overrides: Any) -> httpx.Response:
        return await self.client.post(
            "/mpesa/stkpush/v1/processrequest", json=push_body(callback_url, **overrides), headers=await self._auth()
        )

    async def query(self, checkout_request_id: str, **overrides: Any) -> httpx.Response:
        body = {
            "BusinessShortCode": "174379",
            "Password": password(),
            "Timestamp": TIMESTAMP,
            "CheckoutRequestID": checkout_request_id,
        }
        body.update(overrides)
        return await self.client.post("/mpesa/stkpushquery/v1/query", json=body, headers=await self._auth())
