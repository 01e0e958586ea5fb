"""Poll throughput machinery on real storage (SQLite, PostgreSQL) and real HTTP on 127.0.0.1.

Group commit (many feeds' results in one transaction, each feed still atomic),
batched item storage, and the poller's shortcuts for byte-identical bodies and
for changed bodies whose items did not change.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from bot.adapters.http import AiohttpFetcher
from bot.pipeline.poll import Poller
from bot.settings import FeedsSettings
from bot.storage.sql import GroupCommit, SqlStorage
from bot.types import FeedConfig, ItemData
from tests.support.feedserver import FeedServer

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def item(key: str, title: str = "t", **kw) -> ItemData:
    kw.setdefault("published", NOW - timedelta(hours=1))
    return ItemData(key=key, title=title, summary="s", link=f"https://example.org/{key}", guid=key,
                    content_hash=f"h-{key}-{title}", **kw)


async def some_feeds(storage: SqlStorage, n: int) -> list:
    await storage.sync_feeds([FeedConfig(url=f"https://f{i}.example/rss") for i in range(n)],
                             source="config", now=NOW)
    return await storage.list_feeds()


# ---------------------------------------------------------------------- group commit


async def test_group_commit_stores_many_feeds_in_one_transaction(storage):
    feeds = await some_feeds(storage, 20)
    writer = GroupCommit(storage)
    results = await asyncio.gather(*(
        writer.write(f.id, {"last_status": 200 + i}, items=[item(f"{f.id}-a"), item(f"{f.id}-b")], now=NOW)
        for i, f in enumerate(feeds)))
    assert writer.commits == 1
    assert [[i.key for i in new] for new, _ in results] == [[f"{f.id}-a", f"{f.id}-b"] for f in feeds]
    assert all(i.id and i.feed_id == f.id for (new, _), f in zip(results, feeds) for i in new)
    assert [f.last_status for f in await storage.list_feeds()] == [200 + i for i in range(20)]
    assert await storage.item_counts_by_feed() == {f.id: 2 for f in feeds}


@pytest.mark.parametrize("isolate, commits", [(False, 2), (True, 1)])
async def test_a_failing_write_fails_alone_and_leaves_nothing_of_itself(storage, isolate, commits):
    """Without isolation the batch is rolled back and retried feed by feed (two feeds commit);
    with it, the failing feed is rolled back to its savepoint and the batch commits once."""
    a, bad, c = await some_feeds(storage, 3)

    async def broken(tx, values, new, updated):
        assert new                      # its items were stored in this transaction …
        raise RuntimeError("bug in a later step")

    writer = GroupCommit(storage)
    results = await asyncio.gather(
        writer.write(a.id, {"last_status": 200}, items=[item("a1")], now=NOW),
        writer.write(bad.id, {"last_status": 200}, items=[item("b1")], now=NOW, work=broken, isolate=isolate),
        writer.write(c.id, {"last_status": 200}, items=[item("c1")], now=NOW),
        return_exceptions=True)
    assert isinstance(results[1], RuntimeError)
    assert [i.key for i in results[0][0]] == ["a1"] and [i.key for i in results[2][0]] == ["c1"]
    assert writer.commits == commits
    # … and are gone with it, with the feed row untouched
    assert await storage.item_counts_by_feed() == {a.id: 1, c.id: 1}
    assert {f.id: f.last_status for f in await storage.list_feeds()} == {a.id: 200, bad.id: None, c.id: 200}


async def test_store_items_many_reports_new_and_edited_items_per_feed(storage):
    a, b = await some_feeds(storage, 2)
    async with storage.begin() as tx:
        await tx.store_items_many([(a.id, [item("1"), item("2")], NOW), (b.id, [item("1")], NOW)])
    later = NOW + timedelta(minutes=5)
    async with storage.begin() as tx:
        (new_a, upd_a), (new_b, upd_b) = await tx.store_items_many(
            [(a.id, [item("1"), item("2", title="edited"), item("3"), item("3")], later),
             (b.id, [item("1")], later)])
    assert [i.key for i in new_a] == ["3"] and [(i.key, i.title) for i in upd_a] == [("2", "edited")]
    assert new_b == [] and upd_b == []
    assert await storage.item_counts_by_feed() == {a.id: 3, b.id: 1}


async def test_stored_items_read_back_as_written(storage):
    (feed,) = await some_feeds(storage, 1)
    published = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5)))
    written = [item("x", categories=("Security", "Центральная Азия"), language="ru", author="Desk",
                    html="<p>s</p>", published=published), ItemData(key="y", title="no date", summary="", content_hash="hy")]
    async with storage.begin() as tx:
        await tx.store_items(feed.id, written, now=NOW)
        back = {i.key: i for i in await tx.recent_items(since=NOW - timedelta(seconds=1))}
    x, y = back["x"], back["y"]
    assert (x.categories, x.language, x.author, x.html) == (("Security", "Центральная Азия"), "ru", "Desk", "<p>s</p>")
    assert x.published == published.astimezone(timezone.utc) and x.first_seen_at == NOW
    assert y.published == NOW and y.link is None and y.categories == ()


# ---------------------------------------------------------------------- the poller


@pytest.fixture
async def srv():
    async with FeedServer(feeds=6, items=4) as server:
        yield server


@pytest.fixture
async def fetcher():
    async with AiohttpFetcher() as f:
        yield f


async def polled(storage, srv, fetcher, *, n: int | None = None, batch: int = 500, **kw):
    await storage.sync_feeds([FeedConfig(url=srv.url(i), allow_private=True) for i in range(n or srv.feeds)],
                             source="config", now=NOW)
    return Poller(storage, fetcher, feeds_settings=FeedsSettings(), concurrency=4, **kw)


async def test_changed_bytes_with_the_same_items_are_parsed_and_nothing_is_new(storage, srv, fetcher):
    # Without item fingerprints (byte keys only) the churned documents are parsed, and the
    # item digests spare the lookups; with them they are not even parsed (test_poll_fingerprint.py).
    poller = await polled(storage, srv, fetcher, fingerprints=False)
    first = await poller.poll_due(ignore_schedule=True)
    assert (first.ok, first.new_items) == (6, 24)

    srv.churn = True                    # a fresh <lastBuildDate> on every answer, never 304
    again = await poller.poll_due(ignore_schedule=True)
    assert (again.ok, again.parsed_items, again.new_items, again.updated_items) == (6, 24, 0, 0)

    srv.advance(2)                      # one new item in feed 2, among the churn
    more = await poller.poll_due(ignore_schedule=True)
    assert (more.ok, more.new_items) == (6, 1)

    fresh = Poller(storage, fetcher, feeds_settings=FeedsSettings(), fingerprints=False)  # forgets the digests
    after_restart = await fresh.poll_due(ignore_schedule=True)
    assert (after_restart.ok, after_restart.parsed_items, after_restart.new_items) == (6, 24, 0)
    assert await storage.count_items() == 25


async def test_a_byte_identical_body_is_not_parsed_again(storage, srv, fetcher):
    srv.conditional = False             # no validators: full answers every time
    poller = await polled(storage, srv, fetcher)
    assert (await poller.poll_due(ignore_schedule=True)).ok == 6
    again = await poller.poll_due(ignore_schedule=True)
    assert (again.unchanged, again.parsed_items, again.new_items) == (6, 0, 0)
    assert "If-None-Match" not in srv.last_headers and "If-Modified-Since" not in srv.last_headers


async def test_a_pass_claims_each_feed_once_across_claim_batches(storage, srv, fetcher):
    poller = await polled(storage, srv, fetcher)
    seen: list[int] = []

    async def outcome(o) -> None:       # reported once its commit is done
        seen.append(o.feed.id)
        assert await storage.count_items(o.feed.id) == len(o.new) == 4

    stats = await poller.poll_due(ignore_schedule=True, batch=2, on_outcome=outcome)
    assert stats.feeds == stats.ok == 6 and sorted(seen) == sorted(set(seen)) and len(seen) == 6
    assert srv.requests == 6


def rss(*items: tuple[str, str], built: str = "Mon, 02 Mar 2026 10:00:00 GMT") -> bytes:
    body = "".join(f"<item><guid>{g}</guid><title>{t}</title><link>https://example.org/{g}</link></item>"
                   for g, t in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Local</title>'
            f"<link>https://example.org/</link><lastBuildDate>{built}</lastBuildDate>{body}"
            "</channel></rss>").encode()


async def test_an_edited_item_is_an_update_whatever_the_previous_poll_skipped(storage, fetcher, tmp_path):
    path = tmp_path / "feed.xml"
    path.write_bytes(rss(("a", "First"), ("b", "Second")))
    await storage.sync_feeds([FeedConfig(url=path.as_uri())], source="config", now=NOW)
    poller = Poller(storage, fetcher, feeds_settings=FeedsSettings())
    assert (await poller.poll_due(ignore_schedule=True)).new_items == 2

    path.write_bytes(rss(("a", "First"), ("b", "Second"), built="Mon, 02 Mar 2026 11:00:00 GMT"))
    same = await poller.poll_due(ignore_schedule=True)     # only <lastBuildDate>: not even parsed
    assert (same.unchanged, same.parsed_items, same.new_items, same.updated_items) == (1, 0, 0, 0)

    path.write_bytes(rss(("a", "First, corrected"), ("b", "Second"), built="Mon, 02 Mar 2026 12:00:00 GMT"))
    edited = await poller.poll_due(ignore_schedule=True)
    assert (edited.new_items, edited.updated_items) == (0, 1)
    async with storage.read() as tx:
        titles = sorted(i.title for i in await tx.recent_items(since=NOW - timedelta(days=1)))
    assert titles == ["First, corrected", "Second"]
