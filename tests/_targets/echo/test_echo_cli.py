"""The echo's command line (what an echo pod runs): its arguments and their refusals.

The process itself runs for real from a rendered pod in
tests/_targets/kubernetes/test_k8s_echo_pod.py; here only the parsing.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import threading
import warnings
from pathlib import Path

import pytest
import trustme

from pytest_meshgate._targets.echo import EchoFault
from pytest_meshgate._targets.echo.cli import (
    ListenSpec,
    listener_fault,
    parse_args,
    parse_listen,
    server_context,
)


def test_listen_specs() -> None:
    assert parse_listen("http=9080") == ListenSpec("http", 9080)
    assert parse_listen("https=9443,cert=tls/a.crt,key=tls/a.key,ca=tls/ca.crt,mutual") == (
        ListenSpec("https", 9443, "tls/a.crt", "tls/a.key", "tls/ca.crt", mutual=True)
    )
    assert parse_listen("https=1,cert=a,key=b,min=TLSv1.1,max=TLSv1.2") == ListenSpec(
        "https", 1, "a", "b", min="TLSv1.1", max="TLSv1.2"
    )


def test_refuse_and_blackhole_spare_the_probe_listener() -> None:
    assert parse_listen("health=18999,probe") == ListenSpec("health", 18999, probe=True)
    args = parse_args(["--service", "r", "--listen", "http=1", "--fault-refuse"])
    assert (args.fault_refuse, args.fault_blackhole) == (True, False)
    refuse, blackhole = EchoFault(refuse=True), EchoFault(blackhole=True)
    probe, service = parse_listen("health=2,probe"), parse_listen("http=1")
    assert listener_fault(service, refuse) is refuse
    assert listener_fault(service, blackhole) is blackhole
    assert listener_fault(probe, refuse) is None and listener_fault(probe, blackhole) is None
    # A fault that answers leaves the probe listener as it is: /health is spared there.
    status = EchoFault(status=503)
    assert listener_fault(probe, status) is status


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (["--fault-refuse", "--fault-blackhole"], "exclude each other"),
        (["--fault-refuse", "--fault-status", "503"], "take no connection"),
        (["--fault-blackhole", "--fault-delay", "1s"], "take no connection"),
        (["--fault-blackhole", "--fault-reset"], "take no connection"),
    ],
)
def test_refuse_and_blackhole_go_alone(
    extra: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--service", "r", "--listen", "http=1", *extra])
    assert why in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("9080", "want NAME=PORT"),
        ("http=70000", "want NAME=PORT"),
        ("https=1,cert=a", "cert and key go together"),
        ("https=1,mutual", "need cert and key"),
        ("https=1,cert=a,key=b,mutual", "mutual needs the ca"),
        ("http=1,colour=blue", "unknown option 'colour=blue'"),
        ("https=1,cert=a,key=b,min=TLSv9", "unknown option 'min=TLSv9'"),
        ("http=1,max=TLSv1.2", "min and max need cert and key"),
    ],
)
def test_bad_listen_specs_say_why(text: str, why: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=why):
        parse_listen(text)


def test_arguments_and_their_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args(["--service", "r", "--listen", "http=1", "--fault-delay", "1m30s"])
    assert (args.service, args.namespace, args.echo_version, args.fault_delay) == (
        "r",
        "default",
        "v1",
        90.0,
    )
    for bad in (
        ["--service", "r", "--listen", "http=1", "--fault-status", "503", "--fault-reset"],
        ["--service", "r", "--listen", "http=1", "--listen", "h=1"],
        ["--service", "r", "--listen", "http=1", "--fault-delay", "soon"],
    ):
        with pytest.raises(SystemExit):
            parse_args(bad)
    err = capsys.readouterr().err
    assert (
        "exclude each other" in err and "a port is given twice" in err and "invalid duration" in err
    )


@pytest.mark.parametrize(
    ("client_version", "accepted"),
    [(ssl.TLSVersion.TLSv1_1, True), (ssl.TLSVersion.TLSv1_2, False)],
    ids=["TLSv1.1", "TLSv1.2"],
)
def test_a_listener_limited_to_tls_1_1_speaks_only_that(
    tmp_path: Path, client_version: ssl.TLSVersion, accepted: bool
) -> None:
    # A real handshake against the context the echo serves with: the staged
    # legacy server of a case (ServicePortTLS minVersion/maxVersion).
    ca = trustme.CA()
    leaf = ca.issue_cert("legacy.example.com")
    leaf.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "pair.pem"))
    spec = parse_listen(f"https=1,cert={tmp_path / 'pair.pem'},key={tmp_path / 'pair.pem'},"
                        "min=TLSv1.1,max=TLSv1.1")  # fmt: skip
    server = server_context(spec)
    assert server is not None
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client)
    client.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = client.maximum_version = client_version
    a, b = socket.socketpair()
    with a, b:
        done: list[BaseException | str] = []

        def serve() -> None:
            try:
                with server.wrap_socket(b, server_side=True) as tls:
                    done.append(str(tls.version()))
            except (ssl.SSLError, OSError) as exc:
                done.append(exc)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with client.wrap_socket(a, server_hostname="legacy.example.com") as tls:
                outcome: str | None = tls.version()
        except (ssl.SSLError, OSError):
            outcome = None
        thread.join(10)
    assert (outcome == "TLSv1.1") is accepted
    assert (done == ["TLSv1.1"]) is accepted
