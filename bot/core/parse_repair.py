"""Byte-level repairs tried when the strict XML parse refuses a document.

Each fix is local and loses nothing a reader would see; the repaired bytes
must then pass the same strict parse, so a repair can never hide damage:
either the whole document parses, or it goes to feedparser. Fixes:

- comments, whitespace and broken declarations before the root (`<?xml?xml … ??>`);
- an external DOCTYPE (RSS 0.91's Netscape DTD), which libxml2 would fetch;
- control characters, which XML forbids;
- HTML entities XML does not define (&nbsp; &eacute; …) → numeric references,
  and a bare "&" → "&amp;" (CDATA sections are left alone);
- unquoted attribute values (`version=2.0`);
- undeclared namespace prefixes: well-known ones (dc:, media:, itunes:, …) get
  their real namespace, others a placeholder, and `rss:` (RSS itself) is dropped.
"""

from __future__ import annotations

import re
from html.entities import html5

__all__ = ["repair_xml"]

_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_ENTITY_OR_CDATA = re.compile(rb"<!\[CDATA\[.*?\]\]>|&(#?[A-Za-z0-9]*);?", re.DOTALL)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_PROLOG_JUNK = re.compile(rb"^(?:\xef\xbb\xbf)?(?:\s+|<!--.*?-->|<\?[^<>]*>)+", re.DOTALL)
_LONE_DECLARATION = re.compile(rb"^<\?xml\s[^<>?]*\?>\s*$")
_EXTERNAL_DOCTYPE = re.compile(
    rb"""<!DOCTYPE\s+[\w:.-]+\s+(?:PUBLIC\s+(?:"[^"]*"|'[^']*')\s*(?:"[^"]*"|'[^']*')?"""
    rb"""|SYSTEM\s+(?:"[^"]*"|'[^']*'))\s*>""")
_START_TAG = re.compile(rb"<[A-Za-z][^<>]*>")
_UNQUOTED_ATTR = re.compile(rb"""(\s[\w:.-]+)=([^\s"'<>]+)""")
_PREFIX_USED = re.compile(rb"</?([A-Za-z_][\w.-]*):[A-Za-z_]")
_PREFIX_DECLARED = re.compile(rb"""xmlns:([A-Za-z_][\w.-]*)\s*=""")
_KNOWN_NAMESPACES = {
    b"dc": b"http://purl.org/dc/elements/1.1/",
    b"dcterms": b"http://purl.org/dc/terms/",
    b"content": b"http://purl.org/rss/1.0/modules/content/",
    b"media": b"http://search.yahoo.com/mrss/",
    b"itunes": b"http://www.itunes.com/dtds/podcast-1.0.dtd",
    b"atom": b"http://www.w3.org/2005/Atom",
    b"rdf": b"http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    b"xhtml": b"http://www.w3.org/1999/xhtml",
    b"slash": b"http://purl.org/rss/1.0/modules/slash/",
    b"wfw": b"http://wellformedweb.org/CommentAPI/",
    b"sy": b"http://purl.org/rss/1.0/modules/syndication/",
    b"georss": b"http://www.georss.org/georss",
    b"feedburner": b"http://rssnamespace.org/feedburner/ext/1.0",
}


def repair_xml(data: bytes) -> tuple[bytes, list[str]]:
    """(repaired data, what was fixed). The data is unchanged if nothing was."""
    fixes: list[str] = []
    for fix in (_prolog, _doctype, _controls, _entities, _unquoted_attributes, _prefixes):
        data, note = fix(data)
        if note:
            fixes.append(note)
    return data, fixes


def _prolog(data: bytes) -> tuple[bytes, str | None]:
    """Drop everything before the DOCTYPE/root: the text is UTF-8 by now, so the
    declaration has nothing left to say, and only a declaration may come first."""
    junk = _PROLOG_JUNK.match(data)
    if not junk:
        return data, None
    prolog = data[:junk.end()]
    note = None if prolog.isspace() or _LONE_DECLARATION.match(prolog) else "broken prolog removed"
    return data[junk.end():], note


def _doctype(data: bytes) -> tuple[bytes, str | None]:
    found = _EXTERNAL_DOCTYPE.search(data, 0, 4096)
    if not found:
        return data, None
    return data[:found.start()] + data[found.end():], "external DOCTYPE ignored"


def _controls(data: bytes) -> tuple[bytes, str | None]:
    if not _CONTROL.search(data):
        return data, None
    return _CONTROL.sub(b"", data), "control characters removed"


def _entities(data: bytes) -> tuple[bytes, str | None]:
    if b"&" not in data:
        return data, None
    counts = {"entity": 0, "amp": 0}
    data = _ENTITY_OR_CDATA.sub(lambda m: _fix_entity(m, counts), data)
    notes = []
    if counts["entity"]:
        notes.append(f"{counts['entity']} HTML entit(ies) undefined in XML (e.g. &nbsp;) decoded")
    if counts["amp"]:
        notes.append(f"{counts['amp']} bare '&' escaped")
    return data, "; ".join(notes) or None


def _fix_entity(match: re.Match[bytes], counts: dict[str, int]) -> bytes:
    whole = match.group(0)
    if whole.startswith(b"<"):
        return whole                      # CDATA: its text is literal, leave it
    name = match.group(1).decode("ascii")
    closed = whole.endswith(b";")
    if closed and (name in _XML_ENTITIES or (name.startswith("#") and len(name) > 1)):
        return whole
    if closed and name + ";" in html5:
        counts["entity"] += 1
        return "".join(f"&#{ord(ch)};" for ch in html5[name + ";"]).encode("ascii")
    counts["amp"] += 1
    return b"&amp;" + whole[1:]


def _unquoted_attributes(data: bytes) -> tuple[bytes, str | None]:
    changed = 0

    def fix_tag(tag: re.Match[bytes]) -> bytes:
        nonlocal changed
        fixed = _UNQUOTED_ATTR.sub(rb'\1="\2"', tag.group(0))
        changed += fixed != tag.group(0)
        return fixed

    data = _START_TAG.sub(fix_tag, data)
    return data, (f"{changed} tag(s) with unquoted attribute values fixed" if changed else None)


def _prefixes(data: bytes) -> tuple[bytes, str | None]:
    undeclared = set(_PREFIX_USED.findall(data)) - set(_PREFIX_DECLARED.findall(data)) - {b"xml", b"xmlns"}
    if not undeclared:
        return data, None
    if b"rss" in undeclared:           # RSS elements written as rss:item: RSS has no namespace
        data = re.sub(rb"(</?)rss:", rb"\1", data)
        data = re.sub(rb"(\s)rss:([\w.-]+=)", rb"\1\2", data)
        undeclared.discard(b"rss")
    root = _START_TAG.search(data)
    if undeclared and root is not None:
        declarations = b"".join(
            b' xmlns:%s="%s"' % (p, _KNOWN_NAMESPACES.get(p, b"urn:newsbot:undeclared:" + p))
            for p in sorted(undeclared))
        end = root.end() - (2 if data[root.end() - 2:root.end()] == b"/>" else 1)
        data = data[:end] + declarations + data[end:]
    return data, "undeclared namespace prefix(es) declared"
