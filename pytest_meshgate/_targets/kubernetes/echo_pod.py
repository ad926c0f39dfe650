"""The echo and client pods of a case: the project's own echo, run from a ConfigMap in stock Python.

One echo on every target. The local target's echo (``_targets/echo/``) needs
nothing but the standard library, so on a cluster it runs as it is: its
source files go into a ConfigMap (``meshgate-echo-src``) in every namespace
with echo or client pods, mounted under the pod's working directory as
``src/``, and a pinned stock Python image runs
``python3 -m pytest_meshgate._targets.echo`` with the identity, ports, TLS
files and misbehaviour as arguments (``_targets/echo/cli.py``). The code the
tests here run is the code that answers there, behaviour for behaviour:
``version``, ``/status``, ``/retry``, delays, misbehaving replicas (those that
refuse or drop connections on the service ports keep their readiness probe's
own listener, so they stay Ready), TLS with the case's certificates, and
mutual TLS that refuses a missing certificate.

Each version of a service is a Deployment ``<service>-<version>``; with
``replicas > 1`` each replica is its own Deployment ``<service>-<version>-r<i>``
so that replica ``i`` can be told to misbehave, as on the local target.
Client pods run the same image; ``from:`` requests are the in-pod sender
(``_targets/echo/sender.py``) run through the exec API.

HTTP/2 and gRPC: the echo speaks them through the pure-Python ``h2`` library
(``_targets/echo/http2.py``), which the stock image lacks. So the echo pods of
a case that may speak HTTP/2 to them (``http2``/``grpc`` ports, gRPC or
HTTP/2 checks, GRPCRoutes) also mount a second ConfigMap,
``meshgate-http2-src``, with the source files of ``h2``, ``hpack`` and
``hyperframe`` as this installation has them, at ``deps/`` on the
``PYTHONPATH``: the same gRPC echo (``grpcecho.py``) answers on every target.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..._cases.model.workloads import Client, Service, ServicePort, headless_pod_name
from ..._durations import format_duration
from .namespaces import NamespacePlan, k8s_name, service_namespace

__all__ = [
    "CLIENT_IMAGE",
    "ECHO_IMAGE",
    "ECHO_MODULE",
    "ECHO_WORKDIR",
    "HTTP2_CONFIGMAP",
    "HTTP2_PACKAGES",
    "SENDER_MODULE",
    "SOURCE_CONFIGMAP",
    "client_pod",
    "container_port",
    "echo_deployments",
    "echo_source_files",
    "echo_tls_secret_data",
    "http2_source_files",
    "source_configmap",
    "terminates_tls",
]

# A stock image with python3 >= 3.10 and coreutils' sleep. A tag, not a
# digest: no digest could be verified on the machine this was written on (no
# registry access); pin one with --meshgate-echo-image=python:3.12-slim-bookworm@sha256:...
ECHO_IMAGE = "python:3.12-slim-bookworm"
CLIENT_IMAGE = ECHO_IMAGE
ECHO_WORKDIR = "/srv/meshgate"
SOURCE_CONFIGMAP = "meshgate-echo-src"
HTTP2_CONFIGMAP = "meshgate-http2-src"
# What ``import h2`` needs beyond the standard library (h2's own requirements).
HTTP2_PACKAGES = ("h2", "hpack", "hyperframe")
ECHO_MODULE = "pytest_meshgate._targets.echo"
SENDER_MODULE = "pytest_meshgate._targets.echo.sender"
# The readiness probe's own listener, moved up past any port the service uses.
HEALTH_PORT = 18999

_PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the directory holding pytest_meshgate/
_SOURCES = (
    "pytest_meshgate/__init__.py",
    "pytest_meshgate/_durations.py",
    # The wire format of the gRPC messages the echo speaks.
    "pytest_meshgate/_grpcwire.py",
    "pytest_meshgate/_targets/__init__.py",
    "pytest_meshgate/_version.py",  # the package's __init__ reads it
)


def echo_source_files() -> dict[str, str]:
    """The files the echo and the sender import, by path under ``src/`` (their text)."""
    paths = [*_SOURCES]
    echo_dir = _PACKAGE_ROOT / "pytest_meshgate" / "_targets" / "echo"
    paths += sorted(f"pytest_meshgate/_targets/echo/{p.name}" for p in echo_dir.glob("*.py"))
    return {path: (_PACKAGE_ROOT / path).read_text(encoding="utf-8") for path in paths}


def http2_source_files() -> dict[str, str]:
    """The ``h2`` library's files and its requirements', by path under ``deps/`` (their text).

    Taken from this installation (the project requires ``h2`` through
    ``httpx[http2]``), so the echo in a pod runs the HTTP/2 code the echo here runs.
    """
    import importlib

    files: dict[str, str] = {}
    for name in HTTP2_PACKAGES:
        package = Path(str(importlib.import_module(name).__file__)).parent
        for path in sorted(package.rglob("*.py")):
            relative = path.relative_to(package.parent).as_posix()
            files[relative] = path.read_text(encoding="utf-8")
    return files


def _key(path: str) -> str:
    # ConfigMap keys may not hold "/" (they are file names); items map them back.
    return path.replace("/", ".")


def source_configmap(
    namespace: str,
    sources: Mapping[str, str],
    labels: Mapping[str, str],
    name: str = SOURCE_CONFIGMAP,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "data": {_key(path): text for path, text in sorted(sources.items())},
    }


def _source_volume(
    sources: Mapping[str, str], name: str = "src", configmap: str = SOURCE_CONFIGMAP
) -> dict[str, Any]:
    return {
        "name": name,
        "configMap": {
            "name": configmap,
            "items": [{"key": _key(path), "path": path} for path in sorted(sources)],
        },
    }


def _source_mounts(http2: Mapping[str, str] | None) -> list[dict[str, Any]]:
    mounts = [{"name": "src", "mountPath": f"{ECHO_WORKDIR}/src", "readOnly": True}]
    if http2:
        mounts.append({"name": "deps", "mountPath": f"{ECHO_WORKDIR}/deps", "readOnly": True})
    return mounts


def _source_volumes(
    sources: Mapping[str, str], http2: Mapping[str, str] | None
) -> list[dict[str, Any]]:
    volumes = [_source_volume(sources)]
    if http2:
        volumes.append(_source_volume(http2, "deps", HTTP2_CONFIGMAP))
    return volumes


def _python_env(http2: bool = False) -> list[dict[str, Any]]:
    return [
        # Relative to workingDir; deps/ holds h2 where the pod may speak HTTP/2.
        {"name": "PYTHONPATH", "value": "src:deps" if http2 else "src"},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},  # src/ is read-only
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]


def terminates_tls(port: ServicePort) -> bool:
    """The echo itself terminates TLS on this port (passthrough, re-encryption)."""
    return port.tls is not None or port.protocol in ("HTTPS", "TLS")


def container_port(port: ServicePort) -> int:
    """The port the echo listens on for a Service port: its targetPort, else its port."""
    return port.target_port or port.port


def echo_tls_secret_data(
    server_pems: Mapping[int, Mapping[str, str]], trusted_cas_pem: str
) -> dict[str, str]:
    """The echo's Secret: ``<port>.crt``/``<port>.key`` per TLS port, ``ca.crt`` (the case CAs)."""
    data: dict[str, str] = {"ca.crt": trusted_cas_pem}
    for port, pems in sorted(server_pems.items()):
        data[f"{port}.crt"] = pems["tls.crt"]
        data[f"{port}.key"] = pems["tls.key"]
    return data


