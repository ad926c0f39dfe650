"""End-to-end tests of collection warnings: replaced objects and --meshgate-analyze findings."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

REPEATED = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: repeated}
spec:
  services: [{name: reviews, ports: [{name: http, port: 9080}], versions: [v1, v2]}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [reviews]
      http:
      - route: [{destination: {host: reviews}}]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [reviews]
      http:
      - route: [{destination: {host: reviews}}]
  checks:
  - {name: one, request: {url: "http://a.example.com/"}}
---
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: plain}
spec:
  checks:
  - {name: two, request: {url: "http://a.example.com/"}}
"""

FINDINGS = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: findings}
spec:
  services: [{name: reviews, ports: [{name: http, port: 9080}]}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [app.example.com]
      gateways: [no-such-gateway]
      http:
      - route: [{destination: {host: reviews}}]
  checks:
  - {name: one, request: {url: "http://app.example.com/"}}
"""


def test_a_replaced_object_is_a_warning_naming_both_places(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", cases=REPEATED)
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*cases.yaml:14: ReplacedResourceWarning: VirtualService default/reviews defined "
            "again at cases.yaml:14 replaces its definition at cases.yaml:7, *",
            "*2 tests collected*",
        ]
    )


def test_a_refused_replacement_warning_makes_only_that_case_an_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", cases=REPEATED)
    result = pytester.runpytest(
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "-W",
        "error::pytest_meshgate.ReplacedResourceWarning",
    )
    # The other case of the file is still collected; this one is an invalid case at that line.
    result.stdout.fnmatch_lines(
        [
            "cases.yaml::repeated",
            "cases.yaml::plain::two",
            "*meshgate: invalid case documents*",
            "cases.yaml:14:5: VirtualService default/reviews defined again at cases.yaml:14 *",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_silenced_by_category(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", cases=REPEATED)
    result = pytester.runpytest(
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest_meshgate.MeshgateWarning",
    )
    assert "ReplacedResourceWarning" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*2 tests collected*"])


def test_meshgate_analyze_warns_every_finding_at_collection(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", findings=FINDINGS)
    result = pytester.runpytest(
        "--collect-only", "-q", "-p", "no:cacheprovider", "--meshgate-analyze"
    )
    assert result.ret == 0
    out = result.stdout.str()
    # file:line (where pytest locates the warning), then istioctl's line: level, code, origin.
    assert (
        "findings.yaml:12: AnalysisWarning: Error [IST0101] (VirtualService default/reviews "
        'findings.yaml:12) Referenced gateway not found: "no-such-gateway"'
    ) in out
    assert (
        "findings.yaml:12: AnalysisWarning: Warning [IST0132] (VirtualService default/reviews "
        "findings.yaml:12) one or more host [app.example.com] defined in VirtualService "
        "default/reviews not found in Gateway default/no-such-gateway."
    ) in out
    result.stdout.fnmatch_lines(["*1 test collected*"])


def test_findings_are_not_warnings_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", findings=FINDINGS)
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    assert "AnalysisWarning" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*1 test collected*"])


def test_refused_findings_make_the_case_an_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmeshgate-analyze = true\n")
    pytester.makefile(".yaml", findings=FINDINGS)
    result = pytester.runpytest(
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "-W",
        "error::pytest_meshgate.AnalysisWarning",
    )
    result.stdout.fnmatch_lines(["findings.yaml::findings", "*meshgate: invalid case documents*"])
    assert (
        "findings.yaml:12:18: Error [IST0101] (VirtualService default/reviews findings.yaml:12) "
        'Referenced gateway not found: "no-such-gateway"'
    ) in result.stdout.str()


NOT_FOUND = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: not-found}
spec:
  checks:
  # No Gateway binds port 80, so the ingress gateway has no listener there.
  - {name: no listener, request: {url: "http://nowhere.example.com/"}, expect: {connection: refused}}
"""

FREEZE_REPORTER = """
import gc

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    print(f"frozen after collection: {gc.get_freeze_count() > 0}")
"""


def test_collected_objects_are_frozen_only_in_a_session_that_runs_case_checks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(FREEZE_REPORTER)
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    plain = pytester.runpytest_subprocess("--collect-only", "-s", "test_plain.py")
    plain.stdout.fnmatch_lines(["frozen after collection: False"])
    pytester.makefile(".yaml", cases=NOT_FOUND)
    listed = pytester.runpytest_subprocess("--collect-only", "-s", "cases.yaml")
    listed.stdout.fnmatch_lines(["frozen after collection: False"])  # nothing will run
    run = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", "cases.yaml")
    run.stdout.fnmatch_lines(["frozen after collection: True"])
    run.assert_outcomes(passed=1)
