"""SqlTx: the queries that run inside one transaction.

The pipeline opens a transaction with `SqlStorage.begin()` and calls these, so
a poll's items, matches, stories and outbox rows are written together or not at
all. Every datetime written is UTC; every datetime read is made UTC-aware
(SQLite returns naive values).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.models import feeds, items, operator_events
from bot.storage.tx_delivery import DeliveryQueries
from bot.types import Feed, FeedConfig, Item, ItemData


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def row_to_feed(r: Mapping[str, Any]) -> Feed:
    return Feed(
        id=r["id"], url=r["url"], title=r["title"], site_url=r["site_url"],
        allow_private=bool(r["allow_private"]), full_text=bool(r["full_text"]), enabled=bool(r["enabled"]),
        min_interval_s=r["min_interval_s"], max_interval_s=r["max_interval_s"], language=r["language"],
        etag=r["etag"], last_modified=r["last_modified"], body_hash=r["body_hash"], next_check_at=utc(r["next_check_at"]),
        interval_s=r["interval_s"], last_checked_at=utc(r["last_checked_at"]),
        last_success_at=utc(r["last_success_at"]), last_new_item_at=utc(r["last_new_item_at"]),
        last_status=r["last_status"], error_count=r["error_count"] or 0, last_error=r["last_error"],
        error_since=utc(r["error_since"]),
    )


def row_to_item(r: Mapping[str, Any]) -> Item:
    return Item(
        id=r["id"], feed_id=r["feed_id"], key=r["key"], title=r["title"], summary=r["summary"],
        link=r["link"], published=utc(r["published_at"]), first_seen_at=utc(r["first_seen_at"]),
        updated_at=utc(r["updated_at"]), author=r["author"], categories=tuple(r["categories"] or ()),
        language=r["language"], content_hash=r["content_hash"], html=r["html"] or "",
    )


class SqlTx(DeliveryQueries):
    def __init__(self, conn: AsyncConnection, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect

    # ------------------------------------------------------------------ feeds

    async def upsert_feeds(self, configs: Sequence[FeedConfig], *, source: str, now: datetime,
                           disable_missing: bool) -> tuple[int, int, int]:
        existing = {r.url: r for r in (await self.conn.execute(
            select(feeds.c.id, feeds.c.url, feeds.c.source, feeds.c.enabled))).all()}
        added = updated = disabled = 0
        seen = set()
        for c in configs:
            seen.add(c.url)
            values = dict(allow_private=c.allow_private, full_text=c.full_text,
                          min_interval_s=c.min_interval_s, max_interval_s=c.max_interval_s,
                          language=c.language)
            if c.title:
                values["title"] = c.title
            if c.url in existing:
                await self.conn.execute(update(feeds).where(feeds.c.id == existing[c.url].id)
                                        .values(enabled=True, **values))
                updated += 1
            else:
                await self.conn.execute(feeds.insert().values(
                    url=c.url, source=source, enabled=True, error_count=0, created_at=now, **values))
                added += 1
        if disable_missing:
            for url, row in existing.items():
                if url not in seen and row.source == source and row.enabled:
                    await self.conn.execute(update(feeds).where(feeds.c.id == row.id).values(enabled=False))
                    disabled += 1
        return added, updated, disabled

    async def update_feed(self, feed_id: int, **values: Any) -> None:
        await self.conn.execute(update(feeds).where(feeds.c.id == feed_id).values(**values))

    # ------------------------------------------------------------------ items

    async def known_items(self, feed_id: int, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        """key → (item id, content hash) for the keys of this feed already stored."""
        if not keys:
            return {}
        out: dict[str, tuple[int, str]] = {}
        for chunk in _chunks(list(dict.fromkeys(keys)), 500):
            rows = await self.conn.execute(
                select(items.c.key, items.c.id, items.c.content_hash)
                .where(items.c.feed_id == feed_id, items.c.key.in_(chunk)))
            out.update({k: (i, h) for k, i, h in rows})
        return out

    async def store_items(self, feed_id: int, data: Sequence[ItemData], *, now: datetime) -> tuple[list[Item], list[Item]]:
        """Insert new items, record edited ones as updated. Returns (new, updated)."""
        unique = list({d.key: d for d in data}.values())      # a feed repeating a guid counts once
        known = await self.known_items(feed_id, [d.key for d in unique])
        fresh = [d for d in unique if d.key not in known]
        edited = [d for d in unique if d.key in known and known[d.key][1] != d.content_hash]
        new_items = await self._insert(feed_id, fresh, now)
        updated = await self._update(feed_id, edited, known, now)
        return new_items, updated

    async def _insert(self, feed_id: int, fresh: Sequence[ItemData], now: datetime) -> list[Item]:
        if not fresh:
            return []
        rows = [_item_row(feed_id, d, now) for d in fresh]
        result = await self.conn.execute(items.insert().returning(items.c.id, items.c.key), rows)
        ids = {k: i for i, k in result.all()}
        return [_to_item(ids[d.key], feed_id, d, now) for d in fresh]

    async def _update(self, feed_id: int, edited: Sequence[ItemData], known: dict, now: datetime) -> list[Item]:
        if not edited:
            return []
        stmt = (update(items).where(items.c.id == bindparam("_id"))
                .values(title=bindparam("title"), summary=bindparam("summary"), html=bindparam("html"),
                        link=bindparam("link"), content_hash=bindparam("content_hash"),
                        updated_at=bindparam("updated_at"), published_at=bindparam("published_at")))
        params = [dict(_id=known[d.key][0], title=d.title, summary=d.summary, html=d.html, link=d.link,
                       content_hash=d.content_hash, updated_at=now, published_at=_u(d.published)) for d in edited]
        await self.conn.execute(stmt, params)
        out = []
        for d in edited:
            item = _to_item(known[d.key][0], feed_id, d, now)
            out.append(item)
        return out

    async def recent_items(self, *, since: datetime, limit: int | None = None) -> list[Item]:
        q = select(items).where(items.c.first_seen_at >= since).order_by(items.c.id)
        if limit:
            q = q.limit(limit)
        return [row_to_item(r) for r in (await self.conn.execute(q)).mappings()]

    # ------------------------------------------------------------------ operator

    async def record_event(self, *, kind: str, subject: str, message: str, now: datetime) -> None:
        await self.conn.execute(operator_events.insert().values(
            kind=kind, subject=subject, message=message, created_at=now, acknowledged=False))


def _u(value: datetime | None) -> datetime | None:
    return value.astimezone(timezone.utc) if value is not None and value.tzinfo else value


def _item_row(feed_id: int, d: ItemData, now: datetime) -> dict[str, Any]:
    return dict(feed_id=feed_id, key=d.key, guid=d.guid, link=d.link, title=d.title, summary=d.summary,
                html=d.html, author=d.author, categories=list(d.categories), language=d.language,
                published_at=_u(d.published) or now, first_seen_at=now, updated_at=None,
                content_hash=d.content_hash, processed=False)


def _to_item(item_id: int, feed_id: int, d: ItemData, now: datetime) -> Item:
    return Item(id=item_id, feed_id=feed_id, key=d.key, title=d.title, summary=d.summary, link=d.link,
                published=_u(d.published) or now, first_seen_at=now, author=d.author,
                categories=d.categories, language=d.language, content_hash=d.content_hash, html=d.html)


def _chunks(seq: list, size: int):
    for i in range(0, len(seq), size):
        yield seq[i:i + size]
