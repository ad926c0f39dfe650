"""Gateway analyzers on Istio's own testdata (pkg/config/analysis/analyzers/testdata/),
adapted as cases: Istio's Pods and Services become gateway workloads."""

from __future__ import annotations

from pathlib import Path

from analysis_cases import findings_for, refusal_of, reported

PORTS = "gateway.IngressGatewayPortAnalyzer"
CONFLICTS = "gateway.ConflictingGatewayAnalyzer"
SECRETS = "gateway.SecretAnalyzer"

HTTPBIN = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    SELECTOR
  servers:
  - port: {number: PORT, name: http2, protocol: HTTP}
    hosts: ["*"]
"""

# The Pod and Service of gateway-custom-ingressgateway*.yaml (namespace default).
CUSTOM = """
gateways:
- name: my-ingressgateway
  namespace: default
  labels: {myapp: private-ingressgateway}
  ports: [PORTS]
"""


def _httpbin(selector: str, port: int) -> str:
    return HTTPBIN.replace("SELECTOR", selector).replace("PORT", str(port))


def test_gateway_no_workload(tmp_path: Path) -> None:
    # testdata/gateway-no-workload.yaml: a selector matching no pod (with a server, which
    # Istio's webhook requires).
    manifests = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata:
      name: httpbin-gateway
    spec:
      selector:
        istio: ingresstypo
      servers:
      - port: {number: 80, name: http2, protocol: HTTP}
        hosts: ["*"]
    """
    found = findings_for(tmp_path, manifests, analyzer=PORTS)
    assert reported(found) == [("IST0101", "Gateway default/httpbin-gateway")]
    (finding,) = found
    assert finding.level == "Error"
    assert finding.message == 'Referenced selector not found: "istio=ingresstypo"'
    assert finding.line == 7  # spec.selector.istio in manifests.yaml
    assert finding.path.name == "manifests.yaml"


def test_gateway_no_port_and_correct_port(tmp_path: Path) -> None:
    # testdata/gateway-no-port.yaml: 80 is a Service port of the ingress gateway, 8004 is not
    # (with its own port name: Istio's webhook wants server port names unique).
    manifests = _httpbin("istio: ingressgateway", 80) + (
        "  - port: {number: 8004, name: http2-8004, protocol: HTTP}\n    hosts: ['*']\n"
    )
    found = findings_for(tmp_path, manifests, analyzer=PORTS)
    assert reported(found) == [("IST0162", "Gateway default/httpbin-gateway")]
    assert found[0].level == "Warning"
    assert found[0].message == (
        "The gateway is listening on a target port (port 8004) that is not defined in the "
        "Service associated with its workload instances (Pod selector istio=ingressgateway). "
        "If you need to access the gateway port through the gateway Service, it will not be "
        "available."
    )
    # testdata/gateway-correct-port.yaml; and the target port 8080 of port 80 is offered too.
    assert findings_for(tmp_path, _httpbin("istio: ingressgateway", 80), analyzer=PORTS) == []
    assert findings_for(tmp_path, _httpbin("istio: ingressgateway", 8080), analyzer=PORTS) == []


def test_custom_ingress_gateway_ports(tmp_path: Path) -> None:
    selector = "myapp: private-ingressgateway"
    with_target = CUSTOM.replace("PORTS", "{name: http2, port: 80, targetPort: 8003}")
    without_target = CUSTOM.replace("PORTS", "{name: http2, port: 80}")
    # gateway-custom-ingressgateway.yaml: the server port is the Service's target port.
    assert findings_for(tmp_path, _httpbin(selector, 8003), with_target, PORTS) == []
    # gateway-custom-ingressgateway-translation.yaml: ... or its port.
    assert findings_for(tmp_path, _httpbin(selector, 80), with_target, PORTS) == []
    # gateway-custom-ingressgateway-badport.yaml and -badport-notarget.yaml: neither.
    for workloads in (with_target, without_target):
        found = findings_for(tmp_path, _httpbin(selector, 8004), workloads, PORTS)
        assert reported(found) == [("IST0162", "Gateway default/httpbin-gateway")]
        assert "(Pod selector myapp=private-ingressgateway)" in found[0].message


