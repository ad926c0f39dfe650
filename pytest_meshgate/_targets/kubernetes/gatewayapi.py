"""Gateway API cases on a cluster: the class cases name, the Gateways checks enter, their status.

Cases name the implementation under test's GatewayClass ``istio`` (as the Go
conformance suite takes ``--gateway-class``). Rendering (``prepare``) gives
Gateways of that class the adapter's class name, leaves out a case's own
``GatewayClass/istio`` (the implementation's exists and is never replaced or
deleted), names Service backendRefs as their echo Services are named, and
maps case namespaces in ``kubernetes.io/metadata.name`` selectors, which the
API server sets from the cluster namespace's name.

After applying, the deployment waits (``wait_reconciled``) until the
implementation has written status for what it reconciles: every Gateway of
its class has conditions of its current generation, every route parentRef to
such a Gateway has a parent status from its controller, and each Gateway a
check enters by is ``Programmed``, has its Service and ready pods. Not
reaching it is a note for failure messages, never an error: a case may
expect a Gateway that is not programmed.

``read_status`` turns the live objects' status into what ``expect.conditions``
judges, with cluster namespaces and the class name mapped back to the case's.
Conditions the CRD's defaults carry before any controller wrote
(``Pending``, "Waiting for controller") are no status at all, as for a
Gateway of another class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..._cases.model.case import Case
from ..._exchange.status import Condition, ObjectStatus
from .namespaces import NamespacePlan, k8s_name

__all__ = [
    "CASE_GATEWAY_CLASS",
    "GROUP",
    "ROUTE_KINDS",
    "GatewayClassInfo",
    "checked_gateways",
    "is_gateway_api",
    "prepare",
    "read_status",
    "wait_reconciled",
]

GROUP = "gateway.networking.k8s.io"
# The GatewayClass cases name: the implementation under test's own (the Go
# conformance suite's --gateway-class). Istio's is called so.
CASE_GATEWAY_CLASS = "istio"
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute")
# BackendTLSPolicy's status (ancestors) is not read back yet.
_STATUS_KINDS = ("GatewayClass", "Gateway", "ListenerSet", *ROUTE_KINDS)
_NAME_LABEL = "kubernetes.io/metadata.name"
_POLL = 1.0


@dataclass(frozen=True)
class GatewayClassInfo:
    """The GatewayClass an implementation reconciles, which cases call ``istio``."""

    name: str  # on the cluster
    controller_name: str  # spec.controllerName


def is_gateway_api(obj: Mapping[str, Any]) -> bool:
    return str(obj.get("apiVersion") or "").rpartition("/")[0] == GROUP


def checked_gateways(case: Case) -> list[str]:
    """``namespace/name`` (case namespaces) of the Gateway API Gateways checks send through."""
    names = {
        c.request.gateway
        for c in case.spec.checks
        if c.request is not None and c.request.gateway and "/" in c.request.gateway
    }
    return sorted(names)


def prepare(
    objects: list[dict[str, Any]],
    case: Case,
    plan: NamespacePlan,
    class_name: str | None,
    gateway_labels: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The rendered objects with the Gateway API's names made the cluster's (module docstring).

    ``gateway_labels`` go on Gateways of the class (a revisioned istiod's ``istio.io/rev``).
    """
    services = {s.name for s in case.spec.services}
    prepared: list[dict[str, Any]] = []
    for obj in objects:
        if not is_gateway_api(obj):
            prepared.append(obj)
            continue
        if obj["kind"] == "GatewayClass" and obj["metadata"]["name"] == CASE_GATEWAY_CLASS:
            continue  # the implementation's own: never replaced, never deleted
        spec = obj.get("spec")
        if (
            obj["kind"] == "Gateway"
            and isinstance(spec, dict)
            and class_name is not None
            and spec.get("gatewayClassName") == CASE_GATEWAY_CLASS
        ):
            spec["gatewayClassName"] = class_name
            labels = obj["metadata"].setdefault("labels", {})
            labels.update(gateway_labels or {})
        _map_selectors(obj, plan)
        if obj["kind"] in ROUTE_KINDS:
            _name_backends(obj, services)
        prepared.append(obj)
    return prepared


