"""Which apiVersions and kinds are meshgate's, or a misspelling of them.

A case file is recognised by its first document's ``apiVersion``. One that is
``meshgate.dev/<anything>``, or close enough to ``meshgate.dev`` to be a typo
of it (``meshgate.de``, ``mesh-gate.dev``, ``meshgate.io``), makes the file a
case file, so that the typo is reported at its line instead of the file
silently leaving the suite. Closeness is difflib's ratio, as the loader's
"did you mean" for keys; the threshold keeps every API group a test
directory is likely to hold (``networking.istio.io``, ``apps``,
``gateway.networking.k8s.io``, ``conformance.meshgate.dev`` of our own
reports) far below it (``tests/_cases/test_nearmiss.py`` lists them).
"""

from __future__ import annotations

import difflib

__all__ = [
    "CASE_API_VERSION",
    "CASE_GROUP",
    "CASE_KIND",
    "api_version_hint",
    "is_case_api_version",
    "kind_hint",
]

CASE_GROUP = "meshgate.dev"
CASE_API_VERSION = "meshgate.dev/v1alpha1"
CASE_KIND = "Case"

# A group this close to meshgate.dev is taken for a typo of it: one letter
# dropped, doubled, swapped or replaced (meshgate.de 0.96, mehsgate.dev 0.92).
# mesh.dev and gateway.dev (0.80, 0.70), and every real group tried, stay below.
_GROUP_CUTOFF = 0.85


def _group(api_version: str) -> str:
    group, slash, _version = api_version.strip().rpartition("/")
    return (group if slash else api_version).strip().lower()


def is_case_api_version(api_version: object) -> bool:
    """``meshgate.dev/...`` or a misspelling of its group (``meshgate.de/v1alpha1``)."""
    if not isinstance(api_version, str) or not api_version.strip():
        return False
    group = _group(api_version)
    if group == CASE_GROUP:
        return True
    # meshgate, meshgate.io, mesh_gate.com: the name right, the domain wrong.
    if group.split(".", 1)[0].replace("-", "").replace("_", "") == "meshgate":
        return True
    return difflib.SequenceMatcher(None, group, CASE_GROUP).ratio() >= _GROUP_CUTOFF


def api_version_hint(api_version: object) -> str | None:
    """The message for a case document's wrong ``apiVersion``, if it is a near miss."""
    if api_version == CASE_API_VERSION or not is_case_api_version(api_version):
        return None
    return f"unknown apiVersion {api_version!r} (did you mean {CASE_API_VERSION}?)"


def kind_hint(kind: object) -> str:
    """The message for a case document's wrong ``kind``: ``Case`` is the only one."""
    written = kind if isinstance(kind, str) else repr(kind)
    if isinstance(kind, str) and (
        kind.strip().lower() in ("case", "cases")
        or difflib.get_close_matches(kind, [CASE_KIND], n=1, cutoff=0.6)
    ):
        return f"unknown kind {written!r} (did you mean {CASE_KIND}?)"
    return f"unknown kind {written!r}: a {CASE_API_VERSION} document is a {CASE_KIND}"
