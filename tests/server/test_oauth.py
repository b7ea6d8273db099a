"""OAuth over real HTTP: tokens, every error of spec §1, expiry."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from server.clock import ManualClock
from tests.daraja_client import push_body

GENERATE = "/oauth/v1/generate"
GRANT = {"grant_type": "client_credentials"}


async def test_token_shape_and_types(http: httpx.AsyncClient) -> None:
    response = await http.get(GENERATE, params=GRANT, auth=("key", "secret"))
    assert response.status_code == 200
    assert list(response.json()) == ["access_token", "expires_in"]
    assert re.fullmatch(r"[A-Za-z0-9]{28}", response.json()["access_token"])
    assert response.json()["expires_in"] == "3599"  # a string, not a number


async def test_missing_grant_type(http: httpx.AsyncClient) -> None:
    response = await http.get(GENERATE, auth=("key", "secret"))
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["requestId", "errorCode", "errorMessage"]
    assert body["errorCode"] == "400.008.02"
    assert body["errorMessage"] == "Invalid grant type passed"
    assert re.fullmatch(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\d{4,7}", body["requestId"])


async def test_wrong_grant_type(http: httpx.AsyncClient) -> None:
    response = await http.get(GENERATE, params={"grant_type": "password"}, auth=("key", "secret"))
    assert (response.status_code, response.json()["errorCode"]) == (400, "400.008.02")


@pytest.mark.parametrize("header", [None, "Bearer abc", "Digest xyz"])
async def test_authorization_not_basic(http: httpx.AsyncClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await http.get(GENERATE, params=GRANT, headers=headers)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "400.008.01"
    assert response.json()["errorMessage"] == "Invalid authentication type passed"


async def test_empty_secret_is_rejected_with_empty_body(http: httpx.AsyncClient) -> None:
    response = await http.get(GENERATE, params=GRANT, auth=("key", ""))
    assert response.status_code == 400
    assert response.content == b""


async def test_garbage_basic_is_rejected_with_empty_body(http: httpx.AsyncClient) -> None:
    response = await http.get(GENERATE, params=GRANT, headers={"Authorization": "Basic !!!notbase64"})
    assert response.status_code == 400
    assert response.content == b""


@pytest.mark.parametrize("settings_overrides", [{"credentials": [{"key": "ck", "secret": "cs"}]}])
async def test_configured_credentials_only(http: httpx.AsyncClient) -> None:
    good = await http.get(GENERATE, params=GRANT, auth=("ck", "cs"))
    assert good.status_code == 200
    for key, secret in (("ck", "wrong"), ("other", "cs"), ("key", "secret")):
        bad = await http.get(GENERATE, params=GRANT, auth=(key, secret))
        assert bad.status_code == 400
        assert bad.content == b""


async def test_token_expires_after_its_lifetime(http: httpx.AsyncClient, daraja, receiver, clock: ManualClock) -> None:
    token = await daraja.token()
    assert (await daraja.push(receiver.url)).status_code == 200
    clock.advance(3599)
    assert (await daraja.push(receiver.url, PhoneNumber=254712345678)).status_code == 200
    clock.advance(1)
    expired = await daraja.push(receiver.url, PhoneNumber=254722000111)
    assert expired.status_code == 404
    assert expired.json()["errorCode"] == "404.001.03"
    assert expired.json()["errorMessage"] == "Invalid Access Token"
    assert token  # the same token, now expired


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer not-a-real-token", "Basic " + base64.b64encode(b"a:b").decode()]
)
async def test_bad_bearer_tokens(http: httpx.AsyncClient, receiver, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    for path in ("/mpesa/stkpush/v1/processrequest", "/mpesa/stkpushquery/v1/query"):
        response = await http.post(path, json=push_body(receiver.url), headers=headers)
        assert response.status_code == 404
        assert response.json()["errorCode"] == "404.001.03"
        assert response.json()["errorMessage"] == "Invalid Access Token"
