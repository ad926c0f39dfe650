"""The throughput bench line: runs end to end on small counts and prints the promised format."""

from __future__ import annotations

import re
import shutil

import pytest

from benchmarks import throughput


def test_throughput_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throughput, "COUNT", 200)
    monkeypatch.setattr(throughput, "RUNS", 1)
    monkeypatch.setattr(throughput, "HTTPX_COUNT", 20)
    monkeypatch.setattr(throughput, "WRK_SECONDS", 1)
    first, detail = throughput.main().splitlines()
    if shutil.which("wrk"):
        pattern = (
            r"throughput: harness \d+ req/s; wrk \d+ req/s through the same Envoy, ratio [\d.]+"
        )
    else:
        pattern = r"throughput: harness \d+ req/s; wrk is not installed .*, so no ratio against it"
    assert re.fullmatch(pattern, first), first
    assert re.search(r"HTTPClient \(httpx, sequential\) \d+ req/s", detail), detail


def test_throughput_line_without_wrk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throughput, "COUNT", 100)
    monkeypatch.setattr(throughput, "RUNS", 1)
    monkeypatch.setattr(throughput, "HTTPX_COUNT", 10)
    monkeypatch.setattr(throughput.shutil, "which", lambda name: None)
    first, detail = throughput.main().splitlines()
    assert re.fullmatch(
        r"throughput: harness \d+ req/s; wrk is not installed \(e\.g\. apt-get install wrk\), "
        r"so no ratio against it",
        first,
    ), first
    assert "wrk" not in detail
