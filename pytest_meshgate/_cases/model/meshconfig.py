"""``spec.meshConfig``: the mesh-wide settings a case may give, a subset of Istio's MeshConfig.

Istio reads them from the ``istio`` ConfigMap (``mesh`` key); a case names
the few the harness honours, with Istio's defaults (``pkg/config/mesh/mesh.go``
``DefaultMeshConfig``: no access log, TEXT encoding, Istio's format). Other
MeshConfig keys are refused with a reason rather than silently ignored.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from .base import CaseModel

__all__ = [
    "DefaultProviders",
    "EnvoyFileAccessLogProvider",
    "ExtensionProvider",
    "FileAccessLogFormat",
    "GatewayTopology",
    "MeshConfig",
    "ProxyConfig",
    "parse_proxy_config",
]

# The provider kinds of MeshConfig.ExtensionProvider (istio/api mesh/v1alpha1/config.proto,
# its ``provider`` oneof). Only envoyFileAccessLog and prometheus run locally; the others
# are accepted as written, and a case whose Telemetry or default providers select one
# for access logs is skipped with the reason (translate/accesslog.py).
EXTENSION_PROVIDER_KINDS = (
    "envoyExtAuthzHttp",
    "envoyExtAuthzGrpc",
    "zipkin",
    "lightstep",
    "datadog",
    "stackdriver",
    "opencensus",
    "skywalking",
    "opentelemetry",
    "prometheus",
    "envoyFileAccessLog",
    "envoyHttpAls",
    "envoyTcpAls",
    "envoyOtelAls",
    "sds",
)

# MeshConfig keys (istio/api mesh/v1alpha1/config.proto) the harness does not honour yet.
_KNOWN_UNSUPPORTED = frozenset(
    {
        "accessLogFormatters",
        "enableEnvoyAccessLogService",
        "disableEnvoyListenerLog",
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


def _log_path(path: str, key: str, when_empty: str) -> str:
    """An access log's path: absolute, or empty (``when_empty`` says what that means)."""
    if path and not path.startswith("/"):
        raise ValueError(f"{key} is an absolute path (or empty: {when_empty})")
    if any(not c.isprintable() for c in path):
        raise ValueError(f"{key} holds no control characters")
    return path


class FileAccessLogFormat(CaseModel):
    """``EnvoyFileAccessLogProvider.LogFormat``: a TEXT format string or JSON ``labels``."""

    text: str | None = Field(
        default=None, description="An Envoy format string; Istio appends the newline."
    )
    labels: dict[str, str] | None = Field(
        default=None,
        description="JSON keys to Envoy commands; empty: Istio's default JSON format.",
    )

    @model_validator(mode="after")
    def _one_of(self) -> FileAccessLogFormat:
        if self.text is not None and self.labels is not None:
            raise ValueError("logFormat is text or labels, not both")
        return self


class EnvoyFileAccessLogProvider(CaseModel):
    """``EnvoyFileAccessLogProvider``: Envoy's file access log, as Istio builds it."""

    path: str = Field(default="", description="Where to write; empty: /dev/stdout.")
    log_format: FileAccessLogFormat | None = Field(
        default=None,
        description="Unset: Istio's TEXT format (the built-in envoy provider: the mesh's "
        "accessLogEncoding and accessLogFormat).",
    )
    omit_empty_values: bool = False

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        return _log_path(path, "path", "/dev/stdout")


class ExtensionProvider(CaseModel):
    """``MeshConfig.ExtensionProvider``: a named provider of exactly one kind.

    ``envoyFileAccessLog`` is modelled; every other kind is kept as written.
    """

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=253)
    envoy_file_access_log: EnvoyFileAccessLogProvider | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [k for k in data if k != "name" and k not in EXTENSION_PROVIDER_KINDS]
            if unknown:
                raise ValueError(
                    f"unknown extension provider key {unknown[0]!r} (one of "
                    f"{', '.join(EXTENSION_PROVIDER_KINDS)})"
                )
            kinds = [k for k in data if k in EXTENSION_PROVIDER_KINDS]
            if len(kinds) != 1:
                # Istio's validateExtensionProvider: "one of ... must be specified".
                raise ValueError("an extension provider has exactly one provider kind")
        return data

    @property
    def kind(self) -> str:
        """The provider's kind, as its key is written (``envoyFileAccessLog``)."""
        if self.envoy_file_access_log is not None:
            return "envoyFileAccessLog"
        return next(iter(self.model_extra or {}))


class DefaultProviders(CaseModel):
    """``MeshConfig.DefaultProviders``: the providers used where no Telemetry names one."""

    tracing: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(
        default_factory=lambda: ["prometheus"],
        description="Istio's installation sets [prometheus] (telemetry v2); the local "
        "proxies' metrics provider.",
    )
    access_logging: list[str] = Field(
        default_factory=list,
        description="Access-log providers every proxy gets without a Telemetry (e.g. [envoy]).",
    )


class MeshConfig(CaseModel):
    """The access-log and telemetry-provider settings of Istio's MeshConfig (the rest is
    not supported yet)."""

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
    extension_providers: list[ExtensionProvider] = Field(
        default_factory=list,
        max_length=64,
        description="Providers merged by name into Istio's defaults (prometheus, "
        "stackdriver, envoy: a file access log to /dev/stdout).",
    )
    default_providers: DefaultProviders = Field(default_factory=DefaultProviders)

    @model_validator(mode="before")
    @classmethod
    def _only_supported_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key in _KNOWN_UNSUPPORTED:
                    raise ValueError(
                        f"meshConfig.{key} is not supported by the harness yet (supported: "
                        "accessLogFile, accessLogEncoding, accessLogFormat, "
                        "defaultConfig.gatewayTopology, extensionProviders, defaultProviders)"
                    )
        return data

    @field_validator("access_log_file")
    @classmethod
    def _absolute(cls, path: str) -> str:
        return _log_path(path, "accessLogFile", "no access log")

    @field_validator("extension_providers")
    @classmethod
    def _distinct_names(cls, providers: list[ExtensionProvider]) -> list[ExtensionProvider]:
        seen: set[str] = set()
        for provider in providers:
            if provider.name in seen:
                # validateExtensionProvider: "duplicate extension provider name".
                raise ValueError(f"duplicate extension provider name {provider.name!r}")
            seen.add(provider.name)
        return providers

    def providers(self) -> dict[str, ExtensionProvider]:
        """The mesh's providers by name: Istio's defaults with this mesh's merged in by
        name (``ApplyProxyConfig`` in ``pkg/config/mesh/mesh.go``)."""
        merged = {p.name: p for p in _DEFAULT_PROVIDERS}
        merged.update({p.name: p for p in self.extension_providers})
        return merged

    def provider(self, name: str) -> ExtensionProvider | None:
        """``fetchProvider``: the provider whose name equals ``name`` ignoring case."""
        for provider_name, provider in self.providers().items():
            if provider_name.lower() == name.lower():
                return provider
        return None

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


# DefaultMeshConfig's extensionProviders (pkg/config/mesh/mesh.go).
_DEFAULT_PROVIDERS = (
    ExtensionProvider.model_validate({"name": "prometheus", "prometheus": {}}),
    ExtensionProvider.model_validate({"name": "stackdriver", "stackdriver": {}}),
    ExtensionProvider.model_validate(
        {"name": "envoy", "envoyFileAccessLog": {"path": "/dev/stdout"}}
    ),
)
