"""The translator's shared lookups: VirtualServices by gateway, DestinationRules, cluster names."""

from __future__ import annotations

from typing import Any

import yaml

from pytest_meshgate._cases.model.istio import (
    Destination,
    DestinationRule,
    PortSelector,
    parse_resource,
)
from pytest_meshgate._targets.local.translate.index import (
    MESH_GATEWAY,
    ServiceIndex,
    cluster_name,
    destination_cluster,
    destination_port,
    destination_rule_for,
    merged_subsets,
    merged_traffic_policy,
    port_level_settings,
    service_port_protocol,
    subset_named,
    virtual_services_for_gateway,
)
from pytest_meshgate._targets.local.world import (
    Endpoint,
    GatewayProxy,
    MeshService,
    ServicePortInfo,
    World,
)

# --------------------------------------------------------------------- helpers


def service(name: str, ns: str = "default", ports: tuple[int, ...] = (80,)) -> MeshService:
    return MeshService(
        hostname=f"{name}.{ns}.svc.cluster.local",
        namespace=ns,
        ports=tuple(ServicePortInfo(f"http-{p}", p, p, "HTTP") for p in ports),
        endpoints=(
            Endpoint(
                labels={"app": name, "version": "v1"},
                addresses={p: ("127.0.0.1", 30000 + i) for i, p in enumerate(ports)},
                workload=f"{name}-v1",
            ),
        ),
    )


def world(yaml_text: str, services: tuple[MeshService, ...] = ()) -> World:
    resources = tuple(parse_resource(d) for d in yaml.safe_load_all(yaml_text) if d)
    return World(resources=resources, services=services)


def proxy(namespace: str, **labels: str) -> GatewayProxy:
    return GatewayProxy(
        name="proxy",
        namespace=namespace,
        labels=labels,
        service_ports=(),
        bind=lambda p: ("127.0.0.1", 20000 + p),
    )


def virtual_service(name: str, ns: str, spec: dict[str, Any]) -> str:
    document = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"hosts": ["*"], "http": [{"route": [{"destination": {"host": "b"}}]}], **spec},
    }
    return "---\n" + yaml.safe_dump(document)


def destination_rule(name: str, ns: str, spec: dict[str, Any]) -> str:
    document = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }
    return "---\n" + yaml.safe_dump(document)


def names(rules: list[DestinationRule]) -> list[str]:
    return [f"{dr.metadata.namespace}/{dr.metadata.name}" for dr in rules]


# --------------------------------------------------------------------- VirtualServices


BINDINGS = (
    virtual_service("a-public", "default", {"gateways": ["istio-system/gw"]})
    + virtual_service("b-private", "istio-system", {"gateways": ["gw"], "exportTo": ["."]})
    + virtual_service(
        "c-exported", "default", {"gateways": ["istio-system/gw"], "exportTo": ["istio-system"]}
    )
    + virtual_service("d-own-only", "default", {"gateways": ["istio-system/gw"], "exportTo": ["."]})
    + virtual_service("e-short-name", "default", {"gateways": ["gw"]})  # default/gw
    + virtual_service("f-mesh", "default", {})
    + virtual_service("g-nowhere", "istio-system", {"gateways": ["gw"], "exportTo": ["~"]})
)


def test_gateway_bindings_private_then_exported_then_public() -> None:
    found = virtual_services_for_gateway(world(BINDINGS), "istio-system", "istio-system/gw")
    assert [v.vs.metadata.name for v in found] == ["b-private", "c-exported", "a-public"]


def test_gateway_bindings_depend_on_the_proxy_namespace() -> None:
    found = virtual_services_for_gateway(world(BINDINGS), "default", "istio-system/gw")
    # d-own-only is private to default; c-exported is exported to istio-system only.
    assert [v.vs.metadata.name for v in found] == ["d-own-only", "a-public"]
    found = virtual_services_for_gateway(world(BINDINGS), "default", "default/gw")
    assert [v.vs.metadata.name for v in found] == ["e-short-name"]


def test_no_gateways_binds_the_mesh_only() -> None:
    w = world(BINDINGS)
    found = virtual_services_for_gateway(w, "default", MESH_GATEWAY)
    assert [v.vs.metadata.name for v in found] == ["f-mesh"]
    assert found[0].gateways == ("mesh",)
    assert "f-mesh" not in [
        v.vs.metadata.name for v in virtual_services_for_gateway(w, "default", "istio-system/gw")
    ]


