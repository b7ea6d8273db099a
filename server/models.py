"""The engine's domain records: handsets, merchants, transactions, SMS, deliveries and their attempts.

Plain dataclasses, cheap to build on the hot path. Money is held in cents so
that sums are exact; ``to_json`` gives the control API's view (KES as numbers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .clock import iso
from .daraja.catalogue import RESULT_PLAIN_WORDS, parse_result_code

PENDING = "pending"
SETTLED = "settled"

# Callback delivery states of a transaction.
CALLBACK_NONE = "none"  # not settled yet: nothing to send
CALLBACK_DUE = "due"  # settled, not yet delivered (survives restarts)
CALLBACK_DELIVERED = "delivered"  # the merchant answered 2xx
CALLBACK_FAILED = "failed"  # every allowed attempt failed
CALLBACK_DROPPED = "dropped"  # the callback plan said never to send it
DELIVERY_STATES = (CALLBACK_DUE, CALLBACK_DELIVERED, CALLBACK_FAILED, CALLBACK_DROPPED)

# What a delivery carries to the merchant (one outbound path for all of them).
STK_CALLBACK = "stk_callback"  # the STK Push result, to CallBackURL
C2B_VALIDATION = "c2b_validation"  # a C2B payment to approve, to ValidationURL (a round trip)
C2B_CONFIRMATION = "c2b_confirmation"  # a completed C2B payment, to ConfirmationURL
RESULT = "result"  # an initiator API's Result, to ResultURL
QUEUE_TIMEOUT = "queue_timeout"  # an initiator request that timed out in the queue
CHANNELS = (STK_CALLBACK, C2B_VALIDATION, C2B_CONFIRMATION, RESULT, QUEUE_TIMEOUT)


def delivery_id(channel: str, subject: str) -> str:
    """A delivery's id: what it carries and what about (``stk_callback:ws_CO_...``); one per pair."""
    return f"{channel}:{subject}"


def kes(cents: int) -> float:
    return cents / 100


@dataclass
class Handset:
    """A customer's phone."""

    msisdn: str
    name: str
    pin: str
    balance_cents: int
    online: bool = True
    wrong_pins: int = 0  # wrong PINs in a row; three lock the PIN
    pin_locked: bool = False
    live_prompt: str | None = None  # CheckoutRequestID of the prompt on screen

    def to_json(self) -> dict[str, Any]:
        return {
            "msisdn": self.msisdn,
            "name": self.name,
            "pin": self.pin,
            "balance": kes(self.balance_cents),
            "online": self.online,
            "pin_locked": self.pin_locked,
            "wrong_pins": self.wrong_pins,
            "live_prompt": self.live_prompt,
        }


@dataclass
class Merchant:
    """A PayBill or Till that can push STK prompts."""

    shortcode: str
    passkey: str
    name: str
    kind: str
    external_validation: bool = True  # C2B payments are checked with its ValidationURL first
    balance_cents: int = 0  # of the account customers' payments reach (Utility, or Merchant for a till)
    accounts: dict[str, int] = field(default_factory=dict)  # every account of the shortcode, in cents

    def to_json(self) -> dict[str, Any]:
        return {
            "shortcode": self.shortcode,
            "name": self.name,
            "kind": self.kind,
            "balance": kes(self.balance_cents),
            "accounts": {kind: kes(cents) for kind, cents in self.accounts.items()},
        }


@dataclass
class C2BRegistration:
    """The URLs a shortcode registered for C2B, and what to do when validation gets no answer."""

    shortcode: str
    version: int  # 1 or 2: decides how the MSISDN is written in the calls (spec §10.3)
    response_type: str  # Completed | Cancelled
    confirmation_url: str
    validation_url: str
    registered_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "shortcode": self.shortcode,
            "version": self.version,
            "response_type": self.response_type,
            "confirmation_url": self.confirmation_url,
            "validation_url": self.validation_url,
            "registered_at": iso(self.registered_at),
        }


