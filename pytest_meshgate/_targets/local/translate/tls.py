"""TLS for proxies: credentials from Kubernetes Secrets, mesh certificates, Envoy TLS contexts.

Istio serves ``credentialName`` certificates over SDS (``pilot/pkg/xds/sds.go``);
the local target puts the same PEM inline (``inline_string``) into the xDS
files, which the target writes 0600 in a 0700 directory. The mesh workload
certificate and root (SDS ``default`` and ``ROOTCA``, used by ISTIO_MUTUAL) are
referenced by file name (``MeshIdentity``). Nothing here logs or repeats key
material: errors name the secret and the key, never the contents.

A secret that cannot be resolved (missing, missing key, not PEM, key not
matching the certificate) raises ``CredentialError``. The callers then leave
out what the secret feeds, which is what Istio's behaviour looks like from
outside: an Envoy whose SDS secret never arrives keeps that filter chain (or
cluster) warming, so only that server's handshakes fail
(``TestMultiTlsGateway_InvalidSecret``) and requests to that cluster get a 503
(``TestSimpleTlsOrigination`` "missing secret").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ...._cases.model.istio import ClientTLSSettings, ServerTLSSettings
from ..world import MeshIdentity, World
from .common import Json

__all__ = [
    "CONFIG_MAP_PREFIX",
    "DOWNSTREAM_TLS_TYPE",
    "GATEWAY_SECRET_PREFIX",
    "INVALID_CREDENTIAL",
    "SDS_CA_SUFFIX",
    "TLS_TRANSPORT_SOCKET",
    "UPSTREAM_TLS_TYPE",
    "VALID_CIPHER_SUITES",
    "CaBundle",
    "CredentialError",
    "KeyPair",
    "UpstreamTls",
    "credential_location",
    "downstream_tls_context",
    "extract_root",
    "filter_cipher_suites",
    "resolve_ca",
    "resolve_key_pair",
    "san_matchers",
    "transport_socket",
    "upstream_tls",
]

DOWNSTREAM_TLS_TYPE = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
)
UPSTREAM_TLS_TYPE = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
)
TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"
SDS_CA_SUFFIX = "-cacert"  # credentials.SdsCaSuffix

# pkg/config/security/security.go ValidCipherSuites: anything else would make Envoy NACK.
VALID_CIPHER_SUITES = frozenset(
    {
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-RSA-AES256-SHA",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
        "AES128-SHA",
        "AES256-SHA",
        "DES-CBC3-SHA",
    }
)

# Istio ServerTLSSettings.TLSProtocol -> Envoy TlsParameters.TlsProtocol (same numbering).
_TLS_VERSIONS = {
    "TLSV1_0": "TLSv1_0",
    "TLSV1_1": "TLSv1_1",
    "TLSV1_2": "TLSv1_2",
    "TLSV1_3": "TLSv1_3",
}
ALPN_HTTP = ["h2", "http/1.1"]  # util.ALPNHttp, advertised by terminating gateway servers
ALPN_H2_ONLY = ["h2"]  # util.ALPNH2Only, upstream TLS to an HTTP/2 cluster
# Mesh mTLS (util.ALPNInMeshWithMxc, ALPNInMeshH2WithMxc, ALPNDownstreamWithMxc):
# plain strings to Envoy; the metadata exchange filter they announce is
# Istio's own and not part of upstream Envoy, so only the ALPN is kept.
ALPN_IN_MESH = ["istio-peer-exchange", "istio"]
ALPN_IN_MESH_H2 = ["istio-peer-exchange", "istio", "h2"]
ALPN_DOWNSTREAM_MESH_TCP = ["istio-peer-exchange", "h2", "http/1.1"]

# Secret keys (pilot/pkg/credentials/kube/secrets.go).
_GENERIC = ("cert", "key", "crl")
_TLS = ("tls.crt", "tls.key", "ca.crl")
_CA_KEYS = (("cacert", "crl"), ("ca.crt", "ca.crl"))


class CredentialError(Exception):
    """A credential cannot be turned into a TLS context; the message names no key material."""


@dataclass(frozen=True)
class KeyPair:
    """A certificate chain and its private key (PEM text), plus an optional CRL."""

    cert_chain: str
    private_key: str = field(repr=False)


@dataclass(frozen=True)
class CaBundle:
    """Trusted CA certificates (PEM text) and an optional CRL."""

    certificates: str
    crl: str | None = None


def filter_cipher_suites(suites: Sequence[str]) -> list[str]:
    """``security.FilterCipherSuites``: drop unknown names and repeats, keep the order.

    Istio keeps the empty string (``IsValidCipherSuite("")`` is true); it would
    only make Envoy NACK, so it is dropped here too.
    """
    out: list[str] = []
    for suite in suites:
        if suite in VALID_CIPHER_SUITES and suite not in out:
            out.append(suite)
    return out


# --------------------------------------------------------------------- credentials


def _value(data: Mapping[str, bytes], key: str) -> bytes | None:
    value = data.get(key)
    if value is None or len(value) == 0:
        return None
    return bytes(value)


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise CredentialError(f"{what} is not PEM text") from None


def _certificates(value: bytes, what: str) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(value)
    except ValueError:
        raise CredentialError(f"{what} is not a PEM certificate") from None
    if not certificates:
        raise CredentialError(f"{what} holds no certificate")
    return certificates


def _check_crl(value: bytes, what: str) -> None:
    try:
        x509.load_pem_x509_crl(value)
    except ValueError:
        raise CredentialError(f"{what} is not a PEM CRL") from None


def _public_key_bytes(key: object) -> bytes:
    public = key.public_key()  # type: ignore[attr-defined]
    der: bytes = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


# credentials.KubernetesGatewaySecretType: what the Gateway API conversion names a
# certificateRef, whose namespace it checked against ReferenceGrants.
GATEWAY_SECRET_PREFIX = "kubernetes-gateway://"
# credentials.KubernetesConfigMapTypeURI: a CA in a ConfigMap (a BackendTLSPolicy's
# caCertificateRefs), and InvalidSecretTypeURI, which the Gateway API conversion names
# for a CA reference it could not resolve, so that traffic is blocked.
CONFIG_MAP_PREFIX = "configmap://"
INVALID_CREDENTIAL = "invalid://"


def credential_location(namespace: str, name: str) -> tuple[str, str]:
    """``credentials.ParseResourceName``: ``kubernetes-gateway://ns/name`` names its namespace."""
    if name.startswith(GATEWAY_SECRET_PREFIX):
        ref_ns, _, ref_name = name.removeprefix(GATEWAY_SECRET_PREFIX).partition("/")
        return ref_ns, ref_name
    return namespace, name


