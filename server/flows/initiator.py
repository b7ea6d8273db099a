"""The course every initiator API takes: acknowledge at once, answer with a Result a little later.

B2C, Transaction Status, Account Balance and Reversal share it (spec §8): the request is
checked, stored as pending and acknowledged with its OriginatorConversationID and a new
ConversationID; ``result_delay`` seconds later its flow works out the outcome (the money, the
SMS, the Result's body) in one commit with the Result's delivery to ResultURL. A request still
pending at a stop is answered at the next start. The control API can choose what the next
request gets: a result code, a queue time-out (the body goes to QueueTimeOutURL instead), or a
longer wait.

The initiator's SecurityCredential is checked here, once for all four: any non-empty base64 value
passes (the spec's default); five failures in a row lock the initiator (8006) until the emulator
is reset or restarted.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import InvalidInput
from ..models import QUEUE_TIMEOUT, RESULT, SETTLED, Delivery, InitiatorRequest, delivery_id
from ..security_credential import decrypt
from ..store import DuplicateId
from . import initiator_wire as iw
from .checks import WireError

if TYPE_CHECKING:
    from ..clock import TimerHandle
    from ..simulator import Simulator

log = logging.getLogger(__name__)

FAILURES_BEFORE_LOCK = 5  # wrong credentials in a row before 8006 (spec §8.2: "about 5")


@dataclass
class Outcome:
    """What a flow worked out for one request, written in the same commit as its Result's delivery."""

    code: int | str
    body: str  # the Result, exactly as it will be POSTed
    receipt: str | None = None
    counterpart: str | None = None
    amount: int | None = None
    then: list[Callable[[], None]] = field(default_factory=list)  # after the commit (events, SMS shown)


class Answerer(Protocol):
    """A flow's half of the course: the Result of a request, its writes made inside the open block."""

    def answer(self, request: InitiatorRequest, payload: dict[str, Any], forced: int | str | None) -> Outcome: ...

    def failure(self, request: InitiatorRequest, payload: dict[str, Any], code: int | str) -> Outcome: ...


@dataclass
class NextOutcome:
    """What the control API chose for the next initiator request."""

    result_code: int | str | None = None
    queue_timeout: bool = False
    delay: float | None = None


