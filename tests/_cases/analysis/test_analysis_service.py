"""The Service port name analyzer on Istio's testdata (service-no-port-name.yaml,
service-port-name.yaml), adapted as the case's echo services."""

from __future__ import annotations

from pathlib import Path

from analysis_cases import case_with, findings_for, reported

from pytest_meshgate._cases.analysis import analyze

NO_RESOURCES = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: unused}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [unused.example.com]
"""


def test_port_names_outside_the_convention(tmp_path: Path) -> None:
    # Unnamed ports (Istio's my-service1) cannot be written in a case; names that name
    # no protocol stand for them.
    workloads = """
    services:
    - name: my-service1
      namespace: my-namespace1
      ports: [{name: web, port: 8080}, {name: admin, port: 8081}]
    - name: my-service2
      namespace: my-namespace2
      ports: [{name: foo, port: 8080, targetPort: 9090}]
    - name: conventional
      ports:
      - {name: http-web, port: 80}
      - {name: grpc-web-ui, port: 81}
      - {name: odd, port: 82, appProtocol: http}
      - {name: mysql-ish, port: 3306}
      - {name: smtp, port: 25}
    """
    found = findings_for(tmp_path, NO_RESOURCES, workloads, "service.PortNameAnalyzer")
    assert reported(found) == [
        ("IST0118", "Service my-namespace1/my-service1"),
        ("IST0118", "Service my-namespace1/my-service1"),
        ("IST0118", "Service my-namespace2/my-service2"),
    ]
    foo = next(f for f in found if f.name == "my-namespace2/my-service2")
    assert foo.level == "Info"
    assert foo.message == (
        "Port name foo (port: 8080, targetPort: 9090) doesn't follow the naming convention of "
        "Istio port."
    )
    # Located at the port's name in the case file.
    lines = (tmp_path / "case.yaml").read_text().splitlines()
    assert "{name: foo, port: 8080" in lines[foo.line - 1]


def test_external_services_are_not_kubernetes_services(tmp_path: Path) -> None:
    workloads = (
        "services: [{name: api.example.com, external: true, ports: [{name: web, port: 80}]}]"
    )
    assert analyze(case_with(tmp_path, NO_RESOURCES, workloads)) == []
