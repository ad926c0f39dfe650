"""The access logs Istio gives a proxy: the mesh config's file log, or the Telemetry API's.

As ``pilot/pkg/networking/core/accesslog.go`` (``setHTTPAccessLog``) and
``pilot/pkg/model/telemetry.go`` (``AccessLogging``, ``applicableTelemetries``,
``mergeLogs``) decide it: Telemetry resources at the root namespace (mesh-wide),
the proxy's namespace and its workload (``selector``, or ``targetRefs`` to a
Gateway API Gateway) override one another in that order; where none applies,
``meshConfig.accessLogFile`` decides (empty: no log). ``defaultProviders.accessLogging``
names the providers a proxy gets without Telemetry, and the start of the merge.
An entry's ``match.mode`` picks the listener class it applies to
(``matchWorkloadMode``): CLIENT for gateways and outbound sidecars, SERVER for a
sidecar's inbound listeners (``translate.sidecar.inbound``).
Providers are the mesh's ``extensionProviders`` merged by name into Istio's
defaults; the built-in ``envoy`` provider writes to ``/dev/stdout`` in the mesh's
encoding and format, another ``envoyFileAccessLog`` in its own (``telemetryAccessLog``
in ``telemetry_logging.go``); a filter expression becomes Envoy's CEL access-log
filter, as Istio builds it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ...._cases.model.istio import AccessLogging, AccessLoggingFilter, Telemetry
from ...._cases.model.meshconfig import ExtensionProvider, MeshConfig
from ...accesslog import LogFormat
from ..world import GatewayProxy, World
from .common import _API, Json, labels_match

__all__ = [
    "IstioAccessLog",
    "WorkloadMode",
    "applicable_telemetries",
    "istio_access_logs",
    "istio_log_files",
    "provider_problems",
    "telemetry_problems",
    "with_access_logs",
]

log = logging.getLogger(__name__)

_BUILTIN_PROVIDER = "envoy"
_STDOUT = "/dev/stdout"
_CEL_FILTER = "envoy.access_loggers.extension_filters.cel"
_GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"

# telemetry.go workloadMode: the mode of a listener class (inbound: SERVER).
WorkloadMode = Literal["CLIENT", "SERVER"]


@dataclass(frozen=True)
class IstioAccessLog:
    """One file access log of a proxy: where it writes (as Istio names the path), how,
    and the CEL expression a request must satisfy to be logged."""

    path: str
    log_format: LogFormat
    expression: str | None = None

    def file_on_disk(self, proxy: GatewayProxy) -> str:
        """Where the local proxy really writes: its container log for /dev/stdout and
        /dev/stderr (as a pod's are), else a file under its log directory."""
        if proxy.log_dir is None:
            return self.path
        if self.path in (_STDOUT, "/dev/stderr"):
            return os.path.join(proxy.log_dir, "container.log")
        return os.path.join(proxy.log_dir, "files", self.path.lstrip("/").replace("/", "_"))

    def envoy(self, proxy: GatewayProxy) -> Json:
        """The ``AccessLog`` (``envoy.access_loggers.file``) Istio would configure."""
        logger: Json = {
            "name": "envoy.access_loggers.file",
            "typed_config": {
                "@type": f"{_API}.access_loggers.file.v3.FileAccessLog",
                "path": self.file_on_disk(proxy),
                "log_format": self.log_format.envoy(),
            },
        }
        if self.expression is not None:
            logger["filter"] = {
                "extension_filter": {
                    "name": _CEL_FILTER,
                    "typed_config": {
                        "@type": f"{_API}.access_loggers.filters.cel.v3.ExpressionFilter",
                        "expression": self.expression,
                    },
                }
            }
        return logger


def with_access_logs(world: World, proxy: GatewayProxy) -> GatewayProxy:
    """``proxy`` with the Envoy access loggers Istio gives it (``GatewayProxy.access_logs``)."""
    logs = tuple(entry.envoy(proxy) for entry in istio_access_logs(world, proxy))
    return dataclasses.replace(proxy, access_logs=logs)


def istio_log_files(
    world: World, proxy: GatewayProxy, mode: WorkloadMode = "CLIENT"
) -> tuple[tuple[str, LogFormat], ...]:
    """Each file Istio's access logs of ``proxy`` write on disk, with its format."""
    logs = istio_access_logs(world, proxy, mode)
    return tuple((e.file_on_disk(proxy), e.log_format) for e in logs)


def _mesh_log(mesh: MeshConfig, path: str) -> IstioAccessLog:
    """``FileAccessLogFromMeshConfig``."""
    return IstioAccessLog(
        path, LogFormat.from_mesh(mesh.access_log_encoding, mesh.access_log_format)
    )


def _provider_log(mesh: MeshConfig, provider: ExtensionProvider) -> IstioAccessLog | None:
    """``telemetryAccessLog`` for a file provider; None for a kind that writes no access
    log (prometheus, tracers: Istio skips it). The kinds that log elsewhere (gRPC and
    OpenTelemetry sinks) never reach here: ``provider_problems`` skips their cases."""
    file_log = provider.envoy_file_access_log
    if file_log is None:
        return None
    path = file_log.path or _STDOUT
    if provider.name == _BUILTIN_PROVIDER and file_log.log_format is None:
        # The built-in provider without a format follows the mesh's formatting options.
        return _mesh_log(mesh, path)
    log_format = file_log.log_format
    if log_format is not None and log_format.labels is not None:
        return IstioAccessLog(path, LogFormat("JSON", json_format=dict(log_format.labels)))
    text = log_format.text if log_format is not None else None
    return IstioAccessLog(path, LogFormat.from_mesh("TEXT", text or ""))


def istio_access_logs(
    world: World, proxy: GatewayProxy, mode: WorkloadMode = "CLIENT"
) -> tuple[IstioAccessLog, ...]:
    """The access logs Istio configures on ``proxy``'s connection managers and TCP
    proxies of the listener class ``mode`` stands for (``workloadMode``): CLIENT for a
    gateway's and a sidecar's outbound listeners, SERVER for a sidecar's inbound ones.
    ``meshConfig.accessLogFile`` applies to both."""
    mesh = world.mesh
    levels = _applicable(world, proxy)
    defaults = mesh.default_providers.access_logging
    logs: list[IstioAccessLog] = []
    configured = 0
    if levels or defaults:
        merged = _merge(levels, defaults, mode)
        for name, (expression, disabled) in sorted(merged.items()):
            provider = mesh.provider(name)
            if provider is None:
                # fetchProvider finds nothing: Istio skips the provider (istioctl analyze
                # reports it).
                log.warning(
                    "access-log provider %r is not defined in the mesh config: Istio ignores it",
                    name,
                )
                continue
            access_log = _provider_log(mesh, provider)
            if access_log is None:
                continue
            configured += 1
            if not disabled:
                logs.append(dataclasses.replace(access_log, expression=expression))
    if configured == 0:
        # No Telemetry API configuration (or none that names a logging provider):
        # the legacy mesh config setting.
        return (_mesh_log(mesh, mesh.access_log_file),) if mesh.access_log_file else ()
    return tuple(logs)


_ELSEWHERE = ("envoyHttpAls", "envoyTcpAls", "envoyOtelAls")


def provider_problems(mesh: MeshConfig, resources: Sequence[object]) -> list[str]:
    """What the local target cannot honour of the access-log and tracing providers the
    case's mesh config and Telemetry resources select (a reason to skip the case)."""
    problems: list[str] = []
    if mesh.default_providers.tracing:
        problems.append(
            "meshConfig.defaultProviders.tracing is not honoured (no tracing provider runs locally)"
        )
    names = list(mesh.default_providers.access_logging)
    for telemetry in (r for r in resources if isinstance(r, Telemetry)):
        names += [p.name for entry in telemetry.spec.access_logging for p in entry.providers]
    for name in dict.fromkeys(names):
        provider = mesh.provider(name)
        if provider is None:
            continue
        if provider.kind in _ELSEWHERE:
            problems.append(
                f"access-log provider {name!r} ({provider.kind}) sends logs to a collector, "
                "which the local target does not run (file access logs are honoured)"
            )
        elif provider.envoy_file_access_log and provider.envoy_file_access_log.omit_empty_values:
            problems.append(
                f"access-log provider {name!r}: omitEmptyValues is not honoured (the "
                "harness reads lines in Istio's formats with their '-' placeholders)"
            )
    return problems


def _namespace_wide(telemetries: Sequence[Telemetry], namespace: str) -> Telemetry | None:
    """``namespaceWideTelemetryConfig``: the oldest Telemetry of the namespace without
    selector or targetRefs."""
    for telemetry in telemetries:
        if telemetry.namespace == namespace and not _selects(telemetry):
            return telemetry
    return None


def _selects(telemetry: Telemetry) -> bool:
    spec = telemetry.spec
    return bool(spec.selector is not None and spec.selector.match_labels) or bool(
        spec.all_target_refs
    )


def applicable_telemetries(world: World, proxy: GatewayProxy) -> list[Telemetry]:
    """``applicableTelemetries``: the root namespace's namespace-wide Telemetry, the
    proxy's namespace's, then those selecting its workload, later ones overriding."""
    telemetries = [r for r in world.resources if isinstance(r, Telemetry)]
    chosen: list[Telemetry] = []
    root = _namespace_wide(telemetries, world.root_namespace)
    if root is not None:
        chosen.append(root)
    if proxy.namespace != world.root_namespace:
        own = _namespace_wide(telemetries, proxy.namespace)
        if own is not None:
            chosen.append(own)
    for telemetry in telemetries:
        if telemetry.namespace != proxy.namespace or not _selects(telemetry):
            continue
        if _attaches(telemetry, proxy):
            chosen.append(telemetry)
    return chosen


def _applicable(world: World, proxy: GatewayProxy) -> list[list[AccessLogging]]:
    """The accessLogging lists of the Telemetries that apply to ``proxy``, in order."""
    return [
        list(t.spec.access_logging)
        for t in applicable_telemetries(world, proxy)
        if t.spec.access_logging
    ]


def _attaches(telemetry: Telemetry, proxy: GatewayProxy) -> bool:
    """``WorkloadPolicyMatcher.ShouldAttachPolicy`` for a sidecar or gateway (no waypoints)."""
    spec = telemetry.spec
    refs = spec.all_target_refs
    gateway_name = proxy.labels.get(_GATEWAY_NAME_LABEL)
    if gateway_name is None and refs:
        return False  # a targetRef policy is ignored by every non-Gateway-API workload
    if not refs:
        # ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY is on by default.
        selector = spec.selector.match_labels if spec.selector is not None else {}
        return labels_match(proxy.labels, selector)
    for ref in refs:
        if ref.namespace not in ("", proxy.namespace):
            continue
        gateway = ref.group == "gateway.networking.k8s.io" and ref.kind == "Gateway"
        if gateway and ref.name == gateway_name:
            return True
    return False


def _applies(entry: AccessLogging, mode: WorkloadMode) -> bool:
    """``matchWorkloadMode``: an entry without match (or CLIENT_AND_SERVER) applies to
    either mode, one with a mode only to that one."""
    return entry.match is None or entry.match.mode in (mode, "CLIENT_AND_SERVER")


def _merge(
    levels: list[list[AccessLogging]], defaults: Sequence[str], mode: WorkloadMode
) -> dict[str, tuple[str | None, bool]]:
    """``mergeLogs``: provider -> (filter expression, disabled), starting from the mesh's
    default access-log providers."""
    if not levels:
        return {name: (None, False) for name in defaults}
    provider_names: list[str] = list(defaults)
    filters: dict[str, AccessLoggingFilter | None] = {}
    for level in levels:
        names: set[str] = set()
        for entry in level:
            if not _applies(entry, mode):
                continue
            for provider in entry.providers:
                names.add(provider.name)
                filters[provider.name] = entry.filter
        if names:
            provider_names = sorted(names)
    in_scope = set(provider_names)
    merged: dict[str, tuple[str | None, bool]] = {}
    parent: list[str] = list(defaults)
    for level in levels:
        for entry in level:
            names_here = [p.name for p in entry.providers] or parent
            parent = names_here
            for name in names_here:
                if name not in in_scope or not _applies(entry, mode):
                    continue
                if entry.disabled:
                    merged[name] = (None, True)
                    continue
                chosen = filters.get(name)
                merged[name] = (chosen.expression if chosen is not None else None, False)
    return merged


def telemetry_problems(resources: Sequence[object]) -> list[str]:
    """What the local target cannot honour in the case's Telemetry resources: tracing
    and a metrics reporting interval (a reason to skip the case, never to ignore them).
    Tag override expressions are checked where they are evaluated (``local.stats``)."""
    problems: list[str] = []
    for telemetry in (r for r in resources if isinstance(r, Telemetry)):
        if telemetry.spec.tracing:
            problems.append(
                f"Telemetry {telemetry.key}: spec.tracing is not honoured (no tracing "
                "provider runs locally; accessLogging and metrics are)"
            )
        for metrics in telemetry.spec.metrics:
            if metrics.reporting_interval is not None:
                problems.append(
                    f"Telemetry {telemetry.key}: metrics reportingInterval is not honoured "
                    "(the local proxies count a TCP connection when it closes)"
                )
    return problems
