"""The flows beside STK on the phones, in the activity log and in the callbacks inspector, at 80x24.

Real HTTP both ways: the merchant calls the app's embedded server (B2C, Reversal, Account
Balance, C2B register URL, simulate, the control API), the app delivers to a real receiver,
and the Results come when the ManualClock reaches ``result_delay``.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import OptionList

from handset.screens.inspector import CallbackInspectorScreen
from handset.widgets.activity import C2B
from tests.handset.tui_kit import WANJIKU, fully_shown, wait_until
from tests.receiver import CallbackReceiver
from tests.reliability.reliability_kit import free_port

SMALL = (80, 24)
CREDENTIAL = "c2VjcmV0"


async def _daraja(merchant, path: str, body: dict[str, Any]) -> dict[str, Any]:
    token = await merchant.daraja.token()
    answer = await merchant.client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _initiator(receiver: CallbackReceiver, command: str, **fields: Any) -> dict[str, Any]:
    return {
        "Initiator": "testapi",
        "SecurityCredential": CREDENTIAL,
        "CommandID": command,
        **fields,
        "ResultURL": receiver.url_for("/result"),
        "QueueTimeOutURL": receiver.url_for("/timeout"),
        "Remarks": "from the TUI tests",
    }


async def _payout(merchant, receiver: CallbackReceiver, amount: int) -> str:
    ack = await _daraja(
        merchant,
        "/mpesa/b2c/v3/paymentrequest",
        {
            "OriginatorConversationID": f"tui-{amount}",
            "InitiatorName": "testapi",
            "SecurityCredential": CREDENTIAL,
            "CommandID": "BusinessPayment",
            "Amount": amount,
            "PartyA": "600992",
            "PartyB": WANJIKU,
            "Remarks": "refund",
            "QueueTimeOutURL": receiver.url_for("/timeout"),
            "ResultURL": receiver.url_for("/result"),
        },
    )
    return str(ack["ConversationID"])


def _wallet(app) -> str:
    return str(app.phones[WANJIKU].query_one("#wallet").content)


def _texts(app) -> list[str]:
    return [bubble.sms.text for bubble in app.phones[WANJIKU].inbox.bubbles]


def _entry(app, words: str):
    return next((e for e in app.activity.entries if words in e.summary.plain), None)


async def test_a_b2c_payout_shows_its_sms_and_the_new_balance_on_the_phone(start_app, receiver):
    async with start_app(size=SMALL) as (app, pilot, merchant):
        await _payout(merchant, receiver, 700)
        app.simulator.clock.advance(app.simulator.settings.result_delay)
        await receiver.wait_for(1)

        await wait_until(lambda: "Ksh10,700.00" in _wallet(app), "the new balance on the phone")
        await wait_until(lambda: _texts(app), "the M-PESA SMS on the phone")
        [sms] = _texts(app)
        assert "Confirmed.You have received Ksh700.00 from SAFARICOM DARAJA 992 600992" in sms
        assert "New M-PESA balance is Ksh10,700.00" in sms
        assert fully_shown(app.phones[WANJIKU].query_one("#wallet"))
        # The log says who got the money by name, as it does for every payment.
        await wait_until(lambda: _entry(app, "B2C"), "the B2C entry")
        assert "Ksh700.00 → Wanjiku Kamau" in _entry(app, "B2C").summary.plain


async def test_a_reversal_gives_the_money_back_on_the_phone_and_says_so_in_the_log(start_app, receiver):
    async with start_app(size=SMALL) as (app, pilot, merchant):
        checkout = await merchant.push(receiver.url, Amount=300)
        await wait_until(lambda: app.phones[WANJIKU].prompt_waiting, "the prompt")
        await pilot.press(*"1234", "enter")
        await receiver.wait_for(1)
        await wait_until(lambda: "Ksh9,700.00" in _wallet(app), "the payment off the balance")
        receipt = app.simulator.transaction(checkout).receipt

        await _daraja(
            merchant,
            "/mpesa/reversal/v1/request",
            _initiator(
                receiver,
                "TransactionReversal",
                TransactionID=receipt,
                Amount="300",
                ReceiverParty="174379",
                RecieverIdentifierType="11",
            ),
        )
        app.simulator.clock.advance(app.simulator.settings.result_delay)
        await receiver.wait_for(2)

        await wait_until(lambda: "Ksh10,000.00" in _wallet(app), "the money back on the phone")
        await wait_until(lambda: len(_texts(app)) == 2, "the reversal's SMS")
        assert f"Transaction {receipt} has been reversed. Ksh300.00 is credited" in _texts(app)[0]
        await wait_until(lambda: _entry(app, "Reversal"), "the reversal in the log")
        entry = _entry(app, "Reversal")
        # The money went back to a person, not "to" the receipt reversed.
        assert "Reversal 0 done" in entry.summary.plain
        assert f"Ksh300.00 back to Wanjiku Kamau ({receipt} reversed)" in " ".join(entry.summary.plain.split())
        assert ("Reversed", receipt) in entry.facts


async def test_c2b_payments_from_a_phone_show_on_it(start_app, receiver):
    """Paid through the control API and through simulate: an SMS and the new balance each time."""
    async with start_app(size=SMALL) as (app, pilot, merchant):
        paid = await merchant.client.post(
            "/simulator/c2b/payments", json={"msisdn": WANJIKU, "shortcode": "600984", "amount": 450, "account": "A1"}
        )
        assert paid.status_code == 201 and paid.json()["status"] == "completed"
        await wait_until(lambda: "Ksh9,550.00" in _wallet(app), "the first payment off the balance")
        await _daraja(
            merchant,
            "/mpesa/c2b/v2/simulate",
            {
                "ShortCode": 600101,
                "CommandID": "CustomerBuyGoodsOnline",
                "Amount": 50,
                "Msisdn": int(WANJIKU),
                "BillRefNumber": "",
            },
        )
        await wait_until(lambda: "Ksh9,500.00" in _wallet(app), "the second payment off the balance")
        await wait_until(lambda: len(_texts(app)) == 2, "both SMS on the phone")
        newest, oldest = _texts(app)
        assert "Ksh50.00 paid to SANDBOX TILL." in newest and "New M-PESA balance is Ksh9,500.00" in newest
        assert paid.json()["trans_id"] in oldest and "Ksh450.00" in oldest
        await wait_until(lambda: len([e for e in app.activity.entries if e.kind == C2B]) == 2, "both in the log")


async def test_the_inspector_lists_every_kind_of_delivery_with_its_diagnosis(start_app, receiver):
    async with start_app(size=SMALL) as (app, pilot, merchant):
        # An STK callback.
        await merchant.push(receiver.url, Amount=10)
        await wait_until(lambda: app.phones[WANJIKU].prompt_waiting, "the prompt")
        await pilot.press(*"1234", "enter")
        await receiver.wait_for(1)
        # A C2B validation and confirmation to a shop that answers, and a confirmation nobody takes.
        for shortcode, confirmation in (
            ("600984", receiver.url_for("/c2b/confirmation")),
            ("600000", f"http://127.0.0.1:{free_port()}/c2b/confirmation"),
        ):
            await _daraja(
                merchant,
                "/mpesa/c2b/v2/registerurl",
                {
                    "ShortCode": shortcode,
                    "ResponseType": "Completed",
                    "ConfirmationURL": confirmation,
                    "ValidationURL": receiver.url_for("/c2b/validation"),
                },
            )
            paid = await merchant.client.post(
                "/simulator/c2b/payments", json={"msisdn": WANJIKU, "shortcode": shortcode, "amount": 20}
            )
            assert paid.status_code == 201
        # A B2C Result, and an Account Balance that times out in the queue.
        result = await _payout(merchant, receiver, 100)
        chosen = await merchant.client.post("/simulator/initiator/next", json={"queue_timeout": True})
        assert chosen.status_code == 201
        timed_out = await _daraja(
            merchant,
            "/mpesa/accountbalance/v1/query",
            _initiator(receiver, "AccountBalance", PartyA="600992", IdentifierType="4"),
        )
        app.simulator.clock.advance(app.simulator.settings.result_delay)
        await app.simulator.callbacks.wait_idle()

        await pilot.press("i")
        inspector = app.screen
        assert isinstance(inspector, CallbackInspectorScreen)
        await wait_until(lambda: len(inspector.attempts) == 7, "every attempt listed")
        channels = {a.channel for a in inspector.attempts}
        assert channels == {"stk_callback", "c2b_validation", "c2b_confirmation", "result", "queue_timeout"}
        rows = inspector.query_one("#attempts", OptionList)
        lines = [str(rows.get_option_at_index(i).prompt) for i in range(rows.option_count)]
        assert any(f"result {result}" in line for line in lines)
        assert any(f"queue time-out {timed_out['ConversationID']}" in line for line in lines)
        assert sum("validation UKR" in line for line in lines) == 2
        # First attempts: "callback" on an STK callback, "sent" on every other kind of delivery.
        for attempt, line in zip(inspector.attempts, lines, strict=True):
            if attempt.kind == "callback":
                assert (" callback " in line) == (attempt.channel == "stk_callback"), line
                assert (" sent " in line) == (attempt.channel != "stk_callback"), line
        refused = next(i for i, a in enumerate(inspector.attempts) if a.error)
        assert "connection refused" in lines[refused]  # the diagnosis is on the row itself
        rows.highlighted = refused
        await pilot.pause()
        facts = str(inspector.query_one("#facts").content)
        assert "confirmation for UKR" in facts and "Diagnosis" in facts and "connection refused by 127.0.0.1" in facts
        rows.highlighted = next(i for i, a in enumerate(inspector.attempts) if a.channel == "queue_timeout")
        await pilot.pause()
        assert "delivered: the merchant answered 2xx" in str(inspector.query_one("#facts").content)
        assert '"CommandID": "AccountBalance"' in inspector.query_one("#request").text  # the request, echoed

        # The log says the Balance query timed out in the queue: its code 1 is not "insufficient funds".
        await pilot.press("escape")
        entry = _entry(app, "Balance")
        assert entry is not None and "queue time-out" in entry.summary.plain
        assert "insufficient" not in entry.summary.plain
