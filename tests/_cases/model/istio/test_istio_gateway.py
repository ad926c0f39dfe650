"""The Gateway model: its fields in camelCase."""

from __future__ import annotations

from pytest_meshgate._cases.model.istio import Gateway, parse_resource


def test_gateway_fields_camel_case() -> None:
    res = parse_resource(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "istio-system", "labels": {"a": "b"}},
            "spec": {
                "selector": {"istio": "ingressgateway"},
                "servers": [
                    {
                        "port": {
                            "number": 443,
                            "name": "https",
                            "protocol": "HTTPS",
                            "targetPort": 8443,
                        },
                        "hosts": ["./a.example.com"],
                        "tls": {
                            "mode": "MUTUAL",
                            "credentialName": "cred",
                            "minProtocolVersion": "TLSV1_2",
                            "cipherSuites": ["ECDHE-RSA-AES128-GCM-SHA256"],
                            "subjectAltNames": ["client.example.com"],
                        },
                    },
                    {
                        "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                        "hosts": ["*"],
                        "tls": {"httpsRedirect": True},
                    },
                ],
            },
        }
    )
    assert isinstance(res, Gateway)
    server = res.spec.servers[0]
    assert server.port.target_port == 8443
    assert server.tls is not None and server.tls.credential_name == "cred"
    assert server.tls.min_protocol_version == "TLSV1_2"
    redirect = res.spec.servers[1].tls
    assert redirect is not None and redirect.https_redirect
