"""GitHub workflow-command escaping, as GitHub documents it for messages and properties."""

from __future__ import annotations

from pytest_meshgate._cli.formats import escape_data, escape_property


def test_message_escapes_percent_cr_and_lf_only() -> None:
    assert escape_data("50% of a\r\nb: c, d") == "50%25 of a%0D%0Ab: c, d"
    # Percent first: an escape already in the text is not decoded by GitHub later.
    assert escape_data("%0A") == "%250A"


def test_property_also_escapes_its_delimiters() -> None:
    assert escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
