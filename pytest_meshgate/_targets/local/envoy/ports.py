"""Loopback ports for Envoy listeners, picked before Envoy binds them."""

from __future__ import annotations

import socket

__all__ = ["allocate_port"]


def allocate_port(host: str = "127.0.0.1") -> int:
    """A port that was free on ``host`` a moment ago (bind to 0, read it, close).

    Racy by nature: another process may take it before Envoy binds, in which case
    the listener update is rejected ("Address already in use") and says so.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
