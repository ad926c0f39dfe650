"""Unit tests of the Istio -> Envoy translation: host rules, binding, routes, clusters."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from pytest_meshgate._cases.model.istio import parse_resource
from pytest_meshgate._errors import TargetError
from pytest_meshgate._targets.local.translate import (
    EnvoyConfig,
    UnsupportedFeature,
    translate_gateway,
)
from pytest_meshgate._targets.local.translate.hosts import (
    intersection,
    is_subset_of,
    names_for_namespace,
    resolve_gateway_name,
    resolve_shortname,
    sanitize_server_hosts,
)
from pytest_meshgate._targets.local.translate.route import retry_policy
from pytest_meshgate._targets.local.world import (
    Endpoint,
    GatewayProxy,
    MeshService,
    ServicePortInfo,
    World,
)

# --------------------------------------------------------------------- helpers

INGRESS = GatewayProxy(
    name="istio-ingressgateway",
    namespace="istio-system",
    labels={"app": "istio-ingressgateway", "istio": "ingressgateway"},
    service_ports=(
        ServicePortInfo("http2", 80, 8080, "HTTP2"),
        ServicePortInfo("https", 443, 8443, "HTTPS"),
    ),
    bind=lambda p: ("127.0.0.1", 20000 + p),
)


def service(
    name: str, ns: str = "default", ports: tuple[int, ...] = (80,), **versions: int
) -> MeshService:
    """A service whose endpoints are one per version (``v1=30001``: port base)."""
    versions = versions or {"v1": 30000}
    endpoints = tuple(
        Endpoint(
            labels={"app": name, "version": v},
            addresses={p: ("127.0.0.1", base + i) for i, p in enumerate(ports)},
            workload=f"{name}-{v}",
        )
        for v, base in versions.items()
    )
    return MeshService(
        hostname=f"{name}.{ns}.svc.cluster.local",
        namespace=ns,
        ports=tuple(ServicePortInfo(f"http-{p}", p, p, "HTTP") for p in ports),
        endpoints=endpoints,
    )


GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
"""


def translate(
    yaml_text: str,
    services: tuple[MeshService, ...] = (),
    proxy: GatewayProxy = INGRESS,
) -> EnvoyConfig:
    resources = tuple(parse_resource(d) for d in yaml.safe_load_all(yaml_text) if d)
    return translate_gateway(World(resources=resources, services=services), proxy)


def vs_yaml(
    http: str,
    hosts: str = '["*"]',
    name: str = "vs",
    ns: str = "default",
    gateways: str = "[istio-system/gw]",
    extra: str = "",
) -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: {hosts}
  gateways: {gateways}
{extra}
  http:
{http}
"""


def vhosts(cfg: EnvoyConfig, route_name: str = "http.8080") -> list[dict[str, Any]]:
    (rc,) = [r for r in cfg.routes if r["name"] == route_name]
    return list(rc["virtual_hosts"])


def routes(
    cfg: EnvoyConfig, domain: str = "*", route_name: str = "http.8080"
) -> list[dict[str, Any]]:
    for vh in vhosts(cfg, route_name):
        if domain in vh["domains"]:
            return list(vh["routes"])
    raise AssertionError(
        f"no vhost for {domain}: {[v['domains'] for v in vhosts(cfg, route_name)]}"
    )


ROUTE_B = """\
  - route: [{destination: {host: b}}]
