"""``spec.meshConfig``: the mesh-wide settings a case may give, a subset of Istio's MeshConfig.

Istio reads them from the ``istio`` ConfigMap (``mesh`` key); a case names
the few the harness honours, with Istio's defaults (``pkg/config/mesh/mesh.go``
``DefaultMeshConfig``: no access log, TEXT encoding, Istio's format). Other
MeshConfig keys are refused with a reason rather than silently ignored.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .base import CaseModel

__all__ = ["GatewayTopology", "MeshConfig", "ProxyConfig", "parse_proxy_config"]

# MeshConfig keys (istio/api mesh/v1alpha1/config.proto) the harness does not honour yet.
_KNOWN_UNSUPPORTED = frozenset(
    {
        "accessLogFormatters",
        "enableEnvoyAccessLogService",
        "disableEnvoyListenerLog",
        "extensionProviders",
        "defaultProviders",
        "enableTracing",
        "outboundTrafficPolicy",
        "rootNamespace",
        "trustDomain",
        "enableAutoMtls",
        "ingressClass",
        "ingressService",
        "ingressControllerMode",
        "ingressSelector",
        "defaultDestinationRuleExportTo",
        "defaultServiceExportTo",
        "defaultVirtualServiceExportTo",
        "localityLbSetting",
        "dnsRefreshRate",
        "h2UpgradePolicy",
        "connectTimeout",
        "tcpKeepalive",
        "protocolDetectionTimeout",
        "inboundTrafficPolicy",
        "meshMTLS",
        "tlsDefaults",
        "serviceSettings",
        "discoverySelectors",
        "pathNormalization",
        "defaultHttpRetryPolicy",
    }
)


class GatewayTopology(CaseModel):
    """``ProxyConfig.gatewayTopology``: the proxies in front of a gateway."""

    num_trusted_proxies: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Trusted proxies in front of the gateway: the HCM's xff_num_trusted_hops, "
        "so remote.ip / remoteIpBlocks read X-Forwarded-For that many hops back.",
    )


class ProxyConfig(CaseModel):
    """The ProxyConfig keys the harness honours (``meshConfig.defaultConfig``, or a gateway
    pod's ``proxy.istio.io/config`` annotation): ``gatewayTopology.numTrustedProxies``."""

    gateway_topology: GatewayTopology | None = None


def parse_proxy_config(text: str) -> ProxyConfig:
    """The ``proxy.istio.io/config`` annotation (YAML or JSON) as a ProxyConfig."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"proxy.istio.io/config is not YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError("proxy.istio.io/config is a ProxyConfig object")
    return ProxyConfig.model_validate(data)


class MeshConfig(CaseModel):
    """The access-log settings of Istio's MeshConfig (the rest is not supported yet)."""

    access_log_file: str = Field(
        default="",
        description="Where every proxy writes its access log; empty (Istio's default "
        "profile): no access log; /dev/stdout (the demo profile): the container log.",
    )
    access_log_encoding: Literal["TEXT", "JSON"] = Field(
        default="TEXT", description="TEXT (Istio's default) or JSON."
    )
    access_log_format: str = Field(
        default="",
        description="Envoy format string (TEXT) or a JSON object of key: command (JSON); "
        "empty: Istio's default format.",
    )

    default_config: ProxyConfig = Field(
        default_factory=ProxyConfig,
        description="Every proxy's ProxyConfig: gatewayTopology.numTrustedProxies only.",
    )

    @model_validator(mode="before")
    @classmethod
    def _only_supported_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key in _KNOWN_UNSUPPORTED:
                    raise ValueError(
                        f"meshConfig.{key} is not supported by the harness yet (supported: "
                        "accessLogFile, accessLogEncoding, accessLogFormat, "
                        "defaultConfig.gatewayTopology)"
                    )
        return data

    @field_validator("access_log_file")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if path and not path.startswith("/"):
            raise ValueError("accessLogFile is an absolute path (or empty: no access log)")
        if any(not c.isprintable() for c in path):
            raise ValueError("accessLogFile holds no control characters")
        return path

    @model_validator(mode="after")
    def _json_format_is_an_object(self) -> MeshConfig:
        # Istio logs an error and falls back to its default for a format it cannot
        # parse ("error parsing provided json log format"); a case means its format.
        if self.access_log_encoding == "JSON" and self.access_log_format:
            try:
                parsed = json.loads(self.access_log_format)
            except ValueError as exc:
                raise ValueError(f"accessLogFormat is not JSON: {exc}") from None
            if not isinstance(parsed, dict):
                raise ValueError("accessLogFormat for JSON encoding is a JSON object")
        return self
