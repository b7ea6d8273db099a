"""Outcome rules: who answers a prompt when nobody is at the keyboard, and callback plans.

A rule matches a push by MSISDN and/or amount and says what the customer does
(approve, wrong PIN, cancel, let it time out, or settle with a given result
code), after an optional think time, and optionally how the callback is
delivered. User rules are tried first, then the magic numbers (like the test
cards of a card sandbox), then the global mode.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .daraja.catalogue import PROMPT_CODES
from .flows.initiator_wire import RESULT_DESCRIPTIONS, wire_code

ACTIONS = ("approve", "wrong_pin", "cancel", "timeout", "human")
RANDOM_CHOICES = ("approve", "wrong_pin", "cancel", "timeout")


def parse_outcome(value: object) -> str | int:
    """An action name, or a result code of spec §4 (int, or the string code)."""
    if isinstance(value, bool):
        raise ValueError("outcome must be an action name or a result code")
    if isinstance(value, str) and value in ACTIONS:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if value in PROMPT_CODES:
        return value
    raise ValueError(
        f"outcome must be one of {', '.join(ACTIONS)} or a result code "
        f"({', '.join(str(c) for c in PROMPT_CODES)}), got {value!r}"
    )


class CallbackPlan(BaseModel):
    """How a transaction's callback is delivered.

    normal: at once. delay: ``seconds`` after settling. late: after
    ``late_callback_delay`` (long after a merchant would give up). drop: never
    (STK Query still tells the truth). duplicate: ``copies`` times.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    mode: Literal["normal", "delay", "late", "drop", "duplicate"] = "normal"
    seconds: float = Field(default=0.0, ge=0, le=86_400)
    copies: int = Field(default=2, ge=1, le=20)


class _Conditions(BaseModel):
    """What a rule matches on: the customer's number and the amount; every condition given must match."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    msisdn: str | None = Field(default=None, pattern=r"^254[17][0-9]{8}$")
    amount: int | None = Field(default=None, ge=1)
    min_amount: int | None = Field(default=None, ge=1)
    max_amount: int | None = Field(default=None, ge=1)

    def has_condition(self) -> bool:
        return not (self.msisdn is None and self.amount is None and self.min_amount is None and self.max_amount is None)

    def matches(self, msisdn: str, amount: int) -> bool:
        return (
            (self.msisdn is None or self.msisdn == msisdn)
            and (self.amount is None or self.amount == amount)
            and (self.min_amount is None or amount >= self.min_amount)
            and (self.max_amount is None or amount <= self.max_amount)
        )


class OutcomeRule(_Conditions):
    """One unattended rule for STK prompts."""

    outcome: str | int
    think_time: float | None = Field(default=None, ge=0, le=3600)
    callback: CallbackPlan | None = None

    _parse = field_validator("outcome", mode="before")(lambda cls, v: parse_outcome(v))

    @model_validator(mode="after")
    def _has_condition(self) -> OutcomeRule:
        if not self.has_condition():
            raise ValueError("a rule needs msisdn, amount, min_amount or max_amount (use mode for everything)")
        return self


def parse_result_code(value: object) -> int | str:
    """A B2C result code of spec §19, in its wire type (``"2001"`` -> ``2001``; ``"R000001"`` stays)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("result_code must be a result code")
    code = wire_code(value)
    if code not in RESULT_DESCRIPTIONS:
        raise ValueError(f"result_code must be one of {', '.join(str(c) for c in RESULT_DESCRIPTIONS)}, got {value!r}")
    return code


class PayoutRule(_Conditions):
    """How a B2C payout matching it ends: a result code, a queue time-out, a delay."""

    result_code: int | str | None = None
    queue_timeout: bool = False
    delay: float | None = Field(default=None, ge=0, le=3600)

    _parse = field_validator("result_code", mode="before")(lambda cls, v: None if v is None else parse_result_code(v))

    @model_validator(mode="after")
    def _has_condition_and_effect(self) -> PayoutRule:
        if not self.has_condition():
            raise ValueError("a payout rule needs msisdn, amount, min_amount or max_amount")
        if self.result_code is None and not self.queue_timeout and self.delay is None:
            raise ValueError("a payout rule needs result_code, queue_timeout or delay")
        return self


