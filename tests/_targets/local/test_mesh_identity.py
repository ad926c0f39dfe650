"""The local mesh CA: SPIFFE workload certificates as Istio's CA issues them, in private files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from pytest_meshgate._targets.local.mesh_identity import (
    MeshCA,
    gateway_service_account,
    spiffe_id,
)


def test_spiffe_ids_and_gateway_service_accounts() -> None:
    assert spiffe_id("default", "sleep") == "spiffe://cluster.local/ns/default/sa/sleep"
    assert gateway_service_account("istio-egressgateway") == "istio-egressgateway-service-account"


def test_workload_certificate_carries_only_the_spiffe_uri(tmp_path: Path) -> None:
    ca = MeshCA(directory=tmp_path)
    try:
        identity = ca.identity("istio-system", "istio-egressgateway-service-account")
        assert identity.spiffe_id == (
            "spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account"
        )
        cert = x509.load_pem_x509_certificate(Path(identity.cert_chain_file).read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert san.critical  # the subject is empty
        assert cert.subject == x509.Name([])
        assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [identity.spiffe_id]
        assert san.value.get_values_for_type(x509.DNSName) == []
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert lifetime.total_seconds() <= 25 * 3600  # short-lived, as Istio's 24 h
        root = x509.load_pem_x509_certificate(Path(identity.root_ca_file).read_bytes())
        assert root.subject.rfc4514_string() == "O=cluster.local"
        cert.verify_directly_issued_by(root)  # raises if the root did not sign it
        # Issued once per identity and run; another identity gets another key.
        assert ca.identity("istio-system", "istio-egressgateway-service-account") is identity
        other = ca.identity("default", "sleep")
        assert (
            Path(other.private_key_file).read_bytes()
            != Path(identity.private_key_file).read_bytes()
        )
    finally:
        ca.close()


def test_files_are_private_and_removed_on_close(tmp_path: Path) -> None:
    ca = MeshCA(directory=tmp_path)
    identity = ca.identity("default", "sleep")
    assert stat.S_IMODE(os.stat(ca.directory).st_mode) == 0o700
    for path in (identity.cert_chain_file, identity.private_key_file, identity.root_ca_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "private_key_file" not in repr(identity)  # never in messages
    ca.close()
    assert not ca.directory.exists()


def test_two_meshes_do_not_trust_each_other(tmp_path: Path) -> None:
    ours, theirs = MeshCA(directory=tmp_path), MeshCA(directory=tmp_path)
    try:
        foreign = theirs.identity("default", "sleep")
        cert = x509.load_pem_x509_certificate(Path(foreign.cert_chain_file).read_bytes())
        assert ours.certificate.subject == theirs.certificate.subject  # same trust domain
        with pytest.raises((ValueError, InvalidSignature)):
            cert.verify_directly_issued_by(ours.certificate)
    finally:
        ours.close()
        theirs.close()
