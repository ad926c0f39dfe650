"""The set-up a fresh clone needs before ``make conformance`` can run: its time and venv size.

The checkout's committed ``HEAD`` is cloned (a local clone: no network) into
a scratch directory, and ``make setup`` (what ``make conformance`` runs
first: a venv with the runtime dependencies only) is timed there. pip
downloads from the package registry unless its cache already holds the
wheels, so the time is "on this machine, with its pip cache". Set
``MESHGATE_BENCH_SKIP_SETUP=1`` to skip it (no registry at hand, say).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = "MESHGATE_BENCH_SKIP_SETUP"


def _size_mb(path: Path) -> float:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            file = Path(dirpath) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total / 1e6


def main() -> str:
    if os.environ.get(SKIP):
        return f"set-up: skipped ({SKIP} is set)"
    scratch = Path(tempfile.mkdtemp(prefix="meshgate-clone-"))
    try:
        clone = scratch / "pytest-meshgate"
        subprocess.run(
            ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "MAKE"))}
        start = time.perf_counter()
        proc = subprocess.run(
            ["make", "--no-print-directory", "-C", str(clone), "setup"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
            return f"set-up: make setup failed in a fresh clone:\n{tail}"
        size = _size_mb(clone / ".venv")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    minutes, seconds = divmod(elapsed, 60)
    return (
        f"set-up: a fresh clone's `make setup` (runtime dependencies only, as `make conformance` "
        f"needs) took {int(minutes)}:{seconds:04.1f}, venv {size:.0f} MB "
        "(pip's cache as it is on this machine)"
    )


if __name__ == "__main__":
    print(main())
