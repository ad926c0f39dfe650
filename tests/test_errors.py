"""Problems rendered for a human: the headline, and the source line with a caret."""

from __future__ import annotations

from pathlib import Path

from pytest_meshgate._errors import Problem


def test_a_short_line_is_shown_whole_with_its_caret(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1\nkey: {url: bad}\n", encoding="utf-8")
    text = Problem(path, 2, 13, "key.url", "no").render()
    assert text.splitlines()[1:] == ["  |", "2 | key: {url: bad}", "  |             ^"]


def test_a_megabyte_line_is_shown_around_its_caret(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("url: " + "a" * 500 + "X" + "b" * 1_000_000 + "\n", encoding="utf-8")
    lines = Problem(path, 1, 506, "url", "too long").render().splitlines()
    source, caret = lines[2], lines[3]
    assert len(source) < 200
    assert source.startswith("1 | ...a") and source.endswith("b...")
    assert source[caret.index("^")] == "X"
