"""The YAML files under the paths a command is given, found as pytest's collection finds them.

pytest walks directories but not those its default ``norecursedirs`` names
(``.*``, ``build``, ``dist``, ``venv``, ...) nor virtualenvs
(``collect_in_virtualenv`` is off), and the plugin collects each real file
once (``plugin.pytest_collect_file``). Which of the files are case files is
``yamlpos.looks_like_case_file``'s to say, for both.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["NORECURSEDIRS", "YAML_SUFFIXES", "yaml_files"]

YAML_SUFFIXES = (".yaml", ".yml")

# pytest's default ``norecursedirs`` (src/_pytest/main.py, the ini option's default).
NORECURSEDIRS = ("*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}")


def yaml_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Each file named and each ``*.yaml``/``*.yml`` below each directory named, once.

    A named file is yielded whatever its suffix (the caller asked for it);
    directories are walked in sorted order, links followed, a directory
    reached again through a link (a loop) walked once.
    """
    seen: set[str] = set()
    for path in paths:
        candidates = _walk(path) if path.is_dir() else iter([path])
        for candidate in candidates:
            real = os.path.realpath(candidate)
            if real not in seen:
                seen.add(real)
                yield candidate


def _walk(directory: Path, visited: set[str] | None = None) -> Iterator[Path]:
    """Entries sorted by name, a subdirectory walked where it sorts, as pytest's ``Dir`` does."""
    visited = set() if visited is None else visited
    real = os.path.realpath(directory)
    if real in visited:
        return
    visited.add(real)
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:  # unreadable: pytest reports it; here it holds no case we can read
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir():
            if not _skipped(path):
                yield from _walk(path, visited)
        elif entry.name.endswith(YAML_SUFFIXES) and entry.is_file():
            yield path


def _skipped(directory: Path) -> bool:
    if any(fnmatch.fnmatch(directory.name, pattern) for pattern in NORECURSEDIRS):
        return True
    # A virtualenv or a conda environment, as pytest's ``_in_venv`` tells them.
    return (directory / "pyvenv.cfg").is_file() or (directory / "conda-meta" / "history").is_file()
