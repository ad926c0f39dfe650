"""``- include: file.yaml`` in ``spec.resources``: resolved only to manifest files inside the suite.

A case file from a pull request must not make collection read the machine:
an include is a path relative to the case file that, with every symlink
resolved, names a regular ``.yaml``/``.yml`` file inside the include root
(pytest's rootdir, or ``meshgate-include-root``). Anything else is a located
error at the ``include`` key that names the path as written and never shows
the content of the file it names. An included file holds manifests only: no
cases and no includes of its own, so includes cannot loop. Its lines are
shown in errors only once it parsed as YAML.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from .._errors import CaseError, Problem
from .limits import MAX_INCLUDES, MAX_NODES
from .yamlpos import Document, KeyPath, Mark, Positions, format_key_path, load_documents

__all__ = ["IncludeRefused", "Includes", "resolve_include"]

MANIFEST_SUFFIXES = (".yaml", ".yml")
# Kernel file systems: never manifests, and reading them is reading the machine.
_SPECIAL_ROOTS = ("/proc", "/sys", "/dev")


class IncludeRefused(Exception):
    """An include names something it may not; the message says what, never its content."""


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def resolve_include(case_file: Path, target: object, root: Path) -> Path:
    """The real path of the manifest file that ``include: target`` in ``case_file`` names.

    ``root`` must already be resolved.

    Raises:
        IncludeRefused: ``target`` is not a relative path to a regular YAML file
            inside ``root`` (symlinks resolved), or it is the case file itself.
    """
    if not isinstance(target, str) or not target.strip():
        raise IncludeRefused("include takes a file path relative to the case file")
    if "\0" in target:
        raise IncludeRefused("include takes a file path relative to the case file")
    if PurePath(target).is_absolute() or target.startswith("~"):
        raise IncludeRefused(f"include takes a path relative to the case file, not {target!r}")
    candidate = case_file.parent / target
    try:
        real = Path(os.path.realpath(candidate, strict=True))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise IncludeRefused(f"include {target!r} is a symlink loop") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise IncludeRefused(f"included file not found: {candidate}") from None
        raise IncludeRefused(f"cannot resolve include {target!r}: {exc.strerror}") from None
    for special in _SPECIAL_ROOTS:
        if _inside(real, Path(special)):
            raise IncludeRefused(
                f"include {target!r} resolves into {special}, a kernel file system"
            )
    if not _inside(real, root):
        raise IncludeRefused(
            f"include {target!r} resolves outside the include root {root} "
            "(includes stay inside the suite; see meshgate-include-root)"
        )
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        raise IncludeRefused(f"cannot read include {target!r}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise IncludeRefused(f"include {target!r} is not a regular file")
    if real.suffix not in MANIFEST_SUFFIXES:
        raise IncludeRefused(f"include {target!r} is not a .yaml or .yml file")
    if real == Path(os.path.realpath(case_file)):
        raise IncludeRefused("a case file cannot include itself")
    return real


@dataclass
class Includes:
    """The includes of one case file: its root, the files read so far, the node budget left.

    A file included by several cases of the file is read once; each inclusion
    counts its nodes against the case file's ``MAX_NODES``.
    """

    case_file: Path
    root: Path
    used: int = 0  # nodes of the case file and of every inclusion so far
    count: int = 0
    _read: dict[Path, list[Document] | CaseError] = field(default_factory=dict)

    def expand(
        self, data: dict[str, Any], positions: Positions, problems: list[Problem]
    ) -> dict[str, Any]:
        """Replace ``{include: file}`` entries of spec.resources by the file's documents.

        Positions of the included documents are grafted in, so errors inside
        them point into the included file; later resource indexes shift
        accordingly.
        """
        spec = data.get("spec")
        if not isinstance(spec, dict) or not isinstance(spec.get("resources"), list):
            return data
        if not any(isinstance(e, dict) and "include" in e for e in spec["resources"]):
            return data
        original = positions.subtree(("spec", "resources"))
        resources: list[Any] = []
        expanded = Positions()
        # An entry without a mark of its own (a case built from a dict): where the list is.
        fallback = positions.locate(("spec", "resources")) or Mark(self.case_file, 1, 1)
        for i, entry in enumerate(spec["resources"]):
            if isinstance(entry, dict) and "include" in entry:
                for document in self._documents(entry, i, original, problems):
                    expanded.graft((len(resources),), document.positions)
                    expanded.values[(len(resources),)] = document.start
                    resources.append(document.data)
            else:
                expanded.graft((len(resources),), original.subtree((i,)))
                expanded.values[(len(resources),)] = original.values.get((i,), fallback)
                resources.append(entry)
        # Replace the resource marks with the expanded ones.
        for table in (positions.keys, positions.values):
            for key_path in [k for k in table if k[:2] == ("spec", "resources") and len(k) > 2]:
                del table[key_path]
        positions.graft(("spec", "resources"), expanded)
        return {**data, "spec": {**spec, "resources": resources}}

    def _documents(
        self, entry: dict[Any, Any], index: int, original: Positions, problems: list[Problem]
    ) -> Iterator[Document]:
        def fail(message: str, key: KeyPath = ("include",)) -> None:
            mark = original.locate((index, *key)) or Mark(self.case_file, 1, 1)
            problems.append(
                mark.problem(format_key_path(("spec", "resources", index, *key)), message)
            )

        extra = sorted(str(key) for key in entry if key != "include")
        if extra:
            fail("unknown key beside include", (extra[0],))
            return
        self.count += 1
        if self.count > MAX_INCLUDES:
            if self.count == MAX_INCLUDES + 1:
                fail(f"more than {MAX_INCLUDES} includes in one case file")
            return
        try:
            real = resolve_include(self.case_file, entry["include"], self.root)
        except IncludeRefused as exc:
            fail(str(exc))
            return
        documents = self._load(real)
        if isinstance(documents, CaseError):
            problems.extend(documents.problems)
            return
        nodes = sum(document.nodes for document in documents)
        if self.used + nodes > MAX_NODES:
            fail(f"includes make this case file more than {MAX_NODES} YAML nodes")
            return
        self.used += nodes
        for document in documents:
            data = document.data
            if not isinstance(data, dict):
                mark = document.start
                message = "an included document must be a manifest (a mapping)"
                problems.append(Problem(mark.path, mark.line, mark.column, "", message))
                continue
            if "include" in data:
                mark = document.positions.locate(("include",), prefer_key=True) or document.start
                message = "includes do not nest; include the file from the case file instead"
                problems.append(mark.problem("include", message))
                continue
            api_version = data.get("apiVersion")
            if isinstance(api_version, str) and api_version.startswith("meshgate.dev/"):
                mark = document.positions.locate(("apiVersion",)) or document.start
                message = "an included file holds manifests, not cases"
                problems.append(mark.problem("apiVersion", message))
                continue
            yield document

    def _load(self, real: Path) -> list[Document] | CaseError:
        found = self._read.get(real)
        if found is None:
            try:
                found = load_documents(real, quote_errors=False, budget=MAX_NODES - self.used)
            except CaseError as exc:
                found = exc
            self._read[real] = found
        return found
