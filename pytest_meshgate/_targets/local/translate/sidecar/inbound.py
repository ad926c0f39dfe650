"""The inbound side of workload sidecars: what a pod's sidecar does with connections to it.

Istio's ``virtualInbound`` listener (``listener_inbound.go``) has, per
container port, filter chains that ``pilot/pkg/security/authn``
(``policy_applier.go`` ``InboundMTLSConfiguration``, ``authn/utils``) makes from
the workload's PeerAuthentication mode for that port:

- STRICT: one chain for any TLS, terminated with the workload certificate
  and a required client certificate from the mesh CA; nothing else matches,
  so a plaintext connection is closed;
- PERMISSIVE: a chain for TLS with one of Istio's ALPNs (``istio``,
  ``istio-peer-exchange``, ``istio-h2``, ...), terminated as above, and one for
  plaintext (``raw_buffer``); on TCP ports also one for other TLS (the app's
  own), passed on as is; the ``tls_inspector`` listener filter tells them apart;
- DISABLE: the plaintext chain only.

HTTP ports get an HTTP connection manager that forwards the peer's identity
to the app as Istio's inbound does (``buildSidecarInboundHTTPOpts``:
``forward_client_cert_details: APPEND_FORWARD``, current details Subject, URI
and DNS), then routes everything to ``inbound|<port>||``; other ports a TCP
proxy to it. Here the app is the pod's echo listener.

Each HTTP connection manager and TCP proxy also gets the access logs Istio gives
the pod's inbound listeners (``accesslog.go`` for the SidecarInbound class: the
pod's Telemetry in SERVER mode, or ``meshConfig.accessLogFile``), writing to the
pod's own container log (``pod_proxy``), beside the harness's log and the stats log.

One Envoy of the local target serves the inbound listeners of every pod of a
case (one listener per pod and port, each with its pod's certificate): the
behaviour per pod is that of its own sidecar, and starting one Envoy per
echo pod would cost a quarter second each.

``inbound_http_filters`` is where the workload's policies (RequestAuthentication's
jwt_authn, AuthorizationPolicy's RBAC: ``translate/authz.security_filters``, the
seam the gateways use) join the chain, before the router;
``inbound_network_filters`` the same for other ports (network RBAC), before the
TCP proxy. Every chain of a port carries them, whatever its PeerAuthentication
mode: a plaintext client has no peer certificate, so no principal, and an ALLOW
by principal or namespace denies it.
"""

from __future__ import annotations

import os

from ....._cases.model.istio import AuthorizationPolicy
from ...world import GatewayProxy, InboundPort, InboundWorkload, World
from ..accesslog import IstioAccessLog, istio_access_logs
from ..authn import DISABLE, PERMISSIVE, STRICT, peer_authentication
from ..authz import SecurityFilters, applicable_policies, security_filters
from ..common import _API, CLUSTER_TYPE, LISTENER_TYPE, EnvoyConfig, Json, UnsupportedFeature
from ..gateway import HTTP_PROTOCOLS
from ..listeners import HCM_FILTER, TLS_INSPECTOR
from ..peer import (
    PEER_ID_HEADER,
    PEER_METADATA_HEADER,
    PEER_NAMESPACE,
    PeerIdentity,
    inbound_peer_filter,
    peer_headers,
)
from ..stats import REQUEST_FIELDS, stats_log_path, stats_logger
from ..tls import ALPN_DOWNSTREAM_MESH_TCP, ALPN_HTTP, DOWNSTREAM_TLS_TYPE, transport_socket
from .filterchains import tcp_proxy_to

__all__ = [
    "ISTIO_MTLS_ALPNS",
    "inbound_cluster_name",
    "inbound_http_filters",
    "inbound_network_filters",
    "pod_proxy",
    "server_access_logs",
    "translate_inbound",
]

# authn/utils: the ALPNs Istio's clients offer with mutual TLS (mtlsHTTPALPNs, mtlsTCPALPNs).
ISTIO_MTLS_ALPNS = ["istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"]
_HCM_TYPE = f"{_API}.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER: Json = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": f"{_API}.filters.http.router.v3.Router"},
}
_H2_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
# What the stats filter reads of a request at the server side (istio_stats.cc: the
# downstream connection's certificates and the exchanged peer metadata).
_SERVER_HTTP_FIELDS: Json = {
    **REQUEST_FIELDS,
    "downstream_peer_san": "%DOWNSTREAM_PEER_URI_SAN%",
    "downstream_local_san": "%DOWNSTREAM_LOCAL_URI_SAN%",
    "downstream_tls": "%DOWNSTREAM_TLS_VERSION%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%",
    "peer_id": f"%DYNAMIC_METADATA({PEER_NAMESPACE}:id)%",
    "peer_metadata": f"%DYNAMIC_METADATA({PEER_NAMESPACE}:metadata)%",
}
_SERVER_TCP_FIELDS: Json = {
    **{
        k: v
        for k, v in _SERVER_HTTP_FIELDS.items()
        if not v.startswith(("%REQ(", "%DYNAMIC_METADATA(")) and k != "route_name"
    },
    "kind": "tcp",
}
_H2_PROTOCOLS = frozenset({"HTTP2", "GRPC", "GRPC-WEB"})


