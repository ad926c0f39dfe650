"""Istio's HTTP metadata exchange on the wire: the peer headers outbound proxies and
inbound sidecars add, read and strip.

Istio's ``istio.metadata_exchange`` HTTP filter (``pilot/pkg/xds/filters``
``SidecarOutboundMetadataFilter`` on gateways and outbound sidecars,
``SidecarInboundMetadataFilter`` on inbound sidecars; ``appendMxFilter`` in
``listener_builder.go``) puts the proxy's identity in two request headers
towards every upstream: ``x-envoy-peer-metadata-id`` (the node id,
``router~<ip>~<pod>.<ns>~<ns>.svc.cluster.local``, ``sidecar~`` for sidecars)
and ``x-envoy-peer-metadata`` (base64 of a protobuf ``google.protobuf.Struct``
of its node metadata: ``NAME``, ``NAMESPACE``, ``WORKLOAD_NAME``,
``CLUSTER_ID``, ``LABELS``). An inbound sidecar reads them as its downstream
peer, removes them before the app, and answers with its own pod's pair, which
the outbound proxy reads as its upstream peer and removes before its client
(istio/proxy ``test/envoye2e/http_metadata_exchange``: no request id, no
answer).

Upstream Envoy has no such filter; the same happens here with its stock
filters: ``header_mutation`` adds the request pair at outbound proxies,
``header_to_metadata`` copies the answer's pair into dynamic metadata
(``meshgate.peer``) and removes it there; an inbound sidecar's route copies the
request pair the same way, forwards the request without it
(``request_headers_to_remove``) and adds its pod's pair to the answer when the
request carried an id (a route matching that header). The Struct is
serialized by protobuf itself (``encode_struct``), so a real Istio proxy could
read it; the stats logs log the base64 value and ``local.stats``
decodes it (``decode_peer``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from .common import _API, Json, canonical_name, canonical_revision

__all__ = [
    "PEER_ID_HEADER",
    "PEER_METADATA_HEADER",
    "PEER_NAMESPACE",
    "PeerIdentity",
    "decode_peer",
    "decode_struct",
    "encode_struct",
    "inbound_peer_filter",
    "outbound_peer_filters",
    "peer_headers",
]

PEER_ID_HEADER = "x-envoy-peer-metadata-id"
PEER_METADATA_HEADER = "x-envoy-peer-metadata"
PEER_NAMESPACE = "meshgate.peer"  # dynamic metadata the stats logs read the pair from
_H2M = "envoy.filters.http.header_to_metadata"
_H2M_TYPE = f"{_API}.filters.http.header_to_metadata.v3.Config"
_MUTATION = "envoy.filters.http.header_mutation"
_MUTATION_TYPE = f"{_API}.filters.http.header_mutation.v3.HeaderMutation"
_CLUSTER_ID = "Kubernetes"


@dataclass(frozen=True)
class PeerIdentity:
    """The workload identity a proxy sends (``WorkloadMetadataObject`` in istio/proxy)."""

    pod: str
    namespace: str
    workload: str
    labels: Mapping[str, str]
    cluster: str = _CLUSTER_ID

    @property
    def canonical_name(self) -> str:
        return canonical_name(self.labels, self.workload)

    @property
    def canonical_revision(self) -> str:
        return canonical_revision(self.labels) or "latest"


def encode_struct(fields: Mapping[str, str | Mapping[str, str]]) -> bytes:
    """A ``google.protobuf.Struct`` of strings and string-valued structs, serialized as
    Istio's proxies serialize node metadata (deterministic: map entries by key)."""
    from google.protobuf.struct_pb2 import Struct

    struct = Struct()
    struct.update({k: v if isinstance(v, str) else dict(v) for k, v in fields.items()})
    data: bytes = struct.SerializeToString(deterministic=True)
    return data


def decode_struct(data: bytes) -> dict[str, object]:
    """A serialized Struct as a dict; ``ValueError`` when ``data`` is not one."""
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError
    from google.protobuf.struct_pb2 import Struct

    try:
        struct = Struct.FromString(data)
    except DecodeError as exc:
        raise ValueError(f"not a protobuf Struct: {exc}") from None
    decoded: dict[str, object] = MessageToDict(struct)
    return decoded


def peer_headers(identity: PeerIdentity, ip: str, sidecar: bool) -> tuple[str, str]:
    """The ``x-envoy-peer-metadata-id`` and ``x-envoy-peer-metadata`` values of a proxy."""
    kind = "sidecar" if sidecar else "router"
    ns = identity.namespace
    node_id = f"{kind}~{ip}~{identity.pod}.{ns}~{ns}.svc.cluster.local"
    struct = encode_struct(
        {
            "NAME": identity.pod,
            "NAMESPACE": ns,
            "WORKLOAD_NAME": identity.workload,
            "CLUSTER_ID": identity.cluster,
            "LABELS": dict(identity.labels),
        }
    )
    return node_id, base64.b64encode(struct).decode()


def decode_peer(value: str) -> PeerIdentity | None:
    """The identity an ``x-envoy-peer-metadata`` value carries; None when absent or bad."""
    if not value or value == "-":
        return None
    try:
        fields = decode_struct(base64.b64decode(value + "=" * (-len(value) % 4), validate=True))
    except (ValueError, TypeError):
        return None
    if not fields.get("NAME") and not fields.get("WORKLOAD_NAME"):
        return None
    labels = fields.get("LABELS")
    name = str(fields.get("NAME", ""))
    return PeerIdentity(
        pod=name,
        namespace=str(fields.get("NAMESPACE", "")),
        workload=str(fields.get("WORKLOAD_NAME", "") or name),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        cluster=str(fields.get("CLUSTER_ID", "")),
    )


def _copy_rules(remove: bool) -> list[Json]:
    return [
        {
            "header": header,
            "on_header_present": {"metadata_namespace": PEER_NAMESPACE, "key": key},
            "remove": remove,
        }
        for header, key in ((PEER_ID_HEADER, "id"), (PEER_METADATA_HEADER, "metadata"))
    ]


def outbound_peer_filters(identity: PeerIdentity, ip: str, sidecar: bool) -> list[Json]:
    """A gateway's or outbound sidecar's exchange, before its router (see the docstring)."""
    node_id, metadata = peer_headers(identity, ip, sidecar)
    adds = [
        {
            "append": {
                "header": {"key": key, "value": value},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        }
        for key, value in ((PEER_ID_HEADER, node_id), (PEER_METADATA_HEADER, metadata))
    ]
    return [
        {
            "name": _H2M,
            "typed_config": {"@type": _H2M_TYPE, "response_rules": _copy_rules(remove=True)},
        },
        {
            "name": _MUTATION,
            "typed_config": {"@type": _MUTATION_TYPE, "mutations": {"request_mutations": adds}},
        },
    ]


def inbound_peer_filter() -> Json:
    """An inbound sidecar's copy of the downstream peer's pair (its route strips it)."""
    return {
        "name": _H2M,
        "typed_config": {"@type": _H2M_TYPE, "request_rules": _copy_rules(remove=False)},
    }