"""

# --------------------------------------------------------------------- hosts


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("a.example.com", "*.example.com", True),
        ("example.com", "*.example.com", False),
        ("*.example.com", "*", True),
        ("*", "*.example.com", False),
        ("*.a.example.com", "*.example.com", True),
        ("a.example.com", "a.example.com", True),
        ("a.example.com", "b.example.com", False),
    ],
)
def test_is_subset_of(a: str, b: str, expected: bool) -> None:
    assert is_subset_of(a, b) is expected


def test_intersection_keeps_the_more_specific_side() -> None:
    assert intersection(["*.example.com"], ["a.example.com"]) == ["a.example.com"]
    assert intersection(["foo.bar"], ["*"]) == ["foo.bar"]
    assert intersection(["*"], ["a.com", "b.com"]) == ["a.com", "b.com"]
    assert intersection(["*.example.com"], ["example.com"]) == []
    assert intersection(["*.example.com", "a.example.com"], ["a.example.com"]) == ["a.example.com"]


def test_namespace_scoping() -> None:
    hosts = sanitize_server_hosts(["./a.com", "*/b.com", "ns1/*", "c.com"], "istio-system")
    assert hosts == ["istio-system/a.com", "b.com", "ns1/*", "c.com"]
    assert names_for_namespace(hosts, "ns1") == ["b.com", "*", "c.com"]
    assert names_for_namespace(hosts, "istio-system") == ["a.com", "b.com", "c.com"]
    assert sanitize_server_hosts(["*/*"], "x") == ["*"]


def test_short_names() -> None:
    assert resolve_shortname("reviews", "ns", "cluster.local") == "reviews.ns.svc.cluster.local"
    assert resolve_shortname("reviews.other", "ns", "cluster.local") == "reviews.other"
    assert resolve_shortname("*", "ns", "cluster.local") == "*"
    assert resolve_shortname("10.0.0.1", "ns", "cluster.local") == "10.0.0.1"
    assert resolve_gateway_name("gw", "ns") == "ns/gw"
    assert resolve_gateway_name("./gw", "ns") == "ns/gw"
    assert resolve_gateway_name("other/gw", "ns") == "other/gw"
    assert resolve_gateway_name("gw.istio-system.svc.cluster.local", "ns") == "istio-system/gw"
    assert resolve_gateway_name("mesh", "ns") == "mesh"


# --------------------------------------------------------------------- gateway binding


def test_selector_and_port_translation() -> None:
    cfg = translate(GATEWAY + vs_yaml(ROUTE_B))
    (listener,) = cfg.listeners
    assert listener["name"] == "0.0.0.0_8080"  # Service 80 -> targetPort 8080
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 28080}
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert hcm["rds"]["route_config_name"] == "http.8080"
    assert "config_source" not in hcm["rds"]  # the transport fills it in
    assert [f["name"] for f in hcm["http_filters"]][-1] == "envoy.filters.http.router"
    assert "envoy.filters.http.fault" in [f["name"] for f in hcm["http_filters"]]
    assert hcm["access_log"][0]["typed_config"]["log_format"]["json_format"]["meshgate_id"] == (
        "%REQ(X-MESHGATE-ID)%"
    )


def test_selector_mismatch_gives_no_listener() -> None:
    cfg = translate(
        GATEWAY.replace("istio: ingressgateway", "istio: egressgateway") + vs_yaml(ROUTE_B)
    )
    assert cfg.listeners == [] and cfg.routes == []


def test_no_selector_binds_every_proxy_and_unknown_port_binds_as_is() -> None:
    gw = GATEWAY.replace("  selector: {istio: ingressgateway}\n", "").replace(
        "number: 80", "number: 8000"
    )
    cfg = translate(gw + vs_yaml(ROUTE_B))
    assert [listener["name"] for listener in cfg.listeners] == ["0.0.0.0_8000"]


def test_gateway_on_target_port_shares_route_config() -> None:
    two = (
        GATEWAY
        + """
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw2, namespace: istio-system}
spec:
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["b.com"]
"""
    )
    cfg = translate(two + vs_yaml(ROUTE_B, gateways="[istio-system/gw, istio-system/gw2]"))
    assert [r["name"] for r in cfg.routes] == ["http.8080"]
    assert {vh["name"] for vh in vhosts(cfg)} == {"*:80", "b.com:8080"}


def test_tcp_server_first_wins_the_port() -> None:
    gws = (
        """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: a-tcp, namespace: istio-system}
spec:
  servers:
  - port: {number: 80, name: tcp, protocol: TCP}
    hosts: ["*"]
---
"""
        + GATEWAY
    )
    cfg = translate(gws + vs_yaml(ROUTE_B))
    # The TCP server keeps port 80 (created first); no TCP routes yet -> no listener.
    assert cfg.listeners == []


def test_no_virtual_service_gives_blackhole() -> None:
    cfg = translate(GATEWAY)
    assert vhosts(cfg) == [{"name": "blackhole:80", "domains": ["*"], "routes": []}]


def test_mesh_only_vs_does_not_bind() -> None:
    cfg = translate(GATEWAY + vs_yaml(ROUTE_B, gateways="[]"))
    assert vhosts(cfg)[0]["name"] == "blackhole:80"


def test_namespace_restricted_server_hosts() -> None:
    gw = GATEWAY.replace('hosts: ["*"]', 'hosts: ["ns1/*"]')
    cfg = translate(gw + vs_yaml(ROUTE_B, name="other", ns="default"))
    assert vhosts(cfg)[0]["name"] == "blackhole:80"
    cfg = translate(gw + vs_yaml(ROUTE_B, name="mine", ns="ns1"))
    assert vhosts(cfg)[0]["domains"] == ["*"]


def test_export_to_hides_virtual_service() -> None:
    cfg = translate(GATEWAY + vs_yaml(ROUTE_B, extra='  exportTo: ["."]'))
    assert vhosts(cfg)[0]["name"] == "blackhole:80"
    cfg = translate(GATEWAY + vs_yaml(ROUTE_B, extra='  exportTo: ["istio-system"]'))
    assert vhosts(cfg)[0]["domains"] == ["*"]


def test_short_gateway_name_resolves_in_vs_namespace() -> None:
    cfg = translate(GATEWAY + vs_yaml(ROUTE_B, gateways="[gw]"))  # default/gw: does not exist
    assert vhosts(cfg)[0]["name"] == "blackhole:80"
    cfg = translate(GATEWAY + vs_yaml(ROUTE_B, gateways="[gw]", ns="istio-system"))
    assert vhosts(cfg)[0]["domains"] == ["*"]


def test_host_intersection_lowercased_and_vs_shortname() -> None:
    gw = GATEWAY.replace(
        'hosts: ["*"]', 'hosts: ["*.Example.com", "reviews.default.svc.cluster.local"]'
    )
    cfg = translate(gw + vs_yaml(ROUTE_B, hosts="[A.Example.com, example.com, reviews]"))
    assert sorted(vh["domains"][0] for vh in vhosts(cfg)) == [
        "a.example.com",
        "reviews.default.svc.cluster.local",
    ]


# --------------------------------------------------------------------- ordering


def test_routes_of_several_vs_concatenated_catch_all_last() -> None:
    first = vs_yaml("  - route: [{destination: {host: a}}]\n", name="first")
    second = vs_yaml(
        "  - match: [{uri: {prefix: /b}}]\n    route: [{destination: {host: b}}]\n", name="second"
    )
    cfg = translate(GATEWAY + first + second)
    names = [r["name"] for r in routes(cfg)]
    assert names == ["default/second.http[0].match[0]", "default/first.http[0]"]


def test_creation_timestamp_overrides_file_order() -> None:
    first = vs_yaml(
        "  - match: [{uri: {prefix: /}}, {uri: {prefix: /x}}]\n"
        + "    route: [{destination: {host: a}}]\n",
        name="z",
    )
    second = vs_yaml(
        "  - match: [{uri: {prefix: /b}}]\n    route: [{destination: {host: b}}]\n", name="y"
    ).replace(
        "namespace: default}", "namespace: default, creationTimestamp: '2020-01-01T00:00:00Z'}"
    )
    cfg = translate(GATEWAY + first + second)
    # `y` is older, its route comes first; `z` stops after its catch-all (no /x route).
    assert [r["name"] for r in routes(cfg)] == [
        "default/y.http[0].match[0]",
        "default/z.http[0].match[0]",
    ]


def test_without_timestamps_name_order_wins_over_file_order() -> None:
    # One `kubectl apply` creates both in the same second; Istio then sorts by
    # name (configCompareByCreationTime), so file order must not matter.
    later_in_name = vs_yaml(
        "  - match: [{uri: {prefix: /z}}]\n    route: [{destination: {host: z}}]\n", name="zeta"
    )
    earlier_in_name = vs_yaml(
        "  - match: [{uri: {prefix: /a}}]\n    route: [{destination: {host: a}}]\n", name="alpha"
    )
    for text in (later_in_name + earlier_in_name, earlier_in_name + later_in_name):
        assert [r["name"] for r in routes(translate(GATEWAY + text))] == [
            "default/alpha.http[0].match[0]",
            "default/zeta.http[0].match[0]",
        ]


def test_translation_stops_after_first_catch_all() -> None:
    http = """\
  - match: [{uri: {regex: ".*"}}]
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /never}}]
    route: [{destination: {host: b}}]
