"""Helpers for the wire-layer tests (tests/server/test_wire_*.py): spec samples as bytes, rejections as tuples."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from server.clock import EAT
from server.flows.checks import WireError


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0) -> float:
    """Epoch seconds of a Nairobi (EAT) wall-clock moment."""
    return datetime(year, month, day, hour, minute, second, tzinfo=EAT).timestamp()


def compact(pretty: str) -> str:
    """A spec sample with the whitespace between tokens removed and every token kept as written.

    Unlike a json.loads/json.dumps round trip this keeps number text (``1.00`` stays ``1.00``),
    string escapes (``\\/``) and key order, so the result is the sample's exact compact bytes.
    """
    out: list[str] = []
    in_string = escaped = False
    for char in pretty:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif not char.isspace():
            out.append(char)
    return "".join(out)


def rejection(parse: Callable[..., Any], payload: Any, **options: Any) -> tuple[int, str, str]:
    """(HTTP status, errorCode, errorMessage) that ``parse`` answers ``payload`` with; fails if it accepts it."""
    with pytest.raises(WireError) as caught:
        parse(payload, **options)
    error = caught.value.error
    assert caught.value.reason, "every rejection says why in plain words"
    return error.status, error.code, error.message


def invalid(field: str) -> tuple[int, str, str]:
    """Daraja's usual field error."""
    return 400, "400.002.02", f"Bad Request - Invalid {field}"


def keys(text: str) -> list[str]:
    """The top-level keys of a JSON object text, in order."""
    return list(json.loads(text))


class Missing:
    """Stands for a field left out of the body."""

    def __repr__(self) -> str:  # test ids must be the same in every xdist worker: no address in them
        return "missing"


MISSING = Missing()


def with_field(body: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``field`` set to ``value``, or removed when ``value`` is MISSING."""
    changed = dict(body)
    if value is MISSING:
        changed.pop(field, None)
    else:
        changed[field] = value
    return changed
