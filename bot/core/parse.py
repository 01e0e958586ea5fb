"""parse_feed: one fetched document → `ParsedFeed`. Never raises for bad input.

    body ─ gzip? ─▶ JSON? ─▶ JSON Feed reader                      parser="json"
                     │
                     └▶ encoding (BOM, charset, declaration, guess)
                        ─▶ strict XML parse ──ok──▶ one-pass extractor  parser="fast"
                             │ refused
                             ├▶ lossless repairs (&nbsp;, bare &, junk) ─ok─▶ extractor
                             └▶ feedparser's lenient parser           parser="feedparser"
                                  └ nothing? libxml2's recovering parser  parser="recover"

The strict parse is the guard: the fast extractor only ever sees a tree that
libxml2 accepted whole, so it cannot silently drop what it failed to read
(fastfeedparser does, on malformed input). Everything is pure: bytes in, a
value out; safe to run in a ProcessPoolExecutor (module-level function,
picklable arguments and result). See docs/parsing.md.
"""

from __future__ import annotations

import structlog

from bot.core.encoding import Decoded, decode_document, gunzip_bounded, quick_encoding_check
from bot.core.parse_fast import extract, recover_parse, strict_parse
from bot.core.parse_items import RawItem, build_items, clean_text
from bot.core.parse_json import looks_like_json, read_json_feed
from bot.core.parse_repair import repair_xml
from bot.core.parse_ref import read_with_feedparser
from bot.core.text import resolve_link
from bot.types import ParsedFeed

__all__ = ["parse_feed"]

log = structlog.get_logger(__name__)

