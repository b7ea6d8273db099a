"""Strict parsing of request bodies: what Python's json accepts but a server must refuse.

``json.loads`` happily returns NaN and Infinity, strings holding lone UTF-16
surrogates (which SQLite cannot store), and recurses until the interpreter
gives up on deeply nested arrays. Each of these is a client error, so each
becomes a ``ValueError`` with plain words, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

_MAX_DEPTH = 32  # no body we accept is nested more than a few levels


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(raw: bytes | str) -> Any:
    """Parse JSON or raise ValueError saying what is wrong with it."""
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8") from None
    _check(value, 0)
    return value


def _check(value: Any, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError("the JSON is nested too deeply")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds an unpaired UTF-16 surrogate escape") from None
