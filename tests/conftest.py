"""Shared helpers for the project's own tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

# Import before any in-process pytester run: pytester drops modules first
# imported inside a run, and PyYAML's C extension keeps the node classes of
# the first import, so a re-imported `yaml` would not recognise its own nodes.
import yaml  # noqa: F401

import pytest_meshgate._suite.nodes  # noqa: F401

CASE_HEADER = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
"""


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a dedented file under tmp_path and return its path."""

    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write_file
