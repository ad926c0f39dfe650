"""Failure explanations on the local target: access-log lines and the routes that decided."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..._exchange.records import AccessLogLine, Exchange
from ..accesslog import LogFormat, find_line
from .proxy import LocalProxy

__all__ = [
    "ISTIO_LINE_SETTLE",
    "ISTIO_LINE_WAIT",
    "access_log_record",
    "explain_exchange",
    "format_access_record",
    "host_of",
    "istio_access_log_line",
    "istio_server_log_line",
    "route_table",
]


def explain_exchange(
    exchange: Exchange, gateways: Mapping[str, LocalProxy], sidecars: Mapping[str, LocalProxy]
) -> str:
    """The proxy's access-log line for a failed attempt, its next hops, and the routes that decided.

    ``gateways`` are the case's gateway proxies by short name, ``sidecars``
    its clients' sidecars by client name.
    """
    client = exchange.extra.get("client")
    if client is not None:
        proxy = sidecars.get(client)
        title = f"sidecar of {client}"
    else:
        proxy = gateways.get(exchange.extra.get("gateway", ""))
        title = proxy.workload.name if proxy is not None else ""
    if proxy is None:
        return ""
    lines = [f"access log of {title}:"]
    record = access_log_record(proxy.access_log_path, exchange.request.meshgate_id)
    if record is None:
        lines.append("  (no line for this request: it never reached an HTTP listener)")
    else:
        lines.append("  " + format_access_record(record))
    if client is not None:
        # Where the request went next: the gateways' lines for it, if any.
        for other in gateways.values():
            hop = access_log_record(other.access_log_path, exchange.request.meshgate_id, wait=0.2)
            if hop is not None:
                lines.append(f"then {other.workload.name}:")
                lines.append("  " + format_access_record(hop))
    if "via" in exchange.extra:
        lines.append(
            f"the backend's connection came from {exchange.extra['via']} "
            f"(peer {exchange.extra.get('peer')})"
        )
    table = route_table(proxy, int(exchange.extra["service_port"]), host_of(exchange))
    if table:
        lines += ["", *table]
    return "\n".join(lines)


def host_of(exchange: Exchange) -> str:
    for name, value in exchange.request.headers:
        if name.lower() == "host":
            return value
    return urlsplit(exchange.request.url).netloc


def access_log_record(path: Path, meshgate_id: str, wait: float = 1.5) -> dict[str, Any] | None:
    """The access log entry of one request; Envoy flushes its log about once a second."""
    deadline = time.monotonic() + wait
    while True:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        for line in reversed(text.splitlines()):
            if meshgate_id in line:
                try:
                    record = json.loads(line)
                except ValueError:
                    return {"raw": line}
                return record if isinstance(record, dict) else {"raw": line}
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


# Envoy flushes file logs every --file-flush-interval-msec (100 ms here): a line is
# on disk within a few of them once the harness's own line for the request is.
ISTIO_LINE_WAIT = 1.0
# How long a line that must not exist is given to appear anyway.
ISTIO_LINE_SETTLE = 0.4


def istio_access_log_line(
    name: str,
    proxy: LocalProxy,
    meshgate_id: str,
    expect_line: bool,
    peer: str | None = None,
    proxy_side: Callable[[str], str | None] | None = None,
) -> AccessLogLine:
    """The line Istio's access log of ``proxy`` wrote for the request, parsed.

    The harness's own log (every HTTP connection manager has it) tells whether
    the request reached the proxy and the ``x-request-id`` it logged there;
    Istio's formats find the line by that id. The logs are written after the
    response, so both are polled briefly. A TCP connection's line is found by
    ``peer``, the address the backend saw it come from.
    """
    deadline = time.monotonic() + 1.5
    while True:
        record = access_log_record(proxy.access_log_path, meshgate_id, wait=0)
        if record is not None or time.monotonic() >= deadline:
            break
        if peer is not None:
            # No HTTP listener logged it (yet): a TCP proxy's connection has a line
            # without request id, found by the address the backend saw it come
            # from (%UPSTREAM_LOCAL_ADDRESS%).
            # Behind an inbound sidecar the backend saw that sidecar's connection:
            # ``proxy_side`` names the proxy's own, which the sidecar accepted.
            own = proxy_side(peer) if proxy_side is not None else None
            for address in (peer, own) if own else (peer,):
                tcp = _tcp_line(name, proxy.istio_logs, address)
                if tcp is not None:
                    return tcp
        time.sleep(0.05)
    if record is None:
        return AccessLogLine(name, None, note="the request never reached an HTTP listener of it")
    no_log = (
        "Istio configures no access log on this proxy: meshConfig.accessLogFile is empty "
        "and no Telemetry enables one"
    )
    return _line_by_request_id(name, record, proxy.istio_logs, expect_line, no_log)


def istio_server_log_line(
    name: str,
    entry: LocalProxy | None,
    meshgate_id: str,
    logs: tuple[tuple[str, LogFormat], ...],
    expect_line: bool,
    peer: str | None = None,
) -> AccessLogLine:
    """The line the inbound sidecars of a service's pods wrote for the request (``logs``:
    each pod's files, any pod's line counts), found by the ``x-request-id`` the proxy the
    request entered by (``entry``) logged in the harness's own log: Envoy passes it on,
    so the inbound sidecar logs the same id. A TCP connection's line is found by
    ``peer``, the address the backend saw: the sidecar's own connection to it."""
    if entry is None:
        return AccessLogLine(name, None, note="the request entered by no proxy of this case")
    deadline = time.monotonic() + 1.5
    while True:
        record = access_log_record(entry.access_log_path, meshgate_id, wait=0)
        if record is not None or time.monotonic() >= deadline or peer is None:
            break
        tcp = _tcp_line(name, logs, peer)
        if tcp is not None:
            return tcp
        time.sleep(0.05)
    if record is None and peer is not None:
        files = ", ".join(str(path) for path, _ in logs) or "no access log"
        return AccessLogLine(
            name, None, note=f"no line for the connection the backend saw from {peer} in {files}"
        )
    if record is None:
        return AccessLogLine(
            name, None, note="the request never reached an HTTP listener of the proxy it entered by"
        )
    no_log = (
        "Istio configures no access log on these sidecars' inbound listeners: "
        "meshConfig.accessLogFile is empty and no Telemetry enables one in SERVER mode"
    )
    return _line_by_request_id(name, record, logs, expect_line, no_log)


