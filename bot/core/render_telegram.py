"""Render briefs, digests and command replies as Telegram HTML (pure).

Only tags the Bot API accepts are emitted (`<b>`, `<i>`, `<a href>`); every
piece of feed or member text is cleaned (control characters, lone surrogates
and bidi overrides removed, whitespace collapsed) and then `html.escape`d, so
the result parses under Telegram's rules for any input. Text is measured in
Unicode code points of the *visible* text, which is what the Bot API limits to
4096 after parsing entities; cuts happen in plain text before escaping, so a cut
never lands inside a tag or an entity.

When a brief is too long, "Zoom out" and "Go deeper" bullets go first, then
extra "Why it matters" lines; the headline, the first "Why it matters" line and
the link always stay (shortened with "…" if they alone are huge).

Each result also carries a plain-text twin for the "can't parse entities"
fallback. This module knows nothing of HTTP or of python-telegram-bot.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.types import Brief

if TYPE_CHECKING:   # annotation only: core does not import the chat layer at run time
    from bot.chat.api import Reply

MAX_CHARS = 4096                 # sendMessage text, code points after entity parsing
MIN_BUDGET = 500
MAX_RAW_BYTES = 32768            # sendMessage text before parsing ("text is too long")
CALLBACK_DATA_MAX_BYTES = 64
_ACTION_CODES = {"mute": "m", "unsub": "u"}
_CODE_ACTIONS = {v: k for k, v in _ACTION_CODES.items()}
_DROP = re.compile("[\ud800-\udfff\u202a-\u202e\u2066-\u2069\ufffe\uffff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_C1 = re.compile("[\x80-\x9f\t]")
_SPACE_RUN = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class RenderedTelegram:
    """`html` for parse_mode=HTML; `plain` to resend without parse_mode; `preview_url`
    is the link to preview, None when previews are off."""

    html: str
    plain: str
    preview_url: str | None = None


@dataclass(frozen=True, slots=True)
class _Span:
    text: str
    style: str | None = None      # "b" | "i"
    href: str | None = None


_Line = tuple[_Span, ...]


# --------------------------------------------------------------------------- text hygiene


def clean_text(text: str | None, *, multiline: bool = False) -> str:
    """Text safe to escape: no controls, lone surrogates or bidi overrides; tidy spaces."""
    text = _DROP.sub("", (text or "").replace("\r\n", "\n").replace("\r", "\n"))
    text = _C1.sub(" ", text)
    if not multiline:
        return _SPACE_RUN.sub(" ", text).strip()
    lines = [_SPACE_RUN.sub(" ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def shorten(text: str, limit: int) -> str:
    """At most `limit` code points, cut at a word boundary when one is near, with "…"."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip().rstrip("\u200d\ufe0f") + "…"


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for an href, or None (javascript:, data:, junk)."""
    url = (url or "").strip()
    if not url or len(url) > 2048 or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return clean_text(url) or None


# --------------------------------------------------------------------------- spans → output


def _span_html(span: _Span) -> str:
    out = html.escape(span.text, quote=False)
    if span.href:
        out = f'<a href="{html.escape(span.href, quote=True)}">{out}</a>'
    if span.style:
        out = f"<{span.style}>{out}</{span.style}>"
    return out


def _span_plain(span: _Span) -> str:
    if span.href and span.href != span.text:
        return f"{span.text} ({span.href})" if span.text else span.href
    return span.text


def _join(blocks: list[list[_Line]], render) -> str:
    return "\n\n".join("\n".join("".join(render(s) for s in line) for line in block)
                       for block in blocks if block)


def _measure(blocks: list[list[_Line]], plain: bool) -> int:
    return len(_join(blocks, _span_plain if plain else (lambda s: s.text)))


def _fits(blocks: list[list[_Line]], budget: int, plain: bool) -> bool:
    """Visible length within budget, and the raw HTML within the API's 32 KiB."""
    if _measure(blocks, plain) > budget:
        return False
    return plain or len(_join(blocks, _span_html).encode("utf-8")) <= MAX_RAW_BYTES


# --------------------------------------------------------------------------- alerts


@dataclass(frozen=True, slots=True)
class _Alert:
    headline: str
    lede: str
    why: tuple[str, ...]
    deeper: tuple[str, ...]
    zoom: tuple[tuple[str, str | None], ...]
    link: str | None
    footer: str


