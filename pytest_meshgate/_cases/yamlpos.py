"""YAML loading that remembers where every key and value came from.

PyYAML composes a node tree whose nodes carry 0-based marks; we construct the
plain data with the safe constructor and, beside it, index every node by its
key path so that an error about ``spec.checks[0].request.methd`` can point at
the exact line and column, even inside an included file.

Loading is bounded (``limits``): the file is read once within a size limit
(``source``), and each composed document is measured (``yamlsafe.measure``)
before anything walks it with aliases expanded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .._errors import CaseError, Problem
from .limits import MAX_DOCUMENTS, MAX_NODES
from .nearmiss import is_case_api_version
from .source import Source, read_head, read_source, split_lines
from .yamlsafe import GraphLimitExceeded, Loader, Tally, measure

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


@dataclass(frozen=True)
class Mark:
    """A 1-based position in a file, with the file's text when its lines may be shown."""

    path: Path
    line: int
    column: int
    source: Source | None = field(default=None, repr=False, compare=False)

    def problem(self, key_path: str, message: str) -> Problem:
        """A problem located here, with the source line when the file is quotable."""
        line = self.source.line(self.line) if self.source is not None else None
        return Problem(self.path, self.line, self.column, key_path, message, line)


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
    nodes: int = 0  # expanded YAML nodes, counted against the file's MAX_NODES


# A key that would read as something else in a dotted path: empty, blank, brackets, quotes.
_PLAIN_KEY = re.compile(r"[^\s\[\]\"'\x00-\x1f\x7f]+")


def format_key_path(key_path: KeyPath) -> str:
    """``("spec", "checks", 0, "name")`` -> ``spec.checks[0].name``.

    A key that is empty or holds whitespace, brackets, quotes or control
    characters is quoted (``spec." "``), so that the path reads unambiguously.
    """
    out = ""
    for part in key_path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = str(part) if _PLAIN_KEY.fullmatch(str(part)) else json.dumps(str(part))
        out += f".{text}" if out else text
    return out


def load_documents(
    path: Path,
    source: Source | None = None,
    *,
    quote_errors: bool = True,
    budget: int = MAX_NODES,
) -> list[Document]:
    """Every document of ``path`` (or of ``source``, already read) with positions.

    ``quote_errors=False`` keeps the file's lines out of the errors that say
    it is not YAML we accept (unreadable, undecodable, invalid, too big): an
    included file is quoted only once it parsed. ``budget`` is the number of
    nodes the documents may have together (what is left of a case file's
    ``MAX_NODES`` when loading a file it includes); ``Document.nodes`` says
    what each used.

    Raises:
        CaseError: the file cannot be read or decoded, is not valid YAML,
            repeats a key within one mapping (PyYAML would silently keep the
            last one), or breaks a bound of ``limits``.
    """
    if source is None:
        source = read_source(path)
    refused = source if quote_errors else replace(source, quotable=False)
    tally = Tally()
    documents: list[Document] = []
    problems: list[Problem] = []
    composed = 0
    loader = None
    try:
        loader = Loader(source.text)  # PyYAML's own reader checks characters here
        while loader.check_node():
            node = loader.get_node()
            composed += 1
            if composed > MAX_DOCUMENTS:
                message = f"more than {MAX_DOCUMENTS} YAML documents in one file"
                problems.append(_mark(refused, node.start_mark).problem("", message))
                break
            try:
                nodes = measure(node, tally, budget - tally.nodes)
            except GraphLimitExceeded as exc:
                where = exc.mark
                if exc.alias is not None:
                    where = _alias_mark(source.text, composed - 1, exc.alias) or where
                problems.append(_mark(refused, where).problem("", exc.message))
                break
            positions = Positions()
            _index(node, (), source, positions, problems)
            data = loader.construct_document(node)
            if data is None:  # a document of only comments (e.g. a trailing `---`)
                continue
            documents.append(
                Document(data, positions, _mark(source, node.start_mark), len(documents), nodes)
            )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        problems.append(refused.problem(line, column, "", message))
    except yaml.reader.ReaderError as exc:
        line, column = _offset_position(source.text, exc.position)
        message = f"invalid YAML: character #x{exc.character:04x}: {exc.reason}"
        problems.append(refused.problem(line, column, "", message))
    except yaml.YAMLError as exc:
        problems.append(refused.problem(1, 1, "", f"invalid YAML: {exc}"))
    except RecursionError:  # PyYAML's pure-Python composer recurses per level
        problems.append(refused.problem(1, 1, "", "invalid YAML: nested too deeply"))
    finally:
        if loader is not None:
            loader.dispose()
    if problems:
        raise CaseError(problems)
    return documents


