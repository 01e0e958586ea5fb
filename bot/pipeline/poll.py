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

Throughput (bench/bench_poll.py, docs/benchmarks.md):
- a pass is a pipeline, not a series of batches: the next feeds are claimed
  while the last ones are still being fetched and stored;
- `concurrency` feeds are fetched and parsed at once; a feed gives its slot
  back before it waits for its commit;
- writes go through `GroupCommit`: many feeds' results in one transaction;
- a body that would parse to what the last full parse stored is not parsed
  at all: feeds.body_hash keeps the document's item fingerprint
  (`bot.core.fingerprint`: every byte except volatile head elements such as
  <lastBuildDate>/<pubDate>/<updated>/<generator> and trailing comments, plus
  the URL and the HTTP charset), written only with a successful full parse
  and store. Equal key -> "unchanged": only the feed state (validators,
  schedule) is written. A document the rule cannot read safely (gzip, JSON,
  not UTF-8, odd markup) gets the SHA-1 of its bytes instead, so only a
  byte-identical body is skipped. The key is persisted: a restart keeps the
  skip. The schedule of a skipped poll uses the <ttl> kept in the key and the
  item dates of the last full parse if this process made it (else the
  stored interval is kept, as for a byte-identical body);
- a body whose items are exactly those stored last time (same keys, same
  content hashes) but whose key changed is parsed but not looked up or
  stored again: the poller remembers a digest of each feed's last stored
  item list. The digest is only a shortcut for "every one of these items is
  already stored as it is": a restart forgets it and the next poll looks the
  items up in the database as usual.
