"""The JWKS server and istiod's fetch from it: real HTTP and TLS on loopback."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_meshgate._targets.local.jwks import (
    IstiodJwksFetcher,
    JwksServer,
    Origin,
    origin_of,
)

KEYS = json.dumps({"keys": [{"kty": "RSA", "kid": "one", "n": "AQAB", "e": "AQAB"}]})
PLAIN = "http://jwt-server.istio-system.svc.cluster.local:8000/jwks"
SECURE = "https://auth.example.com/.well-known/jwks.json"


@pytest.fixture
def server() -> Iterator[JwksServer]:
    served = JwksServer()
    try:
        yield served
    finally:
        served.close()


def test_an_origin_fills_in_the_default_port_and_keeps_the_query() -> None:
    assert origin_of("HTTPS://Auth.Example.com/k?v=2") == (
        Origin("https", "auth.example.com", 443),
        "/k?v=2",
    )
    assert origin_of("http://h:8000") == (Origin("http", "h", 8000), "/")


def test_a_served_uri_is_fetched_over_http_and_over_tls(server: JwksServer) -> None:
    with server.serving({PLAIN: KEYS, SECURE: KEYS}) as served:
        fetcher = IstiodJwksFetcher(server, served)
        assert fetcher.fetch(PLAIN, 5).jwks == KEYS
        assert fetcher.fetch(SECURE, 5).jwks == KEYS
    # Really on loopback sockets: one per scheme, ephemeral ports.
    assert server.port("http") != server.port("https")


def test_the_tls_origin_presents_a_certificate_for_its_host_from_the_servers_ca(
    server: JwksServer,
) -> None:
    with server.serving({SECURE: KEYS}):
        port = server.port("https")
        trusting = ssl.create_default_context(cadata=server.ca_pem)
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            trusting.wrap_socket(raw, server_hostname="auth.example.com") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        # Another root (the system's) does not verify it: istiod's extra root is needed.
        system = ssl.create_default_context()
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            system.wrap_socket(raw, server_hostname="auth.example.com")


def test_another_path_of_a_served_origin_is_a_404(server: JwksServer) -> None:
    with server.serving({PLAIN: KEYS}) as served:
        result = IstiodJwksFetcher(server, served).fetch(PLAIN.replace("/jwks", "/old"), 5)
    assert result.jwks is None
    assert result.error == 'status 404, message "404 page not found\\n"'


def test_a_host_no_key_set_is_served_at_is_never_connected_to(server: JwksServer) -> None:
    with server.serving({PLAIN: KEYS}) as served:
        fetcher = IstiodJwksFetcher(server, served)
        result = fetcher.fetch("https://gone.example.com/jwks.json", 5)
        # The same host on another port is another origin.
        other_port = fetcher.fetch(PLAIN.replace(":8000", ":8001"), 5)
    assert result.jwks is None and result.error == (
        "dial tcp: lookup gone.example.com: no such host"
    )
    assert other_port.jwks is None
    assert "https" not in server._listeners  # no TLS listener was even started


def test_a_body_that_is_not_a_jwks_is_refused_as_istiod_refuses_it(server: JwksServer) -> None:
    with server.serving({PLAIN: '{"issuer": "x"}'}) as served:
        result = IstiodJwksFetcher(server, served).fetch(PLAIN, 5)
    assert result.jwks is None and result.error == 'not a valid JWKS: missing "keys" field'


def test_key_sets_are_served_only_while_a_deployment_publishes_them(server: JwksServer) -> None:
    with server.serving({PLAIN: KEYS}) as served:
        pass
    result = IstiodJwksFetcher(server, served).fetch(PLAIN, 5)
    assert result.error is not None and result.error.startswith("status 404")


def test_a_closed_server_leaves_no_listener() -> None:
    server = JwksServer()
    with server.serving({PLAIN: KEYS}) as served:
        assert IstiodJwksFetcher(server, served).fetch(PLAIN, 5).jwks == KEYS
        port = server.port("http")
    server.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with pytest.raises(RuntimeError, match="closed"):
        server.port("http")


def test_the_local_target_inlines_what_it_fetched_and_stops_the_server_with_it() -> None:
    from pytest_meshgate._cases.loader import load_case_file
    from pytest_meshgate._targets.local import LocalTarget

    cases = Path(__file__).parents[3] / "cases" / "request-authentication.yaml"
    loaded = next(c for c in load_case_file(cases).cases if c.name == "jwt-jwks-uri")
    target = LocalTarget()
    try:
        deployment = target.activate(loaded)
        world_jwks = deployment.world().jwks  # type: ignore[attr-defined]
        served = deployment.jwt_keys.served()  # type: ignore[attr-defined]
        # What istiod fetched is byte for byte what the server served: two keys at one URI.
        assert world_jwks[PLAIN] == served[PLAIN]
        assert len(json.loads(world_jwks[PLAIN])["keys"]) == 2
        assert world_jwks[SECURE] == served[SECURE]
        # A failed fetch leaves its URI out (the fail-closed key applies), and says why.
        assert "https://gone.example.com/jwks.json" not in world_jwks
        warnings = "\n".join(deployment.deployment_warnings())
        assert "old-jwks): status 404" in warnings
        assert "lookup gone.example.com: no such host" in warnings
        port = target.jwks_server.port("http")
    finally:
        target.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_a_killed_run_leaves_no_jwks_listener() -> None:
    import os
    import signal
    import subprocess
    import sys

    script = (
        "from pytest_meshgate._targets.local.jwks import JwksServer\n"
        "import sys, time\n"
        "server = JwksServer()\n"
        "print(server.port('http'), server.port('https'), flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None
        ports = [int(p) for p in child.stdout.readline().split()]
        for port in ports:  # listening while the run lives
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
