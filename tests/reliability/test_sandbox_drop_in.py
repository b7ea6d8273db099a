"""A sandbox app's ``.env`` works as it is: a real ``handset serve`` with no config file.

The process starts with nothing but a port and a database (no ``--config``, no ``HANDSET_*``
variable), and a merchant using only the values the README's ``.env`` block lists (any consumer
key, the sandbox initiator ``testapi`` with either of its passwords, the test MSISDN) registers
C2B URLs, simulates a payment, pays out by B2C, asks the status of the payment, the balance of
the shortcode, and reverses the payment: on each of the shortcodes the public examples use,
each step succeeding. Results come after the default ``result_delay``, on the real clock.
"""

from __future__ import annotations

import asyncio
import base64
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.daraja.catalogue import SANDBOX_INITIATOR_PASSWORDS, SANDBOX_ORGANISATIONS, SANDBOX_TEST_MSISDN
from server.sandbox_credentials import sandbox_credentials
from server.settings import Settings
from tests.receiver import CallbackReceiver
from tests.reliability.reliability_kit import spawn_serve

pytestmark = pytest.mark.slow

SHORTCODES = ("600000", "600984", "600992")


def _credential(password: str) -> str:
    # What a client sends: the password encrypted with the sandbox certificate, base64. The
    # emulator cannot decrypt Safaricom's, so any base64 stands for it (spec §8.2).
    return base64.b64encode(f"RSA({password})".encode()).decode()


async def _flows_on(http: httpx.AsyncClient, receiver: CallbackReceiver, shortcode: str, password: str) -> None:
    env = sandbox_credentials(Settings())
    token = await http.get(
        "/oauth/v1/generate",
        params={"grant_type": "client_credentials"},
        auth=(env.consumer_key, env.consumer_secret),
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def initiator(command: str, **fields: Any) -> dict[str, Any]:
        return {
            "Initiator": env.initiator,
            "SecurityCredential": _credential(password),
            "CommandID": command,
            **fields,
            "ResultURL": receiver.url_for(f"/result/{shortcode}/{command}"),
            "QueueTimeOutURL": receiver.url_for(f"/timeout/{shortcode}"),
            "Remarks": "drop-in",
        }

    def post(path: str, body: dict[str, Any]) -> Any:
        return http.post(path, headers=headers, json=body)

    registered = await post(
        "/mpesa/c2b/v2/registerurl",
        {
            "ShortCode": shortcode,
            "ResponseType": "Completed",
            "ConfirmationURL": receiver.url_for(f"/confirmation/{shortcode}"),
            "ValidationURL": receiver.url_for(f"/validation/{shortcode}"),
        },
    )
    assert registered.status_code == 200, registered.text
    simulated = await post(
        "/mpesa/c2b/v2/simulate",
        {
            "ShortCode": shortcode,
            "CommandID": "CustomerPayBillOnline",
            "Amount": 100,
            "Msisdn": env.test_msisdn,
            "BillRefNumber": f"INV{shortcode}",
        },
    )
    assert simulated.status_code == 200 and simulated.json()["ResponseCode"] == "0", simulated.text
    confirmation = await _arrival(receiver, f"/confirmation/{shortcode}")
    receipt = confirmation["TransID"]
    assert (confirmation["BusinessShortCode"], confirmation["TransAmount"]) == (shortcode, "100.00")

    requests = {
        "/mpesa/b2c/v3/paymentrequest": {
            "OriginatorConversationID": f"drop-in-{shortcode}",
            "InitiatorName": env.initiator,
            "SecurityCredential": _credential(password),
            "CommandID": "BusinessPayment",
            "Amount": 50,
            "PartyA": shortcode,
            "PartyB": SANDBOX_TEST_MSISDN,
            "Remarks": "drop-in",
            "QueueTimeOutURL": receiver.url_for(f"/timeout/{shortcode}"),
            "ResultURL": receiver.url_for(f"/result/{shortcode}/BusinessPayment"),
            "Occasion": "",
        },
        "/mpesa/transactionstatus/v1/query": initiator(
            "TransactionStatusQuery", TransactionID=receipt, PartyA=shortcode, IdentifierType="4", Occasion=""
        ),
        "/mpesa/accountbalance/v1/query": initiator("AccountBalance", PartyA=shortcode, IdentifierType="4"),
        "/mpesa/reversal/v1/request": initiator(
            "TransactionReversal",
            TransactionID=receipt,
            Amount="100",
            ReceiverParty=shortcode,
            RecieverIdentifierType="11",
            Occasion="",
        ),
    }
    for path, body in requests.items():
        ack = await post(path, body)
        assert ack.status_code == 200 and ack.json()["ResponseCode"] == "0", f"{path}: {ack.text}"
    for command in ("BusinessPayment", "TransactionStatusQuery", "AccountBalance", "TransactionReversal"):
        result = (await _arrival(receiver, f"/result/{shortcode}/{command}"))["Result"]
        assert result["ResultCode"] == 0, f"{shortcode} {command}: {result}"


async def _accounts(http: httpx.AsyncClient) -> dict[str, dict[str, float]]:
    merchants = (await http.get("/simulator/merchants")).json()["merchants"]
    return {m["shortcode"]: m["accounts"] for m in merchants}


async def _arrival(receiver: CallbackReceiver, path: str, timeout: float = 20.0) -> dict[str, Any]:
    """The first POST to ``path``: waits for more arrivals until it is among them."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [c for c in receiver.received if c.path == path]
        if found:
            return dict(found[0].json)
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"nothing arrived at {path}; got {[c.path for c in receiver.received]}"
        await receiver.wait_for(len(receiver.received) + 1, timeout=left)


async def test_the_sandbox_credentials_work_with_no_config(tmp_path: Path) -> None:
    receiver = CallbackReceiver()
    await receiver.start()
    process = spawn_serve(tmp_path / "handset.db", tmp_path / "serve.log")
    try:
        async with httpx.AsyncClient(base_url=process.url, timeout=15) as http:
            # Concurrently, as several merchants would; each shortcode with one of the two passwords.
            await asyncio.gather(
                *(
                    _flows_on(http, receiver, code, SANDBOX_INITIATOR_PASSWORDS[i % 2])
                    for i, code in enumerate(SHORTCODES)
                )
            )
            balance = await http.get(f"/simulator/handsets/{SANDBOX_TEST_MSISDN}")
            # 10,000 to start; each shortcode: paid 100 (given back by the reversal), received 50.
            assert balance.json()["balance"] == 10_000 + 50 * len(SHORTCODES)
            accounts = await _accounts(http)
            # Each Utility account: received 100 (C2B), gave it back (reversal), paid 50 (B2C).
            assert {code: accounts[code]["utility"] for code in SHORTCODES} == dict.fromkeys(SHORTCODES, 999_950)
            # A reset brings every organisation back, with the money that makes the first calls succeed.
            assert (await http.post("/simulator/reset")).status_code == 200
            after = await _accounts(http)
            assert set(after) == {"174379", "600101", *(code for code, _ in SANDBOX_ORGANISATIONS)}
            for code, _ in SANDBOX_ORGANISATIONS:
                assert after[code] == {
                    "working": 100_000,
                    "utility": 1_000_000,
                    "charges_paid": 0,
                    "organization_settlement": 0,
                }, code
    finally:
        process.proc.send_signal(signal.SIGINT)
        process.proc.wait(10)
        await receiver.stop()
    assert "Traceback" not in process.log.read_text()
