"""An application's Services and Deployments in ``spec.resources``, as the case's echo services.

Istio's ``samples/helloworld/helloworld.yaml`` holds a Service ``helloworld``
selecting ``app: helloworld`` and Deployments ``helloworld-v1``/``-v2`` whose
pods carry ``version: v1``/``v2``. That becomes what ``services:`` would
declare: ``{name: helloworld, ports: [{name: http, port: 5000}], versions:
[v1, v2]}``; the echo then answers in the application's pods' place,
reporting service, version and pod as for any echo service.

Read as Istio and Kubernetes read them: the Service's pods are those of the
Deployments whose pod template labels its selector matches; each Deployment
is a version (its pods' ``version`` label); a port's protocol comes from
``appProtocol`` or the name prefix (``pkg/config/kube/conversion.go``
``ConvertProtocol``); a named ``targetPort`` resolves against the selected
containers' ports; pods run as ``serviceAccountName`` (Kubernetes' default:
``default``), their mesh identity.

StatefulSets count as Deployments do. A headless Service (``clusterIP:
None``) becomes a headless echo service when StatefulSets run its pods
(``serviceName`` naming it, so Kubernetes DNS gives each pod its name); an
ExternalName Service becomes an ExternalName echo service, an alias with no
pods.

What the echo cannot stand in for is an error naming it: a Deployment no
Service selects, a Service with no pods or no selector, a headless Service
over Deployments (their pods have no DNS names of their own), a port with no
protocol Istio would know without sniffing, a named targetPort no container
declares, versions that resolve a port differently or run under different
service accounts or replica counts, sidecar injection turned off for the
pods.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .._errors import Problem
from .apply import apply_in_order
from .model.apps import KubernetesDeployment, KubernetesService, KubernetesStatefulSet
from .model.base import KeyPath
from .model.case import Case
from .model.workloads import Service, ServicePort, port_protocol
from .yamlpos import Mark, Positions, format_key_path

__all__ = ["AppProblem", "app_services", "with_app_services"]

Workload = KubernetesDeployment | KubernetesStatefulSet

_INJECT = "sidecar.istio.io/inject"


@dataclass(frozen=True)
class AppProblem:
    """``message`` about ``resources[index]`` at ``key_path`` inside it."""

    index: int
    key_path: KeyPath
    message: str


def with_app_services(
    case: Case, resources: Sequence[Any], positions: Positions, path: Path, problems: list[Problem]
) -> Case:
    """``case`` with the echo services its Services and Deployments stand for; why not, located.

    Read from the resources as applying them leaves them, so a Deployment
    repeated (edited in a later document) counts once, as last defined.
    """

    def locate(key_path: KeyPath) -> Mark:
        return positions.locate(key_path) or Mark(path, 1, 1)

    def located(key_path: KeyPath, message: str) -> Problem:
        return locate(key_path).problem(format_key_path(key_path), message)

    paths = [("spec", "resources", i) for i in range(len(resources))]
    applied = apply_in_order(resources, paths, locate)
    derived, found = app_services(applied.resources)
    for problem in found:
        problems.append(
            located((*applied.paths[problem.index], *problem.key_path), problem.message)
        )
    declared = {(s.namespace, s.name): i for i, s in enumerate(case.spec.services)}
    for service in derived:
        i = declared.get((service.namespace, service.name), -1)
        if i >= 0:
            message = (
                f"service {service.namespace}/{service.name} is also a Service manifest of "
                "spec.resources: declare it once"
            )
            problems.append(located(("spec", "services", i, "name"), message))
    if not derived or problems:
        return case
    services = [*case.spec.services, *derived]
    return case.model_copy(update={"spec": case.spec.model_copy(update={"services": services})})


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def app_services(resources: Sequence[object]) -> tuple[list[Service], list[AppProblem]]:
    """The echo services the resources' Services and Deployments stand for, or why not."""
    services: list[Service] = []
    problems: list[AppProblem] = []
    deployments = [
        (i, r)
        for i, r in enumerate(resources)
        if isinstance(r, KubernetesDeployment | KubernetesStatefulSet)
    ]
    selected: set[int] = set()
    for index, resource in enumerate(resources):
        if not isinstance(resource, KubernetesService):
            continue
        pods = [
            (i, d)
            for i, d in deployments
            if d.namespace == resource.namespace
            and _selects(resource.spec.selector, d.spec.template.metadata.labels)
        ]
        selected.update(i for i, _ in pods)
        found = list(_service(index, resource, pods))
        service = next((f for f in found if isinstance(f, Service)), None)
        problems += [f for f in found if isinstance(f, AppProblem)]
        if service is not None and not any(isinstance(f, AppProblem) for f in found):
            services.append(service)
    for i, deployment in deployments:
        if i not in selected:
            problems.append(
                AppProblem(
                    i,
                    ("spec", "template", "metadata", "labels"),
                    f"{deployment.kind} {deployment.key}: no Service of the case selects its pods; "
                    "the echo stands in for an application behind a Service only",
                )
            )
    return services, problems


