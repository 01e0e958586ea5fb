"""SqlStorage: the one storage implementation, for SQLite (aiosqlite) and PostgreSQL (asyncpg).

What it does: opens the engine (SQLite in WAL mode with a busy timeout), hands
out transactions (`async with storage.begin() as tx`), claims due feeds with
leases (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer, so a
process-wide lock serialises writes instead), commits many feeds' poll results
in one transaction (`GroupCommit`), and offers the read queries the CLI needs.
What it does not do: decide anything. Schedules, dedupe rules and
matching live in `bot.core`; the pipeline calls both.

Rows come back as the frozen types of `bot.types`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator, Awaitable, Callable, Sequence

import structlog
from sqlalchemy import and_, event, func, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.errors import StorageError
from bot.storage import migrate
from bot.storage.models import feeds, items, operator_events
from bot.storage.tx import SqlTx, row_to_feed, utc
from bot.types import Feed, FeedConfig, Item, ItemData

log = structlog.get_logger(__name__)

SQLITE_POOL = 5          # SQLite connections kept open: one writer at a time, the rest for reads


class SqlStorage:
    """Owns the engine. Create with `await SqlStorage.open(url)`; close with `await close()`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        # SQLite allows one writer at a time: serialise our own writers instead of
        # letting them spin on SQLITE_BUSY.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # ... and readers wait for one of the pool's kept connections: a connection beyond the
        # pool is opened and closed for one read (a thread, its settings, a cold page cache),
        # which under a hundred concurrent polls cost more than the reads themselves.
        self._read_slots = asyncio.Semaphore(SQLITE_POOL - 1) if self.is_sqlite else None

    @classmethod
    async def open(cls, url: str, *, upgrade: bool = True, echo: bool = False) -> "SqlStorage":
        migrate.ensure_sqlite_dir(url)
        kwargs: dict = {"echo": echo}
        if make_url(url).get_backend_name() == "postgresql":
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        elif make_url(url).database not in (None, "", ":memory:"):
            kwargs.update(pool_size=SQLITE_POOL, max_overflow=10)
        engine = create_async_engine(_one_trip(url), **kwargs)
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
        async with self._read_slots or contextlib.nullcontext(), self.engine.connect() as conn:
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


# ---------------------------------------------------------------------- group commit

# work(tx, values, new, updated): a feed's other writes (processor, operator events); it may add to values
Work = Callable[[SqlTx, dict, list[Item], list[Item]], Awaitable[None]]


@dataclass(eq=False, slots=True)
class _Write:
    feed_id: int
    values: dict
    items: Sequence[ItemData] | Callable[[], Sequence[ItemData]] | None
    now: datetime | None
    work: Work | None
    isolate: bool
    future: asyncio.Future
    result: tuple[list[Item], list[Item]] = field(default_factory=lambda: ([], []))
    error: BaseException | None = field(default=None)


