"""C2B over real HTTP, with a real shop answering the validation and confirmation calls.

Register URL (v1 and v2) and simulate (spec §9, §11), then the calls of §10: validation
first when External Validation is on, its answer deciding (accept, each reject code, no
answer in time, unreachable, garbage: the registered ResponseType decides), then the money,
the SMS and the confirmation; an STK payment into a paybill fires the confirmation too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from server.runner import Emulator
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver, serve_posts

WANJIKU = "254708374149"
PAYBILL = {"shortcode": "600984", "passkey": "pk", "name": "Sandbox Paybill 984"}
SANDBOX = {
    "shortcode": "174379",
    "passkey": "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
    "name": "Daraja-Sandbox",
}
QUIET = {"shortcode": "600000", "passkey": "pk", "name": "No Validation", "external_validation": False}
MERCHANTS = {"merchants": [SANDBOX, PAYBILL, QUIET], "c2b_validation_timeout": 0.5}


@dataclass
class Shop:
    """A merchant's C2B endpoints: validation answers as told, confirmations acknowledged."""

    answer: Any = field(default_factory=lambda: {"ResultCode": "0", "ResultDesc": "Accepted"})
    status: int = 200
    delay: float = 0.0
    calls: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.calls.append((request.path, dict(request.headers), raw))
        self.arrived.set()
        if request.path.endswith("/confirmation"):
            return web.json_response({"ResultCode": 0, "ResultDesc": "Success"})
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(self.answer, (bytes, str)):
            return web.Response(body=self.answer, status=self.status, content_type="text/plain")
        return web.json_response(self.answer, status=self.status)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(raw) for p, _, raw in self.calls if p.endswith(path)]


@pytest.fixture
async def shop():
    running = Shop()
    runner, port = await serve_posts(running.handle)
    running.url = f"http://127.0.0.1:{port}"
    yield running
    await runner.cleanup()


async def _token(http: httpx.AsyncClient) -> dict[str, str]:
    token = await Daraja(http).token()
    return {"Authorization": f"Bearer {token}"}


async def _register(
    http: httpx.AsyncClient, url: str, shortcode: str = "600984", version: int = 2, response_type: str = "Completed"
) -> httpx.Response:
    return await http.post(
        f"/mpesa/c2b/v{version}/registerurl",
        headers=await _token(http),
        json={
            "ShortCode": shortcode,
            "ResponseType": response_type,
            "ConfirmationURL": f"{url}/c2b/confirmation",
            "ValidationURL": f"{url}/c2b/validation",
        },
    )


async def _simulate(
    http: httpx.AsyncClient, shortcode: int = 600984, amount: int = 250, msisdn: int = 254708374149, ref: str = "INV-77"
) -> httpx.Response:
    return await http.post(
        "/mpesa/c2b/v2/simulate",
        headers=await _token(http),
        json={
            "ShortCode": shortcode,
            "CommandID": "CustomerPayBillOnline",
            "Amount": amount,
            "Msisdn": msisdn,
            "BillRefNumber": ref,
        },
    )


async def _settled(emulator: Emulator, count: int = 1) -> list[dict[str, Any]]:
    """Wait for ``count`` C2B payments to finish, and for their calls to go out."""
    for _ in range(500):
        payments = [p.to_json() for p in emulator.simulator.c2b.payments()]
        if sum(p["status"] != "pending" for p in payments) >= count:
            break
        await asyncio.sleep(0.01)
    await emulator.simulator.callbacks.wait_idle()
    return payments


@pytest.mark.parametrize("settings_overrides", [MERCHANTS])
@pytest.mark.parametrize("version", [1, 2])
async def test_register_url_answers_as_each_version_does(
    emulator: Emulator, http: httpx.AsyncClient, shop: Shop, version: int
) -> None:
    answer = await _register(http, shop.url, version=version)
    assert answer.status_code == 200
    body = answer.json()
    assert list(body) == ["OriginatorCoversationID", "ResponseCode", "ResponseDescription"]  # sic
    assert body["ResponseCode"] == "0" and body["ResponseDescription"] == ("success" if version == 1 else "Success")
    [registration] = (await http.get("/simulator/c2b/registrations")).json()["registrations"]
    assert (registration["shortcode"], registration["version"]) == ("600984", version)


