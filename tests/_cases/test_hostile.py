"""Property: whatever a pull request does to the suite's own case files, loading stays safe.

Each example takes a file of ``cases/`` and mutates it: YAML-structure
mutations (a value of another type, a key deleted or added, a subtree shared
through an anchor and alias, an alias bomb, an include of a file outside the
root, of ``/proc``, of a symlink loop or a FIFO), then byte flips, line
deletions and duplications, then an encoding (a BOM, UTF-16, UTF-32, with or without a BOM). For
each, ``load_case_file`` with the include root must

* return (never raise, never hang: the hypothesis deadline bounds each example);
* give cases that are valid, or invalid documents whose every problem is
  located ``file:line:col`` in the mutant or a file inside the root;
* never show content of a file outside the root or of the environment;
* never skip silently: a file that looks like a case file gives a case or an error.
"""

from __future__ import annotations

import codecs
import datetime
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_meshgate._cases.loader import CaseFile, load_case_file
from pytest_meshgate._cases.yamlpos import looks_like_case_file

SUITE = Path(__file__).resolve().parents[2] / "cases"
CASE_TEXTS = {p.name: p.read_bytes() for p in sorted(SUITE.glob("*.yaml"))}
SECRET = "hunter2-outside-the-root"
INCLUDES = [
    "../outside/secret.yaml",
    "link-out.yaml",
    "/proc/self/environ",
    "../../../../../../../../../proc/self/environ",
    "loop.yaml",
    "pipe.yaml",
    "mutant.yaml",
    "manifests/app-gateway.yaml",
    "manifests",
    "",
]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the suite as the include root, and traps around it."""
    base = tmp_path_factory.mktemp("hostile")
    (base / "outside").mkdir()
    (base / "outside" / "secret.yaml").write_text(
        f"apiVersion: v1\nkind: Secret\ntoken: {SECRET}\n"
    )
    suite = base / "suite"
    shutil.copytree(SUITE, suite)
    (suite / "link-out.yaml").symlink_to(base / "outside" / "secret.yaml")
    (suite / "loop.yaml").symlink_to("loop.yaml")
    os.mkfifo(suite / "pipe.yaml")
    previous = os.environ.get("MESHGATE_TEST_SECRET")
    os.environ["MESHGATE_TEST_SECRET"] = SECRET
    try:
        yield suite
    finally:
        if previous is None:
            del os.environ["MESHGATE_TEST_SECRET"]
        else:
            os.environ["MESHGATE_TEST_SECRET"] = previous


# ------------------------------------------------------------------ mutations


def _paths(root: Any) -> list[tuple[Any, ...]]:
    """Paths into ``root``, each shared or recursive node expanded once, at most 500."""
    found: list[tuple[Any, ...]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    while stack and len(found) < 500:
        node, path = stack.pop()
        found.append(path)
        if isinstance(node, (dict, list)):
            if id(node) in seen:
                continue
            seen.add(id(node))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend((value, (*path, key)) for key, value in list(items)[:40])
    return found


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        root = root[part]
    return root


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(root, path[:-1])[path[-1]] = value
    return root


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "0", "yes", "~", "1e999", "2001-13-45", "*", "{}", "[", "${uuid}"]),
    st.binary(max_size=8),
    st.dates(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _bomb(levels: int, width: int) -> Any:
    node: Any = ["lol"] * width
    for _ in range(levels):
        node = [node] * width  # one object, many times: the dumper writes anchors and aliases
    return node


@st.composite
def structural(draw: st.DrawFn, documents: list[Any]) -> list[Any]:
    """One structural mutation of the parsed documents."""
    if not documents:
        return documents
    index = draw(st.integers(0, len(documents) - 1))
    document = documents[index]
    paths = _paths(document)
    path = draw(st.sampled_from(paths))
    kind = draw(
        st.sampled_from(["retype", "delete", "add", "share", "bomb", "include", "recursive"])
    )
    if kind == "retype":
        document = _set(document, path, draw(VALUES))
    elif kind == "delete" and path:
        parent = _get(document, path[:-1])
        del parent[path[-1]]
    elif kind == "add":
        target = _get(document, path)
        if isinstance(target, dict):
            near = [f"{k}x" for k in target if isinstance(k, str)]
            key = draw(st.one_of(st.text(max_size=10), st.sampled_from(near or ["x"])))
            target[key] = draw(VALUES)
        elif isinstance(target, list):
            target.insert(draw(st.integers(0, len(target))), draw(VALUES))
    elif kind == "share":  # an anchor at one place, an alias at another
        other = draw(st.sampled_from(paths))
        if other[: len(path)] != path:  # not inside the subtree itself
            document = _set(document, other, _get(document, path))
    elif kind == "recursive" and path:
        target = _get(document, path)
        if isinstance(target, (list, dict)):
            if isinstance(target, list):
                target.append(target)
            else:
                target["self"] = target
    elif kind == "bomb":
        levels, width = draw(st.integers(2, 9)), draw(st.integers(2, 9))
        document = _set(document, path, _bomb(levels, width))
    elif kind == "include" and isinstance(document, dict):
        spec = document.setdefault("spec", {})
        if isinstance(spec, dict):
            resources = spec.get("resources")
            if not isinstance(resources, list):
                resources = spec["resources"] = []
            entry: Any = {"include": draw(st.sampled_from(INCLUDES))}
            if draw(st.booleans()):
                entry = {**entry, draw(st.sampled_from(["x", 1, None])): "y"}
            resources.insert(draw(st.integers(0, len(resources))), entry)
    documents[index] = document
    return documents


# libyaml's loader and dumper: the pure-Python ones would make generation the slow part.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(documents: list[Any]) -> bytes | None:
    try:
        text = yaml.dump_all(documents, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)
        return text.encode()
    except (yaml.YAMLError, RecursionError, TypeError, ValueError):
        return None


@st.composite
def textual(draw: st.DrawFn, data: bytes) -> bytes:
    """One byte- or line-level mutation."""
    lines = data.splitlines(keepends=True)
    kind = draw(st.sampled_from(["flip", "delete", "duplicate", "insert", "truncate"]))
    if kind == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    if kind in ("delete", "duplicate") and lines:
        at = draw(st.integers(0, len(lines) - 1))
        lines[at : at + 1] = [] if kind == "delete" else [lines[at], lines[at]]
        return b"".join(lines)
    if kind == "insert":
        at = draw(st.integers(0, len(data)))
        chunk = draw(
            st.one_of(
                st.binary(max_size=6),
                st.sampled_from([b"\t", b"&a ", b"*a", b"*nowhere", b"<<: *a\n", b"? ", b"!!int "]),
            )
        )
        return data[:at] + chunk + data[at:]
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    return data


ENCODINGS = [
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-be-bom",
    "utf-16-le",
    "utf-32",
    "utf-32-le-bom",
    "utf-32-be",
]


def _encode(data: bytes, encoding: str) -> bytes:
    if encoding == "utf-8":
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return codecs.BOM_UTF8 + data  # a BOM before bytes that are not UTF-8 anyway
    if encoding.endswith("-bom"):
        name = encoding.removesuffix("-bom")
        return "\ufeff".encode(name) + text.encode(name)
    return text.encode(encoding)


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(CASE_TEXTS)))
    data = CASE_TEXTS[name]
    for _ in range(draw(st.integers(0, 3))):
        try:
            documents = list(yaml.load_all(data, Loader=_LOADER))
        except (yaml.YAMLError, ValueError, TypeError, AttributeError, KeyError):
            break
        dumped = _dump(draw(structural(documents)))
        if dumped is not None:
            data = dumped
    for _ in range(draw(st.integers(0, 3))):
        data = draw(textual(data))
    return _encode(data, draw(st.sampled_from(ENCODINGS)))


# ------------------------------------------------------------------ the property

HEADLINE = re.compile(r"^(?P<path>.+?):(?P<line>[1-9]\d*):(?P<column>[1-9]\d*): \S")


def check_loaded(result: CaseFile, mutant: Path, root: Path) -> None:
    for loaded in result.cases:
        assert loaded.case.name and loaded.case.spec.checks is not None
    for document in result.invalid:
        assert document.error.problems, document.name
        for problem in document.error.problems:
            assert problem.message
            match = HEADLINE.match(problem.headline())
            assert match, problem.headline()
            where = problem.path.resolve()
            assert where == mutant.resolve() or root.resolve() in where.parents, where
        rendered = document.error.render()
        assert SECRET not in rendered
        assert "MESHGATE_TEST_SECRET" not in rendered


@settings(
    max_examples=40,
    deadline=datetime.timedelta(seconds=20),  # a hang guard per example, not a speed goal
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(data=mutants())
def test_mutated_case_files_load_into_cases_or_located_errors(sandbox: Path, data: bytes) -> None:
    mutant = sandbox / "mutant.yaml"
    mutant.write_bytes(data)
    result = load_case_file(mutant, root=sandbox)
    check_loaded(result, mutant, sandbox)
    if looks_like_case_file(mutant):
        assert result.cases or result.invalid, data[:200]


@pytest.mark.parametrize("name", sorted(CASE_TEXTS))
def test_every_suite_file_loads_clean_in_the_sandbox(sandbox: Path, name: str) -> None:
    # The unmutated baseline: the sandbox really is the suite, so mutations start valid.
    result = load_case_file(sandbox / name, root=sandbox)
    assert result.cases and not result.invalid
