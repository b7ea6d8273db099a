"""Fixtures for the TUI: the real app on port 0, a frozen clock, seeded ids, real HTTP.

``start_app`` is a factory rather than a fixture that yields a running app:
Textual keeps the running app in a context variable, and a test that enters
``run_test`` itself sees it for sure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot

from handset.app import HandsetApp, make_app
from server.clock import ManualClock
from server.ids import IdGenerator
from server.settings import Settings
from tests.handset.tui_kit import SIZE, Merchant


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    return Settings(port=0, db=tmp_path / "h.db")


@pytest.fixture
def start_app(app_settings: Settings, clock: ManualClock):
    """``async with start_app() as (app, pilot, merchant)``: the app running, the server up."""

    @contextlib.asynccontextmanager
    async def start(
        settings: Settings | None = None,
        size: tuple[int, int] = SIZE,
        **app_options: Any,
    ) -> AsyncIterator[tuple[HandsetApp, Pilot, Merchant]]:
        app = make_app(settings or app_settings, clock=clock, ids=IdGenerator(seed=7), **app_options)
        app.animation_level = "none"  # pilot waits for animations after each key; none is faster
        async with app.run_test(size=size) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await pilot.pause()
            async with httpx.AsyncClient(base_url=app.emulator.base_url, timeout=10) as client:
                yield app, pilot, Merchant(client)

    return start