@pytest.mark.parametrize(
    "settings_overrides", [{**MERCHANTS, "c2b_register": "production", "c2b_register_ack": "bare"}]
)
async def test_register_url_refusals(emulator: Emulator, http: httpx.AsyncClient, shop: Shop) -> None:
    first = await _register(http, shop.url)
    assert first.text == '{"ResponseDescription":"Success"}'
    again = await _register(http, shop.url)
    assert again.status_code == 500 and again.json()["errorCode"] == "500.003.1001"
    assert again.json()["errorMessage"] == "Duplicate notification info, SP ID is 107078, correlator is 600984"
    mpesa = await http.post(
        "/mpesa/c2b/v1/registerurl",
        headers=await _token(http),
        json={
            "ShortCode": "600000",
            "ResponseType": "Completed",
            "ConfirmationURL": "https://shop.example/confirm",
            "ValidationURL": "https://shop.example/mpesa/validate",
        },
    )
    assert (mpesa.status_code, mpesa.json()["errorCode"]) == (400, "400.003.02")
    assert mpesa.json()["errorMessage"] == "Bad Request - Invalid ValidationURL - URL has the word MPESA"
    unknown = await _register(http, shop.url, shortcode="123456")
    assert (unknown.status_code, unknown.json()["errorMessage"]) == (400, "Bad Request - Invalid ShortCode")
    no_token = await http.post("/mpesa/c2b/v2/registerurl", json={})
    assert no_token.status_code == 404 and no_token.json()["errorCode"] == "404.001.03"


@pytest.mark.parametrize("settings_overrides", [MERCHANTS])
async def test_a_simulated_payment_is_validated_then_confirmed(
    emulator: Emulator,
    http: httpx.AsyncClient,
    shop: Shop,
) -> None:
    await _register(http, shop.url)
    ack = await _simulate(http)
    assert ack.status_code == 200
    assert list(ack.json()) == ["OriginatorCoversationID", "ResponseCode", "ResponseDescription"]
    assert ack.json()["ResponseDescription"] == "Accept the service request successfully."
    [payment] = await _settled(emulator)
    assert payment["status"] == "completed" and payment["via"] == "simulate"

    [validation] = shop.bodies("/validation")
    [confirmation] = shop.bodies("/confirmation")
    keys = [
        "TransactionType",
        "TransID",
        "TransTime",
        "TransAmount",
        "BusinessShortCode",
        "BillRefNumber",
        "InvoiceNumber",
        "OrgAccountBalance",
        "ThirdPartyTransID",
        "MSISDN",
        "FirstName",
    ]
    assert list(validation) == keys and list(confirmation) == keys
    assert all(isinstance(v, str) for v in (*validation.values(), *confirmation.values()))
    assert validation["OrgAccountBalance"] == "" and confirmation["OrgAccountBalance"] == "250.00"
    assert confirmation["TransID"] == validation["TransID"] == payment["trans_id"]
    assert (confirmation["TransactionType"], confirmation["TransAmount"], confirmation["BillRefNumber"]) == (
        "Pay Bill",
        "250.00",
        "INV-77",
    )
    assert confirmation["MSISDN"] == "2547 ***** 149" and confirmation["FirstName"] == "WANJIKU"
    assert shop.calls[0][1]["Content-Type"] == "application/json"

    handset = (await http.get(f"/simulator/handsets/{WANJIKU}")).json()
    assert handset["balance"] == 10_000 - 250
    [sms] = (await http.get(f"/simulator/handsets/{WANJIKU}/inbox")).json()["messages"]
    assert sms["text"].startswith(
        f"{payment['trans_id']} Confirmed. Ksh250.00 sent to SANDBOX PAYBILL 984 for account INV-77"
    )
    merchants = {m["shortcode"]: m for m in (await http.get("/simulator/merchants")).json()["merchants"]}
    assert merchants["600984"]["accounts"]["utility"] == 250.0
    kinds = {d["channel"] for d in (await http.get("/simulator/deliveries")).json()["deliveries"]}
    assert kinds == {"c2b_validation", "c2b_confirmation"}
    assert emulator.simulator.ledger.audit() == []


