"""VirtualService HTTP routes -> Envoy route configurations, virtual hosts and route entries.

Istio's ``pilot/pkg/networking/core/route/route.go`` (one route per
HTTPMatchRequest, its action: a redirect, a direct response, or a cluster or
weighted clusters) and ``gateway.go`` ``buildGatewayHTTPRouteConfig()`` (the
virtual hosts of a gateway port). Matches are in ``match.py``, the per-route
policies in ``policy.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ....._cases.model.istio import HTTPMatchRequest, HTTPRedirect, HTTPRoute, VirtualService
from ...world import GatewayProxy, World
from ..common import ROUTE_TYPE, Json, UnsupportedFeature, envoy_duration
from ..gateway import BoundServer
from ..hosts import intersection, names_for_namespace
from ..index import (
    ResolvedVS,
    ServiceIndex,
    destination_cluster,
    uses_gateway_semantics,
    virtual_services_for_gateway,
)
from .match import source_matches, translate_match
from .policy import (
    CORS_FILTER,
    FAULT_FILTER,
    consistent_hash_policy,
    cors_policy,
    fault_filter_config,
    hash_for_destination,
    header_operations,
    mirror_policies,
    retry_policy,
)

__all__ = [
    "MAX_DIRECT_RESPONSE_BODY",
    "build_route_config",
    "is_catch_all",
    "routes_for_virtual_service",
    "sort_vhost_routes",
]

MAX_DIRECT_RESPONSE_BODY = 1024 * 1024  # route.DefaultMaxDirectResponseBodySizeBytes
_REDIRECT_CODES = {
    0: "MOVED_PERMANENTLY",
    301: "MOVED_PERMANENTLY",
    302: "FOUND",
    303: "SEE_OTHER",
    307: "TEMPORARY_REDIRECT",
    308: "PERMANENT_REDIRECT",
}


def build_route_config(
    world: World, proxy: GatewayProxy, route_name: str, servers: Sequence[BoundServer]
) -> Json:
    """Route config ``route_name`` for ``servers``: the plaintext HTTP servers of a
    port (``http.<port>``), or one terminating HTTPS server (``https.<port>.<portName>.<gw>.<ns>``).

    gateway.go buildGatewayHTTPRouteConfig(): one vhost per intersected host;
    routes of every VS binding that host are concatenated, then catch-alls are
    moved last; an httpsRedirect server sets ``require_tls: ALL`` on its hosts.
    """
    services = ServiceIndex(world)
    vhosts: dict[str, Json] = {}
    vs_cache: dict[str, list[ResolvedVS]] = {}
    route_cache: dict[tuple[str, str], list[Json] | None] = {}
    for server in servers:
        gw_name = server.gateway_name
        if gw_name not in vs_cache:
            vs_cache[gw_name] = virtual_services_for_gateway(world, proxy.namespace, gw_name)
        for rvs in vs_cache[gw_name]:
            vs = rvs.vs
            server_hosts = names_for_namespace(server.hosts, vs.metadata.namespace)
            hosts = intersection(server_hosts, rvs.hosts)
            if not hosts:
                continue
            key = (gw_name, vs.key)
            if key not in route_cache:
                route_cache[key] = _routes_for_vs(rvs, server, world, proxy, services)
            routes = route_cache[key]
            if routes is None:
                continue  # "no routes matched": the VS is omitted
            for hostname in hosts:
                hostname = hostname.lower()
                vhost = vhosts.get(hostname)
                if vhost is None:
                    vhost = vhosts[hostname] = {
                        "name": f"{hostname}:{server.port_number}",
                        "domains": [hostname],
                        "routes": [],
                        "include_request_attempt_count": True,
                    }
                vhost["routes"].extend(routes)
                if server.https_redirect:
                    vhost["require_tls"] = "ALL"
        if server.https_redirect:
            # Hosts of a redirecting server get a redirect vhost even without a VS
            # ("redirect wins" over a non-redirecting server for the same host).
            # Istio uses the sanitized server host here, ns/ prefix included.
            for hostname in server.hosts:
                hostname = hostname.lower()
                if hostname in vhosts:
                    vhosts[hostname]["require_tls"] = "ALL"
                else:
                    vhosts[hostname] = {
                        "name": f"{hostname}:{server.port_number}",
                        "domains": [hostname],
                        "routes": [],
                        "include_request_attempt_count": True,
                        "require_tls": "ALL",
                    }
    if not vhosts:
        port = servers[0].port_number
        virtual_hosts = [{"name": f"blackhole:{port}", "domains": ["*"], "routes": []}]
    else:
        virtual_hosts = []
        for vhost in vhosts.values():
            vhost["routes"] = sort_vhost_routes(vhost["routes"])
            virtual_hosts.append(vhost)
        virtual_hosts.sort(key=lambda v: str(v["name"]))  # util.SortVirtualHosts
    return {
        "@type": ROUTE_TYPE,
        "name": route_name,
        "virtual_hosts": virtual_hosts,
        "validate_clusters": False,
        "ignore_port_in_host_matching": True,
        "max_direct_response_body_size_bytes": MAX_DIRECT_RESPONSE_BODY,
    }


def routes_for_virtual_service(
    rvs: ResolvedVS, server: BoundServer, world: World, proxy: GatewayProxy
) -> list[Json] | None:
    """The routes one VirtualService gives ``server`` (None: no rule applies there).

    Also used for sidecars, with a server standing for the ``mesh`` gateway.
    """
    return _routes_for_vs(rvs, server, world, proxy, ServiceIndex(world))


def is_catch_all(route: Mapping[str, object]) -> bool:
    """``route.IsCatchAllRoute``: prefix ``/`` or regex ``.*``, no header/query match."""
    match = route["match"]
    assert isinstance(match, Mapping)
    if match.get("headers") or match.get("query_parameters") or match.get("dynamic_metadata"):
        return False
    if match.get("prefix") == "/":
        return True
    regex = match.get("safe_regex")
    return isinstance(regex, Mapping) and regex.get("regex") == ".*"


def sort_vhost_routes(routes: list[Json]) -> list[Json]:
    """``route.SortVHostRoutes``: catch-all routes last, relative order kept."""
    return [r for r in routes if not is_catch_all(r)] + [r for r in routes if is_catch_all(r)]


def _routes_for_vs(
    rvs: ResolvedVS,
    server: BoundServer,
    world: World,
    proxy: GatewayProxy,
    services: ServiceIndex,
) -> list[Json] | None:
    """route.go BuildHTTPRoutesForVirtualService(): stop after the first catch-all."""
    out: list[Json] = []
    for i, http in enumerate(rvs.vs.spec.http):
        _check_supported(rvs.vs, i, http)
        catch_all = False
        if not http.match:
            route = _translate_route(rvs, i, http, None, None, server, world, proxy, services)
            if route is not None:
                out.append(route)
            catch_all = True
        else:
            for j, match in enumerate(http.match):
                route = _translate_route(rvs, i, http, j, match, server, world, proxy, services)
                if route is not None:
                    out.append(route)
                    if is_catch_all(route):
                        catch_all = True
                        break
        if catch_all:
            break
    return out or None


def _check_supported(vs: VirtualService, i: int, http: HTTPRoute) -> None:
    where = f"spec.http[{i}]"
    abort = http.fault.abort if http.fault is not None else None
    if abort is not None and abort.http_status is None and abort.grpc_status is None:
        # Istio drops such an abort with a warning; an Envoy HTTP/2 reset is not modelled.
        raise UnsupportedFeature(vs, f"{where}.fault.abort", "http2Error")
    if http.delegate is not None:
        raise UnsupportedFeature(vs, f"{where}.delegate")
    for j, m in enumerate(http.match):
        for field_name in ("headers", "without_headers"):
            for name in getattr(m, field_name):
                if name.startswith("@request.auth.claims"):
                    raise UnsupportedFeature(
                        vs, f"{where}.match[{j}].{field_name}.{name}", "JWT claim matching"
                    )


def _route_name(vs: VirtualService, i: int, http: HTTPRoute, j: int | None) -> str:
    # route.go TranslateRoute(): "<http.name>[.<match.name>]"; when neither is
    # set Istio leaves it empty, we name the rule so failure messages can point at it.
    match_name = http.match[j].name if j is not None else None
    if http.name or match_name:
        name = http.name or ""
        return f"{name}.{match_name}" if match_name else name
    suffix = f".match[{j}]" if j is not None else ""
    return f"{vs.metadata.namespace}/{vs.metadata.name}.http[{i}]{suffix}"


def _translate_route(
    rvs: ResolvedVS,
    i: int,
    http: HTTPRoute,
    j: int | None,
    match: HTTPMatchRequest | None,
    server: BoundServer,
    world: World,
    proxy: GatewayProxy,
    services: ServiceIndex,
) -> Json | None:
    """route.go TranslateRoute() for one match (or the whole rule when it has none)."""
    vs = rvs.vs
    ns = vs.metadata.namespace
    port = server.port_number  # the Gateway server number, not the targetPort
    if match is not None and match.port is not None and match.port != port:
        return None
    if not source_matches(match, ns, server.gateway_name, proxy):
        return None

    gateway_semantics = uses_gateway_semantics(vs)
    out: Json = {
        "name": _route_name(vs, i, http, j),
        "match": translate_match(match, gateway_semantics),
    }
    authority = ""
    if http.headers is not None:
        ops = header_operations(http.headers)
        authority = ops.pop("authority", "")
        out.update(ops)

    if http.redirect is not None:
        action = _redirect(http.redirect, port, is_tls=server.server.tls is not None)
        if action is not None:
            out["redirect"] = action
    elif http.direct_response is not None:
        direct: Json = {"status": http.direct_response.status}
        body = http.direct_response.body
        if body is not None:
            if body.string is not None:
                direct["body"] = {"inline_string": body.string}
            else:
                direct["body"] = {"inline_bytes": body.bytes}
        out["direct_response"] = direct
    else:
        out["route"] = _route_action(rvs, http, out, authority, port, world, proxy, services)
        if gateway_semantics:
            # Invalid backends answer 500 (httproute_types.go "BackendRefs"), not 503.
            out["route"]["cluster_not_found_response_code"] = "INTERNAL_SERVER_ERROR"

    out["decorator"] = {"operation": _operation(out, vs.metadata.name, port)}
    # route.go TranslateRoute(): fault and CORS act on every route kind, through the
    # (otherwise empty) HCM filters of the same names.
    per_filter: Json = {}
    fault = fault_filter_config(http.fault) if http.fault is not None else None
    if fault is not None:
        per_filter[FAULT_FILTER] = fault
    if http.cors_policy is not None:
        per_filter[CORS_FILTER] = cors_policy(http.cors_policy)
    if per_filter:
        out["typed_per_filter_config"] = per_filter
    out["metadata"] = {
        "filter_metadata": {
            "istio": {
                "config": f"/apis/networking.istio.io/v1/namespaces/{ns}"
                f"/virtual-service/{vs.metadata.name}"
            }
        }
    }
    return out


def _redirect(redirect: HTTPRedirect, port: int, is_tls: bool) -> Json | None:
    """route.go ApplyRedirect(); None for an unsupported code (the route gets no action)."""
    code = _REDIRECT_CODES.get(redirect.redirect_code)
    if code is None:
        return None
    out: Json = {}
    if redirect.authority:
        out["host_redirect"] = redirect.authority
    # ApplyRedirect(): prefixRewrite replaces the matched prefix, else uri the whole path.
    if redirect.prefix_rewrite:
        out["prefix_rewrite"] = redirect.prefix_rewrite
    elif redirect.uri:
        out["path_redirect"] = redirect.uri
    if redirect.scheme:
        out["scheme_redirect"] = redirect.scheme
    if redirect.port is not None or redirect.derive_port is not None:
        port_redirect = 0
        if redirect.port is not None:
            port_redirect = redirect.port
        elif redirect.derive_port == "FROM_REQUEST_PORT":
            # Envoy cannot derive it; routes are built per server port, so use that.
            port_redirect = port
        scheme = redirect.scheme or ("https" if is_tls else "http")
        # No explicit :80 for http or :443 for https.
        if (port_redirect, scheme) in ((80, "http"), (443, "https")):
            port_redirect = 0
        if port_redirect:
            out["port_redirect"] = port_redirect
    out["response_code"] = code
    return out


def _route_action(
    rvs: ResolvedVS,
    http: HTTPRoute,
    out: Json,
    authority: str,
    port: int,
    world: World,
    proxy: GatewayProxy,
    services: ServiceIndex,
) -> Json:
    """route.go applyHTTPRouteDestination()."""
    vs_ns = rvs.vs.metadata.namespace
    # setTimeout(): disabled (0s) unless the VS sets one; gRPC timeout follows.
    timeout = envoy_duration(http.timeout or 0.0)
    action: Json = {"timeout": timeout, "max_grpc_timeout": timeout}
    if http.rewrite is not None:
        if http.rewrite.uri_regex_rewrite is not None:
            action["regex_rewrite"] = {
                "pattern": {"regex": http.rewrite.uri_regex_rewrite.match},
                "substitution": http.rewrite.uri_regex_rewrite.rewrite,
            }
        elif (
            http.rewrite.uri == "/"
            and uses_gateway_semantics(rvs.vs)
            and "path_separated_prefix" in out["match"]
        ):
            # ReplacePrefixMatch "/": remove the prefix, keeping one "/" (route.go).
            prefix = _quote_meta(out["match"]["path_separated_prefix"])
            action["regex_rewrite"] = {
                "pattern": {"regex": f"^{prefix}(/?)(.*)"},
                "substitution": r"/\2",
            }
        elif http.rewrite.uri:
            # Replaces the matched prefix; for an exact match, the whole path.
            action["prefix_rewrite"] = http.rewrite.uri
        if http.rewrite.authority:
            authority = http.rewrite.authority
    if authority:
        action["host_rewrite_literal"] = authority
    mirrors = mirror_policies(http, vs_ns, port, world, services)
    if mirrors:
        action["request_mirror_policies"] = mirrors

    hash_policies: list[Json] = []
    consistent_hash = False
    if len(http.route) == 1:
        dst = http.route[0]
        action["cluster"] = destination_cluster(dst.destination, vs_ns, port, world, services)
        if dst.headers is not None:
            ops = header_operations(dst.headers)
            dst_authority = ops.pop("authority", "")
            for key, values in ops.items():
                out[key] = [*out.get(key, []), *values]
            # A route-level authority rewrite wins over the destination's.
            if dst_authority and "host_rewrite_literal" not in action:
                action["host_rewrite_literal"] = dst_authority
        hash_lb = hash_for_destination(dst.destination, vs_ns, world, proxy, services)
        consistent_hash = hash_lb is not None
        hash_policy = consistent_hash_policy(hash_lb) if hash_lb is not None else None
        if hash_policy is not None:
            hash_policies.append(hash_policy)
    else:
        clusters: list[Json] = []
        for dst in http.route:
            if dst.weight == 0:
                continue  # dropped; weights are relative (no total_weight)
            weighted: Json = {
                "name": destination_cluster(dst.destination, vs_ns, port, world, services),
                "weight": dst.weight,
            }
            if dst.headers is not None:
                ops = header_operations(dst.headers)
                dst_authority = ops.pop("authority", "")
                weighted.update(ops)
                if dst_authority:
                    weighted["host_rewrite_literal"] = dst_authority
            clusters.append(weighted)
            hash_lb = hash_for_destination(dst.destination, vs_ns, world, proxy, services)
            hash_policy = consistent_hash_policy(hash_lb) if hash_lb is not None else None
            if hash_policy is not None:
                hash_policies.append(hash_policy)
        action["weighted_clusters"] = {"clusters": clusters}
    if hash_policies:
        action["hash_policy"] = hash_policies
    # route.go: only a lone destination's hash keeps retries on the same host.
    policy = retry_policy(http.retries, consistent_hash=consistent_hash)
    if policy is not None:
        action["retry_policy"] = policy
    return action


def _quote_meta(text: str) -> str:
    """Go's ``regexp.QuoteMeta``: a backslash before each of ``\\.+*?()|[]{}^$``."""
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$" else c for c in text)


def _operation(route: Json, vs_name: str, port: int) -> str:
    """route.go GetRouteOperation(): ``host:port/path`` or ``vsName:port/path``."""
    match = route["match"]
    path = "/*"
    if "prefix" in match:
        path = f"{match['prefix']}*"
    elif "path" in match:
        path = str(match["path"])
    elif "safe_regex" in match:
        path = str(match["safe_regex"]["regex"])
    cluster = route.get("route", {}).get("cluster")
    if isinstance(cluster, str) and cluster.count("|") == 3:
        _, cport, _, chost = cluster.split("|")
        return f"{chost}:{cport}{path}"
    return f"{vs_name}:{port}{path}"