def inbound_cluster_name(workload: InboundWorkload, port: InboundPort) -> str:
    """Istio's ``inbound|<port>||``, made unique per pod of the shared Envoy."""
    return f"inbound|{port.port.target_port}||{workload.pod}.{workload.namespace}"


def _security(world: World, workload: InboundWorkload) -> SecurityFilters:
    """The workload's jwt_authn and RBAC filters (``translate/authz``), its policies'
    container ports mapped to the ports its inbound listeners bind here.

    A CUSTOM policy needs an ext_authz provider, which the local target does not
    run: unsupported, so the case skips, as at a gateway.
    """
    for policy in applicable_policies(world, workload, AuthorizationPolicy):
        if policy.spec.action == "CUSTOM":
            raise UnsupportedFeature(
                policy, "spec.action", "CUSTOM needs an ext_authz provider, which is not run"
            )
    bound = {p.port.target_port: p.listen[1] for p in workload.ports}
    return security_filters(world, workload, port_of=lambda port: bound.get(port, port))


def inbound_http_filters(world: World, workload: InboundWorkload, port: InboundPort) -> list[Json]:
    """The HTTP filters of ``workload``'s inbound ``port`` before the router.

    AuthorizationPolicy (``envoy.filters.http.rbac``) and RequestAuthentication
    (``envoy.filters.http.jwt_authn``) selecting the workload, in Istio's order
    (``pilot/pkg/networking/core`` ``buildInboundHTTPFilters``: authn, then authz
    AUDIT, DENY, ALLOW). The principals RBAC sees are the peer certificate's URI,
    so only a client that came over mutual TLS has one.
    """
    del port  # a policy's ports are judged by destination.port, not by chain
    return list(_security(world, workload).http)


def inbound_network_filters(
    world: World, workload: InboundWorkload, port: InboundPort
) -> list[Json]:
    """The network filters of ``workload``'s inbound non-HTTP ``port`` before the TCP proxy:
    its AuthorizationPolicies built for TCP (``envoy.filters.network.rbac``,
    ``networkfilter.go``), which close a denied connection."""
    del port
    return list(_security(world, workload).network)


def _mtls_context(workload: InboundWorkload, http: bool) -> Json:
    identity = workload.identity
    context: Json = {
        "@type": DOWNSTREAM_TLS_TYPE,
        "common_tls_context": {
            "alpn_protocols": list(ALPN_HTTP if http else ALPN_DOWNSTREAM_MESH_TCP),
            "tls_certificates": [
                {
                    "certificate_chain": {"filename": identity.cert_chain_file},
                    "private_key": {"filename": identity.private_key_file},
                }
            ],
            "validation_context": {"trusted_ca": {"filename": identity.root_ca_file}},
            "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
        },
        "require_client_certificate": True,
    }
    return transport_socket(context)


def _pod_fields(workload: InboundWorkload, port: InboundPort) -> Json:
    """The pod's own identity and service, literal in its lines of the stats log (the
    node metadata and inbound cluster metadata the stats filter reads)."""

    def literal(value: str) -> str:
        return value.replace("%", "%%")

    return {
        "pod": literal(workload.pod),
        "pod_namespace": literal(workload.namespace),
        "pod_workload": literal(workload.workload),
        "pod_service": literal(workload.service),
        "pod_port": str(port.port.target_port),
        "pod_labels": {literal(k): literal(v) for k, v in workload.labels.items()},
    }


def pod_proxy(workload: InboundWorkload, access_log_path: str) -> GatewayProxy:
    """What Telemetry and access logs read of a pod's sidecar: its namespace and labels,
    and its own log directory (its container log) beside the shared Envoy's harness log."""
    log_dir = os.path.join(
        os.path.dirname(access_log_path), "pods", f"{workload.pod}.{workload.namespace}"
    )
    return GatewayProxy(
        workload.pod,
        workload.namespace,
        workload.labels,
        (),
        lambda port: ("", port),
        access_log_path=access_log_path,
        log_dir=log_dir,
        sidecar=True,
    )


