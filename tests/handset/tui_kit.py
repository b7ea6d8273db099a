"""What the TUI tests share: the terminal size, the configured phones, a waiter, a merchant."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from tests.daraja_client import Daraja

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
