"""The DestinationRule resource: traffic policies and subsets.

Fields as in ``networking/v1alpha3/destination_rule.proto`` (istio/api).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..base import Duration, StrictModel
from .common import PortSelector, WorkloadSelector
from .resource import IstioResource

__all__ = [
    "ClientTLSSettings",
    "ConnectionPoolSettings",
    "ConsistentHashLB",
    "DestinationRule",
    "DestinationRuleSpec",
    "HTTPCookie",
    "HTTPSettings",
    "LoadBalancerSettings",
    "OutlierDetection",
    "PortTrafficPolicy",
    "Subset",
    "TCPKeepalive",
    "TCPSettings",
    "TrafficPolicy",
    "WarmupConfiguration",
]


class HTTPCookie(StrictModel):
    name: str
    path: str | None = None
    ttl: Duration | None = None
    attributes: list[dict[str, str]] = Field(default_factory=list)


class ConsistentHashLB(StrictModel):
    http_header_name: str | None = None
    http_cookie: HTTPCookie | None = None
    use_source_ip: bool | None = None
    http_query_parameter_name: str | None = None
    ring_hash: dict[str, int] | None = None
    maglev: dict[str, int] | None = None
    minimum_ring_size: int | None = None


class WarmupConfiguration(StrictModel):
    duration: Duration
    minimum_percent: float | None = None
    aggression: float | None = None


class LoadBalancerSettings(StrictModel):
    simple: (
        Literal[
            "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"
        ]
        | None
    ) = None
    consistent_hash: ConsistentHashLB | None = None
    locality_lb_setting: dict[str, Any] | None = None
    warmup_duration_secs: Duration | None = None
    warmup: WarmupConfiguration | None = None


class TCPKeepalive(StrictModel):
    probes: int | None = None
    time: Duration | None = None
    interval: Duration | None = None


class TCPSettings(StrictModel):
    max_connections: int | None = Field(default=None, ge=0)
    connect_timeout: Duration | None = None
    tcp_keepalive: TCPKeepalive | None = None
    max_connection_duration: Duration | None = None
    idle_timeout: Duration | None = None


class HTTPSettings(StrictModel):
    http1_max_pending_requests: int | None = Field(default=None, ge=0)
    http2_max_requests: int | None = Field(default=None, ge=0)
    max_requests_per_connection: int | None = Field(default=None, ge=0)
    max_retries: int | None = Field(default=None, ge=0)
    idle_timeout: Duration | None = None
    h2_upgrade_policy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = None
    use_client_protocol: bool | None = None
    max_concurrent_streams: int | None = Field(default=None, ge=0)


class ConnectionPoolSettings(StrictModel):
    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class OutlierDetection(StrictModel):
    split_external_local_origin_errors: bool | None = None
    consecutive_local_origin_failures: int | None = None
    consecutive_gateway_errors: int | None = None
    consecutive5xx_errors: int | None = Field(default=None, alias="consecutive5xxErrors")
    consecutive_errors: int | None = None
    interval: Duration | None = None
    base_ejection_time: Duration | None = None
    max_ejection_percent: int | None = Field(default=None, ge=0, le=100)
    min_health_percent: int | None = Field(default=None, ge=0, le=100)


class ClientTLSSettings(StrictModel):
    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] = "DISABLE"
    client_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    credential_name: str | None = None
    subject_alt_names: list[str] = Field(default_factory=list)
    sni: str | None = None
    insecure_skip_verify: bool | None = None
    ca_crl: str | None = None


class PortTrafficPolicy(StrictModel):
    port: PortSelector | None = None
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


class TrafficPolicy(StrictModel):
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    port_level_settings: list[PortTrafficPolicy] = Field(default_factory=list)
    tunnel: dict[str, Any] | None = None
    proxy_protocol: dict[str, Any] | None = None
    retry_budget: dict[str, Any] | None = None


class Subset(StrictModel):
    name: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(StrictModel):
    host: str = Field(min_length=1)
    traffic_policy: TrafficPolicy | None = None
    subsets: list[Subset] = Field(default_factory=list)
    export_to: list[str] = Field(default_factory=list)
    workload_selector: WorkloadSelector | None = None


class DestinationRule(IstioResource):
    kind: Literal["DestinationRule"]
    spec: DestinationRuleSpec
