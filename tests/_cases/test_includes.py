"""Includes resolve only to regular manifest files inside the root, and never leak what they name."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_meshgate._cases import limits
from pytest_meshgate._cases.loader import CaseFile, load_case_file

Write = Callable[[str, str], Path]

SECRET = "hunter2-do-not-print"

CASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: inc}
spec:
  resources:
  - include: TARGET
  checks:
  - name: x
    request: {url: "http://app.example.com/"}
"""

GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [app.example.com]
"""


def case_including(write: Write, target: str, name: str = "suite/c.yaml") -> Path:
    return write(name, CASE.replace("TARGET", target))


def rendered(result: CaseFile) -> str:
    return "\n".join(d.error.render() for d in result.invalid)


def only_headline(result: CaseFile) -> str:
    (document,) = result.invalid
    (problem,) = document.error.problems
    return problem.headline()


def test_an_include_inside_the_root_is_expanded(write: Write, tmp_path: Path) -> None:
    write("suite/manifests/gw.yaml", GATEWAY)
    result = load_case_file(case_including(write, "manifests/gw.yaml"), root=tmp_path / "suite")
    assert not result.invalid, rendered(result)
    (loaded,) = result.cases
    assert [r.kind for r in loaded.resources] == ["Gateway"]


def test_an_include_above_the_case_file_is_fine_when_the_root_holds_it(
    write: Write, tmp_path: Path
) -> None:
    write("shared/gw.yaml", GATEWAY)
    path = case_including(write, "../shared/gw.yaml")
    assert load_case_file(path, root=tmp_path).cases
    # The default root is the case file's own directory.
    assert "resolves outside the include root" in only_headline(load_case_file(path))


def test_an_absolute_include_is_refused_and_proc_is_never_read(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHGATE_TEST_SECRET", SECRET)
    path = case_including(write, "/proc/self/environ")
    result = load_case_file(path, root=Path("/"))
    assert only_headline(result) == (
        f"{path}:6:14: spec.resources[0].include: include takes a path relative to the "
        "case file, not '/proc/self/environ'"
    )
    assert SECRET not in rendered(result)


@pytest.mark.parametrize("target", ["../../../../../../../../proc/self/environ", "env.yaml"])
def test_proc_is_refused_even_when_the_root_is_slash(
    write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    monkeypatch.setenv("MESHGATE_TEST_SECRET", SECRET)
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "env.yaml").symlink_to("/proc/self/environ")
    result = load_case_file(case_including(write, target), root=Path("/"))
    assert f"include '{target}' resolves into /proc, a kernel file system" in only_headline(result)
    assert SECRET not in rendered(result)


def test_a_file_outside_the_root_is_not_read(write: Write, tmp_path: Path) -> None:
    write("outside.yaml", f"apiVersion: v1\nkind: Secret\ndata: {{token: {SECRET}}}\n")
    path = case_including(write, "../outside.yaml")
    result = load_case_file(path, root=tmp_path / "suite")
    assert only_headline(result) == (
        f"{path}:6:14: spec.resources[0].include: include '../outside.yaml' resolves outside "
        f"the include root {tmp_path / 'suite'} (includes stay inside the suite; see "
        "meshgate-include-root)"
    )
    assert SECRET not in rendered(result)


def test_a_symlink_out_of_the_root_is_resolved_and_refused(write: Write, tmp_path: Path) -> None:
    write("outside.yaml", f"token: {SECRET}\n")
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    result = load_case_file(case_including(write, "link.yaml"), root=tmp_path / "suite")
    assert "include 'link.yaml' resolves outside the include root" in only_headline(result)
    assert SECRET not in rendered(result)


def test_a_symlink_loop_is_a_located_error(write: Write, tmp_path: Path) -> None:
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "loop.yaml").symlink_to("loop.yaml")
    path = case_including(write, "loop.yaml")
    assert only_headline(load_case_file(path, root=tmp_path)) == (
        f"{path}:6:14: spec.resources[0].include: include 'loop.yaml' is a symlink loop"
    )


def test_only_regular_yaml_files(write: Write, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    os.mkfifo(suite / "pipe.yaml")  # reading it would block collection
    (suite / "dir.yaml").mkdir()
    write("suite/.git/config", f"[http]\n  extraheader = AUTHORIZATION: basic {SECRET}\n")
    cases = {
        "pipe.yaml": "include 'pipe.yaml' is not a regular file",
        "dir.yaml": "include 'dir.yaml' is not a regular file",
        ".git/config": "include '.git/config' is not a .yaml or .yml file",
        "c.yaml": "a case file cannot include itself",
    }
    for target, message in cases.items():
        result = load_case_file(case_including(write, target), root=suite)
        assert only_headline(result).endswith(f"spec.resources[0].include: {message}")
        assert SECRET not in rendered(result)


def test_includes_of_includes_and_cycles_are_located_in_the_included_file(
    write: Write, tmp_path: Path
) -> None:
    # c.yaml includes b.yaml, which includes c.yaml back.
    b = write("suite/b.yaml", "include: c.yaml\n")
    result = load_case_file(case_including(write, "b.yaml"), root=tmp_path)
    assert only_headline(result) == (
        f"{b}:1:1: include: includes do not nest; include the file from the case file instead"
    )


def test_an_included_case_file_is_refused(write: Write, tmp_path: Path) -> None:
    other = write("suite/other.yaml", CASE.replace("TARGET", "x.yaml"))
    result = load_case_file(case_including(write, "other.yaml"), root=tmp_path)
    assert only_headline(result) == (
        f"{other}:1:13: apiVersion: an included file holds manifests, not cases"
    )


def test_an_included_file_that_is_not_yaml_we_accept_is_never_quoted(
    write: Write, tmp_path: Path
) -> None:
    path = case_including(write, "bad.yaml")
    payloads = [
        f"token: [{SECRET}\n".encode(),  # not YAML
        f"token: {SECRET}\x01\n".encode(),  # a control character
        f"token: {SECRET}\xff\n".encode("latin-1"),  # not UTF-8
        f"- {SECRET}\n".encode(),  # YAML, but not a manifest
        f"a: &a [{SECRET}]\n".encode() + b"b: [" + b"*a, " * 1001 + b"]\n",  # too many aliases
    ]
    for payload in payloads:
        (tmp_path / "suite" / "bad.yaml").write_bytes(payload)
        result = load_case_file(path, root=tmp_path)
        assert result.invalid and not result.cases
        assert "bad.yaml:" in rendered(result), payload
        assert SECRET not in rendered(result), payload


def test_errors_inside_a_parsed_included_manifest_are_quoted(write: Write, tmp_path: Path) -> None:
    write("suite/gw.yaml", GATEWAY.replace("hosts: [app.example.com]", "hostz: [a]"))
    result = load_case_file(case_including(write, "gw.yaml"), root=tmp_path)
    assert "8 |     hostz: [a]" in rendered(result)


def test_the_node_budget_counts_every_inclusion(write: Write, tmp_path: Path) -> None:
    # One include of a 30,000-node file is fine; four of it are more than MAX_NODES.
    items = ", ".join(["1"] * 29_990)
    write(
        "suite/big.yaml",
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata: [{items}]\n",
    )
    once = load_case_file(case_including(write, "big.yaml"), root=tmp_path)
    assert "more than" not in rendered(once)
    four = CASE.replace("  - include: TARGET\n", "  - include: big.yaml\n" * 4)
    result = load_case_file(write("suite/c.yaml", four), root=tmp_path)
    assert (
        f"spec.resources[3].include: includes make this case file more than {limits.MAX_NODES}"
        in rendered(result)
    )


def test_too_many_includes(write: Write, tmp_path: Path) -> None:
    write("suite/gw.yaml", GATEWAY)
    many = CASE.replace(
        "  - include: TARGET\n", "  - include: gw.yaml\n" * (limits.MAX_INCLUDES + 5)
    )
    (document,) = load_case_file(write("suite/c.yaml", many), root=tmp_path).invalid
    messages = [p.message for p in document.error.problems if "includes in one" in p.message]
    assert messages == [f"more than {limits.MAX_INCLUDES} includes in one case file"]


def test_keys_of_any_type_beside_include(write: Write, tmp_path: Path) -> None:
    write("suite/gw.yaml", GATEWAY)
    text = CASE.replace("- include: TARGET", "- {include: gw.yaml, 1: x, b: y}")
    result = load_case_file(write("suite/c.yaml", text), root=tmp_path)
    assert "spec.resources[0].1: unknown key beside include" in rendered(result)
