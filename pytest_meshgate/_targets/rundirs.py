"""Private run directories: 0700, named after the process that owns them, pruned once it is gone.

A run removes its directory when it ends, even on SIGINT or SIGTERM; SIGKILL
(an OOM kill, a CI job cancelled hard) gives it no chance, and the directory
holds private keys (the mesh CA's, Envoy configurations with TLS
credentials inline). So the owner is in the name,
``<kind>-<pid>-<start>-<random>``, where ``start`` is the process's start time
(clock ticks since boot, ``/proc/<pid>/stat`` field 22) so that a reused PID
is not taken for the owner. Every new run directory of a kind first removes
those of the same kind whose owner is gone: a killed run's keys last until
the next run starts at the latest. The name is set by ``mkdtemp`` in one
step, so there is no moment when a directory exists without its owner.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

__all__ = ["make_run_directory", "owner_alive", "process_start", "prune_orphans"]


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, or ``None``."""
    try:
        line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')'.
    return line.rpartition(")")[2].split()


def process_start(pid: int) -> str:
    """The start time of ``pid`` as the kernel counts it, or ``"0"`` where unknown.

    ``"0"`` (no ``/proc``, e.g. macOS) makes the owner check rely on the PID alone.
    """
    fields = _proc_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else "0"


def owner_alive(pid: int, start: str) -> bool:
    """Whether the process that made a directory named ``pid`` and ``start`` still runs.

    A zombie (killed, not yet reaped by its parent) is gone: it runs no more code.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process has the PID: not ours
        return start == "0"
    fields = _proc_stat(pid)
    if fields is None or len(fields) <= 19:
        return True  # no /proc to tell more: the PID is alive
    return fields[0] != "Z" and (start == "0" or fields[19] == start)


def _owner(name: str, kind: str) -> tuple[int, str] | None:
    if not name.startswith(f"{kind}-"):
        return None
    parts = name[len(kind) + 1 :].split("-", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), parts[1]


def prune_orphans(kind: str, parent: Path | None = None) -> list[Path]:
    """Remove this user's ``kind`` directories in ``parent`` whose owner is gone; return them.

    Only real directories owned by this user are touched: a symlink with a
    matching name (anyone can make one in /tmp) is left alone.
    """
    where = Path(parent or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(os.scandir(where))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(f"{kind}-"):
            continue
        owner = _owner(entry.name, kind)
        if owner is None or owner_alive(*owner):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(entry.path)
            removed.append(Path(entry.path))
    return removed


def make_run_directory(kind: str, parent: Path | None = None) -> Path:
    """A new private (0700) directory ``<kind>-<pid>-<start>-*`` in ``parent`` (default: temp).

    Directories of the same kind left by processes that are gone are removed first.
    """
    prune_orphans(kind, parent)
    pid = os.getpid()
    path = Path(tempfile.mkdtemp(prefix=f"{kind}-{pid}-{process_start(pid)}-", dir=parent))
    os.chmod(path, 0o700)  # mkdtemp's mode already, whatever the umask; said again for readers
    return path
