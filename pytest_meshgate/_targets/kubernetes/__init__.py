"""The ``kind`` and ``cluster`` targets: cases on Kubernetes with an implementation adapter.

Imported only when one of these targets is chosen; the ``kubernetes`` client
and pytest-kind (the ``[kind]`` extra) are imported later still, when a
cluster is actually needed, so the plugin and the ``local`` target never need
them and their absence is reported as one line (``preflight``).

From the bottom up: ``providers/`` (getting a cluster), ``adapters/`` (an
implementation on it), ``manifests.py`` (a case as objects), ``kube.py`` (the
API server), ``clients.py`` (curl in a client pod), ``deployment.py`` (one
case), ``target.py`` (the session), ``build.py`` (the target from options).
"""

from __future__ import annotations

from .build import build_target, preflight
from .target import KubernetesTarget

__all__ = ["KubernetesTarget", "build_target", "preflight"]
