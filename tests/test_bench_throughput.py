"""The throughput bench line: runs end to end on small counts, against a real load generator."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks import throughput


@pytest.fixture
def small_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throughput, "COUNT", 100)
    monkeypatch.setattr(throughput, "RUNS", 1)
    monkeypatch.setattr(throughput, "HTTPX_COUNT", 10)
    monkeypatch.setattr(throughput, "LOAD_SECONDS", 1)


def hide(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make ``shutil.which`` (the bench's way to find tools) find none of ``names``."""
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name in names else which(name))


@pytest.mark.usefixtures("small_counts")
def test_throughput_line_against_wrk() -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    first, detail = throughput.main().splitlines()
    pattern = r"throughput: harness \d+ req/s; wrk \d+ req/s through the same Envoy, ratio [\d.]+"
    assert re.fullmatch(pattern, first), first
    assert re.search(r"HTTPClient \(httpx, sequential\) \d+ req/s", detail), detail
    assert detail.endswith("; wrk -t1 -c16 for 1 s"), detail


@pytest.mark.usefixtures("small_counts")
def test_throughput_line_against_autocannon_without_wrk(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed, so autocannon cannot be")
    hide(monkeypatch, "wrk")
    first, detail = throughput.main().splitlines()
    pattern = (
        r"throughput: harness \d+ req/s; autocannon \d+ req/s through the same Envoy, "
        r"ratio [\d.]+"
    )
    assert re.fullmatch(pattern, first), first
    assert detail.endswith("; autocannon@8.0.0 -c16 (from the npm registry) for 1 s"), detail


@pytest.mark.usefixtures("small_counts")
def test_throughput_line_without_a_load_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    hide(monkeypatch, "wrk", "npm")
    first, detail = throughput.main().splitlines()
    assert re.fullmatch(
        r"throughput: harness \d+ req/s; neither wrk \(apt-get install wrk\) nor npm "
        r"\(for autocannon\) is installed, so no ratio against a load generator",
        first,
    ), first
    assert "wrk" not in detail and "autocannon" not in detail


class _NotFound(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A load generator resets its connections when it stops; that is no error here."""


@pytest.fixture
def not_found_url() -> Iterator[str]:
    """A real HTTP server on loopback that answers every request 404."""
    server = _QuietServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/bench/load"
    finally:
        server.shutdown()
        server.server_close()


def test_wrk_refuses_a_rate_of_failed_requests(
    monkeypatch: pytest.MonkeyPatch, not_found_url: str
) -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    monkeypatch.setattr(throughput, "LOAD_SECONDS", 1)
    with pytest.raises(SystemExit, match=r"(?s)bench: wrk failed: .*Non-2xx"):
        throughput._wrk_rate(wrk, not_found_url)


def test_autocannon_refuses_a_rate_of_failed_requests(
    monkeypatch: pytest.MonkeyPatch, not_found_url: str
) -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed, so autocannon cannot be")
    monkeypatch.setattr(throughput, "LOAD_SECONDS", 1)
    executable = throughput._autocannon()
    assert executable is not None and executable.exists()
    with pytest.raises(SystemExit, match=r'(?s)bench: autocannon failed: .*"non2xx":[1-9]'):
        throughput._autocannon_rate(executable, not_found_url)


def test_autocannon_install_failure_is_a_clear_stop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(throughput, "AUTOCANNON", "autocannon@0.0.0-no-such-version")
    with pytest.raises(SystemExit, match=r"bench: npm could not install autocannon@0\.0\.0"):
        throughput._autocannon()
