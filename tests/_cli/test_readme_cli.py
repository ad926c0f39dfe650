"""README's "Validate in CI": its help text, workflow and pre-commit snippets match the code."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from pytest_meshgate._cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Validate in CI") :]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", SECTION, re.M | re.S)


def test_the_help_shown_is_the_help_printed() -> None:
    (shown,) = _blocks("text")
    result = subprocess.run(
        [sys.executable, "-m", "pytest_meshgate", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert result.returncode == 0
    assert shown == result.stdout


def test_the_workflow_runs_validate_with_github_annotations() -> None:
    workflow = next(yaml.safe_load(b) for b in _blocks("yaml") if "jobs:" in b)
    commands = [step["run"] for step in workflow["jobs"]["validate"]["steps"] if "run" in step]
    assert commands[0].startswith('pip install "pytest-meshgate @ git+https://github.com/')
    argv = shlex.split(commands[1])
    assert argv[:3] == ["python", "-m", "pytest_meshgate"]
    args = build_parser().parse_args(argv[3:])
    assert (args.command, args.format, args.paths) == ("validate", "github", [Path("cases/")])


def test_the_pre_commit_config_names_the_hook_this_repository_defines() -> None:
    config = next(yaml.safe_load(b) for b in _blocks("yaml") if "repos:" in b)
    (repo,) = config["repos"]
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert [hook["id"] for hook in repo["hooks"]] == [hook["id"] for hook in hooks]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'Source = "{repo["repo"]}"' in pyproject
