"""Mesh services and DestinationRule subsets -> Envoy clusters of a gateway proxy."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ...._cases.model.istio import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    ConsistentHashLB,
    DestinationRule,
    LoadBalancerSettings,
    OutlierDetection,
    TrafficPolicy,
)
from ..world import Endpoint, GatewayProxy, MeshService, World
from .automtls import auto_mtls
from .common import (
    _API,
    CLUSTER_TYPE,
    Json,
    UnsupportedFeature,
    envoy_duration,
    labels_match,
)
from .index import (
    cluster_name,
    destination_rule_for,
    merged_subsets,
    merged_traffic_policy,
    port_level_settings,
)
from .stats import endpoint_metadata, service_metadata
from .tls import CredentialError, upstream_tls

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "H2_PROTOCOLS", "build_clusters"]

log = logging.getLogger(__name__)

# protocol.Instance.IsHTTP2(): these ports get an HTTP/2 upstream (cluster_builder.go
# setUpstreamProtocol); everything else stays HTTP/1.1, whatever the client spoke.
H2_PROTOCOLS = frozenset({"HTTP2", "GRPC", "GRPC-WEB"})
_MAX_UINT32 = 4294967295
DEFAULT_CONNECT_TIMEOUT = "10s"  # mesh connectTimeout default
_HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


@dataclass(frozen=True)
class _Policy:
    """The four per-port blocks of a TrafficPolicy after Istio's merging."""

    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


_BLOCKS = ("load_balancer", "connection_pool", "outlier_detection", "tls")


def _port_level(policy: TrafficPolicy | None, port: int) -> tuple[_Policy | None, bool]:
    """GetPortLevelTrafficPolicy(): the matching portLevelSettings entry replaces the whole policy.

    Omitted blocks of that entry do not inherit the destination-level ones.
    The flag says a port-level entry was used.
    """
    if policy is None:
        return None, False
    entry = port_level_settings(policy, port)
    if entry is not None:
        return _Policy(**{name: getattr(entry, name) for name in _BLOCKS}), True
    return _Policy(**{name: getattr(policy, name) for name in _BLOCKS}), False


def _effective_policy(
    top: TrafficPolicy | None, subset: TrafficPolicy | None, port: int
) -> _Policy:
    """util.go MergeSubsetTrafficPolicy() for one port.

    Each level first resolves its own portLevelSettings; then every block the
    subset sets overrides the destination's, and a subset port-level entry
    overrides all four blocks, set or not (MergeTrafficPolicy ``hasPortLevel``).
    """
    original, _ = _port_level(top, port)
    own, port_level = _port_level(subset, port)
    if own is None:
        return original or _Policy()
    if original is None:
        return own
    merged = {
        name: getattr(own, name)
        if getattr(own, name) is not None or port_level
        else getattr(original, name)
        for name in _BLOCKS
    }
    return _Policy(**merged)


def _check_unsupported(
    dr: DestinationRule, where: str, policy: TrafficPolicy | None, *, mesh: bool
) -> None:
    """Fields not translated yet: an error, never silently ignored."""
    if policy is None:
        return
    for name in ("tunnel", "proxy_protocol", "retry_budget"):
        if getattr(policy, name) is not None:
            raise UnsupportedFeature(dr, f"{where}.{TrafficPolicy.model_fields[name].alias}")
    items = [(where, policy)] + [
        (f"{where}.portLevelSettings[{i}]", p) for i, p in enumerate(policy.port_level_settings)
    ]
    for path, p in items:
        lb = p.load_balancer
        if lb is not None:
            for name in (
                "locality_lb_setting",
                "warmup_duration_secs",
                "warmup",
            ):
                if getattr(lb, name) is not None:
                    alias = LoadBalancerSettings.model_fields[name].alias
                    raise UnsupportedFeature(dr, f"{path}.loadBalancer.{alias}")
            if lb.simple == "PASSTHROUGH":
                raise UnsupportedFeature(dr, f"{path}.loadBalancer.simple", "PASSTHROUGH")
        if p.tls is not None:
            _check_client_tls(dr, f"{path}.tls", p.tls, mesh=mesh)
        pool = p.connection_pool
        if pool is not None:
            if pool.tcp is not None and (
                pool.tcp.tcp_keepalive or pool.tcp.max_connection_duration
            ):
                raise UnsupportedFeature(dr, f"{path}.connectionPool.tcp", "keepalive/duration")
            if pool.http is not None and (
                pool.http.h2_upgrade_policy or pool.http.max_concurrent_streams
            ):
                raise UnsupportedFeature(
                    dr, f"{path}.connectionPool.http", "h2UpgradePolicy/maxConcurrentStreams"
                )
        od = p.outlier_detection
        if od is not None and (
            od.split_external_local_origin_errors
            or od.consecutive_local_origin_failures
            or od.consecutive_errors
        ):
            raise UnsupportedFeature(dr, f"{path}.outlierDetection", "local-origin errors")


