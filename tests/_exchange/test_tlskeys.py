"""Key pairs load into SSL contexts from memory: nothing is written where a kill would leave it."""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
import threading
from pathlib import Path

import pytest
import trustme

from pytest_meshgate._exchange.tlskeys import load_key_pair


def handshake_with_client_certificate(context: ssl.SSLContext, ca: trustme.CA) -> str:
    """The subject the server saw on the client certificate ``context`` presents."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("server.example.com").configure_cert(server_context)
    ca.configure_trust(server_context)
    server_context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[str] = []

    def serve() -> None:
        connection, _ = listener.accept()
        with server_context.wrap_socket(connection, server_side=True) as tls:
            seen.append(str(tls.getpeercert()["subjectAltName"]))

    thread = threading.Thread(target=serve)
    thread.start()
    with (
        socket.create_connection(listener.getsockname()) as raw,
        context.wrap_socket(raw, server_hostname="server.example.com"),
    ):
        pass
    thread.join()
    listener.close()
    return seen[0]


@pytest.mark.parametrize("memfd", [True, False], ids=["memfd", "temporary-file"])
def test_the_pair_is_loaded_and_no_file_remains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memfd: bool
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    if not memfd:
        monkeypatch.delattr(os, "memfd_create", raising=False)
    elif not hasattr(os, "memfd_create"):
        pytest.skip("no memfd_create here")
    written: list[str] = []
    mkstemp = tempfile.mkstemp

    def recording_mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, path = mkstemp(*args, **kwargs)  # type: ignore[call-overload]
        written.append(path)
        return fd, path

    monkeypatch.setattr(tempfile, "mkstemp", recording_mkstemp)
    ca = trustme.CA()
    leaf = ca.issue_cert("client.example.com")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    load_key_pair(context, chain, leaf.private_key_pem.bytes())
    assert "client.example.com" in handshake_with_client_certificate(context, ca)
    assert list(tmp_path.iterdir()) == []
    assert len(written) == (0 if memfd else 2)  # the fallback wrote, then removed, both


def test_a_bad_key_is_an_ssl_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delattr(os, "memfd_create", raising=False)
    leaf = trustme.CA().issue_cert("a.example.com")
    with pytest.raises(ssl.SSLError):
        load_key_pair(ssl.create_default_context(), leaf.cert_chain_pems[0].bytes(), b"junk")
    assert list(tmp_path.iterdir()) == []
