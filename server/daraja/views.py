"""aiohttp views for OAuth, STK Push and STK Query.

Views translate between the wire and the engine and nothing more: they check
the token, parse and validate the body, call the Simulator, and shape the
answer. Every rejection carries plain words for the activity log alongside
the exact Daraja envelope.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web
from pydantic import ValidationError

from ..errors import DuplicatePush, PhoneBusy
from ..simulator import PushOrder
from . import catalogue as c
from .base import ERROR_CODE, JSON, REASON, Rejected, ViewBase, error_response
from .models import (
    StkPushAck,
    StkPushRequest,
    StkQueryRequest,
    StkQueryResult,
    TokenResponse,
    first_error,
)

__all__ = ["ERROR_CODE", "REASON", "DarajaViews", "Rejected", "error_response"]


class DarajaViews(ViewBase):
    """The OAuth and STK endpoints."""

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/oauth/v1/generate", self.oauth, allow_head=False),
            web.post("/mpesa/stkpush/v1/processrequest", self.stk_push),
            web.post("/mpesa/stkpushquery/v1/query", self.stk_query),
        ]

    # --- OAuth ---------------------------------------------------------------
    async def oauth(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, self._oauth)

    async def _oauth(self, request: web.Request) -> web.StreamResponse:
        grant = request.query.get("grant_type")
        if grant != "client_credentials":
            raise Rejected(c.INVALID_GRANT_TYPE, f"grant_type must be client_credentials, got {grant!r}")
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise Rejected(
                c.INVALID_AUTH_TYPE,
                "Authorization must be 'Basic base64(consumer_key:consumer_secret)'"
                + ("" if header else "; the header is missing"),
            )
        try:
            key, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            key, sep, secret = "", "", ""
        if not sep or not self.sim.credentials_accepted(key, secret):
            # Daraja answers bad credentials with a bare 400 and no body.
            request[ERROR_CODE] = "400"
            request[REASON] = (
                "the Basic credentials are not base64 of consumer_key:consumer_secret"
                if not sep
                else "this consumer key and secret are not among the configured credentials"
            )
            return web.Response(status=400)
        token, lifetime = self.sim.issue_token(key)
        return web.Response(
            text=TokenResponse(access_token=token, expires_in=str(lifetime - 1)).wire(), content_type=JSON
        )

    # --- STK Push ------------------------------------------------------------
    async def stk_push(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, self._stk_push)

    async def _stk_push(self, request: web.Request) -> web.StreamResponse:
        self._check_token(request)
        payload = await self._payload(request)
        strict = self.sim.settings.account_reference == "strict"
        try:
            push = StkPushRequest.model_validate(payload, context={"strict_reference": strict})
        except ValidationError as exc:
            raise Rejected(*first_error(exc)) from None
        self._check_password(push.business_short_code, push.password, push.timestamp)
        order = PushOrder(
            shortcode=push.business_short_code,
            transaction_type=push.transaction_type,
            amount=push.amount,
            party_a=push.party_a,
            party_b=push.party_b,
            phone=push.phone_number,
            callback_url=push.callback_url,
            account_reference=push.account_reference,
            transaction_desc=push.transaction_desc,
        )
        try:
            txn = await self.sim.push(order)  # returns once the push is on disk
        except PhoneBusy as busy:
            raise Rejected(c.UNABLE_TO_LOCK, str(busy)) from None
        except DuplicatePush as twin:
            reason = str(twin)
            raise Rejected(
                c.GatewayError(409, c.DUPLICATE_PUSH_CODE, reason[:1].upper() + reason[1:]), reason
            ) from None
        ack = StkPushAck(
            merchant_request_id=txn.merchant_request_id,
            checkout_request_id=txn.checkout_request_id,
            response_code="0",
            response_description=c.ACK_DESCRIPTION,
            customer_message=c.ACK_DESCRIPTION,
        )
        return web.Response(text=ack.wire(), content_type=JSON)

    # --- STK Query -----------------------------------------------------------
    async def stk_query(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, self._stk_query)

    async def _stk_query(self, request: web.Request) -> web.StreamResponse:
        self._check_token(request)
        payload = await self._payload(request)
        try:
            query = StkQueryRequest.model_validate(payload)
        except ValidationError as exc:
            raise Rejected(*first_error(exc)) from None
        self._check_password(query.business_short_code, query.password, query.timestamp)
        txn = self.sim.transaction(query.checkout_request_id)
        if txn is None:
            raise Rejected(
                c.TRANSACTION_NOT_FOUND, f"no transaction has CheckoutRequestID {query.checkout_request_id!r}"
            )
        if txn.pending:
            if self.sim.settings.query_pending == "legacy":
                raise Rejected(
                    c.STILL_PROCESSING,
                    "the prompt is still live (legacy pending answer)",
                    request_id=txn.checkout_request_id,
                )
            code, desc = c.QUERY_PENDING_CODE, c.QUERY_PENDING_DESC
        else:
            code, desc = str(txn.result_code), txn.result_desc or ""
        result = StkQueryResult(
            response_code="0",
            response_description=c.QUERY_ACCEPTED,
            merchant_request_id=txn.merchant_request_id,
            checkout_request_id=txn.checkout_request_id,
            result_code=code,
            result_desc=desc,
        )
        return web.Response(text=result.wire(), content_type=JSON)

    # --- shared checks -------------------------------------------------------
    def _check_password(self, shortcode: str, password: str, timestamp: str) -> None:
        merchant = self.sim.merchant(shortcode)
        if merchant is None:
            raise Rejected(c.MERCHANT_DOES_NOT_EXIST, f"no merchant with shortcode {shortcode} is configured")
        if not merchant.passkey:
            raise Rejected(
                c.MERCHANT_DOES_NOT_EXIST,
                f"shortcode {shortcode} has no Lipa na M-PESA Online passkey configured, so it takes no STK Push",
            )
        expected = base64.b64encode(f"{shortcode}{merchant.passkey}{timestamp}".encode()).decode()
        if not hmac.compare_digest(expected.encode(), password.encode("utf-8", "replace")):
            raise Rejected(
                c.WRONG_CREDENTIALS,
                "the Password is not base64 of BusinessShortCode + passkey + Timestamp "
                f"for shortcode {shortcode} and Timestamp {timestamp}",
            )
