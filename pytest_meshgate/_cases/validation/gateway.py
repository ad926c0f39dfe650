"""The Gateway: servers, their hosts, ports and TLS.

``ValidateGateway``, ``validateServer``, ``validateServerPort`` and
``validateServerBind`` in Istio's ``pkg/config/validation/validation.go``.
"""

from __future__ import annotations

from ..model.istio import Gateway, Port, Server
from .common import go_quote, is_dns1123_label, is_http, is_tls, parse_protocol, validate_port
from .hosts import (
    validate_ip_address,
    validate_namespace_slash_wildcard_hostname,
    validate_unix_address,
)
from .report import Report
from .tls import validate_server_tls

__all__ = ["validate_gateway"]

# Set by Istio on Gateways it converts from the Gateway API; relaxes some rules.
GATEWAY_SEMANTICS = "internal.istio.io/gateway-semantics"
_UNIX = "unix://"


def validate_gateway(gateway: Gateway, r: Report) -> None:
    """``ValidateGateway``."""
    semantics = gateway.metadata.annotations.get(GATEWAY_SEMANTICS) == "gateway"
    if not is_dns1123_label(gateway.name) and not semantics:
        # A Gateway is referred to as <namespace>/<name>: no dots.
        r.error(f"invalid gateway name: {go_quote(gateway.name)}", "metadata", "name")
    spec = r.at("spec")
    servers = gateway.spec.servers
    if not servers:
        spec.error("gateway must have at least one server", "servers")
    port_names: set[str | None] = set()
    for i, server in enumerate(servers):
        s = spec.at("servers", i)
        _validate_server(server, s, semantics)
        name = server.port.name or ""
        if name in port_names:
            s.error(f"port names in servers must be unique: duplicate name {name}", "port", "name")
        port_names.add(name)
        if (
            not is_http(parse_protocol(server.port.protocol))
            and server.tls
            and server.tls.https_redirect
        ):
            s.warn(
                "tls.httpsRedirect should only be used with http servers", "tls", "httpsRedirect"
            )


def _validate_server(server: Server, r: Report, semantics: bool) -> None:
    """``validateServer``."""
    if not server.hosts:
        r.error("server config must contain at least one host", "hosts")
    for i, host in enumerate(server.hosts):
        r.errors(
            validate_namespace_slash_wildcard_hostname(
                host, is_gateway=True, gateway_semantics=semantics
            ),
            "hosts",
            i,
        )
    port_ok = _validate_server_port(server.port, server.bind or "", r.at("port"))
    _validate_server_bind(server.port, server.bind or "", r)
    if server.tls is not None:
        validate_server_tls(server.tls, r.at("tls"))
    if not port_ok:
        return
    protocol = parse_protocol(server.port.protocol)
    if is_tls(protocol) and server.tls is None:
        r.error("server must have TLS settings for HTTPS/TLS protocols", "port", "protocol")
    elif not is_tls(protocol) and server.tls is not None:
        tls = server.tls
        if is_http(protocol):
            # Only httpsRedirect makes sense on a plain-text HTTP server.
            passthrough = tls.mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH")
            if not passthrough or tls.ca_certificates or tls.private_key or tls.server_certificate:
                r.error("server cannot have TLS settings for plain text HTTP ports", "tls")
        else:
            r.error("server cannot have TLS settings for non HTTPS/TLS ports", "tls")


def _port_text(port: Port) -> str:
    """The port as Go prints the proto message in Istio's messages."""
    parts = [f"number:{port.number}", f"protocol:{go_quote(port.protocol)}"]
    if port.name:
        parts.append(f"name:{go_quote(port.name)}")
    return " ".join(parts)


def _validate_server_port(port: Port, bind: str, r: Report) -> bool:
    """``validateServerPort``; whether the port passed."""
    before = len(r.findings)
    if parse_protocol(port.protocol) == "UnsupportedProtocol":
        r.error(
            f"invalid protocol {go_quote(port.protocol)}, supported protocols are HTTP, HTTP2, "
            "GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP",
            "protocol",
        )
    if port.number > 0 or not bind.startswith(_UNIX):
        r.error(validate_port(port.number), "number")
    if port.target_port:
        r.error("targetPort has no impact on Gateways", "targetPort")
    if not port.name:
        r.error(f"port name must be set: {_port_text(port)}", "name")
    return not any(not f.warning for f in r.findings[before:])


def _validate_server_bind(port: Port, bind: str, r: Report) -> None:
    """``validateServerBind``: a unix socket (with port 0) or an IP address."""
    if bind.startswith(_UNIX):
        r.error(validate_unix_address(bind.removeprefix(_UNIX)), "bind")
        if port.number != 0:
            r.error(
                f"port number must be 0 for unix domain socket: {_port_text(port)}",
                "port",
                "number",
            )
    elif bind:
        r.error(validate_ip_address(bind), "bind")
