"""SIGKILL the headless emulator with the new flows' deliveries owed, restart it on the same
database, and check that nothing is lost and nothing is sent twice.

Before the kill, against a real ``handset serve`` process:

- Results settled but not delivered: a B2C payout whose ResultURL hangs, and one whose ResultURL
  is unreachable (the first attempt refused, the retry waiting);
- C2B confirmations settled but not delivered: one whose ConfirmationURL hangs, one whose
  ConfirmationURL is unreachable;
- requests acknowledged and still pending (``result_delay`` not elapsed): a B2C payout, a
  Transaction Status query, an Account Balance query, a reversal of an STK payment and a
  reversal of a C2B payment.

A simulated C2B payment, acknowledged, dies with its validation call in flight.

After the restart every one of them reaches its merchant exactly once, the money of the
pending ones moves exactly once (and the settled ones' not again), and a second restart sends
nothing. The ledger on disk is checked at the end with the real ``Ledger.audit()``.
"""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from server.ledger import Ledger
from server.store import Store
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver
from tests.reliability.reliability_kit import ServeProcess, free_port, poll, sigkill, spawn_serve

WANJIKU, OTIENO, ACHIENG = "254708374149", "254712345678", "254722000111"
CREDENTIAL = base64.b64encode(b"encrypted").decode()
RESULT_DELAY = 5.0  # real seconds: the pending requests must still be pending when the process dies
ENV = {
    "HANDSET_RESULT_DELAY": str(RESULT_DELAY),
    # A hanging merchant must stay hanging until the kill...
    "HANDSET_CALLBACK_TIMEOUT": "120",
    # ...and an unreachable one must still be owed a retry when it dies: refused once, then waiting.
    "HANDSET_CALLBACK_RETRIES": "3",
    "HANDSET_CALLBACK_BACKOFF": "60",
}


def _results(receiver: CallbackReceiver) -> Counter[str]:
    """ConversationIDs of the Results a merchant received, with how many times each came."""
    return Counter(c.json["Result"]["ConversationID"] for c in receiver.received if "Result" in c.json)


def _confirmations(receiver: CallbackReceiver) -> Counter[str]:
    return Counter(c.json["TransID"] for c in receiver.received if c.path.endswith("/confirmation"))


def _stk(receiver: CallbackReceiver) -> Counter[str]:
    return Counter(c.json["Body"]["stkCallback"]["CheckoutRequestID"] for c in receiver.received if "Body" in c.json)