@pytest.mark.parametrize("settings_overrides", [MERCHANTS])
@pytest.mark.parametrize("code", ["C2B00011", "C2B00012", "C2B00013", "C2B00014", "C2B00015", "C2B00016"])
async def test_each_reject_code_cancels(emulator: Emulator, http: httpx.AsyncClient, shop: Shop, code: str) -> None:
    shop.answer = {"ResultCode": code, "ResultDesc": "Rejected"}
    await _register(http, shop.url)
    await _simulate(http)
    [payment] = await _settled(emulator)
    assert payment["status"] == "rejected" and code in payment["reason"]
    assert shop.bodies("/confirmation") == []
    assert (await http.get(f"/simulator/handsets/{WANJIKU}")).json()["balance"] == 10_000


@pytest.mark.parametrize("settings_overrides", [MERCHANTS])
@pytest.mark.parametrize("response_type", ["Completed", "Cancelled"])
@pytest.mark.parametrize("fault", ["slow", "garbage", "http 503", "not an object", "unreachable"])
async def test_no_answer_leaves_it_to_the_response_type(
    emulator: Emulator,
    http: httpx.AsyncClient,
    shop: Shop,
    response_type: str,
    fault: str,
) -> None:
    if fault == "slow":
        shop.delay = 2.0  # past the 0.5 s allowed
    elif fault == "garbage":
        shop.answer = "ok thanks"
    elif fault == "http 503":
        shop.status = 503
    elif fault == "not an object":
        shop.answer = [0]
    url = shop.url
    if fault == "unreachable":
        with __import__("socket").socket() as probe:
            probe.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    await _register(http, url, response_type=response_type)
    await _simulate(http)
    [payment] = await _settled(emulator)
    completes = response_type == "Completed"
    assert payment["status"] == ("completed" if completes else "rejected"), payment
    expected_balance = 10_000 - 250 if completes else 10_000
    assert (await http.get(f"/simulator/handsets/{WANJIKU}")).json()["balance"] == expected_balance
    validation = (await http.get(f"/simulator/deliveries/c2b_validation:{payment['trans_id']}")).json()
    assert validation["attempts"][0]["error"] or fault in ("garbage", "not an object")
    if fault != "unreachable":
        assert len(shop.bodies("/confirmation")) == (1 if completes else 0)


@pytest.mark.parametrize("settings_overrides", [MERCHANTS])
async def test_without_external_validation_only_the_confirmation_is_sent(
    emulator: Emulator,
    http: httpx.AsyncClient,
    shop: Shop,
) -> None:
    await _register(http, shop.url, shortcode="600000")
    await _simulate(http, shortcode=600000)
    [payment] = await _settled(emulator)
    assert payment["status"] == "completed"
    assert [p for p, _, _ in shop.calls] == ["/c2b/confirmation"]


@pytest.mark.parametrize("settings_overrides", [MERCHANTS])
async def test_without_urls_the_payment_completes_and_nobody_is_called(
    emulator: Emulator,
    http: httpx.AsyncClient,
    shop: Shop,
) -> None:
    await _simulate(http)
    [payment] = await _settled(emulator)
    assert payment["status"] == "completed" and shop.calls == []
    assert (await http.get(f"/simulator/handsets/{WANJIKU}")).json()["balance"] == 10_000 - 250