def server_access_logs(
    world: World, workload: InboundWorkload, access_log_path: str
) -> tuple[GatewayProxy, tuple[IstioAccessLog, ...]]:
    """The pod's sidecar and the access logs Istio gives its inbound listeners
    (``setHTTPAccessLog`` and ``setTCPAccessLog`` for the SidecarInbound class: SERVER
    mode); the deployment reads the pod's lines where these write."""
    proxy = pod_proxy(workload, access_log_path)
    return proxy, istio_access_logs(world, proxy, "SERVER")


def _server_logs(world: World, workload: InboundWorkload, access_log_path: str) -> list[Json]:
    proxy, logs = server_access_logs(world, workload, access_log_path)
    return [entry.envoy(proxy) for entry in logs]


def _route(cluster: str, match: Json, extra: Json) -> Json:
    route: Json = {"name": "default", "match": {"prefix": "/", **match}}
    route["route"] = {"cluster": cluster, "timeout": "0s"}
    return {**route, **extra}


def _routes(workload: InboundWorkload, cluster: str) -> list[Json]:
    """Route everything to the app, without the peer's exchange headers; a request
    that carried a peer id gets the pod's own pair back (``translate.peer``)."""
    strip = {"request_headers_to_remove": [PEER_ID_HEADER, PEER_METADATA_HEADER]}
    identity = PeerIdentity(workload.pod, workload.namespace, workload.workload, workload.labels)
    node_id, metadata = peer_headers(identity, workload.ports[0].listen[0], sidecar=True)
    answer = [
        {
            "header": {"key": key, "value": value.replace("%", "%%")},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }
        for key, value in ((PEER_ID_HEADER, node_id), (PEER_METADATA_HEADER, metadata))
    ]
    exchanged = {"headers": [{"name": PEER_ID_HEADER, "present_match": True}]}
    return [
        _route(cluster, exchanged, {"response_headers_to_add": answer, **strip}),
        _route(cluster, {}, strip),
    ]


def _hcm(
    world: World, workload: InboundWorkload, port: InboundPort, cluster: str, log: str
) -> Json:
    stats = {**_SERVER_HTTP_FIELDS, **_pod_fields(workload, port)}
    hcm: Json = {
        "@type": _HCM_TYPE,
        "stat_prefix": f"inbound_0.0.0.0_{port.port.target_port}",
        "codec_type": "AUTO",
        "route_config": {
            "name": f"inbound|{port.port.target_port}||",
            "virtual_hosts": [
                {
                    "name": f"inbound|http|{port.port.port}",
                    "domains": ["*"],
                    "routes": _routes(workload, cluster),
                }
            ],
            "validate_clusters": False,
        },
        # SidecarInboundMetadataFilter comes after authn and authz (appendMxFilter).
        "http_filters": [
            *inbound_http_filters(world, workload, port),
            inbound_peer_filter(),
            _ROUTER,
        ],
        "use_remote_address": False,
        "forward_client_cert_details": "APPEND_FORWARD",
        "set_current_client_cert_details": {"subject": True, "uri": True, "dns": True},
        "server_name": "istio-envoy",
        "normalize_path": True,
        "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
        "stream_idle_timeout": "0s",
        "access_log": [
            _access_log(log),
            stats_logger(stats_log_path(log), stats),
            *_server_logs(world, workload, log),
        ],
    }
    if port.port.protocol in _H2_PROTOCOLS:
        hcm["http2_protocol_options"] = {}
    return hcm


def _access_log(path: str) -> Json:
    """The harness's JSON access log (diagnostics only)."""
    return {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": f"{_API}.access_loggers.file.v3.FileAccessLog",
            "path": path,
            "log_format": {
                "json_format": {
                    "pod": "%UPSTREAM_CLUSTER%",
                    "meshgate_id": "%REQ(X-MESHGATE-ID)%",
                    "code": "%RESPONSE_CODE%",
                    "flags": "%RESPONSE_FLAGS%",
                    "peer": "%DOWNSTREAM_PEER_URI_SAN%",
                }
            },
        },
    }


