"""Echo backends: one asyncio loop in a daemon thread answering echo-basic JSON on many sockets.

Every listening socket carries an ``EchoIdentity`` (service, namespace, version,
pod) and answers each HTTP/1.1 or HTTP/2 request with the JSON body of the
Gateway API conformance echo (``echo-basic``), and each gRPC call as its gRPC
echo does, so a case's checks read the same fields locally and on a cluster::

    {"path": "/a?b=1", "host": "x", "method": "GET", "proto": "HTTP/1.1",
     "headers": {"X-Foo": ["a"]}, "namespace": "ns", "service": "svc",
     "pod": "svc-v1-0", "version": "v1", "httpPort": "41234",
     "peer": "127.0.0.1:50012", "tls": {...}}

Header names in ``headers`` are canonicalised the way Go's ``net/http`` does
(``x-foo-bar`` -> ``X-Foo-Bar``), which is what echo-basic emits; values of
repeated headers are kept as separate list items. As in Go, ``Host`` and
``Transfer-Encoding`` are not in ``headers`` (``host`` carries the former).
Consumers should look headers up with ``header_values()``, which ignores case.

The package, from the wire up: ``protocol`` (HTTP/1.1 requests and answers),
``tls`` (TLS told from plaintext on one port, SNI and TLS facts), ``handler``
(the echo-basic body, its knobs and ``EchoFault`` misbehaviours),
``grpcecho`` (the conformance gRPC echo, ``GrpcEcho``), ``http2`` (HTTP/2 with
prior knowledge or ALPN h2, plain requests and gRPC calls), ``websocket``
(echo-basic's ``/ws``) and ``server`` (``EchoServer``: the sockets, the loop
thread, the request log). It needs nothing but the standard library (and
``pytest_meshgate._durations`` and ``_grpcwire``), so that it can run as it
is inside a stock Python image; only HTTP/2 needs the pure-Python ``h2``
package, imported when a connection speaks it, and ``/ws`` the pure-Python
``wsproto``, imported when a WebSocket handshake is accepted.
"""

from __future__ import annotations

from .handler import EchoFault, EchoIdentity
from .protocol import canonical_header_name, header_values
from .server import EchoListener, EchoRequest, EchoServer

__all__ = [
    "EchoFault",
    "EchoIdentity",
    "EchoListener",
    "EchoRequest",
    "EchoServer",
    "canonical_header_name",
    "header_values",
]
