"""TLS settings: a server's (Gateway, Sidecar ingress) and a client's (DestinationRule).

Server side follows ``validateTLSOptions`` (``pkg/config/validation/validation.go``)
and the CEL rules of the ``ServerTLSSettings`` schema in Istio's CRDs; client
side follows ``agent.ValidateTLS`` (``pkg/config/validation/agent/validation.go``).
"""

from __future__ import annotations

from ..model.istio import ClientTLSSettings, ServerTLSSettings
from .common import go_quote
from .report import Report

__all__ = ["validate_client_tls", "validate_server_tls"]

# pkg/config/security/security.go ValidCipherSuites: what Envoy's BoringSSL takes.
_CIPHER_SUITES = frozenset(
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


def _valid_cipher_suite(suite: str) -> bool:
    """``security.IsValidCipherSuite``: known, ``ALL``, or an operator expression (``-X``)."""
    if suite in ("", "ALL"):
        return True
    if not suite[0].isalnum():
        return True
    return suite in _CIPHER_SUITES


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"


def validate_server_tls(tls: ServerTLSSettings, r: Report) -> None:
    """``validateTLSOptions``, after the CRD's CEL rules on the same object."""
    given = tls.model_fields_set
    # CRD (ServerTLSSettings x-kubernetes-validations, minItems): applied by the API server.
    if "credential_names" in given and "tls_certificates" in given:
        r.error("only one of credentialNames or tlsCertificates can be set")
    if "credential_name" in given and "credential_names" in given:
        r.error("only one of credentialName or credentialNames can be set")
    for key, field in (
        ("credentialNames", "credential_names"),
        ("tlsCertificates", "tls_certificates"),
    ):
        if field in given and not getattr(tls, field):
            r.error(f"{key} in body should have at least 1 items", key)

    if tls.min_protocol_version in ("TLSV1_0", "TLSV1_1") and not tls.cipher_suites:
        r.warn(
            "TLS version below TLSV1_2 require setting compatible ciphers as by default they no "
            "longer include compatible ciphers.",
            "minProtocolVersion",
        )
    invalid: set[str] = set()
    valid: set[str] = set()
    duplicate: set[str] = set()
    for suite in tls.cipher_suites:
        if not _valid_cipher_suite(suite):
            invalid.add(suite)
        elif suite in valid:
            duplicate.add(suite)
        else:
            valid.add(suite)
    if invalid:
        r.warn(f"ignoring invalid cipher suites: {_go_list(sorted(invalid))}", "cipherSuites")
    if duplicate:
        r.warn(f"ignoring duplicate cipher suites: {_go_list(sorted(duplicate))}", "cipherSuites")

    if tls.mode == "ISTIO_MUTUAL":
        # The workload's mesh certificate is used; any other source is a mistake.
        for key, present, what in (
            ("serverCertificate", tls.server_certificate, "server certificate"),
            ("privateKey", tls.private_key, "private key"),
            ("caCertificates", tls.ca_certificates, "CA bundle"),
            ("tlsCertificates", tls.tls_certificates, "tlsCertificates"),
            ("credentialName", tls.credential_name, "credentialName"),
            ("credentialNames", tls.credential_names, "credentialNames"),
        ):
            if present:
                r.error(f"ISTIO_MUTUAL TLS cannot have associated {what}", key)
        return

    if tls.mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH") and (
        tls.ca_crl
        or tls.server_certificate
        or tls.private_key
        or tls.ca_certificates
        or tls.tls_certificates
        or tls.credential_name
        or tls.credential_names
    ):
        r.warn(f"{tls.mode} mode does not use certificates, they will be ignored", "mode")

    sources = sum(
        (
            bool(tls.server_certificate and tls.private_key),
            bool(tls.credential_name),
            bool(tls.credential_names),
            bool(tls.tls_certificates),
        )
    )
    if sources > 1:
        r.error(
            "only one of credential_name, credential_names, server_certificate/private_key, "
            "tls_certificates should be specified"
        )

    terminating = tls.mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL")
    if terminating and (tls.credential_name or tls.credential_names):
        return  # the credential holds the certificate, key and CA bundle
    if terminating:
        prefix = "SIMPLE TLS" if tls.mode == "SIMPLE" else "MUTUAL TLS"
        if tls.mode != "SIMPLE" and not tls.ca_certificates:
            r.error(f"{prefix} requires a client CA bundle", "caCertificates")
        if len(tls.tls_certificates) > 2:
            r.warn(f"{prefix} can support up to 2 server certificates", "tlsCertificates")
        if tls.tls_certificates:
            for i, cert in enumerate(tls.tls_certificates):
                if not cert.server_certificate:
                    r.error(f"{prefix} requires a server certificate", "tlsCertificates", i)
                if not cert.private_key:
                    r.error(f"{prefix} requires a private key", "tlsCertificates", i)
        else:
            if not tls.server_certificate:
                r.error(f"{prefix} requires a server certificate", "serverCertificate")
            if not tls.private_key:
                r.error(f"{prefix} requires a private key", "privateKey")
    if tls.ca_crl:
        if tls.credential_name:
            r.error(
                "CRL is not supported with credentialName. CRL has to be specified in the "
                "credential",
                "caCrl",
            )
        if tls.mode == "SIMPLE":
            r.error("CRL is not supported with SIMPLE TLS", "caCrl")


def validate_client_tls(namespace: str, tls: ClientTLSSettings, r: Report) -> None:
    """``agent.ValidateTLS``: a DestinationRule's (or port's, or subset's) ``tls``."""
    credential = tls.credential_name or ""
    if credential.startswith("configmap://"):
        parts = credential.removeprefix("configmap://").split("/")
        if len(parts) <= 1 or not parts[0] or not parts[1]:
            r.error(
                "invalid configmap:// credentialName: invalid resource name "
                f"{go_quote(credential)}. Expected namespace and name",
                "credentialName",
            )
        elif parts[0] != namespace:
            r.error(
                "invalid configmap:// credentialName: namespace must match the configuration "
                f"namespace {go_quote(namespace)}",
                "credentialName",
            )
    if tls.insecure_skip_verify:
        if tls.mode == "SIMPLE" and (tls.ca_certificates or credential or tls.subject_alt_names):
            r.error(
                "cannot specify CaCertificates or CredentialName or SubjectAltNames when "
                "InsecureSkipVerify is set true",
                "insecureSkipVerify",
            )
        if tls.mode == "MUTUAL" and (tls.ca_certificates or tls.subject_alt_names):
            r.error(
                "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set "
                "true",
                "insecureSkipVerify",
            )
    if tls.mode in ("SIMPLE", "MUTUAL") and credential:
        if tls.client_certificate or tls.ca_certificates or tls.private_key or tls.ca_crl:
            r.error(
                "cannot specify client certificates or CA certificate or CA CRL If credentialName "
                "is set",
                "credentialName",
            )
        return
    if tls.mode == "MUTUAL":
        if not tls.client_certificate:
            r.error("client certificate required for mutual tls", "clientCertificate")
        if not tls.private_key:
            r.error("private key required for mutual tls", "privateKey")
