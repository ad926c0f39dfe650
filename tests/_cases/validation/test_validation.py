"""Validation at collection, end to end: the loader makes an Istio-invalid resource an invalid
case at its line, with every problem at once; webhook warnings become MeshgateWarnings; a real
run (pytester, the local target's Envoy) reports the invalid case as an ERROR and runs the rest."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

# Imported before any in-process pytester run, which would otherwise drop and re-import
# cryptography (through trustme) and break its C bindings' class identities.
import trustme  # noqa: F401

from pytest_meshgate import MeshgateWarning
from pytest_meshgate._cases.loader import load_case_file

Write = Callable[[str, str], Path]

HEADER = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
"""

GOOD = (
    HEADER
    + """metadata: {name: good}
spec:
  services:
  - name: reviews
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
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [app.example.com]
      gateways: [app-gateway]
      http:
      - match: [{uri: {prefix: /reviews}}]
        route: [{destination: {host: reviews}}]
  checks:
  - name: reaches reviews
    request: {url: "http://app.example.com/reviews/1"}
    expect: {backend: reviews}
"""
)

# Three of Istio's rejections in one VirtualService: all are reported, each at its line.
INVALID = (
    HEADER
    + """metadata: {name: invalid}
spec:
  services:
  - name: reviews
    ports: [{name: http, port: 9080}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [app.*.example.com]
      gateways: [app-gateway]
      http:
      - match: [{uri: {regex: "^/(?!admin)"}}]
        redirect: {uri: /elsewhere}
        route: [{destination: {host: reviews}}]
        timeout: 1ns
  checks:
  - name: anything
    request: {url: "http://app.example.com/"}
"""
)


def headlines(path: Path) -> list[str]:
    result = load_case_file(path)
    return [p.headline() for d in result.invalid for p in d.error.problems]


def test_an_istio_invalid_resource_makes_its_case_invalid_with_every_problem(write: Write) -> None:
    path = write("c.yaml", INVALID)
    result = load_case_file(path)
    assert result.cases == []
    assert [p.headline() for p in result.invalid[0].error.problems] == [
        f'{path}:13:15: spec.resources[0].spec.hosts[0]: domain name "*.example.com" invalid (label "*" invalid)',
        f'{path}:16:31: spec.resources[0].spec.http[0].match[0].uri.regex: "uri": error parsing regexp '
        '"^/(?!admin)": invalid perl operator: (?!; Istio uses RE2 style regex-based match '
        "(https://github.com/google/re2/wiki/Syntax)",
        f"{path}:18:16: spec.resources[0].spec.http[0].route: HTTP route cannot contain both route and redirect",
        f"{path}:19:18: spec.resources[0].spec.http[0].timeout: duration must be greater than 1ms",
    ]


def test_one_invalid_case_does_not_hide_the_others(write: Write) -> None:
    path = write("c.yaml", GOOD + "---\n" + INVALID)
    result = load_case_file(path)
    assert [c.name for c in result.cases] == ["good"]
    assert [d.name for d in result.invalid] == ["invalid"]


def test_problems_in_an_included_manifest_point_into_it(write: Write) -> None:
    write(
        "manifests/gw.yaml",
        """
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: gw}
        spec:
          servers:
          - port: {number: 443, name: https, protocol: HTTPS}
            hosts: [app.example.com]
        """,
    )
    case = GOOD.replace(
        "  - apiVersion: networking.istio.io/v1\n    kind: Gateway",
        "  - include: manifests/gw.yaml\n  - apiVersion: networking.istio.io/v1\n    kind: Gateway",
        1,
    )
    path = write("c.yaml", case)
    (line,) = headlines(path)
    assert line == (
        f"{path.parent / 'manifests' / 'gw.yaml'}:6:48: spec.resources[0].spec.servers[0].port.protocol: "
        "server must have TLS settings for HTTPS/TLS protocols"
    )


WARNED = GOOD.replace(
    "gateways: [app-gateway]", "gateways: [app-gateway.default.svc.cluster.local]"
).replace("{name: good}", "{name: warned}")
LEGACY = 'using legacy gatewayName format "app-gateway.default.svc.cluster.local"'


def test_webhook_warnings_stay_with_the_loaded_case(write: Write) -> None:
    path = write("c.yaml", WARNED)
    (loaded,) = load_case_file(path).cases
    (warning,) = loaded.warnings
    assert warning.headline() == (
        f"{path}:22:18: spec.resources[1].spec.gateways[0]: {LEGACY}; prefer the <namespace>/<name> "
        'format: "default/app-gateway"'
    )


def test_expected_warnings_are_not_kept(write: Write) -> None:
    text = WARNED.replace(
        "metadata: {name: warned}", f"metadata:\n  name: warned\n  expectedWarnings: ['{LEGACY}']"
    )
    (loaded,) = load_case_file(write("c.yaml", text)).cases
    assert loaded.warnings == ()


def test_an_expected_warning_no_resource_gives_is_an_error(write: Write) -> None:
    text = GOOD.replace(
        "metadata: {name: good}",
        "metadata:\n  name: good\n  expectedWarnings: [something Istio never says]",
    )
    path = write("c.yaml", text)
    assert headlines(path) == [
        f"{path}:5:22: metadata.expectedWarnings[0]: no resource of this case gives the expected "
        "warning 'something Istio never says'"
    ]


# ------------------------------------------------------------------ pytest, for real


def test_the_invalid_case_is_an_error_at_its_line_and_the_good_one_passes(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", good=GOOD, invalid=INVALID)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "invalid.yaml:18:16: spec.resources[0].spec.http[0].route: HTTP route cannot contain both route and redirect",
            "18 |         route: [{destination: {host: reviews}}]",
            "*|                ^",
        ]
    )
    out = result.stdout.str()
    assert (
        'invalid.yaml:13:15: spec.resources[0].spec.hosts[0]: domain name "*.example.com" invalid'
        in out
    )
    assert (
        "invalid.yaml:19:18: spec.resources[0].spec.http[0].timeout: duration must be greater than 1ms"
        in out
    )
    assert "Traceback" not in out


def test_a_warning_is_a_pytest_warning_naming_file_and_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", warned=WARNED)
    # The project's own filterwarnings = error reaches in-process runs: say what a user's is.
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--collect-only",
        "-q",
        "-W",
        "default::pytest_meshgate.MeshgateWarning",
    )
    result.stdout.fnmatch_lines(
        [
            "*warnings summary*",
            # A WebhookWarning, which the MeshgateWarning filter covers as its subclass.
            # (fnmatch: [[] is a literal "[")
            f"*warned.yaml:22: WebhookWarning: warned.yaml:22:18: spec.resources[[]1].spec.gateways[[]0]: {LEGACY}*",
        ]
    )


def test_warnings_made_errors_make_the_case_invalid(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", warned=WARNED, good=GOOD)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-W", "error::pytest_meshgate.MeshgateWarning"
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [f"warned.yaml:22:18: spec.resources[[]1].spec.gateways[[]0]: {LEGACY}*"]
    )


def test_the_collector_emits_meshgate_warnings(pytester: pytest.Pytester) -> None:
    path = pytester.makefile(".yaml", warned=WARNED)
    with pytest.warns(MeshgateWarning, match="using legacy gatewayName format") as caught:
        pytester.getitems(path)
    (record,) = caught.list
    assert (Path(record.filename).name, record.lineno) == ("warned.yaml", 22)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_case_file(path)  # loading alone never warns: the collector decides
