"""VirtualService analyzers on Istio's own testdata (pkg/config/analysis/analyzers/testdata/),
adapted as cases: Istio's Services become echo services."""

from __future__ import annotations

from pathlib import Path

from analysis_cases import findings_for, refusal_of, reported

GATEWAYS = "virtualservice.GatewayAnalyzer"
HOSTS = "virtualservice.DestinationHostAnalyzer"
SUBSETS = "virtualservice.DestinationRuleAnalyzer"
MESH_CONFLICTS = "virtualservice.ConflictingMeshGatewayHostsAnalyzer"


def test_virtual_service_gateways(tmp_path: Path) -> None:
    # testdata/virtualservice_gateways.yaml, made valid for Istio's webhook (which a case
    # must pass): its Gateways have no servers and its VirtualServices no routes, and `*`
    # is refused on the mesh. Here the servers offer only a host the VirtualServices do
    # not name, so each Gateway still offers none of their hosts (IST0132).
    server = (
        "  servers:\n"
        "  - port: {number: 80, name: http, protocol: HTTP}\n"
        "    hosts: [other.example.com]\n"
    )
    routes = (
        "  hosts: [httpbin.example.com]\n  http:\n  - route: [{destination: {host: httpbin}}]\n"
    )
    manifests = f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: httpbin-gateway}}
spec:
  selector: {{istio: ingressgateway}}
{server}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: crossnamespace-gw, namespace: another}}
spec:
  selector: {{istio: ingressgateway}}
{server}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin}}
spec:
  gateways: [httpbin-gateway]
{routes}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin-bogus}}
spec:
  gateways: [httpbin-gateway-bogus]
{routes}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin-mesh}}
spec:
  gateways: [mesh]
{routes}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: cross-test, namespace: default}}
spec:
  gateways: [another/crossnamespace-gw]
{routes}"""
    found = findings_for(tmp_path, manifests, analyzer=GATEWAYS)
    assert reported(found) == [
        ("IST0101", "VirtualService default/httpbin-bogus"),
        ("IST0132", "VirtualService default/cross-test"),
        ("IST0132", "VirtualService default/httpbin"),
        ("IST0132", "VirtualService default/httpbin-bogus"),
    ]
    messages = {(f.code, f.name): f.message for f in found}
    assert messages["IST0101", "default/httpbin-bogus"] == (
        'Referenced gateway not found: "httpbin-gateway-bogus"'
    )
    assert messages["IST0132", "default/cross-test"] == (
        "one or more host [httpbin.example.com] defined in VirtualService default/cross-test "
        "not found in "
        "Gateway another/crossnamespace-gw."
    )
    bogus = next(f for f in found if f.code == "IST0101")
    lines = (tmp_path / "manifests.yaml").read_text().splitlines()
    assert "[httpbin-gateway-bogus]" in lines[bogus.line - 1]  # at spec.gateways[0]


def _gateway(name: str, *hosts: str, namespace: str = "istio-system") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: [{", ".join(repr(h) for h in hosts)}]
"""


def _vs(name: str, gateways: list[str], hosts: list[str], namespace: str = "default") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  gateways: [{", ".join(gateways)}]
  hosts: [{", ".join(repr(h) for h in hosts)}]
  http:
  - route: [{{destination: {{host: ratings}}}}]
