"""The case files here are inputs of rendering tests, not checks to run."""

from __future__ import annotations

collect_ignore_glob = ["cases/*"]
