"""``expect.metrics``: how Istio's standard metrics changed at a proxy for a check's request."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from .base import CaseModel

__all__ = [
    "HISTOGRAM_METRICS",
    "ISTIO_LABELS",
    "ISTIO_METRIC_NAMES",
    "LabelMatch",
    "MetricExpectation",
]

# Istio's standard metrics (istio.io "Istio Standard Metrics"; istio/proxy
# source/extensions/filters/http/istio_stats/istio_stats.cc ``all_metrics_``),
# as Prometheus names them; the histograms by their _count, _sum and _bucket series.
HISTOGRAM_METRICS = (
    "istio_request_duration_milliseconds",
    "istio_request_bytes",
    "istio_response_bytes",
)
_COUNTERS = (
    "istio_requests_total",
    "istio_tcp_connections_opened_total",
    "istio_tcp_connections_closed_total",
    "istio_tcp_sent_bytes_total",
    "istio_tcp_received_bytes_total",
)
ISTIO_METRIC_NAMES: tuple[str, ...] = _COUNTERS + tuple(
    f"{name}_{suffix}" for name in HISTOGRAM_METRICS for suffix in ("count", "sum", "bucket")
)
MetricName = Literal[ISTIO_METRIC_NAMES]  # type: ignore[valid-type]

# The standard labels (istio_stats.cc ``all_tags_``); a tag override may add others.
ISTIO_LABELS = (
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_canonical_service",
    "source_canonical_revision",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_cluster",
    "request_protocol",
    "response_flags",
    "connection_security_policy",
    "response_code",
    "grpc_response_status",
)

_LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"


class LabelMatch(CaseModel):
    """A label value by prefix or RE2-style regex (full match), or exactly."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _one_of(self) -> LabelMatch:
        if sum(v is not None for v in (self.exact, self.prefix, self.regex)) != 1:
            raise ValueError("set exactly one of exact, prefix or regex")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex: {exc}") from None
        return self

    def matches(self, value: str) -> bool:
        if self.exact is not None:
            return value == self.exact
        if self.prefix is not None:
            return value.startswith(self.prefix)
        return re.fullmatch(self.regex or "", value) is not None

    def __str__(self) -> str:
        if self.exact is not None:
            return repr(self.exact)
        if self.prefix is not None:
            return f"prefix {self.prefix!r}"
        return f"regex {self.regex!r}"


class MetricExpectation(CaseModel):
    """How much the series of one metric that carry these labels grew at a proxy.

    The series whose labels hold every given value are summed; their growth
    between just before and just after the request is judged. Without
    ``delta`` and ``atLeast`` the growth must be at least 1.
    """

    proxy: str = Field(
        min_length=1,
        max_length=253,
        description="ingress, egress, a spec.gateways name, a spec.clients name (its "
        "sidecar) or namespace/name of a Gateway API Gateway (source reporters); or a "
        "spec.services name or name.namespace: its pods' sidecars (destination reporter).",
    )
    name: MetricName = Field(description="A standard Istio metric, as Prometheus names it.")
    labels: dict[str, str | int | LabelMatch] = Field(
        default_factory=dict,
        description="Label values the counted series carry: a string exactly, or "
        "{prefix} / {regex}. For a histogram's _bucket, 'le' names the bucket.",
    )
    absent_labels: list[str] = Field(
        default_factory=list,
        description="Labels the counted series do not carry (a tag override removed them).",
    )
    delta: int | None = Field(
        default=None, ge=0, description="The growth exactly (0: the proxy counted nothing)."
    )
    at_least: int | None = Field(default=None, ge=0, description="The least growth.")

    @model_validator(mode="after")
    def _consistent(self) -> MetricExpectation:
        for name in [*self.labels, *self.absent_labels]:
            if not re.match(_LABEL_NAME, name):
                raise ValueError(f"label {name!r} is not a Prometheus label name")
        both = set(self.labels) & set(self.absent_labels)
        if both:
            raise ValueError(f"labels and absentLabels both name {sorted(both)}")
        if self.delta is not None and self.at_least is not None:
            raise ValueError("give delta or atLeast, not both")
        if "le" in self.labels and not self.name.endswith("_bucket"):
            raise ValueError("'le' is a label of a histogram's _bucket series only")
        return self

    def wanted_labels(self) -> dict[str, str | LabelMatch]:
        return {k: v if isinstance(v, LabelMatch) else str(v) for k, v in self.labels.items()}

    def describe_bound(self) -> str:
        if self.delta is not None:
            return f"exactly {self.delta}"
        return f"at least {self.at_least if self.at_least is not None else 1}"

    def growth_ok(self, growth: float) -> bool:
        if self.delta is not None:
            return growth == self.delta
        return growth >= (self.at_least if self.at_least is not None else 1)