"""


def test_host_not_found_in_gateway(tmp_path: Path) -> None:
    # testdata/virtualservice_host_not_found_gateway.yaml
    g = "istio-system/"
    manifests = "---".join(
        [
            _gateway("testing-gateway-01-test-01", "testing-01.com"),
            _vs(
                "testing-service-01-test-01", [g + "testing-gateway-01-test-01"], ["testing-01.com"]
            ),
            _vs("testing-service-02-test-01", [g + "testing-gateway-01-test-01"], ["wrong-01.com"]),
            _gateway("testing-gateway-01-test-02", "*.testing-02.com"),
            _vs(
                "testing-service-01-test-02",
                [g + "testing-gateway-01-test-02"],
                ["web.testing-02.com"],
            ),
            _vs(
                "testing-service-02-test-02", [g + "testing-gateway-01-test-02"], ["web.wrong.com"]
            ),
            _gateway("testing-gateway-01-test-03", "*.api.testing-03.com"),
            _gateway("testing-gateway-02-test-03", "*.homepage.testing-03.com"),
            _vs(
                "testing-service-01-test-03",
                [g + "testing-gateway-01-test-03", g + "testing-gateway-02-test-03"],
                ["user.api.testing-03.com", "profile.homepage.testing-03.com"],
            ),
            _vs(
                "testing-service-02-test-03",
                [g + "testing-gateway-01-test-03", g + "testing-gateway-02-test-03"],
                ["user.api.testing-03.com"],
            ),
            _gateway("testing-gateway-01-test-04", "*.testing-01-04.com", "web.testing-02-04.com"),
            _vs(
                "testing-service-01-test-04",
                [g + "testing-gateway-01-test-04"],
                ["web.testing-02-04.com"],
            ),
            _vs(
                "testing-service-02-test-04",
                [g + "testing-gateway-01-test-04"],
                ["profile.user.testing-01-04.com"],
            ),
            _vs(
                "testing-service-03-test-04",
                [g + "testing-gateway-01-test-04"],
                ["user.testing-02-04.com", "users.testing-02-04.com"],
            ),
        ]
    )
    found = findings_for(tmp_path, manifests, analyzer=GATEWAYS)
    assert reported(found) == [
        ("IST0132", "VirtualService default/testing-service-02-test-01"),
        ("IST0132", "VirtualService default/testing-service-02-test-02"),
        ("IST0132", "VirtualService default/testing-service-02-test-03"),
        ("IST0132", "VirtualService default/testing-service-03-test-04"),
    ]
    only = next(f for f in found if f.name.endswith("02-test-03"))
    assert only.message.endswith("not found in Gateway istio-system/testing-gateway-02-test-03.")


def test_host_not_found_in_gateway_with_namespace_prefixes(tmp_path: Path) -> None:
    # testdata/virtualservice_host_not_found_gateway_with_ns_prefix.yaml: ./h admits only
    # the Gateway's namespace; */h, */* and a bare host admit every namespace.
    manifests = []
    for gateway, host in (
        ("testing-gateway", "./testing-01.com"),
        ("testing-gateway-2", "*/testing-01.com"),
        ("testing-gateway-3", "*/*"),
        ("testing-gateway-4", "testing-01.com"),
    ):
        manifests.append(_gateway(gateway, host))
        for namespace in ("istio-system", "default"):
            name = f"vs-{gateway}"
            manifests.append(
                _vs(name, [f"istio-system/{gateway}"], ["testing-01.com"], namespace=namespace)
            )
    found = findings_for(tmp_path, "---".join(manifests), analyzer=GATEWAYS)
    assert reported(found) == [("IST0132", "VirtualService default/vs-testing-gateway")]


def test_legacy_fqdn_gateway_reference_is_not_found_as_istioctl_says(tmp_path: Path) -> None:
    # Routing accepts name.ns.svc.cluster.local (model/config.go resolveGatewayName); the
    # analyzer resolves only ns/name and short names (resource.NewShortOrFullName).
    manifests = (
        _gateway("shared", "*")
        + "---"
        + _vs("legacy", ["shared.istio-system.svc.cluster.local"], ["a.example.com"])
    )
    found = findings_for(tmp_path, manifests, analyzer=GATEWAYS)
    assert reported(found) == [
        ("IST0101", "VirtualService default/legacy"),
        ("IST0132", "VirtualService default/legacy"),
    ]


def test_internal_gateway_reference(tmp_path: Path) -> None:
    # testdata/virtualservice_internal_gateway_ref.yaml
    manifests = _vs("httpbin", ["istio-system/gateway-istio-autogenerated-k8s-gateway~~80"], ["*"])
    manifests = manifests.replace(
        "gateway-istio-autogenerated-k8s-gateway~~80", "gw~istio-autogenerated-k8s-gateway~http"
    )
    # Istio's webhook refuses such a name (not a DNS-1123 label) unless the VirtualService
    # has gateway route semantics, as the ones Istio generates from Gateway API routes do.
    assert 'invalid value for gateway name: "gw~istio-autogenerated-k8s-gateway~http"' in (
        refusal_of(tmp_path, manifests)
    )
    manifests = manifests.replace(
        "namespace: default}", "namespace: default, annotations: {SEMANTICS: gateway}}"
    ).replace("SEMANTICS", "internal.istio.io/route-semantics")
    found = findings_for(tmp_path, manifests, analyzer=GATEWAYS)
    assert reported(found) == [("IST0165", "VirtualService default/httpbin")]
    assert found[0].message == (
        "Gateway reference in VirtualService default/httpbin is to an implementation-generated "
        "internal Gateway: istio-system/gw~istio-autogenerated-k8s-gateway~http."
    )


DESTINATION_HOSTS_SERVICES = """
services:
- {name: reviews, ports: [{name: tcp-test, port: 42}]}
- {name: reviews-2port, ports: [{name: http-test, port: 80}, {name: https-test, port: 443}]}
"""

DESTINATION_HOSTS = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external-reviews, namespace: default}
spec:
  hosts: [external-reviews.org]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: eu-wildcard, namespace: default}
spec:
  hosts: ["*.eu.bookinfo.com"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: service-entry-ignore, namespace: default-ignore}
spec:
  exportTo: ["."]
  hosts: ["*.bookinfo.com"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: service-entry-other, namespace: other}
spec:
  exportTo: ["."]
  hosts: [other.bookinfo.com]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: service-entry-exported, namespace: other}
spec:
  exportTo: [default]
  hosts: [abc.bookinfo.com]
"""


