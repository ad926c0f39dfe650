"""What the translation logs while a case deploys: recorded per thread (lanes translate at once)."""

from __future__ import annotations

import logging
import threading

from pytest_meshgate._targets.local.translate import recorded_warnings

LOG = logging.getLogger("pytest_meshgate._targets.local.translate.gateway")


def test_each_thread_records_only_its_own_lines_and_the_level_comes_back() -> None:
    parent = logging.getLogger("pytest_meshgate._targets.local.translate")
    before = parent.level
    inside = threading.Barrier(2, timeout=5)
    logged = threading.Barrier(2, timeout=5)
    seen: dict[str, list[str]] = {}

    def translate(name: str) -> None:
        with recorded_warnings() as lines:
            inside.wait()  # both recorders are active at once
            LOG.info("server of %s left out", name)
            logged.wait()
        seen[name] = list(lines)

    threads = [threading.Thread(target=translate, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": ["server of a left out"], "b": ["server of b left out"]}
    assert parent.level == before
