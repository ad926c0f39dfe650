"""The echo's command line (what an echo pod runs): its arguments and their refusals.

The process itself runs for real from a rendered pod in
tests/_targets/kubernetes/test_k8s_echo_pod.py; here only the parsing.
"""

from __future__ import annotations

import argparse

import pytest

from pytest_meshgate._targets.echo.cli import ListenSpec, parse_args, parse_listen


def test_listen_specs() -> None:
    assert parse_listen("http=9080") == ListenSpec("http", 9080)
    assert parse_listen("https=9443,cert=tls/a.crt,key=tls/a.key,ca=tls/ca.crt,mutual") == (
        ListenSpec("https", 9443, "tls/a.crt", "tls/a.key", "tls/ca.crt", mutual=True)
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("9080", "want NAME=PORT"),
        ("http=70000", "want NAME=PORT"),
        ("https=1,cert=a", "cert and key go together"),
        ("https=1,mutual", "need cert and key"),
        ("https=1,cert=a,key=b,mutual", "mutual needs the ca"),
        ("http=1,colour=blue", "unknown option 'colour=blue'"),
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
