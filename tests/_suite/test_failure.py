"""How failed checks read: the summary line, each --tb style, and statistical checks' diagnostics.

The end-to-end tests run real checks that fail through a real Envoy; the
unit tests pin the rendering of each style.
"""

from __future__ import annotations

import pickle
import xml.etree.ElementTree as ET

import pytest

from pytest_meshgate._errors import CheckFailed, TargetError
from pytest_meshgate._suite.failure import CheckFailureRepr, failure_repr

pytest_plugins = ["pytester"]

FAILING = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: fails}
spec:
  services:
  - name: reviews
    ports: [{name: http, port: 9080}]
    versions: [v1, v2]
  - name: shadow
    ports: [{name: http, port: 9080}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: app-gateway}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: [app.example.com]
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews}
    spec:
      host: reviews
      subsets:
      - {name: v1, labels: {version: v1}}
      - {name: v2, labels: {version: v2}}
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [app.example.com]
      gateways: [app-gateway]
      http:
      - match: [{uri: {prefix: /split}}]
        route:
        - {destination: {host: reviews, subset: v1}, weight: 90}
        - {destination: {host: reviews, subset: v2}, weight: 10}
      - match: [{uri: {prefix: /half}}]
        route: [{destination: {host: reviews, subset: v1}}]
        mirror: {host: shadow}
        mirrorPercentage: {value: 10}
      - route: [{destination: {host: reviews, subset: v1}}]
  checks:
  - name: v1.routes
    request: {url: "http://app.example.com/reviews/1"}
    expect: {status: 200, backend: {service: reviews, version: v2}}
  - name: even split
    request: {url: "http://app.example.com/split", count: 400}
    expect: {split: {reviews/v1: 50, reviews/v2: 50}}
  - name: all v2
    request: {url: "http://app.example.com/reviews", count: 10}
    expect: {counts: {reviews/v2: {atLeast: 10}}}
  - name: mirrored
    request: {url: "http://app.example.com/reviews", count: 5}
    expect: {mirroredTo: {service: shadow}}
  - name: half mirrored
    request: {url: "http://app.example.com/half", count: 400}
    expect: {mirroredTo: {service: shadow, share: 50}}
