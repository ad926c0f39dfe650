"""End to end through pytester on the local target's real Envoys: a metrics check that fails
names the series that grew; bad metrics keys are located errors; tag expressions the
local proxies cannot evaluate skip the case with the reason."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BASE = """
apiVersion: meshgate.dev/v1alpha1
kind: Case
metadata: {{name: {name}}}
spec:
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
  - name: counted
    request: {{url: "http://web.example.com/x"{count}}}
    expect:
      metrics: [{metrics}]
"""


def case(
    name: str = "m",
    metrics: str = "{proxy: ingress, name: istio_requests_total, delta: 1}",
    extra: str = "",
    count: str = "",
) -> str:
    return BASE.format(name=name, metrics=metrics, extra=extra, count=count)


def test_counted_requests_pass_and_a_wrong_label_fails_naming_what_grew(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", ok=case(name="ok"))
    pytester.makefile(
        ".yaml",
        wrong=case(
            name="wrong",
            metrics="{proxy: ingress, name: istio_requests_total, "
            "labels: {response_code: '503'}, delta: 1}",
        ),
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*metrics[[]0[]] ingress istio_requests_total{response_code=503}: expected growth "
            "exactly 1, grew 0; series of istio_requests_total that grew: "
            '*destination_workload="web-v1"*response_code="200"* +1*'
        ]
    )


def test_bad_metrics_keys_are_located_errors(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        a=case(name="a", metrics="{proxy: ingress, name: istio_requests}"),
        b=case(name="b", metrics="{proxy: nowhere, name: istio_requests_total}"),
        c=case(name="c", count=", count: 3"),
        d=case(name="d", metrics="{proxy: ingress, name: istio_requests_total, labels: {le: '1'}}"),
        e=case(
            name="e", metrics="{proxy: ingress, name: istio_requests_total, delta: 1, atLeast: 1}"
        ),
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=5)
    result.stdout.fnmatch_lines_random(
        [
            "*a.yaml:*metrics[[]0[]].name*",
            "*b.yaml:*metrics proxy 'nowhere' is none of the case's proxies*",
            "*c.yaml:*expect.metrics judges single requests; drop request.count*",
            "*d.yaml:*'le' is a label of a histogram's _bucket series only*",
            "*e.yaml:*give delta or atLeast, not both*",
        ]
    )


def test_a_tag_expression_over_unlogged_attributes_skips_the_case(
    pytester: pytest.Pytester,
) -> None:
    telemetry = (
        "- apiVersion: telemetry.istio.io/v1\n"
        "    kind: Telemetry\n"
        "    metadata: {name: t, namespace: istio-system}\n"
        "    spec: {metrics: [{overrides: [{tagOverrides: "
        "{port: {value: 'string(destination.port)'}}}]}]}"
    )
    pytester.makefile(".yaml", t=case(name="t", extra=telemetry))
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*reads destination.port, which the local proxies do not log*"])


def test_a_service_names_its_pods_sidecars_as_the_destination_reporter(
    pytester: pytest.Pytester,
) -> None:
    """``proxy: web`` (or ``web.default``) reads the web pods' inbound sidecars; a service
    the case does not have is a located error, like any unknown proxy."""
    pytester.makefile(
        ".yaml",
        ok=case(
            name="ok",
            metrics="{proxy: web, name: istio_requests_total, labels: {reporter: destination, "
            "source_workload: istio-ingressgateway, destination_workload: web-v1, "
            "connection_security_policy: mutual_tls}, delta: 1}, "
            "{proxy: web.default, name: istio_requests_total, labels: {reporter: source}, "
            "delta: 0}",
        ),
        bad=case(name="bad", metrics="{proxy: web.other, name: istio_requests_total}"),
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*bad.yaml:*metrics proxy 'web.other' is none of the case's proxies*spec.services name*"]
    )


def test_a_service_without_sidecars_has_no_destination_reporter_to_read(
    pytester: pytest.Pytester,
) -> None:
    """Not injected: no sidecar serves its pods' metrics, so the check says so and fails
    (a delta of 0 there would pass for a proxy that does not exist)."""
    pytester.makefile(
        ".yaml",
        plain=case(
            name="plain", metrics="{proxy: web, name: istio_requests_total, delta: 0}"
        ).replace("  - name: web\n", "  - name: web\n    sidecar: false\n", 1),
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the pods of web have no sidecar in this case*"])