def resolve_key_pair(world: World, namespace: str, name: str) -> KeyPair:
    """``ExtractCertInfo``: generic ``cert``/``key`` first, then ``tls.crt``/``tls.key``.

    Checks what Envoy would reject when loading the secret: PEM that does not
    parse, and a key that does not belong to the leaf certificate.
    """
    namespace, name = credential_location(namespace, name)
    data = world.secrets.get((namespace, name))
    if data is None:
        raise CredentialError(f"secret {namespace}/{name} not found")
    for cert_key, key_key, _ in (_GENERIC, _TLS):
        cert = _value(data, cert_key)
        key = _value(data, key_key)
        if cert is not None and key is not None:
            break
    else:
        present = sorted(k for k in data if k in (*_GENERIC[:2], *_TLS[:2]))
        raise CredentialError(
            f"secret {namespace}/{name} has no certificate and key "
            f"(needs cert+key or tls.crt+tls.key; found {present or 'neither'})"
        )
    where = f"secret {namespace}/{name} key {cert_key!r}"
    leaf = _certificates(cert, where)[0]
    try:
        private_key = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError):
        raise CredentialError(
            f"secret {namespace}/{name} key {key_key!r} is not a PEM private key"
        ) from None
    if _public_key_bytes(private_key) != _public_key_bytes(leaf):
        raise CredentialError(
            f"secret {namespace}/{name}: the private key does not match the certificate"
        )
    return KeyPair(cert_chain=_text(cert, where), private_key=_text(key, where))


