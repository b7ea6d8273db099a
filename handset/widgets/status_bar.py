"""The strip along the top of a phone: carrier, signal, clock, battery."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from server.clock import Clock

from ..texts import clock_face

CARRIER = "Safaricom"
FULL_SIGNAL = "▂▄▆█"
NO_SIGNAL = "▂___"
BATTERY = "▮▮▮▯ 78%"


class StatusBar(Widget):
    """Carrier and signal on the left, the injected clock's time in the middle."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """

    online: reactive[bool] = reactive(True)
    time_text: reactive[str] = reactive("")

    def __init__(self, clock: Clock, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._clock = clock

    def on_mount(self) -> None:
        self.tick()
        # Once a second is plenty for a minute display; the reactive repaints only on change.
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        """Read the clock (the engine's, so frozen clocks freeze the phone too)."""
        self.time_text = clock_face(self._clock.now())

    def render(self) -> Content:
        if self.online:
            left = Content.assemble((CARRIER, "bold"), " 4G ", (FULL_SIGNAL, "$success"))
        else:
            left = Content.assemble(("No service", "$warning"), " ", (NO_SIGNAL, "$text-disabled"))
        middle = Content.styled(self.time_text, "bold $text")
        right = Content(BATTERY)
        width = self.content_size.width
        # Centre the clock on the bar, not in the space left between the sides.
        gap_left = max(1, (width - middle.cell_length) // 2 - left.cell_length)
        used = left.cell_length + gap_left + middle.cell_length
        gap_right = max(1, width - used - right.cell_length)
        return Content.assemble(left, " " * gap_left, middle, " " * gap_right, right)
