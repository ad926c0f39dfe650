"""PyYAML made safe for hostile input: a located safe loader and a bounded node graph.

Two things PyYAML's safe loader does not do:

* its constructors raise plain ``ValueError``/``KeyError``/... on scalars such
  as ``2001-13-45``, ``!!int x`` or a 5,000-digit integer, with no position:
  ``Loader`` turns them into ``ConstructorError`` at the scalar;
* composing is cheap (an alias is the same node object twice), but everything
  after it walks the tree with aliases expanded, so 600 bytes of nested
  aliases become 10^9 nodes. ``measure`` walks the composed graph once, each
  distinct node once, and refuses, at the offending alias, a document whose
  expansion exceeds the node budget or ``MAX_DEPTH``, more than
  ``MAX_ALIASES`` aliases, or an alias of a node that contains it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import Resolver

from .limits import MAX_ALIASES, MAX_DEPTH, MAX_NODES

__all__ = ["GraphLimitExceeded", "Loader", "Tally", "measure"]

# Errors PyYAML's scalar constructors let out (int(), datetime(), dict lookups, regex misses).
_CONSTRUCTOR_BUGS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError)


class _LocatedConstructor(SafeConstructor):
    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except _CONSTRUCTOR_BUGS as exc:
            what = str(node.tag).rsplit(":", 1)[-1]
            reason = str(exc)[:120]
            raise ConstructorError(
                None, None, f"cannot read this value as {what} ({reason})", node.start_mark
            ) from None


# The C parser composes the same marked nodes about 5x faster where libyaml is present.
_CParser: Any
try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _CParser = None
if _CParser is not None:

    class Loader(_CParser, _LocatedConstructor, Resolver):  # type: ignore[misc]
        """libyaml's parser and composer, PyYAML's safe constructor with located errors."""

        counts_bytes = True  # reader errors give offsets in UTF-8 bytes

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _LocatedConstructor.__init__(self)
            Resolver.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml

    class Loader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.composer.Composer,
        _LocatedConstructor,
        Resolver,
    ):
        """PyYAML's pure-Python parser, the safe constructor with located errors."""

        counts_bytes = False

        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _LocatedConstructor.__init__(self)
            Resolver.__init__(self)


@dataclass
class Tally:
    """What the documents of one file used so far: expanded nodes and alias uses."""

    nodes: int = 0
    aliases: int = 0


class GraphLimitExceeded(Exception):
    """A document's graph breaks a bound; ``alias`` is the index of the alias to blame.

    ``alias`` counts alias uses of the document in document order (the order
    libyaml emits their events), or is ``None`` when a node itself is too
    deep, in which case ``mark`` is that node's.
    """

    def __init__(self, message: str, alias: int | None, mark: yaml.Mark) -> None:
        super().__init__(message)
        self.message = message
        self.alias = alias
        self.mark = mark


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, yaml.SequenceNode):
        yield from node.value


class _Frame:
    __slots__ = ("children", "depth", "node", "size")

    def __init__(self, node: yaml.Node) -> None:
        self.node = node
        self.children = _children(node)
        self.size = 1  # expanded nodes below and including this one
        self.depth = 0  # expanded levels below this one


def measure(root: yaml.Node, tally: Tally, remaining: int) -> int:
    """The expanded node count of ``root``, added to ``tally``; see the module docstring.

    ``remaining`` is what is left of the ``MAX_NODES`` of the case file this
    document belongs to (an included file shares its case file's budget).

    Iterative, and linear in the distinct nodes: a subtree reached again
    through an alias is counted from its memo, never walked again. The
    traversal is pre-order in document order, so the n-th reference to an
    already composed node is the n-th alias of the document.

    Raises:
        GraphLimitExceeded: the document would have more than ``remaining``
            nodes, or another bound of ``limits`` is broken.
    """
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, depth below)
    active = {id(root)}
    stack = [_Frame(root)]
    aliases = 0  # alias uses in this document

    def too_many(frame: _Frame, alias: int | None) -> GraphLimitExceeded:
        expanded = "with aliases expanded " if alias is not None else ""
        return GraphLimitExceeded(
            f"more than {MAX_NODES} YAML nodes {expanded}(the limit of a case file with "
            "its includes)",
            alias,
            frame.node.start_mark,
        )

    while stack:
        frame = stack[-1]
        for child in frame.children:
            key = id(child)
            if key in active:
                raise GraphLimitExceeded(
                    "recursive alias: the anchor contains its own alias", aliases, child.start_mark
                )
            memo = done.get(key)
            if memo is not None:  # a node composed before: this is an alias of it
                if aliases >= MAX_ALIASES - tally.aliases:
                    raise GraphLimitExceeded(
                        f"more than {MAX_ALIASES} YAML aliases in one file",
                        aliases,
                        child.start_mark,
                    )
                size, depth = memo
                if len(stack) + 1 + depth > MAX_DEPTH:
                    raise GraphLimitExceeded(
                        f"nested deeper than {MAX_DEPTH} levels with aliases expanded",
                        aliases,
                        child.start_mark,
                    )
                aliases += 1
                frame.size += size
                frame.depth = max(frame.depth, depth + 1)
                if frame.size > remaining:
                    raise too_many(frame, aliases - 1)
                continue
            if len(stack) + 1 > MAX_DEPTH:
                raise GraphLimitExceeded(
                    f"nested deeper than {MAX_DEPTH} levels", None, child.start_mark
                )
            active.add(key)
            stack.append(_Frame(child))
            break
        else:
            stack.pop()
            active.discard(id(frame.node))
            done[id(frame.node)] = (frame.size, frame.depth)
            if stack:
                parent = stack[-1]
                parent.size += frame.size
                parent.depth = max(parent.depth, frame.depth + 1)
                if parent.size > remaining:
                    raise too_many(parent, None)
    size = done[id(root)][0]
    if size > remaining:  # a lone scalar, when the budget is spent
        raise too_many(_Frame(root), None)
    tally.nodes += size
    tally.aliases += aliases
    return size
