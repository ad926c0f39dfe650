"""Loopback ports for listeners."""

from __future__ import annotations

import socket
import threading

from pytest_meshgate._targets.local.envoy import allocate_port


def test_allocate_port_gives_a_bindable_port() -> None:
    port = allocate_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_port_is_never_handed_out_twice_even_from_threads() -> None:
    # Lanes allocate at once; a port closed a moment ago may be the kernel's next
    # answer to another bind to 0 before the first Envoy has bound it.
    got: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(100):
            port = allocate_port()
            with lock:
                got.append(port)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == len(set(got)) == 400
