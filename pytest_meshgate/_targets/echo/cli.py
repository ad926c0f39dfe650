"""The echo as a process: the command line an echo pod runs, its listeners, running until a signal.

On a cluster the echo pod is a stock Python image running this package from
a ConfigMap (``python3 -m pytest_meshgate._targets.echo ...``, see
``pytest_meshgate/_targets/kubernetes/echo_pod.py``), so the code that answers
there is the code the local target runs and the tests here exercise. Every
argument is explicit; Kubernetes substitutes ``$(POD_NAME)`` in them from the
downward API. Paths may be relative: the pod's working directory holds
``src/`` (the ConfigMap) and ``tls/`` (the echo's Secret).

::

    --service reviews --namespace default --version v1 --pod $(POD_NAME)
    --listen http=9080
    --listen https=9443,cert=tls/9443.crt,key=tls/9443.key,ca=tls/ca.crt,mutual
    --listen health=18999,probe
    --fault-status 503 | --fault-reset | --fault-delay 1s | --fault-refuse | --fault-blackhole

A TLS listener asks for a client certificate and reports it
(``tls.peerCertificates``) when ``ca`` is given, and refuses a handshake
without one with ``mutual``, as the local target's backends do
(``_targets/local/backends.py`` ``backend_tls``).

``--fault-refuse`` and ``--fault-blackhole`` take no connection on the
service ports (nothing listens; or the SYNs are dropped, see
``server._dead_sockets``) but spare the ``probe`` listener, the readiness
probe's: the pod stays Ready, as a pod whose application stopped listening
does while its probe has its own port.
"""

from __future__ import annotations

import argparse
import signal
import ssl
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..._durations import parse_duration
from .handler import EchoFault, EchoIdentity
from .server import EchoServer
from .tls import TLS_VERSIONS, limit_versions

__all__ = ["ListenSpec", "listener_fault", "main", "parse_args", "parse_listen", "server_context"]


@dataclass(frozen=True)
class ListenSpec:
    """One ``--listen NAME=PORT[,cert=F,key=F[,ca=F][,mutual][,min=V][,max=V]][,probe]``."""

    name: str
    port: int
    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    mutual: bool = False
    min: str | None = None  # TLS versions as case files name them: TLSv1.0 ... TLSv1.3
    max: str | None = None
    probe: bool = False  # the readiness probe's listener: refuse and blackhole spare it


def parse_listen(text: str) -> ListenSpec:
    """``https=9443,cert=tls/a.crt,key=tls/a.key,ca=tls/ca.crt,mutual`` -> ListenSpec."""
    head, *options = text.split(",")
    name, sep, port_text = head.partition("=")
    if not sep or not name or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise argparse.ArgumentTypeError(f"--listen {text!r}: want NAME=PORT[,cert=...,key=...]")
    values: dict[str, str] = {}
    mutual = probe = False
    for option in options:
        key, sep, value = option.partition("=")
        if option == "mutual":
            mutual = True
        elif option == "probe":
            probe = True
        elif sep and key in ("cert", "key", "ca") and value:
            values[key] = value
        elif sep and key in ("min", "max") and value in TLS_VERSIONS:
            values[key] = value
        else:
            raise argparse.ArgumentTypeError(f"--listen {text!r}: unknown option {option!r}")
    if ("cert" in values) != ("key" in values):
        raise argparse.ArgumentTypeError(f"--listen {text!r}: cert and key go together")
    if (mutual or "ca" in values) and "cert" not in values:
        raise argparse.ArgumentTypeError(f"--listen {text!r}: ca and mutual need cert and key")
    if ("min" in values or "max" in values) and "cert" not in values:
        raise argparse.ArgumentTypeError(f"--listen {text!r}: min and max need cert and key")
    if mutual and "ca" not in values:
        raise argparse.ArgumentTypeError(f"--listen {text!r}: mutual needs the ca to verify with")
    return ListenSpec(name, int(port_text), mutual=mutual, probe=probe, **values)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_meshgate._targets.echo",
        description="Answer HTTP/1.1 with the echo-basic JSON body (pytest-meshgate's echo).",
    )
    parser.add_argument("--service", required=True, help="the case's service name")
    parser.add_argument("--namespace", default="default", help="the case's namespace")
    parser.add_argument("--version", default="v1", dest="echo_version")
    parser.add_argument("--pod", default="", help="the pod name the echo reports")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--listen", action="append", type=parse_listen, required=True)
    parser.add_argument("--fault-status", type=int, default=None)
    parser.add_argument("--fault-delay", type=_duration, default=None)
    parser.add_argument("--fault-reset", action="store_true")
    parser.add_argument("--fault-refuse", action="store_true", help="refuse every connection")
    parser.add_argument("--fault-blackhole", action="store_true", help="drop every SYN")
    args = parser.parse_args(list(argv))
    answering = args.fault_status is not None or args.fault_delay is not None or args.fault_reset
    if args.fault_refuse and args.fault_blackhole:
        parser.error("--fault-refuse and --fault-blackhole exclude each other")
    if (args.fault_refuse or args.fault_blackhole) and answering:
        parser.error(
            "--fault-refuse and --fault-blackhole take no connection: "
            "no --fault-status, --fault-delay or --fault-reset with them"
        )
    if args.fault_status is not None and args.fault_reset:
        parser.error("--fault-status and --fault-reset exclude each other")
    if args.fault_status is not None and not 200 <= args.fault_status <= 599:
        parser.error("--fault-status wants 200-599")
    ports = [spec.port for spec in args.listen]
    if len(ports) != len(set(ports)):
        parser.error(f"a port is given twice: {ports}")
    return args


