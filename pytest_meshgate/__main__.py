"""``python -m pytest_meshgate``: the command line (``_cli``), kept thin.

Subcommands: ``validate``, ``schema``, ``matrix``, ``analyze``, ``render``;
``python -m pytest_meshgate --help`` lists them, ``COMMAND --help`` explains one.
"""

from __future__ import annotations

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
