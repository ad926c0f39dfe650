"""DestinationRule analyzers on Istio's own testdata (pkg/config/analysis/analyzers/testdata/),
adapted as cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_cases import findings_for, reported

CA = "destinationrule.CaCertificateAnalyzer"
SUBSETS = "destinationrule.SubsetSelectPodAnalyzer"

CLIENT_CERT = (
    "clientCertificate: /etc/certs/myclientcert.pem, privateKey: /etc/certs/client_private_key.pem"
)


def _rule(name: str, tls: str = "", ports: str = "", selector: str = "") -> str:
    lines = [
        "apiVersion: networking.istio.io/v1",
        "kind: DestinationRule",
        f"metadata: {{name: {name}}}",
        "spec:",
        "  host: mydbserver.prod.svc.cluster.local",
        "  trafficPolicy:",
    ]
    if tls:
        lines.append(f"    tls: {{{tls}}}")
    if ports:
        lines += [
            "    portLevelSettings:",
            "    - port: {number: 443}",
            f"      tls: {{{ports}}}",
        ]
    if selector:
        lines.append(f"  workloadSelector: {{matchLabels: {selector}}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("testdata", "manifest", "expected"),
    [
        (
            "destinationrule-simple-destination",
            _rule("db-tls", f"mode: SIMPLE, {CLIENT_CERT}"),
            ["IST0128"],
        ),
        (
            "destinationrule-mutual-destination",
            _rule("db-mtls", f"mode: MUTUAL, {CLIENT_CERT}"),
            ["IST0128"],
        ),
        (
            "destinationrule-simple-port",
            _rule("db-tls", ports=f"mode: SIMPLE, {CLIENT_CERT}"),
            ["IST0129"],
        ),
        (
            "destinationrule-mutual-port",
            _rule("db-mtls", ports=f"mode: MUTUAL, {CLIENT_CERT}"),
            ["IST0129"],
        ),
        (
            "destinationrule-simple-destination-credentialname",
            _rule("db-tls", "mode: SIMPLE, credentialName: db-credential"),
            ["IST0128"],
        ),
        (
            "destinationrule-simple-destination-credentialname-selector",
            _rule("db-tls", "mode: SIMPLE, credentialName: db-credential", selector="{app: db}"),
            [],
        ),
        (
            "destinationrule-simple-port-credentialname",
            _rule("db-tls", ports="mode: SIMPLE, credentialName: db-credential"),
            ["IST0129"],
        ),
        (
            "destinationrule-simple-port-credentialname-selector",
            _rule(
                "db-tls", ports="mode: SIMPLE, credentialName: db-credential", selector="{app: db}"
            ),
            [],
        ),
        (
            "destinationrule-compound-simple-mutual",
            _rule("db-mtls", f"mode: MUTUAL, {CLIENT_CERT}", f"mode: SIMPLE, {CLIENT_CERT}"),
            ["IST0128", "IST0129"],
        ),
        (
            "destinationrule-with-ca",
            _rule(
                "db-mtls",
                f"mode: MUTUAL, {CLIENT_CERT}, caCertificates: /etc/certs/root.pem",
                f"mode: SIMPLE, {CLIENT_CERT}, caCertificates: /etc/certs/root.pem",
            ),
            [],
        ),
        ("no TLS origination", _rule("plain", "mode: DISABLE", "mode: ISTIO_MUTUAL"), []),
    ],
)
def test_ca_certificates(tmp_path: Path, testdata: str, manifest: str, expected: list[str]) -> None:
    found = findings_for(tmp_path, manifest, analyzer=CA)
    assert sorted(f.code for f in found) == expected, testdata


def test_ca_certificate_messages_and_lines(tmp_path: Path) -> None:
    manifest = _rule("db-mtls", f"mode: MUTUAL, {CLIENT_CERT}", f"mode: SIMPLE, {CLIENT_CERT}")
    found = findings_for(tmp_path, manifest, analyzer=CA)
    assert [(f.code, f.level) for f in found] == [("IST0128", "Warning"), ("IST0129", "Warning")]
    destination, port = found
    assert destination.message == (
        "DestinationRule default/db-mtls in namespace default has TLS mode set to MUTUAL but no "
        "caCertificates are set to validate server identity for host: "
        "mydbserver.prod.svc.cluster.local"
    )
    assert port.message.endswith(
        "has TLS mode set to SIMPLE but no caCertificates are set to validate server identity "
        "for host: mydbserver.prod.svc.cluster.local at port number:443"
    )
    # caCertificates is not written: each is located at the tls it belongs in.
    lines = (tmp_path / "manifests.yaml").read_text().splitlines()
    assert lines[destination.line - 1].strip().startswith("tls: {mode: MUTUAL")
    assert lines[port.line - 1].strip().startswith("tls: {mode: SIMPLE")


def test_subsets_select_pods_and_known_hosts(tmp_path: Path) -> None:
    # testdata/destinationrule-subsets-not-select-pods.yaml and -with-fake-host.yaml; a
    # subset that does select a pod, as the negative case.
    workloads = "services: [{name: httpbin, ports: [{name: http, port: 8000}], versions: [v1]}]"
    manifests = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: subsets-not-select-pods, namespace: default}
spec:
  host: httpbin.default.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
  subsets:
  - {name: real, labels: {version: v1}}
  - {name: fake, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: fake-host, namespace: default}
spec:
  host: fake-svc.default.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
"""
    found = findings_for(tmp_path, manifests, workloads, SUBSETS)
    assert reported(found) == [
        ("IST0173", "DestinationRule default/subsets-not-select-pods"),
        ("IST0174", "DestinationRule default/fake-host"),
    ]
    by_code = {f.code: f for f in found}
    assert by_code["IST0173"].level == "Error"
    assert by_code["IST0173"].message == (
        "The Subset fake defined in the DestinationRule does not select any pods. Which may "
        "lead to 503 UH (NoHealthyUpstream)."
    )
    assert by_code["IST0174"].level == "Warning"
    assert by_code["IST0174"].message == (
        "The host fake-svc.default.svc.cluster.local defined in the DestinationRule does not "
        "match any services in the mesh."
    )
