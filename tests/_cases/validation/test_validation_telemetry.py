"""Telemetry validation: Istio's ValidateTelemetry rules (pkg/config/validation/validation.go)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from pytest_meshgate._cases.model.base import validation_problems
from pytest_meshgate._cases.model.resources import parse_resource
from pytest_meshgate._cases.validation import Report, check_resource
from pytest_meshgate._cases.yamlpos import format_key_path


def findings(
    spec: dict[str, Any], api: str = "telemetry.istio.io/v1"
) -> tuple[list[str], list[str]]:
    manifest = {"apiVersion": api, "kind": "Telemetry", "metadata": {"name": "t"}, "spec": spec}
    try:
        resource = parse_resource(manifest)
    except pydantic.ValidationError as exc:
        return [f"{format_key_path(k)}: {m}" for k, m, _ in validation_problems(exc, manifest)], []
    report = Report()
    check_resource(resource, report)
    errors = [
        f"{format_key_path(f.key_path)}: {f.message}" for f in report.findings if not f.warning
    ]
    warnings = [f"{format_key_path(f.key_path)}: {f.message}" for f in report.findings if f.warning]
    return errors, warnings


ENVOY = [{"name": "envoy"}]

ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    ("mesh-wide envoy", {"accessLogging": [{"providers": ENVOY}]}, "", ""),
    ("disabled without providers", {"accessLogging": [{"disabled": True}]}, "", ""),
    (
        "a filter that parses",
        {"accessLogging": [{"providers": ENVOY, "filter": {"expression": "response.code >= 400"}}]},
        "",
        "",
    ),
    (
        "a filter that does not parse",
        {"accessLogging": [{"filter": {"expression": "response.code >= "}}]},
        "spec.accessLogging[0].filter.expression: must be a valid CEL expression",
        "",
    ),
    (
        "an unnamed provider",
        {"accessLogging": [{"providers": [{"name": ""}]}]},
        "spec.accessLogging[0].providers[0]: providers.name may not be empty",
        "",
    ),
    (
        "selector and targetRefs",
        {
            "selector": {"matchLabels": {"app": "a"}},
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g"}],
        },
        "only one of targetRefs or workloadSelector can be set",
        "",
    ),
    (
        "a wildcard selector",
        {"selector": {"matchLabels": {"app": "*"}}},
        'wildcard is not supported in selector: "app=*"',
        "",
    ),
    (
        "a selector without labels",
        {"selector": {}},
        "",
        "workload selector specified without labels",
    ),
    (
        "a targetRef to another namespace",
        {
            "targetRefs": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "name": "g",
                    "namespace": "x",
                }
            ]
        },
        "targetRef namespace must not be set",
        "",
    ),
    (
        "a targetRef to a kind Istio does not allow",
        {"targetRefs": [{"group": "apps", "kind": "Deployment", "name": "d"}]},
        "targetRef must be to one of",
        "",
    ),
    (
        "tracing percentage out of range",
        {"tracing": [{"randomSamplingPercentage": 101}]},
        "randomSamplingPercentage must be in range [0.0, 100.0]",
        "",
    ),
    (
        "two tracing entries",
        {"tracing": [{"providers": [{"name": "a"}]}, {"providers": [{"name": "b"}]}]},
        "",
        "multiple tracing is not currently supported",
    ),
    ("an unknown key", {"accessLoging": []}, "spec.accessLoging", ""),
    # validateTelemetryMetrics
    (
        "metrics overrides that Istio accepts",
        {
            "metrics": [
                {
                    "providers": [{"name": "prometheus"}],
                    "overrides": [
                        {"match": {"metric": "REQUEST_COUNT", "mode": "CLIENT"}, "disabled": True},
                        {"tagOverrides": {"request_host": {"value": "request.host"}}},
                        {"tagOverrides": {"request_protocol": {"operation": "REMOVE"}}},
                    ],
                }
            ]
        },
        "",
        "",
    ),
    (
        "an upsert without value",
        {"metrics": [{"overrides": [{"tagOverrides": {"x": {"operation": "UPSERT"}}}]}]},
        "spec.metrics[0].overrides[0].tagOverrides.x: tagOverrides.value must be set when "
        "operation is UPSERT",
        "",
    ),
    (
        "a remove with a value",
        {
            "metrics": [
                {"overrides": [{"tagOverrides": {"x": {"operation": "REMOVE", "value": "a"}}}]}
            ]
        },
        "tagOverrides.value may only be set when operation is UPSERT",
        "",
    ),
    (
        "a null override",
        {"metrics": [{"overrides": [None]}]},
        "spec.metrics[0].overrides[0]: tagOverrides may not be null",
        "",
    ),
    (
        "a null tag override",
        {"metrics": [{"overrides": [{"tagOverrides": {"x": None}}]}]},
        "tagOverrides may not be null",
        "",
    ),
    (
        "an empty custom metric",
        {"metrics": [{"overrides": [{"match": {"customMetric": ""}}]}]},
        "customMetric may not be empty",
        "",
    ),
    (
        "an empty tag name",
        {"metrics": [{"overrides": [{"tagOverrides": {"": {"value": "a"}}}]}]},
        "",
        "tagOverrides.name may not be empty",
    ),
    (
        "an unnamed metrics provider",
        {"metrics": [{"providers": [{}]}]},
        "spec.metrics[0].providers[0]: providers.name may not be empty",
        "",
    ),
    (
        "an unknown metric",
        {"metrics": [{"overrides": [{"match": {"metric": "REQUESTS"}}]}]},
        "spec.metrics[0].overrides[0].match.metric",
        "",
    ),
    (
        "metric and customMetric both",
        {"metrics": [{"overrides": [{"match": {"metric": "REQUEST_COUNT", "customMetric": "a"}}]}]},
        "set only one of metric or customMetric",
        "",
    ),
]


@pytest.mark.parametrize(("name", "spec", "error", "warning"), ROWS, ids=[r[0] for r in ROWS])
def test_telemetry_rules(name: str, spec: dict[str, Any], error: str, warning: str) -> None:
    errors, warnings = findings(spec)
    if error:
        assert any(error in e for e in errors), errors
    else:
        assert errors == []
    if warning:
        assert any(warning in w for w in warnings), warnings
    else:
        assert warnings == []


def test_v1alpha1_is_served_and_networking_group_is_not() -> None:
    assert findings({"accessLogging": [{"providers": ENVOY}]}, "telemetry.istio.io/v1alpha1") == (
        [],
        [],
    )
    with pytest.raises(Exception, match="Telemetry is not served as apiVersion"):
        parse_resource(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "Telemetry",
                "metadata": {"name": "t"},
                "spec": {},
            }
        )
