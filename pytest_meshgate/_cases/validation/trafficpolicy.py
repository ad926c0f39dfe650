"""Traffic policies: load balancing, connection pools, outlier detection, per-port settings.

``validateTrafficPolicy`` and what it calls in ``pkg/config/validation/validation.go``
(``validateLoadBalancer``, ``validateConnectionPool``, ``validateOutlierDetection``,
``validatePortTrafficPolicies``) and ``agent.ValidateLocalityLbSetting``, plus the
``oneOf`` constraints the CRD schema puts on the same messages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..model.istio import (
    ConnectionPoolSettings,
    LoadBalancerSettings,
    OutlierDetection,
    PortTrafficPolicy,
    TrafficPolicy,
)
from .common import one_of_problem, validate_duration, validate_percent, validate_port
from .hosts import validate_fqdn, validate_ip_address
from .report import Report
from .tls import validate_client_tls

__all__ = [
    "validate_connection_pool",
    "validate_load_balancer",
    "validate_outlier_detection",
    "validate_traffic_policy",
]


def validate_traffic_policy(namespace: str, policy: TrafficPolicy, r: Report) -> None:
    """``validateTrafficPolicy``: at least one field; tunnel or proxyProtocol, not both."""
    if not (
        policy.outlier_detection
        or policy.connection_pool
        or policy.load_balancer
        or policy.tls
        or policy.port_level_settings
        or policy.tunnel is not None
        or policy.proxy_protocol is not None
        or policy.retry_budget is not None
    ):
        r.error("traffic policy must have at least one field")
        return
    if policy.tunnel is not None and policy.proxy_protocol is not None:
        r.error("tunnel and proxyProtocol must not be set together")
        return
    if policy.outlier_detection is not None:
        validate_outlier_detection(policy.outlier_detection, r.at("outlierDetection"))
    if policy.connection_pool is not None:
        validate_connection_pool(policy.connection_pool, r.at("connectionPool"))
    if policy.load_balancer is not None:
        validate_load_balancer(policy.load_balancer, policy.outlier_detection, r.at("loadBalancer"))
    if policy.tls is not None:
        validate_client_tls(namespace, policy.tls, r.at("tls"))
    for i, port_policy in enumerate(policy.port_level_settings):
        _validate_port_policy(namespace, port_policy, r.at("portLevelSettings", i))
    if policy.tunnel is not None:
        _validate_tunnel(policy.tunnel, r.at("tunnel"))
    if policy.proxy_protocol is not None:
        version = policy.proxy_protocol.get("version")
        if version is not None and version not in ("V1", "V2"):
            r.error(f"proxy protocol version is invalid: {version}", "proxyProtocol", "version")


def _validate_port_policy(namespace: str, policy: PortTrafficPolicy, r: Report) -> None:
    """``validatePortTrafficPolicies``, one entry."""
    if policy.port is None:
        r.error("portTrafficPolicy must have valid port")
    if not (
        policy.outlier_detection or policy.connection_pool or policy.load_balancer or policy.tls
    ):
        r.error("port traffic policy must have at least one field")
        return
    if policy.outlier_detection is not None:
        validate_outlier_detection(policy.outlier_detection, r.at("outlierDetection"))
    if policy.connection_pool is not None:
        validate_connection_pool(policy.connection_pool, r.at("connectionPool"))
    if policy.load_balancer is not None:
        validate_load_balancer(policy.load_balancer, policy.outlier_detection, r.at("loadBalancer"))
    if policy.tls is not None:
        validate_client_tls(namespace, policy.tls, r.at("tls"))


def _validate_tunnel(tunnel: Mapping[str, Any], r: Report) -> None:
    """``validateTunnelSettings`` (the CRD requires targetHost and targetPort)."""
    for key in ("targetHost", "targetPort"):
        if key not in tunnel:
            r.error(f"missing required key '{key}'")
    protocol = tunnel.get("protocol", "")
    if protocol not in ("", "CONNECT", "POST"):
        r.error('tunnel protocol must be "CONNECT" or "POST"', "protocol")
    host = str(tunnel.get("targetHost", ""))
    fqdn, ip = validate_fqdn(host), validate_ip_address(host)
    if fqdn and ip:
        r.error(f"tunnel target host must be valid FQDN or IP address: {fqdn}; {ip}", "targetHost")
    port = tunnel.get("targetPort", 0)
    port_problem = validate_port(port if isinstance(port, int) else 0)
    if port_problem:
        r.error(f"tunnel target port is invalid: {port_problem}", "targetPort")


def validate_outlier_detection(outlier: OutlierDetection, r: Report) -> None:
    """``validateOutlierDetection``."""
    if outlier.base_ejection_time is not None:
        r.error(validate_duration(outlier.base_ejection_time), "baseEjectionTime")
    if outlier.consecutive_errors:
        r.warn(
            "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or "
            "consecutive5xxErrors instead",
            "consecutiveErrors",
        )
    if (
        not outlier.split_external_local_origin_errors
        and (outlier.consecutive_local_origin_failures or 0) > 0
    ):
        r.error(
            "outlier detection consecutive local origin failures is specified, but split external "
            "local origin errors is set to false",
            "consecutiveLocalOriginFailures",
        )
    if outlier.interval is not None:
        r.error(validate_duration(outlier.interval), "interval")
    r.error(validate_percent(outlier.max_ejection_percent or 0), "maxEjectionPercent")
    r.error(validate_percent(outlier.min_health_percent or 0), "minHealthPercent")


def validate_connection_pool(pool: ConnectionPoolSettings, r: Report) -> None:
    """``validateConnectionPool`` (DestinationRule and Sidecar)."""
    if pool.http is None and pool.tcp is None:
        r.error("connection pool must have at least one field")
        return
    if (http := pool.http) is not None:
        h = r.at("http")
        for key, value, what in (
            (
                "http1MaxPendingRequests",
                http.http1_max_pending_requests,
                "http1 max pending requests",
            ),
            ("http2MaxRequests", http.http2_max_requests, "http2 max requests"),
            (
                "maxRequestsPerConnection",
                http.max_requests_per_connection,
                "max requests per connection",
            ),
            ("maxRetries", http.max_retries, "max retries"),
            ("maxConcurrentStreams", http.max_concurrent_streams, "max concurrent streams"),
        ):
            if value is not None and value < 0:
                h.error(f"{what} must be non-negative", key)
        if http.idle_timeout is not None:
            h.error(validate_duration(http.idle_timeout), "idleTimeout")
        if http.h2_upgrade_policy == "UPGRADE" and http.use_client_protocol:
            h.error(
                "use client protocol must not be true when H2UpgradePolicy is UPGRADE",
                "useClientProtocol",
            )
    if (tcp := pool.tcp) is not None:
        t = r.at("tcp")
        if tcp.max_connections is not None and tcp.max_connections < 0:
            t.error("max connections must be non-negative", "maxConnections")
        if tcp.connect_timeout is not None:
            t.error(validate_duration(tcp.connect_timeout), "connectTimeout")
        if tcp.max_connection_duration is not None:
            t.error(validate_duration(tcp.max_connection_duration), "maxConnectionDuration")
        # 0s disables the idle timeout, so it is not held to the 1ms minimum.
        # (Go's Duration.Milliseconds() truncates: 900us counts as 0ms.)
        if tcp.idle_timeout is not None and round(tcp.idle_timeout * 1e9) // 1_000_000 != 0:
            t.error(validate_duration(tcp.idle_timeout), "idleTimeout")
        if (keepalive := tcp.tcp_keepalive) is not None:
            if keepalive.time is not None:
                t.error(validate_duration(keepalive.time), "tcpKeepalive", "time")
            if keepalive.interval is not None:
                t.error(validate_duration(keepalive.interval), "tcpKeepalive", "interval")


def _is_prime(value: int) -> bool:
    """Envoy's ``Primes::isPrime`` (``source/common/common/utility.cc``), as Istio copies it."""
    if 0 < value < 4:
        return True
    if value % 2 == 0:
        return False
    return all(value % factor for factor in range(3, math.isqrt(value) + 1, 2))


