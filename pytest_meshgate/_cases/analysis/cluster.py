"""What the analyzers look at: a case's resources, and its workloads as pods, Services, Secrets.

``istioctl analyze`` reads Istio resources and the Kubernetes objects beside
them. A case has no Kubernetes manifests; its workloads stand for them, as
the targets deploy them:

- each gateway workload (the default ``ingress`` and ``egress`` gateways, and
  ``spec.gateways``) is a pod with its labels and a Service of the same name
  selecting them, with its ports;
- each echo service (not ``external``) is a Service selecting ``app=<name>``
  with its ports, and a pod per version and replica labelled ``app=<name>``,
  ``version=<v>`` plus its ``labels``; a ``selector`` service selects what it
  says and an ExternalName one nothing, and neither has pods;
- each client is a pod labelled ``app=<name>`` plus its ``labels``;
- each secret with a ``namespace`` is a Kubernetes Secret there.

Every Service port is TCP, as a Kubernetes Service port is by default.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..model.istio import IstioResource
from ..model.workloads import DEFAULT_GATEWAYS, GatewayWorkload
from ..yamlpos import KeyPath, Mark
from .findings import Finding
from .messages import MessageType

if TYPE_CHECKING:
    from ..loader import LoadedCase

__all__ = [
    "Cluster",
    "Instance",
    "Pod",
    "Secret",
    "Service",
    "ServicePort",
    "label_selector",
    "selects",
]


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    target_port: int | None = None
    protocol: str = "TCP"


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str
    selector: Mapping[str, str]
    ports: tuple[ServicePort, ...]


@dataclass(frozen=True)
class Secret:
    """A Kubernetes Secret; ``valid`` when it holds a certificate and key Istio can serve."""

    name: str
    namespace: str
    valid: bool


@dataclass(frozen=True)
class Instance:
    """One resource of the case and its index in ``LoadedCase.resources`` (for its lines)."""

    resource: Any
    index: int

    @property
    def kind(self) -> str:
        return str(self.resource.kind)

    @property
    def namespace(self) -> str:
        """Its namespace; ``""`` for a cluster-scoped object, as Kubernetes stores it."""
        return str(self.resource.namespace)

    @property
    def name(self) -> str:
        return str(self.resource.metadata.name)

    @property
    def full_name(self) -> str:
        """``namespace/name``, Istio's ``resource.FullName`` (the name alone if cluster-scoped)."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def spec(self) -> Any:
        return self.resource.spec


@dataclass
class Cluster:
    """A case as the analyzers see it; analyzers report into ``findings``."""

    loaded: LoadedCase
    pods: tuple[Pod, ...]
    services: tuple[Service, ...]
    secrets: tuple[Secret, ...]
    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def of(cls, loaded: LoadedCase) -> Cluster:
        spec = loaded.case.spec
        gateways: list[GatewayWorkload] = [*DEFAULT_GATEWAYS.values(), *spec.gateways]
        pods = [Pod(g.name, g.namespace, dict(g.labels)) for g in gateways]
        services = [
            Service(
                g.name,
                g.namespace,
                dict(g.labels),
                tuple(ServicePort(p.name, p.port, p.target_port) for p in g.ports),
            )
            for g in gateways
        ]
        for echo in spec.services:
            if echo.external:
                continue
            ports = tuple(ServicePort(p.name, p.port, p.target_port) for p in echo.ports)
            # An ExternalName Service selects nothing; a selector service its selector's pods.
            selector = {} if echo.external_name is not None else {"app": echo.name}
            if echo.selector is not None:
                selector = dict(echo.selector)
            services.append(Service(echo.name, echo.namespace, selector, ports))
            if not echo.runs_pods:
                continue
            for version in echo.versions:
                labels = {"app": echo.name, "version": version, **echo.labels}
                for replica in range(echo.replicas):
                    name = f"{echo.name}-{version}" + (f"-{replica}" if echo.replicas > 1 else "")
                    pods.append(Pod(name, echo.namespace, labels))
        pods += [Pod(c.name, c.namespace, c.pod_labels) for c in spec.clients]
        secrets = tuple(
            Secret(s.name, s.namespace, s.type in ("server", "mutual", "client") and not s.expired)
            for s in spec.secrets
            if s.namespace is not None
        )
        return cls(loaded, tuple(pods), tuple(services), secrets)

    def instances(self, kind: str) -> Iterator[Instance]:
        """The case's Istio resources of ``kind``, in document order.

        Only Istio config: the analyzers read ``networking.istio.io`` kinds, and a
        Gateway API ``Gateway`` shares its kind name with Istio's.
        """
        for index, resource in enumerate(self.loaded.resources):
            if isinstance(resource, IstioResource) and resource.kind == kind:
                yield Instance(resource, index)

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        return any(i.namespace == namespace and i.name == name for i in self.instances(kind))

    def report(
        self, message: MessageType, instance: Instance, *args: object, at: KeyPath = ()
    ) -> None:
        """Record ``message`` about ``instance``, located at its field ``at`` if given.

        A field that is not written (``caCertificates`` when it is missing) is
        located at its nearest written ancestor; no field: the resource itself.
        """
        mark = self.loaded.resource_mark(instance.index, at)
        self._add(message, instance.kind, instance.full_name, mark, args)

    def report_workload(
        self, message: MessageType, kind: str, full_name: str, at: KeyPath, *args: object
    ) -> None:
        """Record ``message`` about a Kubernetes object a workload stands for (a Service of
        ``spec.services``), located at ``at`` in the case file."""
        self._add(message, kind, full_name, self.loaded.mark(at), args)

    def _add(
        self, message: MessageType, kind: str, full_name: str, mark: Mark, args: tuple[object, ...]
    ) -> None:
        self.findings.append(
            Finding(
                code=message.code,
                level=message.level,
                message=message.render(*args),
                kind=kind,
                name=full_name,
                path=mark.path,
                line=mark.line,
                column=mark.column,
            )
        )


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Kubernetes equality selector (``labels.SelectorFromSet``); an empty one selects all."""
    return all(labels.get(key) == value for key, value in selector.items())


def label_selector(selector: Mapping[str, str] | None) -> str:
    """The selector as Kubernetes prints it: ``app=x,istio=y``, keys sorted."""
    return ",".join(f"{key}={value}" for key, value in sorted((selector or {}).items()))
