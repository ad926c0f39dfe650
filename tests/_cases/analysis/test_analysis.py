"""Tests of analyze(): findings printed, sorted and de-duplicated as istioctl does."""

from __future__ import annotations

from pathlib import Path

from analysis_cases import case_with, findings_for

from pytest_meshgate._cases.analysis import MESSAGES, Finding, analyze, at_or_above
from pytest_meshgate._cases.analysis.findings import sorted_findings
from pytest_meshgate._cases.analysis.messages import go_sprintf


def _finding(code: str, level: str, name: str = "default/a", message: str = "m") -> Finding:
    return Finding(code, level, message, "Gateway", name, Path("/x/c.yaml"), 3)  # type: ignore[arg-type]


def test_go_sprintf_as_go_prints() -> None:
    assert go_sprintf("Referenced %s not found: %q", ("gateway", 'a"b')) == (
        'Referenced gateway not found: "a\\"b"'
    )
    assert (
        go_sprintf("ports %v, port %d, 100%%", ([80, 443], 8004))
        == "ports [80 443], port 8004, 100%"
    )
    assert go_sprintf("hosts %v", (["a.com", "b.com"],)) == "hosts [a.com b.com]"


def test_messages_carry_istio_codes_and_levels() -> None:
    levels = {code: m.level for code, m in MESSAGES.items()}
    assert levels["IST0101"] == "Error"
    assert levels["IST0132"] == "Warning"
    assert levels["IST0162"] == "Warning"
    assert levels["IST0145"] == "Error"
    assert set(MESSAGES) >= {"IST0101", "IST0109", "IST0110", "IST0128", "IST0129", "IST0145"}


def test_finding_prints_like_istioctl() -> None:
    finding = Finding(
        "IST0101",
        "Error",
        'Referenced gateway not found: "foo"',
        "VirtualService",
        "default/reviews",
        Path("/x/cases/x.yaml"),
        12,
    )
    assert str(finding) == (
        "Error [IST0101] (VirtualService default/reviews /x/cases/x.yaml:12) "
        'Referenced gateway not found: "foo"'
    )


def test_levels_and_thresholds() -> None:
    assert at_or_above("Error", "Warning") and at_or_above("Warning", "Warning")
    assert not at_or_above("Info", "Warning") and not at_or_above("Warning", "Error")


def test_sorted_worst_first_and_deduplicated() -> None:
    findings = [
        _finding("IST0132", "Warning"),
        _finding("IST0101", "Error", "default/b"),
        _finding("IST0101", "Error", "default/a"),
        _finding("IST0101", "Error", "default/a"),
    ]
    assert [(f.code, f.name) for f in sorted_findings(findings)] == [
        ("IST0101", "default/a"),
        ("IST0101", "default/b"),
        ("IST0132", "default/a"),
    ]


def test_a_correct_case_has_no_findings(tmp_path: Path) -> None:
    workloads = """
    services: [{name: reviews, ports: [{name: http, port: 9080}], versions: [v1, v2]}]
    clients: [{name: sleep}]
    """
    manifests = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: app-gateway}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: [app.example.com]
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: app}
    spec:
      hosts: [app.example.com]
      gateways: [app-gateway]
      http:
      - route: [{destination: {host: reviews, subset: v1}}]
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [reviews]
      http:
      - route: [{destination: {host: reviews, subset: v2}}]
    ---
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews}
    spec:
      host: reviews
      subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
    ---
    apiVersion: networking.istio.io/v1
    kind: Sidecar
    metadata: {name: default, namespace: default}
    spec:
      egress: [{hosts: ["./*", "istio-system/*"]}]
    """
    assert findings_for(tmp_path, manifests, workloads) == []


def test_findings_are_about_the_live_definition_of_a_replaced_object(tmp_path: Path) -> None:
    # The first definition's gateway exists; the one that replaced it names one that does not.
    manifests = """
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [reviews]
      http:
      - route: [{destination: {host: reviews}}]
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [reviews]
      gateways: [nowhere]
      http:
      - route: [{destination: {host: reviews}}]
    """
    loaded = case_with(
        tmp_path, manifests, "services: [{name: reviews, ports: [{name: http, port: 9080}]}]"
    )
    found = [f for f in analyze(loaded) if f.code == "IST0101"]
    (finding,) = found
    assert finding.message == 'Referenced gateway not found: "nowhere"'
    assert finding.path == tmp_path / "manifests.yaml"
    assert finding.line == 14  # spec.gateways[0] of the second document
