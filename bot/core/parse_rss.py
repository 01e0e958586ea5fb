"""RSS 0.9x/2.0 and RSS 1.0/RDF trees (already strictly parsed) → `RawItem`s.

One pass over each item's children, dispatching on the tag through a dict.
Field precedence (mirrors feedparser where it is sensible, see docs/parsing.md):
title, else dc:title, else media:title; description, else dc:description,
else itunes:summary / media:description; content:encoded or xhtml:body as
content; pubDate (or dcterms:issued, atom:published), else dc:date;
link, else atom:link rel=alternate, else a guid that is a permalink URL;
guid, else rdf:about. Does not read Atom (parse_atom) or broken XML.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from lxml import etree

from bot.core.parse_dates import parse_date
from bot.core.parse_items import RawItem
from bot.core.text import resolve_link

__all__ = ["FastFeed", "inner_xml", "parse_rdf", "parse_rss"]

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RSS10 = "http://purl.org/rss/1.0/"
RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
XHTML = "http://www.w3.org/1999/xhtml"
MEDIA = "http://search.yahoo.com/mrss/"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ATOM10 = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RDF_ABOUT = f"{{{RDF}}}about"
_XMLNS_ATTR = re.compile(r'\s+xmlns(?::[\w.-]+)?="[^"]*"')
_PREFIXED_TAG = re.compile(r"<(/?)[A-Za-z_][\w.-]*:")


@dataclass(slots=True)
class FastFeed:
    kind: str                       # "rss" | "rdf" | "atom"
    items: list[RawItem]
    title: str | None
    title_html: bool | None
    link: str | None
    language: str | None
    ttl_s: int | None


def inner_xml(el: etree._Element, markup: bool = False) -> str:
    """The element's content as a string. With child elements (HTML written
    unescaped inside RSS, Atom XHTML) it is serialised, text escaped, namespace
    prefixes and declarations dropped; `markup=True` escapes a lone text too."""
    if len(el) == 0:
        text = el.text or ""
        return html.escape(text, quote=False) if markup else text
    parts = [html.escape(el.text or "", quote=False)]
    parts.extend(etree.tostring(child, encoding="unicode", with_tail=True) for child in el)
    return _PREFIXED_TAG.sub(r"<\1", _XMLNS_ATTR.sub("", "".join(parts)))


# Item child kinds.
(_TITLE, _LINK, _GUID, _DESC, _CONTENT, _PUB, _UPD, _DCDATE, _AUTHOR, _CAT, _LANG, _ALINK,
 _MTITLE, _MDESC, _MGROUP, _TTL) = range(16)


def _codes(ns: str) -> dict[str, int]:
    plain = {"title": _TITLE, "link": _LINK, "guid": _GUID, "description": _DESC,
             "pubDate": _PUB, "pubdate": _PUB, "author": _AUTHOR, "category": _CAT, "language": _LANG,
             "body": _CONTENT, "fullitem": _CONTENT, "ttl": _TTL}
    codes: dict[str, int] = {}
    for prefix in {"", f"{{{ns}}}" if ns else "", f"{{{RSS10}}}", f"{{{RSS090}}}"}:
        codes.update({prefix + k: v for k, v in plain.items()})
    codes.update({
        f"{{{DC}}}title": _TITLE, f"{{{DC}}}description": _DESC, f"{{{DC}}}date": _DCDATE,
        f"{{{DC}}}creator": _AUTHOR, f"{{{DC}}}subject": _CAT, f"{{{DC}}}language": _LANG,
        f"{{{DCTERMS}}}issued": _PUB, f"{{{DCTERMS}}}created": _PUB,
        f"{{{DCTERMS}}}modified": _UPD, f"{{{CONTENT}}}encoded": _CONTENT,
        f"{{{XHTML}}}body": _CONTENT, f"{{{ATOM10}}}link": _ALINK,
        f"{{{ATOM10}}}published": _PUB, f"{{{ATOM10}}}updated": _UPD,
        f"{{{MEDIA}}}title": _MTITLE, f"{{{MEDIA}}}description": _MDESC,
        f"{{{MEDIA}}}group": _MGROUP, f"{{{ITUNES}}}summary": _MDESC,
    })
    return codes


_PLAIN_CODES = _codes("")


@dataclass(slots=True)
class _Extra:
    """Lower-precedence values, used only when the main ones are missing."""

    dc_date: object = None
    link_el: etree._Element | None = None
    alt_link: etree._Element | None = None
    permalink: str | None = None
    media_title: str | None = None
    media_desc: str | None = None


def _item(item: etree._Element, codes: dict[str, int], base_url: str | None) -> RawItem:
    raw = RawItem(language=item.get(XML_LANG))
    extra = _Extra()
    for child in item:
        kind = codes.get(child.tag)
        if kind is None:
            continue
        # The four fields every item has are read inline (this loop runs per element).
        if kind == _TITLE:
            raw.title = raw.title or inner_xml(child)
        elif kind == _DESC:
            raw.summary = raw.summary or inner_xml(child)
        elif kind == _PUB:
            raw.published = raw.published or parse_date(child.text)
        elif kind == _LINK and not raw.link:
            raw.link = (child.text or child.get("href") or "").strip() or None
            extra.link_el = child
        else:
            _take(raw, extra, kind, child, codes)
    _finish(raw, item, extra, base_url)
    return raw


def _take(raw: RawItem, extra: _Extra, kind: int, child: etree._Element, codes: dict[str, int]) -> None:
    if kind == _DESC:
        raw.summary = raw.summary or inner_xml(child)
    elif kind == _TITLE:
        raw.title = raw.title or inner_xml(child)
    elif kind == _LINK:
        if not raw.link:
            raw.link = (child.text or child.get("href") or "").strip() or None
            extra.link_el = child
    elif kind == _GUID:
        raw.guid = (child.text or "").strip() or None
        if child.get("isPermaLink", "true").strip().lower() != "false":
            extra.permalink = raw.guid
    elif kind == _PUB:
        raw.published = raw.published or parse_date(child.text)
    elif kind == _DCDATE:
        extra.dc_date = extra.dc_date or parse_date(child.text)
    elif kind == _CONTENT:
        raw.content = raw.content or inner_xml(child)
    elif kind == _UPD:
        raw.updated = raw.updated or parse_date(child.text)
    elif kind == _AUTHOR:
        raw.author = raw.author or (child.text or "").strip() or None
    elif kind == _CAT:
        if child.text and child.text.strip():
            raw.categories.append(child.text)
    elif kind == _LANG:
        raw.language = raw.language or (child.text or "").strip() or None
    elif kind == _ALINK:
        if child.get("rel", "alternate") == "alternate" and child.get("href"):
            extra.alt_link = child
    elif kind == _MTITLE:
        extra.media_title = extra.media_title or inner_xml(child)
    elif kind == _MDESC:
        extra.media_desc = extra.media_desc or inner_xml(child)
    elif kind == _MGROUP:
        for grandchild in child:
            sub = codes.get(grandchild.tag)
            if sub in (_MTITLE, _MDESC):
                _take(raw, extra, sub, grandchild, codes)


def _finish(raw: RawItem, item: etree._Element, extra: _Extra, base_url: str | None) -> None:
    if extra.dc_date is not None:
        raw.published = raw.published or extra.dc_date
        raw.updated = raw.updated or extra.dc_date
    if not raw.title and extra.media_title:
        raw.title = extra.media_title
    if not raw.summary and extra.media_desc:
        raw.summary, raw.summary_html = extra.media_desc, None
    if not raw.link and extra.alt_link is not None:
        raw.link, extra.link_el = extra.alt_link.get("href").strip(), extra.alt_link
    if not raw.link and extra.permalink and _is_absolute(extra.permalink):
        raw.link = extra.permalink
    if raw.guid is None:
        raw.guid = item.get(RDF_ABOUT)
    if raw.link and not _is_absolute(raw.link):      # only then is the xml:base chain needed
        raw.base = (extra.link_el if extra.link_el is not None else item).base or base_url


def _is_absolute(link: str) -> bool:
    return link[:8].lower().startswith(("http://", "https://"))


def _channel_info(channel: etree._Element, codes: dict[str, int]) -> tuple[str | None, str | None, str | None, int | None]:
    title = link = language = None
    ttl = None
    for child in channel:
        kind = codes.get(child.tag)
        if kind == _TITLE and title is None:
            title = inner_xml(child)
        elif kind == _LINK and link is None:
            link = resolve_link(child.text, child.base)
        elif kind == _LANG and language is None:
            language = (child.text or "").strip() or None
        elif kind == _TTL and ttl is None:
            ttl = _ttl_seconds(child.text)
    return title, link, language or channel.get(XML_LANG), ttl


def _ttl_seconds(text: str | None) -> int | None:
    try:
        minutes = int((text or "").strip())
    except ValueError:
        return None
    return minutes * 60 if minutes > 0 else None


def parse_rss(root: etree._Element, ns: str, base_url: str | None) -> FastFeed:
    """RSS 0.9x/2.0 (also a namespaced <rss>, e.g. the old userland RSS 2 namespace)."""
    codes = _codes(ns) if ns else _PLAIN_CODES
    item_tags = (f"{{{ns}}}item", "item") if ns else ("item",)
    channel = root.find(f"{{{ns}}}channel" if ns else "channel")
    scope = channel if channel is not None else root
    items = list(scope.iter(*item_tags))
    if channel is not None and not items:
        items = list(root.iter(*item_tags))          # items written beside the channel
    title, link, language, ttl = _channel_info(scope, codes)
    raws = [_item(item, codes, base_url) for item in items]
    return FastFeed("rss", raws, title, None, link, language or root.get(XML_LANG), ttl)


def parse_rdf(root: etree._Element, base_url: str | None) -> FastFeed:
    """RSS 1.0 and 0.90 (rdf:RDF root; items are the channel's siblings)."""
    items = list(root.iter(f"{{{RSS10}}}item", f"{{{RSS090}}}item", "item"))
    channel = root.find(f"{{{RSS10}}}channel")
    if channel is None:
        channel = root.find(f"{{{RSS090}}}channel")
    title = link = language = ttl = None
    if channel is not None:
        title, link, language, ttl = _channel_info(channel, _PLAIN_CODES)
    raws = [_item(item, _PLAIN_CODES, base_url) for item in items]
    return FastFeed("rdf", raws, title, None, link, language or root.get(XML_LANG), ttl)
