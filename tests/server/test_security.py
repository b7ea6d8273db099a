"""The control token, the OpenAPI document, and the warning for non-loopback binds."""

from __future__ import annotations

from importlib.metadata import version

import httpx
import pytest

import handset
from handset.cli import banner
from server.runner import Emulator
from server.settings import Settings


@pytest.mark.parametrize("settings_overrides", [{"control_token": "s3cret-control"}])
async def test_control_token_required(http: httpx.AsyncClient, daraja) -> None:
    assert (await http.get("/simulator/handsets")).status_code == 401
    merchant_token = await daraja.token()
    as_merchant = await http.get("/simulator/handsets", headers={"Authorization": f"Bearer {merchant_token}"})
    assert as_merchant.status_code == 401
    assert "control_token" in as_merchant.json()["error"]
    ok = await http.get("/simulator/handsets", headers={"Authorization": "Bearer s3cret-control"})
    assert ok.status_code == 200
    # The Daraja side is unaffected and the document stays readable.
    assert (await http.get("/openapi.json")).status_code == 200


async def test_openapi_document(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["version"] == version("mpesa-handset") == handset.__version__
    for path in (
        "/oauth/v1/generate",
        "/mpesa/stkpush/v1/processrequest",
        "/mpesa/stkpushquery/v1/query",
        "/simulator/handsets",
        "/simulator/transactions/{checkout_id}/pin",
        "/simulator/reset",
    ):
        assert path in document["paths"]


async def test_405_names_allowed_methods(http: httpx.AsyncClient) -> None:
    response = await http.delete("/mpesa/stkpush/v1/processrequest")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_banner_warns_when_not_loopback(tmp_path) -> None:
    loopback = Emulator(Settings(port=0, db=tmp_path / "a.db"))
    exposed = Emulator(Settings(port=0, host="0.0.0.0", db=tmp_path / "b.db"))
    try:
        assert loopback.is_loopback and "WARNING" not in banner(loopback)
        assert not exposed.is_loopback and "WARNING: bound to 0.0.0.0" in banner(exposed)
    finally:
        loopback.simulator.store.close()
        exposed.simulator.store.close()


def test_public_url_is_shown_but_not_bound(tmp_path) -> None:
    emulator = Emulator(Settings(port=0, db=tmp_path / "p.db", public_url="https://abc.tunnel.example/"))
    try:
        assert emulator.base_url == "https://abc.tunnel.example"
        assert emulator.local_url.startswith("http://127.0.0.1:")
        text = banner(emulator)
        assert "listening on http://127.0.0.1:" in text
        assert "public URL https://abc.tunnel.example" in text
        assert "'https://abc.tunnel.example/oauth/v1/generate?grant_type=client_credentials'" in text
    finally:
        emulator.simulator.store.close()
