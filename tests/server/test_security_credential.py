"""SecurityCredentials checked with the emulator's own certificate (security_credential = "check").

A client encrypts the initiator's password with the certificate from GET /simulator/certificate
(RSA, PKCS#1 v1.5, as with Safaricom's), here with the ``cryptography`` library as a client
would, not with the emulator's helper; the Result then says whether the name and password
were right: 0, else 2001, and five wrong in a row lock the initiator (8006).
"""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from server.clock import ManualClock
from server.runner import Emulator
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"security_credential": "check"}


async def _encrypt_like_a_client(http: httpx.AsyncClient, password: str) -> str:
    pem = await http.get("/simulator/certificate")
    assert pem.status_code == 200 and pem.headers["Content-Type"].startswith("application/x-pem-file")
    key = x509.load_pem_x509_certificate(pem.content).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return base64.b64encode(key.encrypt(password.encode(), padding.PKCS1v15())).decode()


async def _balance_query(
    http: httpx.AsyncClient, receiver: CallbackReceiver, initiator: str, credential: str, party: str = "600000"
) -> None:
    token = await Daraja(http).token()
    body = {
        "Initiator": initiator,
        "SecurityCredential": credential,
        "CommandID": "AccountBalance",
        "PartyA": party,
        "IdentifierType": "4",
        "Remarks": "ok",
        "QueueTimeOutURL": receiver.url_for("/timeout"),
        "ResultURL": receiver.url_for("/result"),
    }
    ack = await http.post("/mpesa/accountbalance/v1/query", json=body, headers={"Authorization": f"Bearer {token}"})
    assert ack.status_code == 200, ack.text  # a wrong credential is never a synchronous error (§8.2)


async def _result_code(emulator: Emulator, clock: ManualClock, receiver: CallbackReceiver) -> int | str:
    count = len(receiver.received) + 1
    clock.advance(emulator.settings.result_delay)
    await receiver.wait_for(count)
    return receiver.received[-1].json["Result"]["ResultCode"]


async def test_the_right_password_passes_and_a_wrong_one_gets_2001_then_8006(
    emulator: Emulator, http: httpx.AsyncClient, receiver: CallbackReceiver, clock: ManualClock
) -> None:
    for password in ("Safaricom123!!", "Safaricom999!*!"):  # both of the sandbox's, by default
        await _balance_query(http, receiver, "testapi", await _encrypt_like_a_client(http, password))
        assert await _result_code(emulator, clock, receiver) == 0
    wrong = [
        ("testapi", await _encrypt_like_a_client(http, "Safaricom123")),  # wrong password
        ("someone", await _encrypt_like_a_client(http, "Safaricom123!!")),  # wrong initiator
        ("testapi", base64.b64encode(b"made with Safaricom's certificate").decode()),  # not ours
    ]
    for initiator, credential in wrong:
        await _balance_query(http, receiver, initiator, credential)
        assert await _result_code(emulator, clock, receiver) == 2001, initiator
    right = await _encrypt_like_a_client(http, "Safaricom123!!")
    await _balance_query(http, receiver, "testapi", right)
    assert await _result_code(emulator, clock, receiver) == 0  # a success clears the count
    for _ in range(5):
        await _balance_query(http, receiver, "testapi", await _encrypt_like_a_client(http, "nope"))
        assert await _result_code(emulator, clock, receiver) == 2001
    await _balance_query(http, receiver, "testapi", right)
    assert await _result_code(emulator, clock, receiver) == 8006  # locked, even with the right one


async def test_the_portal_tool_route_and_the_default_mode(
    emulator: Emulator, http: httpx.AsyncClient, receiver: CallbackReceiver, clock: ManualClock
) -> None:
    made = await http.post("/simulator/security-credential", json={"password": "Safaricom123!!"})
    assert made.status_code == 200
    await _balance_query(http, receiver, "testapi", made.json()["security_credential"])
    assert await _result_code(emulator, clock, receiver) == 0
    for bad in ({}, {"password": ""}, {"password": 5}, {"password": "x" * 61}, {"pass": "x"}):
        refused = await http.post("/simulator/security-credential", json=bad)
        assert refused.status_code == 400 and refused.json()["error"], bad
    # Back to the default at runtime: any base64 passes again.
    assert (await http.patch("/simulator/settings", json={"security_credential": "base64"})).status_code == 200
    await _balance_query(http, receiver, "anyone", base64.b64encode(b"anything").decode())
    assert await _result_code(emulator, clock, receiver) == 0


def test_the_cli_prints_the_certificate_and_credentials_that_decrypt_to_the_password() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSET_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "handset", "credential", *args]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)

    pem = run("--certificate")
    assert pem.returncode == 0 and pem.stdout.startswith("-----BEGIN CERTIFICATE-----")
    made = run("Safaricom123!!")
    assert made.returncode == 0 and made.stderr == ""
    from server.security_credential import decrypt

    assert decrypt(made.stdout.strip()) == "Safaricom123!!"
    assert run("Safaricom123!!").stdout != made.stdout  # PKCS#1 v1.5 pads with random bytes
    missing = run()
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    too_long = run("é" * 61)
    assert too_long.returncode == 2 and too_long.stderr.count("\n") == 1 and "60 characters" in too_long.stderr
    assert decrypt(run("é" * 60).stdout.strip()) == "é" * 60  # 120 bytes of UTF-8 still fit the key


def test_the_cli_says_nothing_when_its_reader_stops_early() -> None:
    # `handset credential ... | true`: the reader has gone before a byte is written.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDSET_")}
    for args in ("--certificate", "Safaricom123!!"):
        command = f"{shlex.quote(sys.executable)} -m handset credential {args} | true"
        shell = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
        )
        assert (shell.returncode, shell.stderr) == (0, ""), shell.stderr
