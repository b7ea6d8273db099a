"""aiohttp views for the initiator APIs: B2C (v1, v3), Business to Pochi, Transaction Status,
Account Balance and Reversal (spec §12-§15).

Thin: check the token, parse with the flow's wire model, let the flow acknowledge; the Result
follows a little later (server.flows.initiator).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from .base import JSON, ViewBase


class InitiatorViews(ViewBase):
    """The initiator APIs' endpoints."""

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/mpesa/b2c/v3/paymentrequest", self.b2c_v3),
            web.post("/mpesa/b2c/v1/paymentrequest", self.b2c_v1),
            web.post("/mpesa/b2pochi/v1/paymentrequest", self.pochi),
            web.post("/mpesa/transactionstatus/v1/query", self.status),
            web.post("/mpesa/accountbalance/v1/query", self.balance),
            web.post("/mpesa/reversal/v1/request", self.reversal),
        ]

    async def b2c_v3(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, lambda r: self._b2c(r, 3, pochi=False))

    async def b2c_v1(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, lambda r: self._b2c(r, 1, pochi=False))

    async def pochi(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, lambda r: self._b2c(r, 3, pochi=True))

    async def status(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, lambda r: self._initiated(r, self.sim.status.accept))

    async def balance(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, lambda r: self._initiated(r, self.sim.balance.accept))

    async def reversal(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, lambda r: self._initiated(r, self.sim.reversal.accept))

    async def _initiated(self, request: web.Request, accept: Callable[[dict[str, Any]], str]) -> web.StreamResponse:
        self._check_token(request)
        payload = await self._payload(request, first_field="Initiator")
        return web.Response(text=accept(payload), content_type=JSON)

    async def _b2c(self, request: web.Request, version: int, pochi: bool) -> web.StreamResponse:
        self._check_token(request)
        # A wrong Content-Type shows as an invalid InitiatorName (spec §12, D-B2C FAQ 18).
        payload = await self._payload(request, first_field="InitiatorName")
        ack = self.sim.b2c.accept(payload, version=version, pochi=pochi)
        return web.Response(text=ack, content_type=JSON)
