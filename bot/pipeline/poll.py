"""Polling: claim due feeds, fetch, parse off the loop, store, schedule.

    storage.claim_due_feeds(now)                 -> Feed
    | fetcher.fetch(feed)                        -> Fetched | NotModified | FetchFailed
    | core.parse.parse_feed(body)                -> ParsedFeed      (process pool)
    | tx.store_items(...)                        -> new, updated    (dedupe across restarts)
    | processor.process(tx, ...)                 -> matches, stories, outbox rows (same transaction)
    | core.schedule.next_check(...)              -> Plan            (written in the same transaction)

One feed's failure is a value (FetchFailed, a parse error): it is recorded on
the feed and the batch goes on. Only bugs raise, and even those are caught per
feed, logged with the feed's URL and recorded as the feed's error.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Protocol, Sequence

import structlog

from bot.core.parse import parse_feed
from bot.core.schedule import next_check
from bot.ports import Fetcher
from bot.settings import FeedsSettings
from bot.storage.sql import SqlStorage
from bot.storage.tx import SqlTx
from bot.types import Feed, Fetched, FetchFailed, Item, ItemData, NotModified, ParsedFeed

log = structlog.get_logger(__name__)

class Processor(Protocol):
    """Turns newly stored items into matches, stories and outbox rows, inside the poll's transaction."""

    async def prepare(self, feed: Feed, items: Sequence[ItemData], known: dict[str, str]) -> Any: ...

    async def process(self, tx: SqlTx, feed: Feed, new: Sequence[Item], updated: Sequence[Item],
                      now: datetime, prepared: Any) -> None: ...


@dataclass
class FeedOutcome:
    feed: Feed
    result: str                      # ok | not_modified | unchanged | failed
    new: list[Item] = field(default_factory=list)
    updated: list[Item] = field(default_factory=list)
    error: str | None = None
    status: int | None = None
    parsed_items: int = 0


@dataclass
class PollStats:
    feeds: int = 0
    ok: int = 0
    not_modified: int = 0
    unchanged: int = 0
    failed: int = 0
    new_items: int = 0
    updated_items: int = 0
    parsed_items: int = 0

    def add(self, o: FeedOutcome) -> None:
        self.feeds += 1
        setattr(self, o.result, getattr(self, o.result) + 1)
        self.new_items += len(o.new)
        self.updated_items += len(o.updated)
        self.parsed_items += o.parsed_items


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def make_parse_pool(workers: int) -> Executor:
    """Parsing runs off the event loop: worker processes, or one thread on a one-core machine."""
    n = workers or (os.cpu_count() or 1)
    return ProcessPoolExecutor(max_workers=n) if n > 1 else ThreadPoolExecutor(max_workers=1)