def _chains(
    world: World, workload: InboundWorkload, port: InboundPort, cluster: str, log: str
) -> list[Json]:
    http = port.port.protocol in HTTP_PROTOCOLS
    if http:
        filters = [{"name": HCM_FILTER, "typed_config": _hcm(world, workload, port, cluster, log)}]
    else:
        proxy = tcp_proxy_to(cluster)
        fields = {**_SERVER_TCP_FIELDS, **_pod_fields(workload, port)}
        proxy[0]["typed_config"]["access_log"] = [
            stats_logger(stats_log_path(log), fields),
            *_server_logs(world, workload, log),
        ]
        filters = [*inbound_network_filters(world, workload, port), *proxy]
    mode = peer_authentication(world, workload.namespace, workload.labels).mode_for_port(
        port.port.target_port
    )
    # filterchain_options.go: the chains of each mode, HTTP and TCP ports apart.
    tls: Json = {"transport_protocol": "tls"}
    istio_tls: Json = {**tls, "application_protocols": list(ISTIO_MTLS_ALPNS)}
    raw: Json = {"transport_protocol": "raw_buffer"}
    if mode == STRICT:  # inboundStrict{HTTP,TCP}FilterChainMatchOptions: any TLS is mTLS
        matches = [("mtls", tls, True)]
    elif mode == DISABLE:  # inboundPlainText{HTTP,TCP}FilterChainMatchOptions
        matches = [("plaintext", raw, False)]
    else:
        assert mode == PERMISSIVE
        matches = [("mtls", istio_tls, True), ("plaintext", raw, False)]
        if not http:  # inboundPermissiveTCP...: the app's own TLS passes through
            matches.insert(1, ("tls", tls, False))
    chains: list[Json] = []
    for kind, match, terminates in matches:
        chain: Json = {"name": f"{cluster}|{kind}", "filter_chain_match": dict(match)}
        chain["filters"] = filters
        if terminates:
            chain["transport_socket"] = _mtls_context(workload, http)
        chains.append(chain)
    return chains


def _cluster(name: str, port: InboundPort, source: str | None = None) -> Json:
    ip, number = port.app
    cluster: Json = {
        "@type": CLUSTER_TYPE,
        "name": name,
        "type": "STATIC",
        "connect_timeout": "10s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": ip, "port_value": number}}
                            }
                        }
                    ]
                }
            ],
        },
    }
    if source is not None:
        cluster["upstream_bind_config"] = {"source_address": {"address": source, "port_value": 0}}
    if port.port.protocol in _H2_PROTOCOLS:
        cluster["typed_extension_protocol_options"] = {
            _H2_OPTIONS: {
                "@type": f"{_API}.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return cluster


def _from_source(chains: list[Json], source: str) -> list[Json]:
    """The chains again for connections from ``source`` only (``source_prefix_ranges``)."""
    out: list[Json] = []
    for chain in chains:
        match = {
            **chain.get("filter_chain_match", {}),
            "source_prefix_ranges": [{"address_prefix": source, "prefix_len": 32}],
        }
        out.append({**chain, "name": f"{chain['name']}|{source}", "filter_chain_match": match})
    return out


def translate_inbound(
    world: World,
    workloads: tuple[InboundWorkload, ...],
    access_log_path: str,
    downstreams: tuple[str, ...] = (),
) -> EnvoyConfig:
    """Inbound listeners and clusters of ``workloads`` (see the module docstring).

    ``downstreams`` are the source addresses of the local target's other
    proxies. A connection from one of them reaches the echo from that same
    address (a cluster bound to it), so the echo's peer still names the proxy
    that sent the request (``expect.via``), as if the inbound hop were not
    there; Istio's own inbound passthrough shows the app 127.0.0.6, which
    would tell no proxy from another.
    """
    listeners: list[Json] = []
    clusters: list[Json] = []
    for workload in workloads:
        for port in workload.ports:
            name = inbound_cluster_name(workload, port)
            ip, number = port.listen
            chains = _chains(world, workload, port, name, access_log_path)
            clusters.append(_cluster(name, port))
            for source in downstreams:
                bound = f"{name}|{source}"
                own = _chains(world, workload, port, bound, access_log_path)
                chains += _from_source(own, source)
                clusters.append(_cluster(bound, port, source))
            listeners.append(
                {
                    "@type": LISTENER_TYPE,
                    "name": f"{workload.pod}.{workload.namespace}_{port.port.target_port}",
                    "address": {"socket_address": {"address": ip, "port_value": number}},
                    "listener_filters": [TLS_INSPECTOR],
                    "filter_chains": chains,
                }
            )
    listeners.sort(key=lambda r: str(r["name"]))
    clusters.sort(key=lambda c: str(c["name"]))
    return EnvoyConfig(listeners=listeners, clusters=clusters, routes=[])