"""
    cfg = translate(GATEWAY + vs_yaml(http))
    assert len(routes(cfg)) == 1


# --------------------------------------------------------------------- matches


def test_match_translation() -> None:
    http = """\
  - name: r
    match:
    - name: m
      uri: {prefix: /foo}
      ignoreUriCase: true
      headers: {zz: {exact: "1"}, aa: {regex: "*"}}
      withoutHeaders: {end-user: {exact: jason}}
      queryParams: {q: {prefix: x}}
      method: {exact: GET}
      authority: {prefix: a}
      scheme: {exact: http}
    route: [{destination: {host: b}}]
"""
    (route,) = routes(translate(GATEWAY + vs_yaml(http)))
    assert route["name"] == "r.m"
    assert route["match"] == {
        "prefix": "/foo",
        "case_sensitive": False,
        "headers": [
            {"name": "aa", "present_match": True},
            {
                "name": "end-user",
                "string_match": {"exact": "jason"},
                "invert_match": True,
                "treat_missing_header_as_empty": True,
            },
            {"name": "zz", "string_match": {"exact": "1"}},
            {"name": ":method", "string_match": {"exact": "GET"}},
            {"name": ":authority", "string_match": {"prefix": "a"}},
            {"name": ":scheme", "string_match": {"exact": "http"}},
        ],
        "query_parameters": [{"name": "q", "string_match": {"prefix": "x"}}],
    }


def test_empty_string_matches_mean_present() -> None:
    # route.go canBeConvertedToPresentMatch(): an empty StringMatch is "present"
    # for headers and query parameters; an empty uri match leaves prefix "/".
    http = """\
  - match:
    - uri: {}
      headers: {x-debug: {}}
      withoutHeaders: {x-skip: {}}
      queryParams: {q: {}}
    route: [{destination: {host: b}}]
"""
    (route,) = routes(translate(GATEWAY + vs_yaml(http)))
    assert route["match"] == {
        "prefix": "/",
        "case_sensitive": True,
        "headers": [
            {"name": "x-debug", "present_match": True},
            {"name": "x-skip", "present_match": True, "invert_match": True},
        ],
        "query_parameters": [{"name": "q", "present_match": True}],
    }


def test_match_port_is_the_gateway_number_and_source_labels() -> None:
    http = """\
  - match: [{port: 8080}]
    route: [{destination: {host: a}}]
  - match: [{port: 80, uri: {exact: /p}}]
    route: [{destination: {host: a}}]
  - match: [{sourceLabels: {istio: egressgateway}}]
    route: [{destination: {host: a}}]
  - match: [{gateways: [other]}]
    route: [{destination: {host: a}}]
  - match: [{sourceLabels: {istio: ingressgateway}, uri: {exact: /s}}]
    route: [{destination: {host: a}}]