class Poller:
    def __init__(self, storage: SqlStorage, fetcher: Fetcher, *, feeds_settings: FeedsSettings,
                 parse_pool: Executor | None = None, processor: Processor | None = None,
                 owner: str = "newsbot", clock: Callable[[], datetime] = utcnow,
                 concurrency: int = 100) -> None:
        self.storage = storage
        self.fetcher = fetcher
        self.settings = feeds_settings
        self.parse_pool = parse_pool
        self.processor = processor
        self.owner = owner
        self.clock = clock
        self.concurrency = concurrency
        # long enough for the slowest fetch of a batch; a crashed instance's feeds come back after it
        self.lease_s = 600.0

    async def poll_due(self, *, ignore_schedule: bool = False, batch: int = 500,
                       on_outcome: Callable[[FeedOutcome], Awaitable[None] | None] | None = None) -> PollStats:
        """Poll every feed due now (all enabled feeds with `ignore_schedule`), then return."""
        stats = PollStats()
        started = self.clock()
        while True:
            claimed = await self.storage.claim_due_feeds(
                now=self.clock(), owner=self.owner, lease_s=self.lease_s, limit=batch,
                ignore_schedule=ignore_schedule, checked_before=started)
            if not claimed:
                return stats
            sem = asyncio.Semaphore(self.concurrency)

            async def one(feed: Feed) -> None:
                async with sem:
                    outcome = await self.poll_feed(feed)
                stats.add(outcome)
                if on_outcome is not None:
                    r = on_outcome(outcome)
                    if asyncio.iscoroutine(r):
                        await r

            await asyncio.gather(*(one(f) for f in claimed))

    async def poll_feed(self, feed: Feed) -> FeedOutcome:
        bound = log.bind(feed_url=feed.url, feed_id=feed.id)
        try:
            result = await self.fetcher.fetch(feed)
            if isinstance(result, Fetched):
                return await self._fetched(feed, result, bound)
            if isinstance(result, NotModified):
                return await self._not_modified(feed, result, bound)
            return await self._failed(feed, result, bound)
        except Exception as exc:  # a bug: record it on the feed, keep the batch going
            bound.exception("feed_poll_crashed")
            failed = FetchFailed(url=feed.url, kind="network",
                                 reason=f"internal error while polling: {exc.__class__.__name__}: {exc}")
            try:
                return await self._failed(feed, failed, bound)
            except Exception:
                bound.exception("feed_failure_not_recorded")
                return FeedOutcome(feed, "failed", error=failed.reason)

    async def _fetched(self, feed: Feed, res: Fetched, bound) -> FeedOutcome:
        body_hash = hashlib.sha1(res.body).hexdigest()
        now = self.clock()
        if feed.body_hash is not None and body_hash == feed.body_hash:
            plan = self._plan(feed, res, now, ())
            async with self.storage.begin() as tx:
                await tx.update_feed(feed.id, **self._ok_values(res, plan, now))
                await self._recovered(tx, feed, plan, now)
            bound.debug("feed_unchanged", status=res.status)
            return FeedOutcome(feed, "unchanged", status=res.status)
        parsed = await self._parse(res)
        if parsed.error:
            bound.warning("feed_parse_failed", error=parsed.error)
            return await self._failed(feed, FetchFailed(url=feed.url, kind="http", status=res.status,
                                                        reason=f"not a readable feed: {parsed.error}"), bound)
        if parsed.warning:
            bound.info("feed_recovered", warning=parsed.warning, parser=parsed.parser)
        prepared = await self._prepare(feed, parsed)
        now = self.clock()
        plan = self._plan(feed, res, now, [i.published for i in parsed.items if i.published], parsed.ttl_s)
        async with self.storage.begin() as tx:
            new, updated = await tx.store_items(feed.id, parsed.items, now=now)
            if self.processor is not None and (new or updated):
                await self.processor.process(tx, feed, new, updated, now, prepared)
            values = self._ok_values(res, plan, now)
            values.update(body_hash=body_hash)
            if parsed.title and not feed.title:
                values["title"] = parsed.title[:500]
            if parsed.link:
                values["site_url"] = parsed.link
            if new:
                values["last_new_item_at"] = now
            await tx.update_feed(feed.id, **values)
            await self._recovered(tx, feed, plan, now)
        bound.info("feed_polled", status=res.status, items=len(parsed.items), new=len(new),
                   updated=len(updated), parser=parsed.parser)
        return FeedOutcome(feed, "ok", new=new, updated=updated, status=res.status,
                           parsed_items=len(parsed.items))

    async def _prepare(self, feed: Feed, parsed: ParsedFeed):
        """Match and summarize unseen items before the write transaction (see pipeline.process)."""
        if self.processor is None or not parsed.items:
            return None
        async with self.storage.read() as tx:
            known = await tx.known_items(feed.id, [i.key for i in parsed.items])
        return await self.processor.prepare(feed, parsed.items, {k: h for k, (_, h) in known.items()})

    async def _not_modified(self, feed: Feed, res: NotModified, bound) -> FeedOutcome:
        now = self.clock()
        plan = self._plan(feed, res, now, ())
        values = self._ok_values(res, plan, now)
        values["last_status"] = 304
        async with self.storage.begin() as tx:
            await tx.update_feed(feed.id, **values)
            await self._recovered(tx, feed, plan, now)
        bound.debug("feed_not_modified")
        return FeedOutcome(feed, "not_modified", status=304)

    async def _failed(self, feed: Feed, res: FetchFailed, bound) -> FeedOutcome:
        now = self.clock()
        plan = self._plan(feed, res, now, ())
        values = dict(last_checked_at=now, next_check_at=plan.next_check_at, interval_s=plan.interval_s,
                      error_count=plan.error_count, error_since=plan.error_since, last_error=res.reason,
                      last_status=res.status, lease_owner=None, lease_until=None)
        async with self.storage.begin() as tx:
            if plan.notify_operator:
                await tx.record_event(kind="feed_failing", subject=feed.url, now=now,
                                      message=plan.notice or f"{feed.url} keeps failing: {res.reason}")
                values["operator_notified_at"] = now
            if plan.disable:
                values["enabled"] = False
            await tx.update_feed(feed.id, **values)
        bound.warning("feed_failed", kind=res.kind, status=res.status, error=res.reason,
                      error_count=plan.error_count, next_check_at=plan.next_check_at.isoformat())
        return FeedOutcome(feed, "failed", error=res.reason, status=res.status)

    @staticmethod
    async def _recovered(tx: SqlTx, feed: Feed, plan, now: datetime) -> None:
        if plan.notify_operator and plan.notice:
            await tx.record_event(kind="feed_recovered", subject=feed.url, message=plan.notice, now=now)

    def _plan(self, feed: Feed, res, now: datetime, dates: Sequence[datetime], ttl_s: int | None = None):
        s = self.settings
        return next_check(now=now, feed=feed, result=res, item_dates=list(dates), ttl_s=ttl_s,
                          default_interval_s=int(s.default_interval), min_interval_s=int(s.min_interval),
                          max_interval_s=int(s.max_interval), max_backoff_s=int(s.max_backoff),
                          notify_after_errors=s.notify_after_errors, jitter=0.1)

    @staticmethod
    def _ok_values(res, plan, now: datetime) -> dict:
        return dict(etag=res.etag, last_modified=res.last_modified, last_checked_at=now, last_success_at=now,
                    next_check_at=plan.next_check_at, interval_s=plan.interval_s, error_count=0,
                    error_since=None, last_error=None, last_status=getattr(res, "status", 304),
                    lease_owner=None, lease_until=None)

    async def _parse(self, res: Fetched) -> ParsedFeed:
        if self.parse_pool is None:
            return parse_feed(res.body, url=res.final_url, content_type=res.content_type)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.parse_pool, _parse_in_worker, res.body, res.final_url,
                                          res.content_type)


def _parse_in_worker(body: bytes, url: str, content_type: str | None) -> ParsedFeed:
    return parse_feed(body, url=url, content_type=content_type)
