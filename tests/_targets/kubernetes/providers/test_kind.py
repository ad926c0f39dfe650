"""The exact kind and docker commands the kind provider issues, through stand-in executables.

The stand-ins (k8s_standins.py, the ``standins`` fixture in conftest.py)
record argv; no cluster or Docker engine ran. What this proves: the commands,
their arguments and order, cluster ownership (create, reuse, keep, never
delete what the run did not create), and the xdist hand-over through the
state file. What it does not prove: that the real tools accept these
arguments, which only a run on a machine with Docker shows
(.github/workflows/conformance-kind.yml).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from k8s_standins import StandIns

from pytest_meshgate._errors import TargetError, TargetUnavailable
from pytest_meshgate._targets.kubernetes.providers import base as provider_base
from pytest_meshgate._targets.kubernetes.providers.kind import (
    KindProvider,
    KindSettings,
    kind_config,
)
from pytest_meshgate._targets.kubernetes.providers.releases import KIND_NODE_IMAGE

pytest.importorskip("pytest_kind")


def kind_provider(fake: StandIns, keep: bool = False) -> KindProvider:
    provider = KindProvider(KindSettings(keep=keep, cache_dir=fake.root / "cache"))
    # Preflight's Docker probe is tested on its own; here the engine "answers".
    provider._kind, provider._kubectl = Path(fake.path_of("kind")), Path(fake.path_of("kubectl"))
    return provider


def test_creates_a_missing_cluster_with_the_port_mapping_config_and_deletes_it(
    standins: StandIns,
) -> None:
    provider = kind_provider(standins)
    handle = provider.acquire()
    kind = "kind"  # the stand-in logs its name
    workdir = Path(".pytest-kind/meshgate")
    assert standins.calls() == [
        [kind, "get", "clusters"],  # ours: did it exist before?
        [kind, "get", "clusters"],  # pytest-kind's create() looks again
        [
            kind, "create", "cluster", "--name=meshgate", f"--kubeconfig={workdir / 'kubeconfig'}",
            f"--image={KIND_NODE_IMAGE}", "--config", str(workdir / "kind-config.yaml"),
        ],
    ]  # fmt: skip
    config = yaml.safe_load((workdir / "kind-config.yaml").read_text())
    assert config == kind_config()
    assert handle.created and handle.context == "kind-meshgate"
    assert handle.host_ports[30080] == ("127.0.0.1", 30080)
    assert handle.tool_args() == [
        "--kubeconfig",
        str(workdir / "kubeconfig"),
        "--context",
        "kind-meshgate",
    ]

    provider.release()
    assert standins.calls()[-1] == [
        kind,
        "delete",
        "cluster",
        "--name=meshgate",
        f"--kubeconfig={workdir / 'kubeconfig'}",
    ]
    assert standins.clusters() == []


def test_keep_leaves_the_cluster_and_a_later_run_reuses_it_without_deleting(
    standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kind_provider(standins, keep=True)
    first.acquire()
    first.release()
    assert standins.clusters() == ["meshgate"]
    assert not any(c[1] == "delete" for c in standins.calls())

    monkeypatch.setattr(provider_base, "_RUN_ID", "run-2")
    before = len(standins.calls())
    second = kind_provider(standins)  # no keep this time: still not ours to delete
    handle = second.acquire()
    second.release()
    kind = "kind"  # the stand-in logs its name
    assert standins.calls()[before:] == [
        [kind, "get", "clusters"],
        [kind, "get", "kubeconfig", "--name=meshgate"],
        ["docker", "port", "meshgate-control-plane"],
    ]
    assert not handle.created
    assert standins.clusters() == ["meshgate"]


def test_never_deletes_a_cluster_that_existed_before(standins: StandIns) -> None:
    standins.set_clusters("other", "meshgate")
    provider = kind_provider(standins)
    assert not provider.acquire().created
    provider.release()
    assert not any("delete" in c for c in standins.calls())
    assert standins.clusters() == ["other", "meshgate"]


def test_an_existing_cluster_without_our_port_mappings_is_refused_not_deleted(
    standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    standins.set_clusters("meshgate")
    monkeypatch.setenv("STANDIN_DOCKER_PORTS", "30080")
    with pytest.raises(TargetUnavailable) as info:
        kind_provider(standins).acquire()
    message = str(info.value)
    assert "lacks the port mappings" in message and "node ports 30081-30099" in message
    assert "kind delete cluster --name=meshgate" in message  # told, never done
    assert not any("delete" in c for c in standins.calls())


def test_xdist_workers_share_one_cluster_and_the_last_one_out_deletes_it(
    standins: StandIns,
) -> None:
    workers = [kind_provider(standins), kind_provider(standins)]  # same run id, two processes
    for worker in workers:
        worker.acquire()
    creates = [c for c in standins.calls() if c[1:3] == ["create", "cluster"]]
    assert len(creates) == 1
    workers[0].release()
    assert standins.clusters() == ["meshgate"]
    workers[1].release()
    assert standins.clusters() == []


def test_a_failed_kind_create_is_one_clear_error(
    standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_FAIL", "kind create")
    with pytest.raises(TargetError, match=r"`kind create cluster --name=meshgate` failed"):
        kind_provider(standins).acquire()


def test_asked_for_the_pins_they_win_over_the_kind_and_kubectl_on_path(standins: StandIns) -> None:
    from pytest_meshgate._targets.kubernetes.providers.releases import pinned_name

    cache = standins.root / "cache"
    cache.mkdir()
    for tool in ("kind", "kubectl"):  # already downloaded (and checked) earlier
        pinned = cache / pinned_name(tool)
        pinned.write_text("#!/bin/sh\n")
        pinned.chmod(0o755)
    pins = KindProvider(KindSettings(download=True, cache_dir=cache))
    assert pins._binary("kind", None) == cache / pinned_name("kind")
    assert pins._binary("kubectl", None) == cache / pinned_name("kubectl")
    # Not asked: PATH's (the stand-ins here), as a user's own install should be.
    path = KindProvider(KindSettings(cache_dir=cache))
    assert path._binary("kind", None) == Path(standins.path_of("kind"))
    assert "@sha256:" in KIND_NODE_IMAGE  # the node image is pinned by digest too
