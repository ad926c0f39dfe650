"""Targets: where a case is deployed and its requests are sent.

``base`` is the interface every target implements, ``factory`` builds the one
the settings name; ``local`` (real Envoys on loopback) and ``kubernetes``
(kind and existing clusters) are the targets, independent of each other;
``echo`` and ``secrets`` are what both need: the backends and the TLS
material of a case.
"""
