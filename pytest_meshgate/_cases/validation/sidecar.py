"""The Sidecar: workload selector, ingress and egress listeners, outbound traffic policy.

``ValidateSidecar`` and its helpers (``validateSidecarIngressPortAndBind``,
``validateSidecarEgressPortBindAndCaptureMode``,
``validateSidecarOutboundTrafficPolicy``) in Istio's
``pkg/config/validation/validation.go``.
"""

from __future__ import annotations

from ..model.istio import (
    IstioEgressListener,
    IstioIngressListener,
    OutboundTrafficPolicy,
    Sidecar,
    SidecarPort,
)
from .common import (
    is_http,
    is_tls,
    parse_protocol,
    too_long,
    too_many,
    validate_port,
    validate_port_name,
    validate_protocol,
    validate_workload_selector,
)
from .hosts import (
    validate_fqdn,
    validate_ip_address,
    validate_namespace_slash_wildcard_hostname,
    validate_unix_address,
)
from .httproute import validate_destination
from .report import Report
from .tls import validate_server_tls
from .trafficpolicy import validate_connection_pool

__all__ = ["validate_sidecar"]

_UNIX = "unix://"
_LOCAL_HOSTS = ("127.0.0.1", "0.0.0.0", "::1", "::")


def validate_sidecar(sidecar: Sidecar, r: Report) -> None:
    """``ValidateSidecar``."""
    spec, s = sidecar.spec, r.at("spec")
    if spec.workload_selector is not None:
        errors, warning = validate_workload_selector(spec.workload_selector.labels)
        if errors:  # Istio returns these alone
            s.errors(errors, "workloadSelector", "labels")
            return
        if warning:
            s.warn(
                f"sidecar: {warning}, will be applied to all services in namespace",
                "workloadSelector",
            )
        labels = spec.workload_selector.labels
        s.error(too_many(len(labels), 256), "workloadSelector", "labels")  # the CRD's limits
        for key, value in labels.items():
            s.error(too_long(value, 63), "workloadSelector", "labels", key)
    if not (
        spec.egress or spec.ingress or spec.outbound_traffic_policy or spec.inbound_connection_pool
    ):
        s.error("sidecar: empty configuration provided")
        return

    ports: set[int] = set()
    for i, listener in enumerate(spec.ingress):
        _validate_ingress(listener, ports, s.at("ingress", i))
    if spec.inbound_connection_pool is not None:
        validate_connection_pool(spec.inbound_connection_pool, s.at("inboundConnectionPool"))

    ports = set()
    sockets: set[str] = set()
    catch_all = False
    for i, egress in enumerate(spec.egress):
        e = s.at("egress", i)
        if egress.port is None:
            # One listener may leave the port out (it catches the rest); it comes last.
            if catch_all:
                e.error("sidecar: egress can have only one listener with empty port")
                continue
            if i == len(spec.egress) - 1:
                catch_all = True
            else:
                e.error(
                    "sidecar: the egress listener with empty port should be the last listener in "
                    "the list"
                )
        else:
            _validate_egress_port(egress, e)
            bind = egress.bind or ""
            if egress.port.number == 0:
                if bind in sockets:
                    e.error(
                        "sidecar: unix domain socket values for listeners must be unique", "bind"
                    )
                sockets.add(bind)
            else:
                if egress.port.number in ports:
                    e.error("sidecar: ports on IP bound listeners must be unique", "port", "number")
                ports.add(egress.port.number)
        _validate_egress_hosts(egress, sidecar.namespace, e)

    if spec.outbound_traffic_policy is not None:
        _validate_outbound_policy(spec.outbound_traffic_policy, s.at("outboundTrafficPolicy"))


def _validate_port_and_bind(port: SidecarPort, bind: str, r: Report) -> None:
    """What ingress and IP-bound egress listeners share: name, protocol, number, bind."""
    if port.name:
        r.error(validate_port_name(port.name), "port", "name")
    r.error(validate_protocol(port.protocol), "port", "protocol")
    r.error(validate_port(port.number), "port", "number")
    if bind:
        r.error(validate_ip_address(bind), "bind")


def _validate_ingress(listener: IstioIngressListener, ports: set[int], r: Report) -> None:
    """One ``spec.ingress`` listener."""
    port = listener.port
    if port.target_port:
        r.error("targetPort has no impact on Sidecars", "port", "targetPort")
    _validate_port_and_bind(port, listener.bind or "", r)
    if port.number in ports:
        r.error("sidecar: ports on IP bound listeners must be unique", "port", "number")
    ports.add(port.number)
    if listener.default_endpoint:
        _validate_default_endpoint(listener.default_endpoint, r.at("defaultEndpoint"))
    if (tls := listener.tls) is not None:
        t = r.at("tls")
        if tls.subject_alt_names:
            t.error("sidecar: subjectAltNames is not supported in ingress tls", "subjectAltNames")
        if tls.https_redirect:
            t.error("sidecar: httpsRedirect is not supported", "httpsRedirect")
        if tls.credential_name:
            t.error("sidecar: credentialName is not currently supported", "credentialName")
        if tls.credential_names:
            t.error("sidecar: credentialNames is not currently supported", "credentialNames")
        if tls.tls_certificates:
            t.error("sidecar: tls_certificates is not currently supported", "tlsCertificates")
        if tls.mode in ("ISTIO_MUTUAL", "AUTO_PASSTHROUGH"):
            t.error(
                f"configuration is invalid: cannot set mode to {tls.mode} in sidecar ingress tls",
                "mode",
            )
        if not is_tls(parse_protocol(port.protocol)):
            t.error("server cannot have TLS settings for non HTTPS/TLS ports")
        validate_server_tls(tls, t)
    if (pool := listener.connection_pool) is not None:
        validate_connection_pool(pool, r.at("connectionPool"))
        if pool.http is not None and not is_http(parse_protocol(port.protocol)):
            r.warn(
                f"sidecar: HTTP connection pool settings are configured for port {port.number} "
                f'("{port.name or ""}") but its protocol is not HTTP ({port.protocol or ""}); only '
                "TCP settings will apply",
                "connectionPool",
                "http",
            )


