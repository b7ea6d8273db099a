"""Identifiers in Daraja's formats: CheckoutRequestID, MerchantRequestID,
receipt numbers, error requestIds and access tokens; for the initiator APIs and
C2B, ConversationID and OriginatorConversationID (daraja-more.md §8.3, §9, §11).

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
_BASE36 = string.digits + string.ascii_lowercase
_CONVERSATION_SERIAL = 36**6  # the serial part of a ConversationID's tail: 6 base-36 characters


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
        # The initiator and C2B ids draw from their own generator, derived from the same seed, so
        # that adding them left every existing id sequence (and the screenshots) as it was.
        flows = random.Random(f"flows:{seed}") if seed is not None else random.Random()
        self._flows_rng = flows
        self._node_prefixes = (self._hex_groups(flows), self._hex_groups(flows))
        self._originator_counter = flows.randint(10_000, 999_999)
        self._legacy_counter = flows.randint(1_000_000, 4_999_999)
        self._conversation_serial = flows.randrange(_CONVERSATION_SERIAL)

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

    def conversation_id(self, now: float) -> str:
        """``AG_`` + EAT ``YYYYMMDD`` + ``_0100`` + 16 of ``[0-9a-z]`` (the 2026 form, spec §8.3).

        The tail opens with a 6-character base-36 serial, so no two ids of one generator are
        equal until 36**6 (2.2 billion) of them were made; the other 10 characters are random.
        """
        self._conversation_serial = (self._conversation_serial + 1) % _CONVERSATION_SERIAL
        serial, chars = self._conversation_serial, []
        for _ in range(6):
            serial, digit = divmod(serial, 36)
            chars.append(_BASE36[digit])
        tail = "".join(reversed(chars)) + "".join(self._flows_rng.choice(_BASE36) for _ in range(10))
        return f"AG_{eat(now):%Y%m%d}_0100{tail}"

    def originator_conversation_id(self) -> str:
        """The OriginatorConversationID Daraja makes when the merchant sends none (spec §8.3).

        The MerchantRequestID family: 4-4-4-12 hex, then a rising decimal counter. As on Daraja,
        the hex prefix is one of two fixed per gateway node, and the two alternate. The counter
        makes the ids unique until it wraps after about ten million of them.
        """
        self._originator_counter = (
            self._originator_counter + 1 if self._originator_counter < _COUNTER_MAX else _COUNTER_MIN
        )
        prefix = self._node_prefixes[self._originator_counter % 2]
        return f"{prefix}{self._originator_counter}"

    def legacy_originator_id(self) -> str:
        """The older OriginatorConversationID form, ``7619-37765134-1`` (2019 traffic, the C2B v1 docs page)."""
        self._legacy_counter = self._legacy_counter + 1 if self._legacy_counter < 99_999_999 else 1_000_000
        return f"{self._flows_rng.randint(1000, 99_999)}-{self._legacy_counter}-1"

    def register_originator_id(self, version: int) -> str:
        """The ``OriginatorCoversationID`` of a C2B register-URL ack (spec §9).

        Each docs page prints its own form: v1 the older ``7619-37765134-1``, v2 the current
        ``6e86-45dd-91ac-fd5d4178ab523408729``.
        """
        return self.legacy_originator_id() if version == 1 else self.originator_conversation_id()

    def _hex_groups(self, rng: random.Random | None = None) -> str:
        value = f"{(rng or self._rng).getrandbits(96):024x}"
        return f"{value[0:4]}-{value[4:8]}-{value[8:12]}-{value[12:24]}"


def receipt_prefix(now: float) -> str:
    """The 3 date characters every receipt opens with: year, month and day letters (daraja.md §6).

    ``receipt_prefix`` of 2026-07-12 is ``UGC``. Results that carry no transaction send this
    followed by seven zeros (daraja-more.md §8.4).
    """
    moment = eat(now)
    return f"{chr(ord('A') + (moment.year - 2006) % 26)}{chr(ord('A') + moment.month - 1)}{_DAY_CHARS[moment.day - 1]}"