class Unattended(BaseModel):
    """The whole unattended configuration, changeable at runtime."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    mode: Literal["human", "approve", "cancel", "timeout", "random"] = "human"
    think_time: float = Field(default=0.0, ge=0, le=3600)
    seed: int | None = None
    magic_numbers: bool = True
    rules: list[OutcomeRule] = Field(default_factory=list)
    # B2C and Business to Pochi payouts: how they end, by recipient and amount.
    payout_rules: list[PayoutRule] = Field(default_factory=list)


# The magic numbers: 2547990 followed by the five-digit result code. The wrong-PIN number settles
# 2001 as a result code, not as a typed wrong PIN: it must never count toward the PIN lock, or the
# fourth unattended run against it would get 8006 instead.
MAGIC_NUMBERS: dict[str, str | int] = {
    "254799000000": "approve",
    "254799000001": 1,
    "254799000017": 17,
    "254799001001": 1001,
    "254799001019": 1019,
    "254799001025": 1025,
    "254799001032": "cancel",
    "254799001037": "timeout",
    "254799002001": 2001,
    "254799002028": 2028,
    "254799009999": 9999,
}


# A payout to 2547990 + a five-digit code ends with that code, when §19 has it (0 pays).
MAGIC_PREFIX = "2547990"


@dataclass(frozen=True)
class PayoutDecision:
    """How a payout ends when a rule or a magic number says so."""

    result_code: int | str | None
    queue_timeout: bool
    delay: float | None
    source: str


@dataclass(frozen=True)
class Decision:
    """What happens to a new prompt without a person: act after ``think_time``, or wait."""

    outcome: str | int  # an action or a result code; "human" means wait for a person
    think_time: float
    callback: CallbackPlan | None
    source: str  # which rule decided, for the activity log


class OutcomeRules:
    """Decides, for each new prompt, what the unattended customer does."""

    def __init__(self, config: Unattended) -> None:
        self.config = config
        self._rng = random.Random(config.seed)

    def replace(self, config: Unattended) -> None:
        self.config = config
        self._rng = random.Random(config.seed)

    def decide(self, msisdn: str, amount: int) -> Decision:
        cfg = self.config
        for index, rule in enumerate(cfg.rules):
            if rule.matches(msisdn, amount):
                think = cfg.think_time if rule.think_time is None else rule.think_time
                return Decision(rule.outcome, think, rule.callback, f"rule {index + 1}")
        if cfg.magic_numbers and msisdn in MAGIC_NUMBERS:
            return Decision(MAGIC_NUMBERS[msisdn], cfg.think_time, None, f"magic number {msisdn}")
        if cfg.mode == "random":
            return Decision(self._rng.choice(RANDOM_CHOICES), cfg.think_time, None, "random mode")
        return Decision(cfg.mode, cfg.think_time, None, f"{cfg.mode} mode")

    def decide_payout(self, msisdn: str, amount: int) -> PayoutDecision | None:
        """A payout rule's or a magic number's say on a B2C payout; None: it ends on its merits."""
        cfg = self.config
        for index, rule in enumerate(cfg.payout_rules):
            if rule.matches(msisdn, amount):
                return PayoutDecision(rule.result_code, rule.queue_timeout, rule.delay, f"payout rule {index + 1}")
        if cfg.magic_numbers and msisdn.startswith(MAGIC_PREFIX):
            code = wire_code(msisdn[len(MAGIC_PREFIX) :])
            if code in RESULT_DESCRIPTIONS:
                return PayoutDecision(code, False, None, f"magic number {msisdn}")
        return None
