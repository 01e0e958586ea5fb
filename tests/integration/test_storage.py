"""Storage on real SQLite and (with NEWSBOT_TEST_DATABASE_URL) real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from bot.storage.sql import SqlStorage
from bot.types import FeedConfig, ItemData

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def item(key: str, title: str = "t", summary: str = "s", h: str | None = None) -> ItemData:
    return ItemData(key=key, title=title, summary=summary, link=f"https://example.org/{key}",
                    guid=key, content_hash=h or f"h-{key}-{title}", published=NOW - timedelta(hours=1))


async def test_sync_feeds_adds_updates_and_disables(storage: SqlStorage):
    a = FeedConfig(url="https://a.example/rss", title="A")
    b = FeedConfig(url="https://b.example/rss")
    assert await storage.sync_feeds([a, b], source="config", now=NOW) == (2, 0, 0)
    assert await storage.sync_feeds([a], source="config", now=NOW, disable_missing=True) == (0, 1, 1)
    feeds = {f.url: f for f in await storage.list_feeds()}
    assert feeds[a.url].enabled and feeds[a.url].title == "A"
    assert not feeds[b.url].enabled


async def test_new_items_are_new_once_and_edits_are_updates(storage: SqlStorage):
    await storage.sync_feeds([FeedConfig(url="https://a.example/rss")], source="config", now=NOW)
    feed = (await storage.list_feeds())[0]
    async with storage.begin() as tx:
        new, upd = await tx.store_items(feed.id, [item("1"), item("2"), item("2")], now=NOW)
    assert [i.key for i in new] == ["1", "2"] and upd == []
    assert all(i.id for i in new)
    async with storage.begin() as tx:
        new, upd = await tx.store_items(feed.id, [item("1"), item("2", title="changed"), item("3")], now=NOW)
    assert [i.key for i in new] == ["3"]
    assert [(i.key, i.title) for i in upd] == [("2", "changed")]
    assert await storage.count_items(feed.id) == 3


async def test_items_survive_reopening_the_database(db_url):
    s1 = await SqlStorage.open(db_url, upgrade=False)
    await s1.sync_feeds([FeedConfig(url="https://a.example/rss")], source="config", now=NOW)
    feed = (await s1.list_feeds())[0]
    async with s1.begin() as tx:
        await tx.store_items(feed.id, [item("x")], now=NOW)
    await s1.close()
    s2 = await SqlStorage.open(db_url, upgrade=True)
    async with s2.begin() as tx:
        new, _ = await tx.store_items(feed.id, [item("x"), item("y")], now=NOW)
    assert [i.key for i in new] == ["y"]
    await s2.close()


async def test_same_key_in_two_feeds_is_two_items(storage: SqlStorage):
    await storage.sync_feeds([FeedConfig(url="https://a.example/rss"), FeedConfig(url="https://b.example/rss")],
                             source="config", now=NOW)
    fa, fb = await storage.list_feeds()
    async with storage.begin() as tx:
        n1, _ = await tx.store_items(fa.id, [item("same")], now=NOW)
        n2, _ = await tx.store_items(fb.id, [item("same")], now=NOW)
    assert len(n1) == len(n2) == 1


async def test_datetimes_come_back_utc_aware(storage: SqlStorage):
    await storage.sync_feeds([FeedConfig(url="https://a.example/rss")], source="config", now=NOW)
    feed = (await storage.list_feeds())[0]
    async with storage.begin() as tx:
        await tx.update_feed(feed.id, next_check_at=NOW + timedelta(minutes=5), error_since=NOW)
    feed = (await storage.list_feeds())[0]
    assert feed.next_check_at == NOW + timedelta(minutes=5)
    assert feed.next_check_at.tzinfo is not None and feed.error_since == NOW


async def test_claim_due_feeds_leases_each_feed_once(storage: SqlStorage):
    configs = [FeedConfig(url=f"https://f{i}.example/rss") for i in range(10)]
    await storage.sync_feeds(configs, source="config", now=NOW)
    first = await storage.claim_due_feeds(now=NOW, owner="a", lease_s=60, limit=6)
    second = await storage.claim_due_feeds(now=NOW, owner="b", lease_s=60, limit=6)
    assert len(first) == 6 and len(second) == 4
    assert not {f.id for f in first} & {f.id for f in second}
    assert await storage.claim_due_feeds(now=NOW, owner="c", lease_s=60, limit=6) == []
    # leases expire
    later = await storage.claim_due_feeds(now=NOW + timedelta(seconds=61), owner="c", lease_s=60, limit=20,
                                          ignore_schedule=True)
    assert len(later) == 10


async def test_claim_respects_schedule_unless_told(storage: SqlStorage):
    await storage.sync_feeds([FeedConfig(url="https://a.example/rss")], source="config", now=NOW)
    feed = (await storage.list_feeds())[0]
    async with storage.begin() as tx:
        await tx.update_feed(feed.id, next_check_at=NOW + timedelta(hours=1))
    assert await storage.claim_due_feeds(now=NOW, owner="a", lease_s=60, limit=5) == []
    assert len(await storage.claim_due_feeds(now=NOW, owner="a", lease_s=60, limit=5, ignore_schedule=True)) == 1


async def test_concurrent_claims_from_two_storages_never_overlap(db_url):
    """Two instances (two engines) claiming at once get disjoint feeds."""
    s1 = await SqlStorage.open(db_url, upgrade=False)
    s2 = await SqlStorage.open(db_url, upgrade=False)
    await s1.sync_feeds([FeedConfig(url=f"https://f{i}.example/rss") for i in range(40)], source="config", now=NOW)

    async def claim_all(s, owner):
        got = []
        while batch := await s.claim_due_feeds(now=NOW, owner=owner, lease_s=600, limit=3):
            got += [f.id for f in batch]
        return got

    a, b = await asyncio.gather(claim_all(s1, "a"), claim_all(s2, "b"))
    assert sorted(a + b) == sorted(set(a + b)) and len(a + b) == 40
    await s1.close()
    await s2.close()


async def test_open_without_schema_says_to_upgrade(tmp_path):
    from bot.errors import StorageError
    with pytest.raises(StorageError, match="newsbot db upgrade"):
        await SqlStorage.open(f"sqlite+aiosqlite:///{tmp_path}/empty.db", upgrade=False)


async def test_unreachable_postgres_gives_clear_error():
    from bot.errors import StorageError
    with pytest.raises(StorageError, match="check database.url"):
        await SqlStorage.open("postgresql+asyncpg://nobody@127.0.0.1:1/none", upgrade=True)
