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
request carried an id (a route matching that header). The Struct is encoded
as protobuf's wire format writes it (``encode_struct``), so a real Istio proxy
could read it; the stats logs log the base64 value and ``local.stats``
decodes it (``decode_peer``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from .common import _API, Json

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
        return (
            self.labels.get("service.istio.io/canonical-name")
            or self.labels.get("app.kubernetes.io/name")
            or self.labels.get("app")
            or self.workload
        )

    @property
    def canonical_revision(self) -> str:
        return (
            self.labels.get("service.istio.io/canonical-revision")
            or self.labels.get("app.kubernetes.io/version")
            or self.labels.get("version")
            or "latest"
        )


# protobuf wire format: Struct{map<string, Value> fields = 1}, a map entry
# {string key = 1; Value value = 2}, Value{string string_value = 3; Struct struct_value = 5}.
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_struct(fields: Mapping[str, str | Mapping[str, str]]) -> bytes:
    """A ``google.protobuf.Struct`` of strings and string-valued structs, serialized."""
    out = b""
    for key in sorted(fields):
        value = fields[key]
        if isinstance(value, str):
            encoded = _field(3, value.encode())
        else:
            encoded = _field(5, encode_struct(dict(value)))
        out += _field(1, _field(1, key.encode()) + _field(2, encoded))
    return out


def _fields(data: bytes) -> list[tuple[int, bytes]]:
    """The length-delimited fields of a message (others are skipped)."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        tag, i = _read_varint(data, i)
        number, wire = tag >> 3, tag & 7
        if wire == 2:
            length, i = _read_varint(data, i)
            out.append((number, data[i : i + length]))
            i += length
        elif wire == 0:
            _, i = _read_varint(data, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"wire type {wire}")
    return out


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


def decode_struct(data: bytes) -> dict[str, object]:
    """A serialized Struct's string and struct values (others are left out)."""
    out: dict[str, object] = {}
    for number, entry in _fields(data):
        if number != 1:
            continue
        key, value = "", b""
        for n, payload in _fields(entry):
            if n == 1:
                key = payload.decode(errors="replace")
            elif n == 2:
                value = payload
        for n, payload in _fields(value):
            if n == 3:
                out[key] = payload.decode(errors="replace")
            elif n == 5:
                out[key] = decode_struct(payload)
    return out


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
