"""The metadata exchange's wire encoding: a protobuf Struct in base64, and the node id."""

from __future__ import annotations

import base64

from pytest_meshgate._targets.local.translate.peer import (
    PeerIdentity,
    decode_peer,
    decode_struct,
    encode_struct,
    inbound_peer_filter,
    outbound_peer_filters,
    peer_headers,
)

REVIEWS = PeerIdentity(
    "reviews-v3-abc", "default", "reviews-v3", {"app": "reviews", "version": "v3"}
)


def test_a_struct_is_encoded_as_protobuf_writes_it() -> None:
    # Struct{fields: {"a": Value{string_value: "b"}}}, by hand from the wire format:
    # field 1 (entry) len 8: field 1 (key) "a", field 2 (value) len 3: field 3 "b".
    assert encode_struct({"a": "b"}) == bytes.fromhex("0a080a01611203" + "1a0162")
    # A struct value (field 5 of Value) holds a Struct the same way.
    nested = encode_struct({"L": {"x": "y"}})
    assert nested == bytes.fromhex("0a110a014c120c2a0a0a080a017812031a0179")
    assert decode_struct(nested) == {"L": {"x": "y"}}


def test_the_identity_round_trips_through_the_headers() -> None:
    node_id, metadata = peer_headers(REVIEWS, "10.0.0.1", sidecar=True)
    assert node_id == "sidecar~10.0.0.1~reviews-v3-abc.default~default.svc.cluster.local"
    fields = decode_struct(base64.b64decode(metadata))
    assert fields["WORKLOAD_NAME"] == "reviews-v3"
    assert fields["LABELS"] == {"app": "reviews", "version": "v3"}
    back = decode_peer(metadata)
    assert back is not None
    assert (back.workload, back.namespace, back.cluster) == ("reviews-v3", "default", "Kubernetes")
    assert (back.canonical_name, back.canonical_revision) == ("reviews", "v3")
    # Istio's tests write it without padding (base64.RawStdEncoding).
    assert decode_peer(metadata.rstrip("=")) == back


def test_an_absent_or_broken_value_is_no_peer() -> None:
    assert decode_peer("") is None
    assert decode_peer("-") is None
    assert decode_peer("!!!") is None


def test_a_gateway_sends_its_pair_and_strips_the_answer() -> None:
    strip, add = outbound_peer_filters(REVIEWS, "127.0.0.3", sidecar=False)
    rules = strip["typed_config"]["response_rules"]
    assert [r["header"] for r in rules] == ["x-envoy-peer-metadata-id", "x-envoy-peer-metadata"]
    assert all(r["remove"] for r in rules)
    mutations = add["typed_config"]["mutations"]["request_mutations"]
    headers = {m["append"]["header"]["key"]: m["append"]["header"]["value"] for m in mutations}
    assert headers["x-envoy-peer-metadata-id"].startswith("router~127.0.0.3~")
    assert decode_peer(headers["x-envoy-peer-metadata"]) == REVIEWS
    # The inbound side copies the request's pair; its route strips it before the app.
    inbound = inbound_peer_filter()["typed_config"]["request_rules"]
    assert not any(r["remove"] for r in inbound)