class GroupCommit:
    """Commits the poll results of many feeds in one transaction (group commit).

    `await write(feed_id, values, items=…, now=…, work=…)` stores the feed's
    parsed items (dedupe: new, edited; `items` may be a function that returns
    them, called in the transaction, so that the items of the feeds waiting
    for a commit need not all be unpacked at once), runs
    `work(tx, values, new, updated)`,
    sets the feed row to `values`, and returns (new, updated) once all of it
    is committed. Writes that arrive while a transaction is being committed
    wait and go together in the next one (the first write of a batch waits
    `window_s` for company): a busy poller commits a few times
    per second instead of once per feed, looks up the known items of a whole
    batch in one query, inserts their new items in one statement and updates
    the feed rows with one executemany per set of columns.

    Each feed's writes stay atomic: they are in one transaction. When a batch
    fails it is rolled back and each of its writes is retried alone, so one
    feed's failure is that feed's exception and nobody else's. Writes with
    `isolate=True` (the story processor runs in them, and keeps in-memory
    state) run alone inside a SAVEPOINT instead: a failure rolls back that
    feed only and the batch goes on, as if it had had its own transaction.
    Not here: what to write (bot.pipeline.poll decides).
    """

    def __init__(self, storage: SqlStorage, *, max_batch: int = 256, window_s: float = 0.01) -> None:
        self.storage = storage
        self.max_batch = max_batch
        self.window_s = window_s
        self._pending: list[_Write] = []
        self._flusher: asyncio.Task | None = None
        self.commits = 0                      # transactions committed (for tests and benchmarks)

    async def write(self, feed_id: int, values: dict, *,
                    items: Sequence[ItemData] | Callable[[], Sequence[ItemData]] | None = None,
                    now: datetime | None = None, work: Work | None = None,
                    isolate: bool = False) -> tuple[list[Item], list[Item]]:
        w = _Write(feed_id, values, items, now, work, isolate, asyncio.get_running_loop().create_future())
        self._pending.append(w)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await asyncio.shield(w.future)   # a cancelled caller does not cancel the others' commit

    async def _flush(self) -> None:
        await asyncio.sleep(self.window_s)       # let the writes of the next few ms join this commit
        while self._pending:
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            try:
                await self._commit(batch)
            except Exception as exc:             # noqa: BLE001 - settled or retried one by one
                if len(batch) == 1:
                    _settle(batch[0], exc)
                else:
                    log.warning("group_commit_failed", feeds=len(batch), error=f"{type(exc).__name__}: {exc}")
                    await self._one_by_one(batch)
                continue
            for w in batch:
                _settle(w, w.error)

    async def _one_by_one(self, batch: list[_Write]) -> None:
        for w in batch:
            w.result, w.error = ([], []), None
            try:
                await self._commit([w])
            except Exception as exc:             # noqa: BLE001 - this feed's own failure
                w.error = exc
            _settle(w, w.error)

    async def _commit(self, batch: list[_Write]) -> None:
        alone = len(batch) == 1
        async with self.storage.begin() as tx:
            shared = [w for w in batch if alone or not w.isolate]
            stored = await tx.store_items_many([(w.feed_id, _unpack(w.items), w.now or now_utc())
                                                for w in shared if w.items])
            for w in shared:
                if w.items:
                    w.result = stored.pop(0)
                if w.work is not None:
                    await w.work(tx, w.values, *w.result)
            for w in batch:
                if not alone and w.isolate:
                    await self._isolated(tx, w)
            await tx.update_feeds([(w.feed_id, w.values) for w in batch if w.error is None])
        self.commits += 1

    @staticmethod
    async def _isolated(tx: SqlTx, w: _Write) -> None:
        try:
            async with tx.conn.begin_nested():
                if w.items:
                    w.result = await tx.store_items(w.feed_id, _unpack(w.items), now=w.now or now_utc())
                if w.work is not None:
                    await w.work(tx, w.values, *w.result)
        except Exception as exc:                 # noqa: BLE001 - rolled back to the savepoint
            w.error = exc


def _unpack(items: Sequence[ItemData] | Callable[[], Sequence[ItemData]]) -> Sequence[ItemData]:
    return items() if callable(items) else items


def _settle(w: _Write, error: BaseException | None) -> None:
    if w.future.done():
        return
    if error is not None:
        w.future.set_exception(error)
    else:
        w.future.set_result(w.result)


def _one_trip(url: str):
    """`sqlite+aiosqlite` URLs use the same driver with one trip to its thread per statement
    (bot.storage.sqlite_driver)."""
    u = make_url(url)
    if u.drivername != "sqlite+aiosqlite":
        return url
    from bot.storage import sqlite_driver
    if not sqlite_driver.usable():
        log.warning("sqlite_driver_fallback", reason="this aiosqlite has no Connection._execute")
        return url
    return u.set(drivername=f"sqlite+{sqlite_driver.DRIVER}")


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
    cur.execute("PRAGMA cache_size=-16384")          # 16 MB per connection (default 2 MB)
    cur.execute("PRAGMA wal_autocheckpoint=4000")     # pages: checkpoint per ~16 MB of WAL, not per 4 MB
    cur.close()


def _sqlite_begin(conn) -> None:
    immediate = conn.get_execution_options().get("sqlite_immediate")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _add_seconds(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


__all__ = ["GroupCommit", "SqlStorage", "SqlTx", "now_utc", "utc"]