def _route(name: str, destination: str, *, namespace: str = "default", extra: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  http:
  - route: [{{destination: {destination}}}]{extra}
"""


def test_destination_hosts(tmp_path: Path) -> None:
    # testdata/virtualservice_destinationhosts.yaml, without the parts that need the
    # networking.istio.io/exportTo annotation of a Service (cases have none) and the
    # null destination (`- {}`), which a case refuses. Its ServiceEntry
    # service-entry-ignore has host `*`, which Istio's webhook refuses; `*.bookinfo.com`
    # would match other.bookinfo.com just as well, were it exported to default.
    routes = [
        _route("reviews", "{host: reviews, subset: v1}"),
        _route("reviews-bogushost", "{host: reviews-bogus, subset: v1}"),
        _route("reviews-fqdn", "{host: reviews.default.svc.cluster.local, subset: v1}"),
        _route("reviews-external", "{host: external-reviews.org}"),
        _route("reviews-bookinfo-eu", "{host: reviews.eu.bookinfo.com}"),
        _route("reviews-bookinfo-eu-wildcard", '{host: "*.eu.bookinfo.com"}'),
        _route("reviews-bookinfo-other", "{host: other.bookinfo.com}"),
        _route(
            "reviews-mirror",
            "{host: reviews, subset: v1}",
            extra="\n    mirror: {host: reviews, subset: v1}",
        ),
        _route(
            "reviews-mirror-bogushost",
            "{host: reviews, subset: v1}",
            extra="\n    mirror: {host: reviews-bogus, subset: v1}",
        ),
        _route("reviews-bogusport", "{host: reviews, subset: v1, port: {number: 999}}"),
        _route("reviews-2port-missing", "{host: reviews-2port, subset: v1}"),
        _route("reviews-2port-present", "{host: reviews-2port, subset: v1, port: {number: 80}}"),
        _route(
            "cross-namespace", "{host: reviews.default.svc.cluster.local}", namespace="istio-system"
        ),
        _route("vs-to-extporto-serviceentry", "{host: abc.bookinfo.com}"),
    ]
    manifests = DESTINATION_HOSTS + "---" + "---".join(routes)
    found = findings_for(tmp_path, manifests, DESTINATION_HOSTS_SERVICES, HOSTS)
    assert reported(found) == [
        ("IST0101", "VirtualService default/reviews-bogushost"),
        ("IST0101", "VirtualService default/reviews-bogusport"),
        ("IST0101", "VirtualService default/reviews-bookinfo-other"),
        ("IST0101", "VirtualService default/reviews-mirror-bogushost"),
        ("IST0112", "VirtualService default/reviews-2port-missing"),
    ]
    messages = {f.name.partition("/")[2]: f.message for f in found}
    assert messages["reviews-bogushost"] == 'Referenced host not found: "reviews-bogus"'
    assert (
        messages["reviews-mirror-bogushost"] == 'Referenced mirror host not found: "reviews-bogus"'
    )
    assert messages["reviews-bogusport"] == 'Referenced host:port not found: "reviews:999"'
    assert messages["reviews-2port-missing"] == (
        'This VirtualService routes to a service "reviews-2port" that exposes multiple ports '
        "[80 443]. Specifying a port in the destination is required to disambiguate."
    )


def test_destination_host_seen_through_the_virtual_service_export_to(tmp_path: Path) -> None:
    # testdata/virtualservice_destinationhosts.yaml hello-export-to-bogus: a host exported
    # only to some namespaces is looked up in the scopes the VirtualService's exportTo names.
    manifests = DESTINATION_HOSTS.replace("[abc.bookinfo.com]", "[hello.example.com]")
    for name, export_to in (("hello", "[default]"), ("hello-export-to-bogus", "[bogus]")):
        manifests += f"""---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: default}}