"""
    paths = [r["match"].get("path") for r in routes(translate(GATEWAY + vs_yaml(http)))]
    assert paths == ["/p", "/s"]


# --------------------------------------------------------------------- destinations


def test_clusters_and_weights() -> None:
    http = """\
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 25}
    - {destination: {host: reviews, subset: v2}, weight: 25}
    - {destination: {host: reviews.default.svc.cluster.local, subset: v3}, weight: 0}
"""
    dr = """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v9, labels: {version: v9}}
"""
    svc = service("reviews", ports=(9080,), v1=30000, v2=31000)
    cfg = translate(GATEWAY + vs_yaml(http) + dr, services=(svc,))
    (route,) = routes(cfg)
    assert route["route"]["weighted_clusters"] == {
        "clusters": [
            {"name": "outbound|9080|v1|reviews.default.svc.cluster.local", "weight": 25},
            {"name": "outbound|9080|v2|reviews.default.svc.cluster.local", "weight": 25},
        ]
    }
    by_name = {c["name"]: c for c in cfg.clusters}
    assert sorted(by_name) == [
        "outbound|9080|v1|reviews.default.svc.cluster.local",
        "outbound|9080|v2|reviews.default.svc.cluster.local",
        "outbound|9080|v9|reviews.default.svc.cluster.local",
        "outbound|9080||reviews.default.svc.cluster.local",
    ]
    v2 = by_name["outbound|9080|v2|reviews.default.svc.cluster.local"]
    assert v2["load_assignment"]["endpoints"] == [
        {
            "lb_endpoints": [
                {
                    "endpoint": {
                        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 31000}}
                    },
                    # Istio's endpoint telemetry metadata: workload;namespace;canonical
                    # service;revision;cluster, which its stats filter reads.
                    "metadata": {
                        "filter_metadata": {
                            "istio": {"workload": "reviews-v2;default;reviews;v2;Kubernetes"}
                        }
                    },
                }
            ]
        }
    ]
    assert v2["metadata"] == {
        "filter_metadata": {
            "istio": {
                "services": [
                    {
                        "host": "reviews.default.svc.cluster.local",
                        "name": "reviews",
                        "namespace": "default",
                    }
                ]
            }
        }
    }
    assert (
        by_name["outbound|9080|v9|reviews.default.svc.cluster.local"]["load_assignment"][
            "endpoints"
        ]
        == []
    )
    assert v2["connect_timeout"] == "10s" and v2["lb_policy"] == "LEAST_REQUEST"
    assert "typed_extension_protocol_options" not in v2  # HTTP/1.1 upstream


def test_single_destination_ignores_weight_and_unknown_host() -> None:
    http = "  - route: [{destination: {host: nowhere.example.com}, weight: 10}]\n"
    (route,) = routes(translate(GATEWAY + vs_yaml(http)))
    assert route["route"]["cluster"] == "outbound|80||nowhere.example.com"
    assert "weighted_clusters" not in route["route"]


def test_h2_upstream_and_source_address() -> None:
    svc = MeshService(
        "g.default.svc.cluster.local",
        "default",
        (ServicePortInfo("grpc", 7070, 7070, "GRPC"),),
        (Endpoint({}, {7070: ("127.0.0.1", 30070)}, "g-v1"),),
    )
    proxy = GatewayProxy(
        "gw",
        "istio-system",
        {"istio": "ingressgateway"},
        INGRESS.service_ports,
        INGRESS.bind,
        source_address="127.0.0.2",
    )
    (cluster,) = translate(GATEWAY, services=(svc,), proxy=proxy).clusters
    assert cluster["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]["explicit_http_config"] == {"http2_protocol_options": {}}
    assert cluster["upstream_bind_config"] == {
        "source_address": {"address": "127.0.0.2", "port_value": 0}
    }


# --------------------------------------------------------------------- actions


@pytest.mark.parametrize(
    ("redirect", "expected"),
    [
        ("{uri: /new}", {"path_redirect": "/new", "response_code": "MOVED_PERMANENTLY"}),
        ("{authority: b, redirectCode: 302}", {"host_redirect": "b", "response_code": "FOUND"}),
        ("{derivePort: FROM_REQUEST_PORT}", {"response_code": "MOVED_PERMANENTLY"}),  # 80 + http
        (
            "{port: 85, redirectCode: 308}",
            {"port_redirect": 85, "response_code": "PERMANENT_REDIRECT"},
        ),
        (
            "{scheme: https, port: 80}",
            {"scheme_redirect": "https", "port_redirect": 80, "response_code": "MOVED_PERMANENTLY"},
        ),
        (
            "{scheme: https, port: 443}",
            {"scheme_redirect": "https", "response_code": "MOVED_PERMANENTLY"},
        ),
        (
            "{derivePort: FROM_PROTOCOL_DEFAULT, redirectCode: 307}",
            {"response_code": "TEMPORARY_REDIRECT"},
        ),
        # Istio's "redirect prefix_rewrite" integration case: /foo/bar -> /new/bar.
        (
            "{prefixRewrite: /new/}",
            {"prefix_rewrite": "/new/", "response_code": "MOVED_PERMANENTLY"},
        ),
    ],
)
def test_redirect(redirect: str, expected: dict[str, Any]) -> None:
    (route,) = routes(translate(GATEWAY + vs_yaml(f"  - redirect: {redirect}\n")))
    assert route["redirect"] == expected
    assert "route" not in route


def test_redirect_derive_port_uses_server_number() -> None:
    gw = GATEWAY.replace("number: 80", "number: 8000")
    (route,) = routes(
        translate(gw + vs_yaml("  - redirect: {derivePort: FROM_REQUEST_PORT}\n")),
        route_name="http.8000",
    )
    assert route["redirect"]["port_redirect"] == 8000


def test_unsupported_redirect_code_leaves_route_without_action() -> None:
    (route,) = routes(translate(GATEWAY + vs_yaml("  - redirect: {uri: /x, redirectCode: 304}\n")))
    assert not {"route", "redirect", "direct_response"} & set(route)


def test_precedence_redirect_direct_response_route() -> None:
    http = """\
  - match: [{uri: {prefix: /d}}]
    directResponse: {status: 418, body: {string: teapot}}
    route: [{destination: {host: a}}]
  - redirect: {uri: /r}
    directResponse: {status: 503}
    route: [{destination: {host: a}}]
