"""Routing matched stories to subscriptions, through the real processor and storage.

What a subscriber sees in the outbox after a poll: one row per destination and
story, digests held, quiet hours respected, paused destinations skipped, the
payload carrying the story's brief; changes of subscriptions take effect at
the next poll; near-duplicates in one feed's batch make one story; a story
lost to a rolled-back transaction does not break the next poll.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs
from sqlalchemy import select, update

from bot.pipeline.process import StoryProcessor
from bot.pipeline.route import SubscriptionCache
from bot.settings import StoriesSettings
from bot.storage.models import briefs, items, outbox, stories, subscriptions
from bot.types import FeedConfig, ItemData

NOW = datetime(2024, 5, 14, 20, 0, tzinfo=UTC)      # 01:00 in Dushanbe (UTC+5): quiet hours there

CLOSURE = ItemData(
    key="closure-1", link="https://kabul-courier.example/closure", published=NOW - timedelta(minutes=30),
    title="Taliban close Sher Khan Bandar crossing to Tajikistan",
    summary="Taliban officials closed the Sher Khan Bandar crossing on the Amu Darya on Tuesday, leaving "
            "about 300 trucks waiting on the Afghan bank, customs officers in Kunduz said. Traders blamed a "
            "dispute over fuel tariffs. Tajik border guards reported no incidents.")
CLOSURE_AGAIN = ItemData(
    key="closure-2", link="https://dushanbe-daily.example/shut", published=NOW - timedelta(minutes=10),
    title="Sher Khan Bandar crossing to Tajikistan shut by the Taliban",
    summary="The Sher Khan Bandar crossing on the Amu Darya was shut by Taliban officials on Tuesday; "
            "roughly 300 trucks are stuck on the Afghan bank, according to customs officers in Kunduz. The "
            "dispute is over fuel tariffs.")
DRILLS = ItemData(
    key="drills-1", link="https://khatlon-news.example/drills", published=NOW - timedelta(minutes=5),
    title="CSTO begins drills at Kharb-Maidon range",
    summary="The CSTO began command-staff drills at the Kharb-Maidon range in Khatlon on Wednesday with "
            "1,500 troops from five member states, the defence ministry in Dushanbe said.")
WEATHER = ItemData(key="weather-1", title="Warm week ahead for gardeners",
                   summary="Gardeners can expect a warm and dry week, forecasters said.")


@pytest.fixture
async def feed(storage):
    await storage.sync_feeds([FeedConfig(url="https://wire.example/rss", title="Wire")], source="config", now=NOW)
    [f] = await storage.list_feeds()
    return f


@pytest.fixture
async def subs(storage):
    """Destinations following central-asia: instant, a watchlist + query pair, digest, quiet hours, paused."""
    async with storage.begin() as tx:
        ids = dict(
            console=await tx.add_subscription(platform="console", address="stdout", watchlist="central-asia",
                                              query=None, now=NOW),
            chat=await tx.add_subscription(platform="telegram", address="1001", watchlist="central-asia",
                                           query=None, now=NOW),
            chat_query=await tx.add_subscription(platform="telegram", address="1001", watchlist=None,
                                                 query="Taliban", now=NOW),
            digest=await tx.add_subscription(platform="telegram", address="1002", watchlist="central-asia",
                                             query=None, mode="digest", digest="daily 08:00", now=NOW),
            quiet=await tx.add_subscription(platform="slack", address="C0QUIET", watchlist="central-asia",
                                            query=None, quiet="22:00-07:00", timezone="Asia/Dushanbe", now=NOW),
            paused=await tx.add_subscription(platform="slack", address="C0GONE", watchlist="central-asia",
                                             query=None, now=NOW))
        await tx.pause_destination("slack", "C0GONE", "channel archived")
    return ids


@pytest.fixture
async def processor(rulebook, subs):
    await rulebook.subscriptions_changed()          # the member's query joins the matcher
    return StoryProcessor(rulebook, stories=StoriesSettings())


async def poll(storage, processor, feed, data, now=NOW):
    async with storage.read() as tx:
        known = await tx.known_items(feed.id, [d.key for d in data])
    prepared = await processor.prepare(feed, data, {k: h for k, (_, h) in known.items()})
    async with storage.begin() as tx:
        new, updated = await tx.store_items(feed.id, data, now=now)
        await processor.process(tx, feed, new, updated, now, prepared)


async def story_of(storage, key: str) -> int:
    async with storage.read() as tx:
        return (await tx.conn.execute(select(items.c.story_id).where(items.c.key == key))).scalar_one()


async def rows(storage, **where):
    async with storage.read() as tx:
        q = select(outbox).order_by(outbox.c.id)
        for k, v in where.items():
            q = q.where(outbox.c[k] == v)
        return [dict(r) for r in (await tx.conn.execute(q)).mappings()]


async def test_one_row_per_destination_with_digest_quiet_hours_and_pause(storage, feed, subs, processor):
    await poll(storage, processor, feed, [CLOSURE, WEATHER])

    got = await rows(storage)
    assert {(r["platform"], r["address"]): (r["status"], r["not_before"].replace(tzinfo=UTC)) for r in got} == {
        ("console", "stdout"): ("pending", NOW),
        ("telegram", "1001"): ("pending", NOW),                        # watchlist and query: one row
        ("telegram", "1002"): ("digest", NOW),
        ("slack", "C0QUIET"): ("pending", datetime(2024, 5, 15, 2, 0, tzinfo=UTC)),   # 07:00 in Dushanbe
    }
    assert {r["kind"] for r in got} == {"alert"} and len({r["story_id"] for r in got}) == 1
    assert len({r["dedupe_key"] for r in got}) == 4
    async with storage.read() as tx:
        story = (await tx.conn.execute(select(stories))).mappings().one()
        [brief] = (await tx.conn.execute(select(briefs))).mappings().all()
        claimed = await tx.claim_outbox(now=NOW + timedelta(hours=12), owner="t", lease_s=60, limit=10)
    assert (brief["story_id"], brief["version"], brief["brief"]) == (story["id"], 1, story["brief"])
    for r in got:                 # the rows point at the story's one brief; claiming puts it in the payload
        assert (r["brief_id"], r["payload"]) == (brief["id"], {})
        assert r["dedupe_key"] == f"alert:{story['id']}:{r['platform']}:{r['address']}"
    assert len(claimed) == 3 and all(c["payload"] == {"brief": story["brief"]} for c in claimed)
    assert story["brief"]["headline"] == CLOSURE.title


async def test_changes_of_subscriptions_apply_at_the_next_poll(storage, feed, subs, processor):
    await poll(storage, processor, feed, [CLOSURE])
    async with storage.begin() as tx:
        await tx.delete_subscriptions([subs["console"]])
        await tx.add_subscription(platform="console", address="second", watchlist="central-asia", query=None,
                                  now=NOW)
        await tx.update_subscriptions([subs["digest"]], mode="instant")

    await poll(storage, processor, feed, [DRILLS], now=NOW + timedelta(minutes=1))

    later = await rows(storage, story_id=await story_of(storage, DRILLS.key))
    assert {(r["address"], r["status"]) for r in later} == {("second", "pending"), ("1001", "pending"),
                                                            ("1002", "pending"), ("C0QUIET", "pending")}


async def test_a_change_made_elsewhere_is_seen_once_the_cache_entry_is_older_than_its_ttl(
        storage, feed, subs, processor):
    clock = [0.0]
    processor.subscriptions = SubscriptionCache(ttl_s=5.0, clock=lambda: clock[0])
    await poll(storage, processor, feed, [CLOSURE])
    async with storage.begin() as tx:           # as another process would: not through our queries
        await tx.conn.execute(update(subscriptions).where(subscriptions.c.id == subs["console"])
                              .values(paused=True))

    clock[0] = 6.0
    await poll(storage, processor, feed, [DRILLS], now=NOW + timedelta(minutes=1))

    addresses = {r["address"] for r in await rows(storage, story_id=await story_of(storage, DRILLS.key))}
    assert "stdout" not in addresses and "1001" in addresses


async def test_near_duplicates_in_one_batch_make_one_story_and_zoom_out_lists_it(storage, feed, subs, processor):
    await poll(storage, processor, feed, [CLOSURE, CLOSURE_AGAIN, DRILLS])

    async with storage.read() as tx:
        linked = dict((await tx.conn.execute(select(items.c.key, items.c.story_id))).all())
        briefs = dict((await tx.conn.execute(select(stories.c.id, stories.c.brief))).all())
    assert linked["closure-1"] == linked["closure-2"] != linked["drills-1"]
    assert {(r["story_id"], r["address"]) for r in await rows(storage, address="stdout")} == {
        (linked["closure-1"], "stdout"), (linked["drills-1"], "stdout")}
    assert briefs[linked["drills-1"]]["zoom_out"] == [[CLOSURE.title, CLOSURE.link]]


async def test_a_story_lost_to_a_rolled_back_transaction_does_not_break_the_next_poll(
        storage, feed, subs, processor):
    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with storage.begin() as tx:
            new, _ = await tx.store_items(feed.id, [CLOSURE], now=NOW)
            await processor.process(tx, feed, new, [], NOW, None)
            raise Abort                           # e.g. the feed's other writes failed

    await poll(storage, processor, feed, [CLOSURE_AGAIN])

    async with storage.begin() as tx:
        got = [r for r in await tx.claim_outbox(now=NOW, owner="t", lease_s=60, limit=10) if r["address"] == "stdout"]
    assert len(got) == 1 and got[0]["payload"]["brief"]["headline"] == CLOSURE_AGAIN.title


async def test_enqueue_skips_existing_keys_and_takes_plain_dict_payloads(storage):
    row = dict(dedupe_key="notice:1:console:stdout", subscription_id=None, story_id=None, platform="console",
               address="stdout", kind="notice", payload={"text": "feed failing: ünïcode"}, status="pending",
               not_before=NOW, attempts=0, created_at=NOW)
    async with storage.begin() as tx:
        assert await tx.enqueue([row, {**row, "dedupe_key": "notice:2:console:stdout"}]) == 2
        assert await tx.enqueue([row, {**row, "dedupe_key": "notice:3:console:stdout", "reply_to": "9"}]) == 1
    got = await rows(storage)
    assert [r["dedupe_key"][:8] for r in got] == ["notice:1", "notice:2", "notice:3"]
    assert got[0]["payload"] == {"text": "feed failing: ünïcode"} and got[2]["reply_to"] == "9"
    async with storage.begin() as tx:
        [claimed] = await tx.claim_outbox(now=NOW, owner="t", lease_s=60, limit=1)
    assert claimed["dedupe_key"] == "notice:1:console:stdout"


async def test_index_entries_of_a_rolled_back_savepoint_never_join_a_story_that_reuses_their_ids(
        storage, feed, subs, processor):
    """SQLite hands a rolled-back story's id to the next story: the processor must have
    forgotten the rolled-back items by then, or their near-duplicates would join that
    unrelated story and no one would be alerted."""
    class Abort(Exception):
        pass

    async with storage.begin() as tx:
        with pytest.raises(Abort):
            async with tx.conn.begin_nested():           # as GroupCommit isolates a feed's work
                new, _ = await tx.store_items(feed.id, [WEATHER, CLOSURE], now=NOW)
                await processor.process(tx, feed, new, [], NOW, None)
                raise Abort
    await poll(storage, processor, feed, [DRILLS])
    await poll(storage, processor, feed, [CLOSURE_AGAIN])

    async with storage.read() as tx:
        linked = dict((await tx.conn.execute(select(items.c.key, items.c.story_id))).all())
        titles = dict((await tx.conn.execute(select(stories.c.id, stories.c.title))).all())
    assert "closure-1" not in linked and "weather-1" not in linked and linked["drills-1"] != linked["closure-2"]
    assert titles[linked["closure-2"]] == CLOSURE_AGAIN.title
    alerts = await rows(storage, address="stdout")
    assert sorted(r["story_id"] for r in alerts) == sorted([linked["drills-1"], linked["closure-2"]])


async def test_briefs_made_in_worker_processes_are_those_made_here(storage, feed, subs, rulebook):
    """newsbot run makes briefs and signatures in its worker pool; they must be exactly what the
    processor would make itself, and a broken pool must not lose an item."""
    from bot.pipeline.poll import make_parse_pool
    here = StoryProcessor(rulebook, stories=StoriesSettings())
    pool = make_parse_pool(2)
    try:
        pooled = StoryProcessor(rulebook, stories=StoriesSettings(), executor=pool)
        items = [CLOSURE, CLOSURE_AGAIN, DRILLS, WEATHER]
        want = await here.prepare(feed, items, {})
        with capture_logs() as logs:
            got = await pooled.prepare(feed, items, {})
        assert not [e for e in logs if e["event"] == "brief_worker_failed"]
        assert set(got) == set(want) == {"closure-1", "closure-2", "drills-1"}
        assert all(got[k] == want[k] for k in want)               # matches, brief and signature
    finally:
        pool.shutdown()
    with capture_logs() as logs:
        assert (await pooled.prepare(feed, items, {})) == want     # the pool is gone: made here
    assert [e["feed_url"] for e in logs if e["event"] == "brief_worker_failed"] == [feed.url]


async def test_an_alert_that_waited_lists_the_outlets_that_reported_the_story_meanwhile(
        storage, feed, subs, processor):
    await storage.sync_feeds([FeedConfig(url="https://other.example/rss", title="Other Desk")], source="config",
                             now=NOW)
    other = next(f for f in await storage.list_feeds() if f.url == "https://other.example/rss")
    await poll(storage, processor, feed, [CLOSURE])
    await poll(storage, processor, other, [CLOSURE_AGAIN], now=NOW + timedelta(minutes=20))
    assert await story_of(storage, "closure-1") == await story_of(storage, "closure-2")

    async with storage.begin() as tx:              # the Slack channel's quiet hours end at 02:00 UTC
        claimed = await tx.claim_outbox(now=datetime(2024, 5, 15, 2, 0, tzinfo=UTC), owner="t", lease_s=60,
                                        limit=10)
    quiet = next(r for r in claimed if r["address"] == "C0QUIET")
    assert [s["outlet"] for s in quiet["payload"]["brief"]["sources"]] == ["Wire", "Other Desk"]
    assert quiet["payload"]["brief"]["headline"] == CLOSURE.title        # the brief itself is the first one
