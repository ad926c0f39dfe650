"""Host names and addresses as Istio validates them: FQDNs, wildcards, ``ns/host``, IPs.

From ``pkg/config/validation/agent/validation.go`` (``ValidateFQDN``,
``ValidateWildcardDomain``, ``ValidateNamespaceSlashWildcardHostname``, ...)
and ``pkg/config/host/name.go`` (how hosts match each other).
"""

from __future__ import annotations

import ipaddress
import re

from .common import go_quote, is_dns1123_label, is_wildcard_dns1123_label

__all__ = [
    "host_matches",
    "host_subset_of",
    "is_valid_ip",
    "is_wildcarded",
    "validate_fqdn",
    "validate_ip_address",
    "validate_ip_subnet",
    "validate_namespace_slash_wildcard_hostname",
    "validate_partial_wildcard",
    "validate_unix_address",
    "validate_wildcard_domain",
    "validate_wildcard_domain_for_gateway",
]

_OUTBOUND_FORMAT = "outbound_.<PORT>_._.<HOSTNAME>"
_ALL_NUMERIC = re.compile("[+-]?[0-9]+")


def _dns1123_preconditions(name: str) -> str | None:
    """``CheckDNS1123Preconditions``."""
    if len(name) > 255:
        return f"domain name {go_quote(name)} too long (max 255)"
    if not name:
        return "empty domain name not allowed"
    return None


def _dns1123_labels(domain: str) -> str | None:
    """``ValidateDNS1123Labels``: every label valid, the top-level one not all digits."""
    parts = domain.split(".")
    top = parts[-1]
    if _ALL_NUMERIC.fullmatch(top) and abs(int(top)) < 2**63:  # what Go's strconv.Atoi takes
        return (
            f"domain name {go_quote(domain)} invalid "
            f"(top level domain {go_quote(top)} cannot be all-numeric)"
        )
    for i, label in enumerate(parts):
        if i == len(parts) - 1 and label == "":  # `istio.io.` is unambiguous, not wrong
            return None
        if not is_dns1123_label(label):
            return f"domain name {go_quote(domain)} invalid (label {go_quote(label)} invalid)"
    return None


def validate_fqdn(fqdn: str) -> str | None:
    """``ValidateFQDN``."""
    return _dns1123_preconditions(fqdn) or _dns1123_labels(fqdn)


def validate_wildcard_domain(domain: str) -> str | None:
    """``ValidateWildcardDomain``: an FQDN whose first label may carry a leading ``*``."""
    problem = _dns1123_preconditions(domain)
    if problem:
        return problem
    first, dot, rest = domain.partition(".")
    if not is_wildcard_dns1123_label(first):
        return f"domain name {go_quote(domain)} invalid (label {go_quote(first)} invalid)"
    if dot:
        return _dns1123_labels(rest)
    return None


def validate_wildcard_domain_for_gateway(sni: bool, domain: str) -> str | None:
    """``ValidateWildcardDomainForVirtualServiceBoundToGateway``.

    A VirtualService bound to a gateway may name the SNI Istio generates for
    mesh traffic (``outbound_.80_._.reviews.default.svc.cluster.local``).
    """
    problem = _dns1123_preconditions(domain)
    if problem:
        return problem
    if sni and domain.startswith("outbound_"):
        parts = domain.split("_")
        if len(parts) < 4:
            return f"domain name {domain} invalid, should follow '{_OUTBOUND_FORMAT}' format"
        direction, port, hostname = parts[0], parts[1].strip("."), parts[3].strip(".")
        if direction != "outbound":
            return f"domain name {go_quote(domain)} invalid (label {go_quote(direction)} invalid)"
        if not re.search("[0-9]", port):
            return (
                f"domain name {go_quote(domain)} invalid (label {go_quote(port)} invalid). "
                f"should follow {_OUTBOUND_FORMAT} format"
            )
        if not re.search("[a-zA-Z]", hostname):
            return (
                f"domain name {go_quote(domain)} invalid (label {go_quote(hostname)} invalid). "
                f"should follow {_OUTBOUND_FORMAT} format"
            )
        return None
    return validate_wildcard_domain(domain)


