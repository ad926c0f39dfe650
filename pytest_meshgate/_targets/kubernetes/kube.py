"""Talking to the API server with the ``kubernetes`` client: apply, wait, delete, dump.

Every object goes through the client's ``DynamicClient``, so core kinds and
Istio's CRDs (custom objects) take one code path, bodies stay plain dicts (no
generated-model churn between client releases), and unknown CRDs need no
table. Applying is create-or-replace with the live ``resourceVersion``, as
Gateway API's ``MustApplyWithCleanup`` does (its
``conformance/utils/kubernetes/apply.go`` reads first; here the create comes
first and a conflict leads to the replace). Deletion is waited for, so the
next case never meets a terminating namespace.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ..._errors import TargetError

__all__ = [
    "FieldsRejected",
    "Kube",
    "condition_true",
    "k8s",
    "pods_ready",
    "rollout_status",
    "wait_daemonsets_ready",
    "wait_deployments_available",
]

POLL_INTERVAL = 1.0


def k8s(module: str) -> Any:
    """A module of the optional ``kubernetes`` client."""
    return importlib.import_module(module)


def _now() -> float:
    return time.monotonic()


class FieldsRejected(TargetError):
    """The API server refused an object for fields its schema lacks (strict field validation).

    Applying is ``kubectl apply --validate=strict``: a field the installed CRD
    does not know (an Istio field newer than the cluster's Istio) is an error
    naming the field, never silently pruned.
    """

    def __init__(self, obj: Mapping[str, Any], message: str) -> None:
        self.fields = re.findall(r'unknown field "([^"]+)"', message)
        super().__init__(f"meshgate: the API server refused {_describe(obj)}: {message}")


class Kube:
    """A thin, dict-in dict-out layer over ``kubernetes.dynamic.DynamicClient``."""

    def __init__(self, api_client: Any, sleep: Callable[[float], None] = time.sleep) -> None:
        # Imported by name: the kubernetes client is an optional extra, and
        # typed as Any here whether or not it is installed where mypy runs.
        self.api_client = api_client
        self.dynamic = k8s("kubernetes.dynamic").DynamicClient(api_client)
        self.sleep = sleep

    # ------------------------------------------------------------ basics

    def resource(self, api_version: str, kind: str) -> Any:
        errors = k8s("kubernetes.dynamic.exceptions")

        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except errors.ResourceNotFoundError:
            raise TargetError(
                f"meshgate: the cluster does not serve {kind} ({api_version}); "
                "is the implementation's CRD installed?"
            ) from None

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> Any | None:
        """The live object as a dict, or None when it does not exist."""
        errors = k8s("kubernetes.dynamic.exceptions")

        try:
            found = self.resource(api_version, kind).get(name=name, namespace=namespace)
        except errors.NotFoundError:
            return None
        return found.to_dict()

    def list(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        found = self.resource(api_version, kind).get(
            namespace=namespace, label_selector=label_selector or None
        )
        return [item for item in found.to_dict().get("items", [])]

    def running_pods(
        self,
        namespace: str,
        labels: Mapping[str, str] | None = None,
        pod_name: str | None = None,
    ) -> Sequence[dict[str, Any]]:
        """The running pods (not being deleted) of ``labels``, or the one ``pod_name``."""
        if pod_name is not None:
            found = self.get("v1", "Pod", pod_name, namespace)
            pods = [found] if found is not None else []
        else:
            selector = ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))
            pods = self.list("v1", "Pod", namespace, label_selector=selector)
        return [
            p
            for p in pods
            if not (p.get("metadata") or {}).get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") == "Running"
        ]

    def pod_proxy_get(self, namespace: str, pod: str, port: int, path: str) -> str:
        """``GET`` ``path`` on a pod's ``port`` through the API server's pod proxy."""
        core = k8s("kubernetes.client").CoreV1Api(self.api_client)
        body = core.connect_get_namespaced_pod_proxy_with_path(f"{pod}:{port}", namespace, path)
        return body if isinstance(body, str) else str(body)

    def pod_log(self, namespace: str, pod: str, container: str, since_seconds: int) -> str:
        """The log of a pod's container over the last ``since_seconds``."""
        core = k8s("kubernetes.client").CoreV1Api(self.api_client)
        body = core.read_namespaced_pod_log(
            pod, namespace, container=container, since_seconds=since_seconds
        )
        return body if isinstance(body, str) else str(body)

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create ``obj``, or replace the live one (idempotent; tolerates leftovers).

        Strict field validation, as ``kubectl apply --validate=strict``: an
        unknown field is a ``FieldsRejected``. Returns the object as stored
        (with the server's ``creationTimestamp`` and ``uid``).
        """
        errors = k8s("kubernetes.dynamic.exceptions")

        resource = self.resource(obj["apiVersion"], obj["kind"])
        metadata = obj["metadata"]
        namespace = metadata.get("namespace") if resource.namespaced else None
        strict = [("fieldValidation", "Strict")]
        try:
            created = resource.create(body=dict(obj), namespace=namespace, query_params=strict)
            return dict(created.to_dict())
        except errors.ConflictError:
            pass
        except errors.DynamicApiError as exc:
            raise _refusal(obj, exc) from None
        live = resource.get(name=metadata["name"], namespace=namespace).to_dict()
        body = copy.deepcopy(dict(obj))
        body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        if obj["kind"] == "Service":
            # clusterIP is immutable; an update without it is refused.
            for key in ("clusterIP", "clusterIPs"):
                if key in live.get("spec", {}):
                    body.setdefault("spec", {})[key] = live["spec"][key]
        if obj["kind"] == "Namespace":
            # A namespace is only relabelled; replacing it would drop finalizers.
            labels = {**live["metadata"].get("labels", {}), **metadata.get("labels", {})}
            patched = resource.patch(
                body={"metadata": {"labels": labels}},
                name=metadata["name"],
                content_type="application/merge-patch+json",
            )
            return dict(patched.to_dict())
        try:
            replaced = resource.replace(body=body, namespace=namespace, query_params=strict)
        except errors.DynamicApiError as exc:
            raise _refusal(obj, exc) from None
        return dict(replaced.to_dict())

    def server_side_apply(self, obj: Mapping[str, Any], field_manager: str) -> dict[str, Any]:
        """Server-side apply ``obj`` as ``field_manager``, taking over conflicting fields.

        What ``kubectl apply --server-side --force-conflicts`` sends: a PATCH
        of type ``application/apply-patch+yaml`` that creates the object if
        it does not exist.
        """
        errors = k8s("kubernetes.dynamic.exceptions")

        resource = self.resource(obj["apiVersion"], obj["kind"])
        namespace = obj["metadata"].get("namespace") if resource.namespaced else None
        try:
            applied = resource.server_side_apply(
                body=dict(obj),
                name=obj["metadata"]["name"],
                namespace=namespace,
                field_manager=field_manager,
                force_conflicts=True,
            )
        except errors.DynamicApiError as exc:
            raise _refusal(obj, exc) from None
        return dict(applied.to_dict())

    def cluster_uid(self) -> str:
        """The uid of ``kube-system``: it changes when the cluster is created anew."""
        live = self.get("v1", "Namespace", "kube-system", None) or {}
        return str((live.get("metadata") or {}).get("uid") or "")

    def delete(self, obj: Mapping[str, Any]) -> None:
        """Delete ``obj``; already gone is fine."""
        errors = k8s("kubernetes.dynamic.exceptions")

        resource = self.resource(obj["apiVersion"], obj["kind"])
        metadata = obj["metadata"]
        namespace = metadata.get("namespace") if resource.namespaced else None
        with contextlib.suppress(errors.NotFoundError):
            resource.delete(
                name=metadata["name"], namespace=namespace, body={"propagationPolicy": "Background"}
            )

    def wait_gone(self, objs: Sequence[Mapping[str, Any]], timeout: float) -> None:
        """Poll until every object is NotFound (deleteAndWait)."""
        deadline = _now() + timeout
        pending = list(objs)
        while pending:
            pending = [
                o
                for o in pending
                if self.get(
                    o["apiVersion"],
                    o["kind"],
                    o["metadata"]["name"],
                    o["metadata"].get("namespace"),
                )
                is not None
            ]
            if not pending:
                return
            if _now() >= deadline:
                names = ", ".join(_describe(o) for o in pending)
                raise TargetError(f"meshgate: still not deleted after {timeout:.0f}s: {names}")
            self.sleep(POLL_INTERVAL)

    # ------------------------------------------------------------ readiness

    def wait_ready(self, objs: Iterable[Mapping[str, Any]], timeout: float) -> None:
        """Deployments available and Pods ready, as ``NamespacesMustBeReady`` does."""
        deployments = [
            (o["metadata"]["namespace"], o["metadata"]["name"])
            for o in objs
            if o["kind"] == "Deployment"
        ]
        pods = [
            (o["metadata"]["namespace"], o["metadata"]["name"]) for o in objs if o["kind"] == "Pod"
        ]
        deadline = _now() + timeout
        wait_deployments_available(self, deployments, max(0.0, deadline - _now()))
        waiting = list(pods)
        while waiting:
            waiting = [p for p in waiting if not _pod_ready(self.get("v1", "Pod", p[1], p[0]))]
            if not waiting:
                return
            if _now() >= deadline:
                raise TargetError(
                    f"meshgate: pods not ready after {timeout:.0f}s: "
                    + ", ".join(f"{ns}/{name}" for ns, name in waiting)
                )
            self.sleep(POLL_INTERVAL)

    # ------------------------------------------------------------ gateways

    def expose_node_ports(
        self,
        namespace: str,
        name: str,
        wanted: Mapping[int, Sequence[int]],
        keep_type: bool = False,
    ) -> dict[int, int]:
        """Make Service ``name`` a NodePort Service; ``wanted``: port -> candidate nodePorts.

        Candidates are tried in order; the API server refuses a nodePort that
        is taken (422), which is what makes this safe between xdist workers
        without a lock. Returns port -> nodePort assigned. ``keep_type``: a
        LoadBalancer stays one (it has node ports too), so a controller that
        owns the Service's type (a Gateway's, applied server-side) is not
        contradicted; only the node port numbers change.
        """
        errors = k8s("kubernetes.dynamic.exceptions")

        resource = self.resource("v1", "Service")
        live = self.get("v1", "Service", name, namespace)
        if live is None:
            raise TargetError(f"meshgate: gateway Service {namespace}/{name} does not exist")
        ports = [dict(p) for p in live["spec"].get("ports", [])]
        assigned: dict[int, int] = {}
        for port in ports:
            candidates = list(wanted.get(int(port["port"]), ()))
            if not candidates:
                continue
            kind = live["spec"].get("type") or "ClusterIP"
            keep = keep_type and kind in ("NodePort", "LoadBalancer")
            wanted_type = kind if keep else "NodePort"
            if port.get("nodePort") in candidates and kind == wanted_type:
                assigned[int(port["port"])] = int(port["nodePort"])
                continue
            for candidate in candidates:
                if candidate in assigned.values():
                    continue  # one nodePort per Service port
                port["nodePort"] = candidate
                body = {"spec": {"type": wanted_type, "ports": ports}}
                try:
                    resource.patch(
                        body=body,
                        name=name,
                        namespace=namespace,
                        content_type="application/merge-patch+json",
                    )
                except errors.DynamicApiError as exc:
                    if exc.status == 422:
                        continue  # taken; try the next one
                    raise
                assigned[int(port["port"])] = candidate
                break
            else:
                raise TargetError(
                    f"meshgate: no free nodePort among {candidates} for {namespace}/{name} "
                    f"port {port['port']}"
                )
        return assigned

    # ------------------------------------------------------------ CoreDNS

    def edit_corefile(self, edit: Callable[[str], str], restart: bool = True) -> None:
        """Rewrite kube-system/coredns's Corefile and restart CoreDNS so it takes effect now.

        The ``reload`` plugin would pick it up too, but only after the kubelet
        syncs the ConfigMap (up to a minute); a rollout is deterministic.
        """
        errors = k8s("kubernetes.dynamic.exceptions")

        for _ in range(5):
            live = self.get("v1", "ConfigMap", "coredns", "kube-system")
            if live is None:
                raise TargetError("meshgate: kube-system/coredns ConfigMap not found")
            corefile = live.get("data", {}).get("Corefile", "")
            edited = edit(corefile)
            if edited == corefile:
                return
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "coredns",
                    "namespace": "kube-system",
                    "resourceVersion": live["metadata"]["resourceVersion"],
                },
                "data": {**live.get("data", {}), "Corefile": edited},
            }
            try:
                self.resource("v1", "ConfigMap").replace(body=body, namespace="kube-system")
                break
            except errors.ConflictError:
                continue  # someone else edited it meanwhile (another worker)
        else:
            raise TargetError("meshgate: could not update kube-system/coredns (conflicts)")
        if restart:
            stamp = datetime.now(timezone.utc).isoformat()
            self.resource("apps/v1", "Deployment").patch(
                body={
                    "spec": {
                        "template": {
                            "metadata": {"annotations": {"meshgate.dev/restarted-at": stamp}}
                        }
                    }
                },
                name="coredns",
                namespace="kube-system",
                content_type="application/merge-patch+json",
            )

    # ------------------------------------------------------------ diagnostics

    def dump_namespaces(self, namespaces: Sequence[str], log_lines: int = 30) -> str:
        """Pods (phase, readiness), their logs' tails and the namespaces' events."""
        core = k8s("kubernetes.client").CoreV1Api(self.api_client)
        lines: list[str] = []
        for namespace in namespaces:
            try:
                pods = self.list("v1", "Pod", namespace)
                events = self.list("v1", "Event", namespace)
            except Exception as exc:  # a dump must never hide the original failure
                lines.append(f"namespace {namespace}: cannot list ({exc})")
                continue
            for pod in pods:
                name = pod["metadata"]["name"]
                phase = pod.get("status", {}).get("phase")
                lines.append(f"pod {namespace}/{name}: {phase}, ready={_pod_ready(pod)}")
                for container in pod.get("spec", {}).get("containers", []):
                    try:
                        log = core.read_namespaced_pod_log(
                            name, namespace, container=container["name"], tail_lines=log_lines
                        )
                    except Exception as exc:
                        log = f"(no log: {exc})"
                    lines.append(f"  log of {container['name']}:")
                    lines += [f"    {line}" for line in str(log).splitlines()[-log_lines:]]
            for event in events[-40:]:
                involved = event.get("involvedObject", {})
                lines.append(
                    f"event {namespace}: {event.get('type')} {event.get('reason')} "
                    f"{involved.get('kind')}/{involved.get('name')}: {event.get('message')}"
                )
        return "\n".join(lines)


def wait_deployments_available(
    kube: Any, deployments: Sequence[tuple[str, str]], timeout: float
) -> None:
    """Return when every (namespace, name) Deployment has rolled out (``rollout_status``)."""
    deadline = _now() + timeout
    waiting = list(deployments)
    last: dict[tuple[str, str], str] = {}
    while waiting:
        still: list[tuple[str, str]] = []
        for namespace, name in waiting:
            live = kube.get("apps/v1", "Deployment", name, namespace)
            ok, why = rollout_status(live)
            if not ok:
                still.append((namespace, name))
                last[(namespace, name)] = why
        waiting = still
        if not waiting:
            return
        if _now() >= deadline:
            detail = "; ".join(f"{ns}/{name}: {last[(ns, name)]}" for ns, name in waiting)
            raise TargetError(f"meshgate: deployments not available after {timeout:.0f}s: {detail}")
        kube.sleep(POLL_INTERVAL)


def rollout_status(live: Mapping[str, Any] | None) -> tuple[bool, str]:
    """Whether a Deployment's rollout is complete, as ``kubectl rollout status`` decides.

    kubectl's ``DeploymentStatusViewer`` (``pkg/polymorphichelpers/rollout_status.go``):
    the controller has observed the latest generation, every replica is
    updated, no old replica is left, and every updated replica is available.
    Available replicas alone are not enough: during a rollout the old pods
    are still available.
    """
    if live is None:
        return False, "not found"
    spec = live.get("spec") or {}
    status = live.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration") or 0) < int(
        (live.get("metadata") or {}).get("generation") or 0
    ):
        return False, "waiting for the rollout to be observed"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == (
            "ProgressDeadlineExceeded"
        ):
            return False, "exceeded its progress deadline"
    updated = int(status.get("updatedReplicas") or 0)
    replicas = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < wanted:
        return False, f"{updated} out of {wanted} new replicas have been updated"
    if replicas > updated:
        return False, f"{replicas - updated} old replicas are pending termination"
    if available < updated:
        return False, f"{available} of {updated} updated replicas are available"
    return True, ""


def _refusal(obj: Mapping[str, Any], exc: Any) -> TargetError:
    """What the API server said, as a TargetError (FieldsRejected for unknown fields)."""
    message = str(getattr(exc, "summary", lambda: "")() or exc)
    body = getattr(exc, "body", None)
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        message = str(json.loads(body or "").get("message") or message)
    if "unknown field" in message:
        return FieldsRejected(obj, message)
    return TargetError(f"meshgate: the API server refused {_describe(obj)}: {message}")


def wait_daemonsets_ready(kube: Any, daemonsets: Sequence[tuple[str, str]], timeout: float) -> None:
    """Return when every (namespace, name) DaemonSet runs updated and ready on every node.

    ``kubectl rollout status daemonset``'s rule (``DaemonSetStatusViewer``):
    observed, all scheduled pods updated, all of them available.
    """
    deadline = _now() + timeout
    waiting = list(daemonsets)
    last: dict[tuple[str, str], str] = {}
    while waiting:
        still = []
        for namespace, name in waiting:
            live = kube.get("apps/v1", "DaemonSet", name, namespace)
            status = (live or {}).get("status") or {}
            desired = int(status.get("desiredNumberScheduled") or 0)
            if live is None:
                why = "not found"
            elif int(status.get("observedGeneration") or 0) < int(
                live["metadata"].get("generation") or 0
            ):
                why = "waiting for the rollout to be observed"
            elif desired == 0 or int(status.get("updatedNumberScheduled") or 0) < desired:
                why = f"{status.get('updatedNumberScheduled') or 0} of {desired} pods updated"
            elif int(status.get("numberAvailable") or 0) < desired:
                why = f"{status.get('numberAvailable') or 0} of {desired} pods available"
            else:
                continue
            still.append((namespace, name))
            last[(namespace, name)] = why
        waiting = still
        if not waiting:
            return
        if _now() >= deadline:
            detail = "; ".join(f"{ns}/{name}: {last[(ns, name)]}" for ns, name in waiting)
            raise TargetError(f"meshgate: daemonsets not ready after {timeout:.0f}s: {detail}")
        kube.sleep(POLL_INTERVAL)


def pods_ready(pods: Sequence[Mapping[str, Any]]) -> bool:
    """Every pod Ready (and at least one)."""
    return bool(pods) and all(_pod_ready(p) for p in pods)


def _pod_ready(pod: Mapping[str, Any] | None) -> bool:
    return condition_true(pod, "Ready")


def condition_true(obj: Mapping[str, Any] | None, condition_type: str) -> bool:
    """Whether ``obj``'s ``status.conditions`` has its ``condition_type`` condition True
    (a pod Ready, a CRD Established, a GatewayClass Accepted)."""
    if obj is None:
        return False
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == condition_type:
            return bool(condition.get("status") == "True")
    return False


def _describe(obj: Mapping[str, Any]) -> str:
    metadata = obj["metadata"]
    where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
    return f"{obj['kind']} {where}{metadata['name']}"
