"""The sidecar translation and the ServiceEntry registry, checked fact by fact."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from pytest_meshgate._cases.model.istio import parse_resource
from pytest_meshgate._targets.local.translate import (
    UnsupportedFeature,
    translate_gateway,
    translate_sidecar,
)
from pytest_meshgate._targets.local.translate.serviceentry import visible_services
from pytest_meshgate._targets.local.world import (
    Endpoint,
    GatewayProxy,
    MeshService,
    ServicePortInfo,
    World,
)


def bind(port: int) -> tuple[str, int]:
    return ("127.0.0.1", 20000 + port)


def sidecar(namespace: str = "default", **labels: str) -> GatewayProxy:
    return GatewayProxy(
        name="sleep",
        namespace=namespace,
        labels={"app": "sleep", **labels},
        service_ports=(),
        bind=bind,
        source_address="127.0.0.9",
        sidecar=True,
        capture_ports=(8000,),
    )


EGRESS = GatewayProxy(
    name="istio-egressgateway",
    namespace="istio-system",
    labels={"istio": "egressgateway"},
    service_ports=(ServicePortInfo("http2", 80, 8080, "HTTP2"),),
    bind=bind,
)

REVIEWS = MeshService(
    hostname="reviews.default.svc.cluster.local",
    namespace="default",
    ports=(ServicePortInfo("http", 9080, 9080, "HTTP"),),
    endpoints=(
        Endpoint({"app": "reviews", "version": "v1"}, {9080: ("127.0.0.1", 30001)}, "r-v1"),
        Endpoint({"app": "reviews", "version": "v2"}, {9080: ("127.0.0.1", 30002)}, "r-v2"),
    ),
    address="10.96.0.10",
)

NETWORK = {
    ("api.example.com", 8080): (("127.0.0.1", 31000),),
    ("203.0.113.10", 80): (("127.0.0.1", 31001),),
}


def world(text: str, *services: MeshService) -> World:
    resources = tuple(parse_resource(d) for d in yaml.safe_load_all(text) if d)
    return World(resources=resources, services=services or (REVIEWS,), network=NETWORK)


def routes_of(config: Any, name: str) -> dict[str, list[Any]]:
    (route_config,) = [r for r in config.routes if r["name"] == name]
    return {v["name"]: v["routes"] for v in route_config["virtual_hosts"]}


def clusters_of(config: Any) -> dict[str, Any]:
    return {c["name"]: c for c in config.clusters}


def test_default_route_short_names_and_allow_any() -> None:
    config = translate_sidecar(world(""), sidecar())
    (route_config,) = config.routes
    vhosts = {v["name"]: v for v in route_config["virtual_hosts"]}
    reviews = vhosts["reviews.default.svc.cluster.local:9080"]
    assert {"reviews", "reviews.default", "reviews.default.svc", "10.96.0.10"} <= set(
        reviews["domains"]
    )
    assert reviews["routes"][0]["route"]["cluster"] == (
        "outbound|9080||reviews.default.svc.cluster.local"
    )
    assert route_config["virtual_hosts"][-1]["name"] == "allow_any"
    assert vhosts["allow_any"]["routes"][0]["route"]["cluster"] == "PassthroughCluster"
    listeners = {x["name"]: x for x in config.listeners}
    # The harness's extra port gets a listener that only falls through.
    assert listeners["0.0.0.0_8000"]["filter_chains"] == []
    assert listeners["0.0.0.0_8000"]["default_filter_chain"]["name"] == "PassthroughFilterChain"
    assert listeners["0.0.0.0_9080"]["listener_filters"][0]["name"] == (
        "envoy.filters.listener.proxy_protocol"
    )
    clusters = clusters_of(config)
    assert clusters["PassthroughCluster"]["type"] == "ORIGINAL_DST"
    # `via`: every upstream connection leaves from the proxy's own address.
    assert all(
        c["upstream_bind_config"]["source_address"]["address"] == "127.0.0.9"
        for c in clusters.values()
    )


def test_a_short_name_is_only_a_domain_in_the_service_namespace() -> None:
    config = translate_sidecar(world(""), sidecar(namespace="other"))
    (route_config,) = config.routes
    domains = route_config["virtual_hosts"][0]["domains"]
    assert "reviews.default" in domains and "reviews" not in domains


MESH_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: newer, creationTimestamp: "2024-06-01T00:00:00Z"}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: older, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: gateway-only}
spec:
  hosts: [reviews]
  gateways: [some-gateway]
  http:
  - directResponse: {status: 418}
"""


def test_oldest_mesh_virtualservice_wins_without_merging() -> None:
    routes = routes_of(translate_sidecar(world(MESH_VS), sidecar()), "9080")
    (only,) = routes["reviews.default.svc.cluster.local:9080"]
    assert only["route"]["cluster"] == "outbound|9080|v1|reviews.default.svc.cluster.local"
    assert only["metadata"]["filter_metadata"]["istio"]["config"].endswith("/older")


