"""``validate``: the files it finds, what it reports, its exit codes, and that pytest agrees."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

Write = Callable[[str, str], Path]

GOOD = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: NAME}
spec:
  services: [{name: reviews, ports: [{name: http, port: 9080}]}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [reviews]
      http:
      - route: [{destination: {host: reviews}}]
  checks:
  - {name: c, request: {url: "http://app.example.com/"}}
"""

TYPO = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: typo}
spec:
  checks:
  - name: c
    request: {url: "http://a.example.com/", methd: GET}
"""

# Istio's webhook refuses it (validation.go: "HTTP route cannot contain both route and redirect").
REFUSED = GOOD.replace(
    "      - route: [{destination: {host: reviews}}]",
    "      - route: [{destination: {host: reviews}}]\n        redirect: {uri: /x}",
)


def validate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_meshgate", "validate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=120,
    )


def good(name: str) -> str:
    return GOOD.replace("NAME", name)


def test_valid_files_exit_0_and_say_so(write: Write, tmp_path: Path) -> None:
    write("cases/a.yaml", good("a"))
    write("cases/b.yml", good("b") + "---\n" + good("b2"))
    result = validate(tmp_path, "cases")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == (
        "meshgate validate: valid: 2 case files (0 invalid), 3 valid cases, 0 errors, "
        "0 warnings, 0 files skipped"
    )


def test_a_problem_is_printed_as_collection_prints_it_and_exits_1(
    write: Write, tmp_path: Path
) -> None:
    write("cases/a.yaml", good("a"))
    write("cases/typo.yaml", TYPO)
    result = validate(tmp_path, "cases")
    assert result.returncode == 1
    assert result.stdout.splitlines()[:4] == [
        "cases/typo.yaml:7:45: spec.checks[0].request.methd: unknown key (did you mean 'method'?)",
        "  |",
        '7 |     request: {url: "http://a.example.com/", methd: GET}',
        "  |                                             ^",
    ]
    assert "2 case files (1 invalid), 1 valid case, 1 error" in result.stdout


def test_webhook_rules_are_applied(write: Write, tmp_path: Path) -> None:
    write("refused.yaml", REFUSED.replace("NAME", "r"))
    result = validate(tmp_path, "refused.yaml")
    assert result.returncode == 1
    assert result.stdout.startswith(
        "refused.yaml:13:16: spec.resources[0].spec.http[0].route: "
        "HTTP route cannot contain both route and redirect\n"
    )


def test_collection_refusals_apply_too(write: Write, tmp_path: Path) -> None:
    write(
        "a.yaml",
        good("same").replace(
            "metadata: {name: same}", "metadata: {name: same, features: [Gatewy]}"
        ),
    )
    write("b.yaml", good("same"))
    result = validate(tmp_path, ".")
    assert result.returncode == 1
    out = result.stdout
    assert (
        "a.yaml:3:35: metadata.features[0]: unknown feature 'Gatewy' (did you mean 'Gateway'?)"
        in out
    )
    assert "b.yaml:3:18: metadata.name: duplicate case name 'same' (first used in a.yaml:1)" in out


def test_files_that_are_not_cases_are_skipped_and_said_so(write: Write, tmp_path: Path) -> None:
    write("ci.yml", "name: ci\non: [push]\n")
    write("a.yaml", good("a"))
    write("notes.txt", "not yaml")
    result = validate(tmp_path, "ci.yml", "a.yaml", "notes.txt")
    assert result.returncode == 0
    assert "skipped (not a meshgate case file): ci.yml" in result.stdout
    assert "skipped (not a meshgate case file): notes.txt" in result.stdout
    assert (
        "1 case file (0 invalid), 1 valid case, 0 errors, 0 warnings, 2 files skipped"
        in result.stdout
    )


def test_directories_are_searched_as_pytest_searches_them(write: Write, tmp_path: Path) -> None:
    write("suite/deep/er/a.yaml", TYPO)
    for hidden in (".git/x.yaml", "build/x.yaml", "node_modules/x.yaml", "env/x.yaml"):
        write(f"suite/{hidden}", TYPO)
    write("suite/env/pyvenv.cfg", "home = /usr\n")  # a virtualenv, whatever its name
    (tmp_path / "suite" / "loop").symlink_to(".")
    result = validate(tmp_path, "--format", "json", "suite")
    document = json.loads(result.stdout)
    assert [f["path"] for f in document["files"]] == ["suite/deep/er/a.yaml"]


def test_an_include_outside_the_include_root_is_refused(write: Write, tmp_path: Path) -> None:
    write(
        "shared/vs.yaml",
        GOOD.split("  resources:\n  - ")[1].split("  checks:")[0].replace("\n    ", "\n"),
    )
    case = (
        good("inc").split("  resources:")[0]
        + "  resources:\n  - include: ../shared/vs.yaml\n"
        + "  checks:"
        + GOOD.split("  checks:")[1]
    )
    write("cases/inc.yaml", case)
    assert validate(tmp_path, "cases").returncode == 0  # default root: the working directory
    refused = validate(tmp_path, "--include-root", "cases", "cases")
    assert refused.returncode == 1
    assert "include '../shared/vs.yaml' resolves outside the include root" in refused.stdout


def test_warnings_are_reported_and_fail_only_with_strict(write: Write, tmp_path: Path) -> None:
    vs = GOOD.split("  resources:\n")[1].split("  checks:")[0]
    write("twice.yaml", good("t").replace("  checks:", vs + "  checks:", 1))
    result = validate(tmp_path, "twice.yaml")
    assert result.returncode == 0
    assert result.stdout.startswith(
        "twice.yaml:14:5: warning: VirtualService default/reviews defined again at twice.yaml:14"
    )
    strict = validate(tmp_path, "--strict", "twice.yaml")
    assert strict.returncode == 1
    assert strict.stdout.startswith("twice.yaml:14:5: VirtualService default/reviews defined again")


def test_json_is_one_document(write: Write, tmp_path: Path) -> None:
    write("a.yaml", good("a") + "---\n" + TYPO)
    write("ci.yml", "on: [push]\n")
    result = validate(tmp_path, "--format", "json", ".")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["valid"] is False
    assert document["files"] == [
        {
            "path": "a.yaml",
            "status": "invalid",
            "cases": ["a"],
            "problems": [
                {
                    "severity": "error",
                    "path": "a.yaml",
                    "line": 24,  # the second document: after the first and its `---`
                    "column": 45,
                    "key": "spec.checks[0].request.methd",
                    "message": "unknown key (did you mean 'method'?)",
                }
            ],
        },
        {"path": "ci.yml", "status": "skipped", "cases": [], "problems": []},
    ]
    assert document["summary"] == {
        "files": 2,
        "valid": 0,
        "invalid": 1,
        "skipped": 1,
        "cases": 1,
        "errors": 1,
        "warnings": 0,
    }


def test_github_annotations(write: Write, tmp_path: Path) -> None:
    write("a,b.yaml", TYPO.replace("methd: GET", "methd: GET, 'x:y': 1"))
    result = validate(tmp_path, "--format", "github", "a,b.yaml")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "::error file=a%2Cb.yaml,line=7,col=45,title=meshgate error%3A spec.checks[0].request.methd"
        "::unknown key (did you mean 'method'?)",
        "::error file=a%2Cb.yaml,line=7,col=57,title=meshgate error%3A spec.checks[0].request.x:y".replace(
            "x:y", "x%3Ay"
        )
        + "::unknown key (allowed: body, concurrency, count, from, gateway, grpc, headers, http2, jwt, method, "
        "timeout, tls, url, websocket)",
    ]
    assert lines[-1].startswith("meshgate validate: invalid: 1 case file (1 invalid)")


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = validate(tmp_path, "missing.yaml")
    assert result.returncode == 2
    assert result.stderr == "error: no such file or directory: missing.yaml\n"


def test_validate_and_pytest_agree(pytester: pytest.Pytester) -> None:
    """Every file validate passes pytest collects cleanly, and every file it fails pytest fails."""
    pytester.makefile(
        ".yaml", good=good("good"), typo=TYPO, refused=REFUSED.replace("NAME", "refused")
    )
    pytester.makefile(".yaml", dup=good("good"))
    collected = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    assert collected.ret == pytest.ExitCode.TESTS_FAILED
    located = (re.match(r"(\w+\.yaml):\d+:\d+: ", line) for line in collected.stdout.lines)
    invalid = {match.group(1) for match in located if match}
    result = validate(pytester.path, "--format", "json", ".")
    document = json.loads(result.stdout)
    refused = {f["path"] for f in document["files"] if f["status"] == "invalid"}
    # dup.yaml is collected first, so good.yaml holds the duplicate name, for both.
    assert refused == invalid == {"good.yaml", "refused.yaml", "typo.yaml"}