class Merchant:
    """One organisation's side, over a real emulator process: Daraja calls and control reads."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.daraja = Daraja(http)

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        token = await self.daraja.token()
        answer = await self.http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def initiator(self, result_url: str, command: str, **fields: Any) -> dict[str, Any]:
        return {
            "Initiator": "testapi",
            "SecurityCredential": CREDENTIAL,
            "CommandID": command,
            **fields,
            "ResultURL": result_url,
            "QueueTimeOutURL": result_url.replace("/result", "/timeout"),
            "Remarks": "restart test",
        }

    async def b2c(self, result_url: str, party_a: str, party_b: str, amount: int, originator: str) -> str:
        ack = await self.call(
            "/mpesa/b2c/v3/paymentrequest",
            {
                "OriginatorConversationID": originator,
                "InitiatorName": "testapi",
                "SecurityCredential": CREDENTIAL,
                "CommandID": "BusinessPayment",
                "Amount": str(amount),
                "PartyA": party_a,
                "PartyB": party_b,
                "Remarks": "payout",
                "QueueTimeOutURL": result_url.replace("/result", "/timeout"),
                "ResultURL": result_url,
                "Occassion": "restart",
            },
        )
        return str(ack["ConversationID"])

    async def answer_now(self) -> None:
        """The next initiator request is answered at once instead of after result_delay."""
        assert (await self.http.post("/simulator/initiator/next", json={"delay": 0})).status_code == 201

    async def register(self, shortcode: str, validation_url: str, confirmation_url: str) -> None:
        await self.call(
            "/mpesa/c2b/v2/registerurl",
            {
                "ShortCode": shortcode,
                "ResponseType": "Completed",
                "ConfirmationURL": confirmation_url,
                "ValidationURL": validation_url,
            },
        )

    async def c2b_pay(self, msisdn: str, shortcode: str, amount: int) -> str:
        paid = await self.http.post(
            "/simulator/c2b/payments", json={"msisdn": msisdn, "shortcode": shortcode, "amount": amount}
        )
        assert paid.status_code == 201 and paid.json()["status"] == "completed", paid.text
        return str(paid.json()["trans_id"])

    async def requests(self) -> dict[str, dict[str, Any]]:
        found = (await self.http.get("/simulator/initiator/requests", params={"limit": 1000})).json()["requests"]
        return {r["conversation_id"]: r for r in found}

    async def deliveries(self) -> dict[str, dict[str, Any]]:
        found = (await self.http.get("/simulator/deliveries", params={"limit": 1000})).json()["deliveries"]
        return {d["delivery_id"]: d for d in found}

    async def attempts(self, delivery_id: str) -> list[dict[str, Any]]:
        return list((await self.http.get(f"/simulator/deliveries/{delivery_id}")).json()["attempts"])

    async def money(self) -> dict[str, Any]:
        """Every phone's balance and every organisation's accounts, as the control API shows them."""
        handsets = (await self.http.get("/simulator/handsets")).json()["handsets"]
        merchants = (await self.http.get("/simulator/merchants")).json()["merchants"]
        return {
            "handsets": {h["msisdn"]: h["balance"] for h in handsets},
            "accounts": {m["shortcode"]: m["accounts"] for m in merchants},
        }


def _moved(money: dict[str, Any], changes: list[tuple[str, str | None, float]]) -> dict[str, Any]:
    """``money`` after ``changes``: (phone, None, KES) for a phone, (shortcode, account, KES) for an organisation."""
    handsets = dict(money["handsets"])
    accounts = {code: dict(kinds) for code, kinds in money["accounts"].items()}
    for owner, kind, kes in changes:
        if kind is None:
            handsets[owner] = round(handsets[owner] + kes, 2)
        else:
            accounts[owner][kind] = round(accounts[owner][kind] + kes, 2)
    return {"handsets": handsets, "accounts": accounts}


async def test_owed_results_and_confirmations_survive_a_sigkill_once_each(tmp_path: Path) -> None:
    db = tmp_path / "handset.db"
    working = CallbackReceiver()  # answers at once: what it got before the kill must not come again
    hanging = CallbackReceiver(hang=True)  # holds the request: the delivery is still due at the kill
    await working.start()
    await hanging.start()
    unreachable_port = free_port()  # nothing listens there until after the kill
    unreachable = f"http://127.0.0.1:{unreachable_port}"
    processes: list[ServeProcess] = []
    came_back: CallbackReceiver | None = None
    try:
        first = await asyncio.to_thread(spawn_serve, db, tmp_path / "first.log", "--fresh", env=ENV)
        processes.append(first)
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as http:
            org = Merchant(http)
            # Payments to reverse and to ask about later, delivered before anything goes wrong.
            checkout = (await org.daraja.push(working.url, Amount=300)).json()["CheckoutRequestID"]
            paid = await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
            stk_receipt = paid.json()["receipt"]
            await org.register("600984", working.url_for("/c2b/validation"), working.url_for("/c2b/confirmation"))
            c2b_delivered = await org.c2b_pay(OTIENO, "600984", 450)

            # Settled, owed: Results and confirmations to a hanging and to an unreachable merchant.
            await org.answer_now()
            b2c_hanging = await org.b2c(hanging.url_for("/result"), "600992", ACHIENG, 700, "restart-hanging")
            await org.answer_now()
            b2c_unreachable = await org.b2c(f"{unreachable}/result", "600977", WANJIKU, 1_100, "restart-unreachable")
            await org.register("600000", working.url_for("/c2b/validation"), hanging.url_for("/c2b/confirmation"))
            c2b_hanging = await org.c2b_pay(WANJIKU, "600000", 260)
            await org.register("600998", working.url_for("/c2b/validation"), f"{unreachable}/c2b/confirmation")
            c2b_unreachable = await org.c2b_pay(ACHIENG, "600998", 90)
            owed = {
                f"result:{b2c_hanging}",
                f"result:{b2c_unreachable}",
                f"c2b_confirmation:{c2b_hanging}",
                f"c2b_confirmation:{c2b_unreachable}",
            }

            async def unreachable_tried() -> bool:
                for key in (f"result:{b2c_unreachable}", f"c2b_confirmation:{c2b_unreachable}"):
                    attempts = await org.attempts(key)
                    if not attempts or "connection refused" not in (attempts[0]["error"] or ""):
                        return False
                return True

            await poll(unreachable_tried, "the unreachable merchant's first attempts to be refused and recorded")

            # Acknowledged, pending: their Results are worked out only after result_delay.
            b2c_pending = await org.b2c(working.url_for("/result"), "600992", WANJIKU, 1_500, "restart-pending")
            status = await org.call(
                "/mpesa/transactionstatus/v1/query",
                org.initiator(
                    working.url_for("/result"),
                    "TransactionStatusQuery",
                    TransactionID=stk_receipt,
                    PartyA="174379",
                    IdentifierType="4",
                    Occasion="audit",
                ),
            )
            balance = await org.call(
                "/mpesa/accountbalance/v1/query",
                org.initiator(working.url_for("/result"), "AccountBalance", PartyA="600992", IdentifierType="4"),
            )
            reverse_stk = await org.call(
                "/mpesa/reversal/v1/request",
                org.initiator(
                    working.url_for("/result"),
                    "TransactionReversal",
                    TransactionID=stk_receipt,
                    Amount="300",
                    ReceiverParty="174379",
                    RecieverIdentifierType="11",
                ),
            )
            reverse_c2b = await org.call(
                "/mpesa/reversal/v1/request",
                org.initiator(
                    working.url_for("/result"),
                    "TransactionReversal",
                    TransactionID=c2b_delivered,
                    Amount="450",
                    ReceiverParty="600984",
                    RecieverIdentifierType="4",
                ),
            )
            pending = [
                b2c_pending,
                status["ConversationID"],
                balance["ConversationID"],
                reverse_stk["ConversationID"],
                reverse_c2b["ConversationID"],
            ]
            requests = await org.requests()
            deliveries = await org.deliveries()
            before = await org.money()
        sigkill(first)

        assert [requests[c]["status"] for c in pending] == ["pending"] * 5, "a Result came before the kill"
        assert {key for key, d in deliveries.items() if d["state"] == "due"} == owed
        assert [requests[c]["result_code"] for c in (b2c_hanging, b2c_unreachable)] == [0, 0], "payouts not made"
        # What the working merchant had before the kill: these must never come again.
        assert _stk(working) == Counter([checkout])
        assert _confirmations(working) == Counter([c2b_delivered])
        assert _results(working) == Counter()
        had = len(working.received)

        # Both misbehaving merchants come back working: the hanging one where it was, and
        # someone now listens where nobody did.
        await hanging.stop()
        hanging = CallbackReceiver(port=hanging.port)
        await hanging.start()
        came_back = CallbackReceiver(port=unreachable_port)
        await came_back.start()

        second = await asyncio.to_thread(spawn_serve, db, tmp_path / "second.log", env=ENV)
        processes.append(second)
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as http:
            org = Merchant(http)

            async def all_answered_and_delivered() -> bool:
                requests = await org.requests()
                deliveries = await org.deliveries()
                settled = all(r["status"] == "settled" for r in requests.values())
                delivered = all(d["state"] == "delivered" for d in deliveries.values())
                return settled and delivered and all(f"result:{c}" in deliveries for c in pending)

            await poll(all_answered_and_delivered, "every owed delivery to be delivered after the restart", timeout=30)
            requests = await org.requests()
            deliveries = await org.deliveries()
            after = await org.money()
            attempts_after = {key: len(await org.attempts(key)) for key in deliveries}

        # Every pending request was answered once, with success, at the working merchant.
        assert [requests[c]["result_code"] for c in pending] == [0] * 5
        assert _results(working) == Counter(pending), "a Result was lost or sent twice"
        assert len(working.received) == had + len(pending)
        # The owed ones went out once each, where they were owed.
        assert _results(hanging) == Counter([b2c_hanging])
        assert _confirmations(hanging) == Counter([c2b_hanging])
        assert _results(came_back) == Counter([b2c_unreachable])
        assert _confirmations(came_back) == Counter([c2b_unreachable])
        # The owed ones carried the results they settled with before the kill.
        for receiver, key in (
            (hanging, f"result:{b2c_hanging}"),
            (came_back, f"result:{b2c_unreachable}"),
            (hanging, f"c2b_confirmation:{c2b_hanging}"),
            (came_back, f"c2b_confirmation:{c2b_unreachable}"),
        ):
            [arrived] = [c for c in receiver.received if c.raw.decode() == deliveries[key]["body"]]
            assert arrived.raw.decode() == deliveries[key]["body"]

        # Money: the settled ones moved before the kill and not again; the pending ones exactly once.
        assert after == _moved(
            before,
            [
                ("600992", "utility", -1_500),  # the pending payout
                (WANJIKU, None, 1_500),
                ("174379", "utility", -300),  # the STK payment reversed
                (WANJIKU, None, 300),
                ("600984", "utility", -450),  # the C2B payment reversed
                (OTIENO, None, 450),
            ],
        )

        # A second restart: nothing is owed, so nothing goes out again. A request answered at
        # once after it comes later than anything the start itself would send.
        sigkill(second)
        third = await asyncio.to_thread(spawn_serve, db, tmp_path / "third.log", env=ENV)
        processes.append(third)
        async with httpx.AsyncClient(base_url=third.url, timeout=10) as http:
            org = Merchant(http)
            await org.answer_now()
            sentinel = await org.call(
                "/mpesa/accountbalance/v1/query",
                org.initiator(working.url_for("/result"), "AccountBalance", PartyA="600000", IdentifierType="4"),
            )
            await working.wait_for(had + len(pending) + 1, timeout=15)
            await poll(
                lambda: _delivered(org, f"result:{sentinel['ConversationID']}"), "the sentinel Result to be recorded"
            )
            assert await org.money() == after
            again = {key: len(await org.attempts(key)) for key in deliveries}
        assert again == attempts_after, "a delivery was attempted again at the second restart"
        assert _results(working) == Counter([*pending, sentinel["ConversationID"]])
        assert _results(hanging) + _results(came_back) == Counter([b2c_hanging, b2c_unreachable])
        assert _confirmations(hanging) + _confirmations(came_back) == Counter([c2b_hanging, c2b_unreachable])
        assert _stk(working) == Counter([checkout]) and _confirmations(working) == Counter([c2b_delivered])
        sigkill(third)

        # On disk: every balance is what its postings add up to, and each payment posted once.
        store = Store.open(db)
        try:
            ledger = Ledger(store)
            ledger.load()
            assert ledger.audit() == []
            for request in (requests[c] for c in pending):
                if request["receipt"] is not None:
                    assert len(store.postings(request["receipt"])) == 1, request
        finally:
            store.close()
    finally:
        for process in processes:
            if process.proc.poll() is None:
                process.proc.kill()
                process.proc.wait(10)
        for receiver in (working, hanging, came_back):
            if receiver is not None:
                await receiver.stop()


async def _delivered(org: Merchant, key: str) -> bool:
    found = (await org.http.get(f"/simulator/deliveries/{key}")).json()
    return bool(found.get("state") == "delivered")


async def test_an_outcome_chosen_for_a_pending_request_survives_a_sigkill(tmp_path: Path) -> None:
    """The control API chose a queue time-out for one payout and a failure code for another;
    the process dies before either is answered. After the restart each still ends as chosen:
    no money moves, the queue time-out goes to QueueTimeOutURL and the failure's Result to
    ResultURL, once each."""
    db = tmp_path / "handset.db"
    merchant = CallbackReceiver()
    await merchant.start()
    processes: list[ServeProcess] = []
    try:
        first = await asyncio.to_thread(spawn_serve, db, tmp_path / "first.log", "--fresh", env=ENV)
        processes.append(first)
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as http:
            org = Merchant(http)
            chosen = await http.post("/simulator/initiator/next", json={"queue_timeout": True})
            assert chosen.status_code == 201
            timed_out = await org.b2c(merchant.url_for("/result"), "600992", WANJIKU, 2_000, "chosen-timeout")
            assert (await http.post("/simulator/initiator/next", json={"result_code": 2001})).status_code == 201
            refused = await org.b2c(merchant.url_for("/result"), "600992", OTIENO, 3_000, "chosen-2001")
            requests = await org.requests()
            before = await org.money()
        sigkill(first)
        assert [requests[c]["status"] for c in (timed_out, refused)] == ["pending", "pending"], "answered too early"

        second = await asyncio.to_thread(spawn_serve, db, tmp_path / "second.log", env=ENV)
        processes.append(second)
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as http:
            org = Merchant(http)

            async def both_delivered() -> dict[str, dict[str, Any]] | None:
                deliveries = await org.deliveries()
                states = [d["state"] for d in deliveries.values()]
                return deliveries if len(states) == 2 and states == ["delivered"] * 2 else None

            deliveries = await poll(both_delivered, "both requests' answers to be delivered", timeout=30)
            requests = await org.requests()
            after = await org.money()
        assert set(deliveries) == {f"queue_timeout:{timed_out}", f"result:{refused}"}
        assert (requests[timed_out]["receipt"], requests[refused]["result_code"]) == (None, 2001)
        assert after == before, "a payout the control API had failed moved money after the restart"
        assert sorted(c.path for c in merchant.received) == ["/result", "/timeout"]
        [result] = [c.json["Result"] for c in merchant.received if c.path == "/result"]
        assert (result["ConversationID"], result["ResultCode"]) == (refused, 2001)
    finally:
        for process in processes:
            if process.proc.poll() is None:
                process.proc.kill()
                process.proc.wait(10)
        await merchant.stop()


async def test_a_simulated_payment_acknowledged_before_a_sigkill_still_happens_once(tmp_path: Path) -> None:
    """simulate answers at once and runs the payment after. The process dies while the merchant
    is still thinking about the validation call: the payment was acknowledged, so after the
    restart it runs again (the validation is asked again, as a retry), completes once, is
    confirmed once, and moves the money once; a further restart does nothing more."""
    db = tmp_path / "handset.db"
    env = {**ENV, "HANDSET_C2B_VALIDATION_TIMEOUT": "120"}
    thinking = CallbackReceiver(hang=True)  # the merchant's validation handler never answers
    await thinking.start()
    working: CallbackReceiver | None = None
    processes: list[ServeProcess] = []
    try:
        first = await asyncio.to_thread(spawn_serve, db, tmp_path / "first.log", "--fresh", env=env)
        processes.append(first)
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as http:
            org = Merchant(http)
            await org.register("600984", thinking.url_for("/c2b/validation"), thinking.url_for("/c2b/confirmation"))
            before = await org.money()
            ack = await org.call(
                "/mpesa/c2b/v2/simulate",
                {
                    "ShortCode": "600984",
                    "CommandID": "CustomerPayBillOnline",
                    "Amount": "640",
                    "Msisdn": OTIENO,
                    "BillRefNumber": "INV-9",
                },
            )
            assert ack["ResponseCode"] == "0"
            await poll(lambda: _validation_asked(org), "the validation call to go out")
            [payment] = (await http.get("/simulator/c2b/payments")).json()["payments"]
            assert await org.money() == before  # no money moves before the merchant says yes
        sigkill(first)
        assert payment["status"] == "pending"

        # The merchant comes back, answering at once, where it was.
        await thinking.stop()
        working = CallbackReceiver(port=thinking.port)
        await working.start()
        second = await asyncio.to_thread(spawn_serve, db, tmp_path / "second.log", env=env)
        processes.append(second)
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as http:
            org = Merchant(http)

            async def completed() -> bool:
                [now] = (await http.get("/simulator/c2b/payments")).json()["payments"]
                confirmed = await _delivered(org, f"c2b_confirmation:{payment['trans_id']}")
                return bool(now["status"] == "completed" and confirmed)

            await poll(completed, "the payment to complete and be confirmed after the restart", timeout=30)
            after = await org.money()
            validation = await org.attempts(f"c2b_validation:{payment['trans_id']}")
        assert after == _moved(before, [(OTIENO, None, -640), ("600984", "utility", 640)])
        assert [a["kind"] for a in sorted(validation, key=lambda a: a["attempt"])][-1] == "retry"
        assert _confirmations(working) == Counter([payment["trans_id"]])
        assert [c.json["TransID"] for c in working.received if c.path.endswith("/validation")] == [payment["trans_id"]]

        sigkill(second)
        third = await asyncio.to_thread(spawn_serve, db, tmp_path / "third.log", env=env)
        processes.append(third)
        async with httpx.AsyncClient(base_url=third.url, timeout=10) as http:
            org = Merchant(http)
            # A payment made now comes after anything the start itself would have sent.
            sentinel = await org.c2b_pay(WANJIKU, "600984", 5)
            await poll(lambda: _delivered(org, f"c2b_confirmation:{sentinel}"), "the sentinel's confirmation")
            assert await org.money() == _moved(after, [(WANJIKU, None, -5), ("600984", "utility", 5)])
        assert _confirmations(working) == Counter([payment["trans_id"], sentinel])
        sigkill(third)
    finally:
        for process in processes:
            if process.proc.poll() is None:
                process.proc.kill()
                process.proc.wait(10)
        for receiver in (thinking, working):
            if receiver is not None:
                await receiver.stop()


async def _validation_asked(org: Merchant) -> bool:
    """Whether a validation call is out (its delivery is recorded before the POST leaves)."""
    found = await org.http.get("/simulator/deliveries", params={"channel": "c2b_validation"})
    return bool(found.json()["deliveries"])
