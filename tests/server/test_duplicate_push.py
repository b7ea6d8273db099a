"""Double submits: a push like one accepted within duplicate_window is flagged (or refused).

Same PhoneNumber, BusinessShortCode, Amount and AccountReference as a push accepted less than
``duplicate_window`` seconds ago (60 by default): with ``duplicate_push = "flag"`` (the
default) it is accepted as Daraja would, and marked; with ``"reject"`` it gets a 409 envelope
and is not stored; with ``"allow"`` nothing is said.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from server.clock import ManualClock
from server.events import DuplicatePushFlagged
from server.ids import IdGenerator
from server.runner import Emulator
from server.settings import Settings
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver


def _flags(emulator: Emulator) -> list[DuplicatePushFlagged]:
    seen: list[DuplicatePushFlagged] = []
    emulator.simulator.bus.subscribe(lambda e: seen.append(e) if isinstance(e, DuplicatePushFlagged) else None)
    return seen


async def _push(daraja: Daraja, receiver: CallbackReceiver, **overrides: object) -> httpx.Response:
    return await daraja.push(receiver.url, **overrides)


async def test_a_retried_push_is_flagged_within_the_window(
    emulator: Emulator,
    daraja: Daraja,
    receiver: CallbackReceiver,
    http: httpx.AsyncClient,
    clock: ManualClock,
) -> None:
    flags = _flags(emulator)
    first = (await _push(daraja, receiver)).json()["CheckoutRequestID"]
    clock.advance(3)
    second = await _push(daraja, receiver)
    assert second.status_code == 200  # Daraja accepts it: the phone is busy, 1001 follows
    second_id = second.json()["CheckoutRequestID"]

    detail = (await http.get(f"/simulator/transactions/{second_id}")).json()
    assert detail["duplicate_of"] == first
    assert (await http.get(f"/simulator/transactions/{first}")).json()["duplicate_of"] is None
    [flag] = flags
    assert flag.to_json()["message"] == f"possible double submit, same as {first} 3 s ago"
    assert flag.transaction.checkout_request_id == second_id

    # Another amount, another reference or another phone is another payment.
    await _push(daraja, receiver, Amount=101)
    await _push(daraja, receiver, AccountReference="ORDER2")
    await _push(daraja, receiver, PhoneNumber=254712345678, PartyA=254712345678)
    assert len(flags) == 1

    clock.advance(60)  # 63 s after the second: out of the window
    third = (await _push(daraja, receiver)).json()["CheckoutRequestID"]
    assert (await http.get(f"/simulator/transactions/{third}")).json()["duplicate_of"] is None
    assert len(flags) == 1

    listed = (await http.get("/simulator/transactions", params={"duplicate": "true"})).json()["transactions"]
    assert [t["checkout_request_id"] for t in listed] == [second_id]
    others = (await http.get("/simulator/transactions", params={"duplicate": "false"})).json()["transactions"]
    assert second_id not in {t["checkout_request_id"] for t in others} and len(others) == 5
    assert (await http.get("/simulator/transactions", params={"duplicate": "maybe"})).status_code == 400


async def test_a_double_click_in_one_loop_turn_is_flagged(
    emulator: Emulator,
    daraja: Daraja,
    receiver: CallbackReceiver,
) -> None:
    flags = _flags(emulator)
    await daraja.token()
    answers = await asyncio.gather(_push(daraja, receiver), _push(daraja, receiver))
    assert [a.status_code for a in answers] == [200, 200]
    ids = {a.json()["CheckoutRequestID"] for a in answers}
    [flag] = flags
    assert {flag.original, flag.transaction.checkout_request_id} == ids


@pytest.mark.parametrize("settings_overrides", [{"duplicate_push": "reject", "duplicate_window": 10}])
async def test_reject_answers_409_and_stores_nothing(
    emulator: Emulator,
    daraja: Daraja,
    receiver: CallbackReceiver,
    http: httpx.AsyncClient,
    clock: ManualClock,
) -> None:
    first = (await _push(daraja, receiver)).json()["CheckoutRequestID"]
    clock.advance(4)
    refused = await _push(daraja, receiver)
    assert refused.status_code == 409
    envelope = refused.json()
    assert list(envelope) == ["requestId", "errorCode", "errorMessage"]
    assert envelope["errorCode"] == "409.001.01"
    assert envelope["errorMessage"].startswith(f"Possible double submit, same as {first} 4 s ago")
    listed = (await http.get("/simulator/transactions")).json()["transactions"]
    assert [t["checkout_request_id"] for t in listed] == [first]

    clock.advance(6)  # 10 s: the window is over
    assert (await _push(daraja, receiver)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"duplicate_push": "allow"}])
async def test_allow_says_nothing(
    emulator: Emulator, daraja: Daraja, receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    flags = _flags(emulator)
    await _push(daraja, receiver)
    await _push(daraja, receiver)
    assert flags == []
    assert (await http.get("/simulator/transactions", params={"duplicate": "true"})).json()["transactions"] == []


async def test_the_setting_changes_at_runtime(
    emulator: Emulator,
    daraja: Daraja,
    receiver: CallbackReceiver,
    http: httpx.AsyncClient,
) -> None:
    changed = await http.patch("/simulator/settings", json={"duplicate_push": "reject", "duplicate_window": 5})
    assert changed.status_code == 200 and changed.json()["duplicate_push"] == "reject"
    await _push(daraja, receiver)
    assert (await _push(daraja, receiver)).status_code == 409
    assert (await http.patch("/simulator/settings", json={"duplicate_push": "never"})).status_code == 400


async def test_the_window_survives_a_restart(tmp_path: Path, receiver: CallbackReceiver) -> None:
    clock = ManualClock()
    settings = Settings(port=0, db=tmp_path / "d.db")
    first_run = Emulator(settings, clock=clock, ids=IdGenerator(seed=1))
    await first_run.start()
    async with httpx.AsyncClient(base_url=first_run.base_url) as http:
        first = (await Daraja(http).push(receiver.url)).json()["CheckoutRequestID"]
    await first_run.stop()
    clock.advance(20)
    again = Emulator(settings, clock=clock, ids=IdGenerator(seed=2))
    await again.start()
    try:
        async with httpx.AsyncClient(base_url=again.base_url) as http:
            second = (await Daraja(http).push(receiver.url)).json()["CheckoutRequestID"]
            assert (await http.get(f"/simulator/transactions/{second}")).json()["duplicate_of"] == first
    finally:
        await again.stop()
