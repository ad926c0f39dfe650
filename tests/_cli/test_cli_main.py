"""``python -m pytest_meshgate``: help, version, usage errors and exit codes (subprocess)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_meshgate
from pytest_meshgate._cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["validate", "schema", "matrix", "analyze", "render"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_meshgate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=120,
    )


def test_help_lists_every_command_and_the_exit_codes() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m pytest_meshgate [-h] [--version] COMMAND")
    for command in COMMANDS:
        assert f"\n    {command} " in result.stdout
    assert "exit codes:" in result.stdout
    assert "2  usage error" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m pytest_meshgate {command} [-h]")


def test_version_is_the_packages() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout == f"pytest-meshgate {pytest_meshgate.__version__}\n"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.findall(r'^version = "(.*)"$', pyproject, re.M) == [pytest_meshgate.__version__]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "the following arguments are required: COMMAND"),
        (("bogus",), "argument COMMAND: invalid choice: 'bogus'"),
        (("validate",), "the following arguments are required: PATH"),
        (("validate", "--format", "xml", "."), "argument --format: invalid choice: 'xml'"),
        (("validate", "--nope", "."), "unrecognized arguments: --nope"),
    ],
)
def test_bad_usage_exits_2_with_the_usage(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: python -m pytest_meshgate")
    assert message in result.stderr


def test_schema_prints_the_shipped_schema() -> None:
    result = run("schema")
    assert result.returncode == 0
    shipped = Path(pytest_meshgate.__file__).parent / "schema" / "case.schema.json"
    assert result.stdout == shipped.read_text(encoding="utf-8")


def test_help_imports_no_case_model() -> None:
    # --help must stay cheap: the parser is built without pydantic or the targets.
    code = (
        "import sys; from pytest_meshgate._cli.main import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.startswith(('pydantic', 'pytest_meshgate._c'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (
        result.stdout.strip()
        == "['pytest_meshgate._cli', 'pytest_meshgate._cli.commands', 'pytest_meshgate._cli.main']"
    )


def test_the_parser_knows_exactly_the_documented_commands() -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    assert list(commands.choices or ()) == COMMANDS