def test_creation_order_within_a_visibility_group() -> None:
    older = virtual_service("z-older", "default", {"gateways": ["istio-system/gw"]}).replace(
        "namespace: default", "namespace: default\n  creationTimestamp: '2020-01-01T00:00:00Z'"
    )
    text = virtual_service("a-newer", "default", {"gateways": ["istio-system/gw"]}) + older
    found = virtual_services_for_gateway(world(text), "istio-system", "istio-system/gw")
    assert [v.vs.metadata.name for v in found] == ["z-older", "a-newer"]


def test_hosts_and_gateways_are_resolved_in_the_vs_namespace() -> None:
    text = virtual_service(
        "vs",
        "default",
        {"hosts": ["reviews", "*.example.com", "ratings.other"], "gateways": ["gw", "mesh"]},
    )
    (resolved,) = virtual_services_for_gateway(world(text), "default", "default/gw")
    assert resolved.hosts == ("reviews.default.svc.cluster.local", "*.example.com", "ratings.other")
    assert resolved.gateways == ("default/gw", "mesh")
    assert virtual_services_for_gateway(world(text), "default", MESH_GATEWAY) == [resolved]


# --------------------------------------------------------------------- DestinationRules


RULES = (
    destination_rule("own-reviews", "apps", {"host": "reviews.default.svc.cluster.local"})
    + destination_rule("reviews", "default", {"host": "reviews"})
    + destination_rule("wildcard", "default", {"host": "*.default.svc.cluster.local"})
    + destination_rule("ratings-private", "default", {"host": "ratings", "exportTo": ["."]})
    + destination_rule("mesh-wide", "istio-system", {"host": "*.local"})
)
REVIEWS = service("reviews")
RATINGS = service("ratings")
DETAILS = service("details", ns="other")


def test_destination_rule_of_the_proxy_namespace_first() -> None:
    w = world(RULES, (REVIEWS, RATINGS, DETAILS))
    assert names(destination_rule_for(w, proxy("apps"), REVIEWS)) == ["apps/own-reviews"]


def test_destination_rule_of_the_service_namespace_most_specific_host() -> None:
    w = world(RULES, (REVIEWS, RATINGS, DETAILS))
    assert names(destination_rule_for(w, proxy("web"), REVIEWS)) == ["default/reviews"]
    # ratings-private is not exported to apps: the namespace's wildcard rule applies.
    assert names(destination_rule_for(w, proxy("apps"), RATINGS)) == ["default/wildcard"]
    # In its own namespace the private rule is the most specific.
    assert names(destination_rule_for(w, proxy("default"), RATINGS)) == ["default/ratings-private"]


def test_destination_rule_of_the_root_namespace_last() -> None:
    w = world(RULES, (REVIEWS, RATINGS, DETAILS))
    assert names(destination_rule_for(w, proxy("apps"), DETAILS)) == ["istio-system/mesh-wide"]
    # A proxy in the root namespace takes only the root's private rules first.
    assert names(destination_rule_for(w, proxy("istio-system"), REVIEWS)) == ["default/reviews"]
    assert names(destination_rule_for(w, proxy("istio-system"), DETAILS)) == [
        "istio-system/mesh-wide"
    ]


def test_no_destination_rule() -> None:
    w = world(destination_rule("reviews", "default", {"host": "reviews"}), (REVIEWS, DETAILS))
    assert destination_rule_for(w, proxy("default"), DETAILS) == []


MERGED = (
    destination_rule(
        "a-first",
        "default",
        {
            "host": "reviews",
            "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}},
            "subsets": [{"name": "v1", "labels": {"version": "v1"}}],
        },
    )
    + destination_rule(
        "b-second",
        "default",
        {
            "host": "reviews",
            "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}},
            "subsets": [
                {"name": "v1", "labels": {"version": "other"}},
                {"name": "v2", "labels": {"version": "v2"}},
            ],
        },
    )
    + destination_rule(
        "c-selected",
        "default",
        {
            "host": "reviews",
            "workloadSelector": {"matchLabels": {"app": "sleep"}},
            "subsets": [{"name": "v3", "labels": {"version": "v3"}}],
        },
    )
)


