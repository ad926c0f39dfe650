"""Request authentication and authorization for one workload: jwt_authn and RBAC filters.

The seam for every proxy that enforces policy (gateways, and the inbound sidecars
of ``sidecar/inbound``): ``security_filters(world, workload, port_of=...)`` takes
the workload (namespace, labels: a ``GatewayProxy``, an ``InboundWorkload``) and
returns ``SecurityFilters``: the HTTP filters to put first in its HTTP connection
managers (``jwt_authn``, then the RBAC filters AUDIT, DENY, ALLOW, as
``listener_builder.go`` orders them before the router), the network RBAC
filters to put before ``tcp_proxy`` on its TCP filter chains
(``networkfilter.go``), and ``problems``: what cannot be honoured (a CUSTOM
action), for the target to skip the case with.

Which policies apply is ``pilot/pkg/model/policyattachment.go``
(``ShouldAttachPolicy``): those of the root namespace and of the workload's
namespace whose selector matches its labels (no selector: all of them); a
Gateway API gateway's are also those whose ``targetRefs`` name its Gateway, and
a policy with targetRefs applies to nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ....._cases.model.istio import AuthorizationPolicy, RequestAuthentication
from ...world import World
from ..common import Json, labels_match
from .jwt import jwt_filter
from .rbac import custom_problem, http_rbac_filters, tcp_rbac_filters

__all__ = [
    "SecurityFilters",
    "Workload",
    "applicable_policies",
    "attaches",
    "security_filters",
]

_GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
P = TypeVar("P", AuthorizationPolicy, RequestAuthentication)


class Workload(Protocol):
    """What policy attachment reads of a workload."""

    @property
    def namespace(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class SecurityFilters:
    """The filters Istio's authn and authz plugins give one workload."""

    http: tuple[Json, ...] = ()  # first in every HTTP connection manager
    network: tuple[Json, ...] = ()  # before tcp_proxy on every TCP filter chain
    problems: tuple[str, ...] = ()  # reasons the workload's policies cannot be honoured


def attaches(policy: AuthorizationPolicy | RequestAuthentication, workload: Workload) -> bool:
    """``WorkloadPolicyMatcher.ShouldAttachPolicy`` for a sidecar or gateway (no waypoints)."""
    spec = policy.spec
    refs = spec.all_target_refs
    gateway_name = workload.labels.get(_GATEWAY_NAME_LABEL)
    if gateway_name is None or not refs:
        if refs:
            return False  # a targetRef policy is ignored by every non-Gateway-API workload
        # ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY is on by default.
        selector = spec.selector.match_labels if spec.selector is not None else {}
        return labels_match(workload.labels, selector)
    for ref in refs:
        if policy.namespace != workload.namespace or ref.namespace not in ("", workload.namespace):
            continue
        gateway = (ref.group or "core") == "gateway.networking.k8s.io" and ref.kind == "Gateway"
        if gateway and ref.name == gateway_name:
            return True
    return False


def applicable_policies(world: World, workload: Workload, kind: type[P]) -> list[P]:
    """The policies of ``kind`` that apply to ``workload``, root namespace first, each
    namespace's in creation order (as ``NamespaceToPolicies`` holds them)."""
    namespaces = list(dict.fromkeys((world.root_namespace, workload.namespace)))
    found: list[P] = []
    for namespace in namespaces:
        for policy in world.resources:
            same_namespace = isinstance(policy, kind) and policy.namespace == namespace
            if same_namespace and attaches(policy, workload):
                found.append(policy)
    return found


def security_filters(
    world: World,
    workload: Workload,
    *,
    port_of: Callable[[int], int] | None = None,
) -> SecurityFilters:
    """The jwt_authn and RBAC filters of ``workload`` (see the module docstring).

    ``port_of`` maps a port number a policy names (``to.ports``, ``destination.port``:
    the workload's container port) to the port its listener really binds, which on
    the local target is an allocated loopback port; default: the same number.
    """
    mapping: Callable[[int], int] = port_of or (lambda port: port)
    authz = applicable_policies(world, workload, AuthorizationPolicy)
    authn = applicable_policies(world, workload, RequestAuthentication)
    problem = custom_problem(authz)
    enforced: Sequence[AuthorizationPolicy] = [p for p in authz if p.spec.action != "CUSTOM"]
    http: list[Json] = []
    jwt = jwt_filter(authn, lambda source: world.jwks.get(source))
    if jwt is not None:
        http.append(jwt)
    http.extend(http_rbac_filters(enforced, mapping))
    return SecurityFilters(
        http=tuple(http),
        network=tuple(tcp_rbac_filters(enforced, mapping)),
        problems=(problem,) if problem else (),
    )