C2B_PENDING = "pending"  # acknowledged and not yet run to its end (a restart runs it again)
C2B_COMPLETED = "completed"
C2B_REJECTED = "rejected"  # the merchant's validation said no, or no answer with ResponseType Cancelled
C2B_FAILED = "failed"  # M-PESA's own checks: no such phone, not enough money, a limit


@dataclass(frozen=True)
class Transfer:
    """Money one customer sent another (Send Money): kept as the ledger's posting and two SMS."""

    receipt: str
    sender: str  # MSISDN
    recipient: str  # MSISDN
    amount: int  # whole KES
    at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "receipt": self.receipt,
            "from": self.sender,
            "to": self.recipient,
            "amount": self.amount,
            "at": iso(self.at),
        }


@dataclass
class C2BPaymentRecord:
    """A customer's payment to a paybill or till (simulate, the control API, later the phone's menu)."""

    trans_id: str
    shortcode: str
    msisdn: str
    amount: int  # whole KES
    bill_ref: str
    command_id: str
    status: str  # pending | completed | rejected | failed
    reason: str  # plain words
    via: str  # simulate | control | menu
    third_party_trans_id: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "trans_id": self.trans_id,
            "shortcode": self.shortcode,
            "msisdn": self.msisdn,
            "amount": self.amount,
            "bill_ref": self.bill_ref,
            "command_id": self.command_id,
            "status": self.status,
            "reason": self.reason,
            "via": self.via,
            "third_party_trans_id": self.third_party_trans_id,
            "created_at": iso(self.created_at),
        }


@dataclass
class InitiatorRequest:
    """A B2C, Transaction Status, Account Balance or Reversal request, from acknowledgement to Result."""

    conversation_id: str
    originator_id: str
    api: str  # b2c | pochi | status | balance | reversal
    shortcode: str  # PartyA: the organisation asking
    initiator: str
    request: str  # the request body as parsed, JSON: what the Result is worked out from
    result_url: str
    queue_timeout_url: str
    status: str = PENDING  # pending | settled
    result_code: str | None = None
    receipt: str | None = None  # the transaction it made: a B2C payment, a reversal
    counterpart: str | None = None  # the other party: a B2C recipient, a reversed payment's payer
    amount: int | None = None  # whole KES moved, if any
    created_at: float = 0.0
    due_at: float = 0.0
    chosen: str | None = None  # JSON of the outcome the control API chose for it, if any

    def to_json(self) -> dict[str, Any]:
        code = None if self.result_code is None else parse_result_code(self.result_code)
        return {
            "conversation_id": self.conversation_id,
            "originator_conversation_id": self.originator_id,
            "api": self.api,
            "shortcode": self.shortcode,
            "initiator": self.initiator,
            "request": json.loads(self.request),
            "result_url": self.result_url,
            "queue_timeout_url": self.queue_timeout_url,
            "status": self.status,
            "result_code": code,
            "receipt": self.receipt,
            "counterpart": self.counterpart,
            "amount": self.amount,
            "created_at": iso(self.created_at),
            "due_at": iso(self.due_at),
        }


@dataclass
class Message:
    """One SMS in a handset's inbox."""

    id: int
    msisdn: str
    sender: str
    text: str
    received_at: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "sender": self.sender, "text": self.text, "received_at": iso(self.received_at)}


@dataclass
class Delivery:
    """One message the emulator owes a merchant: its body, where it goes, and how it went."""

    id: str
    url: str
    body: str
    state: str = CALLBACK_DUE  # due | delivered | failed | dropped
    plan: str | None = None  # JSON of a CallbackPlan; None: send once, at once
    due_at: float | None = None  # a delayed or late one goes out then
    created_at: float = 0.0

    @property
    def channel(self) -> str:
        return self.id.split(":", 1)[0]

    @property
    def subject(self) -> str:
        """The transaction, payment or request it is about (a CheckoutRequestID, a TransID, ...)."""
        return self.id.split(":", 1)[1]

    def to_json(self, attempts: list[CallbackAttempt] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "delivery_id": self.id,
            "channel": self.channel,
            "subject": self.subject,
            "url": self.url,
            "state": self.state,
            "plan": None if self.plan is None else json.loads(self.plan),
            "due_at": iso(self.due_at),
            "created_at": iso(self.created_at),
            "body": self.body,
        }
        if attempts is not None:
            from .answers import compare_answers

            data["attempts"] = [a.to_json() for a in attempts]
            data["merchant_answers"] = compare_answers(attempts).to_json()
        return data


