"""The phones' tabs across the whole width, the phone shown beside the activity log.

A ``TabbedContent`` puts its tab strip above its panes, so with the log beside
the panes the strip would only be as wide as one phone. Here the log is a
third child of the ``TabbedContent``, laid out beside the panes, and the strip
(docked on top) spans both: it takes the width it needs, up to the terminal's.
Tabs that still do not fit are announced at the strip's edges, with the number
of prompts waiting among them.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events, on
from textual.app import ComposeResult
from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Static, TabbedContent
from textual.widgets._tabbed_content import ContentTab, ContentTabs

TAB_NAME_LIMIT = 20  # characters of an owner's name on a tab; the rest is elided


def short_name(name: str, others: Iterable[str], limit: int = TAB_NAME_LIMIT) -> str:
    """``name`` in at most ``limit`` characters, keeping the part that tells it from ``others``.

    Cutting the end would turn "Customer Number 12 Nairobi" and "Customer Number 13 Nairobi"
    into the same label; here the first word that differs stays, after as much of the start
    as fits: "Customer…12 Nairobi".
    """
    if len(name) <= limit:
        return name
    shared = max((_common_prefix(name, other) for other in others if other != name), default=0)
    if shared < limit - 1:
        return name[: limit - 1].rstrip() + "…"
    start = name.rfind(" ", 0, shared) + 1  # the word in which the names part ways
    tail = name[start:]
    head = max(3, limit - 1 - len(tail))
    if head + 1 + len(tail) > limit:
        tail = tail[: limit - head - 2].rstrip() + "…"
    return name[:head].rstrip() + "…" + tail


def _common_prefix(a: str, b: str) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):  # up to the shorter one
        if x != y:
            break
        count += 1
    return count


class HiddenTabs(Static):
    """The mark at one edge of the strip: tabs are hidden that way, and how many wait with a prompt."""

    DEFAULT_CSS = """
    HiddenTabs {
        layer: overlay;
        width: auto;
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
        display: none;
    }
    HiddenTabs.-prompts { color: $text; background: $success 30%; text-style: bold; }
    HiddenTabs#tabs-before { dock: left; }
    HiddenTabs#tabs-after { dock: right; }
    """

    class Clicked(Message):
        """The person clicked the mark: show the nearest hidden phone with a prompt that way."""

        def __init__(self, direction: int) -> None:
            super().__init__()
            self.direction = direction

    def __init__(self, direction: int, *, id: str) -> None:
        super().__init__(id=id)
        self.direction = direction
        self.count = 0  # prompts waiting on the tabs hidden this way
        self.hidden = 0  # tabs hidden this way

    def show(self, hidden: int, prompts: int) -> None:
        """Say how many tabs are hidden this way and how many of them wait with a prompt."""
        if (hidden, prompts) == (self.hidden, self.count):
            return
        self.hidden, self.count = hidden, prompts
        self.display = hidden > 0
        self.set_class(prompts > 0, "-prompts")
        arrow = "◂" if self.direction < 0 else "▸"
        waiting = f" {prompts} ●" if prompts else f" {hidden}"
        self.update(Content(arrow + waiting if self.direction < 0 else waiting.lstrip() + " " + arrow))
        self.tooltip = f"{hidden} more phone{'s' if hidden != 1 else ''} this way" + (
            f", {prompts} with a prompt waiting (press n)" if prompts else ""
        )

    @property
    def width_needed(self) -> int:
        """Columns the mark covers at its edge of the strip (0 when nothing is hidden that way)."""
        return Content(str(self.content)).cell_length + 2 if self.hidden else 0

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Clicked(self.direction))


class PhonesAndLog(TabbedContent):
    """One tab per phone over the whole width; below it, the phone shown and ``side`` (the log)."""

    DEFAULT_CSS = """
    PhonesAndLog { layout: horizontal; layers: base overlay; }
    PhonesAndLog > ContentSwitcher { height: 1fr; }
    """

    def __init__(self, side: Widget, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._side = side
        self._waiting: set[str] = set()  # pane ids whose phone has a prompt waiting

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield self._side
        yield HiddenTabs(-1, id="tabs-before")
        yield HiddenTabs(+1, id="tabs-after")

    def on_mount(self) -> None:
        strip = self.query_one("#tabs-scroll")

        # The strip scrolls to the active tab, and its content grows with tabs and labels.
        def changed() -> None:
            self.call_after_refresh(self.show_hidden_tabs)

        for attribute in ("scroll_x", "virtual_size"):
            self.watch(strip, attribute, changed, init=False)

    @property
    def switcher(self) -> ContentSwitcher:
        return self.get_child_by_type(ContentSwitcher)

    def mark_waiting(self, pane_ids: set[str]) -> None:
        """Tell the strip which phones have a prompt waiting (their hidden tabs are counted)."""
        if pane_ids != self._waiting:
            self._waiting = set(pane_ids)
            self.show_hidden_tabs()

    def on_resize(self) -> None:
        self.call_after_refresh(self.show_hidden_tabs)

    @on(TabbedContent.TabActivated)
    def _tab_moved(self) -> None:
        self.call_after_refresh(self.show_hidden_tabs)

    def hidden_tabs(self, covered_left: int = 0, covered_right: int = 0) -> tuple[list[str], list[str]]:
        """The pane ids of the tabs cut off at the left and at the right of the strip, the
        columns under the edge marks (``covered_left``, ``covered_right``) counting as cut off."""
        try:
            strip = self.query_one("#tabs-scroll")
            tabs = list(self.get_child_by_type(ContentTabs).query(ContentTab))
        except NoMatches:
            return [], []
        left = strip.scroll_x + covered_left
        right = strip.scroll_x + strip.size.width - covered_right
        before, after = [], []
        for tab in tabs:
            if not tab.display:
                continue
            region = tab.virtual_region
            pane = ContentTab.sans_prefix(tab.id or "")
            if region.x < left:
                before.append(pane)
            elif region.right > right:
                after.append(pane)
        return before, after

    def show_hidden_tabs(self) -> None:
        """Update the marks at both edges of the strip."""
        if not self.is_attached:
            return
        marks = (self.query_one("#tabs-before", HiddenTabs), self.query_one("#tabs-after", HiddenTabs))
        before, after = self.hidden_tabs()
        # A mark covers the tabs under it: count those too (a second pass, with the marks' widths).
        for _ in range(2):
            for mark, panes in zip(marks, (before, after), strict=True):
                mark.show(len(panes), sum(pane in self._waiting for pane in panes))
            before, after = self.hidden_tabs(*(mark.width_needed for mark in marks))
        for mark, panes in zip(marks, (before, after), strict=True):
            mark.show(len(panes), sum(pane in self._waiting for pane in panes))