def validate_partial_wildcard(host: str) -> str | None:
    """``ValidatePartialWildCard``: ``*`` only alone or as a whole first label."""
    if "*" in host and len(host) != 1 and not host.startswith("*."):
        return f"partial wildcard {go_quote(host)} not allowed"
    return None


def _hostname_part(hostname: str, is_gateway: bool) -> list[str]:
    """``validateSidecarOrGatewayHostnamePart``: no short names, no partial wildcards."""
    errors: list[str] = []
    if hostname != "*" and "." not in hostname:
        errors.append("short names (non FQDN) are not allowed")
    problem = validate_wildcard_domain(hostname)
    if problem:
        if not is_gateway:
            errors.append(problem)
        if not is_valid_ip(hostname):  # a gateway may also name an IP address
            errors.append(problem)
    partial = validate_partial_wildcard(hostname)
    if partial:
        errors.append(partial)
    return errors


def validate_namespace_slash_wildcard_hostname(
    hostname: str, *, is_gateway: bool, gateway_semantics: bool = False
) -> list[str]:
    """``ValidateNamespaceSlashWildcardHostname``: Gateway and Sidecar egress hosts."""
    namespace, slash, name = hostname.partition("/")
    if not slash:
        if is_gateway:  # the old style: a bare host
            return _hostname_part(hostname, True)
        return ["host must be of form namespace/dnsName"]
    errors: list[str] = []
    if not namespace or not name:
        errors.append("config namespace and dnsName in host entry cannot be empty")
    if not is_gateway:
        # A Sidecar namespace is *, ., or a DNS label, optionally ~-prefixed to exclude it
        # (Istio 1.26 accepted only a bare ~).
        bare = namespace.removeprefix("~")
        if bare not in ("", "*", ".") and not is_dns1123_label(bare):
            errors.append(f"invalid namespace value {go_quote(namespace)} in sidecar")
    elif (
        namespace not in ("*", ".")
        and (namespace != "~" or not gateway_semantics)
        and not is_dns1123_label(namespace)
    ):
        errors.append(f"invalid namespace value {go_quote(namespace)} in gateway")
    errors.extend(_hostname_part(name, is_gateway))
    return errors


# ------------------------------------------------------------------ host matching


def is_wildcarded(host: str) -> bool:
    return host.startswith("*")


def host_matches(a: str, b: str) -> bool:
    """``host.Name.Matches``: whether the two hosts have a name in common."""
    if is_wildcarded(a):
        if is_wildcarded(b):
            short, long = (a, b) if len(a) < len(b) else (b, a)
            return long[1:].endswith(short[1:])
        return b.endswith(a[1:])
    if is_wildcarded(b):
        return a.endswith(b[1:])
    return a == b


def host_subset_of(a: str, b: str) -> bool:
    """``host.Name.SubsetOf``: every name ``a`` stands for is one of ``b``'s."""
    if is_wildcarded(a):
        if is_wildcarded(b):
            return len(a) >= len(b) and a[1:].endswith(b[1:])
        return False
    if is_wildcarded(b):
        return a.endswith(b[1:])
    return a == b


# ------------------------------------------------------------------ addresses


def is_valid_ip(address: str) -> bool:
    """``netutil.IsValidIPAddress`` (Go's ``netip.ParseAddr``)."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def validate_ip_address(address: str) -> str | None:
    """``agent.ValidateIPAddress``."""
    return None if is_valid_ip(address) else f"{address} is not a valid IP"


def validate_ip_subnet(subnet: str) -> str | None:
    """``agent.ValidateIPSubnet``: a CIDR block or an address."""
    if subnet.count("/") == 1:
        address, _, bits = subnet.partition("/")
        try:
            if "%" in address or not bits.isdigit() or (bits != "0" and bits.startswith("0")):
                raise ValueError(subnet)
            ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            return f"{subnet} is not a valid CIDR block"
        return None
    return validate_ip_address(subnet)


def validate_unix_address(address: str) -> str | None:
    """``ValidateUnixAddress``: an absolute file path, or an abstract socket ``@name``."""
    if not address:
        return "unix address must not be empty"
    if address.startswith("@"):
        return None
    if not address.startswith("/") or address.endswith("/"):
        return f"{address} is not an absolute path to a file"
    return None
