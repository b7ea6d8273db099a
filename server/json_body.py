"""Strict parsing of request bodies: what a lenient parser accepts but a server must refuse.

Python's ``json.loads`` returns NaN and Infinity (also for ``1e999``), strings
holding lone UTF-16 surrogates (which SQLite cannot store), and recurses until
the interpreter gives up on deeply nested arrays. orjson refuses all of these
itself, and is several times faster on the STK Push path; we add only a
tighter nesting bound. Each refusal is a ``ValueError`` with plain words, so
it becomes a client error, never a 500.
"""

from __future__ import annotations

from typing import Any

import orjson

_MAX_DEPTH = 32  # no body we accept is nested more than a few levels


def loads(raw: bytes | str) -> Any:
    """Parse JSON or raise ValueError saying what is wrong with it."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(_plain(str(exc))) from None
    # A body with at most _MAX_DEPTH brackets cannot nest deeper: skip the walk (the usual case).
    data = raw.encode() if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") > _MAX_DEPTH:
        _check_depth(value, 0)
    return value


def _plain(message: str) -> str:
    if "depth limit" in message:
        return "the JSON is nested too deeply"
    if "not valid UTF-8" in message:
        return "the body is not UTF-8"
    if "surrogate" in message:
        return "a string holds an unpaired UTF-16 surrogate escape"
    return message


def _check_depth(value: Any, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError("the JSON is nested too deeply")
    if isinstance(value, dict):
        for item in value.values():
            _check_depth(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_depth(item, depth + 1)
