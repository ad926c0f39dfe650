"""The embedded local target: Envoy per gateway, echo backends, our Istio translation."""

from __future__ import annotations

from .target import LocalTarget

__all__ = ["LocalTarget"]
