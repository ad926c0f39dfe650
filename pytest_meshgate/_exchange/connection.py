"""A check's own connection for the clients that speak their protocol on a raw socket.

The gRPC client and the WebSocket client open one connection per exchange:
TCP, the PROXY protocol header a sidecar's listener expects, then TLS with
the ALPN the protocol needs. A failure on the way is an outcome as
``HTTPClient`` reports it (``client.failure_outcome``), carried by
``NoAnswer`` up to where the client records the exchange.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from .client import describe_error, failure_outcome, proxy_protocol_header
from .records import ClientTLS, TLSInfo, tls_info

__all__ = ["NoAnswer", "open_connection"]


class NoAnswer(Exception):
    """The exchange got no answer: ``outcome`` is the connection outcome."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome


def open_connection(
    address: tuple[str, int],
    tls: ClientTLS | None,
    original_destination: tuple[str, int] | None,
    limit: float,
    alpn: str,
) -> tuple[Any, TLSInfo | None]:
    """The connected (and, with ``tls``, handshaken) socket and what TLS negotiated.

    ``alpn`` is offered when the case's TLS names none; the caller checks what
    was negotiated if its protocol depends on it.
    """
    try:
        sock = socket.create_connection(address, timeout=limit)
    except TimeoutError as exc:
        raise NoAnswer("timeout", describe_error(exc)) from None
    except OSError as exc:
        raise NoAnswer(failure_outcome(exc, connected=False), describe_error(exc)) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if original_destination is not None:
            sock.sendall(proxy_protocol_header(sock.getsockname()[:2], original_destination))
        if tls is None:
            return sock, None
        context = tls.context()
        if tls.alpn is None:
            context.set_alpn_protocols([alpn])
        wrapped = context.wrap_socket(sock, server_hostname=tls.server_name)
    except TimeoutError as exc:
        sock.close()
        raise NoAnswer("timeout", describe_error(exc)) from None
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise NoAnswer(failure_outcome(exc, connected=False), describe_error(exc)) from None
    return wrapped, tls_info(wrapped)
