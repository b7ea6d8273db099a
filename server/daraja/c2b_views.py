"""aiohttp views for C2B: register URL (v1, v2) and simulate (v1, v2), spec §9 and §11.

Thin, as every view: check the token, parse the body with the flow's wire models, call the
C2B flow, answer its bytes. The payment itself runs after the acknowledgement, as in the
sandbox.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from ..flows.c2b import wire
from .base import JSON, ViewBase


class C2BViews(ViewBase):
    """The C2B endpoints."""

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/mpesa/c2b/v1/registerurl", self.register_v1),
            web.post("/mpesa/c2b/v2/registerurl", self.register_v2),
            web.post("/mpesa/c2b/v1/simulate", self.simulate),
            web.post("/mpesa/c2b/v2/simulate", self.simulate),
        ]

    async def register_v1(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, lambda r: self._register(r, 1))

    async def register_v2(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, lambda r: self._register(r, 2))

    async def _register(self, request: web.Request, version: Literal[1, 2]) -> web.StreamResponse:
        self._check_token(request)
        payload = await self._payload(request, first_field="ShortCode")
        registration = wire.parse_register_url(
            payload,
            strict_words=self.sim.settings.c2b_url_words == "strict",
        )
        return web.Response(text=self.sim.c2b.register(registration, version), content_type=JSON)

    async def simulate(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, self._simulate)

    async def _simulate(self, request: web.Request) -> web.StreamResponse:
        self._check_token(request)
        payload = await self._payload(request, first_field="ShortCode")
        return web.Response(text=self.sim.c2b.simulate(wire.parse_simulate(payload)), content_type=JSON)