def _line_by_request_id(
    name: str,
    record: Mapping[str, Any],
    logs: tuple[tuple[str, LogFormat], ...],
    expect_line: bool,
    no_log: str,
) -> AccessLogLine:
    """The line of ``logs`` with the x-request-id the harness's own log ``record`` holds
    (``no_log`` says why there is none when no log is configured)."""
    if not logs:
        return AccessLogLine(name, None, note=no_log)
    request_id = str(record.get("request_id") or "")
    if not request_id or request_id == "None":
        return AccessLogLine(name, None, note="the request carried no x-request-id")
    return _poll_istio_logs(name, logs, request_id, "requestId", expect_line)


def _tcp_line(
    name: str, logs: tuple[tuple[str, LogFormat], ...], peer: str
) -> AccessLogLine | None:
    for path, log_format in logs:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found = find_line(text.splitlines(), [peer], log_format, "upstreamLocalAddress")
        if found is not None and found[1].get("requestId", "-") == "-":
            return AccessLogLine(name, found[0], found[1])
    return None


def _poll_istio_logs(
    name: str,
    logs: tuple[tuple[str, LogFormat], ...],
    value: str,
    field_name: str,
    expect_line: bool,
) -> AccessLogLine:
    deadline = time.monotonic() + (ISTIO_LINE_WAIT if expect_line else ISTIO_LINE_SETTLE)
    while True:
        for path, log_format in logs:
            try:
                text = Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            found = find_line(text.splitlines(), [value], log_format, field_name)
            if found is not None:
                return AccessLogLine(name, found[0], found[1])
        if time.monotonic() >= deadline:
            files = ", ".join(str(path) for path, _ in logs)
            what = "x-request-id" if field_name == "requestId" else field_name
            return AccessLogLine(name, None, note=f"no line with {what} {value} in {files}")
        time.sleep(0.05)


def format_access_record(record: dict[str, Any]) -> str:
    if "raw" in record:
        return str(record["raw"])
    keys = (
        ("response_code", "status"),
        ("response_flags", "flags"),
        ("response_code_details", "details"),
        ("route_name", "route"),
        ("upstream_cluster", "cluster"),
        ("upstream_host", "upstream"),
    )
    return "  ".join(
        f"{label}={record.get(key) if record.get(key) is not None else '-'}" for key, label in keys
    )


