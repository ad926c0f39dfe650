"""External names on a cluster: CoreDNS rewrite blocks that point them at a case's echo Services.

An external service of a case stands for a host on the internet; on a
cluster its echo runs in a namespace outside the mesh, and a ``rewrite stop``
block per host (question and answer, so resolvers accept the reply) makes its
name resolve to that Service. The blocks go first into the ``.:53`` server
block of ``kube-system/coredns``'s Corefile, between ``# meshgate begin/end``
marker comments that teardown removes exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..._errors import TargetError

__all__ = ["coredns_rewrite_block", "insert_coredns_block", "remove_coredns_block"]


def coredns_rewrite_block(marker: str, rewrites: Mapping[str, str]) -> str:
    """Corefile lines making each external host (key) resolve as its Service (value)."""
    lines = [f"    # meshgate begin {marker}"]
    for host, target in sorted(rewrites.items()):
        lines += [
            "    rewrite stop {",
            f"        name regex ^{re.escape(host)}\\.$ {target}.",
            f"        answer name ^{re.escape(target)}\\.$ {host}.",
            "    }",
        ]
    lines.append(f"    # meshgate end {marker}")
    return "\n".join(lines) + "\n"


def insert_coredns_block(corefile: str, block: str) -> str:
    """Put ``block`` first inside the ``.:53 {`` server block (rewrites run before kubernetes)."""
    match = re.search(r"^\.:53\s*\{\s*$", corefile, flags=re.MULTILINE)
    if match is None:
        raise TargetError("meshgate: the CoreDNS Corefile has no '.:53 {' server block to extend")
    if block in corefile:
        return corefile
    return corefile[: match.end()] + "\n" + block.rstrip("\n") + corefile[match.end() :]


def remove_coredns_block(corefile: str, marker: str) -> str:
    begin, end = re.escape(f"# meshgate begin {marker}"), re.escape(f"# meshgate end {marker}")
    pattern = rf"\n[ \t]*{begin}\n.*?{end}"
    return re.sub(pattern, "", corefile, flags=re.DOTALL)
