"""Briefs to and from plain JSON-able dicts (outbox payloads, stored stories). Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.types import Brief, SourceRef


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def brief_to_dict(b: Brief) -> dict[str, Any]:
    return {
        "headline": b.headline, "lede": b.lede, "why_it_matters": list(b.why_it_matters),
        "go_deeper": list(b.go_deeper), "zoom_out": [list(z) for z in b.zoom_out],
        "sources": [{"outlet": s.outlet, "title": s.title, "link": s.link, "published": _dt(s.published)}
                    for s in b.sources],
        "link": b.link, "published": _dt(b.published), "matched_terms": list(b.matched_terms),
        "watchlist": b.watchlist, "is_update": b.is_update,
    }


def brief_from_dict(d: dict[str, Any]) -> Brief:
    return Brief(
        headline=d.get("headline", ""), lede=d.get("lede", ""),
        why_it_matters=tuple(d.get("why_it_matters") or ()), go_deeper=tuple(d.get("go_deeper") or ()),
        zoom_out=tuple((z[0], z[1] if len(z) > 1 else None) for z in d.get("zoom_out") or ()),
        sources=tuple(SourceRef(outlet=s.get("outlet", ""), title=s.get("title", ""), link=s.get("link"),
                                published=_parse_dt(s.get("published"))) for s in d.get("sources") or ()),
        link=d.get("link"), published=_parse_dt(d.get("published")),
        matched_terms=tuple(d.get("matched_terms") or ()), watchlist=d.get("watchlist"),
        is_update=bool(d.get("is_update")),
    )
