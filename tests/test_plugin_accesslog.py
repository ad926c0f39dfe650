"""End to end through pytester: access-log checks that fail with the line, refused case keys,
and Telemetry parts the local target cannot honour skipped with their reason."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: {name}}}
spec:
  {mesh}
  services:
  - name: web
    ports: [{{name: http, port: 8080}}]
  resources:
  - apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {{name: web}}
    spec:
      selector: {{istio: ingressgateway}}
      servers:
      - port: {{number: 80, name: http, protocol: HTTP}}
        hosts: [web.example.com]
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {{name: web}}
    spec:
      hosts: [web.example.com]
      gateways: [web]
      http: [{{route: [{{destination: {{host: web}}}}]}}]
  {extra}
  checks:
  - name: logged
    request: {{url: "http://web.example.com/x"{count}}}
    expect:
      accessLog: {access_log}
"""


def case(
    name: str = "al",
    mesh: str = "meshConfig: {accessLogFile: /dev/stdout}",
    access_log: str = "{proxy: ingress, fields: {responseCode: 200}}",
    extra: str = "",
    count: str = "",
) -> str:
    return BASE.format(name=name, mesh=mesh, access_log=access_log, extra=extra, count=count)


def test_a_wrong_field_fails_with_the_logged_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", al=case(access_log="{proxy: ingress, fields: {responseFlags: NR}}"))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*accessLog.ingress.fields.responseFlags: expected 'NR', logged '-' (line: *] \"GET /x HTTP/1.1\" 200 - via_upstream*"
        ]
    )


def test_a_proxy_without_access_log_fails_a_check_that_wants_a_line(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", al=case(mesh=""))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*accessLog.ingress: expected a line for this request, there is none (Istio configures no access log*"
        ]
    )


def test_refused_keys_and_proxies_are_located_errors(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        a=case(name="a", mesh="meshConfig: {accessLogFile: /dev/stdout, enableTracing: true}"),
        b=case(name="b", access_log="{proxy: nowhere}"),
        c=case(name="c", count=", count: 3"),
        d=case(name="d", access_log="{proxy: ingress, logged: false, fields: {responseCode: 200}}"),
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines_random(
        [
            "*a.yaml:*: spec.meshConfig: *meshConfig.enableTracing is not supported by the harness yet*",
            "*b.yaml:*accessLog proxy 'nowhere' is none of the case's proxies*",
            "*c.yaml:*expect.accessLog judges single requests; drop request.count*",
            "*d.yaml:*fields describe a logged line; drop them or logged: false*",
        ]
    )


def test_telemetry_tracing_skips_the_case_with_the_reason(pytester: pytest.Pytester) -> None:
    tracing = (
        "- apiVersion: telemetry.istio.io/v1\n"
        "    kind: Telemetry\n"
        "    metadata: {name: m, namespace: istio-system}\n"
        "    spec: {tracing: [{randomSamplingPercentage: 10}]}"
    )
    pytester.makefile(".yaml", al=case(extra=tracing))
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*Telemetry istio-system/m: spec.tracing is not honoured*"])


def test_a_service_names_its_pods_sidecars_inbound_log(pytester: pytest.Pytester) -> None:
    """``proxy: web`` reads the line web's pod's sidecar wrote at its inbound listener for
    the request (the x-request-id the gateway logged); a wrong value fails with that line,
    and a service the case does not have is a located error naming the services."""
    pytester.makefile(
        ".yaml",
        ok=case(
            name="ok", access_log="{proxy: web.default, fields: {path: /x, responseCode: 200}}"
        ),
        wrong=case(name="wrong", access_log="{proxy: web, fields: {authority: other}}"),
        bad=case(name="bad", access_log="{proxy: web.other}"),
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines_random(
        [
            "*accessLog.web.fields.authority: expected 'other', logged 'web.example.com' "
            '(line: *] "GET /x HTTP/1.1" 200 - via_upstream*inbound|8080||*',
            "*bad.yaml:*accessLog proxy 'web.other' is none of the case's proxies*spec.services name*",
        ]
    )


def test_a_service_without_sidecars_has_no_server_log_to_read(pytester: pytest.Pytester) -> None:
    """Not injected: no sidecar logs at its pods, so a check on that log fails with the
    reason, ``logged: false`` included (it would pass for a proxy that does not exist)."""
    plain = case(name="plain", access_log="{proxy: web, logged: false}")
    pytester.makefile(
        ".yaml", plain=plain.replace("  - name: web\n", "  - name: web\n    sidecar: false\n", 1)
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*accessLog.web: *the pods of web have no sidecar in this case*"])
