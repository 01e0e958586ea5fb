"""The SQLite driver with one trip to the database thread per statement (bot/storage/sqlite_driver.py):
newsbot uses it for every sqlite+aiosqlite URL, and it must behave as SQLAlchemy's own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.storage.models import feeds
from bot.storage.sql import SqlStorage

NOW = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


def feed_row(i: int) -> dict:
    return dict(url=f"https://outlet{i}.example/rss", source="config", allow_private=False, full_text=False,
                enabled=True, error_count=0, created_at=NOW)


@pytest.fixture
async def sqlite_storage(tmp_path):
    storage = await SqlStorage.open(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    yield storage
    await storage.close()


async def test_sqlite_urls_get_the_one_trip_driver(sqlite_storage):
    assert sqlite_storage.engine.url.drivername == "sqlite+newsbot"
    async with sqlite_storage.read() as tx:
        assert (await tx.conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"


async def test_rows_counts_and_new_ids_come_back_as_with_any_driver(sqlite_storage):
    async with sqlite_storage.begin() as tx:
        res = await tx.conn.execute(insert(feeds).values(**feed_row(1)))
        assert res.inserted_primary_key == (1,)
        await tx.conn.execute(insert(feeds), [feed_row(i) for i in range(2, 52)])       # executemany
        res = await tx.conn.execute(update(feeds).where(feeds.c.id <= 10).values(enabled=False))
        assert res.rowcount == 10
    async with sqlite_storage.read() as tx:
        rows = (await tx.conn.execute(select(feeds.c.id, feeds.c.url, feeds.c.enabled).order_by(feeds.c.id))).all()
        assert len(rows) == 51 and rows[0] == (1, "https://outlet1.example/rss", False) and rows[50][2] is True
        assert (await tx.conn.exec_driver_sql("SELECT count(*) FROM feeds WHERE enabled")).scalar_one() == 41


async def test_errors_are_sqlalchemy_errors_and_roll_back_cleanly(sqlite_storage):
    async with sqlite_storage.begin() as tx:
        await tx.conn.execute(insert(feeds).values(**feed_row(1)))
    with pytest.raises(IntegrityError, match="UNIQUE constraint failed: feeds.url"):
        async with sqlite_storage.begin() as tx:
            await tx.conn.execute(insert(feeds).values(**feed_row(2)))
            await tx.conn.execute(insert(feeds).values(**feed_row(1)))
    with pytest.raises(OperationalError, match="no such table"):
        async with sqlite_storage.read() as tx:
            await tx.conn.execute(text("SELECT * FROM nowhere"))
    async with sqlite_storage.read() as tx:            # the failed transaction left nothing behind
        assert (await tx.conn.execute(select(func.count()).select_from(feeds))).scalar_one() == 1


async def test_readers_run_beside_a_writer_on_their_own_connections(sqlite_storage):
    async with sqlite_storage.begin() as tx:
        await tx.conn.execute(insert(feeds), [feed_row(i) for i in range(20)])

    async def count() -> int:
        async with sqlite_storage.read() as tx:
            return (await tx.conn.execute(select(func.count()).select_from(feeds))).scalar_one()

    async with sqlite_storage.begin() as tx:            # a write in progress: readers see the last commit
        await tx.conn.execute(insert(feeds).values(**feed_row(99)))
        assert await asyncio.gather(*(count() for _ in range(12))) == [20] * 12
    assert await count() == 21