def _vs(name: str, host: str, dest: str, created: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: default, creationTimestamp: "{created}"}}
spec:
  hosts: ["{host}"]
  http:
  - route: [{{destination: {{host: {dest}}}}}]
"""


def _service(name: str) -> MeshService:
    return MeshService(
        hostname=f"{name}.default.svc.cluster.local",
        namespace="default",
        ports=(ServicePortInfo("http", 80, 80, "HTTP"),),
        endpoints=(Endpoint({"app": name}, {80: ("127.0.0.1", 30010)}, name),),
        address="10.96.0.20",
    )


def _vhost_clusters(config: Any) -> dict[str, list[str]]:
    return {
        name: [r["route"]["cluster"] for r in routes if "cluster" in r.get("route", {})]
        for name, routes in routes_of(config, "80").items()
    }


OLDER, NEWER = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"


@pytest.mark.parametrize(
    ("wild_time", "exact_time"),
    [(OLDER, NEWER), (NEWER, OLDER)],
    ids=["wildcard-older", "exact-older"],
)
def test_an_exact_virtualservice_host_beats_a_wildcard_whatever_the_order(
    wild_time: str, exact_time: str
) -> None:
    # sidecar_simulation_test.go TestSidecarRoutes "wildcard first then explicit"
    # and "explicit first then wildcard".
    text = (
        _vs("wild", "*.cluster.local", "wild.example.com", wild_time)
        + "---"
        + _vs("explicit", "known.default.svc.cluster.local", "explicit.example.com", exact_time)
    )
    config = translate_sidecar(world(text, _service("known"), _service("alt-known")), sidecar())
    vhosts = _vhost_clusters(config)
    assert vhosts["known.default.svc.cluster.local:80"] == ["outbound|80||explicit.example.com"]
    assert vhosts["alt-known.default.svc.cluster.local:80"] == ["outbound|80||wild.example.com"]
    assert "*.cluster.local:80" not in vhosts  # it matched services: no virtual host of its own


def test_a_longer_wildcard_beats_an_older_shorter_one() -> None:
    text = (
        _vs("short", "*.cluster.local", "short.example.com", OLDER)
        + "---"
        + _vs("long", "*.default.svc.cluster.local", "long.example.com", NEWER)
    )
    config = translate_sidecar(world(text, _service("known")), sidecar())
    vhosts = _vhost_clusters(config)
    assert vhosts["known.default.svc.cluster.local:80"] == ["outbound|80||long.example.com"]


def test_a_wildcard_matching_no_service_keeps_its_own_virtual_host() -> None:
    # "wildcard and explicit unknown": neither host names a service.
    text = (
        _vs("wild", "*.tld", "wild.example.com", OLDER)
        + "---"
        + _vs("explicit", "example.tld", "explicit.example.com", NEWER)
    )
    config = translate_sidecar(world(text, _service("known")), sidecar())
    vhosts = _vhost_clusters(config)
    assert vhosts["*.tld:80"] == ["outbound|80||wild.example.com"]
    assert vhosts["known.default.svc.cluster.local:80"] == [
        "outbound|80||known.default.svc.cluster.local"
    ]


REGISTRY_ONLY = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: istio-system}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: open, namespace: default}
spec:
  workloadSelector: {labels: {egress: open}}
  outboundTrafficPolicy: {mode: ALLOW_ANY}
"""


def test_registry_only_blocks_http_with_502_and_the_rest_with_the_black_hole() -> None:
    config = translate_sidecar(world(REGISTRY_ONLY), sidecar())
    routes = routes_of(config, "9080")
    assert routes["block_all"][0]["direct_response"] == {"status": 502}
    assert all(
        x["default_filter_chain"]["filters"][0]["typed_config"]["cluster"] == "BlackHoleCluster"
        for x in config.listeners
    )
    # A Sidecar selecting the workload beats the root namespace's default.
    opened = translate_sidecar(world(REGISTRY_ONLY), sidecar(egress="open"))
    assert "allow_any" in routes_of(opened, "9080")


ENTRIES = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.com]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: static}
spec:
  hosts: [db.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 203.0.113.10}, {address: 203.0.113.99}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: passthrough}
spec:
  hosts: [tls.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: private, namespace: team-a}
spec:
  hosts: [private.example.com]
  exportTo: ["."]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
