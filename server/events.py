"""Typed events the engine publishes, and the bus that carries them.

The UI subscribes with a plain callback; the control API's Server-Sent Events
stream subscribes with a queue. Publishing never blocks the engine: a slow
stream loses its oldest events rather than holding up a payment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .clock import iso
from .models import (
    STK_CALLBACK,
    C2BPaymentRecord,
    CallbackAttempt,
    Handset,
    InitiatorRequest,
    Message,
    Transaction,
    Transfer,
)

log = logging.getLogger(__name__)


@dataclass
class Event:
    """Base of every engine event; ``type`` names it on the SSE stream."""

    type: ClassVar[str] = "event"
    at: float

    def payload(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "at": iso(self.at), **self.payload()}


@dataclass
class HandsetChanged(Event):
    """A handset was added or its name, PIN, balance or online state changed."""

    type: ClassVar[str] = "handset.changed"
    handset: Handset

    def payload(self) -> dict[str, Any]:
        return {"handset": self.handset.to_json()}


@dataclass
class PromptArrived(Event):
    """An STK prompt is now live on a handset."""

    type: ClassVar[str] = "prompt.arrived"
    transaction: Transaction

    def payload(self) -> dict[str, Any]:
        return {"transaction": self.transaction.to_json()}


@dataclass
class TransactionSettled(Event):
    """A transaction got its one and only ResultCode."""

    type: ClassVar[str] = "transaction.settled"
    transaction: Transaction

    def payload(self) -> dict[str, Any]:
        return {"transaction": self.transaction.to_json()}


@dataclass
class CallbackPlanChanged(Event):
    """A live prompt's callback plan was set (from the control API or the UI)."""

    type: ClassVar[str] = "callback_plan.changed"
    transaction: Transaction

    def payload(self) -> dict[str, Any]:
        return {"transaction": self.transaction.to_json()}


@dataclass
class DuplicatePushFlagged(Event):
    """A push came in like one accepted moments ago: the merchant app may have submitted twice."""

    type: ClassVar[str] = "push.duplicate"
    transaction: Transaction
    original: str = ""  # the earlier push's CheckoutRequestID
    seconds_ago: float = 0.0

    def payload(self) -> dict[str, Any]:
        return {
            "transaction": self.transaction.to_json(),
            "duplicate_of": self.original,
            "seconds_ago": round(self.seconds_ago, 3),
            "message": duplicate_words(self.original, self.seconds_ago),
        }


@dataclass
class AnswersDiffer(Event):
    """The merchant answered copies of the same callback differently: not idempotent?"""

    type: ClassVar[str] = "callback.answers_differ"
    delivery_id: str = ""
    differences: list[str] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return self.delivery_id.split(":", 1)[1]

    def payload(self) -> dict[str, Any]:
        return {"delivery_id": self.delivery_id, "subject": self.subject, "differences": self.differences}


def duplicate_words(original: str, seconds_ago: float) -> str:
    """How the log and the stream put it."""
    return f"possible double submit, same as {original} {seconds_ago:.0f} s ago"


@dataclass
class C2BPaymentSettled(Event):
    """A customer's payment to a paybill or till went through, or did not (and why)."""

    type: ClassVar[str] = "c2b.payment"
    payment: C2BPaymentRecord

    def payload(self) -> dict[str, Any]:
        return {"payment": self.payment.to_json()}


@dataclass
class MoneySent(Event):
    """One customer sent another money from the phone's menu (Send Money): no merchant is called."""

    type: ClassVar[str] = "money.sent"
    transfer: Transfer

    def payload(self) -> dict[str, Any]:
        return {"transfer": self.transfer.to_json()}


@dataclass
class InitiatorSettled(Event):
    """A B2C, Transaction Status, Account Balance or Reversal request got its Result."""

    type: ClassVar[str] = "initiator.result"
    request: InitiatorRequest

    def payload(self) -> dict[str, Any]:
        return {"request": self.request.to_json()}


@dataclass
class SmsReceived(Event):
    """An SMS landed in a handset's inbox."""

    type: ClassVar[str] = "sms.received"
    message: Message

    def payload(self) -> dict[str, Any]:
        return {"msisdn": self.message.msisdn, "message": self.message.to_json()}


@dataclass
class CallbackAttempted(Event):
    """One attempt to deliver a callback finished (well or badly)."""

    type: ClassVar[str] = "callback.attempted"
    attempt: CallbackAttempt
    final: bool = True  # no further attempt will follow

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "delivery_id": self.attempt.delivery_id,
            "channel": self.attempt.channel,
            "final": self.final,
            "attempt": self.attempt.to_json(),
        }
        if self.attempt.channel == STK_CALLBACK:
            payload["checkout_request_id"] = self.attempt.subject
        return payload


@dataclass
class RequestHandled(Event):
    """The emulator answered an HTTP request (Daraja or control API)."""

    type: ClassVar[str] = "request.handled"
    method: str = ""
    path: str = ""
    status: int = 0
    error_code: str | None = None  # Daraja errorCode, when rejected
    reason: str | None = None  # plain words for a person
    request_body: str = ""
    response_body: str = ""
    latency_ms: float = 0.0

    def payload(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "error_code": self.error_code,
            "reason": self.reason,
            "request_body": self.request_body,
            "response_body": self.response_body,
            "latency_ms": round(self.latency_ms, 2),
        }


@dataclass
class StateReset(Event):
    """Everything went back to the configured defaults."""

    type: ClassVar[str] = "state.reset"


Subscriber = Callable[[Event], None]


class EventBus:
    """Fan-out of engine events to callbacks and queues."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` for every event; returns a function that unsubscribes."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber) if subscriber in self._subscribers else None

    def queue(self, maxsize: int = 1000) -> tuple[asyncio.Queue[Event], Callable[[], None]]:
        """A queue that receives every event, for async consumers such as SSE."""
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)

        def put(event: Event) -> None:
            if queue.full():
                queue.get_nowait()  # a stalled reader loses old events, never blocks the engine
            queue.put_nowait(event)

        return queue, self.subscribe(put)

    def publish(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # a broken subscriber must not break a payment
                log.exception("event subscriber failed on %s", event.type)