def validate_load_balancer(
    lb: LoadBalancerSettings, outlier: OutlierDetection | None, r: Report
) -> None:
    """``validateLoadBalancer``, and the CRD's oneOf between ``simple`` and ``consistentHash``."""
    r.error(one_of_problem(lb, ("simple", "consistent_hash")))
    if (ch := lb.consistent_hash) is not None:
        c = r.at("consistentHash")
        c.error(
            one_of_problem(
                ch,
                ("http_header_name", "http_cookie", "use_source_ip", "http_query_parameter_name"),
            )
        )
        c.error(one_of_problem(ch, ("ring_hash", "maglev")))
        if ch.http_cookie is not None:
            if not ch.http_cookie.name:
                c.error("name required for HttpCookie", "httpCookie", "name")
            names: set[str] = set()
            for i, attribute in enumerate(ch.http_cookie.attributes):
                name = attribute.get("name", "")
                if not name:
                    c.error("cookie attribute name cannot be empty", "httpCookie", "attributes", i)
                elif name in names:
                    c.error(
                        f"duplicate cookie attribute name: {name}", "httpCookie", "attributes", i
                    )
                else:
                    names.add(name)
        if ch.minimum_ring_size:
            c.warn(
                "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash "
                "configuration instead",
                "minimumRingSize",
            )
            if ch.ring_hash is not None or ch.maglev is not None:
                c.error(
                    "only one of MinimumRingSize or Maglev/Ringhash can be specified",
                    "minimumRingSize",
                )
        if ch.maglev is not None:
            size = ch.maglev.get("tableSize", 0)
            if size == 0:
                c.error("tableSize must be set for maglev", "maglev")
            if size >= 5000011:
                c.error("tableSize must be less than 5000011 for maglev", "maglev", "tableSize")
            if not _is_prime(size):
                c.error("tableSize must be a prime number for maglev", "maglev", "tableSize")
    if lb.locality_lb_setting is not None:
        _validate_locality_lb(lb.locality_lb_setting, outlier, r.at("localityLbSetting"))
    if lb.warmup_duration_secs is not None and round(lb.warmup_duration_secs * 1e9) < 1_000_000:
        # Only the CRD checks this one (CEL: duration(self) >= duration('1ms')).
        r.error("must be a valid duration greater than 1ms", "warmupDurationSecs")
    if (warmup := lb.warmup) is not None:
        w = r.at("warmup")
        w.error(validate_duration(warmup.duration), "duration")
        if warmup.minimum_percent is not None and warmup.minimum_percent > 100:
            w.error("minimumPercent value should be less than or equal to 100", "minimumPercent")
        if warmup.aggression is not None:
            if warmup.aggression <= 0:
                w.error("aggression should be greater than 0", "aggression")
            elif warmup.aggression < 1:  # Istio 1.26 (and its CRD, minimum: 1) wants at least 1
                w.error("aggression should be greater than or equal to 1", "aggression")