def _alert_fields(brief: Brief, budget: int) -> _Alert:
    bullet = max(120, min(600, budget // 6))
    headline = shorten(clean_text(brief.headline), max(80, budget // 10)) or "Untitled story"
    if brief.is_update:
        headline = "Update: " + headline
    why = tuple(w for w in (clean_text(x) for x in brief.why_it_matters) if w)
    why = tuple(shorten(w, budget // 4 if i == 0 else bullet) for i, w in enumerate(why))
    zoom = tuple((shorten(t, bullet), safe_url(u)) for t, u in
                 ((clean_text(t) or clean_text(u), u) for t, u in brief.zoom_out) if t)
    return _Alert(
        headline=headline,
        lede=shorten(clean_text(brief.lede), budget * 3 // 8),
        why=why,
        deeper=tuple(shorten(d, bullet) for d in (clean_text(x) for x in brief.go_deeper) if d),
        zoom=zoom,
        link=_main_link(brief),
        footer=shorten(_footer_text(brief), max(60, budget // 10)),
    )


def _main_link(brief: Brief) -> str | None:
    for candidate in (brief.link, *(s.link for s in brief.sources)):
        url = safe_url(candidate)
        if url:
            return url
    return None


def _footer_text(brief: Brief) -> str:
    outlets: list[str] = []
    for source in brief.sources:
        name = shorten(clean_text(source.outlet), 40)
        if name and name not in outlets:
            outlets.append(name)
    parts = []
    if outlets:
        more = f" +{len(outlets) - 3} more" if len(outlets) > 3 else ""
        parts.append(", ".join(outlets[:3]) + more)
    if brief.published:
        parts.append(format_time(brief.published))
    terms = [t for t in (shorten(clean_text(x), 40) for x in brief.matched_terms) if t]
    if terms:
        parts.append("matched: " + ", ".join(dict.fromkeys(terms[:5])))
    return " · ".join(parts)


def format_time(moment: datetime) -> str:
    """'14:05 UTC, 3 Apr 2024' (naive datetimes are taken as UTC)."""
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
    moment = moment.astimezone(timezone.utc)
    return f"{moment:%H:%M} UTC, {moment.day} {moment:%b %Y}"


def _alert_blocks(a: _Alert, n_why: int, n_deeper: int, n_zoom: int) -> list[list[_Line]]:
    top: list[_Line] = [(_Span(a.headline, "b"),)]
    if a.lede:
        top.append((_Span(a.lede),))
    blocks = [top]
    if a.why:
        why: list[_Line] = [(_Span("Why it matters:", "b"), _Span(" " + a.why[0]))]
        why += [(_Span("• " + w),) for w in a.why[1:n_why]]
        blocks.append(why)
    if n_deeper:
        blocks.append([(_Span("Go deeper:", "b"),)]
                      + [(_Span("• " + d),) for d in a.deeper[:n_deeper]])
    if n_zoom:
        blocks.append([(_Span("Zoom out:", "b"),)]
                      + [(_Span("• "), _Span(t, href=u)) for t, u in a.zoom[:n_zoom]])
    tail: list[_Line] = []
    if a.link:
        tail.append((_Span("Read the story", href=a.link),))
    if a.footer:
        tail.append((_Span(a.footer, "i"),))
    blocks.append(tail)
    return blocks


def _fit_alert(a: _Alert, budget: int, plain: bool) -> list[list[_Line]]:
    """Required parts, then why → go deeper → zoom out, each a prefix that fits."""
    counts = [1, 0, 0]
    for slot, total in ((0, len(a.why)), (1, len(a.deeper)), (2, len(a.zoom))):
        while counts[slot] < total:
            counts[slot] += 1
            if not _fits(_alert_blocks(a, *counts), budget, plain):
                counts[slot] -= 1
                break
    return _alert_blocks(a, *counts)


def render_telegram(brief: Brief, *, link_preview: bool = False,
                    max_chars: int = MAX_CHARS) -> RenderedTelegram:
    """One alert; `max_chars` (clamped to 500…4096) lets a sender ask for a shorter one."""
    budget = max(MIN_BUDGET, min(MAX_CHARS, max_chars))
    fields = _alert_fields(brief, budget)
    html_out = _join(_fit_alert(fields, budget, plain=False), _span_html)
    plain_fields = fields
    if fields.link:   # in plain text the URL itself is visible: leave room for it
        plain_fields = _alert_fields(brief, max(MIN_BUDGET, budget - len(fields.link) - 20))
    plain_blocks = _fit_alert(plain_fields, budget, plain=True)
    if _measure(plain_blocks, plain=True) > MAX_CHARS:   # a monstrous URL: drop it from plain
        plain_blocks = _fit_alert(replace(plain_fields, link=None), budget, plain=True)
    preview = fields.link if link_preview else None
    return RenderedTelegram(html_out, _join(plain_blocks, _span_plain), preview)


# --------------------------------------------------------------------------- digests


def _digest_item(brief: Brief, budget: int) -> list[_Line]:
    headline = shorten(clean_text(brief.headline), max(80, budget // 12)) or "Untitled story"
    link = _main_link(brief)
    lines: list[_Line] = [(_Span("• "), _Span(headline, "b", href=link))]
    why = next((w for w in (clean_text(x) for x in brief.why_it_matters) if w), "")
    if why:
        lines.append((_Span("  " + shorten(why, 280)),))
    return lines


def _digest_blocks(title: str, items: list[list[_Line]], more: int) -> list[list[_Line]]:
    blocks = [[(_Span(title, "b"),)]] + items
    if more:
        noun = "story" if more == 1 else "stories"
        blocks.append([(_Span(f"…and {more} more {noun}", "i"),)])
    return blocks


def _fit_digest(title: str, briefs: tuple[Brief, ...] | list[Brief], extra: int,
                budget: int, plain: bool) -> list[list[_Line]]:
    items: list[list[_Line]] = []
    for index, brief in enumerate(briefs):
        candidate = items + [_digest_item(brief, budget)]
        more = len(briefs) - index - 1 + extra
        if not _fits(_digest_blocks(title, candidate, more), budget, plain):
            return _digest_blocks(title, items, len(briefs) - index + extra)
        items = candidate
    return _digest_blocks(title, items, extra)


def render_telegram_digest(briefs: tuple[Brief, ...] | list[Brief], extra_count: int = 0,
                           title: str = "Digest", *, max_chars: int = MAX_CHARS) -> RenderedTelegram:
    """A digest: a bold title, one bullet per story (linked headline + why it matters)."""
    budget = max(MIN_BUDGET, min(MAX_CHARS, max_chars))
    head = shorten(clean_text(title), 200) or "Digest"
    extra = max(0, extra_count)
    return RenderedTelegram(
        _join(_fit_digest(head, briefs, extra, budget, plain=False), _span_html),
        _join(_fit_digest(head, briefs, extra, budget, plain=True), _span_plain),
    )


# --------------------------------------------------------------------------- replies, notices


def render_text(text: str, title: str | None = None, *, plain: bool = False) -> str:
    """Member-facing text (a command reply or a notice), escaped and ≤ 4096 characters."""
    head = shorten(clean_text(title), 200) if title else ""
    room = MAX_CHARS - (len(head) + 1 if head else 0)
    body = shorten(clean_text(text, multiline=True), room)
    if plain:
        return "\n".join(p for p in (head, body) if p) or "…"
    parts = ([f"<b>{html.escape(head, quote=False)}</b>"] if head else [])
    parts += [html.escape(body, quote=False)] if body else []
    return "\n".join(parts) or "…"


def render_reply(reply: Reply) -> str:
    """HTML for a command Reply: bold title line, then the text."""
    return render_text(reply.text, reply.title)


# --------------------------------------------------------------------------- buttons


def callback_data(action: str, value: str) -> str | None:
    """'m:<story id>' / 'u:<subscription id>', or None if unknown or over 64 bytes."""
    code = _ACTION_CODES.get(action)
    data = f"{code}:{value}" if code else ""
    return data if code and len(data.encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES else None


def parse_callback_data(data: str | None) -> tuple[str, str] | None:
    """The (action, value) a button carried, or None for anything we did not send."""
    code, sep, value = (data or "").partition(":")
    action = _CODE_ACTIONS.get(code)
    return (action, value) if action and sep and value else None


def alert_buttons(story_id: int | None, subscription_id: int | None) -> tuple[tuple[str, str], ...]:
    """(label, callback_data) pairs for the buttons under an alert."""
    buttons = []
    if story_id is not None:
        buttons.append(("🔕 Mute story", callback_data("mute", str(story_id))))
    if subscription_id is not None:
        buttons.append(("Unsubscribe", callback_data("unsub", str(subscription_id))))
    return tuple((label, data) for label, data in buttons if data)
