"""A certificate chain and private key loaded into an SSLContext without the key touching a disk.

``SSLContext.load_cert_chain`` takes only paths. On Linux the PEM goes into an
anonymous memory file (``memfd_create``) that OpenSSL opens through
``/proc/self/fd``: nothing is ever written to a file system, so nothing is
left behind whatever kills the run. Elsewhere a 0600 temporary file holds it
for the duration of the call and is removed at once.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator

__all__ = ["load_key_pair"]


@contextlib.contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None and os.path.isdir("/proc/self/fd"):
        fd = memfd_create("meshgate-tls", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    fd, path = tempfile.mkstemp(prefix="meshgate-tls-")  # 0600
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def load_key_pair(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """``context.load_cert_chain`` for PEM bytes (the chain, then its key)."""
    with _memory_file(cert_pem) as cert, _memory_file(key_pem) as key:
        context.load_cert_chain(cert, key)
