"""VirtualService -> Envoy route configuration for a gateway's plaintext HTTP port."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...._cases.model.istio import (
    ConsistentHashLB,
    CorsPolicy,
    Destination,
    HeaderOperations,
    Headers,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRedirect,
    HTTPRetry,
    HTTPRoute,
    Percent,
    StringMatch,
    VirtualService,
)
from ..world import GatewayProxy, MeshService, World
from .common import ROUTE_TYPE, Json, UnsupportedFeature, envoy_duration, resources_of
from .gateway import BoundServer
from .hosts import intersection, names_for_namespace, resolve_gateway_name, resolve_shortname

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "build_route_config",
    "cluster_name",
    "consistent_hash_policy",
    "cors_policy",
    "destination_port",
    "fault_filter_config",
    "is_catch_all",
    "mirror_policies",
    "retry_policy",
    "routes_for_virtual_service",
    "sort_vhost_routes",
    "virtual_services_for_gateway",
]

MAX_DIRECT_RESPONSE_BODY = 1024 * 1024  # route.DefaultMaxDirectResponseBodySizeBytes

_PREVIOUS_HOSTS = {
    "name": "envoy.retry_host_predicates.previous_hosts",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3"
        ".PreviousHostsPredicate"
    },
}
_DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
# retry/retry.go: the built-in policy when a route sets no `retries` (no retriable codes,
# so a 503 is not retried).
DEFAULT_RETRY_POLICY: Json = {
    "retry_on": _DEFAULT_RETRY_ON,
    "num_retries": 2,
    "retry_host_predicate": [_PREVIOUS_HOSTS],
    "host_selection_retry_max_attempts": 5,
}
# Go's http.StatusText knows these; retry.go parseRetryOn() takes only them as codes.
_KNOWN_STATUS = frozenset(
    {100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226}
    | {300, 301, 302, 303, 304, 305, 307, 308}
    | set(range(400, 419))
    | {421, 422, 423, 424, 425, 426, 428, 429, 431, 451}
    | {500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511}
)
_FAULT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
_CORS_TYPE = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"
FAULT_FILTER = "envoy.filters.http.fault"
CORS_FILTER = "envoy.filters.http.cors"
# pkg/util/grpc SupportedGRPCStatus: abort.grpcStatus names -> codes.
_GRPC_STATUS = {
    name: code
    for code, name in enumerate(
        [
            "OK",
            "CANCELLED",
            "UNKNOWN",
            "INVALID_ARGUMENT",
            "DEADLINE_EXCEEDED",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "FAILED_PRECONDITION",
            "ABORTED",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
            "UNAUTHENTICATED",
        ]
    )
}
_REDIRECT_CODES = {
    0: "MOVED_PERMANENTLY",
    301: "MOVED_PERMANENTLY",
    302: "FOUND",
    303: "SEE_OTHER",
    307: "TEMPORARY_REDIRECT",
    308: "PERMANENT_REDIRECT",
}


# --------------------------------------------------------------------- binding


@dataclass(frozen=True)
class ResolvedVS:
    """A VirtualService with Istio's short-name resolution applied."""

    vs: VirtualService
    hosts: tuple[str, ...]
    gateways: tuple[str, ...]


def _resolve(vs: VirtualService, world: World) -> ResolvedVS:
    ns = vs.metadata.namespace
    hosts = tuple(resolve_shortname(h, ns, world.domain_suffix) for h in vs.spec.hosts)
    # push_context.go getGatewayNames(): no gateways means the mesh only.
    gateways = tuple(resolve_gateway_name(g, ns) for g in vs.spec.gateways) or ("mesh",)
    return ResolvedVS(vs=vs, hosts=hosts, gateways=gateways)


