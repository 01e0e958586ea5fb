"""JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1) → `RawItem`s.

feedparser 6 does not read JSON Feed, so this reader has no reference: its
behaviour is fixed by the golden fixtures. Plain-text fields (`title`,
`summary`, `content_text`) are text, `content_html` is HTML. Anything that is
JSON but not a JSON Feed is reported, not guessed at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.core.parse_dates import parse_date
from bot.core.parse_items import RawItem
from bot.core.text import resolve_link

__all__ = ["JsonFeed", "looks_like_json", "read_json_feed"]


@dataclass(slots=True)
class JsonFeed:
    items: list[RawItem]
    title: str | None
    link: str | None
    language: str | None
    error: str | None = None


def looks_like_json(data: bytes) -> bool:
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


def read_json_feed(data: bytes, base_url: str | None) -> JsonFeed:
    try:
        doc = json.loads(data.decode("utf-8-sig", "replace"))
    except (ValueError, RecursionError) as exc:
        return JsonFeed([], None, None, None, f"the document looks like JSON but does not parse ({exc})")
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        return JsonFeed([], None, None, None,
                        "the document is JSON but not a JSON Feed (no 'items' list); "
                        "check that the URL points at the feed, not at an API")
    home = _str(doc.get("home_page_url")) or _str(doc.get("feed_url")) or base_url
    base = resolve_link(home, base_url) if home else base_url
    language = _str(doc.get("language"))
    items = [_item(entry, base) for entry in doc["items"] if isinstance(entry, dict)]
    return JsonFeed(items, _str(doc.get("title")), _str(doc.get("home_page_url")), language)


def _item(entry: dict[str, Any], base: str | None) -> RawItem:
    content_html = _str(entry.get("content_html"))
    content_text = _str(entry.get("content_text"))
    summary = _str(entry.get("summary"))
    guid = entry.get("id")
    return RawItem(
        title=_str(entry.get("title")) or "",
        title_html=None,
        summary=summary or "",
        summary_html=None,
        content=content_html or content_text or "",
        content_html=True if content_html else None,
        link=_str(entry.get("url")) or _str(entry.get("external_url")),
        base=base,
        guid=str(guid).strip() if isinstance(guid, (str, int, float)) and str(guid).strip() else None,
        published=parse_date(_str(entry.get("date_published"))),
        updated=parse_date(_str(entry.get("date_modified"))),
        author=_author(entry),
        categories=[t for t in entry.get("tags") or [] if isinstance(t, str)],
        language=_str(entry.get("language")),
    )


def _author(entry: dict[str, Any]) -> str | None:
    authors = entry.get("authors")
    person = authors[0] if isinstance(authors, list) and authors else entry.get("author")
    if isinstance(person, dict):
        return _str(person.get("name"))
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
