"""How the merchant answered each copy of one delivery, and whether the answers agree.

When the same bytes go out more than once (a duplicate plan, a retry after a timeout, a
resend), an idempotent handler answers every copy alike. Different status codes, or
bodies that say different things, are the usual sign of a handler that treated the
repeat as a new payment. Edited and forged sends carry other bytes, so they are not
copies and are left out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .models import CallbackAttempt

NOT_COPIES = ("edited", "forged")  # attempt kinds whose bytes differ from the delivery's own


@dataclass(frozen=True)
class AnswerComparison:
    """The merchant's answers to the copies of one body, side by side."""

    copies: list[CallbackAttempt]  # the attempts that reached the merchant (an HTTP answer), in order
    differ: bool
    differences: list[str]  # plain words, one per copy that answered unlike the first
    odd_ones: list[int]  # the attempt numbers of those copies

    def to_json(self) -> dict[str, Any]:
        return {
            "copies": [
                {"attempt": a.attempt, "kind": a.kind, "status": a.status, "response_body": a.response_body}
                for a in self.copies
            ],
            "differ": self.differ,
            "differences": self.differences,
        }


def _meaning(body: str | None) -> Any:
    """A body as JSON when it is JSON (so spacing and key order do not count), else its text."""
    if body is None:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.strip()


def compare_answers(attempts: Sequence[CallbackAttempt]) -> AnswerComparison:
    """Compare the answers to the copies of the delivery's own body (the first attempt's)."""
    if not attempts:
        return AnswerComparison([], False, [], [])
    own = next((a.request_body for a in attempts if a.kind not in NOT_COPIES), None)
    copies = [a for a in attempts if a.kind not in NOT_COPIES and a.request_body == own and a.status is not None]
    differences: list[str] = []
    odd_ones: list[int] = []
    if copies:
        first = copies[0]
        for other in copies[1:]:
            if other.status != first.status:
                what = f"HTTP {other.status}", f"HTTP {first.status}"
            elif _meaning(other.response_body) != _meaning(first.response_body):
                what = _short(other.response_body), _short(first.response_body)
            else:
                continue
            differences.append(f"copy {other.attempt} ({other.kind}) got {what[0]}, copy {first.attempt} got {what[1]}")
            odd_ones.append(other.attempt)
    return AnswerComparison(copies, bool(differences), differences, odd_ones)


def _short(body: str | None, limit: int = 80) -> str:
    text = (body or "").strip() or "an empty body"
    return text if len(text) <= limit else text[: limit - 1] + "…"