@dataclass
class CallbackAttempt:
    """One try at POSTing a delivery to the merchant."""

    delivery_id: str
    attempt: int
    started_at: float
    url: str
    request_body: str
    status: int | None
    response_body: str | None
    latency_ms: float
    error: str | None  # plain words; None when the merchant answered 2xx
    kind: str = "callback"  # callback, retry, duplicate, resend, edited, forged

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def channel(self) -> str:
        return self.delivery_id.split(":", 1)[0]

    @property
    def subject(self) -> str:
        return self.delivery_id.split(":", 1)[1]

    @property
    def checkout_request_id(self) -> str:
        """For an STK callback, the transaction's CheckoutRequestID (the subject)."""
        return self.subject

    def to_json(self) -> dict[str, Any]:
        data = {
            "delivery_id": self.delivery_id,
            "channel": self.channel,
            "subject": self.subject,
            "attempt": self.attempt,
            "started_at": iso(self.started_at),
            "url": self.url,
            "request_body": self.request_body,
            "status": self.status,
            "response_body": self.response_body,
            "latency_ms": round(self.latency_ms, 2),
            "ok": self.ok,
            "error": self.error,
            "kind": self.kind,
        }
        if self.channel == STK_CALLBACK:
            data["checkout_request_id"] = self.subject
        return data


@dataclass
class Transaction:
    """One STK Push, from live prompt to a single ResultCode."""

    checkout_request_id: str
    merchant_request_id: str
    msisdn: str
    shortcode: str
    merchant_name: str
    transaction_type: str
    amount: int
    party_a: str
    party_b: str
    account_reference: str
    transaction_desc: str
    callback_url: str
    prompt: str
    created_at: float
    expires_at: float
    status: str = PENDING
    result_code: str | None = None  # stored as text; see ``wire_result_code``
    result_desc: str | None = None
    receipt: str | None = None
    settled_at: float | None = None
    balance_after_cents: int | None = None
    callback_state: str = CALLBACK_NONE
    callback_body: str | None = None
    callback_plan: str | None = None  # JSON of a CallbackPlan; None means the settings' default
    callback_due_at: float | None = None  # when a delayed or late callback goes out
    # The CheckoutRequestID of an earlier push with the same phone, shortcode, amount and
    # AccountReference within duplicate_window: a possible double submit.
    duplicate_of: str | None = None
    attempts: list[CallbackAttempt] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    @property
    def wire_result_code(self) -> int | str | None:
        return None if self.result_code is None else parse_result_code(self.result_code)

    def to_json(self, with_attempts: bool = False) -> dict[str, Any]:
        code = self.wire_result_code
        data: dict[str, Any] = {
            "checkout_request_id": self.checkout_request_id,
            "merchant_request_id": self.merchant_request_id,
            "msisdn": self.msisdn,
            "shortcode": self.shortcode,
            "merchant_name": self.merchant_name,
            "transaction_type": self.transaction_type,
            "amount": self.amount,
            "account_reference": self.account_reference,
            "transaction_desc": self.transaction_desc,
            "callback_url": self.callback_url,
            "prompt": self.prompt,
            "status": self.status,
            "result_code": code,
            "result_desc": self.result_desc,
            "outcome": None if code is None else RESULT_PLAIN_WORDS.get(code, "unknown"),
            "receipt": self.receipt,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "settled_at": iso(self.settled_at),
            "callback_state": self.callback_state,
            "callback_plan": None if self.callback_plan is None else json.loads(self.callback_plan),
            "callback_due_at": iso(self.callback_due_at),
            "duplicate_of": self.duplicate_of,
        }
        if with_attempts:
            from .answers import compare_answers

            data["callback_body"] = self.callback_body
            data["callback_attempts"] = [a.to_json() for a in self.attempts]
            data["merchant_answers"] = compare_answers(self.attempts).to_json()
        return data