def _service(
    index: int, resource: KubernetesService, pods: list[tuple[int, Workload]]
) -> Iterator[Service | AppProblem]:
    spec, name = resource.spec, resource.key

    def problem(key_path: KeyPath, message: str) -> AppProblem:
        return AppProblem(index, key_path, f"Service {name}: {message}")

    if spec.type == "ExternalName":
        yield from _external_name(resource, problem)
        return
    headless = spec.cluster_ip == "None"
    if not spec.selector:
        yield problem(("spec",), "a Service without a selector has no pods to stand in for")
        return
    if not pods:
        yield problem(("spec", "selector"), "no Deployment of the case has pods it selects")
        return

    versions: list[str] = []
    for i, deployment in pods:
        template = deployment.spec.template
        labels = template.metadata.labels
        version = labels.get("version", "v1" if len(pods) == 1 else "")
        if not version:
            yield AppProblem(
                i,
                ("spec", "template", "metadata", "labels"),
                f"{deployment.kind} {deployment.key}: pods of one Service in several workloads "
                "need a version label to tell them apart",
            )
            return
        if version in versions:
            yield AppProblem(
                i,
                ("spec", "template", "metadata", "labels", "version"),
                f"{deployment.kind} {deployment.key}: a second workload of version {version}",
            )
            return
        for where, marks in (("annotations", template.metadata.annotations), ("labels", labels)):
            if marks.get(_INJECT) == "false":
                yield AppProblem(
                    i,
                    ("spec", "template", "metadata", where, _INJECT),
                    f"{deployment.kind} {deployment.key}: pods outside the mesh cannot be honoured",
                )
                return
        versions.append(version)
    first = pods[0][1]
    for attribute, what in (("replicas", "replica counts"), ("account", "service accounts")):
        values = {
            d.key: (d.spec.replicas if attribute == "replicas" else d.spec.template.spec.account)
            for _, d in pods
        }
        if len(set(values.values())) > 1:
            listed = ", ".join(f"{k}: {v}" for k, v in values.items())
            yield problem(("spec", "selector"), f"its Deployments differ in {what} ({listed})")
            return
    if first.spec.replicas == 0:
        yield problem(("spec", "selector"), "its Deployments run no replicas")
        return
    if headless:
        found = _headless_pods(resource, pods, versions)
        if found is not None:
            yield found
            return

    ports: list[ServicePort] = []
    for j, port in enumerate(spec.ports):
        at: KeyPath = ("spec", "ports", j)
        if port.protocol != "TCP":
            yield problem((*at, "protocol"), f"{port.protocol} ports cannot be honoured")
            return
        if port.name is None and port.app_protocol is None:
            yield problem(
                at,
                f"port {port.port} has no name or appProtocol: Istio would sniff its protocol, "
                "which the echo cannot stand in for (name it http, grpc, tcp, ...)",
            )
            return
        target = _target_port(port.target_port, port.port, pods)
        if isinstance(target, str):
            yield problem((*at, "targetPort"), target)
            return
        port_name = port.name or f"{port.app_protocol}-{port.port}".replace("/", "-").lower()
        if port_protocol(port_name, port.app_protocol, port.port) == "UNSUPPORTED":
            yield problem(
                (*at, "name"),
                f"port {port.port}: Istio reads no protocol from name {port.name!r}"
                + (f" or appProtocol {port.app_protocol!r}" if port.app_protocol else "")
                + " and would sniff it, which the echo cannot stand in for",
            )
            return
        written: dict[str, Any] = {"name": port_name, "port": port.port, "targetPort": target}
        if port.app_protocol is not None:
            written["appProtocol"] = port.app_protocol
        try:
            ports.append(ServicePort.model_validate(written))
        except ValidationError as exc:
            yield problem(at, _first_error(exc))
            return
    extra = {
        k: v
        for k, v in first.spec.template.metadata.labels.items()
        if k not in ("app", "version")
        and all(d.spec.template.metadata.labels.get(k) == v for _, d in pods)
    }
    if spec.selector.get("app", resource.name) != resource.name:
        yield problem(
            ("spec", "selector", "app"),
            "the echo labels its pods app=<service name>; a selector on another app "
            "cannot be honoured",
        )
        return
    try:
        yield Service(
            name=resource.name,
            namespace=resource.namespace,
            ports=ports,
            versions=versions,
            replicas=first.spec.replicas,
            labels=extra,
            service_account=first.spec.template.spec.account,
            headless=headless,
        )
    except ValidationError as exc:  # more versions or replicas than an echo service runs
        yield problem(("spec",), _first_error(exc))


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"as an echo service: {where}: {error['msg']}" if where else error["msg"]