"""

from __future__ import annotations

import array
import asyncio
import dataclasses
import hashlib
import os
import pickle
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Protocol, Sequence

import structlog

from bot.core.fingerprint import KEY_PREFIX, document_key, same_document, stored_key, stored_ttl
from bot.core.schedule import RECENT_DATES, next_check
from bot.ports import Fetcher
from bot.settings import FeedsSettings
from bot.storage.sql import GroupCommit, SqlStorage
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
    if n <= 1:
        return ThreadPoolExecutor(max_workers=1)
    return ProcessPoolExecutor(max_workers=n, initializer=_die_with_parent, initargs=(os.getpid(),))


def _die_with_parent(parent: int) -> None:
    """A parse worker must not outlive a killed newsbot (SIGKILL, OOM): on Linux the kernel
    kills it with its parent; elsewhere a watchdog thread notices the parent is gone."""
    import signal
    import threading
    import time
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)    # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:               # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


class Poller:
    def __init__(self, storage: SqlStorage, fetcher: Fetcher, *, feeds_settings: FeedsSettings,
                 parse_pool: Executor | None = None, processor: Processor | None = None,
                 owner: str = "newsbot", clock: Callable[[], datetime] = utcnow,
                 concurrency: int = 100, parse: Callable[..., ParsedFeed] | None = None,
                 fingerprints: bool = True) -> None:
        self.storage = storage
        self.fetcher = fetcher
        self.settings = feeds_settings
        self.parse_pool = parse_pool
        self.processor = processor
        self.owner = owner
        self.clock = clock
        self.concurrency = concurrency
        # parse(body, *, url, content_type) -> ParsedFeed; a module-level function (it is pickled
        # to the parse pool). The benchmark swaps in a feedparser-only parser as its baseline.
        self.parse = parse or parse_document
        self.writer = GroupCommit(storage)
        # long enough for the slowest fetch of a batch; a crashed instance's feeds come back after it
        self.lease_s = 600.0
        # False: skip a parse only for a byte-identical body (the benchmark's feedparser baseline)
        self.fingerprints = fingerprints
        self._stored: dict[int, bytes] = {}      # feed id -> digest of its last stored item list
        self._dates: dict[int, tuple[str, bytes]] = {}   # feed id -> (document key, recent item dates)

    async def poll_due(self, *, ignore_schedule: bool = False, batch: int = 500,
                       on_outcome: Callable[[FeedOutcome], Awaitable[None] | None] | None = None) -> PollStats:
        """Poll every feed due now (all enabled feeds with `ignore_schedule`), then return."""
        stats = PollStats()
        claimed: asyncio.Queue[Feed | None] = asyncio.Queue()
        room = asyncio.Event()                  # set when the claimer may claim the next batch
        claimer = asyncio.create_task(self._claim_all(claimed, room, batch, ignore_schedule))
        fetching = asyncio.Semaphore(self.concurrency)          # fetch + parse
        in_flight = asyncio.Semaphore(self.concurrency + self.writer.max_batch)   # bounds memory
        running: set[asyncio.Task] = set()
        try:
            while (feed := await claimed.get()) is not None:
                if claimed.qsize() <= batch // 2:
                    room.set()
                await in_flight.acquire()
                task = asyncio.create_task(self._poll_one(feed, fetching, in_flight, stats, on_outcome))
                running.add(task)
                task.add_done_callback(running.discard)
            await claimer                       # raises what the claimer raised
        finally:
            claimer.cancel()
            if running:
                await asyncio.gather(*running)
        return stats

    async def _claim_all(self, out: asyncio.Queue, room: asyncio.Event, batch: int,
                         ignore_schedule: bool) -> None:
        """Claims the pass's feeds, the next batch when half of the last one has started; then None."""
        started = self.clock()
        try:
            while claimed := await self.storage.claim_due_feeds(
                    now=self.clock(), owner=self.owner, lease_s=self.lease_s, limit=batch,
                    ignore_schedule=ignore_schedule, checked_before=started):
                room.clear()
                for feed in claimed:
                    out.put_nowait(feed)
                await room.wait()
        finally:
            out.put_nowait(None)

    async def _poll_one(self, feed: Feed, fetching: asyncio.Semaphore, in_flight: asyncio.Semaphore,
                        stats: PollStats, on_outcome) -> None:
        try:
            outcome = await self.poll_feed(feed, slot=fetching)
            stats.add(outcome)
            if on_outcome is not None:
                r = on_outcome(outcome)
                if asyncio.iscoroutine(r):
                    await r
        finally:
            in_flight.release()

    async def poll_feed(self, feed: Feed, *, slot: asyncio.Semaphore | None = None) -> FeedOutcome:
        """Fetch, parse and store one feed. `slot` is held while fetching and parsing only."""
        async with _Slot(slot) as held:
            try:
                return await self._poll(feed, held)
            except Exception as exc:  # a bug: record it on the feed, keep the batch going
                held.release()
                log.exception("feed_poll_crashed", feed_url=feed.url, feed_id=feed.id)
                failed = FetchFailed(url=feed.url, kind="network",
                                     reason=f"internal error while polling: {exc.__class__.__name__}: {exc}")
                try:
                    return await self._failed(feed, failed)
                except Exception:
                    log.exception("feed_failure_not_recorded", feed_url=feed.url, feed_id=feed.id)
                    return FeedOutcome(feed, "failed", error=failed.reason)

    async def _poll(self, feed: Feed, held: _Slot) -> FeedOutcome:
        result = await self.fetcher.fetch(feed)
        if isinstance(result, Fetched):
            key = document_key(result.body, url=result.final_url, content_type=result.content_type,
                               fingerprints=self.fingerprints)
            parsed = None
            if not same_document(feed.body_hash, key):
                parsed = await self._parse(result)
            held.release()
            result = replace(result, body=b"")      # free the body before waiting for the commit
            return await self._fetched(feed, result, key, parsed)
        held.release()
        if isinstance(result, NotModified):
            return await self._not_modified(feed, result)
        return await self._failed(feed, result)

    async def _fetched(self, feed: Feed, res: Fetched, key: str, parsed: Parsed | None) -> FeedOutcome:
        if parsed is None:                          # the same document as last time: not parsed
            now = self.clock()
            plan = self._plan(feed, res, now, self._recent_dates(feed.id, key), stored_ttl(feed.body_hash))
            await self.writer.write(feed.id, self._ok_values(res, plan, now), work=self._recovered(feed, plan, now))
            log.debug("feed_unchanged", feed_url=feed.url, feed_id=feed.id, status=res.status,
                      same="items" if key.startswith(KEY_PREFIX) else "bytes")
            return FeedOutcome(feed, "unchanged", status=res.status)
        if parsed.feed.error:
            log.warning("feed_parse_failed", feed_url=feed.url, feed_id=feed.id, error=parsed.feed.error)
            return await self._failed(feed, FetchFailed(url=feed.url, kind="http", status=res.status,
                                                        reason=f"not a readable feed: {parsed.feed.error}"))
        if parsed.feed.warning:
            log.info("feed_recovered", feed_url=feed.url, feed_id=feed.id, warning=parsed.feed.warning,
                     parser=parsed.feed.parser)
        items: Sequence[ItemData] | Callable[[], Sequence[ItemData]] | None
        if self._stored.get(feed.id) == parsed.digest or not parsed.count:
            items = None                        # all stored as they are: nothing to look up
        elif self.processor is not None:
            items = parsed.items()
        else:
            items = parsed.items                # unpacked in the commit, not while waiting for it
        prepared = await self._prepare(feed, items) if self.processor is not None and items else None
        now = self.clock()
        plan = self._plan(feed, res, now, parsed.dates, parsed.feed.ttl_s)
        values = self._ok_values(res, plan, now)
        values["body_hash"] = stored_key(key, parsed.feed.ttl_s)
        if parsed.feed.title and not feed.title:
            values["title"] = parsed.feed.title[:500]
        if parsed.feed.link:
            values["site_url"] = parsed.feed.link
        new, updated = await self.writer.write(
            feed.id, values, items=items, now=now, work=self._after_store(feed, plan, now, prepared),
            isolate=self.processor is not None and items is not None)
        self._stored[feed.id] = parsed.digest
        self._dates[feed.id] = (key, _pack_dates(parsed.dates, now))
        log.info("feed_polled", feed_url=feed.url, feed_id=feed.id, status=res.status, items=parsed.count,
                 new=len(new), updated=len(updated), parser=parsed.feed.parser)
        return FeedOutcome(feed, "ok", new=new, updated=updated, status=res.status, parsed_items=parsed.count)

    def _after_store(self, feed: Feed, plan, now: datetime, prepared: Any):
        """What else goes into the feed's transaction once its items are stored."""
        recovered = self._recovered(feed, plan, now)

        async def after(tx: SqlTx, values: dict, new: list[Item], updated: list[Item]) -> None:
            if self.processor is not None and (new or updated):
                await self.processor.process(tx, feed, new, updated, now, prepared)
            if new:
                values["last_new_item_at"] = now
            if recovered is not None:
                await recovered(tx, values, new, updated)
        return after

    async def _prepare(self, feed: Feed, items: Sequence[ItemData]):
        """Match and summarize unseen items before the write transaction (see pipeline.process)."""
        if self.processor is None:
            return None
        async with self.storage.read() as tx:
            known = await tx.known_items(feed.id, [i.key for i in items])
        return await self.processor.prepare(feed, items, {k: h for k, (_, h) in known.items()})

    async def _not_modified(self, feed: Feed, res: NotModified) -> FeedOutcome:
        now = self.clock()
        plan = self._plan(feed, res, now, ())
        values = self._ok_values(res, plan, now)
        values["last_status"] = 304
        await self.writer.write(feed.id, values, work=self._recovered(feed, plan, now))
        log.debug("feed_not_modified", feed_url=feed.url, feed_id=feed.id)
        return FeedOutcome(feed, "not_modified", status=304)

    async def _failed(self, feed: Feed, res: FetchFailed) -> FeedOutcome:
        now = self.clock()
        plan = self._plan(feed, res, now, ())
        values = dict(last_checked_at=now, next_check_at=plan.next_check_at, interval_s=plan.interval_s,
                      error_count=plan.error_count, error_since=plan.error_since, last_error=res.reason,
                      last_status=res.status, lease_owner=None, lease_until=None)
        if plan.disable:
            values["enabled"] = False
        if plan.notify_operator:
            values["operator_notified_at"] = now

        async def notify(tx: SqlTx, _values: dict, _new, _updated) -> None:
            await tx.record_event(kind="feed_failing", subject=feed.url, now=now,
                                  message=plan.notice or f"{feed.url} keeps failing: {res.reason}")
        await self.writer.write(feed.id, values, work=notify if plan.notify_operator else None)
        log.warning("feed_failed", feed_url=feed.url, feed_id=feed.id, kind=res.kind, status=res.status,
                    error=res.reason, error_count=plan.error_count, next_check_at=plan.next_check_at.isoformat())
        return FeedOutcome(feed, "failed", error=res.reason, status=res.status)

    @staticmethod
    def _recovered(feed: Feed, plan, now: datetime):
        """The write that tells the operator a failing feed works again, if it did."""
        if not (plan.notify_operator and plan.notice):
            return None

        async def recovered(tx: SqlTx, _values: dict, _new, _updated) -> None:
            await tx.record_event(kind="feed_recovered", subject=feed.url, message=plan.notice, now=now)
        return recovered

    def _recent_dates(self, feed_id: int, key: str) -> Sequence[datetime]:
        """The item dates of the last full parse of this document, if this process made it."""
        kept = self._dates.get(feed_id)
        if kept is None or kept[0] != key:
            return ()
        return [datetime.fromtimestamp(t, timezone.utc) for t in array.array("d", kept[1])]

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

    async def _parse(self, res: Fetched) -> Parsed:
        if self.parse_pool is None:
            return _pack(self.parse(res.body, url=res.final_url, content_type=res.content_type), pickled=False)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.parse_pool, _parse_in_worker, self.parse, res.body,
                                          res.final_url, res.content_type)


