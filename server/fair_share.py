"""A cap on how long request handling may hold one turn of the event loop.

asyncio runs every ready callback of a turn before it polls again, so fifty
requests arriving together are all handled in the same turn, and anything else
on the loop waits for all fifty. Headless that is what we want. When the loop
also draws a terminal UI, a key the user presses takes a few turns to reach the
screen, and each of those turns would be stretched by a burst of requests. With
a budget, requests that find the turn already ``budget`` seconds old wait for
the next turn, behind whatever else became ready: the UI gets its turns, the
requests are still all answered, in order of arrival, a few milliseconds later.
Callback posts draw on the same budget: a flood of settlements sends as many
callbacks as it answered requests.
"""

from __future__ import annotations

import asyncio
import time


class TurnBudget:
    """Admits request handlers while the current loop turn is younger than ``budget`` seconds."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self._began: float | None = None  # when request work in this turn began

    def _next_turn(self) -> None:
        self._began = None

    async def admit(self) -> None:
        """Return at once if this turn has time left; otherwise wait for a turn that has."""
        while True:
            now = time.perf_counter()
            if self._began is None:
                self._began = now
                # Runs at the start of the next turn, ahead of the handlers that yield below.
                asyncio.get_running_loop().call_soon(self._next_turn)
                return
            if now - self._began < self.budget:
                return
            await asyncio.sleep(0)
