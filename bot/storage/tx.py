"""SqlTx: the queries that run inside one transaction.

The pipeline opens a transaction with `SqlStorage.begin()` and calls these, so
a poll's items, matches, stories and outbox rows are written together or not at
all. Every datetime written is UTC; every datetime read is made UTC-aware
(SQLite returns naive values).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from sqlalchemy import BigInteger, Boolean, DateTime, Text, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
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
        wanted = {c.url: c for c in configs}             # a URL listed twice: the last entry wins
        inserts: list[dict[str, Any]] = []
        updates: list[tuple[int, dict[str, Any]]] = []
        for c in wanted.values():
            values = dict(allow_private=c.allow_private, full_text=c.full_text,
                          min_interval_s=c.min_interval_s, max_interval_s=c.max_interval_s,
                          language=c.language)
            if c.url in existing:
                if c.title:
                    values["title"] = c.title
                updates.append((existing[c.url].id, dict(values, enabled=True)))
            else:
                inserts.append(dict(values, url=c.url, title=c.title or None, source=source, enabled=True,
                                    error_count=0, created_at=now))
        if inserts:
            await self.conn.execute(feeds.insert(), inserts)
        gone = [(row.id, {"enabled": False}) for url, row in existing.items()
                if disable_missing and url not in wanted and row.source == source and row.enabled]
        await self.update_feeds(updates + gone)
        return len(inserts), len(updates), len(gone)

    async def update_feed(self, feed_id: int, **values: Any) -> None:
        await self.conn.execute(update(feeds).where(feeds.c.id == feed_id).values(**values))

    async def update_feeds(self, rows: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """Set many feed rows at once: one executemany per set of columns."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for feed_id, values in rows:
            if values:
                groups.setdefault(tuple(sorted(values)), []).append({"_id": feed_id, **values})
        for params in groups.values():
            # the SET clause comes from the parameters' keys
            await self.conn.execute(_UPDATE_FEED_BY_ID, params)

    # ------------------------------------------------------------------ items

    async def known_items(self, feed_id: int, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        """key → (item id, content hash) for the keys of this feed already stored."""
        known = await self.known_items_many([(feed_id, k) for k in keys])
        return {k: v for (_, k), v in known.items()}

    async def known_items_many(self, pairs: Sequence[tuple[int, str]]) -> dict[tuple[int, str], tuple[int, str]]:
        """(feed id, key) → (item id, content hash) for the pairs already stored.

        One query per few thousand pairs, joined to the unique index on (feed_id, key):
        a JSON array walked by json_each on SQLite, two arrays unnested on PostgreSQL.
        """
        out: dict[tuple[int, str], tuple[int, str]] = {}
        for chunk in _chunks(list(dict.fromkeys(pairs)), 5000):
            if self.dialect == "sqlite":
                rows = await self.conn.execute(_KNOWN_SQLITE, {"pairs": json.dumps(chunk)})
            else:
                rows = await self.conn.execute(_KNOWN_PG, {"f": [f for f, _ in chunk], "k": [k for _, k in chunk]})
            out.update({(f, k): (i, h) for f, k, i, h in rows.all()})
        return out

    async def store_items(self, feed_id: int, data: Sequence[ItemData], *, now: datetime) -> tuple[list[Item], list[Item]]:
        """Insert new items, record edited ones as updated. Returns (new, updated)."""
        return (await self.store_items_many([(feed_id, data, now)]))[0]

    async def store_items_many(self, batch: Sequence[tuple[int, Sequence[ItemData], datetime]]
                               ) -> list[tuple[list[Item], list[Item]]]:
        """`store_items` for several feeds at once (feed id, items, now): one lookup, one insert, one update.

        Returns (new, updated) per entry, in order.
        """
        unique = [(f, list({d.key: d for d in data}.values()), now)   # a feed repeating a guid counts once
                  for f, data, now in batch]
        known = await self.known_items_many([(f, d.key) for f, data, _ in unique for d in data])
        fresh = [(f, d, now) for f, data, now in unique for d in data if (f, d.key) not in known]
        edited = [(f, d, now) for f, data, now in unique for d in data
                  if (f, d.key) in known and known[f, d.key][1] != d.content_hash]
        ids = await self._insert_items(fresh)
        await self._update_items(edited, known)
        out: list[tuple[list[Item], list[Item]]] = [([], []) for _ in unique]
        slot = {f: i for i, (f, _, _) in enumerate(unique)}
        for f, d, now in fresh:
            out[slot[f]][0].append(_to_item(ids[f, d.key], f, d, now))
        for f, d, now in edited:
            out[slot[f]][1].append(_to_item(known[f, d.key][0], f, d, now))
        return out

    async def _insert_items(self, fresh: Sequence[tuple[int, ItemData, datetime]]) -> dict[tuple[int, str], int]:
        if not fresh:
            return {}
        if self.dialect == "sqlite":
            return await self._insert_items_sqlite(fresh)
        if self.dialect == "postgresql":
            return await self._insert_items_pg(fresh)
        rows = [_item_row(f, d, now) for f, d, now in fresh]
        result = await self.conn.execute(items.insert().returning(items.c.id, items.c.feed_id, items.c.key), rows)
        return {(f, k): i for i, f, k in result.all()}

    async def _insert_items_pg(self, fresh: Sequence[tuple[int, ItemData, datetime]]) -> dict[tuple[int, str], int]:
        """The same rows as `_insert_items`, as INSERT … SELECT FROM unnest(one array per column).

        One statement text whatever the number of rows (asyncpg prepares and caches every
        distinct text: SQLAlchemy's multi-row VALUES made one per batch size), and the arrays
        travel in asyncpg's binary format instead of one parameter per value.
        """
        ids: dict[tuple[int, str], int] = {}
        for chunk in _chunks(list(fresh), 5000):
            cols: dict[str, list[Any]] = {name: [] for name in _ITEM_COLUMNS}
            for f, d, now in chunk:
                for name, value in zip(_ITEM_COLUMNS, (
                        f, d.key, d.guid, d.link, d.title, d.summary, d.html, d.author,
                        json.dumps(list(d.categories)), d.language, _u(d.published) or now, now,
                        d.content_hash, False)):
                    cols[name].append(value)
            result = await self.conn.execute(_INSERT_PG, cols)
            ids.update({(f, k): i for i, f, k in result.all()})
        return ids

    async def _insert_items_sqlite(self, fresh: Sequence[tuple[int, ItemData, datetime]]) -> dict[tuple[int, str], int]:
        """The same rows as `_insert_items`, as multi-row INSERT … RETURNING statements in driver SQL.

        First ingest is bound by this insert: SQLAlchemy's per-row parameter handling cost
        about as much as the rest of the pipeline. The values go through SQLAlchemy's own
        bind processors for these columns, so they are stored exactly as SQLAlchemy stores
        them (datetimes as text in its format, categories as JSON).
        """
        dialect = self.conn.dialect
        stamp = items.c.published_at.type.dialect_impl(dialect).bind_processor(dialect)
        to_json = items.c.categories.type.dialect_impl(dialect).bind_processor(dialect)
        stamps: dict[datetime, str] = {}
        ids: dict[tuple[int, str], int] = {}
        for chunk in _insert_chunks(list(fresh)):
            params: list[Any] = []
            for f, d, now in chunk:
                seen = stamps.get(now) or stamps.setdefault(now, stamp(now))
                published = stamp(_u(d.published)) if d.published else seen
                params += (f, d.key, d.guid, d.link, d.title, d.summary, d.html, d.author,
                           to_json(list(d.categories)), d.language, published, seen, d.content_hash, 0)
            sql = _SQLITE_INSERT + ", ".join([_SQLITE_ROW] * len(chunk)) + " RETURNING id, feed_id, key"
            result = await self.conn.exec_driver_sql(sql, tuple(params))
            ids.update({(f, k): i for i, f, k in result.all()})
        return ids

    async def _update_items(self, edited: Sequence[tuple[int, ItemData, datetime]], known: dict) -> None:
        if not edited:
            return
        params = [dict(_id=known[f, d.key][0], title=d.title, summary=d.summary, html=d.html, link=d.link,
                       content_hash=d.content_hash, updated_at=now, published_at=_u(d.published))
                  for f, d, now in edited]
        await self.conn.execute(_UPDATE_ITEM_BY_ID, params)

    async def recent_items(self, *, since: datetime, limit: int | None = None) -> list[Item]:
        q = select(items).where(items.c.first_seen_at >= since).order_by(items.c.id)
        if limit:
            q = q.limit(limit)
        return [row_to_item(r) for r in (await self.conn.execute(q)).mappings()]

    # ------------------------------------------------------------------ operator

    async def record_event(self, *, kind: str, subject: str, message: str, now: datetime) -> None:
        await self.conn.execute(operator_events.insert().values(
            kind=kind, subject=subject, message=message, created_at=now, acknowledged=False))


_ITEM_COLUMNS = ("feed_id", "key", "guid", "link", "title", "summary", "html", "author", "categories",
                 "language", "published_at", "first_seen_at", "content_hash", "processed")
_SQLITE_INSERT = f"INSERT INTO items ({', '.join(_ITEM_COLUMNS)}) VALUES "
_SQLITE_ROW = "(" + ", ".join("?" * len(_ITEM_COLUMNS)) + ")"
_PG_ARRAY_TYPES = dict(feed_id=BigInteger, published_at=DateTime(timezone=True),
                       first_seen_at=DateTime(timezone=True), processed=Boolean)
_INSERT_PG = text(
    f"INSERT INTO items ({', '.join(_ITEM_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join("CAST(:categories AS JSON[])" if c == "categories" else f":{c}" for c in _ITEM_COLUMNS)
    + ") RETURNING id, feed_id, key").bindparams(
    *(bindparam(c, type_=ARRAY(_PG_ARRAY_TYPES.get(c, Text))) for c in _ITEM_COLUMNS))
_SQLITE_ROWS_PER_INSERT = 512          # × 14 parameters: well under SQLite's limit of 32,766
_UPDATE_FEED_BY_ID = update(feeds).where(feeds.c.id == bindparam("_id"))
_UPDATE_ITEM_BY_ID = update(items).where(items.c.id == bindparam("_id"))
_KNOWN_SQLITE = text("SELECT i.feed_id, i.key, i.id, i.content_hash FROM json_each(:pairs) AS j "
                     "JOIN items AS i ON i.feed_id = j.value ->> 0 AND i.key = j.value ->> 1")
_KNOWN_PG = text("SELECT i.feed_id, i.key, i.id, i.content_hash FROM unnest(:f, :k) AS q(feed_id, key) "
                 "JOIN items AS i ON i.feed_id = q.feed_id AND i.key = q.key").bindparams(
    bindparam("f", type_=ARRAY(BigInteger)), bindparam("k", type_=ARRAY(Text)))


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


def _insert_chunks(rows: list) -> list[list]:
    """Chunks of 512, 256, 128, … 1 rows: few distinct statements, so that the driver's statement
    cache holds a handful of them instead of one large compiled INSERT per batch size."""
    out, i, size = [], 0, _SQLITE_ROWS_PER_INSERT
    while i < len(rows):
        while size > len(rows) - i:
            size //= 2
        out.append(rows[i:i + size])
        i += size
    return out


def _chunks(seq: list, size: int):
    for i in range(0, len(seq), size):
        yield seq[i:i + size]
