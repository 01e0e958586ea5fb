"""The fallback: feedparser's lenient parser, for documents the strict guard refused.

feedparser (the compatibility reference) recovers unclosed tags, undeclared
namespaces and other breakage that a strict XML parser rejects, and flags it
(`bozo`). It is ~50× slower than the fast path, so it only runs on documents
that are not well-formed even after `parse_fast.repair_xml`.

It is given the document already decoded to UTF-8 by `bot.core.encoding`
and no base URL, so ids stay as written (feedparser would resolve a relative
id against the base); relative links are then resolved by `build_items`
like on the fast path.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import feedparser

from bot.core.parse_items import RawItem

__all__ = ["RefFeed", "read_with_feedparser"]

_HEADERS = {"content-type": "application/xml; charset=utf-8"}


@dataclass(slots=True)
class RefFeed:
    items: list[RawItem]
    is_feed: bool                   # feedparser recognised RSS/Atom/RDF/CDF
    title: str | None
    title_html: bool
    link: str | None
    language: str | None
    ttl_s: int | None
    problem: str | None             # what feedparser found wrong (bozo), if anything


def read_with_feedparser(data: bytes, base_url: str | None) -> RefFeed:
    """Parse UTF-8 `data` with feedparser. Never fetches anything: bytes go in as a stream."""
    parsed = feedparser.parse(io.BytesIO(data), response_headers=dict(_HEADERS))
    feed = parsed.get("feed", {})
    items = [_raw(entry, base_url) for entry in parsed.get("entries", [])]
    title_detail = feed.get("title_detail") or {}
    return RefFeed(
        items=items,
        is_feed=bool(parsed.get("version")) or bool(items),
        title=feed.get("title"),
        title_html=_is_html(title_detail),
        link=feed.get("link"),
        language=feed.get("language"),
        ttl_s=_ttl(feed.get("ttl")),
        problem=_problem(parsed) if parsed.get("bozo") else None,
    )


def _raw(entry: Any, base_url: str | None) -> RawItem:
    title_detail = entry.get("title_detail") or {}
    summary_detail = entry.get("summary_detail") or {}
    contents = entry.get("content") or []
    content = next((c for c in contents if c.get("value")), None)
    return RawItem(
        title=entry.get("title") or "",
        title_html=_is_html(title_detail),
        summary=entry.get("summary") or "",
        summary_html=_is_html(summary_detail or (content or {})),
        content=content.get("value") if content else "",
        content_html=_is_html(content or {}),
        link=entry.get("link") or None,
        base=base_url,
        guid=entry.get("id") or None,
        published=_utc(entry.get("published_parsed")),
        updated=_utc(entry.get("updated_parsed")),
        author=entry.get("author") or None,
        categories=[t.get("term") for t in entry.get("tags") or [] if t.get("term")],
        language=(title_detail.get("language") or summary_detail.get("language")) or None,
    )


def _is_html(detail: Any) -> bool | None:
    """True for HTML/XHTML; None (decide by looks_like_html) for text/plain,
    which feedparser does not second-guess in Atom."""
    return None if detail.get("type", "text/html") == "text/plain" else True


def _utc(st: time.struct_time | None) -> datetime | None:
    if not st:
        return None
    try:
        return datetime(*st[:6], tzinfo=timezone.utc)
    except (TypeError, ValueError, OverflowError):
        return None


def _ttl(value: Any) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes * 60 if minutes > 0 else None


def _problem(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    message = str(getattr(exc, "getMessage", lambda: exc)()) if exc is not None else "unknown problem"
    line = getattr(exc, "getLineNumber", lambda: None)()
    return f"{message} (line {line})" if line else message