def virtual_services_for_gateway(
    world: World, proxy_namespace: str, gateway_name: str
) -> list[ResolvedVS]:
    """VSs bound to ``gateway_name`` and visible in the proxy's namespace, in Istio's order.

    push_context.go initVirtualServices()/VirtualServicesForGateway(): VSs
    private to the proxy namespace, then VSs exported to it, then public ones;
    creation order within each group.
    """
    private: list[ResolvedVS] = []
    exported: list[ResolvedVS] = []
    public: list[ResolvedVS] = []
    for vs in resources_of(world, VirtualService):
        resolved = _resolve(vs, world)
        if gateway_name not in resolved.gateways:
            continue
        ns = vs.metadata.namespace
        export_to = [ns if e == "." else e for e in vs.spec.export_to] or ["*"]
        if "*" in export_to:
            public.append(resolved)
        elif "~" not in export_to and proxy_namespace in export_to:
            (private if proxy_namespace == ns else exported).append(resolved)
    return private + exported + public


# --------------------------------------------------------------------- route config


class _Lookup:
    def __init__(self, world: World) -> None:
        self.services: dict[str, MeshService] = {s.hostname: s for s in world.services}


def build_route_config(
    world: World, proxy: GatewayProxy, route_name: str, servers: Sequence[BoundServer]
) -> Json:
    """Route config ``route_name`` for ``servers``: the plaintext HTTP servers of a
    port (``http.<port>``), or one terminating HTTPS server (``https.<port>.<portName>.<gw>.<ns>``).

    gateway.go buildGatewayHTTPRouteConfig(): one vhost per intersected host;
    routes of every VS binding that host are concatenated, then catch-alls are
    moved last; an httpsRedirect server sets ``require_tls: ALL`` on its hosts.
    """
    lookup = _Lookup(world)
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
                route_cache[key] = _routes_for_vs(rvs, server, world, proxy, lookup)
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
    return _routes_for_vs(rvs, server, world, proxy, _Lookup(world))


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
    rvs: ResolvedVS, server: BoundServer, world: World, proxy: GatewayProxy, lookup: _Lookup
) -> list[Json] | None:
    """route.go BuildHTTPRoutesForVirtualService(): stop after the first catch-all."""
    out: list[Json] = []
    for i, http in enumerate(rvs.vs.spec.http):
        _check_supported(rvs.vs, i, http)
        catch_all = False
        if not http.match:
            route = _translate_route(rvs, i, http, None, None, server, world, proxy, lookup)
            if route is not None:
                out.append(route)
            catch_all = True
        else:
            for j, match in enumerate(http.match):
                route = _translate_route(rvs, i, http, j, match, server, world, proxy, lookup)
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


def _source_match(match: HTTPMatchRequest | None, ns: str, gw: str, proxy: GatewayProxy) -> bool:
    """route.go sourceMatchHTTP(): match.gateways, else sourceLabels/sourceNamespace."""
    if match is None:
        return True
    if match.gateways:
        return gw in {resolve_gateway_name(g, ns) for g in match.gateways}
    if all(proxy.labels.get(k) == v for k, v in match.source_labels.items()):
        return not match.source_namespace or match.source_namespace == proxy.namespace
    return False


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
    lookup: _Lookup,
) -> Json | None:
    """route.go TranslateRoute() for one match (or the whole rule when it has none)."""
    vs = rvs.vs
    ns = vs.metadata.namespace
    port = server.port_number  # the Gateway server number, not the targetPort
    if match is not None and match.port is not None and match.port != port:
        return None
    if not _source_match(match, ns, server.gateway_name, proxy):
        return None

    out: Json = {"name": _route_name(vs, i, http, j), "match": translate_match(match)}
    authority = ""
    if http.headers is not None:
        ops = _header_ops(http.headers)
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
        out["route"] = _route_action(rvs, http, out, authority, port, world, proxy, lookup)

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


# --------------------------------------------------------------------- matches


def _string_matcher(m: StringMatch) -> Json:
    # util.ConvertToEnvoyMatch()
    if m.exact is not None:
        return {"exact": m.exact}
    if m.prefix is not None:
        return {"prefix": m.prefix}
    return {"safe_regex": {"regex": m.regex}}


