"""Raw entry fields (from any of the three readers) → clean `ItemData`.

Every reader (lxml fast path, feedparser fallback, JSON Feed) fills a
`RawItem` with the document's own strings; `build_items` applies the same
rules to all of them, so the three paths cannot drift apart:

- title: clean text (HTML stripped, entities decoded, whitespace folded);
- summary: clean text of the description/summary, else of the content;
- html: the content's HTML, else the description's (kept for later, unsanitised);
- link: resolved against the entry's base (xml:base, else the feed URL);
- key: guid, else the normalised link, else sha1(title, summary) — see `_unique_keys`;
- content_hash: sha1(title, summary, link);
- mojibake repaired and stray C1 controls read as windows-1252 in every text field.
"""

from __future__ import annotations

import html as html_mod
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.core.encoding import c1_to_cp1252, repair_mojibake
from bot.core.text import content_hash, html_to_text, normalise_link, resolve_link, text_to_text
from bot.types import ItemData

__all__ = ["RawItem", "build_items", "clean_text"]


@dataclass(slots=True)
class RawItem:
    """An entry as read from the document, before cleaning. `*_html` says whether
    the matching string is HTML (True), plain text (False) or nominally plain
    text that may hold HTML (None: decided by `text.looks_like_html`)."""

    title: str = ""
    title_html: bool | None = None
    summary: str = ""
    summary_html: bool | None = True
    content: str = ""
    content_html: bool | None = True
    link: str | None = None
    base: str | None = None            # base URL for relative links of this entry
    guid: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    author: str | None = None
    categories: list[str] = field(default_factory=list)
    language: str | None = None


_LATIN1_HIGH = re.compile("[\x80-\xff]")


def fix_text(value: str) -> str:
    """Mojibake repaired, C1 controls mapped to windows-1252. Both need characters
    U+0080–U+00FF, so ASCII and non-Latin text (CJK, Cyrillic) skip them quickly."""
    if value.isascii() or not _LATIN1_HIGH.search(value):
        return value
    return c1_to_cp1252(repair_mojibake(value))


def clean_text(value: str | None, is_html: bool | None = None) -> str:
    """Clean text of a field: encoding damage repaired, HTML stripped (if HTML), whitespace folded."""
    if not value:
        return ""
    value = fix_text(value)
    if is_html:
        return html_to_text(value)
    if is_html is None:
        return text_to_text(value)
    return " ".join(value.split())


def _kept_html(raw: RawItem) -> str:
    source, is_html = (raw.content, raw.content_html) if raw.content else (raw.summary, raw.summary_html)
    if not source:
        return ""
    source = fix_text(source)
    return source if is_html is not False else html_mod.escape(source, quote=False)


def _build_one(raw: RawItem, feed_language: str | None) -> ItemData:
    title = " ".join(clean_text(raw.title, raw.title_html).split())
    summary = clean_text(raw.summary, raw.summary_html) if raw.summary else ""
    if not summary and raw.content:
        summary = clean_text(raw.content, raw.content_html)
    link = resolve_link(raw.link, raw.base)
    guid = raw.guid.strip() if raw.guid else None
    return ItemData(
        key=guid or normalise_link(link) or content_hash(title, summary),
        title=title,
        summary=summary,
        link=link,
        guid=guid or None,
        html=_kept_html(raw),
        published=raw.published or raw.updated,
        updated=raw.updated,
        author=clean_text(raw.author, False) or None,
        categories=tuple(dict.fromkeys(c for c in (clean_text(x, False) for x in raw.categories) if c)),
        language=raw.language or feed_language,
        content_hash=content_hash(title, summary, link),
    )


def build_items(raws: list[RawItem], feed_language: str | None) -> tuple[tuple[ItemData, ...], str | None]:
    """Clean items and make their keys unique. Returns (items, warning or None)."""
    items = [_build_one(raw, feed_language) for raw in raws]
    unique = _unique_keys(items)
    dropped = len(items) - len(unique)
    warning = f"{dropped} repeated item(s) dropped (same id, link, title and text)" if dropped else None
    return tuple(unique), warning


def _unique_keys(items: list[ItemData]) -> list[ItemData]:
    """Keys must be unique within a document. When several entries share a key
    (one guid for every entry, one link for a whole news page, no id at all),
    the key stops identifying anything, so each of them is keyed by
    sha1(key, exact link, title) instead, then also by the summary; entries
    still equal after that are true repeats and only the first is kept."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[item.key].append(index)
    if len(groups) == len(items):
        return items
    keyed = list(items)
    for key, members in groups.items():
        if len(members) > 1:
            for index, refined in _refined_keys(key, [items[i] for i in members]):
                keyed[members[index]] = replace(items[members[index]], key=refined)
    seen: set[str] = set()
    unique = []
    for item in keyed:
        if item.key not in seen:
            seen.add(item.key)
            unique.append(item)
    return unique


def _refined_keys(key: str, group: list[ItemData]) -> list[tuple[int, str]]:
    if len({(item.link, item.title, item.summary) for item in group}) == 1:
        return [(i, key) for i in range(len(group))]       # true repeats keep their key
    by_link_title = [content_hash(key, item.link, item.title) for item in group]
    counts = Counter(by_link_title)
    return [
        (i, k if counts[k] == 1 else content_hash(key, item.link, item.title, item.summary))
        for i, (k, item) in enumerate(zip(by_link_title, group))
    ]