def _check_client_tls(
    dr: DestinationRule, path: str, tls: ClientTLSSettings, *, mesh: bool
) -> None:
    """ClientTLSSettings the local target can honour.

    DISABLE; SIMPLE and MUTUAL by credentialName (or the system trust store);
    ISTIO_MUTUAL when the proxy has a mesh identity (``mesh``). File paths
    (``caCertificates``, ``clientCertificate``, ``caCrl``) are not: they name
    files mounted into the proxy's pod, which a case file cannot ship.
    """
    if tls.mode == "ISTIO_MUTUAL":
        if not mesh:
            raise UnsupportedFeature(
                dr, f"{path}.mode", "ISTIO_MUTUAL: the proxy has no mesh identity"
            )
        return  # file fields are ignored: the mesh certificate comes from the agent
    if tls.mode == "DISABLE" or tls.credential_name:
        return  # with a credentialName Istio ignores the file fields
    if tls.mode == "MUTUAL":
        raise UnsupportedFeature(
            dr, f"{path}.clientCertificate", "certificate files; use credentialName"
        )
    if tls.ca_certificates and tls.ca_certificates != "system":
        raise UnsupportedFeature(
            dr, f"{path}.caCertificates", "a CA file; use credentialName (its ca.crt)"
        )
    if tls.ca_crl:
        raise UnsupportedFeature(dr, f"{path}.caCrl", "a CRL file; use credentialName")


def _check_policies(rules: list[DestinationRule], *, mesh: bool) -> None:
    for dr in rules:
        _check_unsupported(dr, "spec.trafficPolicy", dr.spec.traffic_policy, mesh=mesh)
        for i, subset in enumerate(dr.spec.subsets):
            _check_unsupported(
                dr, f"spec.subsets[{i}].trafficPolicy", subset.traffic_policy, mesh=mesh
            )


_LB_POLICIES = {
    "LEAST_CONN": "LEAST_REQUEST",
    "LEAST_REQUEST": "LEAST_REQUEST",
    "ROUND_ROBIN": "ROUND_ROBIN",
    "RANDOM": "RANDOM",
}


def _apply_policy(cluster: Json, policy: _Policy) -> None:
    """cluster_traffic_policy.go applyLoadBalancer/applyConnectionPool/applyOutlierDetection."""
    if policy.load_balancer is not None and policy.load_balancer.simple:
        cluster["lb_policy"] = _LB_POLICIES.get(policy.load_balancer.simple, "LEAST_REQUEST")
    if policy.load_balancer is not None and policy.load_balancer.consistent_hash is not None:
        _apply_consistent_hash(cluster, policy.load_balancer.consistent_hash)
    pool = policy.connection_pool
    if pool is not None:
        threshold = cluster["circuit_breakers"]["thresholds"][0]
        idle: float | None = None
        per_connection = 0
        if pool.http is not None:
            # Zero means "unset" in Istio (the FIXME in applyConnectionPool).
            if pool.http.http2_max_requests:
                threshold["max_requests"] = pool.http.http2_max_requests
            if pool.http.http1_max_pending_requests:
                threshold["max_pending_requests"] = pool.http.http1_max_pending_requests
            if pool.http.max_retries:
                threshold["max_retries"] = pool.http.max_retries
            idle = pool.http.idle_timeout
            per_connection = pool.http.max_requests_per_connection or 0
        if pool.tcp is not None:
            if pool.tcp.connect_timeout is not None:
                cluster["connect_timeout"] = envoy_duration(pool.tcp.connect_timeout)
            if pool.tcp.max_connections:
                threshold["max_connections"] = pool.tcp.max_connections
            if idle is None:
                idle = pool.tcp.idle_timeout
        if idle is not None or per_connection:
            options = _http_options(cluster)
            common = options.setdefault("common_http_protocol_options", {})
            if idle is not None:
                common["idle_timeout"] = envoy_duration(idle)
            if per_connection:
                common["max_requests_per_connection"] = per_connection
    od = policy.outlier_detection
    if od is not None:
        out: Json = {"enforcing_success_rate": 0}
        if od.consecutive5xx_errors is not None:
            out["consecutive_5xx"] = od.consecutive5xx_errors
            out["enforcing_consecutive_5xx"] = 100 if od.consecutive5xx_errors > 0 else 0
        if od.consecutive_gateway_errors is not None:
            out["consecutive_gateway_failure"] = od.consecutive_gateway_errors
            out["enforcing_consecutive_gateway_failure"] = (
                100 if od.consecutive_gateway_errors > 0 else 0
            )
        if od.interval is not None:
            out["interval"] = envoy_duration(od.interval)
        if od.base_ejection_time is not None:
            out["base_ejection_time"] = envoy_duration(od.base_ejection_time)
        if od.max_ejection_percent:
            out["max_ejection_percent"] = od.max_ejection_percent
        cluster["outlier_detection"] = out
        # Panic mode off unless minHealthPercent says otherwise.
        cluster["common_lb_config"]["healthy_panic_threshold"] = {
            "value": float(od.min_health_percent or 0)
        }