"""
    r1, r2 = routes(translate(GATEWAY + vs_yaml(http)))
    assert r1["direct_response"] == {"status": 418, "body": {"inline_string": "teapot"}}
    assert set(r2) & {"redirect", "direct_response", "route"} == {"redirect"}


def test_rewrite_and_headers() -> None:
    http = """\
  - match: [{uri: {exact: /foo}}]
    rewrite: {uri: /new/path, authority: route-authority}
    headers:
      request: {set: {b: "1", host: ignored}, add: {a: "2"}, remove: [x, ":path"]}
      response: {set: {r: "3"}, remove: [server-x]}
    route:
    - destination: {host: a}
      headers: {request: {set: {":authority": dest-authority, d: "4"}}}
"""
    (route,) = routes(translate(GATEWAY + vs_yaml(http)))
    action = route["route"]
    assert action["prefix_rewrite"] == "/new/path"
    assert action["host_rewrite_literal"] == "route-authority"
    assert route["request_headers_to_add"] == [
        {"header": {"key": "b", "value": "1"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
        {"header": {"key": "a", "value": "2"}, "append_action": "APPEND_IF_EXISTS_OR_ADD"},
        {"header": {"key": "d", "value": "4"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
    ]
    assert route["request_headers_to_remove"] == ["x"]
    assert route["response_headers_to_remove"] == ["server-x"]


def test_destination_authority_when_route_sets_none() -> None:
    http = """\
  - route:
    - destination: {host: a}
      headers: {request: {add: {host: dest-authority}}}
"""
    (route,) = routes(translate(GATEWAY + vs_yaml(http)))
    assert route["route"]["host_rewrite_literal"] == "dest-authority"


def test_regex_rewrite() -> None:
    http = '  - rewrite: {uriRegexRewrite: {match: "^/a/(.*)", rewrite: "/b/\\\\1"}}\n    route: [{destination: {host: a}}]\n'
    (route,) = routes(translate(GATEWAY + vs_yaml(http)))
    assert route["route"]["regex_rewrite"] == {
        "pattern": {"regex": "^/a/(.*)"},
        "substitution": "/b/\\1",
    }


def test_timeout_and_retries() -> None:
    http = """\
  - match: [{uri: {prefix: /t}}]
    timeout: 1.5s
    retries: {attempts: 0}
    route: [{destination: {host: a}}]
  - route: [{destination: {host: a}}]
"""
    timed, default = routes(translate(GATEWAY + vs_yaml(http)))
    assert timed["route"]["timeout"] == "1.5s"
    assert "retry_policy" not in timed["route"]
    assert default["route"]["timeout"] == "0s"
    assert default["route"]["retry_policy"]["retry_on"] == (
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    )
    assert "retriable_status_codes" not in default["route"]["retry_policy"]


def test_retry_policy_conversion() -> None:
    from pytest_meshgate._cases.model.istio import HTTPRetry

    policy = retry_policy(
        HTTPRetry(attempts=3, per_try_timeout="200ms", retry_on="gateway-error,503,999")
    )
    assert policy is not None
    assert policy["num_retries"] == 3
    assert policy["retry_on"] == "gateway-error,999,retriable-status-codes"
    assert policy["retriable_status_codes"] == [503]
    assert policy["per_try_timeout"] == "0.2s"
    assert policy["host_selection_retry_max_attempts"] == 5


def test_retries_under_consistent_hashing_stay_unless_told_to_move() -> None:
    from pytest_meshgate._cases.model.istio import HTTPRetry

    def predicates(retries: HTTPRetry | None, consistent_hash: bool) -> list[str]:
        policy = retry_policy(retries, consistent_hash=consistent_hash)
        assert policy is not None
        return [p["name"] for p in policy.get("retry_host_predicate", [])]

    previous = ["envoy.retry_host_predicates.previous_hosts"]
    plain = HTTPRetry(attempts=2)
    assert predicates(None, False) == predicates(plain, False) == previous
    # retry.go DefaultConsistentHashPolicy(): no predicate, so a retry keeps the hashed host.
    assert predicates(None, True) == predicates(plain, True) == []
    # retryIgnorePreviousHosts, once set, decides under hashing too (ConvertPolicy()).
    assert predicates(HTTPRetry(attempts=2, retry_ignore_previous_hosts=True), True) == previous
    assert predicates(HTTPRetry(attempts=2, retry_ignore_previous_hosts=False), False) == []


def test_https_redirect_wins_over_plain_server() -> None:
    two = (
        GATEWAY.replace('hosts: ["*"]', 'hosts: ["a.com"]')
        + """
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: redirect, namespace: istio-system}
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["a.com", "b.com"]
    tls: {httpsRedirect: true}
