"""Loopback ports for listeners."""

from __future__ import annotations

import socket

from pytest_meshgate._targets.local.envoy import allocate_port


def test_allocate_port_gives_a_bindable_port() -> None:
    port = allocate_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
