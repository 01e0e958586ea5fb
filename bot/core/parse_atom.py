"""Atom 1.0 and 0.3 trees (already strictly parsed) → `RawItem`s.

Text constructs follow RFC 4287 §3.1 (type text/html/xhtml, other MIME types
base64 or inline XML) and Atom 0.3's type/mode. The entry link is the last
rel="alternate" link of an HTML type (feedparser's choice); ids are kept as
written. Published: published (1.0), issued/created (0.3); updated: updated
(1.0), modified (0.3), dc:date. Does not read RSS or broken XML.
"""

from __future__ import annotations

import base64
import binascii

from lxml import etree

from bot.core.parse_dates import parse_date
from bot.core.parse_items import RawItem
from bot.core.parse_rss import DC, MEDIA, XHTML, XML_LANG, FastFeed, inner_xml
from bot.core.text import resolve_link

__all__ = ["ATOM03", "ATOM10", "parse_atom", "text_construct"]

ATOM10 = "http://www.w3.org/2005/Atom"
ATOM03 = "http://purl.org/atom/ns#"
_HTML_LINK_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_XHTML_DIV = f"{{{XHTML}}}div"

(_TITLE, _LINK, _ID, _SUMMARY, _CONTENT, _PUB, _UPD, _DCDATE, _AUTHOR, _CAT, _LANG,
 _MTITLE, _MDESC, _MGROUP) = range(14)


def text_construct(el: etree._Element) -> tuple[str, bool | None]:
    """(value, is_html) of an Atom text construct. is_html None: plain text that
    may still hold HTML (decided later by `looks_like_html`)."""
    kind = (el.get("type") or "text").strip().lower()
    mode = (el.get("mode") or "").strip().lower()
    if kind in ("text", "text/plain") and mode != "base64":
        return inner_xml(el), None
    if kind in ("html", "text/html") and mode in ("", "escaped"):
        return el.text or "", True
    if kind in ("xhtml", "application/xhtml+xml") or mode == "xml" or kind.endswith(("+xml", "/xml")):
        only = el[0] if len(el) == 1 and not (el.text or "").strip() else None
        if only is not None and only.tag == _XHTML_DIV:
            return inner_xml(only, markup=True), True      # the wrapper div is not content
        return inner_xml(el, markup=True), True
    if kind.startswith("text/") and mode != "base64":
        return el.text or "", None
    return _base64_text(el.text), kind in ("html", "text/html") or None


def _base64_text(value: str | None) -> str:
    try:
        return base64.b64decode("".join((value or "").split()), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


def _codes(ns: str) -> dict[str, int]:
    names = {"title": _TITLE, "link": _LINK, "id": _ID, "summary": _SUMMARY, "content": _CONTENT,
             "published": _PUB, "issued": _PUB, "created": _PUB, "updated": _UPD,
             "modified": _UPD, "author": _AUTHOR, "category": _CAT}
    prefix = f"{{{ns}}}" if ns else ""          # a <feed> without xmlns is read as Atom too
    codes = {prefix + k: v for k, v in names.items()}
    codes.update({f"{{{DC}}}subject": _CAT, f"{{{DC}}}language": _LANG, f"{{{DC}}}date": _DCDATE,
                  f"{{{DC}}}creator": _AUTHOR, f"{{{MEDIA}}}title": _MTITLE,
                  f"{{{MEDIA}}}description": _MDESC, f"{{{MEDIA}}}group": _MGROUP})
    return codes


_CODES = {ns: _codes(ns) for ns in (ATOM10, ATOM03, "")}


def _entry(entry: etree._Element, codes: dict[str, int], ns: str) -> RawItem:
    raw = RawItem(language=entry.get(XML_LANG))
    state: dict[str, object] = {}
    for child in entry:
        kind = codes.get(child.tag)
        if kind is not None:
            _take(raw, state, kind, child, codes, ns)
    if not raw.title and state.get("media_title"):
        raw.title = state["media_title"]        # type: ignore[assignment]
    if not raw.summary and state.get("media_desc"):
        raw.summary, raw.summary_html = state["media_desc"], None    # type: ignore[assignment]
    if state.get("dc_date") is not None:
        raw.updated = raw.updated or state["dc_date"]     # type: ignore[assignment]
    link_el = state.get("link")
    if isinstance(link_el, etree._Element):
        raw.link = (link_el.get("href") or link_el.text or "").strip() or None
        if raw.link and not raw.link[:8].lower().startswith(("http://", "https://")):
            raw.base = link_el.base          # the xml:base chain, only when it is needed
    elif raw.guid and raw.guid[:8].lower().startswith(("http://", "https://")):
        raw.link, raw.base = raw.guid, None      # an id that is a URL is the permalink
    return raw


def _take(raw: RawItem, state: dict[str, object], kind: int, child: etree._Element,
          codes: dict[str, int], ns: str) -> None:
    if kind == _LINK:
        if child.get("rel", "alternate") == "alternate" and \
                (child.get("type") or "text/html").lower() in _HTML_LINK_TYPES and \
                (child.get("href") or child.text):
            state["link"] = child
    elif kind == _TITLE:
        raw.title, raw.title_html = text_construct(child)
    elif kind == _SUMMARY:
        raw.summary, raw.summary_html = text_construct(child)
    elif kind == _CONTENT:
        if not raw.content and child.get("src") is None:
            raw.content, raw.content_html = text_construct(child)
    elif kind == _ID:
        raw.guid = (child.text or "").strip() or None
    elif kind == _PUB:
        raw.published = raw.published or parse_date(child.text)
    elif kind == _UPD:
        raw.updated = raw.updated or parse_date(child.text)
    elif kind == _DCDATE:
        state["dc_date"] = state.get("dc_date") or parse_date(child.text)
    elif kind == _AUTHOR:
        raw.author = raw.author or _person(child, ns)
    elif kind == _CAT:
        term = child.get("term") or child.text
        if term and term.strip():
            raw.categories.append(term)
    elif kind == _LANG:
        raw.language = raw.language or (child.text or "").strip() or None
    elif kind in (_MTITLE, _MDESC):
        key = "media_title" if kind == _MTITLE else "media_desc"
        state[key] = state.get(key) or inner_xml(child)
    elif kind == _MGROUP:
        for grandchild in child:
            sub = codes.get(grandchild.tag)
            if sub in (_MTITLE, _MDESC):
                _take(raw, state, sub, grandchild, codes, ns)


def _person(el: etree._Element, ns: str) -> str | None:
    name = el.findtext(f"{{{ns}}}name" if ns else "name") or el.text
    return name.strip() if name and name.strip() else None


def parse_atom(root: etree._Element, ns: str) -> FastFeed:
    """An Atom feed; entries are its <entry> children (or <item>, which feedparser also reads)."""
    codes = _CODES[ns]
    prefix = f"{{{ns}}}" if ns else ""
    entries = list(root.iterchildren(prefix + "entry", prefix + "item"))
    title, title_html, link = None, None, None
    for child in root:
        if child.tag == prefix + "title" and title is None:
            title, title_html = text_construct(child)
        elif child.tag == prefix + "link" and link is None and child.get("rel", "alternate") == "alternate":
            link = resolve_link(child.get("href"), child.base)
    raws = [_entry(entry, codes, ns) for entry in entries]
    return FastFeed("atom", raws, title, title_html, link, root.get(XML_LANG), None)
