"""The BackendTLSPolicy resource: how a Gateway (or a sidecar) originates TLS to a Service.

Fields, bounds and CEL rules as ``apis/v1/backendtlspolicy_types.go`` and
``config/crd/standard/gateway.networking.k8s.io_backendtlspolicies.yaml``
(kubernetes-sigs/gateway-api v1.6; served as v1 and the deprecated v1alpha3).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from ..base import StrictModel
from .resource import GatewayAPIResource
from .shared import (
    Group,
    Hostname,
    Kind,
    LocalObjectReference,
    ObjectName,
    PreciseHostname,
    SectionName,
)

__all__ = [
    "BackendTLSPolicySpec",
    "BackendTLSPolicyValidation",
    "KubernetesBackendTLSPolicy",
    "PolicyTargetReference",
    "SubjectAltName",
]

# SubjectAltName.hostname is a Hostname (shared.Hostname); .uri: RFC 3986 with a scheme and an
# authority (the CRD's pattern).
_URI = re.compile(r"^(([^:/?#]+):)(//([^/?#]*))([^?#]*)(\?([^#]*))?(#(.*))?")
# wellKnownCACertificates: "System" or an implementation's prefixed name.
_WELL_KNOWN = re.compile(
    r"^(System|([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    r"/([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]))$"
)


def _pattern(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not 1 <= len(value) <= 253 or not pattern.match(value):
            raise ValueError(f"invalid {what} {value!r} (does not match {pattern.pattern})")
        return value

    return AfterValidator(check)


class PolicyTargetReference(StrictModel):
    """``LocalPolicyTargetReferenceWithSectionName``: a Service (port) in the policy's namespace."""

    group: Group
    kind: Kind
    name: ObjectName
    section_name: SectionName | None = None


class SubjectAltName(StrictModel):
    """One name the backend's certificate must carry (Hostname or URI)."""

    type: Literal["Hostname", "URI"]
    hostname: Hostname | None = None
    uri: Annotated[str, _pattern(_URI, "uri")] | None = None

    @model_validator(mode="after")
    def _field_of_type(self) -> SubjectAltName:
        # The CRD's four CEL rules on a subjectAltNames element.
        if self.type == "Hostname" and not self.hostname:
            raise ValueError(
                "SubjectAltName element must contain Hostname, if Type is set to Hostname"
            )
        if self.type != "Hostname" and self.hostname:
            raise ValueError(
                "SubjectAltName element must not contain Hostname, if Type is not set to Hostname"
            )
        if self.type == "URI" and not self.uri:
            raise ValueError("SubjectAltName element must contain URI, if Type is set to URI")
        if self.type != "URI" and self.uri:
            raise ValueError(
                "SubjectAltName element must not contain URI, if Type is not set to URI"
            )
        return self


class BackendTLSPolicyValidation(StrictModel):
    """How the backend's certificate is verified: a CA (or the system's), SNI, SANs."""

    ca_certificate_refs: list[LocalObjectReference] = Field(default_factory=list, max_length=8)
    well_known_ca_certificates: (
        Annotated[str, _pattern(_WELL_KNOWN, "wellKnownCACertificates")] | None
    ) = Field(default=None, alias="wellKnownCACertificates")
    hostname: PreciseHostname
    subject_alt_names: list[SubjectAltName] = Field(default_factory=list, max_length=5)

    @model_validator(mode="after")
    def _one_trust_source(self) -> BackendTLSPolicyValidation:
        if self.ca_certificate_refs and self.well_known_ca_certificates:
            raise ValueError("must not contain both CACertificateRefs and WellKnownCACertificates")
        if not self.ca_certificate_refs and not self.well_known_ca_certificates:
            raise ValueError("must specify either CACertificateRefs or WellKnownCACertificates")
        return self


def _same_target(a: PolicyTargetReference, b: PolicyTargetReference) -> bool:
    return (a.group, a.kind, a.name) == (b.group, b.kind, b.name)


class BackendTLSPolicySpec(StrictModel):
    target_refs: list[PolicyTargetReference] = Field(min_length=1, max_length=16)
    validation: BackendTLSPolicyValidation
    options: dict[str, Annotated[str, Field(min_length=0, max_length=4096)]] = Field(
        default_factory=dict, max_length=16
    )

    @model_validator(mode="after")
    def _section_names(self) -> BackendTLSPolicySpec:
        # The two CEL rules on spec.targetRefs.
        refs = self.target_refs
        for a in refs:
            for b in refs:
                if _same_target(a, b) and (not a.section_name) != (not b.section_name):
                    raise ValueError(
                        "targetRefs: sectionName must be specified when targetRefs includes 2 or "
                        "more references to the same target"
                    )
            twins = [
                b
                for b in refs
                if _same_target(a, b) and (b.section_name or "") == (a.section_name or "")
            ]
            if len(twins) != 1:
                raise ValueError(
                    "targetRefs: sectionName must be unique when targetRefs includes 2 or more "
                    "references to the same target"
                )
        return self


class KubernetesBackendTLSPolicy(GatewayAPIResource):
    """``gateway.networking.k8s.io`` BackendTLSPolicy (v1, v1alpha3)."""

    api_version: Literal["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1alpha3"]
    kind: Literal["BackendTLSPolicy"]
    spec: BackendTLSPolicySpec
