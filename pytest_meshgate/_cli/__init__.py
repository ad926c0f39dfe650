"""``python -m pytest_meshgate``: the command line, one parser over one module per command group."""

from __future__ import annotations

from .main import build_parser, main

__all__ = ["build_parser", "main"]
