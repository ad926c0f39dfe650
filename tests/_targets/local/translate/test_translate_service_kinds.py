"""Headless and ExternalName Services in the translation, fact by fact (no Envoy runs here).

Istio's rules: a headless Service (Passthrough) is ORIGINAL_DST on sidecars and
EDS at gateways (cluster.go convertResolution), its virtual host holds ``*.``
before each name (httproute.go generateVirtualHostDomains) and its TCP port a
chain per pod (listener.go); an ExternalName Service (Alias) gets no cluster
or listener, its names join the target's virtual host and SNI, and a route to
it names the target's cluster (route.go GetDestinationCluster).
"""

from __future__ import annotations

from typing import Any

import yaml

from pytest_meshgate._cases.model.istio import parse_resource
from pytest_meshgate._targets.local.translate import translate_gateway, translate_sidecar
from pytest_meshgate._targets.local.world import (
    Endpoint,
    GatewayProxy,
    MeshService,
    ServicePortInfo,
    World,
)


def bind(port: int) -> tuple[str, int]:
    return ("127.0.0.1", 20000 + port)


def sidecar() -> GatewayProxy:
    return GatewayProxy(
        name="sleep",
        namespace="default",
        labels={"app": "sleep"},
        service_ports=(),
        bind=bind,
        sidecar=True,
    )


def world(text: str, *services: MeshService) -> World:
    resources = tuple(parse_resource(d) for d in yaml.safe_load_all(text) if d)
    return World(resources=resources, services=services)


def clusters_of(config: Any) -> dict[str, Any]:
    return {c["name"]: c for c in config.clusters}


def routes_of(config: Any, name: str) -> dict[str, list[Any]]:
    (route_config,) = [r for r in config.routes if r["name"] == name]
    return {v["name"]: v["routes"] for v in route_config["virtual_hosts"]}


HTTP = ServicePortInfo("http", 8080, 8080, "HTTP")
TCP = ServicePortInfo("tcp", 5432, 5432, "TCP")
TLS = ServicePortInfo("tls", 8443, 8443, "TLS")

DB = MeshService(
    hostname="db.default.svc.cluster.local",
    namespace="default",
    ports=(HTTP, TCP, TLS),
    endpoints=tuple(
        Endpoint(
            {"app": "db"},
            {8080: (ip, 30001), 5432: (ip, 30002), 8443: (ip, 30003)},
            "db-v1",
            pod_ip=ip,
        )
        for ip in ("127.97.0.2", "127.97.0.3")
    ),
    resolution="NONE",
)
B = MeshService(
    hostname="b.default.svc.cluster.local",
    namespace="default",
    ports=(ServicePortInfo("http", 80, 8080, "HTTP"), ServicePortInfo("tls", 443, 443, "TLS")),
    endpoints=(Endpoint({"app": "b"}, {80: ("127.0.0.1", 31001), 443: ("127.0.0.1", 31002)}, "b"),),
    address="10.96.0.20",
)
B_EXT = MeshService(
    hostname="b-ext.default.svc.cluster.local",
    namespace="default",
    ports=(),
    endpoints=(),
    resolution="ALIAS",
    alias_for="b.default.svc.cluster.local",
)

INGRESS = GatewayProxy(
    name="istio-ingressgateway",
    namespace="istio-system",
    labels={"istio": "ingressgateway"},
    service_ports=(ServicePortInfo("http2", 80, 8080, "HTTP2"),),
    bind=bind,
)

