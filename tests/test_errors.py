"""Problems render from what the loader kept: never by opening a file again."""

from __future__ import annotations

from pathlib import Path

from pytest_meshgate._errors import CaseError, Problem, excerpt


def test_render_shows_the_line_the_problem_carries(tmp_path: Path) -> None:
    problem = Problem(tmp_path / "c.yaml", 3, 5, "spec.x", "bad", "  x: 1")
    assert problem.render().splitlines() == [
        f"{tmp_path / 'c.yaml'}:3:5: spec.x: bad",
        "  |",
        "3 |   x: 1",
        "  |     ^",
    ]


def test_render_never_reads_the_file(tmp_path: Path) -> None:
    # A problem located in a file the loader did not accept (here: a secret) has no
    # source line, and rendering it must not go and read one.
    secret = tmp_path / "environ"
    secret.write_text("TOKEN=hunter2\nOTHER=x\n")
    rendered = CaseError([Problem(secret, 1, 1, "", "not YAML")]).render()
    assert rendered == f"{secret}:1:1: not YAML"
    assert "hunter2" not in rendered


def test_excerpt_neutralises_control_characters_and_keeps_the_caret_aligned() -> None:
    shown, caret = excerpt("a: \x1b[31mred\x07", 4)
    assert "\x1b" not in shown and "\x07" not in shown
    assert shown == "a: \ufffd[31mred\ufffd"
    assert shown[caret] == "\ufffd"  # the caret still points at the escape character


def test_excerpt_of_a_long_line_is_a_window_around_the_column() -> None:
    line = "x" * 5000 + "BAD" + "y" * 5000
    shown, caret = excerpt(line, 5001)
    assert len(shown) <= 130
    assert shown[caret : caret + 3] == "BAD"
    assert shown.startswith("...")


def test_a_problem_in_a_symlink_loop_is_displayed(tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    loop.symlink_to("loop.yaml")
    assert Problem(loop, 1, 1, "", "x").headline() == f"{loop}:1:1: x"