@pytest.mark.parametrize("settings_overrides", [MERCHANTS])
async def test_a_v1_registration_hashes_the_msisdn(emulator: Emulator, http: httpx.AsyncClient, shop: Shop) -> None:
    await _register(http, shop.url, version=1)
    await _simulate(http)
    await _settled(emulator)
    [confirmation] = shop.bodies("/confirmation")
    assert confirmation["MSISDN"] == hashlib.sha256(WANJIKU.encode()).hexdigest()
    assert confirmation["MSISDN"] == "bbff37cea44ac0b2d964ee0dfb8d2df8513dc7ba1b36129a929fc3fbd6dd4af4"  # spec §10.3


@pytest.mark.parametrize("settings_overrides", [MERCHANTS])
async def test_a_payment_the_customer_cannot_afford_calls_nobody(
    emulator: Emulator,
    http: httpx.AsyncClient,
    shop: Shop,
) -> None:
    await _register(http, shop.url)
    await _simulate(http, amount=20_000)
    [payment] = await _settled(emulator)
    assert payment["status"] == "failed" and "less than Ksh20,000.00" in payment["reason"]
    assert shop.calls == []


@pytest.mark.parametrize("settings_overrides", [MERCHANTS])
async def test_an_stk_payment_into_a_registered_paybill_also_confirms(
    emulator: Emulator,
    http: httpx.AsyncClient,
    shop: Shop,
    receiver: CallbackReceiver,
    daraja: Daraja,
) -> None:
    await _register(http, shop.url, shortcode="174379")
    checkout = (await daraja.push(receiver.url, Amount=75, AccountReference="ORDER9")).json()["CheckoutRequestID"]
    paid = (await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})).json()
    await emulator.simulator.callbacks.wait_idle()
    [confirmation] = shop.bodies("/confirmation")
    assert (confirmation["TransID"], confirmation["BillRefNumber"], confirmation["TransAmount"]) == (
        paid["receipt"],
        "ORDER9",
        "75.00",
    )
    assert confirmation["TransactionType"] == "Pay Bill" and confirmation["OrgAccountBalance"] == "75.00"
    assert shop.bodies("/validation") == []  # an STK payment is validated by the customer's PIN
    assert len(receiver.received) == 1


@pytest.mark.parametrize("settings_overrides", [{**MERCHANTS, "stk_c2b_confirmation": False}])
async def test_the_stk_confirmation_can_be_turned_off(
    emulator: Emulator,
    http: httpx.AsyncClient,
    shop: Shop,
    receiver: CallbackReceiver,
    daraja: Daraja,
) -> None:
    await _register(http, shop.url, shortcode="174379")
    checkout = (await daraja.push(receiver.url)).json()["CheckoutRequestID"]
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    await emulator.simulator.callbacks.wait_idle()
    assert shop.calls == [] and len(receiver.received) == 1


@pytest.mark.parametrize("settings_overrides", [MERCHANTS])
async def test_the_control_api_pays_a_paybill_and_checks_its_input(
    emulator: Emulator,
    http: httpx.AsyncClient,
    shop: Shop,
) -> None:
    await _register(http, shop.url)
    paid = await http.post(
        "/simulator/c2b/payments",
        json={
            "msisdn": WANJIKU,
            "shortcode": "600984",
            "amount": 40,
            "account": "ACC-1",
        },
    )
    assert paid.status_code == 201 and paid.json()["status"] == "completed" and paid.json()["via"] == "control"
    assert len(shop.bodies("/validation")) == 1  # the validation was awaited before the answer
    for bad, words in (
        ({"msisdn": "0712", "shortcode": "600984", "amount": 1}, "msisdn"),
        ({"msisdn": WANJIKU, "shortcode": "600984", "amount": 0}, "amount"),
        ({"msisdn": WANJIKU, "shortcode": "600984", "amount": 1, "command": "Steal"}, "command"),
        ({"msisdn": WANJIKU, "amount": 1}, "required"),
    ):
        refused = await http.post("/simulator/c2b/payments", json=bad)
        assert refused.status_code == 400 and words in refused.json()["error"], refused.text
    missing = await http.post("/simulator/c2b/payments", json={"msisdn": WANJIKU, "shortcode": "999999", "amount": 1})
    assert missing.status_code == 404
    listed = (await http.get("/simulator/c2b/payments", params={"shortcode": "600984"})).json()["payments"]
    assert [p["amount"] for p in listed] == [40]


