"""Plain-text rendering of briefs for the console channel.

One alert reads top to bottom: the headline (with "UPDATE:" for a story
update), the lede, "Why it matters:", "Go deeper:" and "Zoom out:" bullets
(only sections that have content), then one line with the outlets, the time
(UTC), the matched terms and the watchlist, then the link. Lines are wrapped
at `width`. Control characters and terminal escape sequences from feed text
are removed, so an item cannot move the cursor or recolour the operator's
terminal. Pure: returns strings, prints nothing.
"""

from __future__ import annotations

import re
import textwrap
from datetime import datetime, timezone
from typing import Sequence

from bot.types import Brief

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_BULLET = "  • "
MAX_OUTLETS = 3


def clean(text: str | None) -> str:
    """One line of printable text: escapes and control characters removed, spaces tidied."""
    if not text:
        return ""
    return " ".join(_CONTROL.sub(" ", _ANSI.sub("", text)).split())


def format_time(moment: datetime) -> str:
    """'14:05 UTC, 3 Apr 2024' (naive datetimes are taken as UTC)."""
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
    moment = moment.astimezone(timezone.utc)
    return f"{moment:%H:%M} UTC, {moment.day} {moment:%b %Y}"


def render_console(brief: Brief, *, width: int = 100) -> str:
    """One alert as readable plain text, wrapped at `width` columns (minimum 40)."""
    width = max(40, width)
    lines = _wrap(("UPDATE: " if brief.is_update else "") + (clean(brief.headline) or "(untitled)"),
                  width, "== ", "   ")
    lede = clean(brief.lede)
    if lede:
        lines += [""] + _wrap(lede, width)
    for label, items in (("Why it matters:", brief.why_it_matters),
                         ("Go deeper:", brief.go_deeper),
                         ("Zoom out:", tuple(_zoom_line(t, u) for t, u in brief.zoom_out))):
        bullets = [clean(i) for i in items if clean(i)]
        if bullets:
            lines += ["", label]
            for bullet in bullets:
                lines += _wrap(bullet, width, _BULLET, " " * len(_BULLET))
    footer = _footer(brief)
    link = _main_link(brief)
    if footer or link:
        lines.append("")
    lines += _pack(footer, width)
    if link:
        lines.append(link)
    return "\n".join(lines) + "\n"


def render_console_digest(briefs: Sequence[Brief], extra_count: int = 0,
                          title: str = "Digest", *, width: int = 100) -> str:
    """A digest: a title, then per story its headline, lede or why-it-matters, and link."""
    width = max(40, width)
    lines = _wrap(clean(title) or "Digest", width, "== ", "   ")
    if not briefs:
        lines += ["", "No new stories."]
    for n, brief in enumerate(briefs, start=1):
        prefix = f"{n}. "
        lines += [""] + _wrap(("UPDATE: " if brief.is_update else "") + clean(brief.headline),
                              width, prefix, " " * len(prefix))
        gist = clean(brief.why_it_matters[0] if brief.why_it_matters else brief.lede)
        if gist:
            lines += _wrap(gist, width, " " * len(prefix), " " * len(prefix))
        meta = " · ".join(p for p in (_outlets(brief), _main_link(brief)) if p)
        if meta:
            lines += _wrap(meta, width, " " * len(prefix), " " * len(prefix))
    if extra_count > 0:
        lines += ["", f"…and {extra_count} more {'story' if extra_count == 1 else 'stories'}."]
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]


def _zoom_line(title: str, link: str | None) -> str:
    title, url = clean(title), _safe_url(link)
    return f"{title} — {url}" if title and url else title


def _outlets(brief: Brief) -> str:
    names = list(dict.fromkeys(n for n in (clean(s.outlet) for s in brief.sources) if n))
    more = f" +{len(names) - MAX_OUTLETS} more" if len(names) > MAX_OUTLETS else ""
    return ", ".join(names[:MAX_OUTLETS]) + more


def _pack(parts: list[str], width: int) -> list[str]:
    """Join parts with " · ", breaking lines between parts (inside one only if it is too long)."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += " · " + part
        else:
            lines += _wrap(part, width)
    return lines


def _footer(brief: Brief) -> list[str]:
    parts = [_outlets(brief)]
    if brief.published:
        parts.append(format_time(brief.published))
    terms = list(dict.fromkeys(t for t in (clean(x) for x in brief.matched_terms) if t))
    if terms:
        parts.append("matched: " + ", ".join(terms[:5]))
    if brief.watchlist:
        parts.append("watchlist: " + clean(brief.watchlist))
    return [p for p in parts if p]


def _main_link(brief: Brief) -> str | None:
    for candidate in (brief.link, *(s.link for s in brief.sources)):
        url = _safe_url(candidate)
        if url:
            return url
    return None


def _safe_url(url: str | None) -> str | None:
    url = clean(url)
    return url if url.lower().startswith(("http://", "https://")) and " " not in url else None
