"""PeerAuthentication composition, the inbound sidecar's chains per mode, and auto mTLS."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_meshgate._cases.model.resources import parse_resource
from pytest_meshgate._targets.local.translate.authn import peer_authentication
from pytest_meshgate._targets.local.translate.clusters import build_clusters
from pytest_meshgate._targets.local.translate.sidecar.inbound import translate_inbound
from pytest_meshgate._targets.local.world import (
    Endpoint,
    GatewayProxy,
    InboundPort,
    InboundWorkload,
    MeshIdentity,
    MeshService,
    ServicePortInfo,
    World,
)

IDENTITY = MeshIdentity("spiffe://cluster.local/ns/foo/sa/httpbin", "/c.pem", "/k.pem", "/r.pem")
HTTP = ServicePortInfo("http", 8000, 80, "HTTP")


def pa(
    namespace: str, mode: str | None, selector: dict[str, str] | None = None, **extra: Any
) -> Any:
    spec: dict[str, Any] = dict(extra)
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    return parse_resource(
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": f"p{len(str(spec))}{mode}", "namespace": namespace},
            "spec": spec,
        }
    )


def world(*resources: Any, services: tuple[MeshService, ...] = ()) -> World:
    return World(resources=resources, services=services)


def test_levels_override_in_order_and_unset_inherits() -> None:
    app = {"app": "httpbin"}
    assert peer_authentication(world(), "foo", app).mode == "PERMISSIVE"
    mesh = pa("istio-system", "STRICT")
    assert peer_authentication(world(mesh), "foo", app).mode == "STRICT"
    namespace = pa("foo", "DISABLE")
    assert peer_authentication(world(mesh, namespace), "foo", app).mode == "DISABLE"
    assert peer_authentication(world(mesh, namespace), "bar", app).mode == "STRICT"
    unset = pa("foo", "UNSET", app)
    assert peer_authentication(world(mesh, namespace, unset), "foo", app).mode == "DISABLE"
    workload = pa("foo", "PERMISSIVE", app)
    assert peer_authentication(world(mesh, namespace, workload), "foo", app).mode == "PERMISSIVE"
    # A selector in the root namespace selects nothing; another app is not selected.
    rooted = pa("istio-system", "DISABLE", app)
    assert peer_authentication(world(mesh, rooted), "foo", app).mode == "STRICT"
    assert peer_authentication(world(mesh, workload), "foo", {"app": "x"}).mode == "STRICT"


def test_the_oldest_policy_of_a_level_wins() -> None:
    first, second = pa("foo", "STRICT"), pa("foo", "DISABLE")
    assert peer_authentication(world(first, second), "foo", {}).mode == "STRICT"
    assert peer_authentication(world(second, first), "foo", {}).mode == "DISABLE"


def test_port_level_overrides_the_workload_port_and_unset_inherits() -> None:
    app = {"app": "httpbin"}
    policy = pa("foo", "STRICT", app, portLevelMtls={80: {"mode": "DISABLE"}, "81": {}})
    merged = peer_authentication(world(policy), "foo", app)
    assert (merged.mode_for_port(80), merged.mode_for_port(81), merged.mode_for_port(82)) == (
        "DISABLE",
        "STRICT",
        "STRICT",
    )


def _inbound_chains(*resources: Any) -> list[dict[str, Any]]:
    workload = InboundWorkload(
        "httpbin-v1-abc",
        "foo",
        {"app": "httpbin"},
        IDENTITY,
        (InboundPort(HTTP, ("127.0.0.1", 30001), ("127.0.0.1", 30002)),),
    )
    config = translate_inbound(world(*resources), (workload,), "/dev/null")
    (listener,) = config.listeners
    chains: list[dict[str, Any]] = listener["filter_chains"]
    return chains


@pytest.mark.parametrize(
    ("mode", "names"),
    [("STRICT", ["mtls"]), ("PERMISSIVE", ["mtls", "plaintext"]), ("DISABLE", ["plaintext"])],
)
def test_inbound_chains_per_mode(mode: str, names: list[str]) -> None:
    chains = _inbound_chains(pa("foo", mode))
    assert [c["name"].rsplit("|", 1)[1] for c in chains] == names
    for chain in chains:
        hcm = chain["filters"][0]["typed_config"]
        assert hcm["forward_client_cert_details"] == "APPEND_FORWARD"
        assert hcm["set_current_client_cert_details"] == {"subject": True, "uri": True, "dns": True}
        match = chain["filter_chain_match"]
        if chain["name"].endswith("mtls"):
            assert match["transport_protocol"] == "tls"
            # PERMISSIVE tells Istio's mTLS by its ALPN; STRICT terminates any TLS.
            assert ("application_protocols" in match) == (mode == "PERMISSIVE")
            assert chain["transport_socket"]["typed_config"]["require_client_certificate"]
        else:
            assert match == {"transport_protocol": "raw_buffer"}
            assert "transport_socket" not in chain


def _cluster(*resources: Any, sidecar: bool = True, identity: bool = True) -> dict[str, Any]:
    endpoint = Endpoint(
        {"app": "httpbin"},
        {8000: ("127.0.0.1", 30001)},
        "httpbin-v1",
        sidecar=sidecar,
        namespace="foo",
    )
    service = MeshService("httpbin.foo.svc.cluster.local", "foo", (HTTP,), (endpoint,))
    proxy = GatewayProxy(
        name="sleep",
        namespace="foo",
        labels={"app": "sleep"},
        service_ports=(),
        bind=lambda p: ("127.0.0.1", p),
        sidecar=True,
        mesh_identity=IDENTITY if identity else None,
    )
    (cluster,) = build_clusters(world(*resources, services=(service,)), proxy)
    return cluster


def test_auto_mtls_only_to_sidecars_not_disabled() -> None:
    cluster = _cluster()
    names = [m["name"] for m in cluster["transport_socket_matches"]]
    assert names == ["tlsMode-istio", "tlsMode-disabled"]
    (entry,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert entry["metadata"]["filter_metadata"]["envoy.transport_socket_match"] == {
        "tlsMode": "istio"
    }
    context = cluster["transport_socket_matches"][0]["transport_socket"]["typed_config"]
    assert context["sni"] == "outbound_.8000_._.httpbin.foo.svc.cluster.local"
    for plain in (
        _cluster(sidecar=False),
        _cluster(identity=False),
        _cluster(pa("foo", "DISABLE")),
        _cluster(pa("foo", "STRICT", {"app": "httpbin"}, portLevelMtls={80: {"mode": "DISABLE"}})),
    ):
        assert "transport_socket_matches" not in plain and "transport_socket" not in plain