def test_gateway_service_must_select_the_pod(tmp_path: Path) -> None:
    # testdata/gateway-custom-ingressgateway-svcselector.yaml: port 8002 belongs to the
    # Service of another workload than the one the Gateway selects.
    workloads = """
    gateways:
    - name: my-8001
      namespace: default
      labels: {myapp: ingressgateway-8001}
      ports: [{name: http2, port: 8001}]
    - name: my-8002
      namespace: default
      labels: {myapp: ingressgateway-8002}
      ports: [{name: http2, port: 8002, targetPort: 80}]
    """
    manifests = (
        _httpbin("myapp: ingressgateway-8001", 8001).replace("httpbin-", "httpbin8001-")
        + "---"
        + _httpbin("myapp: ingressgateway-8001", 8002).replace("httpbin-", "httpbin8002-")
    )
    found = findings_for(tmp_path, manifests, workloads, PORTS)
    assert reported(found) == [("IST0162", "Gateway default/httpbin8002-gateway")]


CONFLICTING = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: beta
spec:
  selector:
    BETA
  servers:
  - port: {number: 80, name: tcp, protocol: TCP}
    hosts: ["foo.bar"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: alpha
spec:
  selector:
    ALPHA
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["ALPHA_HOST"]
"""


def _conflicting(beta: str, alpha: str, alpha_host: str = "foo.bar") -> str:
    return (
        CONFLICTING.replace("BETA", beta).replace("ALPHA_HOST", alpha_host).replace("ALPHA", alpha)
    )


def test_conflicting_gateways(tmp_path: Path) -> None:
    # testdata/conflicting-gateways.yaml
    found = findings_for(
        tmp_path, _conflicting("istio: ingressgateway", "istio: ingressgateway"), analyzer=CONFLICTS
    )
    assert reported(found) == [
        ("IST0145", "Gateway default/alpha"),
        ("IST0145", "Gateway default/beta"),
    ]
    beta = next(f for f in found if f.name == "default/beta")
    assert beta.message == (
        "Conflict with gateways default/alpha (workload selector istio=ingressgateway, "
        "port 80, hosts foo.bar)."
    )
    assert beta.level == "Error"


def test_conflicting_gateways_on_one_of_several_ports(tmp_path: Path) -> None:
    # testdata/conflicting-gateways-multiple-ports.yaml: 80 and 90 against 70 and 90 (with
    # port names unique within each Gateway, as Istio's webhook wants).
    manifests = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: beta}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 80, name: tcp-80, protocol: TCP}
        hosts: ["foo.bar"]
      - port: {number: 90, name: tcp-90, protocol: TCP}
        hosts: ["foo.bar"]
    ---
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: alpha}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 70, name: http-70, protocol: HTTP}
        hosts: ["foo.bar"]
      - port: {number: 90, name: http-90, protocol: HTTP}
        hosts: ["foo.bar"]
    """
    found = findings_for(tmp_path, manifests, analyzer=CONFLICTS)
    assert reported(found) == [
        ("IST0145", "Gateway default/alpha"),
        ("IST0145", "Gateway default/beta"),
    ]
    assert all("port 90," in f.message for f in found)


def test_conflicting_gateways_by_sub_selector(tmp_path: Path) -> None:
    # testdata/conflicting-gateways-subSelector.yaml: one selector within the other, and
    # pods that both select.
    workloads = """
    gateways:
    - name: my-ingressgateway
      labels: {istio: ingressgateway, app: istio-ingressgateway, cusKey: cusValue}
    """
    manifests = _conflicting(
        "{istio: ingressgateway, app: istio-ingressgateway, cusKey: cusValue}",
        "{istio: ingressgateway, cusKey: cusValue}",
    )
    found = findings_for(tmp_path, manifests, workloads, CONFLICTS)
    assert reported(found) == [
        ("IST0145", "Gateway default/alpha"),
        ("IST0145", "Gateway default/beta"),
    ]


def test_no_conflict_on_other_ports_or_hosts(tmp_path: Path) -> None:
    # testdata/gateway-different-port.yaml
    manifests = _conflicting("istio: ingressgateway", "istio: ingressgateway").replace(
        "number: 80, name: tcp", "number: 443, name: tcp"
    )
    assert findings_for(tmp_path, manifests, analyzer=CONFLICTS) == []
    # Other hosts on the same port (testdata/conflicting-gateways-invalid-port.yaml's hosts;
    # its servers without a port are not valid case resources).
    manifests = _conflicting("istio: ingressgateway", "istio: ingressgateway", "bar.bar")
    assert findings_for(tmp_path, manifests, analyzer=CONFLICTS) == []


SECRET_GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: NAME
spec:
  selector:
    SELECTOR
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls:
      mode: SIMPLE
      CREDENTIAL
    hosts: ["httpbin.example.com"]
"""


def _secret_gateway(name: str, selector: str, credential: str | None) -> str:
    # Without a credential, files: Istio's webhook wants the key with the certificate.
    files = "serverCertificate: /etc/cert.pem\n      privateKey: /etc/key.pem"
    line = f"credentialName: {credential}" if credential else files
    return (
        SECRET_GATEWAY.replace("NAME", name)
        .replace("SELECTOR", selector)
        .replace("CREDENTIAL", line)
    )


def test_gateway_secrets(tmp_path: Path) -> None:
    # testdata/gateway-secrets.yaml: the credential lives in the namespace of the gateway
    # workload (istio-system), not of the Gateway resource.
    workloads = """
    secrets:
    - {name: httpbin-credential, namespace: istio-system, type: server, hosts: [httpbin.example.com]}
    gateways:
    - {name: custom-gateway, namespace: default, labels: {myapp: custom-gateway}}
    """
    manifests = "---".join(
        [
            _secret_gateway(
                "defaultgateway-noerrors", "istio: ingressgateway", "httpbin-credential"
            ),
            _secret_gateway(
                "defaultgateway-boguscredentialname",
                "istio: ingressgateway",
                "httpbin-credential-bogus",
            ),
            # Istio's file selects `istio: custom-gateway`, which matches nothing; here the
            # custom workload is selected, whose namespace has no such Secret.
            _secret_gateway(
                "customgateway-wrongnamespace", "myapp: custom-gateway", "httpbin-credential"
            ),
            _secret_gateway("bogusgateway", "istio: custom-gateway", "httpbin-credential"),
            _secret_gateway("defaultgateway-nocredential", "istio: ingressgateway", None),
        ]
    )
    found = findings_for(tmp_path, manifests, workloads, SECRETS)
    assert reported(found) == [
        ("IST0101", "Gateway default/bogusgateway"),
        ("IST0101", "Gateway default/customgateway-wrongnamespace"),
        ("IST0101", "Gateway default/defaultgateway-boguscredentialname"),
    ]
    messages = {f.name: f.message for f in found}
    assert (
        messages["default/bogusgateway"] == 'Referenced selector not found: "istio=custom-gateway"'
    )
    assert messages["default/customgateway-wrongnamespace"] == (
        'Referenced credentialName not found: "httpbin-credential"'
    )


def test_gateway_credentials_that_hold_no_usable_certificate(tmp_path: Path) -> None:
    # testdata/gateway-secrets-validation.yaml's cases as case secrets: an expired
    # certificate, and a Secret with only a CA (no tls.crt/tls.key).
    workloads = """
    secrets:
    - {name: good, namespace: istio-system, type: server, hosts: [httpbin.example.com]}
    - {name: old, namespace: istio-system, type: server, hosts: [httpbin.example.com], expired: true}
    - {name: ca-only, namespace: istio-system, type: trust}
    """
    manifests = "---".join(
        _secret_gateway(name, "istio: ingressgateway", name) for name in ("good", "old", "ca-only")
    )
    found = findings_for(tmp_path, manifests, workloads, SECRETS)
    assert reported(found) == [
        ("IST0161", "Gateway default/ca-only"),
        ("IST0161", "Gateway default/old"),
    ]
    assert found[0].message == (
        "The credential referenced by the Gateway ca-only in namespace istio-system is invalid, "
        "which can cause the traffic not to work as expected."
    )
    # Located at spec.servers[0].tls.credentialName of that Gateway in the included file.
    lines = (tmp_path / "manifests.yaml").read_text().splitlines()
    assert lines[found[0].line - 1].strip() == "credentialName: ca-only"


def test_several_analyzers_report_one_selector_once(tmp_path: Path) -> None:
    manifests = _httpbin("istio: nothing", 80)
    found = findings_for(tmp_path, manifests)
    # The port, conflict and secret analyzers all find the selector matches nothing.
    assert reported(found) == [("IST0101", "Gateway default/httpbin-gateway")]


def _tls_gateway(name: str, namespace: str, selector: str, credential: str, host: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {selector}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    tls: {{mode: SIMPLE, credentialName: {credential}}}
    hosts: [{host}]
"""


def test_duplicate_certificates(tmp_path: Path) -> None:
    # testdata/gateway-duplicate-certificate.yaml: the same credential on Gateways whose
    # selectors cover the same workloads; none when the other's selector is narrower.
    ingress, internal = "{istio: ingressgateway}", "{istio: ingressgateway, type: internal}"
    manifests = "---".join(
        [
            _tls_gateway(
                "gateway-01-test-01", "istio-system", ingress, "test-01", "01.test-01.com"
            ),
            _tls_gateway(
                "gateway-02-test-01", "istio-system", ingress, "test-01", "02.test-01.com"
            ),
            _tls_gateway(
                "gateway-01-test-02", "istio-system", ingress, "test-02", "01.test-02.com"
            ),
            _tls_gateway(
                "gateway-02-test-02", "istio-system", internal, "test-02", "02.test-02.com"
            ),
            _tls_gateway("gateway-01-test-03", "default", ingress, "test-03", "01.test-03.com"),
            _tls_gateway(
                "gateway-02-test-03", "istio-system", internal, "test-03", "02.test-03.com"
            ),
            _tls_gateway(
                "gateway-01-test-04", "istio-system", ingress, "01-test-04", "01.test-04.com"
            ),
            _tls_gateway(
                "gateway-02-test-04", "istio-system", ingress, "02-test-04", "02.test-04.com"
            ),
        ]
    )
    workloads = """
    gateways:
    - {name: internal-ingressgateway, labels: {type: internal, istio: ingressgateway}}
    """
    found = findings_for(tmp_path, manifests, workloads, "gateway.CertificateAnalyzer")
    assert reported(found) == [
        ("IST0138", "Gateway default/gateway-01-test-03"),
        ("IST0138", "Gateway istio-system/gateway-01-test-01"),
        ("IST0138", "Gateway istio-system/gateway-01-test-02"),
        ("IST0138", "Gateway istio-system/gateway-02-test-01"),
    ]
    first = next(f for f in found if f.name == "istio-system/gateway-01-test-01")
    assert first.level == "Warning"
    assert first.message == (
        "Duplicate certificate in multiple gateways [istio-system/gateway-01-test-01 "
        "istio-system/gateway-02-test-01] may cause 404s if clients re-use HTTP2 connections."
    )


def test_a_gateway_without_servers_is_refused_before_any_analyzer(tmp_path: Path) -> None:
    # conflictinggateway.go groups Gateways by selector and server port: one without
    # servers is in no group, so istioctl reports its selector "not found" although a pod
    # matches it. Istio's webhook refuses such a Gateway, and a case must pass it before
    # analysis, so here that analyzer path is unreachable: the case is refused instead.
    manifests = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: empty}
    spec:
      selector: {istio: ingressgateway}
    """
    refusal = refusal_of(tmp_path, manifests)
    assert "manifests.yaml:5:3: spec.resources[0].spec.servers: " in refusal
    assert "gateway must have at least one server" in refusal
