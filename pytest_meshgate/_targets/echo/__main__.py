"""``python -m pytest_meshgate._targets.echo``: the echo process an echo pod runs (see ``cli``)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