def _validate_locality_lb(
    setting: Mapping[str, Any], outlier: OutlierDetection | None, r: Report
) -> None:
    """``agent.ValidateLocalityLbSetting``."""
    distribute = list(setting.get("distribute") or [])
    failover = list(setting.get("failover") or [])
    priority = list(setting.get("failoverPriority") or [])
    if distribute and failover:
        r.error("can not simultaneously specify 'distribute' and 'failover'")
        return
    topology = (
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "topology.istio.io/subzone",
    )
    if failover and priority:
        for label in priority:
            if label in topology:
                r.error(
                    f"can not simultaneously set 'failover' and topology label '{label}' in "
                    "'failover_priority'",
                    "failoverPriority",
                )
                return
    sources: list[str] = []
    for i, entry in enumerate(distribute):
        entry = entry if isinstance(entry, Mapping) else {}
        sources.append(str(entry.get("from", "")))
        to = entry.get("to") or {}
        total = 0
        for weight in to.values():
            if not isinstance(weight, int) or weight <= 0 or weight > 100:
                r.error("locality weight must be in range [1, 100]", "distribute", i, "to")
                return
            total += weight
        if total != 100:
            r.error(f"total locality weight {total} != 100", "distribute", i, "to")
            return
        r.error(_localities_problem([str(k) for k in to]), "distribute", i, "to")
    r.error(_localities_problem(sources), "distribute")
    if (failover or priority) and outlier is None:
        r.warn("outlier detection policy must be provided for failover")
    for i, entry in enumerate(failover):
        entry = entry if isinstance(entry, Mapping) else {}
        source, target = str(entry.get("from", "")), str(entry.get("to", ""))
        if source == target:
            r.error("locality lb failover settings must specify different regions", "failover", i)
        if "/" in source or "/" in target:
            r.error("locality lb failover only specify region", "failover", i)
        if "*" in source or "*" in target:
            r.error("locality lb failover region should not contain '*' wildcard", "failover", i)


def _localities_problem(localities: list[str]) -> str | None:
    """``validateLocalities``: ``region/zone/subzone``, one trailing ``*``, no overlaps."""
    tree: dict[str, dict[str, set[str]]] = {}
    for locality in localities:
        stars = locality.count("*")
        if stars and (stars > 1 or not locality.endswith("*")):
            return (
                f"locality {locality} wildcard '*' number can not exceed 1 and must be in the end"
            )
        if "*" in tree:
            return f"locality {locality} overlap with previous specified ones"
        items = locality.split("/", 2)
        if any(item == "" for item in items):
            return f"locality {locality} must not contain empty region/zone/subzone info"
        overlap = f"locality {locality} overlap with previous specified ones"
        region = items[0]
        if len(items) == 1:
            if region in tree:
                return overlap
            tree[region] = {"*": {"*"}}
            continue
        zones = tree.get(region)
        zone = items[1]
        if len(items) == 2:
            if zones is not None:
                if "*" in zones or zone in zones:
                    return overlap
                zones[zone] = {"*"}
            else:
                tree[region] = {zone: {"*"}}
            continue
        subzone = items[2]
        if zones is None:
            tree[region] = {zone: {subzone}}
        elif "*" in zones:
            return overlap
        elif zone in zones:
            if "*" in zones[zone] or subzone in zones[zone]:
                return overlap
            zones[zone].add(subzone)
        else:
            zones[zone] = {subzone}
    return None
