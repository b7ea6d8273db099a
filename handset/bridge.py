"""The one door from the engine into Textual: engine events become Textual messages.

The engine calls its subscribers synchronously, in the middle of a payment.
Touching widgets there would tie the engine to the screen, so the bridge only
queues a message; the app handles it on its own turn of the message loop.
Log records from ``server`` (and anything else) take the same road, so
nothing is written to the terminal behind Textual's back.

A flood of pushes makes thousands of events a second. Posting each one to the
app would queue them ahead of the keys the customer types (the app drains its
queue before anything else runs, the key's widget and the next frame included).
So the bridge keeps them in order in its own queue and posts one
``EventsWaiting``; the app takes them in slices of a few milliseconds
(``take``), and between slices the keys, the frames and the server run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from textual.message import Message
from textual.message_pump import MessagePump

from server import events as engine
from server.models import CallbackAttempt, Handset, Transaction
from server.models import Message as Sms


class EngineBridge:
    """Subscribes to an engine's event bus and re-posts each event as a message."""

    class HandsetChanged(Message):
        """A handset was added, or its name, PIN, balance or online state changed."""

        def __init__(self, handset: Handset) -> None:
            super().__init__()
            self.handset = handset

    class PromptArrived(Message):
        """An STK prompt went live on a handset."""

        def __init__(self, transaction: Transaction) -> None:
            super().__init__()
            self.transaction = transaction

    class TransactionSettled(Message):
        """A transaction got its ResultCode."""

        def __init__(self, transaction: Transaction) -> None:
            super().__init__()
            self.transaction = transaction

    class PlanChanged(Message):
        """A live prompt's callback plan was set, here or through the control API."""

        def __init__(self, transaction: Transaction) -> None:
            super().__init__()
            self.transaction = transaction

    class SmsReceived(Message):
        """An SMS landed in a handset's inbox."""

        def __init__(self, sms: Sms) -> None:
            super().__init__()
            self.sms = sms

    class CallbackAttempted(Message):
        """One attempt to deliver a callback to the merchant finished."""

        def __init__(self, attempt: CallbackAttempt, at: float, final: bool) -> None:
            super().__init__()
            self.attempt = attempt
            self.at = at
            self.final = final

    class RequestHandled(Message):
        """The embedded server answered an HTTP request."""

        def __init__(self, request: engine.RequestHandled) -> None:
            super().__init__()
            self.request = request

    class Noticed(Message):
        """Something the engine points out: a possible double submit, answers that differ, a C2B payment."""

        def __init__(self, event: engine.Event) -> None:
            super().__init__()
            self.event = event

    class StateReset(Message):
        """The engine went back to its configured defaults."""

    class EventsWaiting(Message):
        """Engine messages are waiting in the bridge: the app should ``take`` them."""

    class LogRecorded(Message):
        """A log record that would otherwise have gone to stderr."""

        def __init__(self, record: logging.LogRecord) -> None:
            super().__init__()
            self.record = record

    def __init__(self, bus: engine.EventBus, target: MessagePump) -> None:
        self._bus = bus
        self._target = target
        self._unsubscribe: Callable[[], None] | None = None
        self._waiting: deque[Message] = deque()
        self._announced = False  # an EventsWaiting is on its way to the target

    def start(self) -> None:
        self._unsubscribe = self._bus.subscribe(self._forward)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _forward(self, event: engine.Event) -> None:
        message = self.translate(event)
        if message is None:
            return
        self._waiting.append(message)
        if not self._announced:
            self._announced = True
            self._target.post_message(self.EventsWaiting())

    def take(self, budget: float) -> Iterator[Message]:
        """The waiting messages, oldest first, for about ``budget`` seconds of the caller's work.

        When the time is up with messages left, another ``EventsWaiting`` is posted on the
        loop's next turn, behind whatever reached the target meanwhile (a key press).
        """
        deadline = time.perf_counter() + budget
        waiting = self._waiting
        try:
            while waiting and time.perf_counter() <= deadline:
                yield waiting.popleft()
        finally:
            if waiting:
                asyncio.get_running_loop().call_soon(self._target.post_message, self.EventsWaiting())
            else:
                self._announced = False

    @classmethod
    def translate(cls, event: engine.Event) -> Message | None:
        """The message for an engine event (None for events the UI does not show)."""
        if isinstance(event, engine.PromptArrived):
            return cls.PromptArrived(event.transaction)
        if isinstance(event, engine.TransactionSettled):
            return cls.TransactionSettled(event.transaction)
        if isinstance(event, engine.CallbackPlanChanged):
            return cls.PlanChanged(event.transaction)
        if isinstance(event, engine.SmsReceived):
            return cls.SmsReceived(event.message)
        if isinstance(event, engine.HandsetChanged):
            return cls.HandsetChanged(event.handset)
        if isinstance(event, engine.CallbackAttempted):
            return cls.CallbackAttempted(event.attempt, event.at, event.final)
        if isinstance(event, engine.RequestHandled):
            return cls.RequestHandled(event)
        if isinstance(event, engine.StateReset):
            return cls.StateReset()
        if isinstance(
            event,
            (
                engine.DuplicatePushFlagged,
                engine.AnswersDiffer,
                engine.C2BPaymentSettled,
                engine.InitiatorSettled,
                engine.MoneySent,
            ),
        ):
            return cls.Noticed(event)
        return None


class LogToApp(logging.Handler):
    """A logging handler that hands records to the app as messages."""

    def __init__(self, target: MessagePump, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self._target = target
        # Records can come from other threads (executors); only the app's loop may post.
        self._thread = threading.get_ident()
        self._loop = asyncio.get_running_loop()

    def emit(self, record: logging.LogRecord) -> None:
        message = EngineBridge.LogRecorded(record)
        if threading.get_ident() == self._thread:
            self._target.post_message(message)
        else:
            self._loop.call_soon_threadsafe(self._target.post_message, message)
