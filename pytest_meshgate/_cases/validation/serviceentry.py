"""The ServiceEntry: hosts, addresses, ports, resolution, endpoints.

``ValidateServiceEntry`` and ``validateWorkloadEntry`` in Istio's
``pkg/config/validation/validation.go``, and the CEL rules of the
ServiceEntry CRD the API server applies first.
"""

from __future__ import annotations

import re

from ..model.istio import ServiceEntry, WorkloadEntry
from .common import (
    go_quote,
    is_http,
    is_tcp,
    is_tls,
    parse_protocol,
    too_long,
    too_many,
    validate_export_to,
    validate_labels,
    validate_port,
    validate_port_name,
    validate_protocol,
    validate_workload_selector,
)
from .hosts import (
    is_valid_ip,
    is_wildcarded,
    validate_fqdn,
    validate_ip_subnet,
    validate_partial_wildcard,
    validate_unix_address,
    validate_wildcard_domain,
)
from .report import Report

__all__ = ["validate_service_entry"]

_UNIX = "unix://"
# label.NetworkingEnableAutoallocateIp: "false" opts a ServiceEntry out of IP auto-allocation.
AUTOALLOCATE_LABEL = "networking.istio.io/enable-autoallocate-ip"
# The CRD's rule for endpoint port names (ServiceEntry.spec.endpoints[].ports).
_CRD_PORT_NAME = re.compile("[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")


def _auto_allocates(se: ServiceEntry) -> bool:
    """``ShouldV2AutoAllocateIPFromConfig``, ``PILOT_ENABLE_IP_AUTOALLOCATE`` on (the default)."""
    if se.spec.resolution == "NONE" or se.spec.addresses:
        return False
    return se.metadata.labels.get(AUTOALLOCATE_LABEL, "").lower() != "false"


def validate_service_entry(se: ServiceEntry, r: Report) -> None:
    """``ValidateServiceEntry``."""
    spec, s = se.spec, r.at("spec")
    if spec.workload_selector is not None:
        errors, warning = validate_workload_selector(spec.workload_selector.labels)
        if errors:  # Istio returns these alone
            s.errors(errors, "workloadSelector", "labels")
            return
        if warning:
            s.warn(
                f"service entry: {warning}, will be applied to all services in namespace",
                "workloadSelector",
            )
    endpoints_given = "endpoints" in spec.model_fields_set
    if spec.workload_selector is not None and endpoints_given:
        s.error(
            "only one of WorkloadSelector or Endpoints is allowed in Service Entry", "endpoints"
        )

    if not spec.hosts:
        s.error("service entry must have at least one host", "hosts")
    for i, host in enumerate(spec.hosts):
        if host == "*":  # the CRD says "hostname cannot be wildcard"
            s.error(f"invalid host {host}", "hosts", i)
            continue
        s.error(validate_wildcard_domain(host), "hosts", i)
        if spec.resolution != "DYNAMIC_DNS":
            s.warn(validate_partial_wildcard(host), "hosts", i)

    cidr = False
    for i, address in enumerate(spec.addresses):
        cidr = cidr or "/" in address
        s.error(validate_ip_subnet(address), "addresses", i)
    if cidr and spec.resolution not in ("NONE", "STATIC"):
        s.error("CIDR addresses are allowed only for NONE/STATIC resolution types", "addresses")

    auto_allocation = _auto_allocates(se)
    names: set[str] = set()
    numbers: set[int] = set()
    for i, port in enumerate(spec.ports):
        p = s.at("ports", i)
        if port.name in names:
            p.error(f"service entry port name {go_quote(port.name)} already defined", "name")
        names.add(port.name)
        if port.number in numbers:
            p.error(f"service entry port {port.number} already defined", "number")
        numbers.add(port.number)
        if port.target_port:
            p.error(validate_port(port.target_port), "targetPort")
        if not spec.addresses and not auto_allocation and port.protocol in (None, "", "TCP"):
            p.warn(
                "addresses are required for ports serving TCP (or unset) protocol when IP "
                "Autoallocation is not enabled"
            )
        p.error(validate_port_name(port.name), "name")
        p.error(validate_protocol(port.protocol), "protocol")
        p.error(validate_port(port.number), "number")

    _crd_limits(se, s)
    for i, endpoint in enumerate(spec.endpoints):
        _crd_endpoint_rules(endpoint, s.at("endpoints", i))
    _validate_resolution(se, names, s)

    # Plain TCP cannot tell hosts apart (no Host header, no SNI) unless resolution is NONE.
    if spec.resolution != "NONE" and len(spec.hosts) > 1:
        for i, port in enumerate(spec.ports):
            protocol = parse_protocol(port.protocol)
            if not is_http(protocol) and not is_tls(protocol):
                s.error("multiple hosts provided with non-HTTP, non-TLS ports", "ports", i)
                break
    s.errors(validate_export_to(se.namespace, spec.export_to, service_entry=True), "exportTo")


