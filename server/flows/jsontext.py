"""JSON text written the way Daraja writes it, for bodies whose exact bytes matter.

``json.dumps`` cannot write a money value as ``584459.00`` or ``-2420.00`` (a float loses the
trailing zeros, and a float is the wrong thing to hold money in anyway), and it never writes
``\\/``. This writer takes a tree of dicts, lists, strings, ints and Decimals and writes it
compactly, keys in insertion order:

- an ``int`` is an integer (``10``, ``20260825140947``);
- a ``Decimal`` is money in KES: always two decimals (``1.00``, ``-2420.00``);
- a ``float`` is refused, so that no number is ever written through float formatting.

Money is a ``Decimal`` everywhere in the wire layer, never an ``int``: the ledger counts integer
cents, and an int that might be cents or shillings is how a balance goes out 100 times too big.
``from_cents`` makes the Decimal from the ledger's cents.

With ``escape_slashes`` every ``/`` becomes ``\\/``, as the PHP-stored captures of Result bodies
show (spec §8.4). A ``/`` can only occur inside a JSON string, so escaping the finished text is
the same as escaping each string.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

ZERO = Decimal("0.00")
_CENT = Decimal("0.01")


def from_cents(cents: int) -> Decimal:
    """The ledger's integer cents as KES: ``58445900`` -> ``Decimal("584459.00")``."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError(f"cents must be an int, got {type(cents).__name__}")
    return Decimal(cents).scaleb(-2)


def money(amount: Decimal) -> Decimal:
    """``amount``, checked to be a finite Decimal: what a money parameter goes through before it is written."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be a Decimal (see from_cents), got {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(f"money must be a finite amount, got {amount}")
    return amount


def money_text(amount: Decimal) -> str:
    """``amount`` with exactly two decimals: ``Decimal("1")`` -> ``1.00``, ``Decimal("-2420")`` -> ``-2420.00``."""
    value = money(amount)
    if value == 0:
        return "0.00"  # never "-0.00"
    return format(value.quantize(_CENT), "f")


def dumps(value: Any, *, escape_slashes: bool = False) -> str:
    """``value`` as compact JSON text, with Daraja's number forms (see the module docstring)."""
    parts: list[str] = []
    _write(value, parts)
    text = "".join(parts)
    return text.replace("/", "\\/") if escape_slashes else text


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif value is None:
        out.append("null")
    elif isinstance(value, bool):  # before int: bool is an int
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        out.append(money_text(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {type(key).__name__}")
            if index:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        # float included: money is a Decimal, counts are ints.
        raise TypeError(f"cannot write {type(value).__name__} as Daraja JSON")