def route_table(proxy: Any, service_port: int, host: str) -> list[str]:
    """The routes of the virtual host Envoy picks for ``host`` on that port."""
    config = proxy.config
    if config is None:
        return []
    listener_port = service_port
    for port in proxy.workload.ports:
        if port.port == service_port:
            listener_port = port.target_port or port.port
    listener = next(
        (x for x in config.listeners if x.get("name") == f"0.0.0.0_{listener_port}"), None
    )
    if listener is None:
        return [f"no listener on gateway port {service_port} (listener port {listener_port})"]
    route_names = sorted(_route_config_names(listener))
    lines: list[str] = []
    for route_config in config.routes:
        if route_config.get("name") not in route_names:
            continue
        vhost = _pick_virtual_host(route_config.get("virtual_hosts", []), host)
        if vhost is None:
            lines.append(f"route config {route_config['name']}: no virtual host matches {host!r}")
            continue
        lines.append(
            f"routes of virtual host {vhost.get('name')!r} in {route_config['name']} "
            f"(first match wins):"
        )
        routes = vhost.get("routes", [])
        if not routes:
            lines.append("  (none: every request is 404)")
        for i, route in enumerate(routes, 1):
            lines.append(f"  {i}. {_describe_route(route)}")
    return lines


def _route_config_names(node: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        rds = node.get("rds")
        if isinstance(rds, dict) and "route_config_name" in rds:
            names.add(rds["route_config_name"])
        for value in node.values():
            names |= _route_config_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= _route_config_names(value)
    return names


def _pick_virtual_host(vhosts: list[dict[str, Any]], host: str) -> dict[str, Any] | None:
    """Envoy's order: exact domain, then longest suffix wildcard, prefix wildcard, then ``*``."""
    host = host.lower()
    bare = host.rsplit(":", 1)[0] if ":" in host and not host.endswith("]") else host
    candidates = (host, bare)
    for name in candidates:
        for vhost in vhosts:
            if name in vhost.get("domains", []):
                return vhost
    best: tuple[int, dict[str, Any]] | None = None
    for vhost in vhosts:
        for domain in vhost.get("domains", []):
            suffix = domain[1:]
            if (
                domain.startswith("*")
                and domain != "*"
                and any(n.endswith(suffix) and len(n) > len(suffix) for n in candidates)
                and (best is None or len(domain) > best[0])
            ):
                best = (len(domain), vhost)
    if best is not None:
        return best[1]
    for vhost in vhosts:
        for domain in vhost.get("domains", []):
            if (
                domain.endswith("*")
                and domain != "*"
                and any(n.startswith(domain[:-1]) for n in candidates)
            ):
                return vhost
    return next((v for v in vhosts if "*" in v.get("domains", [])), None)


def _describe_route(route: dict[str, Any]) -> str:
    match = route.get("match", {})
    parts: list[str] = []
    for key in ("prefix", "path", "path_separated_prefix"):
        if key in match:
            parts.append(f"{key} {match[key]}")
    if "safe_regex" in match:
        parts.append(f"regex {match['safe_regex'].get('regex')}")
    if match.get("case_sensitive") is False:
        parts.append("(ignore case)")
    for header in match.get("headers", []):
        parts.append(f"header {header.get('name')}{'!' if header.get('invert_match') else ''}")
    for query in match.get("query_parameters", []):
        parts.append(f"query {query.get('name')}")
    if "route" in route:
        action = route["route"]
        if "cluster" in action:
            target = action["cluster"]
        elif "weighted_clusters" in action:
            target = ", ".join(
                f"{c['name']} ({c.get('weight')})"
                for c in action["weighted_clusters"].get("clusters", [])
            )
        else:
            target = json.dumps(action, sort_keys=True)[:120]
        # What mirroredTo checks depend on: where copies go, and what share.
        for mirror in action.get("request_mirror_policies", []):
            target += f", mirror to {mirror.get('cluster')} ({_fraction(mirror)})"
    elif "redirect" in route:
        target = "redirect " + json.dumps(route["redirect"], sort_keys=True)
    elif "direct_response" in route:
        target = f"direct response {route['direct_response'].get('status')}"
    else:
        target = "no action"
    name = route.get("name")
    return f"{' '.join(parts) or 'any'} -> {target}" + (f"   [{name}]" if name else "")


_DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}


def _fraction(mirror: dict[str, Any]) -> str:
    """A mirror policy's ``runtime_fraction`` as a percentage (Envoy: all when absent)."""
    value = mirror.get("runtime_fraction", {}).get("default_value")
    if not isinstance(value, dict):
        return "100 %"
    denominator = _DENOMINATORS.get(str(value.get("denominator", "HUNDRED")), 100)
    return f"{100 * int(value.get('numerator', 0)) / denominator:g} %"