"""
    )
    cfg = translate(two + vs_yaml(ROUTE_B, hosts="[a.com]", gateways="[istio-system/gw]"))
    by_domain = {vh["domains"][0]: vh for vh in vhosts(cfg)}
    assert by_domain["a.com"]["require_tls"] == "ALL"
    assert len(by_domain["a.com"]["routes"]) == 1
    assert by_domain["b.com"]["require_tls"] == "ALL" and by_domain["b.com"]["routes"] == []


@pytest.mark.parametrize(
    ("http", "field"),
    [
        (
            "  - fault: {abort: {http2Error: REFUSED_STREAM}}\n    route: [{destination: {host: a}}]\n",
            "fault.abort",
        ),
        ("  - delegate: {name: d}\n", "delegate"),
    ],
)
def test_unsupported_features_raise(http: str, field: str) -> None:
    with pytest.raises(
        UnsupportedFeature, match=rf"VirtualService default/vs: spec\.http\[0\]\.{field}"
    ) as info:
        translate(GATEWAY + vs_yaml(http))
    assert isinstance(info.value, TargetError)


def test_deterministic() -> None:
    text = GATEWAY + vs_yaml(
        "  - match: [{queryParams: {b: {exact: '1'}, a: {exact: '2'}}}]\n    route: [{destination: {host: a}}]\n"
    )
    svc = (service("a", v1=30000, v2=30100),)
    dumps = {json.dumps(translate(text, services=svc).__dict__, sort_keys=False) for _ in range(3)}
    assert len(dumps) == 1


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ("{tls: {mode: ISTIO_MUTUAL}}", r"spec\.trafficPolicy\.tls\.mode"),
        (
            "{loadBalancer: {localityLbSetting: {enabled: true}}}",
            r"loadBalancer\.localityLbSetting",
        ),
        (
            "{portLevelSettings: [{port: {number: 80}, tls: {mode: MUTUAL}}]}",
            r"portLevelSettings\[0\]\.tls\.clientCertificate",
        ),
    ],
)
def test_unsupported_destination_rule_policies_raise(policy: str, field: str) -> None:
    dr = f"""
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: a}}
spec:
  host: a
  trafficPolicy: {policy}
"""
    with pytest.raises(UnsupportedFeature, match=rf"DestinationRule default/a: .*{field}"):
        translate(GATEWAY + dr, services=(service("a"),))


def test_destination_rule_policy_and_lookup_order() -> None:
    drs = """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mesh-wide, namespace: istio-system}
spec:
  host: "*.local"
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: hidden, namespace: default}
spec:
  host: b
  exportTo: ["."]
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a, namespace: default}
spec:
  host: a
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 1}, http: {http2MaxRequests: 7}}
    outlierDetection: {consecutive5xxErrors: 0}
"""
    cfg = translate(GATEWAY + drs, services=(service("a"), service("b")))
    by_name = {c["name"]: c for c in cfg.clusters}
    a = by_name["outbound|80||a.default.svc.cluster.local"]
    b = by_name["outbound|80||b.default.svc.cluster.local"]
    # The service's own namespace DR beats the root namespace's wildcard one.
    assert a["lb_policy"] == "LEAST_REQUEST"
    assert a["circuit_breakers"]["thresholds"][0]["max_connections"] == 1
    assert a["circuit_breakers"]["thresholds"][0]["max_requests"] == 7
    assert a["outlier_detection"]["enforcing_consecutive_5xx"] == 0
    assert a["common_lb_config"]["healthy_panic_threshold"] == {"value": 0.0}
    # `hidden` is not exported to istio-system: the mesh-wide rule applies.
    assert b["lb_policy"] == "RANDOM"


# --------------------------------------------------------------------- fault, mirror, CORS


def test_fault_translation_per_million_and_none_without_percentage() -> None:
    http = """\
  - match: [{uri: {prefix: /both}}]
    fault:
      delay: {fixedDelay: 1.5s, percentage: {value: 12.5}}
      abort: {httpStatus: 418, percentage: {value: 0.1}}
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /bare}}]
    fault: {delay: {fixedDelay: 2s}, abort: {httpStatus: 503}}
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /old}}]
    fault: {delay: {fixedDelay: 1s, percent: 30}, abort: {grpcStatus: UNAVAILABLE, percentage: {value: 50}}}
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /exp}}]
    fault: {delay: {exponentialDelay: 1s, percentage: {value: 100}}}
    directResponse: {status: 200}
