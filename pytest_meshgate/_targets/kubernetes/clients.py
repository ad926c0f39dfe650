"""``from:`` requests: curl run inside a client pod (exec), its output parsed into an Exchange.

An outside client cannot take the mesh path, so mesh and egress requests are
sent from a pod whose sidecar carries them, as Gateway API's mesh tests do
(``MeshPod.request`` in ``conformance/utils/echo/pod.go`` runs a client in the
pod through the exec API). The command is an argv list handed to the
exec API, never a shell line: header values and bodies need no quoting.

``--write-out`` appends a marker and curl's ``%{json}`` (curl >= 7.70) after
the response, so status, timing and the error of a failed connection come
back in one stream, separate from headers and body (``--include``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..._cases.model.request import Request
from ..._exchange.client import substitute
from ..._exchange.records import MESHGATE_ID_HEADER, Exchange, ResponseRecord, SentRequest

__all__ = ["CURL_MARKER", "CurlCommand", "curl_command", "parse_curl_output"]

CURL_MARKER = "\n--meshgate-curl-result--"

# curl exit codes -> the connection outcomes checks name (``connection`` in
# docs/case-format.md).
_CURL_OUTCOMES = {
    7: "refused",  # couldn't connect
    52: "reset",  # empty reply from server
    55: "reset",  # failed sending
    56: "reset",  # failure receiving (connection reset)
    28: "timeout",
    35: "tlsError",  # handshake failed
    51: "tlsError",
    58: "tlsError",
    59: "tlsError",
    60: "tlsError",  # peer certificate not verified
    77: "tlsError",
    83: "tlsError",
    90: "tlsError",
}


@dataclass(frozen=True)
class CurlCommand:
    argv: list[str]
    sent: SentRequest


def curl_command(request: Request, url: str, entry: str, timeout: float) -> CurlCommand:
    """The curl argv for one attempt of ``request`` to ``url`` (already namespace-mapped)."""
    attempt_uuid = str(uuid.uuid4())
    url = substitute(url, attempt_uuid)
    meshgate_id = uuid.uuid4().hex
    headers = [(k, substitute(v, attempt_uuid)) for k, v in request.headers.items()]
    headers.append((MESHGATE_ID_HEADER, meshgate_id))
    body = substitute(request.body, attempt_uuid) if request.body is not None else None
    argv = [
        "curl",
        "--silent",
        "--show-error",
        "--include",
        "--path-as-is",  # send the path as written, like the gateway client does
        "--http1.1",
        "--max-time",
        f"{timeout:g}",
        "--request",
        request.method,
    ]
    for name, value in headers:
        # "name;" is curl's spelling of a header with an empty value.
        argv += ["--header", f"{name}: {value}" if value else f"{name};"]
    if body is not None:
        argv += ["--data-binary", body]
    argv += ["--write-out", CURL_MARKER + "%{json}", url]
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host_header = next((v for k, v in headers if k.lower() == "host"), parts.netloc)
    shown = [("host", host_header), *((k, v) for k, v in headers if k.lower() != "host")]
    sent = SentRequest(
        method=request.method,
        url=url,
        headers=tuple(shown),
        body=body,
        address=(parts.hostname or "", port),
        entry=entry,
        meshgate_id=meshgate_id,
    )
    return CurlCommand(argv, sent)


def parse_curl_output(sent: SentRequest, stdout: str, stderr: str, exit_code: int) -> Exchange:
    """An Exchange from what curl printed (``--include`` + the ``--write-out`` JSON)."""
    head, marker, tail = stdout.rpartition(CURL_MARKER)
    if not marker:
        return Exchange(
            sent,
            None,
            "error",
            f"curl exited {exit_code} without its result: {(stderr or stdout).strip()[:300]}",
        )
    try:
        info = json.loads(tail)
    except ValueError:
        info = {}
    elapsed = float(info.get("time_total") or 0.0)
    code = int(info.get("exitcode", exit_code) or 0)
    status = int(info.get("http_code") or info.get("response_code") or 0)
    if code != 0 and status == 0:
        error = str(info.get("errormsg") or stderr.strip() or f"curl exit {code}")
        return Exchange(sent, None, _CURL_OUTCOMES.get(code, "error"), f"curl: {error}", elapsed)
    raw = head.encode("utf-8", "surrogateescape")
    block, body = _last_header_block(raw)
    lines = block.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    version = status_line[0] if status_line else "HTTP/1.1"
    reason = status_line[2] if len(status_line) > 2 else ""
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    record = ResponseRecord(
        status=status or (int(status_line[1]) if len(status_line) > 1 else 0),
        reason=reason,
        http_version=version,
        headers=tuple(headers),
        body=body,
    )
    return Exchange(sent, record, elapsed=elapsed)


def _last_header_block(raw: bytes) -> tuple[bytes, bytes]:
    """Skip informational (1xx) responses; return the final header block and the body."""
    while True:
        block, _, rest = raw.partition(b"\r\n\r\n")
        first = block.split(b" ", 2)
        if len(first) > 1 and first[1].startswith(b"1") and rest.startswith(b"HTTP/"):
            raw = rest
            continue
        return block, rest
