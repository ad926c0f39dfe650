"""Hostile values in case files, end to end: each is an ERROR at its line, the good case still runs.

Every file here once got through collection and then crashed the run (a
traceback from httpx or the translation), was silently changed on the way
(a newline stripped from a host, port 0 read as 80, ``status:`` read as 200),
or could never pass (TLS 1.0 named ``TLSv1``). The TLS 1.0 check runs through
a real Envoy with a real TLS 1.0 handshake.
"""

from __future__ import annotations

import json

import pytest

from pytest_meshgate._cases.limits import MAX_FILE_BYTES

pytest_plugins = ["pytester"]

CASE = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: {name}}}
spec:
  services:
  - name: echo
    ports: [{{name: http, port: 8080}}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {{name: gw}}
    spec:
      selector: {{istio: ingressgateway}}
      servers:
      - port: {{number: 80, name: http, protocol: HTTP}}
        hosts: ["*"]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {{name: vs}}
    spec:
      hosts: ["*"]
      gateways: [gw]
      http:
      - route: [{{destination: {{host: echo}}}}]
{extra}  checks:
  - name: reaches echo
    request: {{url: {url}}}
    expect: {expect}
"""

DUPLICATE_SERVICE_ENTRY_PORT = """\
  - apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {name: ext}
    spec:
      hosts: [ext.example.com]
      resolution: DNS
      ports:
      - {number: 80, name: http, protocol: HTTP}
      - {number: 80, name: http-other, protocol: HTTP}
"""

TLS_1_0 = """\
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {name: tls-one-oh}
spec:
  services:
  - name: web
    ports: [{name: http, port: 8080}]
  secrets:
  - {name: legacy, namespace: istio-system, type: server, hosts: [legacy.example.com]}
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: gw}
    spec:
      selector: {istio: ingressgateway}
      servers:
      - port: {number: 443, name: https, protocol: HTTPS}
        hosts: [legacy.example.com]
        tls:
          mode: SIMPLE
          credentialName: legacy
          minProtocolVersion: TLSV1_0
          # TLS 1.0 has no AEAD suites; Istio's default list holds only those.
          cipherSuites: [ECDHE-ECDSA-AES128-SHA, ECDHE-RSA-AES128-SHA]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: web}
    spec:
      hosts: [legacy.example.com]
      gateways: [gw]
      http: [{route: [{destination: {host: web}}]}]
  checks:
  - name: TLS 1.0 is negotiated and named TLSv1.0
    request:
      url: "https://legacy.example.com/"
      tls: {minVersion: TLSv1.0, maxVersion: TLSv1.0}
    expect: {backend: web, tls: {version: TLSv1.0}}
"""

# (file, URL as YAML, expect as YAML, extra resources) -> the error at its line.
HOSTILE = {
    "nel-in-path": (json.dumps("http://app.example.com/a\u0085b"), "{status: 200}", ""),
    # A file this large is refused by its size before it is parsed (_cases/limits.py).
    "megabyte-url": (f'"http://app.example.com/{"a" * 1_000_000}"', "{status: 200}", ""),
    # One under that size reaches the URL's own length limit, at its line.
    "long-url": (f'"http://app.example.com/{"a" * 100_000}"', "{status: 200}", ""),
    "bell-in-host": ('"http://app\\a.example.com/"', "{status: 200}", ""),
    "newline-in-host": ('"http://app\\n.example.com/"', "{status: 200}", ""),
    "port-zero": ('"http://app.example.com:0/"', "{status: 200}", ""),
    "null-status": ('"http://app.example.com/"', "{status: }", ""),
    "duplicate-port": ('"http://app.example.com/"', "{status: 200}", DUPLICATE_SERVICE_ENTRY_PORT),
}


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# Where the errors must point: the check's request line, its expect line, the repeated port.
URL_LINE = line_of(CASE, "request: {{url:")
EXPECT_LINE = line_of(CASE, "expect: {expect}")
SECOND_PORT_LINE = (
    line_of(CASE, "{extra}") + line_of(DUPLICATE_SERVICE_ENTRY_PORT, "http-other") - 1
)


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    files = {
        "good": CASE.format(name="good", url='"http://app.example.com/"', expect="{}", extra="")
    }
    for name, (url, expect, extra) in HOSTILE.items():
        files[name] = CASE.format(name=name, url=url, expect=expect, extra=extra)
    files["tls-one-oh"] = TLS_1_0
    pytester.makefile(".yaml", **files)
    return pytester


def test_hostile_values_are_errors_at_their_line_and_the_rest_runs(
    suite: pytest.Pytester,
) -> None:
    result = suite.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=2, errors=len(HOSTILE))
    result.stdout.fnmatch_lines_random(
        [
            f"nel-in-path.yaml:{URL_LINE}:20: spec.checks[[]0[]].request.url: "
            "the URL holds U+0085 (whitespace or a control character); percent-encode it",
            f"megabyte-url.yaml:1:1: file larger than {MAX_FILE_BYTES // 1024} KiB "
            "(the limit of a case file)",
            f"long-url.yaml:{URL_LINE}:20: spec.checks[[]0[]].request.url: "
            "the URL is 100023 characters long; at most 8000 *",
            f"bell-in-host.yaml:{URL_LINE}:20: spec.checks[[]0[]].request.url: "
            "the URL holds U+0007 *",
            f"newline-in-host.yaml:{URL_LINE}:20: spec.checks[[]0[]].request.url: "
            "the URL holds U+000A *",
            f"port-zero.yaml:{URL_LINE}:20: spec.checks[[]0[]].request.url: "
            "port '0': a port is a number from 1 to 65535",
            f"null-status.yaml:{EXPECT_LINE}:22: spec.checks[[]0[]].expect.status: "
            "no value: remove the key or give a value",
            f"duplicate-port.yaml:{SECOND_PORT_LINE}:18: "
            "spec.resources[[]2[]].spec.ports[[]1[]].number: "
            "service entry port 80 already defined",
            "PASSED good.yaml::good::reaches echo",
            "PASSED tls-one-oh.yaml::tls-one-oh::TLS 1.0 is negotiated and named TLSv1.0",
        ]
    )
    out = result.stdout.str()
    assert "Traceback" not in out
    assert "InvalidURL" not in out and "UnicodeEncodeError" not in out
    # The long line is shown around its caret, not whole.
    assert len(out) < 20_000, len(out)
