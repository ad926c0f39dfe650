"""Suite runs: the cases of a baseline commit under its code and under this code, and cores.

``speed-up``: the ``cases/`` of ``BASELINE`` (the commit the speed issue was
measured on, 408 checks) are run twice in pytest subprocesses of this
interpreter (the same venv): once with the baseline's own code on
``PYTHONPATH`` (extracted from git with ``git archive``), once with this
checkout's code. Both run from a scratch directory whose ``pytest.ini`` is
empty, so neither picks up the other's pytest settings; both run after a
``--collect-only`` warm-up with bytecode writing on, so neither pays for
compiling (``PYTHONDONTWRITEBYTECODE`` would make every run compile the
package afresh). The scratch directory is removed afterwards.

The new code runs with its default ``--meshgate-lanes`` (auto), then once more
with ``--meshgate-lanes=1`` (one case at a time), to show what lanes give.

``cores``: this checkout's ``cases/`` under ``-n 1`` and ``-n 2`` (xdist).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "681cb13"
# The goal: this many times faster than the baseline's code on its cases.
GOAL = 3.0


def run_pytest(args: list[str], cwd: Path, code: Path) -> tuple[float, str, int]:
    """Seconds, pytest's last line and exit status of ``pytest <args>`` with ``code`` first on
    the path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(code)
    command = [sys.executable, "-m", "pytest", *args]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    lines = (proc.stdout or proc.stderr).strip().splitlines() or ["(no output)"]
    return elapsed, lines[-1].strip("= "), proc.returncode


def _extract(commit: str, destination: Path) -> None:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+
            tar.extractall(destination, filter="data")
        else:  # our own commit's archive: nothing hostile in it
            tar.extractall(destination)


def bench_speedup() -> str:
    """The baseline's cases under the baseline's code and under this code."""
    scratch = Path(tempfile.mkdtemp(prefix="meshgate-bench-"))
    try:
        old_code = scratch / "code"
        _extract(BASELINE, old_code)
        run = scratch / "run"
        run.mkdir()
        shutil.copytree(old_code / "cases", run / "cases")
        (run / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        args = ["cases", "-q", "-p", "no:cacheprovider"]
        results = {}
        runs: tuple[tuple[str, Path, list[str]], ...] = (
            ("old", old_code, []),
            ("new", ROOT, []),
            ("one lane", ROOT, ["--meshgate-lanes=1"]),
        )
        for label, code, extra in runs:
            if label != "one lane":
                run_pytest([*args, "--collect-only"], run, code)  # warm-up: bytecode, caches
            results[label] = run_pytest([*args, *extra], run, code)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (old_s, old_said, old_rc), (new_s, new_said, new_rc) = results["old"], results["new"]
    one_s, one_said, one_rc = results["one lane"]
    ratio = old_s / new_s
    passed = old_rc == new_rc == one_rc == 0
    verdict = "goal met" if ratio >= GOAL and passed else "GOAL NOT MET"
    if not passed:
        verdict += " (a run did not pass)"
    return (
        f"speed-up: the cases/ of {BASELINE} with the code of {BASELINE} {old_s:.1f} s "
        f"({old_said}), with this code {new_s:.1f} s ({new_said}; --meshgate-lanes auto = "
        f"{_auto_lanes()}): {ratio:.2f}x [{verdict}, goal {GOAL:g}x]; "
        f"with this code on one lane {one_s:.1f} s ({one_said}): lanes give {one_s / new_s:.2f}x"
    )


def _auto_lanes() -> int:
    sys.path.insert(0, str(ROOT))
    from pytest_meshgate._suite.lanes import auto_lanes

    return auto_lanes(in_xdist_worker=False)


def bench_cores() -> str:
    """This checkout's cases under one xdist worker and under two."""
    args = ["cases", "-q", "-p", "no:cacheprovider"]
    one, one_said, one_rc = run_pytest([*args, "-n", "1"], ROOT, ROOT)
    two, two_said, two_rc = run_pytest([*args, "-n", "2"], ROOT, ROOT)
    failed = "" if one_rc == two_rc == 0 else " [a run did not pass]"
    return (
        f"cores: -n 1 {one:.1f} s ({one_said}); -n 2 {two:.1f} s ({two_said}); "
        f"-n 2 is {one / two:.2f}x -n 1 on {os.cpu_count()} cores{failed}"
    )


if __name__ == "__main__":
    print(bench_speedup())
    print(bench_cores())