"""


def _addresses(cluster: Any) -> list[tuple[str, int]]:
    return [
        (
            e["endpoint"]["address"]["socket_address"]["address"],
            e["endpoint"]["address"]["socket_address"]["port_value"],
        )
        for group in cluster.get("load_assignment", {}).get("endpoints", [])
        for e in group["lb_endpoints"]
    ]


def test_service_entry_resolutions_and_target_port() -> None:
    config = translate_sidecar(world(ENTRIES), sidecar())
    clusters = clusters_of(config)
    # DNS: what the host resolves to, on targetPort.
    assert _addresses(clusters["outbound|80||api.example.com"]) == [("127.0.0.1", 31000)]
    # STATIC: the listed IPs; one that leads nowhere gives no endpoint.
    assert _addresses(clusters["outbound|80||db.example.com"]) == [("127.0.0.1", 31001)]
    # NONE: the original destination at a sidecar...
    passthrough = clusters["outbound|443||tls.example.com"]
    assert passthrough["type"] == "ORIGINAL_DST" and "load_assignment" not in passthrough
    listeners = {x["name"]: x for x in config.listeners}
    chains = listeners["0.0.0.0_443"]["filter_chains"]
    assert chains[0]["filter_chain_match"] == {"server_names": ["tls.example.com"]}
    # ...and an EDS cluster without endpoints at a gateway.
    at_gateway = clusters_of(translate_gateway(world(ENTRIES), EGRESS))
    assert at_gateway["outbound|443||tls.example.com"]["type"] == "STATIC"
    assert _addresses(at_gateway["outbound|443||tls.example.com"]) == []


def test_export_to_limits_a_service_entry_to_its_namespace() -> None:
    seen = {s.hostname for s in visible_services(world(ENTRIES), "default")}
    assert "private.example.com" not in seen and "api.example.com" in seen
    assert "private.example.com" in {s.hostname for s in visible_services(world(ENTRIES), "team-a")}
    assert "outbound|80||private.example.com" not in clusters_of(
        translate_sidecar(world(ENTRIES), sidecar())
    )


TLS_ROUTE = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cnn}
spec:
  hosts: [edition.cnn.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cnn}
spec:
  hosts: [edition.cnn.com]
  gateways: [mesh, istio-egressgateway]
  tls:
  - match: [{gateways: [mesh], port: 443, sniHosts: [edition.cnn.com]}]
    route: [{destination: {host: egress.istio-system.svc.cluster.local, subset: cnn}}]
  - match: [{gateways: [istio-egressgateway], port: 443, sniHosts: [edition.cnn.com]}]
    route: [{destination: {host: edition.cnn.com, port: {number: 443}}}]
"""


def test_mesh_tls_route_by_sni() -> None:
    config = translate_sidecar(world(TLS_ROUTE), sidecar())
    (listener,) = [x for x in config.listeners if x["name"] == "0.0.0.0_443"]
    (chain,) = listener["filter_chains"]
    assert chain["filter_chain_match"] == {"server_names": ["edition.cnn.com"]}
    proxy = chain["filters"][0]["typed_config"]
    assert proxy["cluster"] == "outbound|443|cnn|egress.istio-system.svc.cluster.local"
    names = [f["name"] for f in listener["listener_filters"]]
    assert names == [
        "envoy.filters.listener.proxy_protocol",
        "envoy.filters.listener.tls_inspector",
    ]


def test_unsupported_sidecar_fields_are_refused() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: default}
spec:
  egress: [{port: {number: 80, protocol: HTTP, name: http}, hosts: [./*]}]
"""
    with pytest.raises(UnsupportedFeature, match=r"spec.egress\[0\]"):
        translate_sidecar(world(text), sidecar())
    dynamic = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: dyn}
spec:
  hosts: ["*.example.com"]
  ports: [{number: 80, name: http}]
  resolution: DYNAMIC_DNS
"""
    with pytest.raises(UnsupportedFeature, match="DYNAMIC_DNS"):
        translate_sidecar(world(dynamic), sidecar())


def test_service_entry_carries_location_and_identities() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: internal}
spec:
  hosts: [vm.example.internal]
  location: MESH_INTERNAL
  subjectAltNames: ["spiffe://cluster.local/ns/vms/sa/vm"]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints: [{address: 203.0.113.10}]
"""
    (entry,) = [
        s for s in visible_services(world(text), "default") if s.hostname == "vm.example.internal"
    ]
    assert not entry.external and entry.resolution == "STATIC"
    assert entry.service_accounts == ("spiffe://cluster.local/ns/vms/sa/vm",)
    assert entry.ports[0].protocol == "HTTP"  # from the port name, as for Services


def test_sidecar_egress_hosts_narrow_what_the_client_sees() -> None:
    text = (
        ENTRIES
        + """
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: default}
spec:
  egress: [{hosts: ["./*", "*/db.example.com"]}]
"""
    )
    other = MeshService(
        hostname="ratings.other.svc.cluster.local",
        namespace="other",
        ports=(ServicePortInfo("http", 9080, 9080, "HTTP"),),
        endpoints=(),
    )
    config = translate_sidecar(world(text, REVIEWS, other), sidecar())
    hosts = {str(c["name"]).split("|")[-1] for c in config.clusters}
    # ./* imports the client's namespace (the Service and the entries created there)...
    assert {"reviews.default.svc.cluster.local", "api.example.com"} <= hosts
    # ...*/db.example.com one host from anywhere; nothing else.
    assert "db.example.com" in hosts
    assert "ratings.other.svc.cluster.local" not in hosts
    assert "private.example.com" not in hosts
