"""Summarise py-spy's raw (collapsed) stacks: the functions that take the most samples.

``python -m benchmarks.flame_summary FILE [--top N] [--match TEXT]``: prints the
top functions by inclusive and by self share of all samples. Line numbers are
dropped so one function is one row.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def _name(frame: str) -> str:
    frame = _LINE.sub(")", frame.strip())
    # Shorten site-packages paths to the package.
    return re.sub(r"\(.*?site-packages/", "(", frame).replace("/root/.pyenv/versions/3.11.7/lib/python3.11/", "")


def summarise(
    path: Path, top: int = 25, match: str | None = None
) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_name(f) for f in stack.split(";") if f.strip()]
        # py-spy's raw format may start with the process/thread name; skip it.
        frames = [f for f in frames if "(" in f]
        for name in set(frames):
            inclusive[name] += n
        if frames:
            own[frames[-1]] += n
    keep = (lambda name: match in name) if match else (lambda name: True)
    inc = [(k, v * 100 / total) for k, v in inclusive.most_common() if keep(k)][:top]
    slf = [(k, v * 100 / total) for k, v in own.most_common() if keep(k)][:top]
    return total, inc, slf


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", help="only functions whose name or file contains this")
    args = parser.parse_args()
    total, inc, slf = summarise(args.file, args.top, args.match)
    print(f"{total} samples")
    print("\ninclusive %")
    for name, share in inc:
        print(f"{share:6.1f}  {name}")
    print("\nself %")
    for name, share in slf:
        print(f"{share:6.1f}  {name}")


if __name__ == "__main__":
    main()
