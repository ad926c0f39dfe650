"""Auto mTLS: ISTIO_MUTUAL to endpoints with a sidecar, plaintext to the others.

``cluster_builder.go`` ``buildAutoMtlsSettings`` and ``xds/endpoints/mtls_checker.go``:
without a DestinationRule ``tls`` for the port, a proxy with a mesh identity
sends ISTIO_MUTUAL to each endpoint that has a sidecar (Istio's endpoint
label ``security.istio.io/tlsMode: istio``) and whose PeerAuthentication
(workload and port level included) is not DISABLE, and plaintext to the
others, through Envoy's ``transport_socket_matches`` on the endpoint metadata
``tlsMode: istio``. A mesh-external or ``resolution: NONE`` service stays
plaintext here.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...._cases.model.istio import ClientTLSSettings
from ..world import Endpoint, GatewayProxy, MeshService, World
from .authn import DISABLE, peer_authentication
from .common import _API, Json
from .stats import endpoint_metadata
from .tls import upstream_tls

__all__ = ["TLS_MATCH_KEY", "auto_mtls"]

TLS_MATCH_KEY = "envoy.transport_socket_match"  # util.EnvoyTransportSocketMetadataKey
_RAW_BUFFER: Json = {
    "name": "envoy.transport_sockets.raw_buffer",
    "typed_config": {"@type": f"{_API}.transport_sockets.raw_buffer.v3.RawBuffer"},
}
_H2 = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def _mutual(world: World, endpoint: Endpoint, port: int, target_port: int) -> bool:
    if not endpoint.sidecar or port not in endpoint.addresses:
        return False
    merged = peer_authentication(world, endpoint.namespace, endpoint.labels)
    return merged.mode_for_port(target_port) != DISABLE


def auto_mtls(
    cluster: Json,
    world: World,
    proxy: GatewayProxy,
    service: MeshService,
    port: int,
    default_sni: str,
    endpoints: Sequence[Endpoint],
) -> None:
    """Give ``cluster`` (no DestinationRule ``tls``) Istio's auto-mTLS transport sockets."""
    if proxy.mesh_identity is None or service.external or service.resolution == "NONE":
        return
    port_info = next((p for p in service.ports if p.port == port), None)
    if port_info is None:
        return
    mutual = {id(ep) for ep in endpoints if _mutual(world, ep, port, port_info.target_port)}
    if not mutual:
        return
    options = cluster.get("typed_extension_protocol_options", {}).get(_H2, {})
    http2 = "http2_protocol_options" in options.get("explicit_http_config", {})
    origination = upstream_tls(
        world,
        proxy.namespace,
        ClientTLSSettings(mode="ISTIO_MUTUAL"),
        http2=http2,
        identity=proxy.mesh_identity,
        default_sni=default_sni,
        service_accounts=service.service_accounts,
    )
    assert origination is not None  # ISTIO_MUTUAL always originates
    lb_endpoints: list[Json] = []
    for ep in endpoints:
        address = ep.addresses.get(port)
        if address is None:
            continue
        socket = {"address": address[0], "port_value": address[1]}
        entry: Json = {"endpoint": {"address": {"socket_address": socket}}}
        # The stats filter's istio.workload metadata stays beside the TLS match.
        metadata = endpoint_metadata(ep, ep.namespace or service.namespace)
        filters: Json = dict(metadata["filter_metadata"]) if metadata is not None else {}
        if id(ep) in mutual:
            filters[TLS_MATCH_KEY] = {"tlsMode": "istio"}
        if filters:
            entry["metadata"] = {"filter_metadata": filters}
        lb_endpoints.append(entry)
    cluster["load_assignment"]["endpoints"] = [{"lb_endpoints": lb_endpoints}]
    cluster["transport_socket_matches"] = [
        {
            "name": "tlsMode-istio",
            "match": {"tlsMode": "istio"},
            "transport_socket": origination.transport_socket,
        },
        {"name": "tlsMode-disabled", "match": {}, "transport_socket": _RAW_BUFFER},
    ]
