"""The activity log's hanging indent: wrapped text goes on under the text, not under the time."""

from __future__ import annotations

from textual.content import Content

from handset.widgets.hanging import MIN_TEXT_WIDTH, hang

ENTRY = Content.assemble(("12:00:01", "dim"), " ✓ ", ("Wanjiku paid KES 1,250 to Mama Mboga " * 3, "bold"))


def test_a_long_line_wraps_under_its_text() -> None:
    lines = hang(ENTRY, 40, 11).plain.split("\n")
    assert lines[0].startswith("12:00:01 ✓ ") and len(lines) > 2
    assert all(line.startswith(" " * 11) and line[11] != " " for line in lines[1:]), lines
    assert all(len(line) <= 40 for line in lines)
    # Nothing lost or doubled: the words, in order, are the entry's words.
    assert " ".join(" ".join(lines).split()) == " ".join(ENTRY.plain.split())


def test_the_styles_go_with_the_words() -> None:
    wrapped = hang(ENTRY, 40, 11)
    bold = {wrapped.plain[span.start : span.end].strip() for span in wrapped.spans if span.style == "bold"}
    assert "12:00:01" not in " ".join(bold) and any("Mama Mboga" in text for text in bold)


def test_lines_that_fit_and_second_lines_are_left_alone() -> None:
    entry = Content.assemble("12:00:01 ✓ short", "\n", " " * 11, "a second line that is written indented")
    assert hang(entry, 80, 11).plain == entry.plain
    long_second = Content.assemble("12:00:01 ✓ short", "\n", " " * 11, "why " * 30)
    lines = hang(long_second, 50, 11).plain.split("\n")
    assert lines[0] == "12:00:01 ✓ short" and all(line.startswith(" " * 11) for line in lines[1:])


def test_too_narrow_for_an_indent_wraps_plainly() -> None:
    assert hang(ENTRY, 11 + MIN_TEXT_WIDTH - 1, 11) is ENTRY


def test_a_run_of_spaces_at_a_break_does_not_shift_the_text() -> None:
    entry = Content.assemble("18:50:00 ✓ 200 GET ", "/oauth/v1/generate", "  0 ms")
    lines = hang(entry, 32, 11).plain.split("\n")
    assert all(line[11] != " " for line in lines[1:]), lines