def _split_host_port(address: str) -> tuple[str, str] | str:
    """Go's ``net.SplitHostPort``: ``(host, port)``, or its error message."""

    def fail(why: str) -> str:
        return f"address {address}: {why}"

    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            return fail("missing ']' in address")
        rest = address[end + 1 :]
        if not rest.startswith(":"):
            return fail("missing port in address")
        host, port = address[1:end], rest[1:]
        if "[" in host[1:] or "]" in port:
            return fail("unexpected '[' in address")
        return host, port
    colon = address.rfind(":")
    if colon < 0:
        return fail("missing port in address")
    host, port = address[:colon], address[colon + 1 :]
    if ":" in host:
        return fail("too many colons in address")
    if "[" in address or "]" in address:
        return fail("unexpected '[' in address")
    return host, port


def _validate_default_endpoint(endpoint: str, r: Report) -> None:
    """``defaultEndpoint``: ``127.0.0.1:<port>`` (or ``0.0.0.0``, ``[::1]``, ``[::]``), ``unix://``."""
    if endpoint.startswith(_UNIX):
        r.error(validate_unix_address(endpoint.removeprefix(_UNIX)))
        return
    split = _split_host_port(endpoint)
    host, port = ("", "") if isinstance(split, str) else split
    if isinstance(split, str):
        r.error(split)
    if host and host not in _LOCAL_HOSTS:
        r.error(
            "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,"
            "[::]:port,unix://filepath or unset"
        )
    if port.lstrip("+-").isdigit() and port.isascii():
        r.error(validate_port(int(port)))
    else:
        r.error(
            f"sidecar: defaultEndpoint port ({port}) is not a number: "
            f'strconv.Atoi: parsing "{port}": invalid syntax'
        )


def _validate_egress_port(egress: IstioEgressListener, r: Report) -> None:
    """``validateSidecarEgressPortBindAndCaptureMode``: port 0 means a unix socket bind."""
    assert egress.port is not None
    port, bind = egress.port, egress.bind or ""
    if port.target_port:
        r.error("targetPort has no impact on Sidecars", "port", "targetPort")
    if port.number != 0:
        _validate_port_and_bind(port, bind, r)
        return
    if port.name:
        r.error(validate_port_name(port.name), "port", "name")
    r.error(validate_protocol(port.protocol), "port", "protocol")
    if not bind.startswith(_UNIX):
        r.error("sidecar: ports with 0 value must have a unix domain socket bind address", "bind")
    else:
        r.error(validate_unix_address(bind.removeprefix(_UNIX)), "bind")
    if egress.capture_mode not in (None, "DEFAULT", "NONE"):
        r.error(
            "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners",
            "captureMode",
        )


def _validate_egress_hosts(egress: IstioEgressListener, namespace: str, r: Report) -> None:
    """Egress ``hosts``: ``namespace/dnsName``; repeats and ``*/*`` beside others are warned."""
    if not egress.hosts:
        r.error("sidecar: egress listener must contain at least one host", "hosts")
        return
    selected: dict[str, set[str]] = {}
    for i, host in enumerate(egress.hosts):
        ns, slash, name = host.partition("/")
        if slash and not ns.startswith("~"):
            ns = namespace if ns == "." else ns
            names = selected.setdefault(ns, set())
            if (name != "*" and (name in names or "*" in names)) or (name == "*" and names):
                r.warn(f"duplicated egress host: {host}", "hosts", i)
            names.add(name)
        r.errors(validate_namespace_slash_wildcard_hostname(host, is_gateway=False), "hosts", i)
    if "*" in selected.get("*", set()) and len(selected) != 1:
        r.warn("`*/*` host select all resources, no other hosts can be added", "hosts")


def _validate_outbound_policy(policy: OutboundTrafficPolicy, r: Report) -> None:
    """``validateSidecarOutboundTrafficPolicy``."""
    proxy = policy.egress_proxy
    if proxy is None:
        return
    if policy.mode != "ALLOW_ANY":
        r.error(
            "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode",
            "egressProxy",
        )
        return
    r.error(validate_fqdn(proxy.host), "egressProxy", "host")
    if proxy.port is None:
        r.error("sidecar: egress_proxy port must be non-nil", "egressProxy")
        return
    validate_destination(proxy, r.at("egressProxy"))
