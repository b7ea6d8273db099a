"""A hanging indent for log entries: a line too long for the pane goes on under its text, not
under its time stamp.

An entry reads ``12:00:01 ✓ text…``; when the text wraps, the next line starts ``indent`` cells
in, where the text started, so the time and the mark stay a clean column down the pane.
"""

from __future__ import annotations

from textual.content import Content
from textual.css.styles import RulesMap
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual

# Narrower than this, an indent would leave too little room for the text: wrap plainly.
MIN_TEXT_WIDTH = 20


def hang(content: Content, width: int, indent: int) -> Content:
    """``content`` with every line that is wider than ``width`` wrapped, its further lines ``indent`` in."""
    if width - indent < MIN_TEXT_WIDTH:
        return content
    pad = " " * indent
    lines: list[Content] = []
    for line in content.split("\n", allow_blank=True):
        if line.cell_length <= width:
            lines.append(line)
            continue
        first = line.wrap(width)[0]
        lines.append(first)
        rest = _without_leading_spaces(line[len(first.plain) :])
        lines.extend(Content.assemble(pad, _without_leading_spaces(piece)) for piece in rest.wrap(width - indent))
    return Content("\n").join(lines)


def _without_leading_spaces(content: Content) -> Content:
    """The spaces a break fell on would push the text off the indent's column."""
    return content[len(content.plain) - len(content.plain.lstrip(" ")) :]


class HangingIndent(Visual):
    """``content`` drawn with a hanging indent of ``indent`` cells at whatever width it is given."""

    def __init__(self, content: Content, indent: int) -> None:
        self.content = content
        self.indent = indent

    def render_strips(self, width: int, height: int | None, style: Style, options: RenderOptions) -> list[Strip]:
        return hang(self.content, width, self.indent).render_strips(width, height, style, options)

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return self.content.get_optimal_width(rules, container_width)

    def get_minimal_width(self, rules: RulesMap) -> int:
        return self.content.get_minimal_width(rules)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return hang(self.content, width, self.indent).get_height(rules, width)

    def __str__(self) -> str:
        return self.content.plain
