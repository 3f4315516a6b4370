"""Strict XML intake (no DTDs, no entities) and CDATA quoting for the XML we write.

WeChat never sends a DOCTYPE. ``guard_prolog`` refuses one before any parser runs: a DTD may
only stand before the root element, and entities can only be declared in a DTD, so this byte
scan rules out XXE and billion laughs. Behind it, wechatpy's parser (xmltodict on expat, with
entity declarations disabled) rejects a DOCTYPE anywhere else and undefined entity references
as malformed. ``check_xml`` is a full strict parse for the simulator and tests: expat with
parameter entities off and a handler that aborts at any DOCTYPE or entity declaration.
"""

from __future__ import annotations

from xml.parsers import expat


class UnsafeXML(ValueError):
    """The body declares a DTD or entities."""


class MalformedXML(ValueError):
    """The body is not a well-formed WeChat message."""


def guard_prolog(body: bytes) -> None:
    """Refuse a document whose prolog declares a DTD; cheap enough for every request."""
    start = body.find(b"<xml")
    if start < 0:
        raise MalformedXML("no <xml> root element")
    prolog = body[:start]
    if b"<!" in prolog and b"DOCTYPE" in prolog.upper():
        raise UnsafeXML("DTD or entity declarations are not accepted")


def cdata_content(value: str) -> str:
    """``value`` safe between ``<![CDATA[`` and ``]]>``: a literal ``]]>`` is split across two
    sections so it cannot end the first one early."""
    return value.replace("]]>", "]]]]><![CDATA[>")


def cdata(value: str) -> str:
    """``value`` as a CDATA section."""
    return "<![CDATA[" + cdata_content(value) + "]]>"


def _refuse(*_args: object) -> None:
    raise UnsafeXML("DTD or entity declarations are not accepted")


def check_xml(body: bytes) -> dict[str, str]:
    """Validate ``body`` and return the top-level fields of its ``<xml>`` root.

    A field holding child elements (e.g. ScanCodeInfo) maps to their text run together."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    fields: dict[str, str] = {}
    depth = 0
    current: list[str] = []
    name = ""

    def start(tag: str, _attrs: dict[str, str]) -> None:
        nonlocal depth, name
        depth += 1
        if depth == 1 and tag != "xml":
            raise MalformedXML("root element must be <xml>")
        if depth == 2:
            name = tag
            current.clear()

    def end(_tag: str) -> None:
        nonlocal depth
        if depth == 2:
            fields[name] = "".join(current)
        depth -= 1

    def text(data: str) -> None:
        if depth >= 2:
            current.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise MalformedXML(f"not well-formed XML: {exc}") from None
    return fields
