"""Docs that run: every YAML example of README.md and docs/*.md is a case run on the local
target, or a fragment checked in its context.

The convention (docs/architecture.md, "Examples in the documentation"): a
```` ```yaml ```` block is a complete case file, loaded with the Markdown
file's own line numbers and every check run on a real Envoy. An HTML comment
on the line before the fence says otherwise:

- ``<!-- meshgate-docs: fragment of cases/FILE.yaml#CASE -->``: a part of that
  case, as written there (every key and value of the block is in it), and
  the case loads;
- ``<!-- meshgate-docs: fragment at case|spec|check|request|expect -->``: keys
  of that place of a case, each value validated by the case model's field;
- ``<!-- meshgate-docs: outline -->``: the shape of a case document; its keys
  must be the model's (values such as ``[...]`` are not read);
- ``<!-- meshgate-docs: not a case: WHY -->``: other YAML (a report), parsed only.

A ```` ```python ```` block after ``<!-- meshgate-docs: test module -->`` is a
user's test module (docs/python-api.md): pytest runs it on the local target,
and all its tests must pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from pytest_meshgate._cases.analysis import analyze
from pytest_meshgate._cases.loader import load_case_file
from pytest_meshgate._cases.model.case import Case, CaseMetadata, CaseSpec, Check
from pytest_meshgate._cases.model.expect import Expect
from pytest_meshgate._cases.model.request import Request
from pytest_meshgate._cases.source import Source
from pytest_meshgate._errors import CheckFailed, TargetError
from pytest_meshgate._suite.run import run_check
from pytest_meshgate._targets.local import LocalTarget

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*meshgate-docs:\s*(?P<what>.*?)\s*-->\s*$")
_PLACES: dict[str, type[BaseModel]] = {
    "case": Case,
    "spec": CaseSpec,
    "check": Check,
    "request": Request,
    "expect": Expect,
}


@dataclass(frozen=True)
class Block:
    """One fenced YAML block: where it is, what the comment before it says, its text."""

    path: Path
    line: int  # of the first line inside the fence, 1-based
    text: str
    directive: str  # "" for a complete case
    language: str = "yaml"

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def source(self) -> Source:
        """The block as a file whose lines are the Markdown file's: errors name them."""
        return Source(self.path, "\n" * (self.line - 1) + self.text)


def yaml_blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        language = (opening["info"].split() or [""])[0].lower()
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        before = _DIRECTIVE.match(lines[i - 1]) if i > 0 else None
        body = "\n".join(line[indent:] for line in lines[i + 1 : end]) + "\n"
        if language in ("yaml", "yml"):
            yield Block(path, i + 2, body, before["what"] if before else "")
        elif language == "python" and before is not None and before["what"] == "test module":
            yield Block(path, i + 2, body, "test module", "python")
        i = end + 1


ALL_BLOCKS = [block for path in DOCUMENTS for block in yaml_blocks(path)]
BLOCKS = [b for b in ALL_BLOCKS if b.language == "yaml"]


@pytest.fixture(scope="module")
def target() -> Iterator[LocalTarget]:
    local = LocalTarget()
    try:
        yield local
    finally:
        local.close()


def test_the_documents_have_examples_of_each_kind() -> None:
    # The extraction itself: a regression here would make every test below vacuous.
    kinds = {block.directive.split(":")[0].split(" of ")[0] for block in BLOCKS}
    assert {"", "outline", "fragment"} <= {k.split()[0] if k else "" for k in kinds}
    readme = [b for b in BLOCKS if b.path.name == "README.md" and not b.directive]
    assert len(readme) >= 2, "README's routing and TLS examples are complete cases"
    assert [b.path.name for b in ALL_BLOCKS if b.language == "python"] == ["python-api.md"]


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_example(block: Block, target: LocalTarget) -> None:
    directive = block.directive
    if not directive:
        run_complete_case(block, target)
    elif directive.startswith("fragment of "):
        check_fragment_of_case(block, directive.removeprefix("fragment of "))
    elif directive.startswith("fragment at "):
        check_fragment_at(block, directive.removeprefix("fragment at ").strip())
    elif directive == "outline":
        check_outline(block)
    elif directive.startswith("not a case"):
        assert list(yaml.safe_load_all(block.text)), f"{block.where}: an empty block"
    else:
        pytest.fail(f"{block.where}: unknown meshgate-docs directive {directive!r}")


PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.language == "python"]


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.where for b in PYTHON_BLOCKS])
def test_python_example(block: Block, pytester: pytest.Pytester) -> None:
    """A documented test module, run as a user would run it: every test passes."""
    pytester.makepyfile(test_documented=block.text)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and outcomes.get("passed", 0) >= 1, (
        f"{block.where}: the documented test module fails:\n{result.stdout.str()}"
    )


def run_complete_case(block: Block, target: LocalTarget) -> None:
    """Load the block as a case file (includes from the Markdown file's directory) and run
    every check of every case on the local target."""
    loaded = load_case_file(block.path, root=ROOT, source=block.source())
    problems = [invalid.error.render() for invalid in loaded.invalid]
    assert not problems, f"{block.where}: not a valid case file:\n" + "\n\n".join(problems)
    assert loaded.cases, (
        f"{block.where}: no case here; mark a fragment with <!-- meshgate-docs: ... -->"
    )
    failures: list[str] = []
    for case in loaded.cases:
        findings = analyze(case)
        for index, check in enumerate(case.case.spec.checks):
            try:
                run_check(target, case, index, findings)
            except (CheckFailed, TargetError) as exc:
                failures.append(f"{block.where}: {exc}")
            except pytest.skip.Exception as exc:
                failures.append(f"{block.where}: check '{check.name}' was skipped: {exc}")
    target.deactivate()
    assert not failures, "\n\n".join(failures)


def check_fragment_of_case(block: Block, reference: str) -> None:
    """Every key and value of the block is in the named case, which loads."""
    file_name, _, case_name = reference.partition("#")
    path = ROOT / file_name
    loaded = load_case_file(path, root=ROOT)
    invalid = [d.error.render() for d in loaded.invalid if d.name == case_name]
    assert not invalid, f"{block.where}: the case it quotes is invalid:\n{invalid[0]}"
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    document = next((d for d in documents if d["metadata"]["name"] == case_name), None)
    assert document is not None, f"{block.where}: {file_name} has no case {case_name!r}"
    fragment = yaml.safe_load(block.text)
    assert any(contains(node, fragment) for node in walk(document)), (
        f"{block.where}: this fragment is not part of {reference} as written there"
    )


def check_fragment_at(block: Block, place: str) -> None:
    model = _PLACES.get(place)
    assert model is not None, f"{block.where}: unknown place {place!r} ({', '.join(_PLACES)})"
    fragment = yaml.safe_load(block.text)
    assert isinstance(fragment, dict), f"{block.where}: a fragment at {place} is a mapping"
    fields = {f.alias or name: f for name, f in model.model_fields.items()}
    for key, value in fragment.items():
        field = fields.get(key)
        assert field is not None, (
            f"{block.where}: {key!r} is not a key of {place} ({', '.join(sorted(fields))})"
        )
        checked: Any = (
            Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        )
        try:
            TypeAdapter(checked).validate_python(value)
        except ValidationError as exc:
            pytest.fail(f"{block.where}: {key}: {exc}")


def check_outline(block: Block) -> None:
    outline = yaml.safe_load(block.text)
    for key, model in ((None, Case), ("metadata", CaseMetadata), ("spec", CaseSpec)):
        part = outline if key is None else outline.get(key, {})
        known = {f.alias or name for name, f in model.model_fields.items()}
        unknown = sorted(set(part) - known)
        assert not unknown, f"{block.where}: {key or 'a case'} has no key {unknown[0]!r}"


def walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from walk(child)


def contains(node: Any, fragment: Any) -> bool:
    """``fragment`` is in ``node``: its keys with values contained in theirs, its list
    items each in some item of the list, scalars equal."""
    if isinstance(fragment, dict):
        return isinstance(node, dict) and all(
            k in node and contains(node[k], v) for k, v in fragment.items()
        )
    if isinstance(fragment, list):
        return isinstance(node, list) and all(any(contains(n, f) for n in node) for f in fragment)
    return bool(node == fragment)


def test_contains_is_strict() -> None:
    document = {"spec": {"checks": [{"name": "a", "expect": {"status": 404}}]}}
    assert contains(document, {"spec": {"checks": [{"name": "a"}]}})
    assert not contains(document, {"spec": {"checks": [{"name": "a", "expect": {"status": 200}}]}})
    assert not contains(document, {"spec": {"check": []}})
