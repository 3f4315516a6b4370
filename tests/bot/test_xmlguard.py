"""The XML intake guard: DTDs and entities are refused before anything is expanded."""

from __future__ import annotations

import pytest

from bot.xmlguard import MalformedXML, UnsafeXML, check_xml, guard_prolog

XXE = b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml>&x;</xml>'


def test_guard_refuses_a_doctype() -> None:
    with pytest.raises(UnsafeXML):
        guard_prolog(XXE)
    with pytest.raises(UnsafeXML):
        check_xml(XXE)


def test_guard_passes_a_plain_message() -> None:
    body = b"<xml><ToUserName><![CDATA[a]]></ToUserName><Content>x</Content></xml>"
    guard_prolog(body)
    assert check_xml(body) == {"ToUserName": "a", "Content": "x"}


@pytest.mark.parametrize("body", [b"", b"hello", b"<xml><a>"])
def test_malformed(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        check_xml(body)
