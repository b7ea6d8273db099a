"""server.heap.settle: start-up's survivors frozen, its garbage freed first, young collections rarer."""

from __future__ import annotations

import json
import subprocess
import sys

from server.heap import YOUNG_THRESHOLD

# In a fresh interpreter: settle() changes the collector for the whole process.
SCRIPT = """
import gc, json, weakref
gc.disable()  # nothing collects before settle() does
from server import heap

class Node:
    pass

garbage = Node(); garbage.me = garbage  # a cycle only the collector can free
gone = weakref.ref(garbage)
del garbage
kept = [Node() for _ in range(1000)]
before = gc.get_freeze_count()
heap.settle()
print(json.dumps({"threshold": gc.get_threshold()[0], "frozen": gc.get_freeze_count() - before,
                  "garbage_freed": gone() is None}))
"""


def test_settle_freezes_survivors_and_frees_garbage_first() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60)
    result = json.loads(out.stdout)
    assert result["threshold"] == YOUNG_THRESHOLD
    assert result["frozen"] >= 1000  # the kept nodes, with the rest of start-up
    assert result["garbage_freed"], "start-up's garbage was frozen instead of freed"


RELEASE = """
import gc, json
from server import heap
default = gc.get_threshold()
heap.settle()
frozen = gc.get_freeze_count()
heap.release()
print(json.dumps({"frozen": frozen, "after": gc.get_freeze_count(), "restored": gc.get_threshold() == default}))
"""


def test_release_unfreezes_and_restores_the_thresholds() -> None:
    out = subprocess.run([sys.executable, "-c", RELEASE], capture_output=True, text=True, check=True, timeout=60)
    result = json.loads(out.stdout)
    assert result["frozen"] > 0 and result["after"] == 0 and result["restored"]
