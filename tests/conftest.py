"""Shared fixtures: a real emulator on port 0, a real callback receiver, HTTP clients.

The emulator runs in the test's event loop with a ManualClock and seeded ids,
so timeouts are tested by moving the clock, never by sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.clock import ManualClock
from server.ids import IdGenerator
from server.runner import Emulator
from server.settings import Settings
from tests.daraja_client import Daraja
from tests.receiver import CallbackReceiver


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "handset.db"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or parametrize) to change the emulator's settings."""
    return {}


@pytest.fixture
def settings(db_path: Path, settings_overrides: dict[str, Any]) -> Settings:
    return Settings(port=0, db=db_path, **settings_overrides)


@pytest.fixture
async def emulator(settings: Settings, clock: ManualClock) -> AsyncIterator[Emulator]:
    emu = Emulator(settings, clock=clock, ids=IdGenerator(seed=7))
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    rec = CallbackReceiver()
    await rec.start()
    try:
        yield rec
    finally:
        await rec.stop()


@pytest.fixture
async def http(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def daraja(http: httpx.AsyncClient) -> Daraja:
    return Daraja(http)


# Whole suites that take most of the run's time; ``-m "not slow"`` leaves them out.
SLOW_SUITES = {"reliability", "contract"}
TESTS = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(TESTS / suite in item.path.parents for suite in SLOW_SUITES):
            item.add_marker(pytest.mark.slow)
