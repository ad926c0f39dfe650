"""TLS material for cases, generated per run with trustme and kept in private files.

Nothing here is ever committed, printed or written to a file: keys live in
memory, and the harness's own TLS contexts (client certificates, echo
backends) load them from memory (``_exchange.tlskeys``). Messages identify
certificates by subject and SHA-256 fingerprint only.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .._cases.model.case import Case
from .._cases.model.workloads import Secret
from .._exchange.records import Credential

__all__ = [
    "DEFAULT_CA",
    "MAX_COMMON_NAME",
    "CaseSecrets",
    "Material",
    "SecretStore",
    "common_name_for",
    "describe_certificate",
    "generate_case_secrets",
]

DEFAULT_CA = "default"


# RFC 5280's ub-common-name: a longer common name cannot be encoded at all.
MAX_COMMON_NAME = 64


def common_name_for(names: list[str]) -> str | None:
    """The first name short enough to be a certificate's common name, if any.

    Clients match the subjectAltNames; the common name is only what messages
    and old tools show, so a certificate for long names simply has none.
    """
    return next((name for name in names if len(name) <= MAX_COMMON_NAME), None)


def describe_certificate(pem: bytes) -> str:
    """``CN=app.example.com (SAN app.example.com), issuer O=..., sha256 1a:2b:...``."""
    certificate = x509.load_pem_x509_certificate(pem)
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = ", ".join(str(n.value) for n in sans.value)
    except x509.ExtensionNotFound:
        names = "none"
    digest = certificate.fingerprint(hashes.SHA256()).hex(":")[:29]
    return (
        f"{certificate.subject.rfc4514_string() or '(empty subject)'} (SAN {names}), "
        f"issuer {certificate.issuer.rfc4514_string()}, sha256 {digest}..."
    )


@dataclass(frozen=True)
class Material:
    """One generated secret of a case: PEM blobs and its Kubernetes Secret data."""

    secret: Secret
    cert_pem: bytes | None = None  # leaf and chain, for server/mutual/client
    key_pem: bytes | None = field(default=None, repr=False)
    ca_pem: bytes | None = None  # the issuer (mutual, trust) or the CA itself (ca)

    @property
    def data(self) -> dict[str, bytes]:
        """The keys of the Kubernetes Secret, as Istio reads them (tls.* or generic)."""
        generic = self.secret.format == "generic"
        data: dict[str, bytes] = {}
        if self.cert_pem is not None and self.key_pem is not None:
            data["cert" if generic else "tls.crt"] = self.cert_pem
            data["key" if generic else "tls.key"] = self.key_pem
        if self.ca_pem is not None and self.secret.type in ("mutual", "ca", "trust"):
            data["cacert" if generic else "ca.crt"] = self.ca_pem
        return data

    def credential(self) -> Credential:
        """The PEM blobs as the Python API hands them to a user's own client."""
        secret = self.secret
        return Credential(secret.name, secret.type, self.cert_pem, self.key_pem, self.ca_pem)

    def describe(self) -> str:
        pem = self.cert_pem or self.ca_pem
        what = describe_certificate(pem) if pem else "no certificate"
        return f"secret {self.secret.name} ({self.secret.type}): {what}"


@dataclass
class CaseSecrets:
    """A case's generated secrets by name, and the CAs it may trust by name."""

    materials: dict[str, Material]
    cas: dict[str, trustme.CA]

    def kubernetes_secrets(self) -> dict[tuple[str, str], dict[str, bytes]]:
        """``(namespace, name) -> data`` for every secret published in a namespace."""
        return {
            (m.secret.namespace, m.secret.name): m.data
            for m in self.materials.values()
            if m.secret.namespace is not None and m.data and m.secret.kind == "Secret"
        }

    def kubernetes_config_maps(self) -> dict[tuple[str, str], dict[str, str]]:
        """``(namespace, name) -> data`` for every CA published as a ConfigMap (``ca.crt``)."""
        return {
            (m.secret.namespace, m.secret.name): {
                key: value.decode("ascii") for key, value in m.data.items()
            }
            for m in self.materials.values()
            if m.secret.namespace is not None and m.data and m.secret.kind == "ConfigMap"
        }

    def ca_pem(self, name: str) -> bytes:
        return self.cas[name].cert_pem.bytes()

    def credentials(self) -> dict[str, Credential]:
        """Every generated secret by name, as PEM (``Deployment.credentials``)."""
        return {name: material.credential() for name, material in self.materials.items()}


class SecretStore:
    """Generates and holds TLS material for a session; see the module docstring."""

    def __init__(self) -> None:
        self.default_ca = trustme.CA(organization_name="meshgate default CA")

    def close(self) -> None:
        """Nothing to remove: the store keeps no files."""

    def for_case(self, case: Case) -> CaseSecrets:
        """Generate the case's secrets, issued under this session's default CA."""
        return generate_case_secrets(case, self.default_ca)


def generate_case_secrets(case: Case, default_ca: trustme.CA) -> CaseSecrets:
    """A case's secrets: its CAs first (``default`` is given), then what they issue.

    The one place that knows what each secret type generates; the local
    target and the Kubernetes target both publish its ``Material.data``.
    """
    cas: dict[str, trustme.CA] = {DEFAULT_CA: default_ca}
    materials: dict[str, Material] = {}
    for secret in case.spec.secrets:
        if secret.type == "ca":
            ca = trustme.CA(organization_name=f"meshgate {case.name} {secret.name}")
            cas[secret.name] = ca
            materials[secret.name] = Material(secret, ca_pem=ca.cert_pem.bytes())
    for secret in case.spec.secrets:
        if secret.type == "ca":
            continue
        issuer = cas[secret.issuer]
        if secret.type == "trust":
            materials[secret.name] = Material(secret, ca_pem=issuer.cert_pem.bytes())
            continue
        not_before, not_after = _validity(secret)
        leaf = issuer.issue_cert(
            *secret.hosts,
            common_name=secret.hosts[0],
            not_before=not_before,
            not_after=not_after,
        )
        chain = [blob.bytes() for blob in leaf.cert_chain_pems]
        if secret.uris:
            chain[0] = _with_uris(chain[0], issuer, secret.uris)
        materials[secret.name] = Material(
            secret,
            cert_pem=b"".join(chain),
            key_pem=leaf.private_key_pem.bytes(),
            ca_pem=issuer.cert_pem.bytes(),
        )
    return CaseSecrets(materials, cas)


def _with_uris(leaf_pem: bytes, issuer: trustme.CA, uris: list[str]) -> bytes:
    """The leaf re-signed by its issuer with URI subjectAltNames added (trustme issues
    DNS, IP and e-mail names only); same key, serial, validity and other extensions."""
    leaf = x509.load_pem_x509_certificate(leaf_pem)
    builder = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(leaf.issuer)
        .public_key(leaf.public_key())
        .serial_number(leaf.serial_number)
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
    )
    for extension in leaf.extensions:
        value = extension.value
        if isinstance(value, x509.SubjectAlternativeName):
            value = x509.SubjectAlternativeName(
                [*value, *(x509.UniformResourceIdentifier(uri) for uri in uris)]
            )
        builder = builder.add_extension(value, extension.critical)
    key = serialization.load_pem_private_key(issuer.private_key_pem.bytes(), password=None)
    signed = builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]
    return signed.public_bytes(serialization.Encoding.PEM)


def _validity(secret: Secret) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """trustme's defaults, or a window that ended yesterday for ``expired: true``."""
    if not secret.expired:
        return None, None
    now = datetime.datetime.now(datetime.timezone.utc)
    return now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