def _apply_consistent_hash(cluster: Json, hash_lb: ConsistentHashLB) -> None:
    """cluster_traffic_policy.go ApplyRingHashLoadBalancer(): MAGLEV or RING_HASH.

    The route carries the hash key (route/policy.py consistent_hash_policy); the cluster
    only picks the algorithm. Without maglev/ringHash it is a ring of at least
    ``minimumRingSize`` (Envoy's 1024 by default).
    """
    if hash_lb.maglev is not None:
        cluster["lb_policy"] = "MAGLEV"
        table_size = hash_lb.maglev.get("tableSize", 0)
        if table_size:
            cluster["maglev_lb_config"] = {"table_size": table_size}
    elif hash_lb.ring_hash is not None:
        cluster["lb_policy"] = "RING_HASH"
        ring_size = hash_lb.ring_hash.get("minimumRingSize", 0)
        if ring_size:
            cluster["ring_hash_lb_config"] = {"minimum_ring_size": ring_size}
    else:
        cluster["lb_policy"] = "RING_HASH"
        cluster["ring_hash_lb_config"] = {"minimum_ring_size": hash_lb.minimum_ring_size or 1024}


def _http_options(cluster: Json) -> Json:
    """The cluster's HttpProtocolOptions, created as explicit HTTP/1.1 when absent."""
    options: Json = cluster.setdefault("typed_extension_protocol_options", {}).setdefault(
        _HTTP_OPTIONS,
        {
            "@type": f"{_API}.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http_protocol_options": {}},
        },
    )
    return options


def _is_http2(cluster: Json) -> bool:
    """cluster_builder.go isHttp2Cluster(): explicit HTTP/2 upstream."""
    options = cluster.get("typed_extension_protocol_options", {}).get(_HTTP_OPTIONS, {})
    return "http2_protocol_options" in options.get("explicit_http_config", {})


def _apply_client_protocol(cluster: Json, policy: _Policy) -> None:
    """``useClientProtocol``: upstream speaks what the client spoke (setUseDownstreamProtocol)."""
    pool = policy.connection_pool
    if pool is None or pool.http is None or not pool.http.use_client_protocol:
        return
    options = _http_options(cluster)
    explicit = options.pop("explicit_http_config", {})
    options["use_downstream_protocol_config"] = {
        "http_protocol_options": explicit.get("http_protocol_options", {}),
        "http2_protocol_options": {},
    }


@dataclass(frozen=True)
class _TlsTarget:
    """What TLS origination needs to know about a cluster besides the policy."""

    service: MeshService
    port: int
    subset: str | None
    selected: bool  # the DestinationRule has a workloadSelector (opts.isDrWithSelector)

    @property
    def default_sni(self) -> str:
        """model.BuildDNSSrvSubsetKey: ``outbound_.<port>_.<subset>_.<host>``."""
        return f"outbound_.{self.port}_.{self.subset or ''}_.{self.service.hostname}"


def _apply_tls(
    cluster: Json, policy: _Policy, world: World, proxy: GatewayProxy, target: _TlsTarget
) -> bool:
    """DestinationRule ``tls`` -> the cluster's transport socket; False to leave the cluster out.

    A credential that cannot be read leaves the cluster out: in Istio its SDS
    secret never arrives, the cluster keeps warming and requests get a 503.
    A sidecar ignores SIMPLE/MUTUAL with ``credentialName`` unless the rule has
    a ``workloadSelector``: no TLS at all then (buildUpstreamClusterTLSContext).
    """
    tls = policy.tls
    if tls is None:
        return True
    if (
        proxy.sidecar
        and tls.credential_name
        and not target.selected
        and tls.mode in ("SIMPLE", "MUTUAL")
        and not tls.credential_name.startswith("configmap://")
    ):
        return True
    try:
        origination = upstream_tls(
            world,
            proxy.namespace,
            tls,
            http2=_is_http2(cluster),
            identity=proxy.mesh_identity,
            default_sni=target.default_sni,
            service_accounts=target.service.service_accounts,
            external=target.service.external,
        )
    except CredentialError as exc:
        log.warning("cluster %s left out: %s", cluster["name"], exc)
        return False
    if origination is None:
        return True
    cluster["transport_socket"] = origination.transport_socket
    if origination.http_options:
        _http_options(cluster).setdefault("upstream_http_protocol_options", {}).update(
            origination.http_options
        )
    return True


