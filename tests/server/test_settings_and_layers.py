"""Settings layers, the TOML config, id formats, and the rule that server/ has no UI in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import httpx
import pytest

from server.clock import ManualClock
from server.ids import IdGenerator
from server.runner import Emulator
from server.settings import SettingsError, load_settings
from tests.daraja_client import Daraja, password

SERVER = Path(__file__).resolve().parents[2] / "server"


def test_server_imports_nothing_from_textual_or_handset() -> None:
    offenders = []
    for path in SERVER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("textual", "handset")]
    assert offenders == []


CONFIG = """
prompt_timeout = 30
busy_phone = "error"

[[credentials]]
key = "ck"
secret = "cs"

[[merchants]]
shortcode = "174379"
passkey = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
name = "Daraja-Sandbox"

[[merchants]]
shortcode = "600100"
passkey = "shop-passkey"
name = "Mama Mboga Stores"
kind = "till"

[[handsets]]
msisdn = "254700000001"
name = "Test Customer"
pin = "2468"
balance = 300
"""


def test_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "handset.toml"
    config.write_text(CONFIG)
    monkeypatch.setenv("HANDSET_PROMPT_TIMEOUT", "45")
    monkeypatch.setenv("HANDSET_PORT", "7000")
    settings = load_settings(config, {"port": 9000, "host": None})
    assert settings.prompt_timeout == 45  # environment beats the file
    assert settings.port == 9000  # flags beat the environment
    assert settings.host == "127.0.0.1"  # a flag left unset keeps the default
    assert settings.busy_phone == "error"
    # The file's merchants first (its 174379 replaces the default one), then the sandbox's others.
    codes = [m.shortcode for m in settings.merchants]
    assert codes[:3] == ["174379", "600100", "600000"] and len(codes) == len(set(codes)) == 10
    assert settings.merchants[1].kind == "till"
    assert settings.handsets[0].pin == "2468"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("prompt_timeout = -1", "prompt_timeout"),
        ("[[handsets]]\nmsisdn = '0712'\nname = 'x'", "handsets.0.msisdn"),
        ("busy_phone = 'sometimes'", "busy_phone"),
        ("nonsense = 1", "nonsense"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_config_says_what_is_wrong(tmp_path: Path, text: str, fragment: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=re.escape(fragment)):
        load_settings(config)


async def test_configured_merchant_till_and_credentials(tmp_path: Path, receiver) -> None:
    config = tmp_path / "handset.toml"
    config.write_text(CONFIG)
    settings = load_settings(config, {"port": 0, "db": tmp_path / "h.db"})
    emulator = Emulator(settings, clock=ManualClock(), ids=IdGenerator(seed=3))
    await emulator.start()
    try:
        async with httpx.AsyncClient(base_url=emulator.base_url) as http:
            daraja = Daraja(http)
            await daraja.token("ck", "cs")
            response = await daraja.push(
                receiver.url,
                BusinessShortCode=600100,
                Password=password("600100", "shop-passkey"),
                TransactionType="CustomerBuyGoodsOnline",
                PartyB=600100,
                PhoneNumber=254700000001,
                Amount=70,
            )
            assert response.status_code == 200, response.text
            checkout = response.json()["CheckoutRequestID"]
            txn = (await http.get(f"/simulator/transactions/{checkout}")).json()
            assert txn["prompt"] == "Do you want to pay Ksh70.00 to MAMA MBOGA STORES? Enter M-PESA PIN"
            await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "2468"})
            [callback] = await receiver.wait_for(1)
            assert callback.json["Body"]["stkCallback"]["ResultCode"] == 0
            inbox = (await http.get("/simulator/handsets/254700000001/inbox")).json()["messages"]
            assert "paid to MAMA MBOGA STORES." in inbox[0]["text"]
            assert "balance is Ksh230.00" in inbox[0]["text"]
    finally:
        await emulator.stop()


def test_receipt_letters_encode_the_date() -> None:
    ids = IdGenerator(seed=1)
    cases = {
        "2026-11-27T12:00:00+03:00": "UKR",
        "2026-01-01T00:30:00+03:00": "UA1",  # just after midnight EAT (still 31 Dec in UTC)
        "2027-12-31T23:00:00+03:00": "VLV",
        "2026-03-10T09:00:00+03:00": "UCA",
    }
    from datetime import datetime

    for moment, prefix in cases.items():
        receipt = ids.receipt(datetime.fromisoformat(moment).timestamp())
        assert re.fullmatch(rf"{prefix}[A-Z0-9]{{7}}", receipt), (moment, receipt)


def test_checkout_ids_stay_unique_within_one_millisecond() -> None:
    ids = IdGenerator(seed=1)
    made = [ids.checkout_request_id("254708374149", 1_795_794_600.0) for _ in range(1500)]
    assert len(set(made)) == 1500
    assert all(len(m) == 32 and m.endswith("708374149") for m in made)
    assert made[0] == "ws_CO_27112026185000000708374149"
    assert made[1] == "ws_CO_27112026185000001708374149"
    other = ids.checkout_request_id("254712345678", 1_795_794_600.0)
    assert other == "ws_CO_27112026185000000712345678"  # each phone has its own sequence


def test_merchant_request_ids_are_unique_and_well_formed() -> None:
    ids = IdGenerator(seed=1)
    made = [ids.merchant_request_id() for _ in range(5000)]
    assert len(set(made)) == 5000
    assert all(re.fullmatch(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\d{4,7}", m) for m in made)
