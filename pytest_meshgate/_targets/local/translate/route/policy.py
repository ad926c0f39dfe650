"""Per-route traffic policies: retries, fault injection, mirroring, CORS, headers, hashing.

Istio builds them in route.go ``TranslateRoute()``/``applyHTTPRouteDestination()``
and retry/retry.go; the route entry itself is assembled in ``route.py``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ....._cases.model.istio import (
    ConsistentHashLB,
    CorsPolicy,
    Destination,
    HeaderOperations,
    Headers,
    HTTPFaultInjection,
    HTTPRetry,
    HTTPRoute,
    Percent,
    TrafficPolicy,
)
from ...world import GatewayProxy, World
from ..common import Json, envoy_duration
from ..hosts import resolve_shortname
from ..index import (
    ServiceIndex,
    destination_cluster,
    destination_rule_for,
    merged_traffic_policy,
    port_level_settings,
    subset_named,
)
from .match import string_matcher

__all__ = [
    "CORS_FILTER",
    "DEFAULT_RETRY_POLICY",
    "FAULT_FILTER",
    "consistent_hash_policy",
    "cors_policy",
    "fault_filter_config",
    "hash_for_destination",
    "header_operations",
    "mirror_policies",
    "retry_policy",
]

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


# --------------------------------------------------------------------- headers


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


def header_operations(headers: Headers) -> Json:
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


# --------------------------------------------------------------------- retries, fault, CORS, mirror


def retry_policy(retries: HTTPRetry | None, consistent_hash: bool = False) -> Json | None:
    """retry/retry.go ConvertPolicy(); None when ``attempts`` is 0 (retries disabled).

    With consistent hashing the ``previous_hosts`` predicate is left out
    (``DefaultConsistentHashPolicy()``): a retry stays on the host the hash
    picked, since Envoy's hashing load balancers pick another host only when a
    host predicate asks them to. ``retryIgnorePreviousHosts``, when set, decides
    either way.
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
    if retries.retry_ignore_previous_hosts is not None:
        # Set, it decides, under consistent hashing too: `true` moves retries off
        # the hashed host, as ConvertPolicy() sets the predicate from the value.
        out.pop("retry_host_predicate", None)
        if retries.retry_ignore_previous_hosts:
            out["retry_host_predicate"] = [_PREVIOUS_HOSTS]
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
        out["allow_origin_string_match"] = [string_matcher(m) for m in cors.allow_origins]
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
    http: HTTPRoute, vs_ns: str, port: int, world: World, services: ServiceIndex
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
            "cluster": destination_cluster(dest, vs_ns, port, world, services),
            "runtime_fraction": {"default_value": fraction},
            "trace_sampled": False,
            "disable_shadow_host_suffix_append": True,
        }
        for dest, fraction in mirrors
    ]


# --------------------------------------------------------------------- consistent hashing


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


def hash_for_destination(
    dest: Destination, vs_ns: str, world: World, proxy: GatewayProxy, services: ServiceIndex
) -> ConsistentHashLB | None:
    """route.go HashForHTTPDestination(): the consistentHash governing a destination.

    Subset port-level, then subset, then top-level port-level (only with an
    explicit destination port), then the top-level loadBalancer.
    """
    service = services.service(resolve_shortname(dest.host, vs_ns, world.domain_suffix))
    if service is None:
        return None
    rules = destination_rule_for(world, proxy, service)
    top = merged_traffic_policy(rules)

    def port_level(policy: TrafficPolicy | None) -> ConsistentHashLB | None:
        if dest.port is None:
            return None
        entry = port_level_settings(policy, dest.port.number)
        if entry is None:
            return None
        lb = entry.load_balancer
        return lb.consistent_hash if lb is not None else None

    found = top.load_balancer.consistent_hash if top and top.load_balancer else None
    top_port = port_level(top)
    subset_hash = subset_port = None
    if dest.subset:
        subset = subset_named(rules, dest.subset)
        if subset is not None:
            policy = subset.traffic_policy
            if policy is not None and policy.load_balancer is not None:
                subset_hash = policy.load_balancer.consistent_hash
            subset_port = port_level(policy)
    return subset_port or subset_hash or top_port or found
