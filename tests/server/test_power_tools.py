"""The hard cases on demand (issue 4, engine and control API): any result code, PIN lock,
callback plans, the callback inspector, outcome rules, tokens and runtime settings."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from server.clock import ManualClock
from server.daraja.catalogue import PROMPT_CODES, RESULT_DESCRIPTIONS
from server.runner import Emulator
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver

PHONE = "254708374149"


async def _quiet(emulator: Emulator) -> None:
    """Every delivery started so far has finished (so anything sent has arrived): the moment to
    check that nothing else was sent. Scheduled (delayed, late) ones are not started yet."""
    await emulator.simulator.callbacks.wait_idle()
    assert emulator.simulator.callbacks.in_flight == 0


async def _push(daraja: Daraja, receiver: CallbackReceiver, **overrides) -> str:
    response = await daraja.push(receiver.url, **overrides)
    assert response.status_code == 200, response.text
    return response.json()["CheckoutRequestID"]


@pytest.mark.parametrize("code", [c for c in PROMPT_CODES if c != 0], ids=str)
async def test_settle_with_any_code(code, daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    checkout = await _push(daraja, receiver)
    response = await http.post(f"/simulator/transactions/{checkout}/settle", json={"result_code": code})
    assert response.status_code == 200, response.text
    [callback] = await receiver.wait_for(1)
    stk = callback.json["Body"]["stkCallback"]
    assert stk["ResultCode"] == code  # the string code stays a string, the rest are numbers
    assert type(stk["ResultCode"]) is type(code)
    assert stk["ResultDesc"] == RESULT_DESCRIPTIONS[code]
    assert "CallbackMetadata" not in stk
    query = (await daraja.query(checkout)).json()
    assert (query["ResultCode"], query["ResultDesc"]) == (str(code), RESULT_DESCRIPTIONS[code])


async def test_settle_with_zero_pays(daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    checkout = await _push(daraja, receiver, Amount=10)
    await http.post(f"/simulator/transactions/{checkout}/settle", json={"result_code": 0})
    [callback] = await receiver.wait_for(1)
    assert callback.json["Body"]["stkCallback"]["CallbackMetadata"]["Item"][0]["Value"] == 10
    assert (await http.get(f"/simulator/handsets/{PHONE}")).json()["balance"] == 9990


async def test_settle_with_unknown_code(daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    checkout = await _push(daraja, receiver)
    for bad in (1234, "nope", None, True):
        response = await http.post(f"/simulator/transactions/{checkout}/settle", json={"result_code": bad})
        assert response.status_code == 400
    assert (await daraja.query(checkout)).json()["ResultCode"] == "4999"


async def test_three_wrong_pins_lock_until_unlocked(
    daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    for _ in range(3):
        checkout = await _push(daraja, receiver)
        await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "0000"})
    handset = (await http.get(f"/simulator/handsets/{PHONE}")).json()
    assert handset["pin_locked"] is True and handset["wrong_pins"] == 3
    locked = await _push(daraja, receiver)
    await receiver.wait_for(4)
    stk = receiver.received[3].json["Body"]["stkCallback"]
    assert stk["CheckoutRequestID"] == locked
    assert (stk["ResultCode"], stk["ResultDesc"]) == (8006, "The security credential is locked.")
    unlocked = (await http.post(f"/simulator/handsets/{PHONE}/unlock")).json()
    assert unlocked["pin_locked"] is False and unlocked["wrong_pins"] == 0
    checkout = await _push(daraja, receiver)
    assert (await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})).json()["result_code"] == 0


async def test_a_right_pin_resets_the_count(
    daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    for pin in ("0000", "0000", "1234", "0000", "0000"):
        checkout = await _push(daraja, receiver)
        await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": pin})
    handset = (await http.get(f"/simulator/handsets/{PHONE}")).json()
    assert handset["pin_locked"] is False and handset["wrong_pins"] == 2


async def test_delayed_callback(
    daraja: Daraja,
    receiver: CallbackReceiver,
    http: httpx.AsyncClient,
    clock: ManualClock,
    emulator: Emulator,
) -> None:
    checkout = await _push(daraja, receiver)
    plan = await http.put(f"/simulator/transactions/{checkout}/callback-plan", json={"mode": "delay", "seconds": 30})
    assert plan.json()["callback_plan"] == {"mode": "delay", "seconds": 30.0, "copies": 2}
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    await _quiet(emulator)
    assert receiver.received == []
    assert emulator.simulator.callbacks.scheduled == 1  # waiting for the clock, not lost
    assert (await daraja.query(checkout)).json()["ResultCode"] == "0"  # the query already knows
    clock.advance(30)
    await receiver.wait_for(1)


@pytest.mark.parametrize("settings_overrides", [{"late_callback_delay": 600}])
async def test_late_callback(
    daraja: Daraja,
    receiver: CallbackReceiver,
    http: httpx.AsyncClient,
    clock: ManualClock,
    emulator: Emulator,
) -> None:
    checkout = await _push(daraja, receiver)
    await http.put(f"/simulator/transactions/{checkout}/callback-plan", json={"mode": "late"})
    await http.post(f"/simulator/transactions/{checkout}/cancel")
    clock.advance(599)
    await _quiet(emulator)
    assert receiver.received == []
    clock.advance(1)
    [callback] = await receiver.wait_for(1)
    assert callback.json["Body"]["stkCallback"]["ResultCode"] == 1032


async def test_dropped_callback(
    daraja: Daraja,
    receiver: CallbackReceiver,
    http: httpx.AsyncClient,
    clock: ManualClock,
    emulator: Emulator,
) -> None:
    checkout = await _push(daraja, receiver)
    await http.put(f"/simulator/transactions/{checkout}/callback-plan", json={"mode": "drop"})
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    clock.advance(600)
    await _quiet(emulator)
    assert receiver.received == []
    assert emulator.simulator.callbacks.scheduled == 0
    detail = (await http.get(f"/simulator/transactions/{checkout}")).json()
    assert detail["callback_state"] == "dropped" and detail["callback_attempts"] == []
    assert (await daraja.query(checkout)).json()["ResultCode"] == "0"


async def test_duplicate_callbacks(
    daraja: Daraja,
    receiver: CallbackReceiver,
    http: httpx.AsyncClient,
    emulator: Emulator,
) -> None:
    checkout = await _push(daraja, receiver)
    await http.put(f"/simulator/transactions/{checkout}/callback-plan", json={"mode": "duplicate", "copies": 3})
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    received = await receiver.wait_for(3)
    assert len({r.raw for r in received}) == 1  # byte-identical copies
    await _quiet(emulator)
    assert len(receiver.received) == 3  # and no fourth
    detail = (await http.get(f"/simulator/transactions/{checkout}")).json()
    assert [a["kind"] for a in detail["callback_attempts"]] == ["callback", "duplicate", "duplicate"]
    assert detail["callback_state"] == "delivered"


@pytest.mark.parametrize("settings_overrides", [{"callback_plan": {"mode": "drop"}}])
async def test_default_callback_plan(daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    checkout = await _push(daraja, receiver)
    await http.post(f"/simulator/transactions/{checkout}/cancel")
    assert (await http.get(f"/simulator/transactions/{checkout}")).json()["callback_state"] == "dropped"


async def test_plan_only_while_live(daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    checkout = await _push(daraja, receiver)
    bad = await http.put(f"/simulator/transactions/{checkout}/callback-plan", json={"mode": "sometimes"})
    assert bad.status_code == 400 and "mode" in bad.json()["error"]
    await http.post(f"/simulator/transactions/{checkout}/cancel")
    late = await http.put(f"/simulator/transactions/{checkout}/callback-plan", json={"mode": "drop"})
    assert late.status_code == 409


async def test_resend_edit_and_forge(daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    checkout = await _push(daraja, receiver)
    await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
    [original] = await receiver.wait_for(1)

    resent = (await http.post(f"/simulator/transactions/{checkout}/callback/resend")).json()
    assert resent["kind"] == "resend" and resent["status"] == 200
    await receiver.wait_for(2)
    assert receiver.received[1].raw == original.raw

    tampered = original.json
    tampered["Body"]["stkCallback"]["CallbackMetadata"]["Item"][0]["Value"] = 1
    edited = (await http.post(f"/simulator/transactions/{checkout}/callback/send", json={"body": tampered})).json()
    assert edited["kind"] == "edited"
    await receiver.wait_for(3)
    assert receiver.received[2].json["Body"]["stkCallback"]["CallbackMetadata"]["Item"][0]["Value"] == 1

    forged = (
        await http.post("/simulator/callbacks/forge", json={"url": receiver.url, "result_code": 0, "amount": 500})
    ).json()
    assert forged["kind"] == "forged" and forged["ok"] is True
    await receiver.wait_for(4)
    stk = receiver.received[3].json["Body"]["stkCallback"]
    assert stk["ResultCode"] == 0
    assert b'{"Name":"Amount","Value":500.00}' in receiver.received[3].raw
    assert (await http.get(f"/simulator/transactions/{stk['CheckoutRequestID']}")).status_code == 404  # never existed

    log = (await http.get("/simulator/callbacks")).json()["attempts"]
    assert [a["kind"] for a in log] == ["forged", "edited", "resend", "callback"]  # newest first

    # A forged callback can be resent and edited too, though no transaction stands behind it.
    forged_id = stk["CheckoutRequestID"]
    again = (await http.post(f"/simulator/transactions/{forged_id}/callback/resend")).json()
    assert again["kind"] == "resend" and again["ok"] is True
    await receiver.wait_for(5)
    assert receiver.received[4].raw == receiver.received[3].raw


async def test_inspector_errors(daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    checkout = await _push(daraja, receiver)
    pending = await http.post(f"/simulator/transactions/{checkout}/callback/resend")
    assert pending.status_code == 409 and "pending" in pending.json()["error"]
    assert (await http.post("/simulator/transactions/ws_CO_x/callback/resend")).status_code == 404
    assert (await http.post("/simulator/callbacks/forge", json={})).status_code == 400
    assert (await http.post("/simulator/callbacks/forge", json={"url": "nope"})).status_code == 400
    assert (await http.post(f"/simulator/transactions/{checkout}/callback/send", json={})).status_code == 400


async def test_resend_after_failure_marks_delivered(
    daraja: Daraja, http: httpx.AsyncClient, emulator: Emulator
) -> None:
    failing = CallbackReceiver(status=500)
    await failing.start()
    try:
        checkout = await _push(daraja, failing)
        await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
        await failing.wait_for(1)
        await _quiet(emulator)
        detail = (await http.get(f"/simulator/transactions/{checkout}")).json()
        assert detail["callback_state"] == "failed"
        assert detail["callback_attempts"][0]["error"] == "merchant answered HTTP 500 (merchant error)"
        failing.status = 200
        await http.post(f"/simulator/transactions/{checkout}/callback/resend")
        assert (await http.get(f"/simulator/transactions/{checkout}")).json()["callback_state"] == "delivered"
    finally:
        await failing.stop()


@pytest.mark.parametrize("settings_overrides", [{"callback_retries": 2, "callback_backoff": 0.05}])
async def test_retries_with_backoff(daraja: Daraja, http: httpx.AsyncClient, emulator: Emulator) -> None:
    flaky = CallbackReceiver(status=500)
    await flaky.start()
    try:
        checkout = await _push(daraja, flaky)
        await http.post(f"/simulator/transactions/{checkout}/pin", json={"pin": "1234"})
        await flaky.wait_for(1)
        flaky.status = 200
        await flaky.wait_for(2)
        await emulator.simulator.callbacks.wait_idle()
        detail = (await http.get(f"/simulator/transactions/{checkout}")).json()
        assert [(a["kind"], a["status"]) for a in detail["callback_attempts"]] == [("callback", 500), ("retry", 200)]
        assert detail["callback_state"] == "delivered"
    finally:
        await flaky.stop()


async def test_unattended_rules_at_runtime(
    daraja: Daraja,
    receiver: CallbackReceiver,
    http: httpx.AsyncClient,
    clock: ManualClock,
    emulator: Emulator,
) -> None:
    rules = {
        "mode": "approve",
        "think_time": 2,
        "rules": [
            {"msisdn": "254712345678", "outcome": "cancel", "think_time": 0},
            {"amount": 17, "outcome": 17},
            {"min_amount": 5000, "outcome": "wrong_pin", "callback": {"mode": "drop"}},
        ],
    }
    response = await http.put("/simulator/rules", json=rules)
    assert response.status_code == 200, response.text
    cancelled = await _push(daraja, receiver, PhoneNumber=254712345678)
    approved = await _push(daraja, receiver, Amount=100)
    await receiver.wait_for(1)  # the cancel rule answers at once
    assert receiver.received[0].json["Body"]["stkCallback"]["CheckoutRequestID"] == cancelled
    clock.advance(2)  # think time, then the global mode approves
    await receiver.wait_for(2)
    assert receiver.received[1].json["Body"]["stkCallback"]["CheckoutRequestID"] == approved
    assert receiver.received[1].json["Body"]["stkCallback"]["ResultCode"] == 0
    rule_limited = await _push(daraja, receiver, Amount=17)
    clock.advance(2)
    await receiver.wait_for(3)
    assert receiver.received[2].json["Body"]["stkCallback"]["ResultCode"] == 17
    big = await _push(daraja, receiver, Amount=6000)
    clock.advance(2)
    await _quiet(emulator)
    assert len(receiver.received) == 3  # dropped by its rule's callback plan
    assert (await daraja.query(big)).json()["ResultCode"] == "2001"
    assert rule_limited


async def test_bad_rules_rejected(http: httpx.AsyncClient) -> None:
    for body, fragment in (
        ({"mode": "sometimes"}, "mode"),
        ({"rules": [{"outcome": "approve"}]}, "needs msisdn"),
        ({"rules": [{"msisdn": "254712345678", "outcome": "dance"}]}, "outcome must be one of"),
        ({"think_time": -1}, "think_time"),
        ({"colour": 1}, "unknown field"),
    ):
        response = await http.put("/simulator/rules", json=body)
        assert response.status_code == 400, body
        assert fragment in response.json()["error"]
    assert (await http.get("/simulator/rules")).json()["mode"] == "human"


@pytest.mark.parametrize(
    ("msisdn", "code"),
    [
        ("254799000000", 0),
        ("254799000001", 1),
        ("254799000017", 17),
        ("254799001001", 1001),
        ("254799001019", 1019),
        ("254799001025", 1025),
        ("254799001032", 1032),
        ("254799002001", 2001),
        ("254799002028", 2028),
        ("254799009999", 9999),
    ],
)
async def test_magic_numbers(msisdn: str, code: int, daraja: Daraja, receiver: CallbackReceiver) -> None:
    await _push(daraja, receiver, PhoneNumber=int(msisdn))
    [callback] = await receiver.wait_for(1)
    assert callback.json["Body"]["stkCallback"]["ResultCode"] == code


async def test_the_wrong_pin_magic_number_never_locks_the_pin(
    daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    for run in range(1, 5):  # one more than the wrong PINs that lock a handset
        await _push(daraja, receiver, PhoneNumber=254799002001, Amount=run)
        callback = (await receiver.wait_for(run))[run - 1].json["Body"]["stkCallback"]
        assert (callback["ResultCode"], callback["ResultDesc"]) == (2001, "The initiator information is invalid.")
    handset = (await http.get("/simulator/handsets/254799002001")).json()
    assert (handset["pin_locked"], handset["wrong_pins"]) == (False, 0)


async def test_magic_number_that_never_answers(
    daraja: Daraja,
    receiver: CallbackReceiver,
    clock: ManualClock,
    emulator: Emulator,
) -> None:
    await _push(daraja, receiver, PhoneNumber=254799001037)
    await _quiet(emulator)
    assert receiver.received == []
    clock.advance(60)
    assert (await receiver.wait_for(1))[0].json["Body"]["stkCallback"]["ResultCode"] == 1037


@pytest.mark.parametrize("settings_overrides", [{"unattended": {"mode": "random", "seed": 42}}])
async def test_random_mode_is_repeatable(
    daraja: Daraja, receiver: CallbackReceiver, emulator: Emulator, clock: ManualClock
) -> None:
    phones = [254733000000 + n for n in range(12)]
    for phone in phones:
        await _push(daraja, receiver, PhoneNumber=phone)
    await asyncio.sleep(0.2)
    clock.advance(60)
    await receiver.wait_for(len(phones))
    outcomes = {
        c.json["Body"]["stkCallback"]["CheckoutRequestID"][-9:]: c.json["Body"]["stkCallback"]["ResultCode"]
        for c in receiver.received
    }
    from server.rules import OutcomeRules, Unattended

    twin = OutcomeRules(Unattended(mode="random", seed=42))
    expected = {
        str(p)[-9:]: {"approve": 0, "wrong_pin": 2001, "cancel": 1032, "timeout": 1037}[
            twin.decide(str(p), 100).outcome
        ]
        for p in phones
    }
    assert outcomes == expected
    assert len(set(outcomes.values())) > 1


async def test_revoke_tokens(daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    await _push(daraja, receiver)
    assert (await http.post("/simulator/tokens/revoke")).json() == {"revoked": True}
    refused = await daraja.push(receiver.url, PhoneNumber=254712345678)
    assert refused.status_code == 404 and refused.json()["errorCode"] == "404.001.03"
    await daraja.token()
    assert (await daraja.push(receiver.url, PhoneNumber=254712345678)).status_code == 200


async def test_runtime_settings(
    daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    changed = await http.patch(
        "/simulator/settings",
        json={
            "token_lifetime": 60,
            "query_pending": "legacy",
            "result_desc_style": "legacy",
            "account_reference": "relaxed",
            "busy_phone": "error",
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["token_lifetime"] == 60
    token = await http.get("/oauth/v1/generate", params={"grant_type": "client_credentials"}, auth=("k", "s"))
    assert token.json()["expires_in"] == "59"
    daraja._token = token.json()["access_token"]
    checkout = await _push(daraja, receiver, AccountReference="A" * 15)
    assert (await daraja.query(checkout)).status_code == 500  # legacy pending answer
    busy = await daraja.push(receiver.url)
    assert busy.status_code == 500 and busy.json()["errorMessage"].startswith("Unable to lock subscriber")
    clock.advance(60)
    [callback] = await receiver.wait_for(1)
    assert callback.json["Body"]["stkCallback"]["ResultDesc"] == "[STK_CB - ]DS timeout."
    assert (await daraja.query(checkout)).status_code == 404  # the 60-second token expired too

    for body in ({"port": 1}, {"token_lifetime": 0}, {"busy_phone": "maybe"}):
        assert (await http.patch("/simulator/settings", json=body)).status_code == 400
    await http.post("/simulator/reset")
    assert (await http.get("/simulator/settings")).json()["query_pending"] == "current"