def _validate_resolution(se: ServiceEntry, port_names: set[str], s: Report) -> None:
    """The ``switch serviceEntry.Resolution`` of ``ValidateServiceEntry``."""
    spec = se.spec
    resolution = spec.resolution
    if resolution == "NONE":
        if spec.endpoints:
            s.error("no endpoints should be provided for resolution type none", "endpoints")
        elif "endpoints" in spec.model_fields_set:  # the CRD's CEL: even an empty list
            s.error("NONE mode cannot set endpoints", "endpoints")
        if spec.workload_selector is not None:
            s.warn(
                "workloadSelector should not be set when resolution mode is NONE",
                "workloadSelector",
            )
    elif resolution == "STATIC":
        for i, endpoint in enumerate(spec.endpoints):
            _validate_workload_entry(endpoint, port_names, s.at("endpoints", i))
    elif resolution in ("DNS", "DNS_ROUND_ROBIN"):
        if not spec.endpoints:
            for i, host in enumerate(spec.hosts):
                problem = validate_fqdn(host)
                if problem:
                    s.error(
                        "hosts must be FQDN or contain only prefix wildcards if no endpoints are "
                        f"provided for resolution mode {resolution}, {problem}",
                        "hosts",
                        i,
                    )
                    break
        if resolution == "DNS_ROUND_ROBIN" and len(spec.endpoints) > 1:
            s.error(
                f"there must only be 0 or 1 endpoint for resolution mode {resolution}", "endpoints"
            )
        for i, endpoint in enumerate(spec.endpoints):
            e = s.at("endpoints", i)
            address = endpoint.address or ""
            if not is_valid_ip(address) and validate_fqdn(address):
                e.error(
                    f"endpoint address {go_quote(address)} is not a valid FQDN or an IP address",
                    "address",
                )
            e.errors(validate_labels(endpoint.labels), "labels")
            for name, number in endpoint.ports.items():
                if name not in port_names:
                    e.error(
                        f"endpoint port {number} is not defined by the service entry", "ports", name
                    )
                e.error(validate_port_name(name), "ports", name)
                e.error(validate_port(number), "ports", name)
        if spec.addresses:
            for port in spec.ports:
                if is_tcp(parse_protocol(port.protocol)):
                    if len(spec.hosts) > 1:
                        s.warn(
                            "service entry can not have more than one host specified "
                            "simultaneously with address and tcp port",
                            "hosts",
                        )
                    break
    elif resolution == "DYNAMIC_DNS":
        # Istio 1.27 and later; the 1.26 CRD does not accept this resolution at all.
        for i, host in enumerate(spec.hosts):
            if not is_wildcarded(host):
                s.error(f"host must be wildcarded for resolution mode {resolution}", "hosts", i)
        if spec.addresses:
            s.error(
                f"addresses cannot be set for resolution type {resolution}. HTTP route domains "
                "will only be generatedfrom the hosts field values",
                "addresses",
            )
        if spec.endpoints:
            s.error(
                f"endpoints cannot be set for resolution type {resolution}. Destination IP "
                "address determined from hostsfield values",
                "endpoints",
            )
        for i, port in enumerate(spec.ports):
            if parse_protocol(port.protocol) not in ("HTTP", "TLS", "GRPC", "HTTP2"):
                s.error(
                    f"only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type "
                    f"{resolution}",
                    "ports",
                    i,
                    "protocol",
                )
        waypoint = se.metadata.labels.get("istio.io/use-waypoint", "")
        if spec.location == "MESH_INTERNAL" and waypoint and waypoint.lower() != "none":
            s.error(
                f"location MESH_INTERNAL with resolution type {resolution} is not supported when "
                "using waypoints",
                "location",
            )