def _listen_args(service: Service, mutual_ports: set[int]) -> tuple[list[str], list[int]]:
    """``--listen`` arguments for every port, the health listener's last; the ports."""
    args: list[str] = []
    seen: list[int] = []
    for port in service.ports:
        number = container_port(port)
        if number in seen:
            continue  # two Service ports onto one container port: one listener
        seen.append(number)
        spec = f"{port.name}={number}"
        if terminates_tls(port):
            spec += f",cert=tls/{number}.crt,key=tls/{number}.key,ca=tls/ca.crt"
            if number in mutual_ports:
                spec += ",mutual"
            if port.tls is not None and port.tls.min_version is not None:
                spec += f",min={port.tls.min_version}"
            if port.tls is not None and port.tls.max_version is not None:
                spec += f",max={port.tls.max_version}"
        args += ["--listen", spec]
    health = HEALTH_PORT
    while health in seen:
        health += 1
    # `probe`: a replica that refuses or drops connections keeps this one, so it stays Ready.
    return [*args, "--listen", f"health={health},probe"], [*seen, health]


def echo_deployments(
    service: Service,
    plan: NamespacePlan,
    image: str,
    sources: Mapping[str, str],
    labels: Mapping[str, str],
    tls_secret: str | None,
    mutual_ports: set[int],
    http2: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One Deployment per version (per replica, with ``replicas > 1``) of ``service``.

    ``http2``: the ``h2`` files (``http2_source_files``) when the echo may be
    spoken to in HTTP/2; they are mounted at ``deps/`` from ``HTTP2_CONFIGMAP``.
    """
    namespace = service_namespace(service, plan)
    base = k8s_name(service.name)
    listen, ports = _listen_args(service, mutual_ports)
    objects = []
    for version in service.versions:
        for replica in range(service.replicas):
            name = f"{base}-{version}" + (f"-r{replica}" if service.replicas > 1 else "")
            selector = {"app": base, "version": version}
            if service.replicas > 1:
                selector["meshgate.dev/replica"] = str(replica)
            # A headless service's pods are a StatefulSet's as Kubernetes DNS sees them:
            # hostname <name>-<i>, subdomain <service>, so <pod>.<service>.<ns>.svc
            # resolves to the pod; one Deployment per pod keeps each its own faults.
            hostname = headless_pod_name(service, version, replica) if service.headless else None
            args = [
                "--service", service.name, "--namespace", service.namespace,
                "--version", version, "--pod", hostname or "$(POD_NAME)", *listen,
            ]  # fmt: skip
            bad = service.misbehaviour(version, replica)
            if bad is not None:
                if bad.status is not None:
                    args += ["--fault-status", str(bad.status)]
                if bad.delay:
                    args += ["--fault-delay", format_duration(bad.delay)]
                if bad.reset:
                    args.append("--fault-reset")
                if bad.refuse:
                    args.append("--fault-refuse")
                if bad.blackhole:
                    args.append("--fault-blackhole")
            container: dict[str, Any] = {
                "name": "echo",
                "image": image,
                "command": ["python3", "-m", ECHO_MODULE],
                "args": args,
                "workingDir": ECHO_WORKDIR,
                "env": [
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    *_python_env(bool(http2)),
                ],
                "ports": [{"containerPort": number, "protocol": "TCP"} for number in ports],
                "readinessProbe": {"httpGet": {"path": "/health", "port": ports[-1]}},
                "resources": {"requests": {"cpu": "10m"}},
                "volumeMounts": _source_mounts(http2),
            }
            volumes = _source_volumes(sources, http2)
            if tls_secret is not None:
                container["volumeMounts"].append(
                    {"name": "tls", "mountPath": f"{ECHO_WORKDIR}/tls", "readOnly": True}
                )
                volumes.append({"name": "tls", "secret": {"secretName": tls_secret}})
            objects.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {
                        "name": name,
                        "namespace": namespace,
                        "labels": {**selector, **labels},
                    },
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": selector},
                        "template": {
                            "metadata": {
                                "labels": {**selector, **service.labels},
                                **(
                                    {"annotations": _injection(service.sidecar)}
                                    if service.sidecar is not None
                                    else {}
                                ),
                            },
                            "spec": {
                                **(
                                    {"hostname": hostname, "subdomain": base}
                                    if hostname is not None
                                    else {}
                                ),
                                "containers": [container],
                                "volumes": volumes,
                                "terminationGracePeriodSeconds": 1,
                                **(
                                    {"serviceAccountName": service.service_account}
                                    if service.service_account is not None
                                    else {}
                                ),
                            },
                        },
                    },
                }
            )
    return objects


def _injection(sidecar: bool | None) -> dict[str, str]:
    """The pod annotation ``sidecar.istio.io/inject`` a case's ``sidecar`` sets, if it does."""
    return {} if sidecar is None else {"sidecar.istio.io/inject": "true" if sidecar else "false"}


def client_pod(
    client: Client,
    plan: NamespacePlan,
    image: str,
    sources: Mapping[str, str],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """A mesh client: the same image idling, the sender's source mounted, a sidecar beside it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": client.name,
            "namespace": plan.map(client.namespace),
            "labels": {"app": client.name, **client.labels, **labels},
            # The sender must not start before the sidecar can carry its traffic.
            "annotations": {
                "proxy.istio.io/config": '{"holdApplicationUntilProxyStarts":true}',
                **_injection(client.sidecar),
            },
        },
        "spec": {
            **({"serviceAccountName": client.service_account} if client.service_account else {}),
            "containers": [
                {
                    "name": "client",
                    "image": image,
                    "command": ["sleep", "infinity"],
                    "workingDir": ECHO_WORKDIR,
                    "env": _python_env(),
                    "resources": {"requests": {"cpu": "10m"}},
                    "volumeMounts": [
                        {"name": "src", "mountPath": f"{ECHO_WORKDIR}/src", "readOnly": True}
                    ],
                }
            ],
            "volumes": [_source_volume(sources)],
            "terminationGracePeriodSeconds": 0,
        },
    }
