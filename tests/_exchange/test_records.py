"""Exchange records: the negotiated TLS facts of a real handshake, named as case files name them."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import warnings

import pytest
import trustme

from pytest_meshgate._cases.model.expect import Expect
from pytest_meshgate._exchange.records import (
    ClientTLS,
    Exchange,
    ResponseRecord,
    SentRequest,
    TLSInfo,
    tls_info,
    tls_version_name,
)
from pytest_meshgate._judge.expectations import judge

VERSIONS = {
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


def handshake(version: str) -> TLSInfo:
    """A real handshake over a socket pair, both ends pinned to ``version``."""
    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("legacy.example.com").configure_cert(server_context)
    server_context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server_context.minimum_version = server_context.maximum_version = VERSIONS[version]
    client = ClientTLS(
        server_name="legacy.example.com",
        ca_pem=ca.cert_pem.bytes(),
        min_version=version,
        max_version=version,
    )
    client_end, server_end = socket.socketpair()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            with server_context.wrap_socket(server_end, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client.context().wrap_socket(client_end, server_hostname="legacy.example.com") as tls:
            info = tls_info(tls)
            tls.sendall(b"x")
    finally:
        thread.join(10)
        with contextlib.suppress(OSError):
            server_end.close()
    assert not errors, errors
    return info


@pytest.mark.parametrize("version", ["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"])
def test_every_negotiated_version_reads_as_case_files_write_it(version: str) -> None:
    try:
        info = handshake(version)
    except ssl.SSLError as exc:  # pragma: no cover - depends on the local OpenSSL build
        pytest.skip(f"this OpenSSL cannot negotiate {version}: {exc}")
    assert info.version == version
    sent = SentRequest(
        method="GET",
        url="https://legacy.example.com/",
        headers=(),
        body=None,
        address=("127.0.0.1", 443),
        entry="test",
        meshgate_id="id",
    )
    exchange = Exchange(sent, ResponseRecord(200, "OK", "HTTP/1.1", (), b""), tls=info)
    assert judge(Expect.model_validate({"tls": {"version": version}}), exchange) == []
    other = "TLSv1.2" if version != "TLSv1.2" else "TLSv1.3"
    assert judge(Expect.model_validate({"tls": {"version": other}}), exchange) == [
        f"tls.version: expected {other}, negotiated {version}"
    ]


def test_ssl_version_strings_map_to_case_names() -> None:
    # The names SSLObject.version() returns (Modules/_ssl.c): only TLS 1.0 differs.
    assert [tls_version_name(v) for v in ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", None)] == [
        "TLSv1.0",
        "TLSv1.1",
        "TLSv1.2",
        "TLSv1.3",
        None,
    ]