def _map_selectors(node: Any, plan: NamespacePlan) -> None:
    """``kubernetes.io/metadata.name`` in label selectors: the cluster namespace's name."""
    if isinstance(node, list):
        for item in node:
            _map_selectors(item, plan)
        return
    if not isinstance(node, dict):
        return
    labels = node.get("matchLabels")
    if isinstance(labels, dict) and isinstance(labels.get(_NAME_LABEL), str):
        labels[_NAME_LABEL] = plan.map(labels[_NAME_LABEL])
    for expression in node.get("matchExpressions") or []:
        if isinstance(expression, dict) and expression.get("key") == _NAME_LABEL:
            expression["values"] = [plan.map(str(v)) for v in expression.get("values") or []]
    for key, value in node.items():
        if key not in ("matchLabels", "metadata"):
            _map_selectors(value, plan)


def _name_backends(route: dict[str, Any], services: set[str]) -> None:
    """Service backendRefs to a case service name its echo Service (``k8s_name``)."""
    for rule in (route.get("spec") or {}).get("rules") or []:
        refs = list(rule.get("backendRefs") or [])
        refs += [
            f.get("requestMirror", {}).get("backendRef") or {}
            for f in rule.get("filters") or []
            if isinstance(f, dict)
        ]
        for ref in refs:
            if not isinstance(ref, dict) or ref.get("group") not in (None, ""):
                continue
            if ref.get("kind", "Service") == "Service" and ref.get("name") in services:
                ref["name"] = k8s_name(str(ref["name"]))


# ---------------------------------------------------------------- reading status


def _conditions(raw: Any) -> list[Condition]:
    out = []
    for c in raw or []:
        if c.get("reason") == "Pending" and c.get("message") == "Waiting for controller":
            continue  # the CRD's default: no controller has written yet
        out.append(
            Condition(
                str(c.get("type") or ""),
                str(c.get("status") or ""),
                str(c.get("reason") or ""),
                str(c.get("message") or ""),
            )
        )
    return out


def _current(raw: Any, generation: int) -> bool:
    """Whether conditions were written for this generation (and not the CRD's defaults)."""
    conditions = [
        c for c in raw or [] if not (c.get("reason") == "Pending" and c.get("status") == "Unknown")
    ]
    return bool(conditions) and all(
        int(c.get("observedGeneration") or 0) >= generation for c in conditions
    )


def _parent(ref: Mapping[str, Any], route_namespace: str, plan: NamespacePlan) -> str:
    """A parentRef as ``expect.conditions`` names it: ``namespace/name[/section][:port]``."""
    text = f"{plan.unmap(str(ref.get('namespace') or route_namespace))}/{ref.get('name')}"
    if ref.get("sectionName"):
        text += f"/{ref['sectionName']}"
    if ref.get("port"):
        text += f":{ref['port']}"
    return text


def object_status(
    live: Mapping[str, Any], plan: NamespacePlan, gateway_class: GatewayClassInfo
) -> list[ObjectStatus]:
    """One live object's status as the judge reads it (case namespaces and class name)."""
    kind = str(live["kind"])
    metadata = live.get("metadata") or {}
    status = live.get("status") or {}
    name = str(metadata.get("name"))
    if kind == "GatewayClass":
        shown = CASE_GATEWAY_CLASS if name == gateway_class.name else name
        conditions = _conditions(status.get("conditions"))
        return [ObjectStatus(f"GatewayClass/{shown}", conditions)] if conditions else []
    namespace = plan.unmap(str(metadata.get("namespace")))
    resource = f"{kind}/{namespace}/{name}"
    if kind in ("Gateway", "ListenerSet"):  # a ListenerSet's status has a Gateway's shape
        out: list[ObjectStatus] = []
        conditions = _conditions(status.get("conditions"))
        if conditions:
            out.append(ObjectStatus(resource, conditions))
        for listener in status.get("listeners") or []:
            kinds = [
                f"{k.get('group') or GROUP}/{k.get('kind')}"
                for k in listener.get("supportedKinds") or []
            ]
            out.append(
                ObjectStatus(
                    resource,
                    _conditions(listener.get("conditions")),
                    listener=str(listener.get("name")),
                    details={
                        "attachedRoutes": int(listener.get("attachedRoutes") or 0),
                        "supportedKinds": kinds,
                    },
                )
            )
        return out
    out = []
    for parent in status.get("parents") or []:
        if parent.get("controllerName") != gateway_class.controller_name:
            continue  # another implementation's view of the route
        out.append(
            ObjectStatus(
                resource,
                _conditions(parent.get("conditions")),
                parent=_parent(parent.get("parentRef") or {}, str(metadata.get("namespace")), plan),
            )
        )
    return out


