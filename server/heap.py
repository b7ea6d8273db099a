"""Garbage-collector settings for a process that runs the emulator for a long time.

What start-up builds (modules, settings, the app's widgets) lives until exit,
yet every full collection walks it again: in the middle of a flood that was a
~150 ms stop of the TUI. Freezing it takes it out of the collector's view.
Python's default first threshold (700 allocations) then collects so often under
load that it costs ~40 us of each STK Push (measured at c=64); a larger one
keeps the same cycles collected, in fewer, bigger steps.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000

_before: tuple[int, int, int] | None = None  # the thresholds settle() replaced


def settle() -> None:
    """Call once start-up is done: collect its garbage, freeze what survives, collect less often."""
    global _before
    gc.collect()  # first, or start-up's garbage would be frozen with it and never freed
    gc.freeze()
    if _before is None:
        _before = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, _before[1], _before[2])


def release() -> None:
    """Undo settle(): what was frozen can be collected again (an app that ends before its process)."""
    global _before
    gc.unfreeze()
    if _before is not None:
        gc.set_threshold(*_before)
        _before = None
