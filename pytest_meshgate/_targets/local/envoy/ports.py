"""Loopback ports for Envoy listeners, picked before Envoy binds them."""

from __future__ import annotations

import socket
import threading
from collections import deque

__all__ = ["allocate_port"]

# Ports handed out lately in this process. Lanes (several local targets in one
# pytest process) allocate at the same time, and the kernel may hand a port
# closed a moment ago to the next bind to 0 before the first Envoy has bound it:
# no port is handed out twice while its Envoy may still be binding it.
_RECENT: deque[tuple[str, int]] = deque(maxlen=4096)
_RECENT_LOCK = threading.Lock()


def allocate_port(host: str = "127.0.0.1") -> int:
    """A port that was free on ``host`` a moment ago (bind to 0, read it, close).

    Racy by nature: another process may take it before Envoy binds, in which case
    the listener update is rejected ("Address already in use") and says so.
    Within this process a port is not handed out again among the last few
    thousand (lanes allocate concurrently).
    """
    with _RECENT_LOCK:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port: int = sock.getsockname()[1]
            if (host, port) not in _RECENT:
                _RECENT.append((host, port))
                return port
