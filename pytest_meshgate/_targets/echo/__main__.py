"""``python -m pytest_meshgate._targets.echo``: the echo process an echo pod runs (see ``cli``)."""

from __future__ import annotations

from .cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