_ENCODING_ERRORS = ("not proper UTF-8", "Invalid bytes in character encoding",
                    "encoding", "Document labelled UTF-16", "Char 0x0 out of allowed range")


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse a feed document (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, RDF, JSON Feed).

    `url` is the document's final URL (base for relative links);
    `content_type` the HTTP Content-Type header, if any (its charset counts).
    Returns items, or `error` with a reason an operator can act on; `warning`
    says what was repaired when the document was damaged.
    """
    try:
        return _parse(bytes(body), url, content_type)
    except Exception as exc:     # a bug in us or a library: one feed must not stop the poller
        log.exception("feed_parse_crashed", feed_url=url)
        return ParsedFeed(items=(), parser="fast",
                          error=f"internal parser error ({type(exc).__name__}: {exc}); "
                                "please report this feed to the newsbot developers")


def _parse(body: bytes, url: str, content_type: str | None) -> ParsedFeed:
    notes: list[str] = []
    if body[:2] == b"\x1f\x8b":
        body, problem = gunzip_bounded(body)
        if problem:
            return ParsedFeed(items=(), error=problem)
        notes.append("gzip-compressed body decompressed")
    if _is_empty(body):
        return ParsedFeed(items=(), error="the document is empty; the server sent no feed "
                                          "(check the URL, or try again later)")
    if looks_like_json(body):
        return _from_json(body, url, notes)
    return _from_xml(body, url, content_type, notes)


def _is_empty(body: bytes) -> bool:
    """Nothing, whitespace, a BOM or a lone XML declaration."""
    if len(body) > 512:
        return False
    rest = body.lstrip(b"\xef\xbb\xbf").strip()
    if rest.startswith(b"<?xml") and rest.endswith(b"?>") and rest.count(b"<") == 1:
        return True
    return not rest


def _from_json(body: bytes, url: str, notes: list[str]) -> ParsedFeed:
    feed = read_json_feed(body, url)
    if feed.error:
        return ParsedFeed(items=(), parser="json", error=feed.error)
    items, dup_warning = build_items(feed.items, feed.language)
    return ParsedFeed(items=items, title=clean_text(feed.title, None) or None,
                      link=resolve_link(feed.link, url), language=feed.language, parser="json",
                      warning=_join(notes + [dup_warning] + _empty_note(items)))


def _from_xml(body: bytes, url: str, content_type: str | None, notes: list[str]) -> ParsedFeed:
    decoded = _decode(body, content_type)
    root, error = strict_parse(decoded.data, url)
    if root is None and not decoded.transcoded and _is_encoding_error(error):
        decoded = decode_document(body, content_type)
        root, error = strict_parse(decoded.data, url)
    if decoded.note:
        notes.append(decoded.note)
    if root is None:
        repaired, fixes = repair_xml(decoded.data)
        if fixes:
            root, _ = strict_parse(repaired, url)
            if root is not None:
                notes.extend(fixes)
    if root is not None:
        fast = extract(root, url)
        if fast is not None:
            return _finish(fast.items, fast.title, fast.title_html, fast.link, fast.language,
                           fast.ttl_s, "fast", url, notes)
        if _looks_like_html(decoded.data):
            return ParsedFeed(items=(), error=_HTML_PAGE)
        return _from_feedparser(decoded, url, f"the root element is <{_local_name(root)}>, "
                                "not RSS, Atom or RDF", notes)
    return _from_feedparser(decoded, url, f"not well-formed XML ({_short(error)})", notes)


def _local_name(root) -> str:
    tag = root.tag if isinstance(root.tag, str) else "?"
    return tag.rpartition("}")[2]


def _decode(body: bytes, content_type: str | None) -> Decoded:
    if quick_encoding_check(body, content_type):
        return Decoded(body, "utf-8", transcoded=False)
    return decode_document(body, content_type)


def _is_encoding_error(error: str | None) -> bool:
    return bool(error) and any(marker in error for marker in _ENCODING_ERRORS)


def _from_feedparser(decoded: Decoded, url: str, reason: str, notes: list[str]) -> ParsedFeed:
    """`reason`: why the fast path could not read the document (shown to the operator)."""
    ref = read_with_feedparser(decoded.data, url)
    if ref.items:
        notes.append(f"{reason}; read with feedparser's lenient parser, {len(ref.items)} item(s) recovered")
        return _finish(ref.items, ref.title, ref.title_html, ref.link, ref.language, ref.ttl_s,
                       "feedparser", url, notes)
    if _looks_like_html(decoded.data):
        return ParsedFeed(items=(), parser="feedparser", error=_HTML_PAGE)
    recovered = _last_resort(decoded.data, url, reason, notes)
    if recovered is not None:
        return recovered
    if not ref.is_feed:
        return ParsedFeed(items=(), parser="feedparser",
                          error=f"not a feed: {reason}; check that the URL points at an RSS, "
                                "Atom or JSON feed")
    return ParsedFeed(items=(), parser="feedparser", title=clean_text(ref.title, ref.title_html) or None,
                      error=f"{reason}, and no item could be recovered; the publisher must fix "
                            "the feed (check it with an online feed validator)")


def _last_resort(data: bytes, url: str, reason: str, notes: list[str]) -> ParsedFeed | None:
    """libxml2's recovering parser, only when feedparser found nothing: it may lose text."""
    root = recover_parse(data, url)
    fast = extract(root, url) if root is not None else None
    if fast is None or not fast.items:
        return None
    notes.append(f"{reason}; {len(fast.items)} item(s) salvaged with a recovering parser, "
                 "some text may be missing")
    return _finish(fast.items, fast.title, fast.title_html, fast.link, fast.language, fast.ttl_s,
                   "recover", url, notes)


def _finish(raws: list[RawItem], title: str | None, title_html: bool | None, link: str | None,
            language: str | None, ttl_s: int | None, parser: str, url: str,
            notes: list[str]) -> ParsedFeed:
    language = language.strip() if language and language.strip() else None
    items, dup_warning = build_items(raws, language)
    return ParsedFeed(
        items=items,
        title=" ".join(clean_text(title, title_html).split()) or None,
        link=resolve_link(link, url),
        language=language,
        ttl_s=ttl_s,
        parser=parser,
        warning=_join(notes + [dup_warning] + _empty_note(items)),
    )


_HTML_PAGE = ("not a feed: the URL returned an HTML page (perhaps the site's home page or an "
              "error page); find the feed's own URL (look for an RSS/Atom link on the page)")


def _looks_like_html(data: bytes) -> bool:
    head = data[:2048].lower()
    return b"<html" in head or b"<!doctype html" in head


def _empty_note(items: tuple) -> list[str]:
    return [] if items else ["the feed lists no items"]


def _short(text: str | None, limit: int = 160) -> str:
    text = " ".join((text or "unknown problem").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _join(parts: list[str | None]) -> str | None:
    kept = [p for p in parts if p]
    return "; ".join(kept) if kept else None
