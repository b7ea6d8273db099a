"""Indent and compact JSON text without re-encoding it.

``json.dumps(json.loads(...))`` would rewrite Daraja's ``1.00`` as ``1.0`` and
escape characters differently, so a callback shown for editing would no
longer be the bytes that were sent. These helpers only move whitespace: every
string and number keeps its exact spelling.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

INDENT = "  "


def _tokens(text: str) -> Iterator[str]:
    """Yield the tokens of JSON text: strings whole, structural marks one by one, whitespace dropped."""
    i, end = 0, len(text)
    while i < end:
        char = text[i]
        if char in " \t\r\n":
            i += 1
        elif char == '"':
            j = i + 1
            while j < end and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            yield text[i : j + 1]
            i = j + 1
        elif char in "{}[]:,":
            yield char
            i += 1
        else:
            j = i
            while j < end and text[j] not in ' \t\r\n{}[]:,"':
                j += 1
            yield text[i:j]
            i = j


def compact_json(text: str) -> str:
    """``text`` with the whitespace between tokens removed; raises ValueError if it is not JSON."""
    json.loads(text)
    return "".join(_tokens(text))


def pretty_json(text: str) -> str:
    """``text`` indented two spaces a level; raises ValueError if it is not JSON."""
    json.loads(text)
    out: list[str] = []
    depth = 0
    tokens = list(_tokens(text))
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token in "{[" and following in "}]":
            out.append(token)  # an empty object or array stays on one line
        elif token in "{[":
            depth += 1
            out.append(token + "\n" + INDENT * depth)
        elif token in "}]":
            if out and out[-1] in "{[":
                out.append(token)
            else:
                depth -= 1
                out.append("\n" + INDENT * depth + token)
        elif token == ",":
            out.append(",\n" + INDENT * depth)
        elif token == ":":
            out.append(": ")
        else:
            out.append(token)
    return "".join(out)
