"""What the engine says when it cannot do something: each message is plain words for a person.

``EngineError`` and its kinds answer one request (the control API maps them to
HTTP statuses, the TUI shows them); ``CannotStart`` ends a start-up with one
line and exit status 2.
"""

from __future__ import annotations


class EngineError(Exception):
    """A request the engine refuses; the message is plain words for a person."""


class NotFound(EngineError):
    pass


class Conflict(EngineError):
    """The request clashes with the current state (already settled, already exists, phone busy)."""


class InvalidInput(EngineError):
    pass


class PhoneBusy(Conflict):
    """A push found a live prompt on the phone and ``busy_phone`` is ``error``."""


class DuplicatePush(Conflict):
    """A push like one accepted moments ago, refused because ``duplicate_push`` is ``reject``."""


class StorageFailed(EngineError):
    """The database refused a write (disk full, I/O error, read-only): nothing of it was stored.

    Memory is left as it was before the request, so memory and disk still agree.
    """


class CannotStart(Exception):
    """The emulator cannot start; the message names the file, port or value and what to do.

    The CLI prints it as one line (``handset: <message>``) and exits 2; the
    attempt has changed nothing on disk.
    """