def server_context(spec: ListenSpec) -> ssl.SSLContext | None:
    """The TLS context of a listener, or None for plaintext."""
    if spec.cert is None or spec.key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(spec.cert, spec.key)
    if spec.ca is not None:
        context.load_verify_locations(cafile=spec.ca)
        context.verify_mode = ssl.CERT_REQUIRED if spec.mutual else ssl.CERT_OPTIONAL
    else:
        context.verify_mode = ssl.CERT_NONE
    limit_versions(context, spec.min, spec.max)
    context.set_alpn_protocols(["http/1.1"])
    return context


def _fault(args: argparse.Namespace) -> EchoFault | None:
    if args.fault_refuse or args.fault_blackhole:
        return EchoFault(refuse=args.fault_refuse, blackhole=args.fault_blackhole)
    if args.fault_status is None and args.fault_delay is None and not args.fault_reset:
        return None
    delay = args.fault_delay or 0.0
    return EchoFault(status=args.fault_status, delay=delay, reset=args.fault_reset)


def listener_fault(spec: ListenSpec, fault: EchoFault | None) -> EchoFault | None:
    """The fault of one listener: the probe's takes connections whatever the pod does."""
    if fault is not None and fault.takes_no_connection and spec.probe:
        return None
    return fault


def main(argv: Sequence[str] | None = None) -> int:
    """Listen as the arguments say; return 0 on SIGTERM or SIGINT."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    fault = _fault(args)
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    with EchoServer() as server:
        described = []
        for spec in args.listen:
            identity = EchoIdentity(
                service=args.service,
                namespace=args.namespace,
                version=args.echo_version,
                pod=args.pod,
                port_name=spec.name,
            )
            context = server_context(spec)
            own = listener_fault(spec, fault)
            server.listen(identity, args.host, spec.port, ssl_context=context, misbehaviour=own)
            tls = ""
            if context is not None:
                tls = " TLS, client cert required" if spec.mutual else " TLS"
            dead = ""
            if own is not None and own.takes_no_connection:
                dead = " (refusing)" if own.refuse else " (dropping connects)"
            described.append(f"{spec.name} {spec.port}{tls}{dead}")
        source = Path(__file__).resolve().parent
        print(
            f"meshgate echo {args.service} {args.echo_version} (pod {args.pod or '-'}, "
            f"namespace {args.namespace}) from {source}: listening on {', '.join(described)}"
            + (f"; misbehaving: {fault}" if fault is not None else ""),
            flush=True,
        )
        stop.wait()
    return 0
