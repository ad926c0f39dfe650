"""An application's own manifests: ``v1`` Service and ServiceAccount, ``apps/v1`` Deployment
and StatefulSet.

The echo answers in the application's place (``_cases/appworkloads.py`` turns
them into the case's services), so only what routing reads is modelled
exactly: labels, selectors, ports, replicas, the service account. What the
application's container does (image, command, env, volumes, probes,
resources, security settings) cannot matter to a gateway and is accepted
and ignored (``IGNORED_POD_KEYS``, ``IGNORED_CONTAINER_KEYS``); what would
change how traffic reaches the pods (hostNetwork, hostPort, init containers,
StatefulSet ordinals) is refused by name. Any other key is
an unknown key, reported with a "did you mean".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from .base import PortNumber, StrictModel
from .kubernetes import KubernetesLabelSelector, ObjectMeta
from .values import external_host_name

__all__ = [
    "IGNORED_CONTAINER_KEYS",
    "IGNORED_POD_KEYS",
    "AppResource",
    "Container",
    "ContainerPort",
    "KubernetesDeployment",
    "KubernetesService",
    "KubernetesServiceAccount",
    "KubernetesServicePort",
    "KubernetesStatefulSet",
]

# Harmless to ignore: they shape the application's process, which the echo replaces.
IGNORED_CONTAINER_KEYS = (
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "workingDir",
    "env",
    "envFrom",
    "resources",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "securityContext",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "stdin",
    "stdinOnce",
    "tty",
)
IGNORED_POD_KEYS = (
    "volumes",
    "securityContext",
    "imagePullSecrets",
    "nodeSelector",
    "nodeName",
    "affinity",
    "tolerations",
    "topologySpreadConstraints",
    "priorityClassName",
    "priority",
    "schedulerName",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "restartPolicy",
    "dnsPolicy",
    "dnsConfig",
    "enableServiceLinks",
    "automountServiceAccountToken",
    "runtimeClassName",
    "preemptionPolicy",
)
IGNORED_DEPLOYMENT_KEYS = (
    "strategy",
    "minReadySeconds",
    "revisionHistoryLimit",
    "progressDeadlineSeconds",
    "paused",
)
# A StatefulSet's rollout and storage: the echo keeps no state.
IGNORED_STATEFULSET_KEYS = (
    "updateStrategy",
    "podManagementPolicy",
    "minReadySeconds",
    "revisionHistoryLimit",
    "volumeClaimTemplates",
    "persistentVolumeClaimRetentionPolicy",
)


def _schema_lists(ignored: tuple[str, ...]) -> Any:
    """The JSON Schema names the ignored keys too, so editors accept them as the loader does."""

    def extra(schema: dict[str, Any]) -> None:
        for key in ignored:
            schema.setdefault("properties", {})[key] = {"description": "Ignored: the echo answers."}

    return extra


def _refuse(value: Any, refused: dict[str, str]) -> Any:
    if isinstance(value, dict):
        for key, why in refused.items():
            if value.get(key) not in (None, False, [], {}):
                raise ValueError(f"{key} cannot be honoured: {why}")
    return value


def _accepting(value: Any, ignored: tuple[str, ...]) -> Any:
    """``value`` with the ignored keys moved out of the model's sight."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ignored}
    return value


class ContainerPort(StrictModel):
    container_port: PortNumber
    name: str | None = Field(default=None, max_length=15)
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    host_ip: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_host_port(cls, value: Any) -> Any:
        why = "the echo listens in the pod's place, never on the node"
        return _refuse(value, {"hostPort": why})


class Container(StrictModel):
    model_config = ConfigDict(json_schema_extra=_schema_lists(IGNORED_CONTAINER_KEYS))

    name: str = Field(min_length=1)
    ports: list[ContainerPort] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _ignored(cls, value: Any) -> Any:
        return _accepting(value, IGNORED_CONTAINER_KEYS)


class PodSpec(StrictModel):
    model_config = ConfigDict(json_schema_extra=_schema_lists(IGNORED_POD_KEYS))

    containers: list[Container] = Field(min_length=1)
    service_account_name: str | None = None
    service_account: str | None = None  # the deprecated alias of serviceAccountName

    @model_validator(mode="before")
    @classmethod
    def _ignored(cls, value: Any) -> Any:
        value = _refuse(
            value,
            {
                "hostNetwork": "the echo answers on the pod network; a host-network pod "
                "bypasses the sidecar",
                "initContainers": "the echo replaces the application's pod, so its init "
                "containers would never run",
                "hostAliases": "the echo resolves names as the mesh does",
            },
        )
        return _accepting(value, IGNORED_POD_KEYS)

    @property
    def account(self) -> str:
        """The pod's service account; Kubernetes' is ``default`` when none is named."""
        return self.service_account_name or self.service_account or "default"