"""

# Where each check is written (the report's path:line).
LINES = {
    line.split("- name: ", 1)[1]: number
    for number, line in enumerate(FAILING.splitlines(), 1)
    if line.startswith("  - name: ")
}
BACKEND = "backend: expected reviews v2, got default/reviews v1"


@pytest.fixture
def failing(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makefile(".yaml", fails=FAILING)
    # The summary lines whole, as CI shows them (pytest cuts them at the width elsewhere).
    monkeypatch.setenv("CI", "true")
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p", "no:cacheprovider", "--meshgate-consistency-timeout=300ms", *args
    )


def test_the_whole_story_by_default_with_the_expectation_first(failing: pytest.Pytester) -> None:
    result = _run(failing, "-rf", "--junitxml=junit.xml")
    result.assert_outcomes(failed=5)
    out = result.stdout.str()
    # The summary line names the failed expectation, not the check's title.
    result.stdout.fnmatch_lines(
        [
            f"FAILED fails.yaml::fails::v1.routes - {BACKEND}",
            "FAILED fails.yaml::fails::even split - split: reviews/v1 *% (goal 50 %), "
            "reviews/v2 *% (goal 50 %) in * answers",
            "FAILED fails.yaml::fails::all v2 - counts.reviews/v2: expected >= 10 of 10 answers, "
            "got 0 (status/200: 10)",
            "FAILED fails.yaml::fails::mirrored - mirroredTo: shadow received 0 of 5 requests*",
            "FAILED fails.yaml::fails::half mirrored - mirroredTo: shadow: mirrored *% "
            "(goal 50 %), not mirrored *% (goal 50 %) in * answers",
        ],
        consecutive=False,
    )
    # Each story starts with where and what, then tells the rest.
    result.stdout.fnmatch_lines(
        [
            "*_ check 'v1.routes' of case 'fails' _*",
            f"fails.yaml:{LINES['v1.routes']}: {BACKEND}",
            "check 'v1.routes' of case 'fails' failed: * attempts in *s, needed 3 passing in a row",
            "",
            "sent:",
            "  GET http://app.example.com/reviews/1 *",
            "    host: app.example.com",
        ]
    )
    # split, counts and mirroredTo failures carry the access log and the routes like a
    # single check's: one story per check, five access logs and five route tables.
    stories = out.split("FAILURES", 1)[1].split("short test summary", 1)[0]
    assert stories.count("access log of istio-ingressgateway:") == 5, stories
    assert stories.count("routes of virtual host 'app.example.com:80'") == 5, stories
    # The split's example answer is one of the over-represented label (v1) ...
    split_story = stories.split("check 'even split'", 1)[1].split("check 'all v2'", 1)[0]
    assert "cluster=outbound|9080|v1|reviews.default.svc.cluster.local" in split_story
    # ... and a route table names the mirror policy a mirroredTo check depends on.
    assert "mirror to outbound|9080||shadow.default.svc.cluster.local (10 %)" in stories
    # JUnit's failure message is the same line; its body the whole story.
    tree = ET.parse(failing.path / "junit.xml")
    failures = {
        case.get("name"): case.find("failure")
        for case in tree.iter("testcase")
        if case.find("failure") is not None
    }
    v1 = failures["v1.routes"]
    assert v1 is not None and v1.get("message") == BACKEND
    assert "access log of istio-ingressgateway:" in (v1.text or "")


def test_tb_line_prints_one_line_per_failure(failing: pytest.Pytester) -> None:
    result = _run(failing, "--tb=line", "-k", "v1.routes or all")
    result.assert_outcomes(failed=2)
    section = result.stdout.str().split("FAILURES", 1)[1].split("=====", 1)[1]
    lines = [line for line in section.splitlines() if line.strip() and not line.startswith("=")]
    assert lines[:2] == [
        f"fails.yaml:{LINES['v1.routes']}: {BACKEND}",
        f"fails.yaml:{LINES['all v2']}: counts.reviews/v2: expected >= 10 of 10 answers, got 0 (status/200: 10)",
    ], section


def test_tb_short_is_the_compact_story(failing: pytest.Pytester) -> None:
    result = _run(failing, "--tb=short", "-k", "v1.routes")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ check 'v1.routes' of case 'fails' _*",
            f"fails.yaml:{LINES['v1.routes']}: {BACKEND}",
            "check 'v1.routes' of case 'fails' failed: *",
            "sent: GET http://app.example.com/reviews/1 *",
            "got: HTTP/1.1 200 OK *",
            "failed expectations:",
            f"  - {BACKEND}",
            "(--tb=long adds the headers, the target's diagnostics and the case's warnings)",
        ]
    )
    out = result.stdout.str()
    assert "access log of" not in out and "x-meshgate-id" not in out and "echo: {" not in out


def test_tb_no_shows_only_the_summary(failing: pytest.Pytester) -> None:
    result = _run(failing, "--tb=no", "-rf", "-k", "v1.routes")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "FAILURES" not in out and "sent:" not in out
    result.stdout.fnmatch_lines([f"FAILED fails.yaml::fails::v1.routes - {BACKEND}"])


def test_the_summary_line_survives_xdist(failing: pytest.Pytester) -> None:
    # Workers send reports as JSON; pytest alone would turn the longrepr into its text.
    result = _run(failing, "-n", "2", "--tb=line", "-rf", "-k", "v1.routes or all")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            f"fails.yaml:{LINES['v1.routes']}: {BACKEND}",
            f"FAILED fails.yaml::fails::v1.routes - {BACKEND}",
        ],
        consecutive=False,
    )
    assert "check 'v1.routes' of case 'fails' failed" not in result.stdout.str()


# ---------------------------------------------------------------- rendering


def _failed() -> CheckFailed:
    return CheckFailed(
        "check 'c' of case 'x' failed: 4 attempts\n\nsent:\n  GET http://a/\n    host: a\n"
        "failed expectations:\n  - status: expected 404, got 200\n  - backend: expected b\n\n"
        "access log of gw:\n  status=200",
        ["status: expected 404, got 200", "backend: expected b"],
        "check 'c' of case 'x' failed: 4 attempts\nsent: GET http://a/",
    )


def test_the_summary_joins_every_failed_expectation() -> None:
    rendered = failure_repr(_failed(), "x.yaml", 7, "long", 0)
    assert rendered.reprcrash.message == "status: expected 404, got 200; backend: expected b"
    assert str(rendered.reprcrash) == (
        "x.yaml:7: status: expected 404, got 200; backend: expected b"
    )
    assert rendered.text.splitlines()[:2] == [
        "x.yaml:7: status: expected 404, got 200; backend: expected b",
        "check 'c' of case 'x' failed: 4 attempts",
    ]
    assert "access log of gw:" in rendered.text and str(rendered) == rendered.text


@pytest.mark.parametrize(
    ("style", "has_sent_headers", "has_diagnostics"),
    [("auto", True, True), ("long", True, True), ("native", True, True), ("short", False, False)],
)
def test_each_style_tells_as_much_as_it_asks(
    style: str, has_sent_headers: bool, has_diagnostics: bool
) -> None:
    text = failure_repr(_failed(), "x.yaml", 7, style, 0).text
    assert ("    host: a" in text) is has_sent_headers
    assert ("access log of gw:" in text) is has_diagnostics
    assert text.startswith("x.yaml:7: status: expected 404")


def test_line_style_leaves_the_line_to_pytest() -> None:
    rendered = failure_repr(_failed(), "x.yaml", 7, "line", 0)
    assert rendered.text == ""
    assert str(rendered) == "x.yaml:7: status: expected 404, got 200; backend: expected b"


def _harness_error() -> TargetError:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        error = TargetError("case 'x', check 'c': harness error: ValueError: boom\n(hint)")
        error.__cause__ = exc
        return error


@pytest.mark.parametrize(
    ("style", "verbose", "traceback"),
    [
        ("auto", 0, False),
        ("short", 0, False),
        ("long", 0, True),
        ("native", 0, True),
        ("auto", 2, True),
    ],
)
def test_a_harness_error_keeps_its_traceback_when_asked(
    style: str, verbose: int, traceback: bool
) -> None:
    rendered = failure_repr(_harness_error(), "x.yaml", 3, style, verbose)
    assert rendered.reprcrash.message == "case 'x', check 'c': harness error: ValueError: boom"
    # Its first line is its summary already: located once, not repeated.
    assert rendered.text.startswith("x.yaml:3: case 'x', check 'c': harness error: ValueError")
    assert rendered.text.count("harness error: ValueError: boom") == 1
    assert ("Traceback (most recent call last):" in rendered.text) is traceback


def test_a_report_travels_as_json() -> None:
    rendered = failure_repr(_failed(), "x.yaml", 7, "long", 0)
    assert CheckFailureRepr.from_json(rendered.to_json()) == rendered


def test_check_failed_keeps_its_parts_when_pickled() -> None:
    error = pickle.loads(pickle.dumps(_failed()))
    assert error.failures == ("status: expected 404, got 200", "backend: expected b")
    assert error.brief.startswith("check 'c' of case 'x' failed") and "access log" in str(error)
    plain = CheckFailed("just a message")
    assert plain.failures == () and plain.brief == "just a message"
