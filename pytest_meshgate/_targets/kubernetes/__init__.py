"""The ``kind`` and ``cluster`` targets: cases on Kubernetes with an implementation adapter.

Imported only when one of these targets is chosen; the ``kubernetes`` client
and pytest-kind (the ``[kind]`` extra) are imported later still, when a
cluster is actually needed, so the plugin and the ``local`` target never need
them and their absence is reported as one line (``preflight``).
"""

from __future__ import annotations

from .target import KubernetesTarget, build_target, preflight

__all__ = ["KubernetesTarget", "build_target", "preflight"]