def extract_root(data: Mapping[str, Any]) -> str | None:
    """``kubesecrets.ExtractRoot``: None when ``data`` holds a non-empty ``cacert`` or
    ``ca.crt``, else why not (as istiod words it)."""
    names = [key for key, _ in _CA_KEYS]
    if any(data.get(key) for key in names):
        return None
    for key in names:
        if key in data:
            return f'found key "{key}", but it was empty'
    found = ", ".join(sorted(data)) or "[]"
    return f"found secret, but didn't have expected keys cacert or ca.crt; found: {found}"


def resolve_ca(world: World, namespace: str, resource: str) -> CaBundle:
    """``GetCaCert`` + ``ExtractRoot`` for an SDS CA resource name such as ``foo-cacert``.

    The secret named ``resource`` is used when it exists; otherwise the one
    without the ``-cacert`` suffix. Keys: generic ``cacert`` first, then ``ca.crt``,
    each with its CRL (``crl``/``ca.crl``).
    """
    if resource.startswith(CONFIG_MAP_PREFIX):
        return _config_map_ca(world, resource)
    if resource.startswith(INVALID_CREDENTIAL):
        raise CredentialError("an invalid CA reference (the BackendTLSPolicy's status says why)")
    namespace, resource = credential_location(namespace, resource)
    data = world.secrets.get((namespace, resource))
    name = resource
    if data is None:
        name = resource.removesuffix(SDS_CA_SUFFIX)
        data = world.secrets.get((namespace, name))
        if data is None:
            raise CredentialError(f"secret {namespace}/{name} not found (for its CA certificate)")
    found = next(((k, c) for k, c in _CA_KEYS if _value(data, k) is not None), None)
    if found is None:
        raise CredentialError(
            f"secret {namespace}/{name} has no CA certificate (needs cacert or ca.crt; "
            f"or a separate secret {name}{SDS_CA_SUFFIX})"
        )
    ca_key, crl_key = found
    ca = data[ca_key]
    where = f"secret {namespace}/{name} key {ca_key!r}"
    _certificates(ca, where)
    crl = _value(data, crl_key)
    if crl is not None:
        _check_crl(crl, f"secret {namespace}/{name} key {crl_key!r}")
    return CaBundle(
        certificates=_text(ca, where),
        crl=_text(crl, f"secret {namespace}/{name} key {crl_key!r}") if crl is not None else None,
    )


def _config_map_ca(world: World, resource: str) -> CaBundle:
    """``GetConfigMapCaCert``: ``configmap://ns/name`` (its ``-cacert`` suffix dropped),
    then ``ExtractRoot`` on the ConfigMap's data (``cacert``, else ``ca.crt``)."""
    location = resource.removeprefix(CONFIG_MAP_PREFIX).removesuffix(SDS_CA_SUFFIX)
    namespace, _, name = location.partition("/")
    data = world.config_maps.get((namespace, name))
    if data is None:
        raise CredentialError(f"configmap {namespace}/{name} not found")
    key = next((k for k, _ in _CA_KEYS if data.get(k)), None)
    if key is None:
        raise CredentialError(
            f"configmap {namespace}/{name} has no CA certificate (needs cacert or ca.crt)"
        )
    where = f"configmap {namespace}/{name} key {key!r}"
    pem = data[key].encode()
    _certificates(pem, where)
    return CaBundle(certificates=_text(pem, where), crl=None)


# --------------------------------------------------------------------- building blocks


def san_matchers(names: Sequence[str]) -> list[Json]:
    """Istio's ``match_subject_alt_names`` (exact, any SAN type), in the typed form.

    The untyped field is deprecated; one exact matcher per SAN type keeps its
    meaning (a name matches whichever kind of SAN carries it).
    """
    out: list[Json] = []
    for name in names:
        types = ["DNS", "URI", "EMAIL"]
        try:
            ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            types.append("IP_ADDRESS")
        out.extend({"san_type": t, "matcher": {"exact": name}} for t in types)
    return out