class PodTemplateMeta(StrictModel):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    name: str | None = None


class PodTemplate(StrictModel):
    metadata: PodTemplateMeta = Field(default_factory=PodTemplateMeta)
    spec: PodSpec


class DeploymentSpec(StrictModel):
    model_config = ConfigDict(json_schema_extra=_schema_lists(IGNORED_DEPLOYMENT_KEYS))

    replicas: int = Field(default=1, ge=0)
    selector: KubernetesLabelSelector
    template: PodTemplate

    @model_validator(mode="before")
    @classmethod
    def _ignored(cls, value: Any) -> Any:
        return _accepting(value, IGNORED_DEPLOYMENT_KEYS)


class StatefulSetSpec(StrictModel):
    model_config = ConfigDict(json_schema_extra=_schema_lists(IGNORED_STATEFULSET_KEYS))

    replicas: int = Field(default=1, ge=0)
    selector: KubernetesLabelSelector
    template: PodTemplate
    service_name: str | None = Field(
        default=None,
        description="The headless Service that gives its pods their DNS names "
        "(<pod>.<serviceName>.<ns>.svc.cluster.local).",
    )

    @model_validator(mode="before")
    @classmethod
    def _ignored(cls, value: Any) -> Any:
        why = "the echo's pods are numbered from 0, as without ordinals"
        return _accepting(_refuse(value, {"ordinals": why}), IGNORED_STATEFULSET_KEYS)


class AppResource(StrictModel):
    """What the three kinds share: a namespaced object."""

    metadata: ObjectMeta

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"


class KubernetesDeployment(AppResource):
    api_version: Literal["apps/v1"]
    kind: Literal["Deployment"]
    spec: DeploymentSpec


class KubernetesStatefulSet(AppResource):
    api_version: Literal["apps/v1"]
    kind: Literal["StatefulSet"]
    spec: StatefulSetSpec


class KubernetesServicePort(StrictModel):
    port: PortNumber
    name: str | None = Field(default=None, max_length=63)
    target_port: int | str | None = None
    app_protocol: str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    node_port: int | None = None


class ServiceSpec(StrictModel):
    ports: list[KubernetesServicePort] = Field(default_factory=list)
    selector: dict[str, str] = Field(default_factory=dict)
    type: Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] = "ClusterIP"
    # Kubernetes spells these clusterIP/clusterIPs, not as the camel-case generator would.
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    cluster_ips: list[str] = Field(default_factory=list, alias="clusterIPs")
    external_name: str | None = None
    session_affinity: Literal["None", "ClientIP"] = "None"
    external_traffic_policy: str | None = None
    internal_traffic_policy: str | None = None
    ip_families: list[str] = Field(default_factory=list)
    ip_family_policy: str | None = None
    publish_not_ready_addresses: bool = False

    @model_validator(mode="after")
    def _service_rules(self) -> ServiceSpec:
        """What the API server's ValidateService refuses of these fields."""
        if self.type == "ExternalName":
            if not self.external_name:
                raise ValueError("externalName: Required value for type ExternalName")
            external_host_name(self.external_name)
            if self.cluster_ip or self.cluster_ips:
                raise ValueError("clusterIP: may not be set for ExternalName services")
            return self
        if self.cluster_ip == "None" and self.type in ("NodePort", "LoadBalancer"):
            raise ValueError(f"clusterIP: may not be 'None' for {self.type} services")
        if not self.ports and self.cluster_ip != "None":
            raise ValueError("ports: Required value (only a headless Service may have none)")
        return self


class KubernetesService(AppResource):
    api_version: Literal["v1"]
    kind: Literal["Service"]
    spec: ServiceSpec


class KubernetesServiceAccount(AppResource):
    api_version: Literal["v1"]
    kind: Literal["ServiceAccount"]
    secrets: list[dict[str, Any]] = Field(default_factory=list)
    image_pull_secrets: list[dict[str, Any]] = Field(default_factory=list)
    automount_service_account_token: bool | None = None
