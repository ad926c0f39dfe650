"""YAML loading that remembers where every key and value came from.

PyYAML composes a node tree whose nodes carry 0-based marks; we construct the
plain data with the safe constructor and, beside it, index every node by its
key path so that an error about ``spec.checks[0].request.methd`` can point at
the exact line and column, even inside an included file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._errors import CaseError, Problem

__all__ = [
    "Document",
    "KeyPath",
    "Mark",
    "Positions",
    "format_key_path",
    "load_documents",
    "looks_like_case_file",
]

KeyPath = tuple[str | int, ...]

# The C loader composes the same marked nodes about 5x faster where libyaml is present.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Mark:
    """A 1-based position in a file."""

    path: Path
    line: int
    column: int


@dataclass
class Positions:
    """Where each key path of one document was written.

    ``key`` marks point at a mapping key (``methd:``), ``value`` marks at the
    value; errors about unknown keys point at the key, others at the value.
    """

    keys: dict[KeyPath, Mark] = field(default_factory=dict)
    values: dict[KeyPath, Mark] = field(default_factory=dict)

    def locate(self, key_path: KeyPath, *, prefer_key: bool = False) -> Mark | None:
        """The mark of ``key_path`` or of its deepest existing ancestor."""
        for end in range(len(key_path), -1, -1):
            prefix = key_path[:end]
            first, second = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            mark = first.get(prefix) or second.get(prefix)
            if mark is not None:
                return mark
        return None

    def graft(self, prefix: KeyPath, other: Positions) -> None:
        """Copy ``other``'s marks under ``prefix`` (an included document)."""
        for key_path, mark in other.keys.items():
            if key_path:
                self.keys[prefix + key_path] = mark
        for key_path, mark in other.values.items():
            self.values[prefix + key_path] = mark

    def subtree(self, prefix: KeyPath) -> Positions:
        """The marks below ``prefix``, re-rooted at it."""
        n = len(prefix)
        return Positions(
            keys={k[n:]: m for k, m in self.keys.items() if k[:n] == prefix},
            values={k[n:]: m for k, m in self.values.items() if k[:n] == prefix},
        )


@dataclass
class Document:
    """One YAML document with its data, positions and start mark."""

    data: Any
    positions: Positions
    start: Mark
    index: int


def format_key_path(key_path: KeyPath) -> str:
    """``("spec", "checks", 0, "name")`` -> ``spec.checks[0].name``."""
    out = ""
    for part in key_path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_documents(path: Path, text: str | None = None) -> list[Document]:
    """Every document of ``path`` with positions.

    Raises:
        CaseError: the file cannot be read, is not valid YAML, or repeats a key
            within one mapping (PyYAML would silently keep the last one).
    """
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CaseError([Problem(path, 1, 1, "", f"cannot read file: {exc}")]) from None
    loader = _Loader(text)
    documents: list[Document] = []
    problems: list[Problem] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # an empty document
                continue
            positions = Positions()
            _index(node, (), path, positions, problems)
            data = loader.construct_document(node)
            if data is None:  # a document of only comments (e.g. a trailing `---`)
                continue
            documents.append(
                Document(data, positions, _mark(path, node.start_mark), len(documents))
            )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        problems.append(Problem(path, line, column, "", message))
    except yaml.YAMLError as exc:
        problems.append(Problem(path, 1, 1, "", f"invalid YAML: {exc}"))
    finally:
        loader.dispose()
    if problems:
        raise CaseError(problems)
    return documents


def _mark(path: Path, mark: yaml.Mark) -> Mark:
    return Mark(path, mark.line + 1, mark.column + 1)


def _index(
    node: yaml.Node,
    key_path: KeyPath,
    path: Path,
    positions: Positions,
    problems: list[Problem],
) -> None:
    positions.values[key_path] = _mark(path, node.start_mark)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            if key == "<<":  # merge keys: positions of merged entries stay with the anchor
                continue
            if key in seen:
                first = seen[key].start_mark
                problems.append(
                    Problem(
                        path,
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                        format_key_path((*key_path, key)),
                        f"duplicate key (first set on line {first.line + 1})",
                    )
                )
            seen[key] = key_node
            child = (*key_path, key)
            positions.keys[child] = _mark(path, key_node.start_mark)
            _index(value_node, child, path, positions, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*key_path, i), path, positions, problems)


_FIRST_DOC_API = re.compile(r"^apiVersion:\s*[\"']?meshgate\.dev/", re.MULTILINE)


def looks_like_case_file(path: Path) -> bool:
    """Whether the first document of ``path`` declares ``apiVersion: meshgate.dev/...``.

    Cheap on purpose: it reads the head of the file and looks at the first
    document only, so collection skips the many YAML files that are not cases
    (manifests, CI configs) without parsing them.
    """
    try:
        with path.open(encoding="utf-8", errors="replace") as stream:
            head = stream.read(16384)
    except OSError:
        return False
    first = _first_document(head)
    return bool(_FIRST_DOC_API.search(first))


def _first_document(head: str) -> str:
    lines: list[str] = []
    started = False
    for line in _lines(head):
        if line.startswith("---"):
            if started:
                break
            continue
        if line.strip() and not line.lstrip().startswith("#"):
            started = True
        lines.append(line)
    return "\n".join(lines)


def _lines(text: str) -> Iterator[str]:
    yield from text.splitlines()
