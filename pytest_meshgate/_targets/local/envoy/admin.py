"""Envoy's admin API: its address, readiness, stats and listener ports, over one connection.

The admin listener binds port 0; Envoy writes the address it got to the file
``--admin-address-path`` names (Envoy's ``source/server/options_impl.cc``),
which is how the client finds it. The endpoints used are those of the Envoy
docs page "Administration interface" (``/ready``, ``/stats?format=json``,
``/listeners?format=json``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...._errors import ProxyCrashed

__all__ = ["POLL_S", "AdminClient"]

# How often readiness and configuration waits ask the admin API again.
POLL_S = 0.002


class AdminClient:
    """The admin API of one Envoy, found through its admin-address file.

    Not thread-safe on its own: the ``EnvoyProcess`` that owns it serialises
    calls under its lock. ``check_alive`` raises when the Envoy has exited; an
    unreachable admin API asks it first, so a dead Envoy is reported as such.
    """

    def __init__(self, name: str, address_path: Path, check_alive: Callable[[], None]) -> None:
        self.name = name
        self.address_path = address_path
        self._check_alive = check_alive
        self._address: tuple[str, int] | None = None
        self._conn: http.client.HTTPConnection | None = None

    @property
    def address(self) -> tuple[str, int]:
        if self._address is None:
            raise RuntimeError(f"Envoy {self.name!r} is not started")
        return self._address

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def wait_ready(self, timeout: float) -> bool:
        """Wait until ``/ready`` answers 200; False once ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            if self._address is None:
                with contextlib.suppress(OSError):
                    text = self.address_path.read_text().strip()
                    host, _, port = text.rpartition(":")
                    if host and port.isdigit():
                        self._address = (host, int(port))
            if self._address is not None:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    status, _ = self.get("/ready")
                    if status == 200:
                        return True
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_S)

    def get(self, path: str) -> tuple[int, bytes]:
        """GET an admin endpoint: (status, body)."""
        # One keep-alive connection: polling every 2 ms with a new connection each time
        # would cost as much as the update itself.
        host, port = self.address
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(host, port, timeout=2.0)
            try:
                self._conn.request("GET", path)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def stats(self, regex: str | None) -> dict[str, Any]:
        """Admin stats (counters, gauges, text readouts) whose name matches ``regex``."""
        query = "/stats?format=json"
        if regex is not None:
            query += "&filter=" + urllib.parse.quote(regex, safe="")
        try:
            status, body = self.get(query)
        except (OSError, http.client.HTTPException) as exc:
            self._check_alive()  # a dead Envoy is the likely cause: say so, with its log
            raise ProxyCrashed(f"Envoy {self.name!r} admin {query} unreachable: {exc}") from exc
        if status != 200:
            raise ProxyCrashed(f"Envoy {self.name!r} admin {query} answered {status}: {body!r}")
        result: dict[str, Any] = {}
        for item in json.loads(body).get("stats", []):
            if "name" in item and "value" in item:
                result[item["name"]] = item["value"]
        return result

    def listener_ports(self) -> dict[str, int]:
        """Listener name -> bound port (useful with ``port_value: 0``)."""
        status, body = self.get("/listeners?format=json")
        if status != 200:
            raise ProxyCrashed(f"Envoy {self.name!r} admin /listeners answered {status}")
        ports: dict[str, int] = {}
        for item in json.loads(body).get("listener_statuses", []):
            address = item.get("local_address", {}).get("socket_address", {})
            if "port_value" in address:
                ports[item["name"]] = int(address["port_value"])
        return ports
