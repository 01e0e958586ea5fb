"""The poller skips parsing a document whose items did not change (item fingerprints),
over real HTTP on 127.0.0.1, on SQLite and PostgreSQL.

The feed server's `churn` answers every request with a fresh <lastBuildDate> (the bytes
change, the items do not) and never 304; an edit changes one item's title.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from bot.adapters.http import AiohttpFetcher
from bot.core.fingerprint import document_fingerprint
from bot.core.parse import parse_feed
from bot.pipeline.poll import Poller
from bot.settings import FeedsSettings
from bot.types import FeedConfig
from tests.conftest import corpus_dir
from tests.support.feedserver import EPOCH, FeedServer


class EditingFeedServer(FeedServer):
    """The test feed server, where an item's title can be corrected after publication."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.edits: dict[tuple[int, int], str] = {}

    def edit(self, n: int, k: int, note: str) -> None:
        self.edits[(n, k)] = note
        self._versions.pop(n, None)               # render feed n again

    def _render_item(self, n: int, k: int) -> str:
        text = super()._render_item(n, k)
        note = self.edits.get((n, k))
        return text.replace("</title>", f" ({note})</title>", 1) if note else text


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> None:
        """A minute later: a pass polls only the feeds last checked before it started."""
        self.now += timedelta(minutes=1)


@pytest.fixture
async def fetcher():
    async with AiohttpFetcher() as f:
        yield f


async def configure(storage, srv) -> None:
    await storage.sync_feeds([FeedConfig(url=srv.url(i), allow_private=True) for i in range(srv.feeds)],
                             source="config", now=EPOCH)


async def test_a_new_lastbuilddate_is_not_parsed_and_an_edited_item_is_an_update(storage, fetcher):
    async with EditingFeedServer(feeds=4, items=3, ttl_min=90) as srv:
        await configure(storage, srv)
        clock = Clock(EPOCH + timedelta(hours=4))      # items an hour apart: a 40 min interval, ttl 90 min
        poller = Poller(storage, fetcher, feeds_settings=FeedsSettings(), concurrency=4, clock=clock)
        assert (await poller.poll_due(ignore_schedule=True)).new_items == 12

        srv.churn = True
        srv.reset_stats()
        clock.tick()
        churned = await poller.poll_due(ignore_schedule=True)
        assert (churned.unchanged, churned.ok, churned.parsed_items) == (4, 0, 0)
        assert srv.requests == 4                    # fetched: full 200 answers, new bytes each
        for feed in await storage.list_feeds():     # the feed state is written as after a parse
            assert feed.last_status == 200 and feed.error_count == 0
            assert feed.next_check_at - feed.last_checked_at >= timedelta(minutes=90)   # its <ttl>

        srv.edit(2, 1, "corrected")
        clock.tick()
        edited = await poller.poll_due(ignore_schedule=True)
        assert (edited.unchanged, edited.ok, edited.parsed_items) == (3, 1, 3)
        assert (edited.new_items, edited.updated_items) == (0, 1)
        async with storage.read() as tx:
            titles = [i.title for i in await tx.recent_items(since=EPOCH - timedelta(days=1))]
        assert sum("(corrected)" in t for t in titles) == 1 and len(titles) == 12

        clock.tick()
        again = await poller.poll_due(ignore_schedule=True)     # the edit is now the stored version
        assert (again.unchanged, again.parsed_items) == (4, 0)


async def test_a_restart_keeps_the_skip(storage, fetcher):
    """The fingerprint is stored with the feed, not only in the poller's memory."""
    async with FeedServer(feeds=3, items=3, ttl_min=90) as srv:
        await configure(storage, srv)
        clock = Clock(EPOCH + timedelta(hours=4))      # items an hour apart: a 40 min interval, ttl 90 min
        await Poller(storage, fetcher, feeds_settings=FeedsSettings(), clock=clock).poll_due(ignore_schedule=True)
        srv.churn = True
        fresh = Poller(storage, fetcher, feeds_settings=FeedsSettings(), clock=clock)
        clock.tick()
        after_restart = await fresh.poll_due(ignore_schedule=True)
        assert (after_restart.unchanged, after_restart.parsed_items) == (3, 0)
        for feed in await storage.list_feeds():     # the <ttl> came back from the stored key
            assert feed.next_check_at - feed.last_checked_at >= timedelta(minutes=90)


async def test_a_skipped_parse_schedules_from_the_item_dates_of_the_last_one(storage, fetcher):
    """Items an hour apart: the interval follows their age whether or not the document was parsed."""
    async with FeedServer(feeds=1, items=4, spacing_s=3600) as srv:
        await configure(storage, srv)
        clock = Clock(EPOCH + timedelta(hours=4))       # items at 0, 1, 2, 3 h
        poller = Poller(storage, fetcher, feeds_settings=FeedsSettings(), clock=clock)
        await poller.poll_due(ignore_schedule=True)
        assert (await storage.list_feeds())[0].interval_s == 1800          # (4 h / 4) / 2

        srv.churn = True
        clock.now = EPOCH + timedelta(hours=12)
        skipped = await poller.poll_due(ignore_schedule=True)
        assert skipped.unchanged == 1
        assert (await storage.list_feeds())[0].interval_s == 5400          # (12 h / 4) / 2, as a parse gives


async def test_without_fingerprints_the_churn_is_parsed(storage, fetcher):
    """`fingerprints=False` (the benchmark's feedparser baseline) skips byte-identical bodies only."""
    async with FeedServer(feeds=2, items=3) as srv:
        await configure(storage, srv)
        poller = Poller(storage, fetcher, feeds_settings=FeedsSettings(), fingerprints=False)
        await poller.poll_due(ignore_schedule=True)
        srv.churn = True
        churned = await poller.poll_due(ignore_schedule=True)
        assert (churned.ok, churned.parsed_items, churned.new_items) == (2, 6, 0)


# ---------------------------------------------------------------------- the rule on real documents

_HEAD_DATE = re.compile(rb"<(lastBuildDate|pubDate|updated|dc:date)>[^<&]{1,60}</\1>")
_FIRST_ENTRY = re.compile(rb"<(?:item|entry)[\s>/]")


def _churned(body: bytes) -> bytes | None:
    """The document as a server would send it a minute later: new head dates, a cache comment."""
    first = _FIRST_ENTRY.search(body)
    if first is None:
        return None
    head, n = _HEAD_DATE.subn(rb"<\1>Tue, 01 Jan 2030 00:00:00 GMT</\1>", body[:first.start()])
    return head + body[first.start():] + b"\n<!-- served from cache at 00:00:01 -->" if n else None


def test_on_the_corpus_an_equal_fingerprint_means_an_equal_parse():
    """Every corpus document whose head dates were changed and whose fingerprint stayed the
    same parses to the same items, title, link, language and ttl."""
    corpus = corpus_dir()
    if not corpus.is_dir():
        pytest.skip(f"corpus not found at {corpus}; set NEWSBOT_CORPUS to run the corpus tests")
    url = "https://corpus.example/feed.xml"
    same = 0
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        body = path.read_bytes()
        variant = _churned(body)
        if variant is None or document_fingerprint(body, url=url) is None:
            continue
        if document_fingerprint(variant, url=url) != document_fingerprint(body, url=url):
            continue
        a, b = parse_feed(body, url=url), parse_feed(variant, url=url)
        assert (a.items, a.title, a.link, a.language, a.ttl_s, a.error) == \
            (b.items, b.title, b.link, b.language, b.ttl_s, b.error), path
        same += 1
    assert same >= 200          # 219 of the 222 corpus documents with head dates keep theirs
