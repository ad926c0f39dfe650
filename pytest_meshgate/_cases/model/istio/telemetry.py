"""The Telemetry resource (``telemetry.istio.io``): access logging, metrics and tracing.

Fields as in ``telemetry/v1/telemetry.proto`` (istio/api). Access logging and
metrics are modelled in full; ``tracing`` is kept as written, so a case holding
it is skipped with a reason by the target rather than silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..base import StrictModel
from .common import WorkloadSelector
from .resource import IstioResource

__all__ = [
    "TELEMETRY_API_VERSIONS",
    "AccessLogging",
    "AccessLoggingFilter",
    "LogSelector",
    "MetricSelector",
    "Metrics",
    "MetricsOverrides",
    "PolicyTargetReference",
    "ProviderRef",
    "TagOverride",
    "Telemetry",
    "TelemetrySpec",
]

TELEMETRY_API_VERSIONS = ("telemetry.istio.io/v1", "telemetry.istio.io/v1alpha1")


class ProviderRef(StrictModel):
    """An extension provider of the mesh config, by name (``envoy`` is built in)."""

    name: str = ""


class AccessLoggingFilter(StrictModel):
    """A CEL expression over Envoy's attributes; only requests it is true for are logged."""

    expression: str = ""


class LogSelector(StrictModel):
    mode: Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"] = "CLIENT_AND_SERVER"


class AccessLogging(StrictModel):
    match: LogSelector | None = None
    providers: list[ProviderRef] = Field(default_factory=list)
    disabled: bool | None = None
    filter: AccessLoggingFilter | None = None


IstioMetric = Literal[
    "ALL_METRICS",
    "REQUEST_COUNT",
    "REQUEST_DURATION",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "TCP_OPENED_CONNECTIONS",
    "TCP_CLOSED_CONNECTIONS",
    "TCP_SENT_BYTES",
    "TCP_RECEIVED_BYTES",
    "GRPC_REQUEST_MESSAGES",
    "GRPC_RESPONSE_MESSAGES",
]


class MetricSelector(StrictModel):
    """Which metric an override applies to: one of Istio's, or a custom one (a oneof)."""

    metric: IstioMetric | None = None
    custom_metric: str | None = None
    mode: Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"] = "CLIENT_AND_SERVER"

    @model_validator(mode="after")
    def _one_of(self) -> MetricSelector:
        if self.metric is not None and self.custom_metric is not None:
            raise ValueError("set only one of metric or customMetric")
        return self


class TagOverride(StrictModel):
    """REMOVE drops the tag; UPSERT sets it to a CEL expression's value."""

    operation: Literal["UPSERT", "REMOVE"] = "UPSERT"
    value: str = ""


class MetricsOverrides(StrictModel):
    match: MetricSelector | None = None
    disabled: bool | None = None
    tag_overrides: dict[str, TagOverride | None] = Field(default_factory=dict)


class Metrics(StrictModel):
    providers: list[ProviderRef] = Field(default_factory=list)
    overrides: list[MetricsOverrides | None] = Field(default_factory=list)
    reporting_interval: str | None = None


class PolicyTargetReference(StrictModel):
    """``istio.type.v1beta1.PolicyTargetReference``."""

    group: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""


class TelemetrySpec(StrictModel):
    selector: WorkloadSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = Field(default_factory=list)
    access_logging: list[AccessLogging] = Field(default_factory=list)
    metrics: list[Metrics] = Field(default_factory=list)
    tracing: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def all_target_refs(self) -> list[PolicyTargetReference]:
        """``targetRef`` and ``targetRefs`` together, as Istio's ``GetTargetRefs`` reads them."""
        return ([self.target_ref] if self.target_ref is not None else []) + list(self.target_refs)


class Telemetry(IstioResource):
    api_version: Literal["telemetry.istio.io/v1", "telemetry.istio.io/v1alpha1"]  # type: ignore[assignment]
    kind: Literal["Telemetry"]
    spec: TelemetrySpec = Field(default_factory=TelemetrySpec)
