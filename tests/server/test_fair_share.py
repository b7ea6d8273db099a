"""TurnBudget: a burst of requests leaves room in every loop turn for whatever else shares the loop."""

from __future__ import annotations

import asyncio
import time

import httpx

from server.fair_share import TurnBudget
from server.runner import Emulator
from server.settings import Settings
from tests.daraja_client import Daraja


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def test_admitted_work_per_turn_stays_near_the_budget() -> None:
    budget = TurnBudget(0.004)
    loop = asyncio.get_running_loop()
    turns: list[float] = []  # when each loop turn began, as seen by a callback re-queued every turn
    running = True

    def tick() -> None:
        turns.append(time.perf_counter())
        if running:
            loop.call_soon(tick)

    done_in_turn: list[int] = []

    async def request() -> None:
        await budget.admit()
        _busy(0.001)  # a millisecond of work per request
        done_in_turn.append(len(turns))

    tick()
    await asyncio.gather(*(request() for _ in range(60)))
    running = False
    assert len(done_in_turn) == 60
    # Without the budget all 60 requests would run in one turn. With it, a turn admits requests
    # until 4 ms have passed: at most 4 of 1 ms each, plus the one that found 3.9 ms gone.
    # (A slow machine only makes requests take longer, so fewer fit: the bound cannot flake.)
    per_turn = [done_in_turn.count(turn) for turn in set(done_in_turn)]
    assert max(per_turn) <= 5, per_turn


async def test_an_emulator_with_a_budget_still_answers_every_request_and_callback(tmp_path, receiver) -> None:
    emulator = Emulator(Settings(port=0, db=tmp_path / "b.db"), turn_budget=0.002)
    assert emulator.simulator.callbacks.turn_budget is not None  # callbacks share the requests' budget
    await emulator.start()
    try:
        async with httpx.AsyncClient(base_url=emulator.base_url, timeout=10) as http:
            daraja = Daraja(http)
            await daraja.token()
            # Two pushes per phone: the second finds the phone busy and settles 1001 at once.
            responses = await asyncio.gather(
                *(
                    daraja.push(receiver.url, PhoneNumber=254792000000 + n % 25, PartyA=254792000000 + n % 25)
                    for n in range(50)
                )
            )
        assert [r.status_code for r in responses] == [200] * 50
        assert len({r.json()["CheckoutRequestID"] for r in responses}) == 50
        callbacks = await receiver.wait_for(25)
        assert {c.json["Body"]["stkCallback"]["ResultCode"] for c in callbacks} == {1001}
    finally:
        await emulator.stop()