def _endpoints(endpoints: list[Endpoint], port: int, namespace: str) -> list[Json]:
    lb_endpoints: list[Json] = []
    for ep in endpoints:
        address = ep.addresses.get(port)
        if address is None:
            continue
        ip, number = address
        lb: Json = {
            "endpoint": {"address": {"socket_address": {"address": ip, "port_value": number}}}
        }
        metadata = endpoint_metadata(ep, namespace)
        if metadata is not None:
            lb["metadata"] = metadata  # what Istio's stats filter reads as destination_*
        lb_endpoints.append(lb)
    return [{"lb_endpoints": lb_endpoints}] if lb_endpoints else []


def _cluster(name: str, protocol: str, endpoints: list[Json], proxy: GatewayProxy) -> Json:
    """An outbound cluster with Istio's defaults (cluster_builder.go, cluster_traffic_policy.go).

    Istio uses EDS; STATIC with the same endpoints behaves the same here. An
    empty endpoint list is kept: Envoy then answers 503 UH "no healthy upstream".
    """
    cluster: Json = {
        "@type": CLUSTER_TYPE,
        "name": name,
        "type": "STATIC",
        "connect_timeout": DEFAULT_CONNECT_TIMEOUT,
        "lb_policy": "LEAST_REQUEST",
        "circuit_breakers": {
            "thresholds": [
                {
                    "max_connections": _MAX_UINT32,
                    "max_pending_requests": _MAX_UINT32,
                    "max_requests": _MAX_UINT32,
                    "max_retries": _MAX_UINT32,
                    "track_remaining": True,
                }
            ]
        },
        "common_lb_config": {},
        "load_assignment": {"cluster_name": name, "endpoints": endpoints},
    }
    if protocol.upper() in H2_PROTOCOLS:
        cluster["typed_extension_protocol_options"] = {
            _HTTP_OPTIONS: {
                "@type": f"{_API}.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    if proxy.source_address is not None:
        cluster["upstream_bind_config"] = {
            "source_address": {"address": proxy.source_address, "port_value": 0}
        }
    return cluster


def build_clusters(world: World, proxy: GatewayProxy) -> list[Json]:
    """One cluster per service port, plus one per visible DestinationRule subset."""
    clusters: list[Json] = []
    for service in world.services:
        if service.alias:
            continue  # an ExternalName Service routes to its target's clusters (cluster.go)
        rules = destination_rule_for(world, proxy, service)
        _check_policies(rules, mesh=proxy.mesh_identity is not None)
        selected = any(dr.spec.workload_selector is not None for dr in rules)
        subsets = merged_subsets(rules)
        top = merged_traffic_policy(rules)
        for sp in service.ports:
            endpoints = list(service.endpoints)
            default = _cluster(
                cluster_name(sp.port, None, service.hostname),
                sp.protocol,
                _endpoints(endpoints, sp.port, service.namespace),
                proxy,
            )
            default["metadata"] = service_metadata(service)
            policy = _effective_policy(top, None, sp.port)
            _apply_policy(default, policy)
            _apply_client_protocol(default, policy)
            target = _TlsTarget(service, sp.port, None, selected)
            if _apply_tls(default, policy, world, proxy, target):
                if policy.tls is None:
                    auto_mtls(
                        default, world, proxy, service, sp.port, target.default_sni, endpoints
                    )
                clusters.append(default)
            for subset in subsets:
                chosen = [ep for ep in endpoints if labels_match(ep.labels, subset.labels)]
                sub = _cluster(
                    cluster_name(sp.port, subset.name, service.hostname),
                    sp.protocol,
                    _endpoints(chosen, sp.port, service.namespace),
                    proxy,
                )
                sub["metadata"] = service_metadata(service)
                policy = _effective_policy(top, subset.traffic_policy, sp.port)
                _apply_policy(sub, policy)
                _apply_client_protocol(sub, policy)
                target = _TlsTarget(service, sp.port, subset.name, selected)
                if _apply_tls(sub, policy, world, proxy, target):
                    if policy.tls is None:
                        auto_mtls(sub, world, proxy, service, sp.port, target.default_sni, chosen)
                    clusters.append(sub)
    clusters.sort(key=lambda c: str(c["name"]))
    return clusters
