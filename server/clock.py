"""Time for the engine: wall-clock reading and timers, injectable for tests.

The engine never calls ``time.time()`` or ``loop.call_later`` itself; it asks a
clock. ``SystemClock`` is real time, ``ManualClock`` only moves when told, so a
60-second prompt timeout can be tested without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Protocol

EAT = timezone(timedelta(hours=3), "EAT")


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the engine needs from time."""

    def now(self) -> float:
        """Seconds since the epoch."""

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` once the clock reaches ``when`` (epoch seconds)."""


class SystemClock:
    """Real time; timers run on the running asyncio loop."""

    def now(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_later(max(0.0, when - time.time()), callback)


class _ManualTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that stands still until ``advance`` or ``set`` moves it.

    Timers that fall due while moving run in deadline order, synchronously, so
    a test sees their effects as soon as ``advance`` returns.
    """

    def __init__(self, start: float | datetime = 1_795_794_600.0) -> None:
        # Default start: 2026-11-27 18:50:00 EAT, a fixed moment for snapshots.
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._timers: list[tuple[float, int, _ManualTimer, Callable[[], None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        handle = _ManualTimer()
        heapq.heappush(self._timers, (when, next(self._order), handle, callback))
        return handle

    def advance(self, seconds: float) -> None:
        self.set(self._now + seconds)

    def set(self, moment: float) -> None:
        while self._timers and self._timers[0][0] <= moment:
            when, _, handle, callback = heapq.heappop(self._timers)
            self._now = max(self._now, when)
            if not handle.cancelled:
                callback()
        self._now = max(self._now, moment)


def eat(moment: float) -> datetime:
    """Epoch seconds as Nairobi local time, the only time zone on Daraja's wire."""
    return datetime.fromtimestamp(moment, EAT)


def wire_timestamp(moment: float) -> str:
    """``YYYYMMDDHHmmss`` in EAT."""
    return eat(moment).strftime("%Y%m%d%H%M%S")


def iso(moment: float | None) -> str | None:
    """ISO 8601 in EAT for the control API, or None."""
    return None if moment is None else eat(moment).isoformat(timespec="milliseconds")