class InitiatorQueue:
    """Pending initiator requests, their timers, and the Results they end with."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._answerers: dict[str, Answerer] = {}
        self._timers: dict[str, TimerHandle] = {}
        self._next: list[NextOutcome] = []
        self._failures: dict[tuple[str, str], int] = {}  # (shortcode, initiator) -> wrong credentials in a row

    def register(self, api: str, answerer: Answerer) -> None:
        self._answerers[api] = answerer

    @property
    def style(self) -> iw.ResultStyle:
        settings = self._sim.settings
        return iw.ResultStyle(
            codes_as_strings=settings.result_codes == "strings", escape_slashes=settings.result_escape_slashes
        )

    # --- lifecycle ---------------------------------------------------------------------------
    def load(self) -> None:
        """Answer, in order, what was pending when the emulator stopped (now, or when due)."""
        self.forget()
        for request in self._sim.store.initiator_requests(pending=True, limit=1_000_000):
            self._schedule(request)

    def forget(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._next.clear()
        self._failures.clear()

    # --- the control API's choices ---------------------------------------------------------------
    def choose_next(self, outcome: NextOutcome) -> None:
        self._next.append(outcome)

    def chosen(self) -> list[NextOutcome]:
        return list(self._next)

    # --- accepting ------------------------------------------------------------------------------
    def accept(
        self,
        api: str,
        *,
        shortcode: str,
        initiator: str,
        payload: dict[str, Any],
        result_url: str,
        queue_timeout_url: str,
        originator_id: str | None,
        ack_api: iw.InitiatorApi,
        ruled: NextOutcome | None = None,
    ) -> str:
        """Store the request as pending and return the acknowledgement; raises WireError.

        ``ruled`` is how an outcome rule says it ends; the control API's choice goes first.
        """
        sim = self._sim
        if sim.merchant(shortcode) is None:
            from ..daraja.catalogue import bad_request

            raise WireError(bad_request("PartyA"), f"no organisation with shortcode {shortcode} is configured")
        if originator_id is not None and sim.store.initiator_requests(originator_id=originator_id, limit=1):
            raise WireError(
                iw.DUPLICATE_ORIGINATOR, f"OriginatorConversationID {originator_id!r} was used before (spec §8.3)"
            )
        now = sim.clock.now()
        chosen = self._next[0] if self._next else ruled
        delay = chosen.delay if chosen is not None and chosen.delay is not None else sim.settings.result_delay
        while True:
            request = InitiatorRequest(
                conversation_id=sim.ids.conversation_id(now),
                originator_id=originator_id or sim.ids.originator_conversation_id(),
                api=api,
                shortcode=shortcode,
                initiator=initiator,
                request=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                result_url=result_url,
                queue_timeout_url=queue_timeout_url,
                created_at=now,
                due_at=now + delay,
                # Kept with the request, so that a restart before its Result still answers as chosen.
                chosen=None if chosen is None else json.dumps(vars(chosen)),
            )
            try:
                sim.store.add_initiator_request(request)
                break
            except DuplicateId:
                continue  # a ConversationID taken before a restart: draw another
        if self._next:  # the control API's choice is used up (a rule's stays with its rule)
            self._next.pop(0)
        self._schedule(request)
        return iw.render_ack(ack_api, request.originator_id, request.conversation_id)

    def _schedule(self, request: InitiatorRequest) -> None:
        key = request.conversation_id
        if request.due_at <= self._sim.clock.now():  # due while the emulator was down: answer now
            asyncio.get_running_loop().call_soon(self._answer, key)
            return
        self._timers[key] = self._sim.clock.call_at(request.due_at, lambda: self._answer(key))

    # --- answering ------------------------------------------------------------------------------
    def _answer(self, conversation_id: str) -> None:
        self._timers.pop(conversation_id, None)
        request = self._sim.store.initiator_request(conversation_id)
        if request is None or request.status != "pending":
            return
        chosen = None if request.chosen is None else NextOutcome(**json.loads(request.chosen))
        try:
            self._settle(request, chosen)
        except Exception:  # one request's bug must not stop the others; it stays pending for a restart
            log.exception("could not answer %s request %s", request.api, conversation_id)

    def _settle(self, request: InitiatorRequest, chosen: NextOutcome | None) -> None:
        sim = self._sim
        answerer = self._answerers[request.api]
        payload = json.loads(request.request)
        now = sim.clock.now()
        with sim.store.atomic():
            if chosen is not None and chosen.queue_timeout:
                body = iw.render_queue_timeout_echo(payload, escape_slashes=sim.settings.result_escape_slashes)
                outcome = Outcome(iw.QUEUE_TIMEOUT_RESULT_CODE, body)
                target = Delivery(
                    delivery_id(QUEUE_TIMEOUT, request.conversation_id), request.queue_timeout_url, body, created_at=now
                )
            else:
                credential = self._credential_failure(request, payload)
                if credential is not None:
                    outcome = answerer.failure(request, payload, credential)
                else:
                    forced = chosen.result_code if chosen is not None else None
                    outcome = answerer.answer(request, payload, forced)
                target = Delivery(
                    delivery_id(RESULT, request.conversation_id), request.result_url, outcome.body, created_at=now
                )
            request.status = SETTLED
            request.result_code = str(outcome.code)
            request.receipt, request.counterpart, request.amount = outcome.receipt, outcome.counterpart, outcome.amount
            sim.store.settle_initiator_request(request)
            sim.store.save_delivery(target)
        for step in outcome.then:
            step()
        sim.bus.publish(_settled_event(request, now))
        sim.deliver_when_running(target)

    def _credential_failure(self, request: InitiatorRequest, payload: dict[str, Any]) -> int | None:
        """2001 for a credential that does not pass, 8006 once the initiator is locked; None when it passes."""
        key = (request.shortcode, request.initiator)
        if self._failures.get(key, 0) >= FAILURES_BEFORE_LOCK:
            return iw.CREDENTIAL_LOCKED
        credential = str(payload.get("SecurityCredential", ""))
        if self._credential_passes(request, credential):
            self._failures.pop(key, None)
            return None
        self._failures[key] = self._failures.get(key, 0) + 1
        return iw.INITIATOR_INVALID

    def _credential_passes(self, request: InitiatorRequest, credential: str) -> bool:
        settings = self._sim.settings
        if settings.security_credential != "check":
            # Any non-empty base64 value passes, as the emulator's default (spec §8.2).
            return iw.credential_is_base64(credential)
        # "check": the password, encrypted with the emulator's certificate, must be one of the
        # initiator's on this shortcode.
        password = decrypt(credential)
        organisation = next((m for m in settings.merchants if m.shortcode == request.shortcode), None)
        return (
            password is not None
            and organisation is not None
            and any(i.name == request.initiator and i.password == password for i in organisation.initiators)
        )


def _settled_event(request: InitiatorRequest, at: float) -> Any:
    from ..events import InitiatorSettled

    return InitiatorSettled(at=at, request=request)


def check_outcome(value: object) -> NextOutcome:
    """A control-API choice for the next initiator request, checked (InvalidInput says what is wrong)."""
    if not isinstance(value, dict):
        raise InvalidInput("the next outcome must be an object")
    unknown = sorted(set(value) - {"result_code", "queue_timeout", "delay"})
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}; allowed: delay, queue_timeout, result_code")
    code = value.get("result_code")
    # A bool is an int to Python (True == 1) and a dict or list cannot be looked up: both are refused.
    known = isinstance(code, (int, str)) and not isinstance(code, bool) and code in iw.RESULT_DESCRIPTIONS
    if code is not None and not known:
        raise InvalidInput(f"result_code must be one of {', '.join(str(c) for c in iw.RESULT_DESCRIPTIONS)}")
    timeout = value.get("queue_timeout", False)
    if not isinstance(timeout, bool):
        raise InvalidInput("queue_timeout must be true or false")
    delay = value.get("delay")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 3600):
        raise InvalidInput("delay must be a number of seconds from 0 to 3600")
    return NextOutcome(code, timeout, None if delay is None else float(delay))