def test_rules_for_one_host_merge_first_rule_wins() -> None:
    rules = destination_rule_for(world(MERGED, (REVIEWS,)), proxy("default", app="web"), REVIEWS)
    assert names(rules) == ["default/a-first", "default/b-second"]
    top = merged_traffic_policy(rules)
    assert top is not None and top.load_balancer is not None
    assert top.load_balancer.simple == "RANDOM"
    assert [(s.name, s.labels) for s in merged_subsets(rules)] == [
        ("v1", {"version": "v1"}),
        ("v2", {"version": "v2"}),
    ]
    v2 = subset_named(rules, "v2")
    assert v2 is not None and v2.labels == {"version": "v2"}
    assert subset_named(rules, "v3") is None


def test_workload_selector_rule_wins_for_its_workloads_only() -> None:
    w = world(MERGED, (REVIEWS,))
    selected = destination_rule_for(w, proxy("default", app="sleep"), REVIEWS)
    assert names(selected) == ["default/c-selected"]
    assert merged_traffic_policy(selected) is None
    assert [s.name for s in merged_subsets(selected)] == ["v3"]
    # The selector is private to its namespace.
    assert names(destination_rule_for(w, proxy("web", app="sleep"), REVIEWS)) == [
        "default/a-first",
        "default/b-second",
    ]


def test_port_level_settings() -> None:
    text = destination_rule(
        "reviews",
        "default",
        {
            "host": "reviews",
            "trafficPolicy": {
                "portLevelSettings": [
                    {"port": {"number": 80}, "loadBalancer": {"simple": "RANDOM"}},
                    {"port": {"number": 9080}, "loadBalancer": {"simple": "ROUND_ROBIN"}},
                ]
            },
        },
    )
    (rule,) = destination_rule_for(world(text, (REVIEWS,)), proxy("default"), REVIEWS)
    policy = rule.spec.traffic_policy
    entry = port_level_settings(policy, 9080)
    assert entry is not None and entry.load_balancer is not None
    assert entry.load_balancer.simple == "ROUND_ROBIN"
    assert port_level_settings(policy, 8080) is None
    assert port_level_settings(None, 80) is None


# --------------------------------------------------------------------- services and clusters


def test_destination_port_defaulting() -> None:
    one = service("one", ports=(9080,))
    two = service("two", ports=(80, 9090))
    assert destination_port(Destination(host="x", port=PortSelector(number=7)), one, 80) == 7
    assert destination_port(Destination(host="x"), one, 80) == 9080
    assert destination_port(Destination(host="x"), two, 80) == 80
    assert destination_port(Destination(host="x"), None, 80) == 80


def test_cluster_names() -> None:
    assert cluster_name(80, None, "a.default.svc.cluster.local") == (
        "outbound|80||a.default.svc.cluster.local"
    )
    assert cluster_name(9080, "v1", "a.example.com") == "outbound|9080|v1|a.example.com"


def test_destination_cluster_resolves_the_host_and_port() -> None:
    single = service("reviews", ports=(9080,))
    double = service("ratings", ports=(80, 9090))
    w = world("", (single, double))
    index = ServiceIndex(w)
    assert destination_cluster(Destination(host="reviews"), "default", 8080, w, index) == (
        "outbound|9080||reviews.default.svc.cluster.local"
    )
    dest = Destination(host="ratings.default.svc.cluster.local", subset="v2")
    assert destination_cluster(dest, "other", 8080, w, index) == (
        "outbound|8080|v2|ratings.default.svc.cluster.local"
    )
    dest = Destination(host="ratings", port=PortSelector(number=9090))
    assert destination_cluster(dest, "default", 8080, w, index) == (
        "outbound|9090||ratings.default.svc.cluster.local"
    )
    # Unknown to the registry: the listener port, the short name resolved all the same.
    assert destination_cluster(Destination(host="nothere"), "apps", 80, w, index) == (
        "outbound|80||nothere.apps.svc.cluster.local"
    )


def test_service_index_and_port_protocols() -> None:
    reviews = service("reviews", ports=(9080,))
    index = ServiceIndex(world("", (reviews,)))
    assert index.service("reviews.default.svc.cluster.local") is reviews
    assert index.service("reviews") is None  # FQDNs only
    assert service_port_protocol(reviews, 9080) == "HTTP"
    assert service_port_protocol(reviews, 80) is None