def _validate_workload_entry(entry: WorkloadEntry, port_names: set[str], r: Report) -> None:
    """``validateWorkloadEntry`` for a STATIC endpoint (an IP or a unix socket, not a name)."""
    address = entry.address or ""
    if not address:
        if not entry.network:
            r.error("address is required")
            return
        r.warn(f"address is unset with network {go_quote(entry.network)}")
    unix = address.startswith(_UNIX)
    if unix:
        r.error(validate_unix_address(address.removeprefix(_UNIX)), "address")
        if entry.ports:
            r.error(f"unix endpoint {address} must not include ports", "ports")
    elif address and not is_valid_ip(address):
        r.error(f"endpoint address {go_quote(address)} is not a valid IP address", "address")
    for name, number in entry.ports.items():
        if name not in port_names:
            r.error(f"endpoint port {number} is not defined by the service entry", "ports", name)
        r.error(validate_port_name(name), "ports", name)
        r.error(validate_port(number), "ports", name)
    r.errors(validate_labels(entry.labels), "labels")
    if unix and len(port_names) != 1:
        r.error("exactly 1 service port required for unix endpoints")


def _crd_limits(se: ServiceEntry, s: Report) -> None:
    """The sizes the ServiceEntry CRD allows (maxItems, maxLength, maxProperties)."""
    spec = se.spec
    for key, items, limit in (
        ("hosts", spec.hosts, 256),
        ("addresses", spec.addresses, 256),
        ("ports", spec.ports, 256),
        ("endpoints", spec.endpoints, 4096),
    ):
        s.error(too_many(len(items), limit), key)
    for i, address in enumerate(spec.addresses):
        s.error(too_long(address, 64), "addresses", i)
    for i, port in enumerate(spec.ports):
        s.error(too_long(port.name, 256), "ports", i, "name")
        s.error(too_long(port.protocol or "", 256), "ports", i, "protocol")
    if spec.workload_selector is not None:
        s.error(too_many(len(spec.workload_selector.labels), 256), "workloadSelector", "labels")
        for key, value in spec.workload_selector.labels.items():
            s.error(too_long(value, 63), "workloadSelector", "labels", key)
    for i, entry in enumerate(spec.endpoints):
        e = s.at("endpoints", i)
        e.error(too_long(entry.address or "", 256), "address")
        e.error(too_many(len(entry.labels), 256), "labels")
        e.error(too_many(len(entry.ports), 128), "ports")
        for field, text, limit in (
            ("network", entry.network, 2048),
            ("locality", entry.locality, 2048),
            ("serviceAccount", entry.service_account, 253),
        ):
            e.error(too_long(text or "", limit), field)


def _crd_endpoint_rules(entry: WorkloadEntry, r: Report) -> None:
    """The CEL rules of ``spec.endpoints[]`` in the ServiceEntry CRD (the API server's)."""
    address = entry.address or ""
    if not address and not entry.network:
        r.error("Address is required")
    if address.startswith(_UNIX):
        if entry.ports:
            r.error("UDS may not include ports", "ports")
        if address[7:8] not in ("/", "@"):
            r.error("UDS must be an absolute path or abstract socket", "address")
        if address.endswith("/"):
            r.error("UDS may not be a dir", "address")
    for name, number in entry.ports.items():
        if not (len(name) < 63 and _CRD_PORT_NAME.fullmatch(name)):
            r.error("port name must be valid", "ports", name)
        if not 0 < number <= 65535:
            r.error("port must be between 1-65535", "ports", name)
