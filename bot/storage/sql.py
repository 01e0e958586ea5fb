"""SqlStorage: the one storage implementation, for SQLite (aiosqlite) and PostgreSQL (asyncpg).

What it does: opens the engine (SQLite in WAL mode with a busy timeout), hands
out transactions (`async with storage.begin() as tx`), claims due feeds with
leases (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer, so a
process-wide lock serialises writes instead), and offers the read queries the
CLI needs. What it does not do: decide anything. Schedules, dedupe rules and
matching live in `bot.core`; the pipeline calls both.

Rows come back as the frozen types of `bot.types`.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator, Sequence

import structlog
from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.errors import StorageError
from bot.storage import migrate
from bot.storage.models import feeds, items, operator_events
from bot.storage.tx import SqlTx, row_to_feed, utc
from bot.types import Feed, FeedConfig

log = structlog.get_logger(__name__)


class SqlStorage:
    """Owns the engine. Create with `await SqlStorage.open(url)`; close with `await close()`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        # SQLite allows one writer at a time: serialise our own writers instead of
        # letting them spin on SQLITE_BUSY.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @classmethod
    async def open(cls, url: str, *, upgrade: bool = True, echo: bool = False) -> "SqlStorage":
        migrate.ensure_sqlite_dir(url)
        kwargs: dict = {"echo": echo}
        if make_url(url).get_backend_name() == "postgresql":
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        engine = create_async_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
        storage = cls(engine)
        try:
            if upgrade:
                before, after = await migrate.upgrade(engine)
                if before != after:
                    log.info("database_upgraded", url=engine.url.render_as_string(), before=before, after=after)
            else:
                await storage.check_schema()
        except (OperationalError, DBAPIError, OSError) as exc:
            await engine.dispose()
            raise StorageError(f"cannot open database {engine.url.render_as_string()}: {exc.__class__.__name__}: "
                               f"{str(exc).splitlines()[0]} — check database.url and that the server is running") from exc
        return storage

    async def check_schema(self) -> None:
        current = await migrate.current_revision(self.engine)
        head = migrate.head_revision()
        if current != head:
            raise StorageError(f"database schema is at {current or 'nothing'}, this newsbot needs {head}: "
                               "run `newsbot db upgrade`")

    async def close(self) -> None:
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[SqlTx]:
        """One transaction. Commits on success, rolls back on error."""
        if self._write_lock is not None:
            async with self._write_lock, self.engine.connect() as conn:
                conn = await conn.execution_options(sqlite_immediate=True)
                async with conn.begin():
                    yield SqlTx(conn, self.dialect)
        else:
            async with self.engine.begin() as conn:
                yield SqlTx(conn, self.dialect)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[SqlTx]:
        """A read-only connection (no write lock taken)."""
        async with self.engine.connect() as conn:
            yield SqlTx(conn, self.dialect)

    # ------------------------------------------------------------------ feeds

    async def sync_feeds(self, configs: Sequence[FeedConfig], *, source: str, now: datetime,
                         disable_missing: bool = False) -> tuple[int, int, int]:
        """Upsert operator feeds; returns (added, updated, disabled)."""
        async with self.begin() as tx:
            return await tx.upsert_feeds(configs, source=source, now=now, disable_missing=disable_missing)

    async def list_feeds(self) -> list[Feed]:
        async with self.read() as tx:
            rows = (await tx.conn.execute(select(feeds).order_by(feeds.c.id))).mappings().all()
        return [row_to_feed(r) for r in rows]

    async def feed_by_url(self, url: str) -> Feed | None:
        async with self.read() as tx:
            row = (await tx.conn.execute(select(feeds).where(feeds.c.url == url))).mappings().first()
        return row_to_feed(row) if row else None

    async def claim_due_feeds(self, *, now: datetime, owner: str, lease_s: float, limit: int,
                              ignore_schedule: bool = False, checked_before: datetime | None = None) -> list[Feed]:
        """Lease up to `limit` due feeds to `owner` so no other instance fetches them meanwhile.

        `checked_before` skips feeds checked since then (one pass over all feeds claims each once).
        """
        due = and_(feeds.c.enabled.is_(True),
                   or_(feeds.c.lease_until.is_(None), feeds.c.lease_until < now))
        if checked_before is not None:
            due = and_(due, or_(feeds.c.last_checked_at.is_(None), feeds.c.last_checked_at < checked_before))
        if not ignore_schedule:
            due = and_(due, or_(feeds.c.next_check_at.is_(None), feeds.c.next_check_at <= now))
        query = select(feeds.c.id).where(due).order_by(feeds.c.next_check_at.nulls_first(), feeds.c.id).limit(limit)
        if not self.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        until = _add_seconds(now, lease_s)
        async with self.begin() as tx:
            ids = (await tx.conn.execute(query)).scalars().all()
            if not ids:
                return []
            await tx.conn.execute(update(feeds).where(feeds.c.id.in_(ids))
                                  .values(lease_owner=owner, lease_until=until))
            rows = (await tx.conn.execute(select(feeds).where(feeds.c.id.in_(ids)))).mappings().all()
        by_id = {r["id"]: row_to_feed(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    async def count_due_feeds(self, now: datetime) -> int:
        async with self.read() as tx:
            q = select(func.count()).select_from(feeds).where(
                feeds.c.enabled.is_(True), or_(feeds.c.next_check_at.is_(None), feeds.c.next_check_at <= now))
            return int((await tx.conn.execute(q)).scalar_one())

    async def count_items(self, feed_id: int | None = None) -> int:
        async with self.read() as tx:
            q = select(func.count()).select_from(items)
            if feed_id is not None:
                q = q.where(items.c.feed_id == feed_id)
            return int((await tx.conn.execute(q)).scalar_one())

    async def item_counts_by_feed(self) -> dict[int, int]:
        async with self.read() as tx:
            rows = await tx.conn.execute(select(items.c.feed_id, func.count()).group_by(items.c.feed_id))
            return {int(f): int(n) for f, n in rows}

    async def recent_operator_events(self, limit: int = 20) -> list[dict]:
        async with self.read() as tx:
            rows = await tx.conn.execute(select(operator_events).order_by(operator_events.c.id.desc()).limit(limit))
            return [dict(r) for r in rows.mappings()]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # Take transaction control from the driver so that writers can BEGIN IMMEDIATE:
    # a deferred transaction that reads then writes can interleave with another
    # process's and both would claim the same feed.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn) -> None:
    immediate = conn.get_execution_options().get("sqlite_immediate")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _add_seconds(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


__all__ = ["SqlStorage", "SqlTx", "now_utc", "utc"]