def _target_port(
    target: int | str | None, port: int, pods: list[tuple[int, Workload]]
) -> int | str:
    """The container port number, or why it cannot be resolved (a str)."""
    if target is None:
        return port
    if isinstance(target, int):
        return target
    if target.isdigit():
        return int(target)
    numbers: set[int] = set()
    for _, deployment in pods:
        found = [
            p.container_port
            for c in deployment.spec.template.spec.containers
            for p in c.ports
            if p.name == target
        ]
        if not found:
            return (
                f"targetPort {target!r}: {deployment.kind} {deployment.key} has no container port "
                "of that name"
            )
        numbers.add(found[0])
    if len(numbers) > 1:
        return f"targetPort {target!r} names different container ports in its Deployments"
    return numbers.pop()


def _external_name(resource: KubernetesService, problem: Any) -> Iterator[Service | AppProblem]:
    """An ExternalName Service: the alias Istio makes of it; its ports as written."""
    ports: list[ServicePort] = []
    for j, port in enumerate(resource.spec.ports):
        # Istio ignores them (an alias); only a port number can default a route's port.
        target = port.target_port if isinstance(port.target_port, int) else None
        name = port.name or f"tcp-{port.port}"
        try:
            ports.append(ServicePort(name=name, port=port.port, target_port=target))
        except ValidationError as exc:
            yield problem(("spec", "ports", j), _first_error(exc))
            return
    try:
        yield Service(
            name=resource.name,
            namespace=resource.namespace,
            external_name=resource.spec.external_name,
            ports=ports,
        )
    except ValidationError as exc:
        yield problem(("spec",), _first_error(exc))


def _headless_pods(
    resource: KubernetesService, pods: list[tuple[int, Workload]], versions: list[str]
) -> AppProblem | None:
    """Why the pods of a headless Service are not those the echo stands in for, if they are not.

    Kubernetes DNS names a pod ``<hostname>.<subdomain>...`` when a StatefulSet
    whose ``serviceName`` is this Service runs it; the echo's headless pods are
    those of StatefulSets named ``<service>`` (one version) or
    ``<service>-<version>``, pods ``<statefulset>-<i>``.
    """
    for i, workload in pods:
        at: KeyPath = ("metadata", "name")
        if not isinstance(workload, KubernetesStatefulSet):
            return AppProblem(
                i,
                ("kind",),
                f"Deployment {workload.key}: pods of the headless Service {resource.key} have no "
                "DNS names of their own unless a StatefulSet runs them; the echo stands in for "
                f"StatefulSet pods only (kind: StatefulSet, serviceName: {resource.name})",
            )
        if workload.spec.service_name != resource.name:
            return AppProblem(
                i,
                ("spec", "serviceName"),
                f"StatefulSet {workload.key}: serviceName must be the headless Service "
                f"{resource.name!r} that selects its pods, to give them DNS names",
            )
        version = versions[[p[0] for p in pods].index(i)]
        wanted = resource.name if len(pods) == 1 else f"{resource.name}-{version}"
        if workload.name != wanted:
            return AppProblem(
                i,
                at,
                f"StatefulSet {workload.key}: the echo names the pods of a headless Service "
                f"<service>-<i> (one version) or <service>-<version>-<i>: name it {wanted!r}",
            )
    return None
