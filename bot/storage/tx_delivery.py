"""Transaction queries for matches, stories and subscriptions (the outbox's are in tx_outbox).

Mixed into SqlTx. Every change of subscriptions made here bumps
`subscriptions_version()`, which the processor's subscription cache
(bot.pipeline.route) checks before it trusts what it read earlier.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from sqlalchemy import Table, bindparam, delete, event, func, or_, select, text, update

from bot.storage.models import briefs, items, matches, muted_stories, outbox, stories, subscriptions
from bot.storage.tx_outbox import JsonText, OutboxQueries
from bot.types import Match

__all__ = ["DeliveryQueries", "JsonText", "StoryRow", "Subscription", "subscriptions_version"]


class _Counter:
    version = 0


_SUBSCRIPTIONS = _Counter()
_CHANGED_KEY = "newsbot_subscriptions_changed"
_HOOKED_POOLS: weakref.WeakSet = weakref.WeakSet()


def subscriptions_version() -> int:
    """Bumped by every change of subscriptions made through these queries in this process."""
    return _SUBSCRIPTIONS.version


def _on_checkin(_dbapi_connection, record) -> None:
    if record is not None and record.info.pop(_CHANGED_KEY, False):
        _SUBSCRIPTIONS.version += 1


def _utc(value):
    if value is None:
        return None
    from bot.storage.tx import utc      # tx imports this module
    return utc(value)


class Subscription(NamedTuple):
    """A subscription as stored (a tuple: routing builds thousands a minute)."""

    id: int
    platform: str
    address: str
    watchlist: str | None
    query: str | None
    mode: str
    digest: str | None
    timezone: str
    quiet: str | None
    paused: bool
    paused_reason: str | None
    source: str
    created_by: str | None
    next_digest_at: datetime | None

    @property
    def target(self) -> str:
        return f"watchlist {self.watchlist}" if self.watchlist else f"query {self.query}"


_SUB_COLUMNS = [subscriptions.c[name] for name in Subscription._fields]


def row_to_subscription(r: Mapping[str, Any]) -> Subscription:
    return Subscription(id=r["id"], platform=r["platform"], address=r["address"], watchlist=r["watchlist"],
                        query=r["query"], mode=r["mode"], digest=r["digest"], timezone=r["timezone"],
                        quiet=r["quiet"], paused=bool(r["paused"]), paused_reason=r["paused_reason"],
                        source=r["source"], created_by=r["created_by"], next_digest_at=_utc(r["next_digest_at"]))


@dataclass(frozen=True, slots=True)
class StoryRow:
    id: int
    title: str
    link: str | None
    watchlists: tuple[str, ...]
    signature: bytes | None
    brief: dict | None
    first_seen_at: datetime
    last_item_at: datetime
    item_count: int
    sources: tuple[dict, ...]
    version: int


def row_to_story(r: Mapping[str, Any]) -> StoryRow:
    return StoryRow(id=r["id"], title=r["title"], link=r["link"], watchlists=tuple(r["watchlists"] or ()),
                    signature=r["signature"], brief=r["brief"], first_seen_at=_utc(r["first_seen_at"]),
                    last_item_at=_utc(r["last_item_at"]), item_count=r["item_count"],
                    sources=tuple(r["sources"] or ()), version=r["version"])


class DeliveryQueries(OutboxQueries):
    conn: Any
    dialect: str

    # ------------------------------------------------------------------ matches & stories

    async def insert_matches(self, item_id: int, story_id: int | None, found: Sequence[Match], now: datetime) -> None:
        await self.insert_matches_many([(item_id, story_id, found)], now)

    async def insert_matches_many(self, entries: Sequence[tuple[int, int | None, Sequence[Match]]],
                                  now: datetime) -> None:
        """Matches of many items, (item id, story id, matches) each, in one statement."""
        rows = [dict(item_id=item_id, story_id=story_id, rule_id=m.rule_id, watchlist=m.watchlist, query=m.query,
                     explanation=[dict(term=h.term, field=h.field, text=h.text, start=h.start, end=h.end)
                                  for h in m.hits], created_at=now)
                for item_id, story_id, found in entries for m in found]
        if rows:
            await self.conn.execute(self._insert_stmt(matches).on_conflict_do_nothing(), rows)

    async def recent_stories(self, since: datetime) -> list[StoryRow]:
        rows = await self.conn.execute(select(stories).where(stories.c.last_item_at >= since)
                                       .order_by(stories.c.last_item_at.desc()).limit(5000))
        return [row_to_story(r) for r in rows.mappings()]

    async def reserve_ids(self, wanted: Mapping[Table, int]) -> dict[Table, list[int]]:
        """Unused primary keys, `n` for each table (stories, briefs), for rows inserted later in
        this transaction: PostgreSQL draws them from each table's sequence; SQLite counts on
        from the largest id, which is safe because its writers hold the database's write lock
        (BEGIN IMMEDIATE) from the start of the transaction. One query for all tables."""
        wanted = {t: n for t, n in wanted.items() if n > 0}
        if not wanted:
            return {}
        if self.dialect == "sqlite":
            q = select(*(select(func.coalesce(func.max(t.c.id), 0)).scalar_subquery() for t in wanted))
            tops = (await self.conn.execute(q)).one()
            return {t: list(range(int(top) + 1, int(top) + 1 + n)) for (t, n), top in zip(wanted.items(), tops)}
        parts = ", ".join(f"(SELECT array_agg(nextval(pg_get_serial_sequence('{t.name}', 'id'))) "
                          f"FROM generate_series(1, {int(n)}))" for t, n in wanted.items())
        got = (await self.conn.execute(text(f"SELECT {parts}"))).one()
        return {t: [int(v) for v in ids] for t, ids in zip(wanted, got)}

    async def write_stories(self, new: Sequence[dict], changed: Sequence[dict], new_briefs: Sequence[dict]) -> None:
        """Insert stories (`new`: rows with their reserved ids), update others (`changed`: id and
        the columns that change), insert briefs (rows with reserved ids): one statement each."""
        if new:
            await self.conn.execute(stories.insert(), list(new))
        by_columns: dict[frozenset, list[dict]] = {}
        for row in changed:
            by_columns.setdefault(frozenset(row), []).append(row)
        for columns, rows in by_columns.items():
            values = {c: bindparam("v_" + c, type_=stories.c[c].type) for c in columns if c != "id"}
            await self.conn.execute(update(stories).where(stories.c.id == bindparam("v_id")).values(values),
                                    [{"v_" + k: v for k, v in r.items()} for r in rows])
        if new_briefs:
            await self.conn.execute(briefs.insert(), list(new_briefs))

    async def link_item_to_story(self, item_id: int, story_id: int, signature: bytes) -> None:
        await self.link_items_to_stories([(item_id, story_id, signature)])

    async def link_items_to_stories(self, links: Sequence[tuple[int, int, bytes]]) -> None:
        """Mark items processed, each with its story and signature: (item id, story id, signature)."""
        if links:
            await self.conn.execute(_LINK_ITEM, [dict(_id=i, _story=s, _sig=sig) for i, s, sig in links])

    async def story_items_since(self, since: datetime) -> list[tuple[int, int, bytes, datetime]]:
        """(item id, story id, signature, published) of recent items that belong to a story."""
        rows = await self.conn.execute(
            select(items.c.id, items.c.story_id, items.c.signature, items.c.published_at)
            .where(items.c.first_seen_at >= since, items.c.story_id.is_not(None), items.c.signature.is_not(None))
            .order_by(items.c.first_seen_at, items.c.id))       # by id alone, SQLite scans the whole table
        return [(i, s, bytes(sig), _utc(p)) for i, s, sig, p in rows]

    async def story(self, story_id: int) -> StoryRow | None:
        row = (await self.conn.execute(select(stories).where(stories.c.id == story_id))).mappings().first()
        return row_to_story(row) if row else None

    async def zoom_out(self, watchlists: Sequence[str], *, since: datetime, exclude: int | None,
                       limit: int = 3) -> list[tuple[str, str | None]]:
        """Earlier stories of the same watchlists in recent days (title, link), newest first."""
        if not watchlists:
            return []
        wanted = set(watchlists)
        out = []
        for sid, title, link, wls in await self.recent_story_heads(since, limit=200):
            if sid != exclude and wanted.intersection(wls):
                out.append((title, link))
                if len(out) == limit:
                    break
        return out

    async def recent_story_heads(self, since: datetime, *, limit: int
                                 ) -> list[tuple[int, str, str | None, tuple[str, ...]]]:
        """(id, title, link, watchlists) of the `limit` most recently active stories since `since`."""
        rows = await self.conn.execute(select(stories.c.id, stories.c.title, stories.c.link, stories.c.watchlists)
                                       .where(stories.c.last_item_at >= since)
                                       .order_by(stories.c.last_item_at.desc()).limit(limit))
        return [(sid, title, link, tuple(wls or ())) for sid, title, link, wls in rows]

    # ------------------------------------------------------------------ subscriptions

    def _subscriptions_changed(self) -> None:
        """Tell subscription caches (bot.pipeline.route) that their entries are stale: now, and
        again when this transaction has ended, so that nothing read before the commit is kept."""
        _SUBSCRIPTIONS.version += 1
        sync = self.conn.sync_connection
        if sync is None:
            return
        pool = sync.engine.pool
        if pool not in _HOOKED_POOLS:
            event.listen(pool, "checkin", _on_checkin)
            _HOOKED_POOLS.add(pool)
        sync.info[_CHANGED_KEY] = True

    async def subscriptions_for(self, watchlists: Iterable[str], sub_ids: Iterable[int]) -> list[Subscription]:
        wl, ids = list(set(watchlists)), list(set(sub_ids))
        if not wl and not ids:
            return []
        cond = or_(subscriptions.c.watchlist.in_(wl) if wl else False, subscriptions.c.id.in_(ids) if ids else False)
        rows = await self.conn.execute(select(*_SUB_COLUMNS).where(cond, subscriptions.c.paused.is_(False)))
        # positional: routing reads thousands of these a minute
        return [Subscription(*r[:9], bool(r[9]), *r[10:13], _utc(r[13])) for r in rows]

    async def add_subscription(self, *, platform: str, address: str, watchlist: str | None, query: str | None,
                               mode: str = "instant", digest: str | None = None, timezone: str = "UTC",
                               quiet: str | None = None, source: str = "chat", created_by: str | None = None,
                               now: datetime, next_digest_at: datetime | None = None) -> int:
        self._subscriptions_changed()
        res = await self.conn.execute(subscriptions.insert().returning(subscriptions.c.id).values(
            platform=platform, address=address, watchlist=watchlist, query=query, mode=mode, digest=digest,
            timezone=timezone, quiet=quiet, paused=False, source=source, created_by=created_by, created_at=now,
            next_digest_at=next_digest_at))
        return int(res.scalar_one())

    async def list_subscriptions(self, platform: str | None = None, address: str | None = None) -> list[Subscription]:
        q = select(subscriptions).order_by(subscriptions.c.id)
        if platform is not None:
            q = q.where(subscriptions.c.platform == platform)
        if address is not None:
            q = q.where(subscriptions.c.address == address)
        return [row_to_subscription(r) for r in (await self.conn.execute(q)).mappings()]

    async def update_subscriptions(self, ids: Sequence[int], **values: Any) -> int:
        if not ids:
            return 0
        self._subscriptions_changed()
        res = await self.conn.execute(update(subscriptions).where(subscriptions.c.id.in_(list(ids))).values(**values))
        return res.rowcount or 0

    async def delete_subscriptions(self, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        await self.conn.execute(update(outbox).where(outbox.c.subscription_id.in_(list(ids)),
                                                     outbox.c.status.in_(("pending", "digest")))
                                .values(status="cancelled"))
        self._subscriptions_changed()
        res = await self.conn.execute(delete(subscriptions).where(subscriptions.c.id.in_(list(ids))))
        return res.rowcount or 0

    async def pause_destination(self, platform: str, address: str, reason: str) -> int:
        self._subscriptions_changed()
        res = await self.conn.execute(update(subscriptions).where(
            subscriptions.c.platform == platform, subscriptions.c.address == address,
            subscriptions.c.paused.is_(False)).values(paused=True, paused_reason=reason))
        return res.rowcount or 0

    async def move_destination(self, platform: str, old: str, new: str) -> None:
        """A Telegram group became a supergroup: its subscriptions and queued messages follow it."""
        self._subscriptions_changed()
        await self.conn.execute(update(subscriptions).where(subscriptions.c.platform == platform,
                                                            subscriptions.c.address == old).values(address=new))
        await self.conn.execute(update(outbox).where(outbox.c.platform == platform, outbox.c.address == old,
                                                     outbox.c.status.in_(("pending", "digest")))
                                .values(address=new))
        await self.conn.execute(update(muted_stories).where(muted_stories.c.platform == platform,
                                                            muted_stories.c.address == old).values(address=new))

    async def mute_story(self, platform: str, address: str, story_id: int, now: datetime) -> None:
        await self.conn.execute(self._insert_stmt(muted_stories).on_conflict_do_nothing(),
                                [dict(platform=platform, address=address, story_id=story_id, created_at=now)])

    async def muted(self, story_id: int) -> set[tuple[str, str]]:
        rows = await self.conn.execute(select(muted_stories.c.platform, muted_stories.c.address)
                                       .where(muted_stories.c.story_id == story_id))
        return {(p, a) for p, a in rows}

    # ------------------------------------------------------------------ outbox (and see tx_outbox)

    async def resume_destination(self, platform: str, address: str, now: datetime) -> int:
        self._subscriptions_changed()
        await self.conn.execute(update(outbox).where(
            outbox.c.platform == platform, outbox.c.address == address, outbox.c.status == "paused")
            .values(status="pending", not_before=now))
        res = await self.conn.execute(update(subscriptions).where(
            subscriptions.c.platform == platform, subscriptions.c.address == address)
            .values(paused=False, paused_reason=None))
        return res.rowcount or 0

    async def due_digests(self, now: datetime) -> list[Subscription]:
        rows = await self.conn.execute(select(subscriptions).where(
            subscriptions.c.mode == "digest", subscriptions.c.next_digest_at <= now))
        return [row_to_subscription(r) for r in rows.mappings()]


_LINK_ITEM = update(items).where(items.c.id == bindparam("_id")).values(
    story_id=bindparam("_story"), signature=bindparam("_sig"), processed=True)
