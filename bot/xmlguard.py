"""Strict XML intake (no DTDs, no entities) and CDATA quoting for the XML we write.

WeChat never sends a DOCTYPE. ``guard_prolog`` refuses one before any parser runs: a DTD may
only stand before the root element, and entities can only be declared in a DTD, so this byte
scan rules out XXE and billion laughs. Behind it, ``read_message`` (the webhook's reader) and
``check_xml`` (the simulator's and the tests') parse strictly: expat reading UTF-8 only, with
parameter entities off and a handler that aborts at any DOCTYPE or entity declaration, so an
undefined entity reference is malformed XML.
"""

from __future__ import annotations

from collections.abc import Callable
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


def _strict_parser() -> expat.XMLParserType:
    """An expat parser that reads UTF-8 whatever the document declares, never expands a
    parameter entity, and aborts at any DOCTYPE or entity declaration."""
    parser = expat.ParserCreate("utf-8")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    parser.buffer_text = True  # one text callback per run of characters, CDATA included
    return parser


def _parse(
    parser: expat.XMLParserType,
    body: bytes,
    start: Callable[[str, dict[str, str]], None],
    end: Callable[[str], None],
    text: Callable[[str], None],
) -> None:
    """Parse ``body`` with these element and text callbacks; expat's errors as MalformedXML."""
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise MalformedXML(f"not well-formed XML: {exc}") from None


def read_message(body: bytes) -> dict[str, str | None]:
    """The fields of a flat WeChat message: each child of the ``<xml>`` root by name, its text
    stripped of surrounding white space (as wechatpy's parser reads it).

    A field that is not plain text (it has attributes or child elements, e.g. a menu event's
    ScanCodeInfo, or it occurs twice) maps to None: the caller decides whether it may be.
    The hot path of every webhook request, so it keeps the callbacks to a minimum."""
    parser = _strict_parser()
    fields: dict[str, str | None] = {}
    depth = 0
    name = ""
    parts: list[str] = []
    plain = True

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal depth, name, plain
        depth += 1
        if depth == 2:
            name = tag
            parts.clear()
            plain = not attrs and tag not in fields
        elif depth == 1:
            if tag != "xml":
                raise MalformedXML("root element must be <xml>")
        else:
            plain = False

    def end(_tag: str) -> None:
        nonlocal depth
        if depth == 2:
            fields[name] = "".join(parts).strip() if plain else None
        depth -= 1

    def text(data: str) -> None:
        if depth == 2:
            parts.append(data)

    _parse(parser, body, start, end, text)
    return fields


def check_xml(body: bytes) -> dict[str, str]:
    """Validate ``body`` and return the top-level fields of its ``<xml>`` root.

    A field holding child elements (e.g. ScanCodeInfo) maps to their text run together."""
    parser = _strict_parser()
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

    _parse(parser, body, start, end, text)
    return fields
