"""The translation's shared pieces."""

from __future__ import annotations

from pytest_meshgate._targets.local.translate.common import labels_match


def test_labels_match() -> None:
    assert labels_match({"app": "a", "version": "v1"}, {"app": "a"})
    assert labels_match({"app": "a"}, {})
    assert not labels_match({"app": "a"}, {"app": "a", "version": "v1"})
    assert not labels_match({"app": "a"}, {"app": "b"})
