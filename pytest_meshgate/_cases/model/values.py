"""The case contract's values that reach a request, a socket or a proxy: their syntax and limits.

Each rule refuses at collection, at its line, what would otherwise fail (or
hang, or be silently changed) when a check runs: by the HTTP client (httpx,
h11), the bulk sender, Python's ``ssl``, trustme or Envoy. The limits are
listed in ``docs/case-format.md`` beside the keys they bound.
"""

from __future__ import annotations

import ipaddress
import math
import re
import ssl
import warnings
from collections.abc import Callable
from typing import Annotated, Any

import idna
from pydantic import AfterValidator, BeforeValidator, Field

from ..._durations import format_duration
from .base import NO_VALUE, Duration

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DELAY",
    "MAX_HEADERS",
    "MAX_HEADER_NAME_LENGTH",
    "MAX_HEADER_VALUE_LENGTH",
    "MAX_LABELS",
    "MAX_METHOD_LENGTH",
    "MAX_REQUEST_TIMEOUT",
    "MAX_URL_LENGTH",
    "MIN_REQUEST_TIMEOUT",
    "AlpnProtocol",
    "AppProtocol",
    "Body",
    "CertificateHost",
    "CipherName",
    "DNSLabel",
    "ExternalHostName",
    "HeaderName",
    "HeaderValue",
    "Headers",
    "HttpURL",
    "LabelKey",
    "LabelValue",
    "Labels",
    "LatencyBound",
    "Method",
    "MisbehaviourDelay",
    "RequestTimeout",
    "ServerName",
    "ServiceName",
    "check_url",
    "dns_name",
    "external_host_name",
    "kubernetes_service_name",
]

# RFC 9112 section 3: senders and recipients are expected to support request
# lines of at least 8000 octets; longer ones are refused by servers (and
# httpx refuses URLs above 64 KiB outright).
MAX_URL_LENGTH = 8000
# Envoy counts at most 100 request headers by default (max_headers_count):
# room to exceed it, not to build megabyte heads.
MAX_HEADERS = 128
MAX_HEADER_NAME_LENGTH = 256
MAX_HEADER_VALUE_LENGTH = 8192
MAX_METHOD_LENGTH = 32
# A conformance check sends small bodies; Envoy buffers 1 MiB per connection.
MAX_BODY_BYTES = 1024 * 1024
# A request waits at most this long (the default is the target's, 10 s):
# longer would look like a hung run.
MAX_REQUEST_TIMEOUT = 60.0
# A misbehaving replica's delay, and latency bounds, above the longest
# request timeout could never be observed.
MAX_DELAY = 60.0
MAX_LABELS = 64

# ${uuid} becomes a UUID (36 characters) on every attempt; values are checked
# as they will be sent.
_UUID_PLACEHOLDER = "${uuid}"
_SAMPLE_UUID = "00000000-0000-4000-8000-000000000000"

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# RFC 9110 5.5 field-value as sent: visible ASCII, inner spaces and tabs.
_FIELD_VALUE = re.compile(r"([\x21-\x7e]([\x20\x09]*[\x21-\x7e])*)?")
_DNS_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_K8S_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_K8S_SERVICE = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]")
_PORT = re.compile(r"[0-9]{1,5}")
_CIPHER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,79}")


def _reject_null(value: Any) -> Any:
    """An item written without a value (YAML null) is an error, not a default."""
    if value is None:
        raise ValueError(NO_VALUE)
    return value


_NOT_NULL = BeforeValidator(_reject_null)


def _schema(**keywords: Any) -> Any:
    """JSON Schema keywords for editors; the validators above give the precise messages."""
    return Field(json_schema_extra=keywords)


def _shown(value: str) -> str:
    """``value`` quoted for a message, cut short: a hostile value may be a megabyte long."""
    return repr(value) if len(value) <= 80 else f"{value[:60]!r}... ({len(value)} characters)"


def _filled(text: str) -> str:
    return text.replace(_UUID_PLACEHOLDER, _SAMPLE_UUID)


def _unprintable(text: str) -> str | None:
    """The first control, whitespace or non-ASCII character of ``text``, described."""
    for char in text:
        if not ("\x21" <= char <= "\x7e"):
            return f"U+{ord(char):04X}"
    return None


# ------------------------------------------------------------------ host names


