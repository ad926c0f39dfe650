"""The Telemetry resource (``telemetry.istio.io``): access logging, metrics and tracing.

Fields as in ``telemetry/v1/telemetry.proto`` (istio/api). Access logging is
modelled in full; ``metrics`` and ``tracing`` are kept as written, so a case
holding them is refused or skipped with a reason by the target rather than
silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..base import StrictModel
from .common import WorkloadSelector
from .resource import IstioResource

__all__ = [
    "TELEMETRY_API_VERSIONS",
    "AccessLogging",
    "AccessLoggingFilter",
    "LogSelector",
    "PolicyTargetReference",
    "ProviderRef",
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
    metrics: list[dict[str, Any]] = Field(default_factory=list)
    tracing: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def all_target_refs(self) -> list[PolicyTargetReference]:
        """``targetRef`` and ``targetRefs`` together, as Istio's ``GetTargetRefs`` reads them."""
        return ([self.target_ref] if self.target_ref is not None else []) + list(self.target_refs)


class Telemetry(IstioResource):
    api_version: Literal["telemetry.istio.io/v1", "telemetry.istio.io/v1alpha1"]  # type: ignore[assignment]
    kind: Literal["Telemetry"]
    spec: TelemetrySpec = Field(default_factory=TelemetrySpec)
