"""Where a request goes: the proxy listener it enters by, and where its host resolves in a pod.

A check without ``from`` enters a gateway's Service port (its URL's port). A
check ``from`` a mesh client enters that client's sidecar on its URL's port,
with the address the URL's host resolves to in the client's pod: the original
destination a captured connection would have had.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..._cases.model.request import Request
from ..._cases.model.workloads import SERVICE_ENTRY_ADDRESS_RANGE, Client, nth_address
from .backends import CaseBackends
from .proxy import LocalProxy
from .world import DOMAIN_SUFFIX, World

__all__ = ["Entry", "PodDNS", "Router"]


@dataclass(frozen=True)
class Entry:
    """The proxy listener a request enters by.

    ``service_port`` is the port the request addresses (a gateway Service
    port, or the port a client connects to), ``address`` the loopback
    address of the listener that serves it, ``description`` what messages
    call it. ``destination``: for a sidecar, where the URL's host resolves
    in the client's pod (None: it does not resolve); None for a gateway.
    """

    proxy: LocalProxy
    service_port: int
    address: tuple[str, int]
    description: str
    destination: tuple[str, int] | None = None


class PodDNS:
    """Name resolution as a pod of the case sees it, over the case's registry.

    ``world`` builds the translation's view of the case; it is asked only for
    the ServiceEntries a namespace sees, once per namespace.
    """

    def __init__(self, backends: CaseBackends, world: Callable[[], World]) -> None:
        self._backends = backends
        self._world = world
        # Per client namespace: ServiceEntry host -> the address DNS answers.
        self._service_entry_addresses: dict[str, dict[str, str]] = {}

    def resolve(
        self, host: str, port: int, namespace: str, _seen: tuple[str, ...] = ()
    ) -> tuple[str, int] | None:
        """Where a pod in ``namespace`` connects for ``host:port``: its DNS, as the mesh has it.

        Search path ``<ns>.svc.cluster.local``, ``svc.cluster.local``,
        ``cluster.local`` (not for a name ending in a dot); Services resolve to
        their ClusterIP, a headless Service to one of its pods (at random, as
        CoreDNS orders its A records), a pod's own name
        (``<pod>.<service>.<ns>.svc.cluster.local``) to that pod, an
        ExternalName Service as its ``externalName`` resolves (a CNAME), external
        services (name or address) to their echo server (on a port it does
        not serve: its address, where nothing listens), and other ServiceEntry
        hosts as Istio's DNS proxy answers them: the first of their
        ``addresses``, else an auto-allocated address (Istio: 240.240.0.0/16;
        here loopback 127.240.0.0/16, so nothing leaves the machine). An IP
        address is itself. None: the name does not resolve.
        """
        from .translate.serviceentry import service_entry_services, visible_services

        network = self._backends.network
        absolute = host.endswith(".")
        host = host.lower().rstrip(".")
        if (host, port) in network:
            return network[(host, port)][0]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return (host, port)
        for (name, _), addresses in network.items():
            if name == host:
                return (addresses[0][0], port)
        vips = {s.hostname: s.address for s in self._backends.services if s.address}
        candidates = [host]
        if not absolute and not host.endswith(DOMAIN_SUFFIX):
            candidates += [
                f"{host}.{namespace}.svc.{DOMAIN_SUFFIX}",
                f"{host}.svc.{DOMAIN_SUFFIX}",
                f"{host}.{DOMAIN_SUFFIX}",
            ]
        for name in candidates:
            if name in self._backends.aliases:
                # An ExternalName Service: a CNAME, its target resolved as written.
                if len(_seen) > 8 or name in _seen:
                    return None  # a CNAME loop: Kubernetes' DNS answers NXDOMAIN
                target = self._backends.aliases[name]
                return self.resolve(target + ".", port, namespace, _seen=(*_seen, name))
            pod = self._backends.pod_hosts.get(name)
            if pod is not None:
                return pod.connect_address(port)
            if name in self._backends.headless_pods:
                # A headless Service: an A record per pod, in a random order (CoreDNS'
                # loadbalance); the client connects to the first. No pods: NXDOMAIN.
                pods = self._backends.headless_pods[name]
                return random.choice(pods).connect_address(port) if pods else None
            if vips.get(name):
                return (str(vips[name]), port)
        if namespace not in self._service_entry_addresses:
            world = self._world()
            visible = {s.hostname for s in visible_services(world, namespace)}
            self._service_entry_addresses[namespace] = {
                s.hostname: s.address or nth_address(SERVICE_ENTRY_ADDRESS_RANGE, index)
                for index, s in enumerate(service_entry_services(world))
                if s.hostname in visible
            }
        address = self._service_entry_addresses[namespace].get(host)
        return None if address is None else (address, port)


class Router:
    """The proxies a case's requests enter by: its gateways and its clients' sidecars."""

    def __init__(self, clients: Sequence[Client], dns: PodDNS) -> None:
        self.gateways: dict[str, LocalProxy] = {}  # by short name: ingress, egress, ...
        self.sidecars: dict[str, LocalProxy] = {}  # by client name
        self._clients = clients
        self._dns = dns

    def gateway_entry(self, request: Request) -> Entry:
        """The gateway proxy and Service port (the URL's) a request goes to."""
        proxy = self.gateways[request.gateway or "ingress"]
        proxy.envoy.check_alive()
        parts = urlsplit(request.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return Entry(
            proxy, port, proxy.address_for(port), f"gateway {proxy.workload.name} port {port}"
        )

    def sidecar_entry(self, request: Request) -> Entry:
        """A client's sidecar listener for the URL's port; where the host resolves in its pod."""
        client = next(c for c in self._clients if c.name == request.from_)
        proxy = self.sidecars[client.name]
        proxy.envoy.check_alive()
        port = request.port
        host = urlsplit(request.url).hostname or ""
        destination = self._dns.resolve(host, port, client.namespace)
        return Entry(
            proxy,
            port,
            proxy.address_for(port),
            f"sidecar of {client.name} port {port}",
            destination,
        )