def dns_name(name: str, *, what: str = "host", wildcard: bool = False) -> str:
    """``name`` as it goes on the wire: an RFC 1123 host name, non-ASCII ones as their A-label.

    ``wildcard``: a leading ``*.`` label is allowed (certificate names).
    A trailing dot (a fully qualified name) is kept.
    """
    prefix = ""
    if wildcard and name.startswith("*."):
        prefix, name = "*.", name[2:]
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(
                f"{what} {_shown(name)} is not a host name (IDNA: {str(exc)[:120]})"
            ) from None
    body = name[:-1] if name.endswith(".") else name
    labels = body.split(".")
    if not body or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        allowed = "labels of letters, digits and inner '-', 1-63 characters, joined by '.'"
        raise ValueError(f"{what} {_shown(prefix + name)} is not a host name ({allowed})")
    if len(body) > 253:
        raise ValueError(f"{what} is {len(body)} characters long; a host name has at most 253")
    return prefix + name


def _ip_literal(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    # A scope (fe80::1%eth0) names an interface of this machine, not a destination.
    return not (isinstance(address, ipaddress.IPv6Address) and address.scope_id)


# ------------------------------------------------------------------ URL


def check_url(url: str) -> str:
    """An ``http(s)`` URL a request can be built from; a non-ASCII host becomes its A-label."""
    filled = _filled(url)
    if len(filled) > MAX_URL_LENGTH:
        raise ValueError(
            f"the URL is {len(filled)} characters long; at most {MAX_URL_LENGTH} "
            "(RFC 9112 3: the request-line length servers support)"
        )
    bad = next((c for c in filled if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        raise ValueError(
            f"the URL holds U+{ord(bad):04X} (whitespace or a control character); percent-encode it"
        )
    scheme, separator, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not separator:
        raise ValueError(f"not an http:// or https:// URL: {_shown(url)}")
    if "#" in rest:
        raise ValueError("a fragment (#...) is never sent; remove it or percent-encode '#' (%23)")
    end = min((i for i in (rest.find("/"), rest.find("?")) if i != -1), default=len(rest))
    authority, target = rest[:end], rest[end:]
    if "@" in authority:
        raise ValueError(
            "a URL with user information (user@host) is not sent (RFC 9110 4.2.4); "
            "send an Authorization header instead"
        )
    host, port = _split_authority(authority)
    if port is not None and not (_PORT.fullmatch(port) and 1 <= int(port) <= 65535):
        raise ValueError(f"port {_shown(port)}: a port is a number from 1 to 65535")
    bad = _unprintable(_filled(target))
    if bad is not None:
        raise ValueError(f"the path or query holds {bad}; percent-encode it (e.g. é as %C3%A9)")
    if host.startswith("["):
        if not (host.endswith("]") and ":" in host and _ip_literal(host[1:-1])):
            raise ValueError(f"host {_shown(host)} is not an IPv6 address in brackets (no zone)")
        return url
    if _ip_literal(host):
        return url
    if "*" in host:
        raise ValueError(f"host {_shown(host)}: a URL names one host, not a wildcard")
    if _UUID_PLACEHOLDER in host:
        # Checked as sent. Its A-label would change with each uuid, so only an ASCII
        # host (sent as written) may hold the placeholder.
        filled_host = _filled(host)
        if dns_name(filled_host) != filled_host:
            raise ValueError(
                f"host {_shown(host)}: a host with {_UUID_PLACEHOLDER} must be ASCII "
                "(write an internationalised name as its A-label, xn--...)"
            )
        return url
    normal_host = dns_name(host)
    if normal_host == host:
        return url
    # Only the host changes (to its A-label), so the request can carry it.
    return f"{scheme}://{normal_host}{f':{port}' if port is not None else ''}{target}"


def _split_authority(netloc: str) -> tuple[str, str | None]:
    """``host[:port]`` -> host, port (the port as written, None without ':')."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end == -1:
            return netloc, None
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError(f"unexpected {_shown(rest)} after the IPv6 address")
        return host, rest[1:]
    if not netloc:
        raise ValueError("the URL has no host")
    host, colon, port = netloc.partition(":")
    if not host:
        raise ValueError("the URL has no host")
    return host, port if colon else None


HttpURL = Annotated[
    str,
    _NOT_NULL,
    AfterValidator(check_url),
    _schema(pattern="^https?://", maxLength=MAX_URL_LENGTH, examples=["http://app.example.com/"]),
]
"""An http(s) URL: a host name or IP literal, port 1-65535, ASCII path and query, bounded."""


# ------------------------------------------------------------------ HTTP fields


def _header_name(name: str) -> str:
    if len(name) > MAX_HEADER_NAME_LENGTH:
        raise ValueError(f"a header name has at most {MAX_HEADER_NAME_LENGTH} characters")
    if not _TOKEN.fullmatch(name):
        raise ValueError(
            f"header name {_shown(name)} is not a token "
            "(RFC 9110 5.1: letters, digits and !#$%&'*+-.^_`|~; no ':' or spaces)"
        )
    return name


def _header_value(value: str) -> str:
    filled = _filled(value)
    if len(filled) > MAX_HEADER_VALUE_LENGTH:
        raise ValueError(
            f"a header value has at most {MAX_HEADER_VALUE_LENGTH} characters, "
            f"this one {len(filled)}"
        )
    if not _FIELD_VALUE.fullmatch(filled):
        bad = next((c for c in filled if not ("\x20" <= c <= "\x7e" or c == "\t")), None)
        if bad is not None:
            reason = f"holds U+{ord(bad):04X}; a header value is printable ASCII, spaces and tabs"
        else:
            reason = "starts or ends with whitespace, which is not sent (RFC 9110 5.5)"
        raise ValueError(f"header value {_shown(value)} {reason}")
    return value


HeaderName = Annotated[
    str,
    AfterValidator(_header_name),
    _schema(pattern=f"^{_TOKEN.pattern}$", maxLength=MAX_HEADER_NAME_LENGTH),
]
"""An HTTP field name: an RFC 9110 token."""

HeaderValue = Annotated[str, _NOT_NULL, AfterValidator(_header_value)]
"""An HTTP field value as sent: printable ASCII, inner spaces and tabs, bounded."""

Headers = Annotated[dict[HeaderName, HeaderValue], Field(max_length=MAX_HEADERS)]


def _method(method: str) -> str:
    if len(method) > MAX_METHOD_LENGTH or not _TOKEN.fullmatch(method):
        raise ValueError(
            f"not an HTTP method: {_shown(method)} (a token of at most "
            f"{MAX_METHOD_LENGTH} characters, e.g. GET, POST, M-SEARCH)"
        )
    return method.upper()


Method = Annotated[
    str,
    AfterValidator(_method),
    _schema(pattern=f"^{_TOKEN.pattern}$", maxLength=MAX_METHOD_LENGTH),
]
"""An HTTP method (a token), upper-cased."""


def _body(body: str) -> str:
    try:
        size = len(_filled(body).encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("the body is not encodable as UTF-8 (a lone surrogate?)") from None
    if size > MAX_BODY_BYTES:
        raise ValueError(f"the body is {size} bytes in UTF-8; at most {MAX_BODY_BYTES} (1 MiB)")
    return body


Body = Annotated[str, AfterValidator(_body)]
"""A request body, sent as UTF-8, at most 1 MiB."""


# ------------------------------------------------------------------ durations


def _at_most(maximum: float, *, zero: bool, minimum: float = 0.0) -> Callable[[float], float]:
    def check(seconds: float) -> float:
        if not math.isfinite(seconds) or seconds > maximum:
            raise ValueError(f"{format_duration(seconds)} is too long: at most {maximum:g}s")
        if not zero and seconds <= 0:
            raise ValueError("must be above 0s")
        if seconds < minimum:
            raise ValueError(f"at least {format_duration(minimum)}")
        return seconds

    return check


# Below a millisecond no answer can arrive, and the bulk sender's deadline
# watch (a tenth of the timeout) would spin.
MIN_REQUEST_TIMEOUT = 0.001

RequestTimeout = Annotated[
    Duration,
    AfterValidator(_at_most(MAX_REQUEST_TIMEOUT, zero=False, minimum=MIN_REQUEST_TIMEOUT)),
]
"""A request timeout: 1 ms to 60 s."""

MisbehaviourDelay = Annotated[Duration, AfterValidator(_at_most(MAX_DELAY, zero=False))]
"""How long a misbehaving replica waits: above 0, at most 60 s."""

LatencyBound = Annotated[Duration, AfterValidator(_at_most(MAX_DELAY, zero=True))]
"""A latency bound: 0 to 60 s."""


# ------------------------------------------------------------------ TLS


def _server_name(name: str) -> str:
    if name == "none":
        return name
    if _ip_literal(name.strip("[]")):
        raise ValueError(
            f"SNI {_shown(name)}: an SNI is a host name, never an IP address (RFC 6066 3)"
        )
    if "*" in name:
        raise ValueError(f"SNI {_shown(name)}: an SNI names one host, not a wildcard")
    return dns_name(name, what="SNI")


ServerName = Annotated[str, AfterValidator(_server_name)]
"""``tls.sni``: a host name (an A-label if non-ASCII), or ``none`` for no SNI."""


def _alpn(protocol: str) -> str:
    if not 1 <= len(protocol) <= 255 or _unprintable(protocol) is not None:
        raise ValueError(
            f"ALPN protocol {_shown(protocol)}: "
            "1-255 printable ASCII characters (e.g. h2, http/1.1)"
        )
    return protocol


AlpnProtocol = Annotated[str, _NOT_NULL, AfterValidator(_alpn)]
"""An ALPN protocol ID (RFC 7301), as Python's ``ssl`` can offer it."""


def _cipher(name: str) -> str:
    if not _CIPHER.fullmatch(name):
        raise ValueError(
            f"cipher {_shown(name)}: an OpenSSL cipher name (letters, digits, '-', '_'), "
            "e.g. ECDHE-RSA-AES128-GCM-SHA256"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # As the client offers them when versions are pinned (ClientTLS.context).
            context.set_ciphers(f"{name}:@SECLEVEL=0")
    except ssl.SSLError:
        raise ValueError(
            f"cipher {_shown(name)} is unknown to this OpenSSL ({ssl.OPENSSL_VERSION}); "
            "TLS 1.2 and older OpenSSL names only (TLS 1.3 suites cannot be chosen)"
        ) from None
    return name


CipherName = Annotated[str, _NOT_NULL, AfterValidator(_cipher)]
"""A cipher the client can offer: an OpenSSL name for TLS 1.2 and below."""


# ------------------------------------------------------------------ Kubernetes names


def _dns_label(name: str) -> str:
    if not _K8S_LABEL.fullmatch(name):
        raise ValueError(
            f"{_shown(name)} is not a DNS label (lower-case letters, digits and inner '-', "
            "at most 63 characters)"
        )
    return name


DNSLabel = Annotated[str, AfterValidator(_dns_label), _schema(pattern=f"^{_K8S_LABEL.pattern}$")]
"""An RFC 1123 label as Kubernetes names ports: lower case, at most 63 characters."""


def _service_name(name: str) -> str:
    if "*" in name:
        raise ValueError(f"service name {_shown(name)}: a service is one host, not a wildcard")
    if not name.isascii() or name != name.lower() or name.endswith("."):
        raise ValueError(
            f"service name {_shown(name)}: lower-case ASCII (an A-label if need be), no final '.'"
        )
    return dns_name(name, what="service name")


ServiceName = Annotated[
    str, AfterValidator(_service_name), _schema(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
"""A service's name: a host name (a DNS-1035 label unless the service is external)."""


_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def external_host_name(name: str) -> str:
    """An ExternalName Service's ``externalName``, as Kubernetes validates it.

    ``ValidateService``: a DNS-1123 subdomain (lower case, at most 253
    characters), a trailing dot allowed (a CNAME written fully qualified).
    """
    bare = name[:-1] if name.endswith(".") else name
    if not bare or len(bare) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(bare):
        raise ValueError(
            f"externalName {_shown(name)}: Kubernetes wants a DNS-1123 subdomain "
            "(lower-case labels of letters, digits and inner '-', dot-separated, at most 253)"
        )
    return bare


def kubernetes_service_name(name: str) -> str:
    """Kubernetes Service names are DNS-1035 labels (``IsDNS1035Label``)."""
    if not _K8S_SERVICE.fullmatch(name):
        raise ValueError(
            f"service name {_shown(name)}: a Kubernetes Service name is a DNS-1035 label "
            "(a letter, then lower-case letters, digits and inner '-', at most 63); "
            "a dotted host needs external: true"
        )
    return name


ExternalHostName = Annotated[str, AfterValidator(external_host_name)]
"""An ExternalName Service's host (its trailing dot dropped)."""


def _cert_host(host: str) -> str:
    if _ip_literal(host):
        return host
    name = dns_name(host, what="host", wildcard=True)
    try:
        # trustme encodes every name so (IDNA 2008), and refuses what this refuses.
        idna.encode(name[2:] if name.startswith("*.") else name, uts46=True)
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(
            f"host {_shown(host)} cannot be a certificate name (IDNA: {str(exc)[:120]})"
        ) from None
    return name


CertificateHost = Annotated[str, _NOT_NULL, AfterValidator(_cert_host)]
"""A certificate's name: a host name (``*.`` wildcard allowed) or an IP address."""


def _label_key(key: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not all(_K8S_LABEL.fullmatch(p) for p in prefix.split("."))):
        raise ValueError(f"label key {_shown(key)}: its prefix is not a DNS subdomain")
    if not _QUALIFIED_NAME.fullmatch(name):
        raise ValueError(
            f"label key {_shown(key)}: [prefix/]name, the name at most 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return key


def _label_value(value: str) -> str:
    if value and not _QUALIFIED_NAME.fullmatch(value):
        raise ValueError(
            f"label value {_shown(value)}: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit (or empty)"
        )
    return value


LabelKey = Annotated[str, AfterValidator(_label_key)]
"""A Kubernetes label key: ``[prefix/]name``."""

LabelValue = Annotated[str, _NOT_NULL, AfterValidator(_label_value)]
"""A Kubernetes label value: at most 63 characters, possibly empty."""

Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=MAX_LABELS)]

AppProtocol = Annotated[str, AfterValidator(_label_key)]
"""A Service port's ``appProtocol``: a qualified name (``http``, ``kubernetes.io/h2c``)."""