def _tls_certificate(pair: KeyPair) -> Json:
    return {
        "certificate_chain": {"inline_string": pair.cert_chain},
        "private_key": {"inline_string": pair.private_key},
    }


def _validation_context(ca: CaBundle | None, sans: Sequence[str]) -> Json:
    out: Json = {}
    if ca is not None:
        out["trusted_ca"] = {"inline_string": ca.certificates}
        if ca.crl is not None:
            out["crl"] = {"inline_string": ca.crl}
    if sans:
        out["match_typed_subject_alt_names"] = san_matchers(sans)
    return out


def transport_socket(context: Json) -> Json:
    return {"name": TLS_TRANSPORT_SOCKET, "typed_config": context}


# --------------------------------------------------------------------- downstream


class UnsupportedServerTLS(Exception):
    """A ServerTLSSettings field the local target cannot honour; carries the field path."""

    def __init__(self, field_path: str, detail: str = "") -> None:
        super().__init__(field_path)
        self.field_path = field_path
        self.detail = detail


def _server_credentials(tls: ServerTLSSettings) -> list[str]:
    if tls.credential_names:
        return list(tls.credential_names)
    if tls.credential_name:
        return [tls.credential_name]
    return []


def downstream_tls_context(
    world: World,
    namespace: str,
    tls: ServerTLSSettings,
    *,
    identity: MeshIdentity | None = None,
    tcp: bool = False,
) -> Json:
    """``BuildListenerTLSContext`` for a SIMPLE, MUTUAL, OPTIONAL_MUTUAL or ISTIO_MUTUAL server.

    ``namespace`` is where ``credentialName`` resolves: the gateway proxy's
    namespace, whatever namespace the Gateway is in (``mergeGateways``,
    ``sds.go`` ``filterAuthorizedResources``). ISTIO_MUTUAL serves the proxy's
    mesh ``identity``; ``tcp`` says the server terminates TLS into TCP routes
    (other ALPNs then). Raises ``CredentialError`` when a secret is unusable
    and ``UnsupportedServerTLS`` for fields needing files, or for ISTIO_MUTUAL
    on a proxy without a mesh identity.
    """
    mode = tls.mode
    if mode == "ISTIO_MUTUAL":
        return _istio_mutual_downstream(tls, identity, tcp=tcp)
    for name in ("server_certificate", "private_key", "ca_certificates", "ca_crl"):
        if getattr(tls, name):
            alias = ServerTLSSettings.model_fields[name].alias or name
            raise UnsupportedServerTLS(
                f"tls.{alias}", "file-mounted certificates; use credentialName"
            )
    if tls.tls_certificates:
        raise UnsupportedServerTLS(
            "tls.tlsCertificates", "file-mounted certificates; use credentialName"
        )
    names = _server_credentials(tls)
    if not names:
        # Istio's validation requires a credential for these modes; without one
        # there is nothing to serve, so the server gets no filter chain.
        raise CredentialError(f"tls.mode {mode} without credentialName")
    pairs = [resolve_key_pair(world, namespace, n) for n in names]

    common: Json = {
        "alpn_protocols": list(ALPN_HTTP),
        "tls_certificates": [_tls_certificate(p) for p in pairs],
    }
    context: Json = {
        "@type": DOWNSTREAM_TLS_TYPE,
        "common_tls_context": common,
        "require_client_certificate": mode == "MUTUAL",
    }
    if mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
        # ApplyCredentialSDSToServerCommonTLSContext: the CA is "<first name>-cacert"
        # unless caCertCredentialName names it.
        ca_resource = tls.ca_cert_credential_name or names[0] + SDS_CA_SUFFIX
        ca = resolve_ca(world, namespace, ca_resource)
        validation = _validation_context(ca, tls.subject_alt_names)
        if tls.verify_certificate_spki:
            validation["verify_certificate_spki"] = list(tls.verify_certificate_spki)
        if tls.verify_certificate_hash:
            validation["verify_certificate_hash"] = list(tls.verify_certificate_hash)
        if tls.insecure_skip_verify:
            validation["trust_chain_verification"] = "ACCEPT_UNTRUSTED"
        common["validation_context"] = validation
    # SIMPLE with subjectAltNames: Istio adds a SAN-only validation context, which
    # Envoy refuses without a trusted CA; no client certificate is asked for
    # anyway, so it is left out here.

    # applyServerTLSSettings (SIMPLE, MUTUAL, OPTIONAL_MUTUAL); TLS_AUTO sets nothing,
    # so Envoy's own defaults apply (TLS 1.2 minimum, 1.3 maximum for servers).
    params: Json = {}
    if tls.min_protocol_version in _TLS_VERSIONS:
        params["tls_minimum_protocol_version"] = _TLS_VERSIONS[tls.min_protocol_version]
    ciphers = filter_cipher_suites(tls.cipher_suites)
    if ciphers:
        params["cipher_suites"] = ciphers
    if tls.max_protocol_version in _TLS_VERSIONS:
        params["tls_maximum_protocol_version"] = _TLS_VERSIONS[tls.max_protocol_version]
    if params:
        common["tls_params"] = params
    return context