def _alias_mark(text: str, document: int, alias: int) -> Any:
    """Where the ``alias``-th alias of the ``document``-th document (0-based) is written.

    Only called to locate an error, so the second parse costs nothing in the
    common case; ``measure`` counted aliases in this same order.
    """
    loader = Loader(text)
    try:
        index, seen = -1, 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.DocumentStartEvent):
                index += 1
            elif index == document and isinstance(event, yaml.AliasEvent):
                if seen == alias:
                    return event.start_mark
                seen += 1
    except yaml.YAMLError:
        pass
    finally:
        loader.dispose()
    return None


def _offset_position(text: str, offset: int) -> tuple[int, int]:
    """Line and column of a reader error's offset (libyaml counts UTF-8 bytes)."""
    if Loader.counts_bytes:
        before = text.encode("utf-8")[:offset].decode("utf-8", errors="replace")
    else:  # pragma: no cover - PyYAML built without libyaml counts characters
        before = text[:offset]
    lines = split_lines(before)
    return len(lines), len(lines[-1]) + 1


def _mark(source: Source, mark: yaml.Mark) -> Mark:
    return Mark(source.path, mark.line + 1, mark.column + 1, source)


def _index(
    node: yaml.Node,
    key_path: KeyPath,
    source: Source,
    positions: Positions,
    problems: list[Problem],
) -> None:
    positions.values[key_path] = _mark(source, node.start_mark)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            if key == "<<":  # merge keys: positions of merged entries stay with the anchor
                continue
            if key in seen:
                first = seen[key].start_mark
                problems.append(
                    _mark(source, key_node.start_mark).problem(
                        format_key_path((*key_path, key)),
                        f"duplicate key (first set on line {first.line + 1})",
                    )
                )
            seen[key] = key_node
            child = (*key_path, key)
            positions.keys[child] = _mark(source, key_node.start_mark)
            _index(value_node, child, source, positions, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*key_path, i), source, positions, problems)


_FIRST_DOC_API = re.compile(r"^apiVersion:\s*[\"']?([^\"'\s#]+)", re.MULTILINE)


def looks_like_case_file(path: Path) -> bool:
    """Whether the first document of ``path`` declares ``apiVersion: meshgate.dev/...``.

    Or a misspelling of that group (``meshgate.de/v1alpha1``, ``nearmiss``): the
    loader then reports the typo at its line rather than the file leaving the
    suite unseen.

    Cheap on purpose: it reads the head of the file and looks at the first
    document only, so collection skips the many YAML files that are not cases
    (manifests, CI configs) without parsing them.
    A byte-order mark (UTF-8, UTF-16, UTF-32) is read through, so such a file
    is a case like any other; only regular files are looked at (a FIFO would
    block collection).
    """
    head = read_head(path, 16384)
    if head is None:
        return False
    first = _first_document(head.removeprefix("\ufeff"))
    found = _FIRST_DOC_API.search(first)
    return found is not None and is_case_api_version(found.group(1))


def _first_document(head: str) -> str:
    lines: list[str] = []
    started = False
    for line in split_lines(head):
        if line.startswith("---"):
            if started:
                break
            continue
        if not started and line.startswith("%"):  # a directive (%YAML 1.1) before `---`
            continue
        if line.strip() and not line.lstrip().startswith("#"):
            started = True
        lines.append(line)
    return "\n".join(lines)
