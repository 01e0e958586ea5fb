"""Transaction queries for matches, stories, subscriptions and the outbox.

Mixed into SqlTx. The outbox row's `dedupe_key` is unique: writing the same
alert twice (a retried transaction, two instances racing) leaves one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.storage.models import items, matches, muted_stories, outbox, stories, subscriptions
from bot.types import Match


def _utc(value):
    from bot.storage.tx import utc
    return utc(value)


@dataclass(frozen=True, slots=True)
class Subscription:
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


class DeliveryQueries:
    conn: Any
    dialect: str

    # ------------------------------------------------------------------ matches & stories

    async def insert_matches(self, item_id: int, story_id: int | None, found: Sequence[Match], now: datetime) -> None:
        if not found:
            return
        rows = [dict(item_id=item_id, story_id=story_id, rule_id=m.rule_id, watchlist=m.watchlist, query=m.query,
                     explanation=[dict(term=h.term, field=h.field, text=h.text, start=h.start, end=h.end)
                                  for h in m.hits], created_at=now) for m in found]
        await self.conn.execute(self._insert_stmt(matches).on_conflict_do_nothing(), rows)

    async def recent_stories(self, since: datetime) -> list[StoryRow]:
        rows = await self.conn.execute(select(stories).where(stories.c.last_item_at >= since)
                                       .order_by(stories.c.last_item_at.desc()).limit(5000))
        return [row_to_story(r) for r in rows.mappings()]

    async def create_story(self, *, title: str, link: str | None, watchlists: Iterable[str], signature: bytes,
                           brief: dict, source: dict, now: datetime) -> int:
        res = await self.conn.execute(stories.insert().returning(stories.c.id).values(
            title=title, link=link, watchlists=sorted(set(watchlists)), signature=signature, brief=brief,
            first_seen_at=now, last_item_at=now, item_count=1, sources=[source], version=1))
        return int(res.scalar_one())

    async def add_to_story(self, story: StoryRow, *, watchlists: Iterable[str], source: dict, now: datetime,
                           brief: dict | None = None) -> None:
        sources = list(story.sources)
        if source.get("outlet") not in {s.get("outlet") for s in sources}:
            sources.append(source)
        values: dict[str, Any] = dict(last_item_at=now, item_count=story.item_count + 1, sources=sources,
                                      watchlists=sorted(set(story.watchlists) | set(watchlists)))
        if brief is not None:
            values.update(brief=brief, version=story.version + 1)
        await self.conn.execute(update(stories).where(stories.c.id == story.id).values(**values))

    async def link_item_to_story(self, item_id: int, story_id: int, signature: bytes) -> None:
        await self.conn.execute(update(items).where(items.c.id == item_id).values(
            story_id=story_id, signature=signature, processed=True))

    async def story_items_since(self, since: datetime) -> list[tuple[int, int, bytes, datetime]]:
        """(item id, story id, signature, published) of recent items that belong to a story."""
        rows = await self.conn.execute(
            select(items.c.id, items.c.story_id, items.c.signature, items.c.published_at)
            .where(items.c.first_seen_at >= since, items.c.story_id.is_not(None), items.c.signature.is_not(None))
            .order_by(items.c.id))
        return [(i, s, bytes(sig), _utc(p)) for i, s, sig, p in rows]

    async def story(self, story_id: int) -> StoryRow | None:
        row = (await self.conn.execute(select(stories).where(stories.c.id == story_id))).mappings().first()
        return row_to_story(row) if row else None

    async def zoom_out(self, watchlists: Sequence[str], *, since: datetime, exclude: int | None,
                       limit: int = 3) -> list[tuple[str, str | None]]:
        """Earlier stories of the same watchlists in recent days (title, link), newest first."""
        if not watchlists:
            return []
        rows = await self.conn.execute(select(stories.c.id, stories.c.title, stories.c.link, stories.c.watchlists)
                                       .where(stories.c.last_item_at >= since)
                                       .order_by(stories.c.last_item_at.desc()).limit(200))
        wanted = set(watchlists)
        out = []
        for sid, title, link, wls in rows:
            if sid != exclude and wanted & set(wls or ()):
                out.append((title, link))
                if len(out) == limit:
                    break
        return out

    # ------------------------------------------------------------------ subscriptions

    async def subscriptions_for(self, watchlists: Iterable[str], sub_ids: Iterable[int]) -> list[Subscription]:
        wl, ids = list(set(watchlists)), list(set(sub_ids))
        if not wl and not ids:
            return []
        cond = or_(subscriptions.c.watchlist.in_(wl) if wl else False, subscriptions.c.id.in_(ids) if ids else False)
        rows = await self.conn.execute(select(subscriptions).where(cond, subscriptions.c.paused.is_(False)))
        return [row_to_subscription(r) for r in rows.mappings()]

    async def add_subscription(self, *, platform: str, address: str, watchlist: str | None, query: str | None,
                               mode: str = "instant", digest: str | None = None, timezone: str = "UTC",
                               quiet: str | None = None, source: str = "chat", created_by: str | None = None,
                               now: datetime, next_digest_at: datetime | None = None) -> int:
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
        res = await self.conn.execute(update(subscriptions).where(subscriptions.c.id.in_(list(ids))).values(**values))
        return res.rowcount or 0

    async def delete_subscriptions(self, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        await self.conn.execute(update(outbox).where(outbox.c.subscription_id.in_(list(ids)),
                                                     outbox.c.status.in_(("pending", "digest")))
                                .values(status="cancelled"))
        res = await self.conn.execute(delete(subscriptions).where(subscriptions.c.id.in_(list(ids))))
        return res.rowcount or 0

    async def pause_destination(self, platform: str, address: str, reason: str) -> int:
        res = await self.conn.execute(update(subscriptions).where(
            subscriptions.c.platform == platform, subscriptions.c.address == address,
            subscriptions.c.paused.is_(False)).values(paused=True, paused_reason=reason))
        return res.rowcount or 0

    async def move_destination(self, platform: str, old: str, new: str) -> None:
        """A Telegram group became a supergroup: its subscriptions and queued messages follow it."""
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

    # ------------------------------------------------------------------ outbox

    async def enqueue(self, rows: Sequence[dict]) -> int:
        """Insert outbox rows; a row whose dedupe_key exists already is skipped. Returns rows inserted."""
        if not rows:
            return 0
        res = await self.conn.execute(self._insert_stmt(outbox).on_conflict_do_nothing(index_elements=["dedupe_key"])
                                      .returning(outbox.c.id), list(rows))
        return len(res.all())

    async def claim_outbox(self, *, now: datetime, owner: str, lease_s: float, limit: int,
                           platforms: Sequence[str] = ("console", "telegram", "slack")) -> list[Mapping]:
        due = and_(outbox.c.status == "pending", outbox.c.not_before <= now, outbox.c.platform.in_(list(platforms)),
                   or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now))
        q = select(outbox.c.id).where(due).order_by(outbox.c.not_before, outbox.c.id).limit(limit)
        if self.dialect != "sqlite":
            q = q.with_for_update(skip_locked=True)
        ids = (await self.conn.execute(q)).scalars().all()
        if not ids:
            return []
        await self.conn.execute(update(outbox).where(outbox.c.id.in_(ids))
                                .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_s)))
        rows = (await self.conn.execute(select(outbox).where(outbox.c.id.in_(ids))
                                        .order_by(outbox.c.id))).mappings().all()
        return list(rows)

    async def record_sent(self, outbox_id: int, *, now: datetime, message_id: str | None) -> None:
        await self.conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(
            status="sent", sent_at=now, platform_message_id=message_id, lease_owner=None, lease_until=None,
            attempts=outbox.c.attempts + 1))

    async def record_retry(self, outbox_id: int, *, not_before: datetime, error: str) -> None:
        await self.conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(
            not_before=not_before, last_error=error, lease_owner=None, lease_until=None,
            attempts=outbox.c.attempts + 1))

    async def record_dead(self, outbox_id: int, *, error: str) -> None:
        await self.conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(
            status="dead", last_error=error, lease_owner=None, lease_until=None, attempts=outbox.c.attempts + 1))

    async def postpone(self, ids: Sequence[int], *, not_before: datetime) -> None:
        """Keep a destination's later rows behind its first: release them, not before `not_before`."""
        await self.conn.execute(update(outbox).where(outbox.c.id.in_(list(ids))).values(
            not_before=not_before, lease_owner=None, lease_until=None))

    async def hold_destination(self, platform: str, address: str) -> int:
        """A gone destination's queued rows wait (status paused) until its subscriptions resume."""
        res = await self.conn.execute(update(outbox).where(
            outbox.c.platform == platform, outbox.c.address == address, outbox.c.status == "pending")
            .values(status="paused", lease_owner=None, lease_until=None))
        return res.rowcount or 0

    async def resume_destination(self, platform: str, address: str, now: datetime) -> int:
        await self.conn.execute(update(outbox).where(
            outbox.c.platform == platform, outbox.c.address == address, outbox.c.status == "paused")
            .values(status="pending", not_before=now))
        res = await self.conn.execute(update(subscriptions).where(
            subscriptions.c.platform == platform, subscriptions.c.address == address)
            .values(paused=False, paused_reason=None))
        return res.rowcount or 0

    async def release_leases(self, owner: str) -> None:
        """Graceful shutdown: what this instance claimed but did not send goes back to the queue."""
        await self.conn.execute(update(outbox).where(outbox.c.lease_owner == owner, outbox.c.status == "pending")
                                .values(lease_owner=None, lease_until=None))

    async def reroute(self, outbox_id: int, address: str) -> None:
        await self.conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(
            address=address, lease_owner=None, lease_until=None))

    async def first_message_id(self, story_id: int, platform: str, address: str) -> str | None:
        q = (select(outbox.c.platform_message_id).where(
            outbox.c.story_id == story_id, outbox.c.platform == platform, outbox.c.address == address,
            outbox.c.status == "sent", outbox.c.kind == "alert").order_by(outbox.c.id).limit(1))
        return (await self.conn.execute(q)).scalar_one_or_none()

    async def outbox_counts(self) -> dict[str, int]:
        rows = await self.conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
        return {s: int(n) for s, n in rows}

    async def due_digests(self, now: datetime) -> list[Subscription]:
        rows = await self.conn.execute(select(subscriptions).where(
            subscriptions.c.mode == "digest", subscriptions.c.next_digest_at <= now))
        return [row_to_subscription(r) for r in rows.mappings()]

    async def take_digest_rows(self, subscription_id: int) -> list[Mapping]:
        rows = (await self.conn.execute(select(outbox).where(
            outbox.c.subscription_id == subscription_id, outbox.c.status == "digest")
            .order_by(outbox.c.id))).mappings().all()
        if rows:
            await self.conn.execute(update(outbox).where(outbox.c.id.in_([r["id"] for r in rows]))
                                    .values(status="digested"))
        return list(rows)

    def _insert_stmt(self, table):
        return (sqlite_insert if self.dialect == "sqlite" else pg_insert)(table)