spec:
  exportTo: {export_to}
  http:
  - route: [{{destination: {{host: hello.example.com}}}}]
"""
    found = findings_for(tmp_path, manifests, analyzer=HOSTS)
    assert reported(found) == [("IST0101", "VirtualService default/hello-export-to-bogus")]


def test_destination_subsets(tmp_path: Path) -> None:
    # testdata/virtualservice_destinationrules.yaml
    manifests = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets: [{labels: {version: v1}, name: v1}]
"""
    manifests += "---" + "---".join(
        [
            _route("reviews", "{host: reviews, subset: v1}"),
            _route("reviews-bogussubset", "{host: reviews, subset: bogus}"),
            _route("reviews-fqdn", "{host: reviews.default.svc.cluster.local, subset: v1}"),
            _route(
                "reviews-mirror",
                "{host: reviews, subset: v1}",
                extra="\n    mirror: {host: reviews, subset: v1}",
            ),
            _route(
                "reviews-mirror-bogussubset",
                "{host: reviews, subset: v1}",
                extra="\n    mirror: {host: reviews, subset: bogus}",
            ),
        ]
    )
    found = findings_for(tmp_path, manifests, analyzer=SUBSETS)
    assert reported(found) == [
        ("IST0101", "VirtualService default/reviews-bogussubset"),
        ("IST0101", "VirtualService default/reviews-mirror-bogussubset"),
    ]
    assert {f.message for f in found} == {
        'Referenced host+subset in destinationrule not found: "reviews+bogus"',
        'Referenced mirror+subset in destinationrule not found: "reviews+bogus"',
    }


def _mesh_vs(namespace: str, name: str, hosts: str, gateways: str = "", export_to: str = "") -> str:
    lines = [
        "apiVersion: networking.istio.io/v1",
        "kind: VirtualService",
        f"metadata: {{name: {name}, namespace: {namespace}}}",
        "spec:",
        f"  hosts: {hosts}",
    ]
    if gateways:
        lines.append(f"  gateways: {gateways}")
    if export_to:
        lines.append(f"  exportTo: {export_to}")
    lines += ["  http:", "  - route: [{destination: {host: ratings}}]", ""]
    return "\n".join(lines)


def test_conflicting_mesh_gateway_hosts(tmp_path: Path) -> None:
    # testdata/virtualservice_conflictingmeshgatewayhosts.yaml
    manifests = "---\n".join(
        [
            _mesh_vs("foo", "productpage", "[productpage]"),
            _mesh_vs("foo", "bogus-productpage", "[productpage]"),
            _mesh_vs("foo", "reviews", "[reviews]"),
            _mesh_vs("bar", "reviews", "[reviews.foo.svc.cluster.local]", "[istio-ingressgateway]"),
            _mesh_vs("foo", "ratings", "[ratings]", "[mesh]"),
            _mesh_vs(
                "bar",
                "ratings",
                "[ratings.foo.svc.cluster.local, google.com]",
                "[istio-ingressgateway, mesh]",
            ),
            _mesh_vs("team1", "ratings", "[ratings]", "[mesh]", '["."]'),
            _mesh_vs(
                "team2",
                "ratings",
                "[ratings.team1.svc.cluster.local, google.com]",
                "[istio-ingressgateway, mesh]",
                '["."]',
            ),
            _mesh_vs("team3", "ratings", "[ratings]", "[mesh]", '["*"]'),
            _mesh_vs(
                "team4",
                "ratings",
                "[ratings.team3.svc.cluster.local]",
                "[istio-ingressgateway, mesh]",
            ),
        ]
    )
    found = findings_for(tmp_path, manifests, analyzer=MESH_CONFLICTS)
    assert reported(found) == sorted(
        ("IST0109", f"VirtualService {name}")
        for name in (
            "team3/ratings",
            "team4/ratings",
            "foo/ratings",
            "bar/ratings",
            "foo/productpage",
            "foo/bogus-productpage",
            "team2/ratings",
        )
    )
    productpage = next(f for f in found if f.name == "foo/productpage")
    assert productpage.message == (
        "The VirtualServices foo/bogus-productpage,foo/productpage associated with mesh gateway "
        "define the same host */productpage.foo.svc.cluster.local which can lead to undefined "
        "behavior. This can be fixed by merging the conflicting VirtualServices into a single "
        "resource."
    )
    lines = (tmp_path / "manifests.yaml").read_text().splitlines()
    assert "name: productpage, namespace: foo" in lines[productpage.line - 1]  # metadata.name


