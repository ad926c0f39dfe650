"""How the echo tests talk to it: URLs, raw exchanges on fresh sockets, TLS contexts, sleeps."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading

import trustme

from pytest_meshgate._targets.echo import EchoIdentity, EchoListener

REVIEWS = EchoIdentity("reviews", "bookinfo", "v2", pod="reviews-v2-abc")


def url(listener: EchoListener, path: str) -> str:
    return f"http://{listener.host}:{listener.port}{path}"


def raw_exchange(listener: EchoListener, data: bytes, *, read_all: bool = True) -> bytes:
    """Send bytes on a fresh connection and read until the server closes it."""
    with socket.create_connection(listener.address, timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if not read_all:
                break
        return b"".join(chunks)


def split_responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Parse concatenated HTTP/1.1 responses with Content-Length bodies."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        size = int(headers["content-length"])
        out.append((status, headers, rest[:size]))
        data = rest[size:]
    return out


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("reviews.example.com").configure_cert(ctx)
    ca.configure_trust(ctx)
    ctx.verify_mode = ssl.CERT_OPTIONAL  # echo-basic's VerifyClientCertIfGiven
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def client_context(ca: trustme.CA, client_cert: trustme.LeafCert | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if client_cert is not None:
        client_cert.configure_cert(ctx)
    return ctx


class Sleeps:
    """The echo handler's ``asyncio.sleep`` calls: what was asked, and a flag once one began.

    ``hold`` keeps each sleep pending until the listener closes (a request in
    flight for as long as a test needs); otherwise sleeps end at once, so that
    a delay is asserted by the duration asked for, never by a clock.
    """

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.began = threading.Event()
        self.hold = False
        self._sleep = asyncio.sleep

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.began.set()
        if self.hold:
            await asyncio.Event().wait()  # until the server cancels it
        await self._sleep(0)