def _is_present_match(m: StringMatch) -> bool:
    # route.go canBeConvertedToPresentMatch(): an empty match, or `regex: "*"`
    # (not an RE2 regex, istio#20629), means "present".
    return m.is_empty or m.regex == "*"


def _header_matcher(name: str, m: StringMatch) -> Json:
    if _is_present_match(m):
        return {"name": name, "present_match": True}
    return {"name": name, "string_match": _string_matcher(m)}


def translate_match(match: HTTPMatchRequest | None) -> Json:
    """route.go TranslateRouteMatch(); no match is prefix ``/``."""
    out: Json = {"prefix": "/"}
    if match is None:
        return out
    headers: list[Json] = [_header_matcher(n, m) for n, m in match.headers.items()]
    for name, m in match.without_headers.items():
        matcher = _header_matcher(name, m)
        matcher["invert_match"] = True
        if not _is_present_match(m):  # conflicts with present_match
            matcher["treat_missing_header_as_empty"] = True
        headers.append(matcher)
    headers.sort(key=lambda h: str(h["name"]))
    uri = match.uri
    if uri is not None and not uri.is_empty:  # an empty uri match keeps prefix "/"
        out.pop("prefix")
        if uri.exact is not None:
            out["path"] = uri.exact
        elif uri.prefix is not None:
            out["prefix"] = uri.prefix  # plain string prefix: /foo matches /foobar
        else:
            out["safe_regex"] = {"regex": uri.regex}
    out["case_sensitive"] = not match.ignore_uri_case
    # Pseudo-header matchers go after the sorted headers, as Istio appends them.
    pseudo = ((":method", match.method), (":authority", match.authority), (":scheme", match.scheme))
    for name, pm in pseudo:
        if pm is not None:
            headers.append(_header_matcher(name, pm))
    if headers:
        out["headers"] = headers
    if match.query_params:
        query: list[Json] = []
        for name in sorted(match.query_params):  # Go iterates a map; sorted for determinism
            m = match.query_params[name]
            if _is_present_match(m):
                query.append({"name": name, "present_match": True})
            else:
                query.append({"name": name, "string_match": _string_matcher(m)})
        out["query_parameters"] = query
    return out


# --------------------------------------------------------------------- actions


def _is_internal(key: str) -> bool:
    return key.startswith(":") or key.lower() == "host"


def _is_authority(key: str) -> bool:
    return key.lower() in (":authority", "host")


