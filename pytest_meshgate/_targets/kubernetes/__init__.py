"""The ``kind`` and ``cluster`` targets: cases on Kubernetes with an implementation adapter.

Imported only when one of these targets is chosen; the ``kubernetes`` client
and pytest-kind (the ``[kind]`` extra) are imported later still, when a
cluster is actually needed, so the plugin and the ``local`` target never need
them and their absence is reported as one line (``preflight``).

From the bottom up: ``namespaces.py`` (case namespaces and the names Istio
reads), ``echo_pod.py`` (the echo and client pods: the project's echo from a
ConfigMap), ``manifests.py`` (a case as objects, in apply order),
``validation.py`` (those objects against Kubernetes' schemas), ``providers/``
(getting a cluster), ``kube.py`` (the API server), ``clients.py`` (client
TLS, the in-pod sender's plans and results), ``coredns.py`` (external names),
``adapters/`` (an implementation on it), ``transport.py``, ``exposure.py``
and ``sync.py`` (sending, gateway node ports, configuration in sync),
``deployment.py`` (one case), ``target.py`` (the session), ``build.py`` (the
target from options), ``render.py`` (the dry run).
"""

from __future__ import annotations

from .build import build_target, preflight
from .target import KubernetesTarget

__all__ = ["KubernetesTarget", "build_target", "preflight"]