def read_status(
    kube: Any,
    objects: Sequence[Mapping[str, Any]],
    plan: NamespacePlan,
    gateway_class: GatewayClassInfo,
) -> list[ObjectStatus]:
    """The status of the case's Gateway API objects and of the implementation's GatewayClass."""
    out: list[ObjectStatus] = []
    wanted = [o for o in objects if is_gateway_api(o) and o["kind"] in _STATUS_KINDS]
    own_class = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "GatewayClass",
        "metadata": {"name": gateway_class.name},
    }
    for obj in [own_class, *wanted]:
        metadata = obj["metadata"]
        live = kube.get(obj["apiVersion"], obj["kind"], metadata["name"], metadata.get("namespace"))
        if live is not None:
            out += object_status(live, plan, gateway_class)
    return out


# ---------------------------------------------------------------- waiting


def _ours(objects: Sequence[Mapping[str, Any]], class_name: str) -> set[tuple[str, str]]:
    """(cluster namespace, name) of the case's Gateways of the implementation's class."""
    return {
        (str(o["metadata"].get("namespace")), str(o["metadata"]["name"]))
        for o in objects
        if is_gateway_api(o)
        and o["kind"] == "Gateway"
        and (o.get("spec") or {}).get("gatewayClassName") == class_name
    }


def pending(
    kube: Any,
    objects: Sequence[Mapping[str, Any]],
    gateway_class: GatewayClassInfo,
    entered: Sequence[tuple[str, str]],
) -> list[str]:
    """What the implementation has not reconciled yet, one line each ([] when done).

    ``entered``: (cluster namespace, name) of the Gateways checks send through,
    which must be Programmed.
    """
    ours = _ours(objects, gateway_class.name)
    waiting: list[str] = []
    for obj in objects:
        if not is_gateway_api(obj) or obj["kind"] not in ("Gateway", *ROUTE_KINDS):
            continue
        metadata = obj["metadata"]
        key = (str(metadata.get("namespace")), str(metadata["name"]))
        if obj["kind"] == "Gateway" and key not in ours:
            continue
        live = kube.get(obj["apiVersion"], obj["kind"], key[1], key[0]) or {}
        generation = int((live.get("metadata") or {}).get("generation") or 1)
        status = live.get("status") or {}
        where = f"{obj['kind']} {key[0]}/{key[1]}"
        if obj["kind"] == "Gateway":
            if not _current(status.get("conditions"), generation):
                waiting.append(f"{where}: no status of generation {generation} yet")
            elif key in entered and not _true(status.get("conditions"), "Programmed"):
                waiting.append(f"{where}: not Programmed")
            continue
        for ref in (obj.get("spec") or {}).get("parentRefs") or []:
            parent = (str(ref.get("namespace") or key[0]), str(ref.get("name")))
            if ref.get("kind", "Gateway") != "Gateway" or parent not in ours:
                continue  # a mesh parent or another class: no Gateway status to wait for
            written = [
                p
                for p in status.get("parents") or []
                if p.get("controllerName") == gateway_class.controller_name
                and _same_ref(p.get("parentRef") or {}, ref, key[0])
                and _current(p.get("conditions"), generation)
            ]
            if not written:
                waiting.append(f"{where}: no status for parent {parent[0]}/{parent[1]} yet")
    return waiting


def _true(raw: Any, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in raw or [])


def _same_ref(a: Mapping[str, Any], b: Mapping[str, Any], namespace: str) -> bool:
    def key(ref: Mapping[str, Any]) -> tuple[Any, ...]:
        return (
            ref.get("namespace") or namespace,
            ref.get("name"),
            ref.get("sectionName"),
            ref.get("port"),
        )

    return key(a) == key(b)


def wait_reconciled(
    kube: Any,
    objects: Sequence[Mapping[str, Any]],
    gateway_class: GatewayClassInfo,
    entered: Sequence[tuple[str, str]],
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Wait until ``pending`` is empty; '' then, else a note naming what is still pending."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = pending(kube, objects, gateway_class, entered)
        if not waiting:
            return ""
        if time.monotonic() >= deadline:
            return (
                f"the implementation had not reconciled the case after {timeout:.0f}s: "
                + "; ".join(waiting)
            )
        sleep(_POLL)
