"""Transaction Status, Account Balance and Reversal over real HTTP, Results to a real receiver.

Each request is acknowledged at once and its Result comes when the ManualClock reaches
``result_delay`` (spec §8). Status finds any payment the asking shortcode was party to (STK,
C2B, B2C, a reversal) by receipt or OriginalConversationID; Balance lists the shortcode's
accounts as the ``AccountBalance`` string of §14; Reversal gives an STK or C2B payment back.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from server.clock import ManualClock
from server.runner import Emulator
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver

WANJIKU = "254708374149"
CREDENTIAL = base64.b64encode(b"encrypted").decode()


async def _call(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    token = await Daraja(http).token()
    return await http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


def _initiator(receiver: CallbackReceiver, command: str, **fields: Any) -> dict[str, Any]:
    return {
        "Initiator": "testapi",
        "SecurityCredential": CREDENTIAL,
        "CommandID": command,
        **fields,
        "ResultURL": receiver.url_for("/result"),
        "QueueTimeOutURL": receiver.url_for("/timeout"),
        "Remarks": "ok",
    }


async def _result(emulator: Emulator, clock: ManualClock, receiver: CallbackReceiver) -> dict[str, Any]:
    count = len(receiver.received) + 1
    clock.advance(emulator.settings.result_delay)
    await receiver.wait_for(count)
    await emulator.simulator.callbacks.wait_idle()
    return receiver.received[-1].json["Result"]


def _params(result: dict[str, Any]) -> dict[str, Any]:
    return {p["Key"]: p.get("Value", "<no Value>") for p in result["ResultParameters"]["ResultParameter"]}


async def _stk_paid(daraja: Daraja, http: httpx.AsyncClient, receiver: CallbackReceiver, amount: int = 120) -> str:
    checkout = (await daraja.push(receiver.url, Amount=amount)).json()["CheckoutRequestID"]
    paid = await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    return str(paid.json()["receipt"])


async def test_account_balance_lists_the_shortcodes_accounts(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
) -> None:
    ack = await _call(
        http,
        "/mpesa/accountbalance/v1/query",
        _initiator(
            receiver,
            "AccountBalance",
            PartyA="600000",
            IdentifierType="4",
        ),
    )
    assert ack.status_code == 200
    assert list(ack.json()) == ["OriginatorConversationID", "ConversationID", "ResponseCode", "ResponseDescription"]
    assert ack.json()["ResponseDescription"] == "Accept the service request successfully"  # the AB page's, no period
    result = await _result(emulator, clock, receiver)
    assert result["ResultCode"] == 0 and result["TransactionID"] == "UKR0000000"
    params = _params(result)
    assert list(params) == ["ActionType", "AccountBalance", "BOCompletedTime"]
    assert params["AccountBalance"] == (
        "Working Account|KES|100000.00|100000.00|0.00|0.00&Utility Account|KES|1000000.00|1000000.00|0.00|0.00"
        "&Charges Paid Account|KES|0.00|0.00|0.00|0.00&Organization Settlement Account|KES|0.00|0.00|0.00|0.00"
    )
    assert params["BOCompletedTime"] == 20261127185003
    assert (
        '"https:\\/\\/internalsandbox.safaricom.co.ke\\/mpesa\\/abresults\\/v1\\/submit"'
        in receiver.received[-1].raw.decode()
    )


async def test_transaction_status_finds_an_stk_payment_by_receipt(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
    daraja: Daraja,
) -> None:
    receipt = await _stk_paid(daraja, http, receiver)
    await _call(
        http,
        "/mpesa/transactionstatus/v1/query",
        _initiator(
            receiver,
            "TransactionStatusQuery",
            TransactionID=receipt,
            PartyA="174379",
            IdentifierType="4",
            Occasion="audit",
        ),
    )
    result = await _result(emulator, clock, receiver)
    assert result["ResultCode"] == 0
    params = _params(result)
    assert list(params) == [
        "DebitPartyName",
        "CreditPartyName",
        "OriginatorConversationID",
        "InitiatedTime",
        "CreditPartyCharges",
        "DebitAccountType",
        "TransactionReason",
        "ReasonType",
        "TransactionStatus",
        "FinalisedTime",
        "Amount",
        "ConversationID",
        "ReceiptNo",
    ]
    assert params["DebitPartyName"] == f"{WANJIKU} - WANJIKU KAMAU"
    assert params["CreditPartyName"] == "174379 - Daraja-Sandbox"
    assert (params["ReasonType"], params["TransactionStatus"], params["ReceiptNo"]) == (
        "Pay Bill Online",
        "Completed",
        receipt,
    )
    assert params["CreditPartyCharges"] == "<no Value>" and params["TransactionReason"] == "<no Value>"
    assert params["Amount"] == 120.0 and '"Amount","Value":120.00' in receiver.received[-1].raw.decode()
    assert result["ReferenceData"]["ReferenceItem"] == {"Key": "Occasion", "Value": "audit"}


async def test_transaction_status_of_a_b2c_payout_by_originator_id_and_not_found(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
) -> None:
    await _call(
        http,
        "/mpesa/b2c/v3/paymentrequest",
        {
            "OriginatorConversationID": "payout-9",
            "InitiatorName": "testapi",
            "SecurityCredential": CREDENTIAL,
            "CommandID": "BusinessPayment",
            "Amount": 50,
            "PartyA": "600984",
            "PartyB": WANJIKU,
            "Remarks": "ok",
            "QueueTimeOutURL": receiver.url,
            "ResultURL": receiver.url,
        },
    )
    payout = await _result(emulator, clock, receiver)
    await _call(
        http,
        "/mpesa/transactionstatus/v1/query",
        _initiator(
            receiver,
            "TransactionStatusQuery",
            OriginalConversationID="payout-9",
            PartyA="600984",
            IdentifierType="4",
        ),
    )
    result = await _result(emulator, clock, receiver)
    params = _params(result)
    assert params["ReceiptNo"] == payout["TransactionID"]
    assert params["ReasonType"] == "Business Payment to Customer via API"
    assert params["DebitPartyCharges"] == "Fee For B2C Payment|KES|0.00"
    # Another shortcode may not look at it, and an unknown receipt is not found: 2033.
    for party, receipt in (("600000", payout["TransactionID"]), ("600984", "UKR0000XYZ")):
        await _call(
            http,
            "/mpesa/transactionstatus/v1/query",
            _initiator(
                receiver,
                "TransactionStatusQuery",
                TransactionID=receipt,
                PartyA=party,
                IdentifierType="4",
            ),
        )
        missing = await _result(emulator, clock, receiver)
        assert missing["ResultCode"] == 2033 and "ResultParameters" not in missing


async def test_a_reversal_gives_an_stk_payment_back_once(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
    daraja: Daraja,
) -> None:
    receipt = await _stk_paid(daraja, http, receiver, amount=300)
    ledger = emulator.simulator.ledger
    body = _initiator(
        receiver,
        "TransactionReversal",
        TransactionID=receipt,
        Amount="300",
        ReceiverParty="174379",
        RecieverIdentifierType="11",
    )
    ack = await _call(http, "/mpesa/reversal/v1/request", body)
    assert ack.status_code == 200
    result = await _result(emulator, clock, receiver)
    assert result["ResultCode"] == 0
    params = _params(result)
    assert list(params) == [
        "DebitAccountBalance",
        "Amount",
        "TransCompletedTime",
        "OriginalTransactionID",
        "Charge",
        "CreditPartyPublicName",
        "DebitPartyPublicName",
    ]
    assert params["OriginalTransactionID"] == receipt
    assert params["DebitAccountBalance"] == "Utility Account|KES|0.00|0.00|0.00|0.00"
    assert params["CreditPartyPublicName"] == f"{WANJIKU} - Wanjiku Kamau"
    assert params["DebitPartyPublicName"] == "174379 - Daraja-Sandbox"
    assert ledger.balance(("174379", "utility")) == 0
    assert (await http.get(f"/simulator/handsets/{WANJIKU}")).json()["balance"] == 10_000
    inbox = (await http.get(f"/simulator/handsets/{WANJIKU}/inbox")).json()["messages"]
    assert f"Transaction {receipt} has been reversed" in inbox[0]["text"]
    assert ledger.audit() == []

    await _call(http, "/mpesa/reversal/v1/request", body)
    again = await _result(emulator, clock, receiver)
    assert (again["ResultCode"], again["ResultDesc"]) == ("R000001", "The transaction has already been reversed")
    await _call(http, "/mpesa/reversal/v1/request", {**body, "TransactionID": "UKR9999999"})
    unknown = await _result(emulator, clock, receiver)
    assert (unknown["ResultCode"], unknown["TransactionID"]) == ("R000002", "UKR0000000")
    assert '"ResultCode":"R000002"' in receiver.received[-1].raw.decode()  # a string code stays a string


async def test_a_c2b_payment_can_be_reversed_by_its_shortcode_only(
    emulator: Emulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    clock: ManualClock,
) -> None:
    paid = (
        await http.post(
            "/simulator/c2b/payments",
            json={
                "msisdn": WANJIKU,
                "shortcode": "600984",
                "amount": 80,
            },
        )
    ).json()
    base = _initiator(
        receiver,
        "TransactionReversal",
        TransactionID=paid["trans_id"],
        Amount="80",
        RecieverIdentifierType="4",
    )
    await _call(http, "/mpesa/reversal/v1/request", {**base, "ReceiverParty": "600000"})
    assert (await _result(emulator, clock, receiver))["ResultCode"] == "R000002"  # not paid to 600000
    await _call(http, "/mpesa/reversal/v1/request", {**base, "ReceiverParty": "600984"})
    assert (await _result(emulator, clock, receiver))["ResultCode"] == 0
    assert (await http.get(f"/simulator/handsets/{WANJIKU}")).json()["balance"] == 10_000


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/mpesa/reversal/v1/request",
            {
                "Initiator": "testapi",
                "SecurityCredential": CREDENTIAL,
                "CommandID": "TransactionReversal",
                "TransactionID": "UKR1234567",
                "Amount": "1",
                "ReceiverParty": "174379",
                "ReceiverIdentifierType": "11",
                "ResultURL": "https://x.example/r",
                "QueueTimeOutURL": "https://x.example/q",
                "Remarks": "ok",
            },
            "Bad Request - Invalid RecieverIdentifierType",
        ),  # the correct spelling is refused (sic)
        (
            "/mpesa/accountbalance/v1/query",
            {
                "Initiator": "testapi",
                "SecurityCredential": CREDENTIAL,
                "CommandID": "AccountBalance",
                "PartyA": "999999",
                "IdentifierType": "4",
                "ResultURL": "https://x.example/r",
                "QueueTimeOutURL": "https://x.example/q",
                "Remarks": "ok",
            },
            "Bad Request - Invalid PartyA",
        ),
        (
            "/mpesa/transactionstatus/v1/query",
            {"Initiator": "testapi", "SecurityCredential": CREDENTIAL, "CommandID": "Nope"},
            "Bad Request - Invalid CommandID",
        ),
    ],
    ids=["reversal with the correct spelling", "balance of an unknown shortcode", "status with a bad CommandID"],
)
async def test_synchronous_refusals(
    emulator: Emulator,
    http: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    message: str,
) -> None:
    refused = await _call(http, path, body)
    assert refused.status_code == 400 and refused.json()["errorMessage"] == message, refused.text