def _mesh_certificate(identity: MeshIdentity) -> Json:
    """SDS ``default``: the workload certificate, by file (never inline)."""
    return {
        "certificate_chain": {"filename": identity.cert_chain_file},
        "private_key": {"filename": identity.private_key_file},
    }


def _mesh_validation(identity: MeshIdentity, sans: Sequence[str]) -> Json:
    """SDS ``ROOTCA`` plus the exact SAN matchers Istio puts next to it."""
    out: Json = {"trusted_ca": {"filename": identity.root_ca_file}}
    if sans:
        out["match_typed_subject_alt_names"] = san_matchers(sans)
    return out


def _istio_mutual_downstream(
    tls: ServerTLSSettings, identity: MeshIdentity | None, *, tcp: bool
) -> Json:
    """``ApplyToCommonTLSContext`` for ISTIO_MUTUAL: mesh cert, client cert required.

    Peers are verified against the mesh root; ``subjectAltNames`` narrows them
    to those identities. Versions and ciphers are not applied (Istio applies them
    to SIMPLE and the MUTUAL modes only); certificate file fields are ignored.
    """
    if identity is None:
        raise UnsupportedServerTLS("tls.mode", "ISTIO_MUTUAL needs a mesh identity for the proxy")
    if tls.ca_crl:
        raise UnsupportedServerTLS("tls.caCrl", "a CRL file")
    return {
        "@type": DOWNSTREAM_TLS_TYPE,
        "common_tls_context": {
            "alpn_protocols": list(ALPN_DOWNSTREAM_MESH_TCP if tcp else ALPN_HTTP),
            "tls_certificates": [_mesh_certificate(identity)],
            "validation_context": _mesh_validation(identity, tls.subject_alt_names),
        },
        "require_client_certificate": True,
    }


# --------------------------------------------------------------------- upstream


@dataclass(frozen=True)
class UpstreamTls:
    """A cluster's TLS origination: its transport socket and ``upstream_http_protocol_options``."""

    transport_socket: Json
    http_options: Json  # auto_sni / auto_san_validation, possibly empty


def _tls_params() -> Json:
    # defaultUpstreamCommonTLSContext(): Envoy's client default would be TLS 1.2 only.
    return {"tls_maximum_protocol_version": "TLSv1_3", "tls_minimum_protocol_version": "TLSv1_2"}