@pytest.mark.parametrize("settings_overrides", [{**MERCHANTS, "c2b_simulate": "sandbox"}])
async def test_the_sandbox_calls_back_for_its_test_number_only(
    emulator: Emulator,
    http: httpx.AsyncClient,
    shop: Shop,
) -> None:
    await _register(http, shop.url)
    await _simulate(http, msisdn=254712345678)
    [payment] = await _settled(emulator)
    assert payment["status"] == "completed" and shop.calls == []
    await _simulate(http)
    await _settled(emulator, 2)
    assert len(shop.bodies("/confirmation")) == 1


@pytest.mark.parametrize("settings_overrides", [MERCHANTS])
async def test_simulate_refusals(emulator: Emulator, http: httpx.AsyncClient) -> None:
    unknown = await _simulate(http, shortcode=123456)
    assert unknown.status_code == 400 and unknown.json()["errorMessage"] == "Bad Request - Invalid ShortCode"
    bad = await http.post(
        "/mpesa/c2b/v1/simulate",
        headers=await _token(http),
        json={
            "ShortCode": 600984,
            "CommandID": "CustomerPayBillOnline",
            "Amount": 1,
            "Msisdn": "0712345678",
        },
    )
    assert bad.status_code == 400 and bad.json()["errorMessage"] == "Bad Request - Invalid Msisdn"
    not_json = await http.post(
        "/mpesa/c2b/v1/simulate", headers={**(await _token(http)), "Content-Type": "application/json"}, content=b"{nope"
    )
    assert not_json.status_code == 400 and not_json.json()["errorCode"] == "400.002.05"


async def test_a_confirmation_owed_at_a_stop_goes_out_after_the_restart(tmp_path, shop: Shop) -> None:
    """The shop hangs on the confirmation when the emulator stops; the next start sends it, once."""
    from server.clock import ManualClock
    from server.ids import IdGenerator
    from server.settings import Settings

    settings = Settings(port=0, db=tmp_path / "c2b.db", callback_timeout=30, **MERCHANTS)
    first = Emulator(settings, clock=ManualClock(), ids=IdGenerator(seed=1))
    await first.start()
    hanging = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        hanging.set()
        await asyncio.sleep(60)
        return web.json_response({})

    runner, port = await serve_posts(hang)
    try:
        async with httpx.AsyncClient(base_url=first.base_url) as http:
            await _register(http, f"http://127.0.0.1:{port}", shortcode="600000")
            paid = (
                await http.post(
                    "/simulator/c2b/payments",
                    json={
                        "msisdn": WANJIKU,
                        "shortcode": "600000",
                        "amount": 10,
                    },
                )
            ).json()
        await asyncio.wait_for(hanging.wait(), 5)
        await first.stop()  # mid-delivery: the confirmation stays due
    finally:
        await runner.cleanup()

    back = Shop()
    runner, _ = await serve_posts(back.handle, port)  # the shop is back where it was
    again = Emulator(settings, clock=ManualClock(), ids=IdGenerator(seed=2))
    await again.start()
    try:
        await asyncio.wait_for(back.arrived.wait(), 5)
        await again.simulator.callbacks.wait_idle()
        [confirmation] = back.bodies("/confirmation")
        assert confirmation["TransID"] == paid["trans_id"]
        key = f"c2b_confirmation:{paid['trans_id']}"
        assert again.simulator.delivery(key).state == "delivered"
    finally:
        await again.stop()
        await runner.cleanup()
