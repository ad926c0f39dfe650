"""The local mesh's CA and SPIFFE workload certificates, standing in for istiod's CA.

Istio's agent gets each proxy a certificate whose only name is the URI SAN
``spiffe://<trust domain>/ns/<namespace>/sa/<service account>`` (empty subject,
so the SAN extension is critical), valid 24 hours, for server and client auth,
issued by a self-signed root with ``O=<trust domain>`` (``security/pkg/pki/util``
``GenCertKeyFromOptions``, ``pkg/spiffe``). trustme cannot put URI SANs in a
certificate, so this module uses ``cryptography`` directly.

One ``MeshCA`` per run. Keys live in 0600 files inside a 0700 directory that
``close()`` removes; nothing here logs or returns key material except as paths.
They are files because Envoy reads them by path (``filename`` data sources) each
time a listener or cluster using them is built, so they stay while Envoy runs.
A standalone ``MeshCA`` (no ``directory``) makes a run directory
(``rundirs``), removed at the next start if this process is killed.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..rundirs import make_run_directory
from .world import DOMAIN_SUFFIX, MeshIdentity

__all__ = [
    "TRUST_DOMAIN",
    "WORKLOAD_CERT_TTL",
    "MeshCA",
    "gateway_service_account",
    "spiffe_id",
]

TRUST_DOMAIN = DOMAIN_SUFFIX  # Istio's default trust domain is the cluster domain
WORKLOAD_CERT_TTL = datetime.timedelta(hours=24)  # SECRET_TTL default
_ROOT_TTL = datetime.timedelta(days=3650)  # the self-signed root's 10 years
_CLOCK_SKEW = datetime.timedelta(minutes=5)


def spiffe_id(namespace: str, service_account: str, trust_domain: str = TRUST_DOMAIN) -> str:
    """``spiffe://cluster.local/ns/<namespace>/sa/<service account>`` (``pkg/spiffe``)."""
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def gateway_service_account(gateway_name: str) -> str:
    """The service account of a gateway in Istio's charts: ``<name>-service-account``."""
    return f"{gateway_name}-service-account"


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class MeshCA:
    """A self-signed mesh root and the workload certificates it issues, as files.

    ``identity(namespace, service_account)`` returns the same files for the
    same identity during a run. Another ``MeshCA`` has another root: its
    identities are what this mesh's peers must refuse.
    """

    def __init__(self, directory: Path | None = None, trust_domain: str = TRUST_DOMAIN) -> None:
        self.trust_domain = trust_domain
        if directory is None:
            self.directory = make_run_directory("meshgate-mesh-ca")
        else:  # inside a run directory already (the local target's)
            self.directory = Path(tempfile.mkdtemp(prefix="meshgate-mesh-ca-", dir=directory))
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain)])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + _ROOT_TTL)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self.root_pem = self.certificate.public_bytes(serialization.Encoding.PEM)
        self.root_ca_file = str(self._write("root-cert.pem", self.root_pem))
        self._issued: dict[str, MeshIdentity] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def identity(self, namespace: str, service_account: str) -> MeshIdentity:
        """The workload certificate of ``namespace/service_account`` (issued once per run)."""
        spiffe = spiffe_id(namespace, service_account, self.trust_domain)
        with self._lock:
            found = self._issued.get(spiffe)
            if found is None:
                cert, key = self.issue(spiffe)
                stem = f"{namespace}.{service_account}"
                found = MeshIdentity(
                    spiffe_id=spiffe,
                    cert_chain_file=str(self._write(f"{stem}.cert-chain.pem", cert)),
                    private_key_file=str(self._write(f"{stem}.key.pem", key)),
                    root_ca_file=self.root_ca_file,
                )
                self._issued[spiffe] = found
            return found

    def issue(
        self,
        spiffe: str,
        *,
        not_after: datetime.datetime | None = None,
    ) -> tuple[bytes, bytes]:
        """A workload certificate chain and key (PEM) for the URI SAN ``spiffe``."""
        issuer_cert, issuer_key = self.certificate, self._key
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(issuer_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(not_after or now + WORKLOAD_CERT_TTL)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
            # An empty subject makes the SAN extension critical (RFC 5280 4.2.1.6).
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe)]),
                critical=True,
            )
            .sign(issuer_key, hashes.SHA256())
        )
        # The leaf alone, as istiod's self-signed CA answers (no intermediates).
        return cert.public_bytes(serialization.Encoding.PEM), _private_key_pem(key)

    def write_key_pair(self, stem: str, cert_pem: bytes, key_pem: bytes) -> tuple[Path, Path]:
        """Private files for a certificate and key made outside ``identity`` (tests, clients)."""
        return (
            self._write(f"{stem}.cert-chain.pem", cert_pem),
            self._write(f"{stem}.key.pem", key_pem),
        )

    def _write(self, name: str, data: bytes) -> Path:
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        return path