GATEWAY_TO = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: gw}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{route: [{destination: {host: HOST, port: {number: 80}}}]}]
"""


def _chains(config: Any, port: int) -> list[Any]:
    (listener,) = [item for item in config.listeners if item["name"] == f"0.0.0.0_{port}"]
    return list(listener["filter_chains"])


def test_a_headless_service_is_original_dst_on_a_sidecar_and_its_pods_names_match() -> None:
    config = translate_sidecar(world("", DB), sidecar())
    for port in (8080, 5432, 8443):
        cluster = clusters_of(config)[f"outbound|{port}||db.default.svc.cluster.local"]
        assert (cluster["type"], cluster["lb_policy"]) == ("ORIGINAL_DST", "CLUSTER_PROVIDED")
        assert "load_assignment" not in cluster
    (route_config,) = [r for r in config.routes if r["name"] == "8080"]
    (vhost,) = [v for v in route_config["virtual_hosts"] if v["name"].startswith("db.")]
    assert {"*.db.default.svc.cluster.local", "*.db", "db", "*.db.default"} <= set(vhost["domains"])


def test_a_headless_services_tcp_and_tls_ports_match_each_pod_ip_without_sni() -> None:
    config = translate_sidecar(world("", DB), sidecar())
    for port in (5432, 8443):
        (chain,) = _chains(config, port)
        match = chain["filter_chain_match"]
        assert [r["address_prefix"] for r in match["prefix_ranges"]] == ["127.97.0.2", "127.97.0.3"]
        assert "server_names" not in match


def test_a_gateway_balances_over_a_headless_services_pods() -> None:
    config = translate_gateway(world(GATEWAY_TO.replace("HOST", "db"), DB), INGRESS)
    cluster = clusters_of(config)["outbound|8080||db.default.svc.cluster.local"]
    assert cluster["type"] == "STATIC"
    endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert len(endpoints) == 2


def test_an_alias_has_no_cluster_or_listener_and_joins_its_targets_names() -> None:
    config = translate_sidecar(world("", B, B_EXT), sidecar())
    assert not [name for name in clusters_of(config) if "b-ext" in name]
    (vhost,) = [v for v in routes_of_config(config, "80") if v["name"].startswith("b.")]
    assert {"b-ext.default.svc.cluster.local", "b-ext", "b-ext.default"} <= set(vhost["domains"])
    # Its name is the SNI of the target's TLS chain too... when the target has no VIP;
    # b has one, so its chain is the VIP's.
    (chain,) = _chains(config, 443)
    assert chain["filter_chain_match"] == {
        "prefix_ranges": [{"address_prefix": "10.96.0.20", "prefix_len": 32}]
    }


def test_a_route_to_an_alias_names_its_targets_cluster_on_the_routes_port() -> None:
    config = translate_gateway(world(GATEWAY_TO.replace("HOST", "b-ext"), B, B_EXT), INGRESS)
    routes = routes_of(config, "http.8080")
    (route,) = next(iter(routes.values()))
    assert route["route"]["cluster"] == "outbound|80||b.default.svc.cluster.local"


def test_an_alias_of_a_host_without_vip_adds_its_name_to_the_sni() -> None:
    no_vip = MeshService(
        hostname="b.default.svc.cluster.local",
        namespace="default",
        ports=(ServicePortInfo("tls", 443, 443, "TLS"),),
        endpoints=B.endpoints,
        resolution="DNS",
        origin="ServiceEntry default/b",
    )
    config = translate_sidecar(world("", no_vip, B_EXT), sidecar())
    (chain,) = _chains(config, 443)
    assert chain["filter_chain_match"]["server_names"] == [
        "b-ext.default.svc.cluster.local",
        "b.default.svc.cluster.local",
    ]


def routes_of_config(config: Any, name: str) -> list[Any]:
    (route_config,) = [r for r in config.routes if r["name"] == name]
    return list(route_config["virtual_hosts"])


def test_world_services_keep_kinds_apart() -> None:
    assert DB.headless and not DB.alias
    assert B_EXT.alias and not B_EXT.headless
    service_entry_none = MeshService("x.example.com", "default", (HTTP,), (), resolution="NONE",
                                     origin="ServiceEntry default/x")  # fmt: skip
    assert not service_entry_none.headless
    assert World(resources=(), services=(DB,)).services[0].headless