def _append_headers(values: Mapping[str, str], append: bool) -> tuple[list[Json], str]:
    """route.go translateAppendHeaders(): sorted by key, pseudo headers/host dropped."""
    authority = ""
    out: list[Json] = []
    for key in sorted(values):
        value = values[key]
        if _is_authority(key):
            authority = value
        if _is_internal(key):
            continue
        out.append(
            {
                "header": {"key": key, "value": value},
                "append_action": "APPEND_IF_EXISTS_OR_ADD"
                if append
                else "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        )
    return out, authority


def _header_ops(headers: Headers) -> Json:
    """route.go TranslateHeadersOperations(); ``authority`` from set beats add."""
    out: Json = {}
    req = headers.request or HeaderOperations()
    resp = headers.response or HeaderOperations()
    req_set, set_auth = _append_headers(req.set, append=False)
    req_add, add_auth = _append_headers(req.add, append=True)
    resp_set, _ = _append_headers(resp.set, append=False)
    resp_add, _ = _append_headers(resp.add, append=True)
    if req_set + req_add:
        out["request_headers_to_add"] = req_set + req_add
    if resp_set + resp_add:
        out["response_headers_to_add"] = resp_set + resp_add
    req_remove = [k for k in req.remove if not _is_internal(k)]
    resp_remove = [k for k in resp.remove if not _is_internal(k)]
    if req_remove:
        out["request_headers_to_remove"] = req_remove
    if resp_remove:
        out["response_headers_to_remove"] = resp_remove
    authority = set_auth or add_auth
    if authority:
        out["authority"] = authority
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


def destination_port(dest: Destination, service: MeshService | None, listener_port: int) -> int:
    """route.go GetDestinationCluster() port: explicit; the only service port; the gateway port."""
    if dest.port is not None:
        return dest.port.number
    if service is not None and len(service.ports) == 1:
        return service.ports[0].port
    return listener_port


def cluster_name(port: int, subset: str | None, host: str) -> str:
    """model.BuildSubsetKey: ``outbound|<port>|<subset>|<host>``."""
    return f"outbound|{port}|{subset or ''}|{host}"


def _cluster_for(dest: Destination, vs_ns: str, port: int, world: World, lookup: _Lookup) -> str:
    host = resolve_shortname(dest.host, vs_ns, world.domain_suffix)
    service = lookup.services.get(host)
    return cluster_name(destination_port(dest, service, port), dest.subset, host)


def retry_policy(retries: HTTPRetry | None, consistent_hash: bool = False) -> Json | None:
    """retry/retry.go ConvertPolicy(); None when ``attempts`` is 0 (retries disabled).

    With consistent hashing the ``previous_hosts`` predicate is left out: a retry
    must stay on the host the hash picked.
    """
    if retries is None:
        out = {k: v for k, v in DEFAULT_RETRY_POLICY.items()}
        if consistent_hash:
            del out["retry_host_predicate"]
        return out
    if retries.attempts <= 0:
        return None
    out = {
        "retry_on": _DEFAULT_RETRY_ON,
        "num_retries": retries.attempts,
        "retry_host_predicate": [_PREVIOUS_HOSTS],
        "host_selection_retry_max_attempts": 5,
    }
    if consistent_hash:
        del out["retry_host_predicate"]
    if retries.retry_on:
        parts = [p.strip() for p in retries.retry_on.split(",") if p.strip()]
        codes = [int(p) for p in parts if p.isdigit() and int(p) in _KNOWN_STATUS]
        words = [p for p in parts if not (p.isdigit() and int(p) in _KNOWN_STATUS)]
        retry_on = ",".join(words)
        if codes and "retriable-status-codes" not in retry_on:
            retry_on += ",retriable-status-codes"
        out["retry_on"] = retry_on
        if codes:
            out["retriable_status_codes"] = codes
    if retries.per_try_timeout is not None:
        out["per_try_timeout"] = envoy_duration(retries.per_try_timeout)
    if (
        retries.retry_ignore_previous_hosts is not None
        and not retries.retry_ignore_previous_hosts
        and "retry_host_predicate" in out
    ):
        del out["retry_host_predicate"]
    if retries.retry_remote_localities:
        out["retry_priority"] = {
            "name": "envoy.retry_priorities.previous_priorities",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.retry.priority"
                ".previous_priorities.v3.PreviousPrioritiesConfig",
                "update_frequency": 2,
            },
        }
    if retries.backoff is not None:
        out["retry_back_off"] = {"base_interval": envoy_duration(retries.backoff)}
    return out


def _per_million(percent: Percent) -> Json:
    # route.go translatePercentToFractionalPercent(): uint32(value*10000) per million.
    return {"numerator": int(percent.value * 10000), "denominator": "MILLION"}


def _per_hundred(value: int) -> Json:
    return {"numerator": value, "denominator": "HUNDRED"}


def fault_filter_config(fault: HTTPFaultInjection) -> Json | None:
    """route.go TranslateFault(): the route's HTTPFault; None when nothing is left.

    Without a percentage no request is affected: the abort's percentage stays
    unset (0 %), the delay's comes from the deprecated integer ``percent`` (0).
    Exponential delays are dropped, as Istio does.
    """
    out: Json = {"@type": _FAULT_TYPE}
    delay = fault.delay
    if delay is not None and delay.fixed_delay is not None:
        out["delay"] = {
            "fixed_delay": envoy_duration(delay.fixed_delay),
            "percentage": _per_million(delay.percentage)
            if delay.percentage is not None
            else _per_hundred(delay.percent or 0),
        }
    abort = fault.abort
    if abort is not None and (abort.http_status is not None or abort.grpc_status is not None):
        action: Json = {}
        if abort.percentage is not None:
            action["percentage"] = _per_million(abort.percentage)
        if abort.http_status is not None:
            action["http_status"] = abort.http_status
        else:
            assert abort.grpc_status is not None
            action["grpc_status"] = _GRPC_STATUS.get(abort.grpc_status.upper(), 2)
        out["abort"] = action
    return out if len(out) > 1 else None


def cors_policy(cors: CorsPolicy) -> Json:
    """route.go TranslateCORSPolicy(): per-route CorsPolicy, enabled for every request."""
    out: Json = {
        "@type": _CORS_TYPE,
        # Envoy >= 1.30 would drop unmatched preflights; Istio keeps forwarding them.
        "forward_not_matching_preflights": cors.unmatched_preflights != "IGNORE",
    }
    if cors.allow_origins:
        out["allow_origin_string_match"] = [_string_matcher(m) for m in cors.allow_origins]
    elif cors.allow_origin:
        out["allow_origin_string_match"] = [{"exact": o} for o in cors.allow_origin]
    out["filter_enabled"] = {"default_value": _per_hundred(100)}
    if cors.allow_credentials is not None:
        out["allow_credentials"] = cors.allow_credentials
    for key, values in (
        ("allow_headers", cors.allow_headers),
        ("allow_methods", cors.allow_methods),
        ("expose_headers", cors.expose_headers),
    ):
        if values:
            out[key] = ",".join(values)
    if cors.max_age is not None:
        out["max_age"] = str(int(cors.max_age))  # whole seconds, as Go's GetSeconds()
    return out


def mirror_policies(
    http: HTTPRoute, vs_ns: str, port: int, world: World, lookup: _Lookup
) -> list[Json]:
    """route.go MirrorPercent()/MirrorPercentByPolicy()/TranslateRequestMirrorPolicy().

    100 % when no percentage is given, none for an explicit 0; the mirrored
    Host keeps its name (DISABLE_SHADOW_HOST_SUFFIX, the default since 1.28).
    """
    mirrors: list[tuple[Destination, Json]] = []
    if http.mirror is not None:
        if http.mirror_percentage is not None:
            if http.mirror_percentage.value > 0:
                mirrors.append((http.mirror, _per_million(http.mirror_percentage)))
        elif http.mirror_percent is not None:
            if http.mirror_percent > 0:
                mirrors.append((http.mirror, _per_hundred(http.mirror_percent)))
        else:
            mirrors.append((http.mirror, _per_hundred(100)))
    for policy in http.mirrors:
        if policy.percentage is None:
            mirrors.append((policy.destination, _per_hundred(100)))
        elif policy.percentage.value > 0:
            mirrors.append((policy.destination, _per_million(policy.percentage)))
    return [
        {
            "cluster": _cluster_for(dest, vs_ns, port, world, lookup),
            "runtime_fraction": {"default_value": fraction},
            "trace_sampled": False,
            "disable_shadow_host_suffix_append": True,
        }
        for dest, fraction in mirrors
    ]


def consistent_hash_policy(hash_lb: ConsistentHashLB) -> Json | None:
    """route.go ConsistentHashToHashPolicy(): the route hash policy of a consistentHash."""
    if hash_lb.http_header_name is not None:
        return {"header": {"header_name": hash_lb.http_header_name}}
    if hash_lb.http_cookie is not None:
        cookie = hash_lb.http_cookie
        spec: Json = {"name": cookie.name}
        if cookie.ttl is not None:
            # With a ttl Envoy generates the cookie when the request has none.
            spec["ttl"] = envoy_duration(cookie.ttl)
        if cookie.path:
            spec["path"] = cookie.path
        if cookie.attributes:
            spec["attributes"] = [
                {"name": a.get("name", ""), "value": a.get("value", "")} for a in cookie.attributes
            ]
        return {"cookie": spec}
    if hash_lb.use_source_ip is not None:
        return {"connection_properties": {"source_ip": hash_lb.use_source_ip}}
    if hash_lb.http_query_parameter_name is not None:
        return {"query_parameter": {"name": hash_lb.http_query_parameter_name}}
    return None


def _hash_for(
    dest: Destination, vs_ns: str, world: World, proxy: GatewayProxy, lookup: _Lookup
) -> ConsistentHashLB | None:
    """route.go HashForHTTPDestination(): the consistentHash governing a destination.

    Subset port-level, then subset, then top-level port-level (only with an
    explicit destination port), then the top-level loadBalancer.
    """
    # clusters imports this module; the rule lookup lives there.
    from .clusters import destination_rule_for

    service = lookup.services.get(resolve_shortname(dest.host, vs_ns, world.domain_suffix))
    if service is None:
        return None
    rules = destination_rule_for(world, proxy, service)
    top = next((dr.spec.traffic_policy for dr in rules if dr.spec.traffic_policy), None)

    def port_level(policy: object) -> ConsistentHashLB | None:
        if dest.port is None or policy is None:
            return None
        for entry in getattr(policy, "port_level_settings", []):
            if entry.port is not None and entry.port.number == dest.port.number:
                lb = entry.load_balancer
                return lb.consistent_hash if lb is not None else None
        return None

    found = top.load_balancer.consistent_hash if top and top.load_balancer else None
    top_port = port_level(top)
    subset_hash = subset_port = None
    if dest.subset:
        for dr in rules:
            subset = next((s for s in dr.spec.subsets if s.name == dest.subset), None)
            if subset is not None:
                policy = subset.traffic_policy
                if policy is not None and policy.load_balancer is not None:
                    subset_hash = policy.load_balancer.consistent_hash
                subset_port = port_level(policy)
                break
    return subset_port or subset_hash or top_port or found


def _route_action(
    rvs: ResolvedVS,
    http: HTTPRoute,
    out: Json,
    authority: str,
    port: int,
    world: World,
    proxy: GatewayProxy,
    lookup: _Lookup,
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
        elif http.rewrite.uri:
            # Replaces the matched prefix; for an exact match, the whole path.
            action["prefix_rewrite"] = http.rewrite.uri
        if http.rewrite.authority:
            authority = http.rewrite.authority
    if authority:
        action["host_rewrite_literal"] = authority
    mirrors = mirror_policies(http, vs_ns, port, world, lookup)
    if mirrors:
        action["request_mirror_policies"] = mirrors

    hash_policies: list[Json] = []
    consistent_hash = False
    if len(http.route) == 1:
        dst = http.route[0]
        action["cluster"] = _cluster_for(dst.destination, vs_ns, port, world, lookup)
        if dst.headers is not None:
            ops = _header_ops(dst.headers)
            dst_authority = ops.pop("authority", "")
            for key, values in ops.items():
                out[key] = [*out.get(key, []), *values]
            # A route-level authority rewrite wins over the destination's.
            if dst_authority and "host_rewrite_literal" not in action:
                action["host_rewrite_literal"] = dst_authority
        hash_lb = _hash_for(dst.destination, vs_ns, world, proxy, lookup)
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
                "name": _cluster_for(dst.destination, vs_ns, port, world, lookup),
                "weight": dst.weight,
            }
            if dst.headers is not None:
                ops = _header_ops(dst.headers)
                dst_authority = ops.pop("authority", "")
                weighted.update(ops)
                if dst_authority:
                    weighted["host_rewrite_literal"] = dst_authority
            clusters.append(weighted)
            hash_lb = _hash_for(dst.destination, vs_ns, world, proxy, lookup)
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
