"""Conformance: which cases run on an implementation, and the ConformanceReport of a run.

Modelled on the Kubernetes Gateway API conformance suite (its
``conformance/utils/suite`` and ``apis/v1/conformancereport.go``), so a
vendor reads our reports the way they read theirs.
"""