"""
    both, bare, old, exp = routes(translate(GATEWAY + vs_yaml(http)))
    fault = both["typed_per_filter_config"]["envoy.filters.http.fault"]
    assert fault["@type"].endswith("fault.v3.HTTPFault")
    assert fault["delay"] == {
        "fixed_delay": "1.5s",
        "percentage": {"numerator": 125000, "denominator": "MILLION"},
    }
    assert fault["abort"] == {
        "percentage": {"numerator": 1000, "denominator": "MILLION"},
        "http_status": 418,
    }
    # No percentage: nobody is delayed (0 per hundred) and the abort has 0 % (unset).
    bare_fault = bare["typed_per_filter_config"]["envoy.filters.http.fault"]
    assert bare_fault["delay"]["percentage"] == {"numerator": 0, "denominator": "HUNDRED"}
    assert bare_fault["abort"] == {"http_status": 503}
    old_fault = old["typed_per_filter_config"]["envoy.filters.http.fault"]
    assert old_fault["delay"]["percentage"] == {"numerator": 30, "denominator": "HUNDRED"}
    assert old_fault["abort"]["grpc_status"] == 14
    # An exponential delay is dropped; nothing is left, so no per-route config.
    assert "typed_per_filter_config" not in exp


def test_mirror_translation_defaults_to_100_percent_without_shadow_suffix() -> None:
    http = """\
  - match: [{uri: {prefix: /all}}]
    mirror: {host: b, subset: v2}
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /share}}]
    mirror: {host: b}
    mirrorPercentage: {value: 25.5}
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /zero}}]
    mirror: {host: b}
    mirrorPercentage: {value: 0}
    route: [{destination: {host: a}}]
  - match: [{uri: {prefix: /many}}]
    mirrors:
    - destination: {host: b, port: {number: 8080}}
    - destination: {host: c}
      percentage: {value: 5}
    - destination: {host: d}
      percentage: {value: 0}
    route: [{destination: {host: a}}]
"""
    svcs = (service("a"), service("b", ports=(80, 8080)), service("c"), service("d"))
    full, share, zero, many = routes(translate(GATEWAY + vs_yaml(http), services=svcs))
    (policy,) = full["route"]["request_mirror_policies"]
    assert policy == {
        "cluster": "outbound|80|v2|b.default.svc.cluster.local",
        "runtime_fraction": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
        "trace_sampled": False,
        "disable_shadow_host_suffix_append": True,
    }
    (shared,) = share["route"]["request_mirror_policies"]
    assert shared["runtime_fraction"]["default_value"] == {
        "numerator": 255000,
        "denominator": "MILLION",
    }
    assert "request_mirror_policies" not in zero["route"]
    assert [
        (m["cluster"], m["runtime_fraction"]["default_value"]["numerator"])
        for m in many["route"]["request_mirror_policies"]
    ] == [
        ("outbound|8080||b.default.svc.cluster.local", 100),
        ("outbound|80||c.default.svc.cluster.local", 50000),
    ]


def test_cors_translation() -> None:
    http = """\
  - corsPolicy:
      allowOrigins: [{exact: "https://a.example"}, {prefix: "https://b."}, {regex: ".*\\\\.c\\\\.example"}]
      allowMethods: [POST, GET]
      allowHeaders: [x-a, x-b]
      exposeHeaders: [x-e]
      maxAge: 24h
      allowCredentials: false
      unmatchedPreflights: IGNORE
    route: [{destination: {host: a}}]
"""
    (route,) = routes(translate(GATEWAY + vs_yaml(http)))
    cors = route["typed_per_filter_config"]["envoy.filters.http.cors"]
    assert cors == {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "forward_not_matching_preflights": False,
        "allow_origin_string_match": [
            {"exact": "https://a.example"},
            {"prefix": "https://b."},
            {"safe_regex": {"regex": ".*\\.c\\.example"}},
        ],
        "filter_enabled": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
        "allow_credentials": False,
        "allow_headers": "x-a,x-b",
        "allow_methods": "POST,GET",
        "expose_headers": "x-e",
        "max_age": "86400",
    }
    deprecated = vs_yaml(
        "  - corsPolicy: {allowOrigin: [x.example]}\n    route: [{destination: {host: a}}]\n"
    )
    (route,) = routes(translate(GATEWAY + deprecated))
    cors = route["typed_per_filter_config"]["envoy.filters.http.cors"]
    assert cors["allow_origin_string_match"] == [{"exact": "x.example"}]
    assert cors["forward_not_matching_preflights"] is True


# --------------------------------------------------------------------- load balancing


def _dr(host: str, traffic_policy: str, subsets: str = "") -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {host}}}
spec:
  host: {host}
  trafficPolicy: {traffic_policy}
{subsets}
"""


