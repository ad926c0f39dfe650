"""TLS material for a case's Secrets on a cluster, from the shared generator, and its JWT keys.

What each secret type holds is decided once, in ``pytest_meshgate._targets.secrets``;
here it is only handed to the manifests as PEM text. Nothing is written into
the repository: certificates live in memory and in the cluster's Secrets,
which are deleted with the case. JWT keys are the case's ``CaseJwtKeys``
(``jwtkeys.py``): only public key sets go into manifests; the deployment mints
tokens with the same keys.
"""

from __future__ import annotations

from typing import Any

from ..._cases.model.case import Case
from ..._cases.model.workloads import Secret
from ..jwtkeys import CaseJwtKeys
from ..secrets import common_name_for
from .manifests import Material

__all__ = ["TrustmeMaterial"]


class TrustmeMaterial(Material):
    """CAs ``default`` (the session's) plus every ``ca`` secret of the case, and their leaves."""

    def __init__(
        self, case: Case, default_ca: Any = None, jwt_keys: CaseJwtKeys | None = None
    ) -> None:
        import trustme

        from ..secrets import generate_case_secrets

        ca = default_ca or trustme.CA(organization_name="meshgate default CA")
        self.secrets = generate_case_secrets(case, ca)
        self.cas = self.secrets.cas
        self.jwt_keys = jwt_keys if jwt_keys is not None else CaseJwtKeys.generate(case)

    def secret_data(self, secret: Secret) -> dict[str, str]:
        material = self.secrets.materials[secret.name]
        return {key: value.decode() for key, value in material.data.items()}

    def trusted_cas(self) -> str:
        return "".join(ca.cert_pem.bytes().decode() for _, ca in sorted(self.cas.items()))

    def service_cert(self, names: list[str]) -> dict[str, str]:
        leaf = self.cas["default"].issue_cert(*names, common_name=common_name_for(names))
        return {
            "tls.crt": "".join(blob.bytes().decode() for blob in leaf.cert_chain_pems),
            "tls.key": leaf.private_key_pem.bytes().decode(),
        }

    def public_jwks(self, name: str) -> str:
        return self.jwt_keys.public_jwks(name)

    def served_jwks(self, uri: str) -> str | None:
        return self.jwt_keys.served_at(uri)