def test_conflicting_mesh_gateway_hosts_with_export_to(tmp_path: Path) -> None:
    # testdata/virtualservice_conflictingmeshgatewayhosts_with_exportto.yaml
    manifests = "---\n".join(
        [
            _mesh_vs("foo", "productpage", "['*.productpage']"),
            _mesh_vs("bar", "productpage", "['*.productpage']"),
            _mesh_vs("foo", "productpage-b", "['*.productpage.b']", export_to="[foo]"),
            _mesh_vs("bar", "productpage-b", "['*.productpage.b']", export_to="['.']"),
            _mesh_vs("foo", "productpage-c", "['*.productpage.c']", export_to="[foo]"),
            _mesh_vs("bar", "productpage-c", "['*.productpage.c']", export_to="['*']"),
            _mesh_vs("foo", "productpage-d", "['*.productpage.d']", export_to="['.']"),
            _mesh_vs("bar", "productpage-d", "['*.d']", export_to="['*']"),
        ]
    )
    found = findings_for(tmp_path, manifests, analyzer=MESH_CONFLICTS)
    assert reported(found) == sorted(
        ("IST0109", f"VirtualService {ns}/{name}")
        for ns in ("foo", "bar")
        for name in ("productpage", "productpage-c", "productpage-d")
    )


def test_gateway_route_without_subset_to_a_host_split_by_subsets(tmp_path: Path) -> None:
    # testdata/virtualservice_route_rule_no_effects_ingress.yaml
    workloads = "services: [{name: ratings, ports: [{name: http-ratings, port: 80}]}]"
    manifests = "---".join(
        [
            _gateway("testing-gateway-01-test-01", "testing-01.com"),
            _vs(
                "testing-service-01-test-01",
                ["istio-system/testing-gateway-01-test-01"],
                ["testing-01.com"],
            ),
            _gateway("testing-gateway-02-test-02", "testing-02.com"),
            _vs(
                "testing-service-02-test-02",
                ["istio-system/testing-gateway-02-test-02"],
                ["testing-02.com"],
            ).replace("{host: ratings}", "{host: ratings, subset: v1}"),
            _route("ratings-01", "{host: ratings, subset: v1}").replace(
                "spec:\n", "spec:\n  hosts: [ratings]\n"
            ),
        ]
    )
    found = findings_for(tmp_path, manifests, workloads, HOSTS)
    assert reported(found) == [("IST0140", "VirtualService default/testing-service-01-test-01")]
    assert found[0].level == "Warning"
    assert found[0].message == (
        "Subset in virtual service default/ratings-01 has no effect on ingress gateway "
        "default/testing-service-01-test-01 requests"
    )


def test_a_correct_gateway_route_has_no_finding(tmp_path: Path) -> None:
    workloads = """
    services: [{name: reviews, ports: [{name: http, port: 9080}], versions: [v1, v2]}]
    """
    manifests = (
        _gateway("app", "app.example.com", namespace="default")
        + "---"
        + _vs("reviews", ["app"], ["app.example.com"]).replace(
            "{host: ratings}", "{host: reviews, subset: v2}"
        )
        + """---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"""
    )
    assert findings_for(tmp_path, manifests, workloads) == []
