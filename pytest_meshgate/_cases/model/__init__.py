"""The case file model: the case contract and the Istio resources it carries.

``base`` holds what both share; ``workloads``, ``request`` and ``expect`` are
the parts of a case that ``case`` puts together; ``istio`` models the
manifests under ``spec.resources``.
"""
