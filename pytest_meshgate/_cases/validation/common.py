"""Rules every Istio kind shares: names, ports, protocols, durations, percentages, labels, exportTo.

Each follows the function of Istio's ``pkg/config/validation`` (or a package
it calls) named in its docstring and returns Istio's message, or ``None``
when the value is valid. The reference is istio/istio ``master``; where the
release the kubernetes target installs (1.26) is stricter, that is said.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel

__all__ = [
    "go_float",
    "go_quote",
    "is_dns1123_label",
    "is_http",
    "is_tcp",
    "is_tls",
    "is_wildcard_dns1123_label",
    "one_of_problem",
    "parse_protocol",
    "too_long",
    "too_many",
    "validate_duration",
    "validate_export_to",
    "validate_labels",
    "validate_percent",
    "validate_percentage",
    "validate_port",
    "validate_port_name",
    "validate_protocol",
    "validate_workload_selector",
]


def go_quote(value: str) -> str:
    """``value`` as Go's ``%q`` prints it: double-quoted, escaped."""
    return json.dumps(value, ensure_ascii=False)


def go_float(value: float) -> str:
    """``value`` as Go's ``%v`` prints a float64: ``150``, ``0.5``, ``1e-05``."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


# pkg/config/labels/instance.go: Istio's DNS-1123 label also admits upper case.
_DNS1123_LABEL = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL)
_WILDCARD_PREFIX_RE = re.compile(r"(\*|(\*|\*-)?" + _DNS1123_LABEL + ")")
_QUALIFIED_NAME = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_TAG_KEY_RE = re.compile(
    "(" + _DNS1123_LABEL + r"(?:\." + _DNS1123_LABEL + ")*/)?(" + _QUALIFIED_NAME + ")"
)
_TAG_VALUE_RE = re.compile("(" + _QUALIFIED_NAME + ")?")
DNS1123_LABEL_MAX_LENGTH = 63


def is_dns1123_label(value: str) -> bool:
    """``labels.IsDNS1123Label``: at most 63 alphanumerics and inner dashes."""
    return len(value) <= DNS1123_LABEL_MAX_LENGTH and bool(_DNS1123_LABEL_RE.fullmatch(value))


def is_wildcard_dns1123_label(value: str) -> bool:
    """``labels.IsWildcardDNS1123Label``: a label, ``*``, or one led by ``*`` or ``*-``."""
    return len(value) <= DNS1123_LABEL_MAX_LENGTH and bool(_WILDCARD_PREFIX_RE.fullmatch(value))


def validate_labels(labels: Mapping[str, str]) -> list[str]:
    """``labels.Instance.Validate`` (subset labels, sourceLabels, endpoint labels)."""
    errors: list[str] = []
    for key, value in labels.items():
        match = _TAG_KEY_RE.fullmatch(key)
        if match is None:
            errors.append(f"invalid tag key: {go_quote(key)}")
        elif match.group(1) and len(match.group(1)) - 1 > 253:
            errors.append(f"invalid tag key: {go_quote(key)} (DNS prefix is too long)")
        elif len(match.group(2)) > DNS1123_LABEL_MAX_LENGTH:
            errors.append(f"invalid tag key: {go_quote(key)} (name is too long)")
        if not _TAG_VALUE_RE.fullmatch(value):
            errors.append(f"invalid tag value: {go_quote(value)}")
    return errors


# ------------------------------------------------------------------ ports and protocols


def validate_port(port: int) -> str | None:
    """``agent.ValidatePort``."""
    if 1 <= port <= 65535:
        return None
    return f"port number {port} must be in the range 1..65535"


def validate_port_name(name: str) -> str | None:
    """``ValidatePortName``: a DNS-1123 label."""
    return None if is_dns1123_label(name) else f"invalid port name: {name}"


# pkg/config/protocol/instance.go Parse(): case-insensitive names.
_PROTOCOLS = {
    "tcp": "TCP",
    "udp": "UDP",
    "grpc": "GRPC",
    "grpc-web": "GRPC-Web",
    "http": "HTTP",
    "http_proxy": "HTTP_PROXY",
    "http2": "HTTP2",
    "https": "HTTPS",
    "tls": "TLS",
    "mongo": "Mongo",
    "redis": "Redis",
    "mysql": "MySQL",
}
UNSUPPORTED = "UnsupportedProtocol"


def parse_protocol(name: str | None) -> str:
    """``protocol.Parse``: the canonical name, or ``UnsupportedProtocol``."""
    return _PROTOCOLS.get((name or "").lower(), UNSUPPORTED)


def is_http(protocol: str) -> bool:
    return protocol in ("HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web")


def is_tls(protocol: str) -> bool:
    return protocol in ("HTTPS", "TLS")


def is_tcp(protocol: str) -> bool:
    return protocol in ("TCP", "HTTPS", "TLS", "Mongo", "Redis", "MySQL")


def validate_protocol(name: str | None) -> str | None:
    """``ValidateProtocol``: empty (sniffed) or a known protocol."""
    if name and parse_protocol(name) == UNSUPPORTED:
        return f"unsupported protocol: {name}"
    return None


# ------------------------------------------------------------------ durations and percentages


def validate_duration(seconds: float) -> str | None:
    """``agent.ValidateDuration``: at least 1ms, in whole milliseconds.

    The Istio CRDs say the same in CEL (``duration(self) >= duration('1ms')``).
    """
    nanos = round(seconds * 1e9)
    if nanos < 1_000_000:
        return "duration must be greater than 1ms"
    if nanos % 1_000_000:
        return "only durations to ms precision are supported"
    return None


def validate_percent(value: int) -> str | None:
    """``ValidatePercent`` (integer percentages)."""
    if 0 <= value <= 100:
        return None
    return f"percentage {value} is not in range 0..100"


def validate_percentage(value: float) -> str | None:
    """``validatePercentage`` (``Percent`` messages): 0, or 0.0001 to 100."""
    if value < 0 or value > 100 or 0 < value < 0.0001:
        return f"percentage {go_float(value)} is neither 0.0, nor in range [0.0001, 100.0]"
    return None


# ------------------------------------------------------------------ exportTo and selectors


def validate_export_to(
    namespace: str,
    export_to: Sequence[str],
    *,
    service_entry: bool = False,
    destination_rule_with_selector: bool = False,
) -> list[str]:
    """``validateExportTo``: ``.``, ``*``, namespaces, ``~`` (ServiceEntry only), no repeats."""
    errors: list[str] = []
    if not export_to:
        return errors
    seen: set[str] = set()
    for entry in export_to:
        key = namespace if entry == "." else entry
        if key in seen:
            if key != entry:
                errors.append(f"duplicate entries in exportTo: . and current namespace {namespace}")
            else:
                errors.append(f"duplicate entries in exportTo for entry {entry}")
        elif service_entry and entry == "~":
            seen.add(key)
        else:
            problem = _visibility_problem(key)
            if problem:
                errors.append(problem)
            else:
                seen.add(key)
    if destination_rule_with_selector and seen:
        if namespace in seen:
            if len(seen) > 1:
                errors.append(
                    "destination rule with workload selector cannot have multiple entries in "
                    "exportTo"
                )
        else:
            errors.append(
                "destination rule with workload selector cannot have exportTo beyond current "
                "namespace"
            )
    if "*" in seen and len(export_to) > 1:
        errors.append("cannot have both public (*) and non-public exportTo values for a resource")
    if "~" in seen and len(export_to) > 1:
        errors.append("cannot export service entry to no one (~) and someone")
    return errors


def _visibility_problem(value: str) -> str | None:
    """``visibility.Instance.Validate`` (pkg/config/visibility)."""
    if value in (".", "*"):
        return None
    if value == "~":
        return "exportTo ~ (none) is not allowed for Istio configuration objects"
    if not is_dns1123_label(value):
        return "only .,*, or a valid DNS 1123 label is allowed as exportTo entry"
    return None


def validate_workload_selector(labels: Mapping[str, str]) -> tuple[list[str], str | None]:
    """Errors, and a warning if there are no labels.

    ``validateWorkloadSelector`` (DestinationRule ``matchLabels``) and
    ``ValidateAlphaWorkloadSelector`` (Sidecar and ServiceEntry ``labels``)
    apply the same rules.
    """
    return _selector_errors(labels.items()), (
        None if labels else "workload selector specified without labels"
    )


def _selector_errors(labels: Iterable[tuple[str, str]]) -> list[str]:
    errors: list[str] = []
    for key, value in labels:
        pair = go_quote(f"{key}={value}")
        if key == "":
            errors.append(f"empty key is not supported in selector: {pair}")
        if "*" in key or "*" in value:
            errors.append(f"wildcard is not supported in selector: {pair}")
    return errors


def one_of_problem(model: BaseModel, fields: Sequence[str]) -> str | None:
    """The CRD's ``oneOf``: at most one of ``fields`` (Python names) may be set.

    Istio's CRD schemas carry the protobuf ``oneof`` groups, so the API server
    refuses an object that sets two members before the webhook sees it.
    """
    given = [name for name in fields if getattr(model, name) is not None]
    if len(given) < 2:
        return None
    names = [type(model).model_fields[name].alias or name for name in fields]
    chosen = [type(model).model_fields[name].alias or name for name in given]
    return f"only one of {', '.join(names)} may be set (got {' and '.join(chosen)})"


def too_many(count: int, limit: int) -> str | None:
    """A CRD's ``maxItems``/``maxProperties``, in the API server's words."""
    return f"Too many: {count}: must have at most {limit} items" if count > limit else None


def too_long(value: str, limit: int) -> str | None:
    """A CRD's ``maxLength``, in the API server's words."""
    return f"Too long: may not be more than {limit} bytes" if len(value.encode()) > limit else None
