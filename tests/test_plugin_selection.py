"""Selecting checks as pytest users do: ids pasted back, -m, -k, and -p no:meshgate."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]

# Check names with dots, spaces, brackets and slashes, as the case model allows them.
NAMES = ["v1.routes", "a [b] c/d e", "reviews/v2.json", "plain"]

CASE = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata:
  name: {name}
  features: [{features}]
spec:
  services:
  - name: reviews
    ports: [{{name: http, port: 9080}}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {{name: app-gateway}}
    spec:
      selector: {{istio: ingressgateway}}
      servers:
      - port: {{number: 80, name: http, protocol: HTTP}}
        hosts: [app.example.com]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {{name: reviews}}
    spec:
      hosts: [app.example.com]
      gateways: [app-gateway]
      http:
      - route: [{{destination: {{host: reviews}}}}]
  checks:
{checks}"""


def _case(name: str, features: str, names: list[str]) -> str:
    checks = "".join(
        f"  - name: '{check}'\n"
        '    request: {url: "http://app.example.com/"}\n'
        "    expect: {backend: {service: reviews}}\n"
        for check in names
    )
    return CASE.format(name=name, features=features, checks=checks)


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(
        ".yaml",
        routing=_case("routing", "Gateway, VirtualService", NAMES),
        mirror=_case("mirror-cases", "Gateway, VirtualService, HTTPMirror", ["copies"]),
    )
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    return pytester


def _collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q", *args)
    ids = [line for line in result.stdout.lines if "::" in line]
    assert result.ret == (0 if ids else pytest.ExitCode.NO_TESTS_COLLECTED), result.stdout.str()
    return ids


def test_ids_shown_under_verbose_select_exactly_their_check(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", "-v", "routing.yaml", "mirror.yaml")
    result.assert_outcomes(passed=5)
    shown = [m.group(1) for m in re.finditer(r"^(\S.*::.*) PASSED", result.stdout.str(), re.M)]
    # pytest rewrote a dotted domain as a Python path: 'v1.routes' showed as 'v1::routes'.
    assert shown == [
        *(f"routing.yaml::routing::{name}" for name in NAMES),
        "mirror.yaml::mirror-cases::copies",
    ]
    assert sorted(_collected(suite)) == sorted([*shown, "test_plain.py::test_plain"])
    for test_id in shown:
        assert _collected(suite, test_id) == [test_id]


def test_the_junit_report_keeps_the_id_whole(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", "--junitxml=junit.xml", "routing.yaml")
    result.assert_outcomes(passed=4)
    ids = [
        prop.get("value")
        for prop in ET.parse(suite.path / "junit.xml").iter("property")
        if prop.get("name") == "meshgate_id"
    ]
    assert ids == [f"routing.yaml::routing::{name}" for name in NAMES]
    for test_id in ids:
        assert test_id is not None and _collected(suite, test_id) == [test_id]


def test_every_check_carries_the_meshgate_marker(suite: pytest.Pytester) -> None:
    checks = [f"routing.yaml::routing::{name}" for name in NAMES]
    everything = [*checks, "mirror.yaml::mirror-cases::copies"]
    assert sorted(_collected(suite, "--strict-markers", "-m", "meshgate")) == sorted(everything)
    assert _collected(suite, "-m", "not meshgate") == ["test_plain.py::test_plain"]


def test_m_selects_by_case_feature_and_profile(suite: pytest.Pytester) -> None:
    mirror = ["mirror.yaml::mirror-cases::copies"]
    assert _collected(suite, "--strict-markers", "-m", "meshgate_case(name='mirror-cases')") == (
        mirror
    )
    assert _collected(suite, "-m", "meshgate_feature(name='HTTPMirror')") == mirror
    assert len(_collected(suite, "-m", "meshgate_profile(name='ISTIO-INGRESS-HTTP')")) == 5
    assert _collected(suite, "-m", "meshgate_profile(name='GATEWAY-HTTP')") == []


def test_k_matches_case_names_check_names_and_features(suite: pytest.Pytester) -> None:
    mirror = ["mirror.yaml::mirror-cases::copies"]
    assert _collected(suite, "-k", "HTTPMirror") == mirror
    assert _collected(suite, "-k", "mirror-cases") == mirror
    assert _collected(suite, "-k", "v1.routes") == ["routing.yaml::routing::v1.routes"]
    assert _collected(suite, "-k", "routing and not plain and not v1") == [
        "routing.yaml::routing::a [b] c/d e",
        "routing.yaml::routing::reviews/v2.json",
    ]


def test_p_no_meshgate_disables_the_plugin(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", "-p", "no:meshgate", "--collect-only", "-q")
    assert result.ret == 0
    assert [line for line in result.stdout.lines if "::" in line] == ["test_plain.py::test_plain"]
    # Its options are gone with it.
    refused = suite.runpytest("-p", "no:meshgate", "--meshgate-target=local")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*unrecognized arguments: --meshgate-target=local*"])


def test_ambiguous_check_names_are_errors_at_their_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        twice=_case("twice", "Gateway", ["same", "other", "same"]),
        bracket=_case("bracket", "Gateway", ["x", "x[1]"]),
        fine=_case("fine", "Gateway", ["x [1]", "x"]),
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "twice.yaml:*:11: spec.checks?2?.name: duplicate check 'same'",
        ],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(
        [
            "bracket.yaml:31:11: spec.checks?1?.name: check name 'x?1?': pytest selects it with "
            "the id of check 'x' too (it reads '?...?' as a parametrization); rename one",
        ],
        consecutive=False,
    )
    assert "fine.yaml::fine::x [1]" in result.stdout.lines
    assert "fine.yaml::fine::x" in result.stdout.lines
