"""``python -m pytest_meshgate schema``: print the case file JSON Schema."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if argv[:1] == ["schema"]:
        from ._schema import case_schema_json

        sys.stdout.write(case_schema_json())
        return 0
    sys.stderr.write("usage: python -m pytest_meshgate schema\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
