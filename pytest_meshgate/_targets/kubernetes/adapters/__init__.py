"""Implementation adapters: one gateway implementation on a cluster each (Istio built in).

``base`` is the interface, ``registry`` finds adapters by entry-point name,
``istio`` is the built-in one.
"""

from __future__ import annotations

from .base import AdapterOptions, Implementation
from .registry import ENTRY_POINT_GROUP, load_implementation

__all__ = ["ENTRY_POINT_GROUP", "AdapterOptions", "Implementation", "load_implementation"]