def _istio_mutual_upstream(
    tls: ClientTLSSettings,
    identity: MeshIdentity | None,
    *,
    http2: bool,
    default_sni: str,
    service_accounts: Sequence[str],
) -> UpstreamTls:
    """ISTIO_MUTUAL (``buildUpstreamTLSSettings`` + ``buildUpstreamClusterTLSContext``).

    The proxy's workload certificate, the mesh root, SNI as given or the
    cluster's DNS-SRV key, SANs as given or the destination's service accounts,
    Istio's in-mesh ALPN. No auto SNI or SAN validation (they are for SIMPLE and
    MUTUAL); ``insecureSkipVerify`` only matters for dynamic forward proxies.
    """
    if identity is None:
        raise CredentialError("ISTIO_MUTUAL: the proxy has no mesh identity")
    sans = tls.subject_alt_names or list(service_accounts)
    context: Json = {
        "@type": UPSTREAM_TLS_TYPE,
        "common_tls_context": {
            "tls_params": _tls_params(),
            "tls_certificates": [_mesh_certificate(identity)],
            "validation_context": _mesh_validation(identity, sans),
            "alpn_protocols": list(ALPN_IN_MESH_H2 if http2 else ALPN_IN_MESH),
        },
        "sni": tls.sni or default_sni,
    }
    return UpstreamTls(transport_socket=transport_socket(context), http_options={})


def upstream_tls(
    world: World,
    namespace: str,
    tls: ClientTLSSettings,
    *,
    http2: bool,
    identity: MeshIdentity | None = None,
    default_sni: str = "",
    service_accounts: Sequence[str] = (),
    external: bool = False,
) -> UpstreamTls | None:
    """``buildUpstreamClusterTLSContext``: DISABLE (None), SIMPLE, MUTUAL, ISTIO_MUTUAL.

    ``namespace`` is the proxy's: a DestinationRule ``credentialName`` is read
    there (client certificate and key for MUTUAL, and the CA from
    ``<name>-cacert`` or the secret's ``ca.crt``). Without a credentialName the
    CA is the system trust store (``caCertificates`` defaults to "system").
    ISTIO_MUTUAL uses the proxy's mesh ``identity``, ``default_sni`` (the
    DNS-SRV cluster key) and the destination's ``service_accounts``, which
    SIMPLE and MUTUAL also verify for an ``external`` (ServiceEntry) host
    without subjectAltNames (``constructUpstreamTLS``). Raises
    ``CredentialError`` when a secret, the system store or the mesh identity
    is unusable. The caller rejects file paths before calling.
    """
    if tls.mode == "DISABLE":
        return None
    if tls.mode == "ISTIO_MUTUAL":
        return _istio_mutual_upstream(
            tls,
            identity,
            http2=http2,
            default_sni=default_sni,
            service_accounts=service_accounts,
        )
    insecure = bool(tls.insecure_skip_verify)
    # Computed from the DestinationRule's own SANs, before a ServiceEntry's are added.
    auto_san = not tls.sni and not tls.subject_alt_names and not insecure
    if external and not tls.subject_alt_names and service_accounts:
        tls = tls.model_copy(update={"subject_alt_names": list(service_accounts)})
    common: Json = {"tls_params": _tls_params()}
    if tls.credential_name:
        # ApplyCustomSDSToClientCommonTLSContext
        if tls.mode == "MUTUAL":
            pair = resolve_key_pair(world, namespace, tls.credential_name)
            common["tls_certificates"] = [_tls_certificate(pair)]
        if not insecure:
            ca = resolve_ca(world, namespace, tls.credential_name + SDS_CA_SUFFIX)
            common["validation_context"] = _validation_context(ca, tls.subject_alt_names)
    else:
        if insecure:
            common["validation_context"] = {}
        else:
            if world.system_ca_file is None:
                raise CredentialError("no system trust store found for caCertificates 'system'")
            validation: Json = {"trusted_ca": {"filename": world.system_ca_file}}
            if tls.subject_alt_names:
                validation["match_typed_subject_alt_names"] = san_matchers(tls.subject_alt_names)
            common["validation_context"] = validation
    if http2:
        common["alpn_protocols"] = list(ALPN_H2_ONLY)
    context: Json = {"@type": UPSTREAM_TLS_TYPE, "common_tls_context": common}
    if tls.sni:
        context["sni"] = tls.sni
    # setAutoSniAndAutoSanValidation(): auto_sni without an explicit sni; SAN
    # validation of that name when no SANs are given and verification is on.
    options: Json = {}
    if not tls.sni:
        options["auto_sni"] = True
        if auto_san:
            options["auto_san_validation"] = True
    return UpstreamTls(transport_socket=transport_socket(context), http_options=options)
