"""Identifiers in Daraja's formats: CheckoutRequestID, MerchantRequestID,
receipt numbers, error requestIds and access tokens.

Randomness comes from an injectable ``random.Random`` so that tests and
screenshots can be made reproducible with a seed. Uniqueness is guaranteed by
the engine, which asks for another id while the store already holds one; the
generator helps by never handing out the same CheckoutRequestID millisecond
twice for one phone.
"""

from __future__ import annotations

import random
import string

from .clock import eat

_ALNUM_UPPER = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits
_DAY_CHARS = "123456789ABCDEFGHIJKLMNOPQRSTUV"  # 1..9 then A=10 .. V=31
_COUNTER_MIN, _COUNTER_MAX = 1000, 9_999_999


class IdGenerator:
    """Makes ids; pass ``seed`` for a reproducible sequence."""

    def __init__(self, seed: int | None = None) -> None:
        # Ids need to be unlikely to repeat, not secret: a Mersenne Twister seeded from the OS
        # costs no system call per id. Access tokens, which stand for credentials, draw from the OS.
        self._rng = random.Random(seed)
        self._token_rng: random.Random = self._rng if seed is not None else random.SystemRandom()
        self._last_ms: dict[str, int] = {}
        self._counter = self._rng.randint(_COUNTER_MIN, 99_999)
        self._second = -1  # the EAT second _stamp holds, as DDMMYYYYHHmmss
        self._stamp = ""

    def checkout_request_id(self, msisdn: str, now: float) -> str:
        """``ws_CO_`` + EAT DDMMYYYYHHmmss + 3-digit ms + the 9 national digits.

        Two pushes to one phone within the same millisecond get consecutive
        milliseconds, so the format holds and ids never collide.
        """
        ms = round(now * 1000)
        ms = max(ms, self._last_ms.get(msisdn, -1) + 1)
        self._last_ms[msisdn] = ms
        second = ms // 1000
        if second != self._second:  # formatting a date is the slow part: once per second
            self._second, self._stamp = second, f"{eat(second):%d%m%Y%H%M%S}"
        return f"ws_CO_{self._stamp}{ms % 1000:03d}{msisdn[-9:]}"

    def merchant_request_id(self) -> str:
        """4-4-4-12 lowercase hex followed by a 4-7 digit counter."""
        self._counter = self._counter + 1 if self._counter < _COUNTER_MAX else _COUNTER_MIN
        return f"{self._hex_groups()}{self._counter}"

    def request_id(self) -> str:
        """The ``requestId`` of an error envelope (same shape as MerchantRequestID)."""
        return f"{self._hex_groups()}{self._rng.randint(_COUNTER_MIN, _COUNTER_MAX)}"

    def receipt(self, now: float) -> str:
        """An M-PESA receipt: year, month and day letters, then 7 random characters."""
        moment = eat(now)
        year = chr(ord("A") + (moment.year - 2006) % 26)
        month = chr(ord("A") + moment.month - 1)
        day = _DAY_CHARS[moment.day - 1]
        tail = "".join(self._rng.choice(_ALNUM_UPPER) for _ in range(7))
        return f"{year}{month}{day}{tail}"

    def access_token(self) -> str:
        """28 alphanumerics, like Daraja's OAuth tokens."""
        return "".join(self._token_rng.choice(_ALNUM) for _ in range(28))

    def _hex_groups(self) -> str:
        value = f"{self._rng.getrandbits(96):024x}"
        return f"{value[0:4]}-{value[4:8]}-{value[8:12]}-{value[12:24]}"
