"""Digests and operator notices: rows that wait, then go out as one message.

A digest subscription's alerts are queued with status `digest`. When the
subscription's `next_digest_at` passes, one transaction takes them, builds one
`digest` outbox row (the top stories by priority, then recency; the rest counted
with their links) and moves `next_digest_at` to the next period. An empty period
sends nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Mapping, Sequence

import structlog

from bot.core.timing import TimingError, next_digest_at, parse_digest, parse_zone
from bot.storage.sql import SqlStorage

log = structlog.get_logger(__name__)


def select_digest(rows: Sequence[Mapping], top: int, priorities: Mapping[str, int]) -> tuple[list[dict], list[dict]]:
    """(the top briefs, the rest) — by watchlist priority, then newest first. Pure."""
    def rank(r: Mapping):
        b = (r["payload"] or {}).get("brief") or {}
        return (-priorities.get(b.get("watchlist") or "", 0), -_ts(r["created_at"]), r["id"])

    ordered = sorted(rows, key=rank)
    briefs = [(r["payload"] or {}).get("brief") for r in ordered]
    briefs = [b for b in briefs if b]
    return briefs[:top], briefs[top:]


def _ts(value) -> float:
    return value.timestamp() if isinstance(value, datetime) else 0.0


async def build_due_digests(storage: SqlStorage, *, now: datetime, top: int,
                            priorities: Mapping[str, int]) -> int:
    """Build the digest messages that are due; returns how many were queued."""
    queued = 0
    async with storage.begin() as tx:
        due = await tx.due_digests(now)
        for sub in due:
            try:
                nxt = next_digest_at(now, parse_digest(sub.digest or "daily 08:00"), parse_zone(sub.timezone))
            except TimingError as exc:
                log.error("digest_schedule_invalid", subscription_id=sub.id, error=str(exc))
                continue
            rows = await tx.take_digest_rows(sub.id)
            await tx.update_subscriptions([sub.id], next_digest_at=nxt)
            if not rows:
                continue
            chosen, rest = select_digest(rows, top, priorities)
            payload = {"briefs": chosen, "extra_count": len(rest),
                       "extra": [[b.get("headline"), b.get("link")] for b in rest],
                       "subscription_id": sub.id}
            key = f"digest:{sub.platform}:{sub.address}:{sub.id}:{now:%Y%m%dT%H%M}"
            queued += await tx.enqueue([dict(dedupe_key=key, subscription_id=sub.id, story_id=None,
                                             platform=sub.platform, address=sub.address, kind="digest",
                                             payload=payload, status="pending", not_before=now, attempts=0,
                                             created_at=now)])
            log.info("digest_queued", subscription_id=sub.id, stories=len(chosen), more=len(rest))
    return queued

