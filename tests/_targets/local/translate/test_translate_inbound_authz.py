"""The workload's jwt_authn and RBAC filters in its inbound sidecar's chains
(``translate/sidecar/inbound``: Istio's buildInboundHTTPFilters and networkfilter.go)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_meshgate._cases.model.resources import parse_resource
from pytest_meshgate._targets.local.translate import UnsupportedFeature
from pytest_meshgate._targets.local.translate.sidecar.inbound import translate_inbound
from pytest_meshgate._targets.local.world import (
    InboundPort,
    InboundWorkload,
    MeshIdentity,
    ServicePortInfo,
    World,
)

IDENTITY = MeshIdentity("spiffe://cluster.local/ns/foo/sa/httpbin", "/c.pem", "/k.pem", "/r.pem")
HTTP = InboundPort(
    ServicePortInfo("http", 8000, 80, "HTTP"), ("127.0.0.1", 30001), ("127.0.0.1", 30002)
)
TCP = InboundPort(
    ServicePortInfo("tcp", 9000, 9090, "TCP"), ("127.0.0.1", 30003), ("127.0.0.1", 30004)
)
ROUTER = "envoy.filters.http.router"
MX = "envoy.filters.http.header_to_metadata"  # the peer metadata exchange (translate.peer)


def resource(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> Any:
    return parse_resource(
        {"apiVersion": "security.istio.io/v1", "kind": kind,
         "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    )  # fmt: skip


def listeners(*resources: Any, downstreams: tuple[str, ...] = ()) -> dict[int, dict[str, Any]]:
    """The inbound listeners of httpbin in foo, by the container port they serve."""
    workload = InboundWorkload("httpbin-v1-abc", "foo", {"app": "httpbin"}, IDENTITY, (HTTP, TCP))
    world = World(resources=resources, services=(), jwks={})
    config = translate_inbound(world, (workload,), "/dev/null", downstreams)
    return {int(listener["name"].rsplit("_", 1)[1]): listener for listener in config.listeners}


def http_filters(chain: dict[str, Any]) -> list[str]:
    (hcm,) = chain["filters"]
    return [f["name"] for f in hcm["typed_config"]["http_filters"]]


def network_filters(chain: dict[str, Any]) -> list[str]:
    return [f["name"] for f in chain["filters"]]


JWT_RULE = {"issuer": "testing@secure.istio.io", "jwks": '{"keys": []}'}


def test_every_http_chain_carries_authn_then_rbac_before_the_router() -> None:
    found = listeners(
        resource("AuthorizationPolicy", "allow", "foo", {
            "selector": {"matchLabels": {"app": "httpbin"}},
            "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/foo/sa/sleep"]}}]}],
        }),
        resource("AuthorizationPolicy", "deny", "istio-system", {"action": "DENY", "rules": [{}]}),
        resource("RequestAuthentication", "jwt", "foo", {"jwtRules": [JWT_RULE]}),
        downstreams=("127.0.0.8",),
    )  # fmt: skip
    chains = found[80]["filter_chains"]
    # PERMISSIVE (mtls, plaintext), again for the one downstream's source address.
    assert len(chains) == 4
    for chain in chains:
        assert http_filters(chain) == [
            "envoy.filters.http.jwt_authn",
            "envoy.filters.http.rbac",  # DENY, the root namespace's
            "envoy.filters.http.rbac",  # ALLOW, the workload's
            MX,
            ROUTER,
        ]
        (hcm,) = chain["filters"]
        deny, allow = hcm["typed_config"]["http_filters"][1:3]
        assert deny["typed_config"]["rules"]["action"] == "DENY"
        allowed = allow["typed_config"]["rules"]["policies"]["ns[foo]-policy[allow]-rule[0]"]
        principal = json.dumps(allowed["principals"])
        # The peer certificate's URI: only a mutual TLS client has one.
        assert '"authenticated"' in principal
        assert "spiffe://cluster.local/ns/foo/sa/sleep" in principal
    # The TCP port gets the network RBAC filters of the same policies, before tcp_proxy.
    for chain in found[9090]["filter_chains"]:
        names = network_filters(chain)
        assert names[:2] == ["envoy.filters.network.rbac", "envoy.filters.network.rbac"]
        assert names[-1] == "envoy.filters.network.tcp_proxy"


def test_policies_name_container_ports_and_judge_the_bound_ones() -> None:
    found = listeners(
        resource("AuthorizationPolicy", "tcp", "foo", {
            "rules": [{"to": [{"operation": {"ports": ["9090", "80", "7"]}}]}],
        }),
    )  # fmt: skip
    (http,) = found[80]["filter_chains"][0]["filters"]
    tcp = found[9090]["filter_chains"][0]["filters"][0]
    for rbac in (http["typed_config"]["http_filters"][0], tcp):
        text = json.dumps(rbac["typed_config"]["rules"])
        # 9090 and 80 are bound at 30003 and 30001 here; 7 is no port of the workload.
        assert '"destination_port": 30003' in text
        assert '"destination_port": 30001' in text
        assert '"destination_port": 7' in text
        assert '"destination_port": 9090' not in text


def test_policies_of_other_workloads_leave_the_chains_alone() -> None:
    found = listeners(
        resource("AuthorizationPolicy", "gw", "istio-system", {
            "selector": {"matchLabels": {"istio": "ingressgateway"}}, "rules": [{}],
        }),
        resource("AuthorizationPolicy", "bar", "bar", {"rules": [{}]}),
        resource("RequestAuthentication", "other", "foo", {
            "selector": {"matchLabels": {"app": "productpage"}}, "jwtRules": [JWT_RULE],
        }),
    )  # fmt: skip
    for chain in found[80]["filter_chains"]:
        assert http_filters(chain) == [MX, ROUTER]
    for chain in found[9090]["filter_chains"]:
        assert network_filters(chain) == ["envoy.filters.network.tcp_proxy"]


def test_a_custom_policy_at_a_workload_is_unsupported() -> None:
    custom = resource("AuthorizationPolicy", "ext", "foo", {
        "action": "CUSTOM", "provider": {"name": "ext-authz"}, "rules": [{}],
    })  # fmt: skip
    with pytest.raises(UnsupportedFeature, match="CUSTOM"):
        listeners(custom)