@pytest.mark.parametrize(
    ("hash_lb", "cluster_lb", "hash_policy"),
    [
        (
            "{httpHeaderName: x-user}",
            ("RING_HASH", {"ring_hash_lb_config": {"minimum_ring_size": 1024}}),
            {"header": {"header_name": "x-user"}},
        ),
        (
            "{httpCookie: {name: sticky, ttl: 60s, path: /}, minimumRingSize: 64}",
            ("RING_HASH", {"ring_hash_lb_config": {"minimum_ring_size": 64}}),
            {"cookie": {"name": "sticky", "ttl": "60s", "path": "/"}},
        ),
        (
            "{useSourceIp: true, maglev: {tableSize: 65537}}",
            ("MAGLEV", {"maglev_lb_config": {"table_size": 65537}}),
            {"connection_properties": {"source_ip": True}},
        ),
        (
            "{httpQueryParameterName: user, ringHash: {minimumRingSize: 2048}}",
            ("RING_HASH", {"ring_hash_lb_config": {"minimum_ring_size": 2048}}),
            {"query_parameter": {"name": "user"}},
        ),
        (
            "{httpHeaderName: x-user, ringHash: {}}",
            ("RING_HASH", {}),
            {"header": {"header_name": "x-user"}},
        ),
    ],
)
def test_consistent_hash(
    hash_lb: str, cluster_lb: tuple[str, dict[str, Any]], hash_policy: dict[str, Any]
) -> None:
    text = GATEWAY + vs_yaml(ROUTE_B) + _dr("b", f"{{loadBalancer: {{consistentHash: {hash_lb}}}}}")
    cfg = translate(text, services=(service("b", v1=30000, v2=30100),))
    (cluster,) = cfg.clusters
    policy, config = cluster_lb
    assert cluster["lb_policy"] == policy
    for key in ("ring_hash_lb_config", "maglev_lb_config"):
        assert cluster.get(key) == config.get(key)
    (route,) = routes(cfg)
    assert route["route"]["hash_policy"] == [hash_policy]
    # A lone hashed destination: retries stay on the hashed host.
    assert "retry_host_predicate" not in route["route"]["retry_policy"]


def test_consistent_hash_precedence_and_weighted_destinations() -> None:
    subsets = """\
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-subset}}}
  - name: v2
    labels: {version: v2}
    trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
"""
    dr = _dr(
        "b",
        "{loadBalancer: {consistentHash: {httpHeaderName: x-top}}, portLevelSettings: "
        "[{port: {number: 80}, loadBalancer: {consistentHash: {httpHeaderName: x-port}}}]}",
        subsets,
    )
    http = """\
  - match: [{uri: {prefix: /v1}}]
    route: [{destination: {host: b, subset: v1}}]
  - match: [{uri: {prefix: /v2}}]
    route: [{destination: {host: b, subset: v2}}]
  - match: [{uri: {prefix: /port}}]
    route: [{destination: {host: b, port: {number: 80}}}]
  - match: [{uri: {prefix: /plain}}]
    route: [{destination: {host: b}}]
  - route:
    - {destination: {host: b, subset: v1}, weight: 50}
    - {destination: {host: b, subset: v2}, weight: 50}
"""
    cfg = translate(GATEWAY + vs_yaml(http) + dr, services=(service("b", v1=30000, v2=30100),))
    v1, v2, port, plain, weighted = routes(cfg)

    def header(route: dict[str, Any]) -> list[str]:
        return [h["header"]["header_name"] for h in route["route"].get("hash_policy", [])]

    assert header(v1) == ["x-subset"]
    # A subset without its own hash inherits the top-level one (HashForHTTPDestination)...
    assert header(v2) == ["x-top"]
    # ...port-level settings count only with an explicit destination port.
    assert header(port) == ["x-port"]
    assert header(plain) == ["x-top"]
    assert header(weighted) == ["x-subset", "x-top"]
    # Several destinations: the previous-hosts predicate stays.
    assert "retry_host_predicate" in weighted["route"]["retry_policy"]
    clusters = {c["name"]: c for c in cfg.clusters}
    # The port-level policy replaces the whole top-level policy for port 80.
    assert clusters["outbound|80||b.default.svc.cluster.local"]["lb_policy"] == "RING_HASH"
    assert clusters["outbound|80|v1|b.default.svc.cluster.local"]["lb_policy"] == "RING_HASH"
    assert clusters["outbound|80|v2|b.default.svc.cluster.local"]["lb_policy"] == "ROUND_ROBIN"


def test_connection_pool_and_outlier_detection() -> None:
    dr = _dr(
        "b",
        """
    connectionPool:
      tcp: {maxConnections: 2, connectTimeout: 250ms, idleTimeout: 5m}
      http: {http1MaxPendingRequests: 3, http2MaxRequests: 4, maxRetries: 5, maxRequestsPerConnection: 6, idleTimeout: 30s}
    outlierDetection:
      consecutive5xxErrors: 2
      consecutiveGatewayErrors: 0
      interval: 500ms
      baseEjectionTime: 1m
      maxEjectionPercent: 50
      minHealthPercent: 25""",
    )
    cfg = translate(GATEWAY + vs_yaml(ROUTE_B) + dr, services=(service("b"),))
    (cluster,) = cfg.clusters
    assert cluster["connect_timeout"] == "0.25s"
    assert cluster["circuit_breakers"]["thresholds"] == [
        {
            "max_connections": 2,
            "max_pending_requests": 3,
            "max_requests": 4,
            "max_retries": 5,
            "track_remaining": True,
        }
    ]
    options = cluster["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    # The http idle timeout wins over the tcp one.
    assert options["common_http_protocol_options"] == {
        "idle_timeout": "30s",
        "max_requests_per_connection": 6,
    }
    assert cluster["outlier_detection"] == {
        "enforcing_success_rate": 0,
        "consecutive_5xx": 2,
        "enforcing_consecutive_5xx": 100,
        "consecutive_gateway_failure": 0,
        "enforcing_consecutive_gateway_failure": 0,
        "interval": "0.5s",
        "base_ejection_time": "60s",
        "max_ejection_percent": 50,
    }
    assert cluster["common_lb_config"]["healthy_panic_threshold"] == {"value": 25.0}
