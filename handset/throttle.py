"""Coalesce a burst of changes into few screen updates.

Every update of the activity log or of a tab label costs a frame in which
Textual lays out and paints much of the screen again (tens of milliseconds
with fifty phones). A flood of pushes asks for hundreds of them a second, and
each one delays the keys the user types. A ``Throttle`` runs its action at the
next refresh when things are quiet, and at most once every ``interval``
seconds while changes keep coming.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.widget import Widget


class Throttle:
    """Runs ``action`` on ``widget``'s loop after ``poke()``, at most once per ``interval`` seconds."""

    def __init__(self, widget: Widget | App[Any], action: Callable[[], None], interval: float) -> None:
        self._widget = widget
        self._action = action
        self.interval = interval
        self._scheduled = False
        self._ran_at = float("-inf")

    def poke(self) -> None:
        """Ask for the action; many pokes before it runs make one run."""
        if self._scheduled:
            return
        self._scheduled = True
        wait = self._ran_at + self.interval - time.monotonic()
        if wait > 0:
            self._widget.set_timer(wait, self.run_now)
        else:
            self._widget.call_after_refresh(self.run_now)

    def run_now(self) -> None:
        """Run the action now (a pending scheduled run then finds nothing to do twice)."""
        self._scheduled = False
        self._ran_at = time.monotonic()
        self._action()
