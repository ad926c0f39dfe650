"""Kubernetes target tests: case files here are inputs, and lock dirs stay in tmp_path."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

collect_ignore_glob = ["cases/*"]


@pytest.fixture(autouse=True)
def _private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cluster lock dirs (kept across runs on purpose) go to the test's tmp_path, not /tmp."""
    scratch = tmp_path / "tempdir"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
