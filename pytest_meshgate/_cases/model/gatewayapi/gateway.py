"""The Gateway resource: listeners (port, protocol, hostname, TLS, allowed routes).

Fields as in ``apis/v1/gateway_types.go`` (kubernetes-sigs/gateway-api
v1.6); bounds and CEL rules as in
``config/crd/standard/gateway.networking.k8s.io_gateways.yaml``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..base import StrictModel
from ..kubernetes import KubernetesLabelSelector
from .resource import GatewayAPIResource
from .shared import (
    Group,
    Hostname,
    Kind,
    NamespaceName,
    ObjectName,
    PortNumber,
    SecretObjectReference,
    SectionName,
)

__all__ = [
    "AllowedRoutes",
    "FrontendTLSConfig",
    "GatewayAddress",
    "GatewayTLSConfig",
    "KubernetesGateway",
    "KubernetesGatewaySpec",
    "Listener",
    "ListenerTLSConfig",
    "ObjectReference",
    "RouteGroupKind",
    "RouteNamespaces",
]

_PROTOCOL = re.compile(
    r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
    r"|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$"
)


class RouteNamespaces(StrictModel):
    from_: Literal["All", "Selector", "Same"] = Field(default="Same", alias="from")
    selector: KubernetesLabelSelector | None = None


class RouteGroupKind(StrictModel):
    group: Group = "gateway.networking.k8s.io"
    kind: Kind


class AllowedRoutes(StrictModel):
    namespaces: RouteNamespaces = Field(default_factory=RouteNamespaces)
    kinds: list[RouteGroupKind] = Field(default_factory=list, max_length=8)


class ListenerTLSConfig(StrictModel):
    mode: Literal["Terminate", "Passthrough"] = "Terminate"
    certificate_refs: list[SecretObjectReference] = Field(default_factory=list, max_length=64)
    options: dict[str, str] = Field(default_factory=dict, max_length=16)

    @model_validator(mode="after")
    def _terminate_needs_certificates(self) -> ListenerTLSConfig:
        if self.mode == "Terminate" and not self.certificate_refs and not self.options:
            raise ValueError("certificateRefs or options must be specified when mode is Terminate")
        for key, value in self.options.items():
            if len(value) > 4096:
                raise ValueError(f"options.{key}: at most 4096 characters")
        return self


class Listener(StrictModel):
    name: SectionName
    hostname: Hostname | None = None
    port: PortNumber
    protocol: str = Field(min_length=1, max_length=255, pattern=_PROTOCOL.pattern)
    tls: ListenerTLSConfig | None = None
    allowed_routes: AllowedRoutes = Field(default_factory=AllowedRoutes)

    @model_validator(mode="after")
    def _protocol_rules(self) -> Listener:
        # The CEL rules on spec.listeners, one listener at a time, in the CRD's wording.
        if self.protocol in ("HTTP", "TCP", "UDP") and self.tls is not None:
            raise ValueError("tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']")
        if self.protocol == "HTTPS" and self.tls is not None and self.tls.mode != "Terminate":
            raise ValueError("tls mode must be Terminate for protocol HTTPS")
        if self.protocol == "TLS" and self.tls is None:
            raise ValueError("tls mode must be set for protocol TLS")
        if self.protocol in ("TCP", "UDP") and self.hostname:
            raise ValueError("hostname must not be specified for protocols ['TCP', 'UDP']")
        return self


class GatewayAddress(StrictModel):
    type: str = Field(default="IPAddress", min_length=1, max_length=253)
    value: str | None = Field(default=None, max_length=253)


class ObjectReference(StrictModel):
    """``ObjectReference``: a CA's ConfigMap (Core) or Secret, in another namespace by grant."""

    group: Group
    kind: Kind
    name: ObjectName
    namespace: NamespaceName | None = None


class CACertificateValidation(StrictModel):
    """``FrontendTLSValidation``: the CAs listeners verify client certificates against."""

    ca_certificate_refs: list[ObjectReference] = Field(min_length=1, max_length=16)
    mode: Literal["AllowValidOnly", "AllowInsecureFallback"] = "AllowValidOnly"


class FrontendTLSSettings(StrictModel):
    validation: CACertificateValidation | None = None


class PerPortTLS(StrictModel):
    port: PortNumber
    tls: FrontendTLSSettings


class FrontendTLSConfig(StrictModel):
    default: FrontendTLSSettings
    per_port: list[PerPortTLS] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _unique_ports(self) -> FrontendTLSConfig:
        if len({p.port for p in self.per_port}) != len(self.per_port):
            raise ValueError("Port for TLS configuration must be unique within the Gateway")
        return self


class GatewayTLSConfig(StrictModel):
    frontend: FrontendTLSConfig | None = None
    backend: dict[str, Any] | None = None


class LocalParametersReference(StrictModel):
    group: Group
    kind: Kind
    name: ObjectName


class GatewayInfrastructure(StrictModel):
    labels: dict[str, str] = Field(default_factory=dict, max_length=8)
    annotations: dict[str, str] = Field(default_factory=dict, max_length=16)
    parameters_ref: LocalParametersReference | None = None


class AllowedListenerNamespaces(StrictModel):
    from_: Literal["All", "Selector", "Same", "None"] = Field(default="None", alias="from")
    selector: KubernetesLabelSelector | None = None


class AllowedListeners(StrictModel):
    namespaces: AllowedListenerNamespaces = Field(default_factory=AllowedListenerNamespaces)


class KubernetesGatewaySpec(StrictModel):
    gateway_class_name: ObjectName
    listeners: list[Listener] = Field(min_length=1, max_length=64)
    addresses: list[GatewayAddress] = Field(default_factory=list, max_length=16)
    infrastructure: GatewayInfrastructure | None = None
    allowed_listeners: AllowedListeners | None = None
    tls: GatewayTLSConfig | None = None

    @field_validator("listeners")
    @classmethod
    def _distinct_listeners(cls, listeners: list[Listener]) -> list[Listener]:
        names = [x.name for x in listeners]
        if len(set(names)) != len(names):
            raise ValueError("Listener name must be unique within the Gateway")
        combos = [(x.port, x.protocol, x.hostname) for x in listeners]
        if len(set(combos)) != len(combos):
            raise ValueError(
                "Combination of port, protocol and hostname must be unique for each listener"
            )
        return listeners

    @field_validator("addresses")
    @classmethod
    def _distinct_addresses(cls, addresses: list[GatewayAddress]) -> list[GatewayAddress]:
        for address_type in ("IPAddress", "Hostname"):
            values = [a.value for a in addresses if a.type == address_type and a.value]
            if len(set(values)) != len(values):
                raise ValueError(f"{address_type} values must be unique")
        return addresses


class KubernetesGateway(GatewayAPIResource):
    """``gateway.networking.k8s.io`` Gateway (v1, v1beta1).

    Named as Istio names it (``gvk.KubernetesGateway``), apart from Istio's
    own Gateway.
    """

    api_version: Literal["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"]
    kind: Literal["Gateway"]
    spec: KubernetesGatewaySpec

    def listener(self, name: str) -> Listener | None:
        return next((x for x in self.spec.listeners if x.name == name), None)
