"""Tests of generated TLS material: real handshakes, Secret keys, files and cleanup."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from pytest_meshgate._cases.model.case import Case
from pytest_meshgate._targets.secrets import (
    SecretStore,
    describe_certificate,
    generate_case_secrets,
)


def case(*secrets: dict[str, Any]) -> Case:
    return Case.model_validate(
        {
            "apiVersion": "meshgate.dev/v1alpha1",
            "kind": "Case",
            "metadata": {"name": "tls-case"},
            "spec": {
                "secrets": list(secrets),
                "checks": [{"name": "c", "request": {"url": "http://a/"}}],
            },
        }
    )


@pytest.fixture
def store() -> Iterator[SecretStore]:
    secrets = SecretStore()
    try:
        yield secrets
    finally:
        secrets.close()


def handshake(server_pem: bytes, key_pem: bytes, trust_pem: bytes, sni: str, tmp: Any) -> str:
    """A real TLS handshake on loopback; returns the negotiated version or raises."""
    (tmp / "s.crt").write_bytes(server_pem)
    (tmp / "s.key").write_bytes(key_pem)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp / "s.crt", tmp / "s.key")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cadata=trust_pem.decode())
    try:
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client_ctx.wrap_socket(raw, server_hostname=sni) as tls,
        ):
            return str(tls.version())
    finally:
        thread.join(2)
        listener.close()


def test_server_secret_verifies_against_its_issuer(store: SecretStore, tmp_path: Any) -> None:
    secrets = store.for_case(
        case(
            {
                "name": "web",
                "namespace": "istio-system",
                "type": "server",
                "hosts": ["app.example.com"],
            }
        )
    )
    material = secrets.materials["web"]
    assert material.cert_pem and material.key_pem
    assert handshake(
        material.cert_pem, material.key_pem, secrets.ca_pem("default"), "app.example.com", tmp_path
    ).startswith("TLSv1")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(
            material.cert_pem,
            material.key_pem,
            secrets.ca_pem("default"),
            "other.example.com",
            tmp_path,
        )
    assert set(secrets.kubernetes_secrets()[("istio-system", "web")]) == {"tls.crt", "tls.key"}


def test_other_ca_and_expired_certificates_are_refused(store: SecretStore, tmp_path: Any) -> None:
    secrets = store.for_case(
        case(
            {"name": "other", "type": "ca"},
            {"name": "foreign", "type": "server", "hosts": ["a.example.com"], "issuer": "other"},
            {"name": "old", "type": "server", "hosts": ["a.example.com"], "expired": True},
        )
    )
    foreign, old = secrets.materials["foreign"], secrets.materials["old"]
    assert foreign.cert_pem and foreign.key_pem and old.cert_pem and old.key_pem
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(
            foreign.cert_pem, foreign.key_pem, secrets.ca_pem("default"), "a.example.com", tmp_path
        )
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        handshake(old.cert_pem, old.key_pem, secrets.ca_pem("default"), "a.example.com", tmp_path)
    handshake(foreign.cert_pem, foreign.key_pem, secrets.ca_pem("other"), "a.example.com", tmp_path)


def test_secret_keys_follow_type_and_format(store: SecretStore) -> None:
    secrets = store.for_case(
        case(
            {"name": "m", "namespace": "istio-system", "type": "mutual", "hosts": ["a"]},
            {
                "name": "g",
                "namespace": "istio-system",
                "type": "mutual",
                "hosts": ["a"],
                "format": "generic",
            },
            {"name": "c", "namespace": "default", "type": "client", "hosts": ["client"]},
            {"name": "t", "namespace": "istio-system", "type": "trust"},
            {"name": "unpublished", "type": "server", "hosts": ["a"]},
        )
    )
    published = secrets.kubernetes_secrets()
    assert set(published[("istio-system", "m")]) == {"tls.crt", "tls.key", "ca.crt"}
    assert set(published[("istio-system", "g")]) == {"cert", "key", "cacert"}
    assert set(published[("default", "c")]) == {"tls.crt", "tls.key"}
    assert set(published[("istio-system", "t")]) == {"ca.crt"}
    assert all(name != "unpublished" for _, name in published)
    assert published[("istio-system", "t")]["ca.crt"] == secrets.ca_pem("default")


def test_descriptions_never_show_keys(store: SecretStore) -> None:
    secrets = store.for_case(case({"name": "s", "type": "server", "hosts": ["app.example.com"]}))
    material = secrets.materials["s"]
    text = material.describe() + repr(material)
    assert "CN=app.example.com" in text and "sha256" in text
    assert material.key_pem is not None and b"PRIVATE KEY" not in text.encode()
    assert "PRIVATE" not in describe_certificate(material.cert_pem or b"")


def test_uri_subject_alt_names_are_added_to_the_issued_certificate() -> None:
    from cryptography import x509 as x509_
    from cryptography.hazmat.primitives import serialization as serialization_

    case = _uri_case()
    secrets = generate_case_secrets(case, trustme.CA())
    material = secrets.materials["leaf"]
    assert material.cert_pem is not None and material.key_pem is not None
    cert = x509_.load_pem_x509_certificate(material.cert_pem)
    names = cert.extensions.get_extension_for_class(x509_.SubjectAlternativeName).value
    assert names.get_values_for_type(x509_.DNSName) == ["a.example.com"]
    assert names.get_values_for_type(x509_.UniformResourceIdentifier) == ["spiffe://td/x"]
    # Still signed by its issuer, still for the same key.
    cert.verify_directly_issued_by(x509_.load_pem_x509_certificate(secrets.ca_pem("ca")))
    key = serialization_.load_pem_private_key(material.key_pem, password=None)
    assert key.public_key().public_bytes(  # type: ignore[union-attr]
        serialization_.Encoding.DER, serialization_.PublicFormat.SubjectPublicKeyInfo
    ) == cert.public_key().public_bytes(
        serialization_.Encoding.DER, serialization_.PublicFormat.SubjectPublicKeyInfo
    )


def test_a_ca_published_as_a_configmap_is_no_secret() -> None:
    secrets = generate_case_secrets(_uri_case(), trustme.CA())
    assert ("infra", "ca") not in secrets.kubernetes_secrets()
    (data,) = secrets.kubernetes_config_maps().values()
    assert list(data) == ["ca.crt"]
    assert data["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")


def _uri_case() -> Case:
    return Case.model_validate(
        {
            "apiVersion": "meshgate.dev/v1alpha1",
            "kind": "Case",
            "metadata": {"name": "uris"},
            "spec": {
                "secrets": [
                    {"name": "ca", "namespace": "infra", "type": "ca", "kind": "ConfigMap"},
                    {
                        "name": "leaf",
                        "type": "server",
                        "hosts": ["a.example.com"],
                        "uris": ["spiffe://td/x"],
                        "issuer": "ca",
                    },
                ],
                "checks": [{"name": "c", "request": {"url": "http://a/"}}],
            },
        }
    )
