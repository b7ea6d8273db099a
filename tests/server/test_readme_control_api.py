"""The README's control API table against the routes the server really serves and the events it emits."""

from __future__ import annotations

import re
from pathlib import Path

from server import events
from server.http_app import build_app
from server.runner import Emulator

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _shape(path: str) -> str:
    """A path with its parameters blanked: the README names them for people, the router for code."""
    return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])


def _table_rows() -> set[tuple[str, str]]:
    """(METHOD, path shape) for every row of the README's control API table."""
    rows = set()
    for line in README.splitlines():
        cell = re.match(r"\| `((?:GET|POST|PUT|PATCH|DELETE)(?:`/`(?:GET|POST|PUT|PATCH|DELETE))*) (/[^` ]+)", line)
        if cell:
            for method in cell.group(1).split("`/`"):
                rows.add((method, _shape(cell.group(2))))
    return rows


def test_every_control_route_is_in_the_readme_table(emulator: Emulator) -> None:
    served = {
        (route.method, _shape(resource.canonical))
        for resource in build_app(emulator.simulator).router.resources()
        for route in resource
        if route.method != "HEAD" and resource.canonical.startswith(("/simulator", "/openapi"))
    }
    rows = _table_rows()
    assert not sorted(served - rows), f"served but not in the README: {sorted(served - rows)}"
    assert not sorted(rows - served), f"in the README but not served: {sorted(rows - served)}"


def test_every_event_type_is_in_the_readme() -> None:
    row = next(line for line in README.splitlines() if line.startswith("| `GET /simulator/events`"))
    kinds = {cls.type for cls in vars(events).values() if isinstance(cls, type) and issubclass(cls, events.Event)}
    kinds.discard(events.Event.type)
    missing = sorted(kind for kind in kinds if f"`{kind}`" not in row)
    assert not missing, f"events the README does not list: {missing}"