class _Slot:
    """A semaphore permit held while fetching and parsing, given back (once) before the commit."""

    __slots__ = ("sem", "held")

    def __init__(self, sem: asyncio.Semaphore | None) -> None:
        self.sem, self.held = sem, False

    async def __aenter__(self) -> _Slot:
        if self.sem is not None:
            await self.sem.acquire()
            self.held = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self.held:
            self.held = False
            self.sem.release()          # type: ignore[union-attr]


_ITEM_FIELDS = tuple(f.name for f in dataclasses.fields(ItemData))


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parse result as it comes back from the pool: the feed without its items, and the items
    still pickled, so that a document whose item list was stored last time is never unpacked.

    Items travel as tuples of field values: pickling frozen slotted dataclasses field by field
    cost about three times as much, on both sides.
    """

    feed: ParsedFeed                  # items=()
    count: int
    digest: bytes                     # of the (key, content hash) list
    dates: tuple[datetime, ...]       # published dates, for the schedule
    packed: bytes | tuple[ItemData, ...]

    def items(self) -> tuple[ItemData, ...]:
        if not isinstance(self.packed, bytes):
            return self.packed
        return tuple(ItemData(*fields) for fields in pickle.loads(self.packed))


def _pack_dates(dates: Sequence[datetime], now: datetime) -> bytes:
    """What the schedule reads of a feed's item dates (schedule.adaptive_interval): the newest
    RECENT_DATES that are past, and up to as many still in the future, as float timestamps."""
    stamps = sorted({d.timestamp() for d in dates}, reverse=True)
    cut = now.timestamp()
    recent = [t for t in stamps if t > cut][-RECENT_DATES:] + [t for t in stamps if t <= cut][:RECENT_DATES]
    return array.array("d", recent).tobytes()


def items_digest(items: Sequence[ItemData]) -> bytes:
    text = "\n".join(f"{d.key}\0{d.content_hash}" for d in items)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _pack(parsed: ParsedFeed, *, pickled: bool) -> Parsed:
    items = parsed.items
    return Parsed(feed=replace(parsed, items=()), count=len(items), digest=items_digest(items),
                  dates=tuple(d.published for d in items if d.published),
                  packed=_pickle_items(items) if pickled else items)


def _pickle_items(items: Sequence[ItemData]) -> bytes:
    return pickle.dumps([tuple(getattr(d, name) for name in _ITEM_FIELDS) for d in items],
                        pickle.HIGHEST_PROTOCOL)


def parse_document(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """`bot.core.parse.parse_feed`, imported on first use: in the parse workers, so that the
    poller's own process does not load the parsers (lxml, feedparser: about 20 MB)."""
    from bot.core.parse import parse_feed
    return parse_feed(body, url=url, content_type=content_type)


def _parse_in_worker(parse: Callable[..., ParsedFeed], body: bytes, url: str,
                     content_type: str | None) -> Parsed:
    return _pack(parse(body, url=url, content_type=content_type), pickled=True)
