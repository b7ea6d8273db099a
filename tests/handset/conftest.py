"""Fixtures for the TUI: the real app on port 0, a frozen clock, seeded ids, real HTTP.

``start_app`` is a factory rather than a fixture that yields a running app:
Textual keeps the running app in a context variable, and a test that enters
``run_test`` itself sees it for sure.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import httpx
import pytest
from daraja_client import Daraja
from textual.pilot import Pilot

from handset.app import HandsetApp, make_app
from server.clock import ManualClock
from server.ids import IdGenerator
from server.settings import Settings

SIZE = (120, 40)
WANJIKU = "254708374149"
OTIENO = "254712345678"
ACHIENG = "254722000111"


async def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 5.0) -> None:
    """Poll until ``predicate()`` is true; fail with ``what`` if it never is."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.01)


def fully_shown(widget: Any) -> bool:
    """Whether every cell of ``widget`` is on the screen: not clipped by a scrolling parent, a
    dialog's edge or the terminal's (False too when it is not displayed at all)."""
    from textual.errors import NoWidget

    try:
        geometry = widget.screen.find_widget(widget)
    except NoWidget:
        return False
    region = geometry.region
    return bool(region) and geometry.visible_region == region and widget.screen.region.contains_region(region)


class Merchant:
    """A merchant app talking real HTTP to the app's embedded server."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.daraja = Daraja(client)

    async def push(self, callback_url: str, **overrides: Any) -> str:
        """Send an STK Push; returns its CheckoutRequestID."""
        response = await self.daraja.push(callback_url, **overrides)
        assert response.status_code == 200, response.text
        return response.json()["CheckoutRequestID"]


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    return Settings(port=0, db=tmp_path / "h.db")


@pytest.fixture
def start_app(app_settings: Settings, clock: ManualClock):
    """``async with start_app() as (app, pilot, merchant)``: the app running, the server up."""

    @contextlib.asynccontextmanager
    async def start(
        settings: Settings | None = None, size: tuple[int, int] = SIZE, **app_options: Any,
    ) -> AsyncIterator[tuple[HandsetApp, Pilot, Merchant]]:
        app = make_app(settings or app_settings, clock=clock, ids=IdGenerator(seed=7), **app_options)
        app.animation_level = "none"  # pilot waits for animations after each key; none is faster
        async with app.run_test(size=size) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await pilot.pause()
            async with httpx.AsyncClient(base_url=app.emulator.base_url, timeout=10) as client:
                yield app, pilot, Merchant(client)

    return start
