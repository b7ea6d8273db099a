"""The exact STK callback body (spec §3): key order, JSON types, ``"Value":1.00``.

Sending it is server.delivery's job, as for every message to a merchant.
"""

from __future__ import annotations

import json
from typing import Any

from .clock import wire_timestamp
from .models import Transaction


class _TwoDecimals:
    """A number that must be written with two decimals (``1.00``), as Daraja writes Amount."""

    def __init__(self, value: int) -> None:
        self.text = f"{value:.2f}"


def _dumps(value: Any) -> str:
    # json cannot write 1.00; emit a placeholder string and swap the raw number in.
    raw: list[str] = []

    def default(obj: Any) -> str:
        if isinstance(obj, _TwoDecimals):
            raw.append(obj.text)
            return f"\x00{len(raw) - 1}\x00"
        raise TypeError(f"cannot serialise {type(obj).__name__}")

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=default)
    for index, number in enumerate(raw):
        text = text.replace(f'"\\u0000{index}\\u0000"', number)
    return text


def render_callback(txn: Transaction) -> str:
    """The body Safaricom POSTs to CallBackURL for a settled transaction (spec §3)."""
    stk: dict[str, Any] = {
        "MerchantRequestID": txn.merchant_request_id,
        "CheckoutRequestID": txn.checkout_request_id,
        "ResultCode": txn.wire_result_code,
        "ResultDesc": txn.result_desc,
    }
    if txn.result_code == "0":
        assert txn.receipt is not None and txn.settled_at is not None
        stk["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": _TwoDecimals(txn.amount)},
                {"Name": "MpesaReceiptNumber", "Value": txn.receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": int(wire_timestamp(txn.settled_at))},
                {"Name": "PhoneNumber", "Value": int(txn.msisdn)},
            ]
        }
    return _dumps({"Body": {"stkCallback": stk}})
