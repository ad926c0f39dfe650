"""The container engine probe: a missing engine is named in milliseconds, an answering one accepted.

A unix socket that is not there, and one answering Docker's ``/_ping`` like
an engine; no Docker engine ran.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_meshgate._targets.kubernetes.providers.tools import docker_engine_problem


def test_no_docker_engine_is_named_quickly(tmp_path: Path) -> None:
    socket_path = tmp_path / "docker.sock"
    problem = docker_engine_problem({"DOCKER_HOST": f"unix://{socket_path}"})
    assert problem is not None and problem.startswith(f"none answers at unix://{socket_path}")


@pytest.fixture
def ping_socket(tmp_path: Path) -> Iterator[Path]:
    """A unix socket answering Docker's /_ping like an engine (and nothing else)."""
    path = tmp_path / "engine.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield path
    server.close()


def test_an_engine_answering_ping_is_accepted(ping_socket: Path) -> None:
    assert docker_engine_problem({"DOCKER_HOST": f"unix://{ping_socket}"}) is None
