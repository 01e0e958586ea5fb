"""Benchmark: processing, from parsed items through match, cluster, summarize and outbox commit.

Builds a fresh database (SQLite in a temporary directory, or a scratch
database on the PostgreSQL server named by `--database-url`), `--watchlists`
watchlist files (generated ones plus the bundled central-asia.yaml, see
bench/pipeline_data.py) and `--subscriptions` subscriptions over them, then
feeds `--items` generated parsed items through the REAL processing, one feed's
50 items at a time, as the poller (bot.pipeline.poll) does it:

    known = tx.known_items(...)                    (read connection)
    prepared = StoryProcessor.prepare(feed, items, known)
                 match here; briefs and signatures in the worker pool (`--workers`)
    GroupCommit.write(feed, items, work=StoryProcessor.process)
                 the feeds waiting are committed together, each in a SAVEPOINT:
                 store items, cluster, open/join stories, route, outbox rows

with `--inflight` feeds in flight at once (8 by default), so that a feed is
prepared while other feeds' writes are in the database. `--inflight 0`
processes one feed at a time, each in its own transaction, and times storing
and routing apart. The main run is repeated `--repeat` times on fresh
databases (the machine is noisy) and the verdict uses the median run.

Reported: items/s end to end, outbox rows/s, the split by stage (match,
summarize, cluster incl. the index refresh query, item insert, routing and
writes incl. the commit), and the median and p99 time of one brief.

Baseline, in the same run, on its own fresh database (`--baseline-items`):
the same pipeline done the straightforward way: every rule matched on its own
(a loop over rules, each compiled alone: same semantics, no shared automaton),
every story's subscriptions read with their own query and its outbox rows
inserted one statement per row, briefs made in this process.

Run: `.venv/bin/python bench/bench_pipeline.py [--items 20000] [--repeat 3] [--inflight 8] [--workers -1]
      [--watchlists 100] [--subscriptions 10000] [--matched 0.14]
      [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]`.
Prints a table and PASS/FAIL lines; it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from concurrent.futures import ProcessPoolExecutor
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.pipeline_data import ItemStream, Names, subscription_rows, write_watchlists  # noqa: E402
from bench.poll_support import ScratchDatabase  # noqa: E402
from bot.storage.sql import GroupCommit  # noqa: E402
from bot.pipeline.poll import make_parse_pool  # noqa: E402
from bot.core.match import compile_rules  # noqa: E402
from bot.core.summarize import summarize as extractive_summarize  # noqa: E402
from bot.log import configure_logging  # noqa: E402
from bot.pipeline import process as process_module  # noqa: E402
from bot.pipeline.process import StoryProcessor  # noqa: E402
from bot.pipeline.rules import RuleBook  # noqa: E402
from bot.settings import StoriesSettings  # noqa: E402
from bot.storage.models import items as items_table  # noqa: E402
from bot.storage.models import matches, outbox, stories, subscriptions  # noqa: E402
from bot.storage.sql import SqlStorage  # noqa: E402
from bot.types import FeedConfig  # noqa: E402

TARGET_ITEMS_S = 2000
TARGET_BRIEF_MS = 5.0
FEED_ITEMS = 50
FEEDS = 200
START = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)
STAGES = ("known", "match", "summarize", "cluster", "store", "route")


@dataclass
class Stages:
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    brief_ms: list[float] = field(default_factory=list)

    def timed(self, stage: str, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - t
        return wrapper

    def timed_async(self, stage: str, fn):
        async def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - t
        return wrapper

    def measured(self) -> float:
        return sum(self.seconds[s] for s in STAGES if s != "route")


class TimedMatcher:
    def __init__(self, matcher, stages: Stages) -> None:
        self.inner = matcher
        self.match = stages.timed("match", matcher.match)


class RuleLoopMatcher:
    """Baseline: each rule compiled on its own and tried in turn (no shared automaton)."""

    def __init__(self, rules) -> None:
        self.parts = [compile_rules([r]) for r in rules]

    def match(self, title: str, summary: str, *, language: str | None = None):
        out = []
        for m in self.parts:
            out += m.match(title, summary, language=language)
        return out


class StraightforwardProcessor(StoryProcessor):
    """Baseline: one subscriptions query per story, one INSERT per outbox row."""

    async def _subscriptions(self, batch, watchlists, sub_ids):
        subs, seen, out = await batch.tx.subscriptions_for(watchlists, sub_ids), set(), []
        for sub in sorted(subs, key=lambda s: (s.mode != "instant", s.id)):     # one per destination
            if (sub.platform, sub.address) not in seen:
                seen.add((sub.platform, sub.address))
                out.append(sub)
        return out

    async def _enqueue(self, tx, rows):
        return sum([await tx.enqueue([r]) for r in rows])


@dataclass
class Result:
    label: str
    items: int
    seconds: float
    cpu: float                # CPU seconds of this process (event loop and the database driver's thread)
    stages: Stages
    outbox_rows: int
    stories: int
    matched_items: int
    summarized: int
    clustering: tuple[int, int, int]      # joined, joined the wrong event's story, opened a second story


    @property
    def items_s(self) -> float:
        return self.items / self.seconds


async def run(url: str, *, label: str, items: int, watchlists: int, subs: int, baseline: bool,
              seed: int, group: int, matched: float, inflight: int, pool=None) -> Result:
    rng = random.Random(seed)
    storage = await SqlStorage.open(url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            names = Names(rng)
            specs = write_watchlists(Path(tmp), watchlists, names)
            async with storage.begin() as tx:
                await tx.conn.execute(subscriptions.insert(), subscription_rows(specs, subs, START, rng))
            await storage.sync_feeds([FeedConfig(url=f"https://outlet{i}.example/feed", title=f"Outlet {i}")
                                      for i in range(FEEDS)], source="config", now=START)
            feeds = await storage.list_feeds()
            rules = RuleBook(Path(tmp), storage)
            problems = rules.load()
            if problems:
                raise SystemExit(f"generated watchlists do not load: {problems[:3]}")
            await rules.subscriptions_changed()
            stream = ItemStream(specs, names, rng, matched_share=matched)
            batches = []
            for b in range(-(-items // FEED_ITEMS)):
                now = START + timedelta(seconds=2 * b)
                feed = feeds[b % len(feeds)]
                data = [stream.item(feed.id, now - timedelta(seconds=rng.randint(0, 3600)))
                        for _ in range(min(FEED_ITEMS, items - b * FEED_ITEMS))]
                batches.append((feed, data, now))
            stages = Stages()
            processor = _processor(rules, stages, baseline)
            if pool is not None and not baseline:
                processor.executor = pool
                processor._in_pool = stages.timed_async("summarize", processor._in_pool)
            if inflight:
                seconds, cpu = await _process_as_poller(storage, processor, batches, stages, inflight)
            else:
                seconds, cpu = await _process(storage, processor, batches, stages, group)
            if not stages.brief_ms:              # briefs were made by the worker processes: time some here
                _time_briefs(processor, batches, stages)
        async with storage.read() as tx:
            c = tx.conn
            n_outbox = (await c.execute(select(func.count()).select_from(outbox))).scalar_one()
            n_stories = (await c.execute(select(func.count()).select_from(stories))).scalar_one()
            n_matched = (await c.execute(select(func.count(func.distinct(matches.c.item_id))))).scalar_one()
            linked = (await c.execute(select(items_table.c.key, items_table.c.story_id)
                                      .where(items_table.c.story_id.is_not(None)).order_by(items_table.c.id))).all()
        return Result(label, items, seconds, cpu, stages, n_outbox, n_stories, n_matched, len(stages.brief_ms),
                      _clustering(linked, stream.event_of))
    finally:
        await storage.close()


def _clustering(linked, event_of: dict[str, int]) -> tuple[int, int, int]:
    story_event: dict[int, int] = {}
    event_stories: dict[int, set[int]] = {}
    joined = wrong = 0
    for key, story_id in linked:
        ev = event_of[key]
        if story_id in story_event:
            joined += 1
            wrong += story_event[story_id] != ev
        else:
            story_event[story_id] = ev
        event_stories.setdefault(ev, set()).add(story_id)
    return joined, wrong, sum(len(s) - 1 for s in event_stories.values())


def _processor(rules: RuleBook, stages: Stages, baseline: bool) -> StoryProcessor:
    if baseline:
        rules.matcher = RuleLoopMatcher(rules._current.values())
    rules.matcher = TimedMatcher(rules.matcher, stages)

    def summarize(**kwargs):
        t = time.perf_counter()
        brief = extractive_summarize(**kwargs)
        stages.brief_ms.append((time.perf_counter() - t) * 1000)
        stages.seconds["summarize"] += time.perf_counter() - t
        return brief

    # the processor's default summarizer (`process.extractive`) calls this module attribute
    process_module.extractive_summarize = summarize
    _patch_cluster(stages)
    cls = StraightforwardProcessor if baseline else StoryProcessor
    processor = cls(rules, stories=StoriesSettings())
    processor._candidates = stages.timed("cluster", processor._candidates)  # type: ignore[method-assign]
    processor._refresh_index = stages.timed_async("cluster", processor._refresh_index)
    return processor


async def _process(storage: SqlStorage, processor: StoryProcessor, batches, stages: Stages,
                   group: int) -> tuple[float, float]:
    """Processes the batches in order. With `group` > 1, that many feeds' batches share one
    transaction, each in its own SAVEPOINT, as the poller's group commit does when several
    feeds finish together; `group` 1 is one transaction per feed."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(0, len(batches), group):
        todo = []
        for feed, data, now in batches[i:i + group]:
            t = time.perf_counter()
            async with storage.read() as tx:
                known = await tx.known_items(feed.id, [d.key for d in data])
            stages.seconds["known"] += time.perf_counter() - t
            todo.append((feed, data, now, await processor.prepare(feed, data, {k: h for k, (_, h) in known.items()})))
        t, before = time.perf_counter(), stages.measured()
        async with storage.begin() as tx:
            for feed, data, now, prepared in todo:
                async with _savepoint(tx, group):
                    ts = time.perf_counter()
                    new, updated = await tx.store_items(feed.id, data, now=now)
                    stages.seconds["store"] += time.perf_counter() - ts
                    await processor.process(tx, feed, new, updated, now, prepared)
        stages.seconds["route"] += (time.perf_counter() - t) - (stages.measured() - before)
    return time.perf_counter() - t0, time.process_time() - cpu0


async def _process_as_poller(storage: SqlStorage, processor: StoryProcessor, batches, stages: Stages,
                             inflight: int) -> tuple[float, float]:
    """Processes the batches as bot.pipeline.poll.Poller does: `inflight` feeds at a time, each
    looking up its known items, preparing (match, summarize) and handing its write to the real
    GroupCommit, which commits the feeds waiting for it together, each in a SAVEPOINT with the
    processor's `process` in it. A feed prepares while others' writes are in the database.
    Stage "store" is not split out: "route" is the wall time of the group commits (storing,
    the clustering done in them, routing, writes and commit)."""
    writer = GroupCommit(storage)
    writer._commit = stages.timed_async("route", writer._commit)        # type: ignore[method-assign]
    todo = iter(batches)
    t0, cpu0 = time.perf_counter(), time.process_time()

    async def feed_worker() -> None:
        for feed, data, now in todo:            # a shared iterator: each batch goes to one worker
            t = time.perf_counter()
            async with storage.read() as tx:
                known = await tx.known_items(feed.id, [d.key for d in data])
            stages.seconds["known"] += time.perf_counter() - t
            prepared = await processor.prepare(feed, data, {k: h for k, (_, h) in known.items()})

            async def work(tx, values, new, updated, feed=feed, now=now, prepared=prepared):
                if new or updated:
                    await processor.process(tx, feed, new, updated, now, prepared)
            await writer.write(feed.id, {"last_checked_at": now}, items=data, now=now, work=work, isolate=True)

    await asyncio.gather(*(feed_worker() for _ in range(inflight)))
    return time.perf_counter() - t0, time.process_time() - cpu0


def _time_briefs(processor: StoryProcessor, batches, stages: Stages, limit: int = 1500) -> None:
    """Time the extractive brief of up to `limit` matched items in this process (the run made
    them in worker processes, where they are not timed)."""
    matcher = getattr(processor.rules.matcher, "inner", processor.rules.matcher)     # not timed as "match"
    for feed, data, _ in batches:
        for d in data:
            if len(stages.brief_ms) >= limit:
                return
            found = matcher.match(d.title, d.summary, language=d.language or feed.language)
            if found:
                kwargs = processor._brief_args(feed, d, found, d.summary)
                t = time.perf_counter()
                extractive_summarize(**kwargs)
                stages.brief_ms.append((time.perf_counter() - t) * 1000)


def _savepoint(tx, group: int):
    return tx.conn.begin_nested() if group > 1 else contextlib.nullcontext()


def _patch_cluster(stages: Stages) -> None:
    """Time the clustering functions the processor calls (module attributes of bot.pipeline.process)."""
    for name in ("story_signature", "assign_story"):
        original = _ORIGINAL.setdefault(name, getattr(process_module, name))
        setattr(process_module, name, stages.timed("cluster", original))


_ORIGINAL: dict = {}


def report(runs: list[Result], dialect: str, a: argparse.Namespace) -> None:
    how = (f"{a.inflight} feeds in flight through the group commit" if a.inflight
           else f"one feed at a time, {a.group} feed(s) per transaction")
    print(f"\n{dialect}: {a.watchlists} watchlists, {a.subscriptions} subscriptions, {FEED_ITEMS} items per feed, "
          f"{how}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'run':<16}{'items':>7}{'items/s':>9}{'CPU µs':>8}{'matched':>9}{'stories':>8}{'outbox':>8}{'rows/s':>8}"
          + "".join(f"{s:>10}" for s in STAGES))
    for r in runs:
        print(f"{r.label:<16}{r.items:>7}{r.items_s:>9.0f}{r.cpu / r.items * 1e6:>8.0f}"
              f"{r.matched_items / r.items:>9.1%}{r.stories:>8}{r.outbox_rows:>8}{r.outbox_rows / r.seconds:>8.0f}"
              + "".join(f"{r.stages.seconds[s] / r.items * 1e6:>10.0f}" for s in STAGES))
    print("(CPU µs and stages: per item; stages are wall time, route = routing, outbox and other writes, commit"
          + ("; with feeds in flight, store is in route and route includes the clustering done in the commit"
             if a.inflight else "")
          + ("; with worker processes, summarize is the wait for their brief + signature job)"
             if a.workers else ")"))
    mains = [r for r in runs if r.label.startswith("newsbot #")]
    ours = sorted(mains, key=lambda r: r.items_s)[len(mains) // 2]
    base, same = _find(runs, "baseline"), _find(runs, "newsbot (same)")
    if len(mains) > 1:
        print(f"median run: {ours.label} ({', '.join(f'{r.items_s:.0f}' for r in mains)} items/s)")
    joined, wrong, split = ours.clustering
    print(f"clustering of the generated reports: {joined} of {ours.matched_items} matched items joined a story "
          f"({wrong} joined another event's story); {split} events got more than one story")
    b = ours.stages.brief_ms
    med = statistics.median(b) if b else 0.0
    p99 = sorted(b)[max(0, int(len(b) * 0.99) - 1)] if b else 0.0
    print(f"briefs: {len(b)} summarized, median {med:.2f} ms, p99 {p99:.2f} ms")
    if base is not None and same is not None:
        def per(r: Result, stage: str) -> float:
            return r.stages.seconds[stage] / r.items
        print(f"ratio to the baseline over the same {base.items} items: {same.items_s / base.items_s:.1f}x items/s "
              f"(match {per(base, 'match') / per(same, 'match'):.0f}x, route {per(base, 'route') / per(same, 'route'):.1f}x)")
    if dialect == "sqlite":
        verdict = "PASS" if ours.items_s >= TARGET_ITEMS_S else "FAIL"
        print(f"{verdict} items/s on SQLite: {ours.items_s:.0f} (target ≥ {TARGET_ITEMS_S})")
    print(f"{'PASS' if med <= TARGET_BRIEF_MS else 'FAIL'} brief median: {med:.2f} ms (target ≤ {TARGET_BRIEF_MS} ms)")


def _find(runs: list[Result], label: str) -> Result | None:
    return next((r for r in runs if r.label == label), None)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--baseline-items", type=int, default=2000, help="0: no baseline")
    ap.add_argument("--watchlists", type=int, default=100)
    ap.add_argument("--subscriptions", type=int, default=10000)
    ap.add_argument("--database-url", help="a PostgreSQL server URL; a scratch database is created and dropped")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--inflight", type=int, default=8,
                    help="feeds in flight at once through the poller's group commit (0: one feed at a time, "
                         "each in its own transaction, with storing and routing timed apart)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of --items, each on a fresh database (median)")
    ap.add_argument("--workers", type=int, default=-1,
                    help="worker processes making briefs and signatures, as newsbot run does "
                         "(-1: as many as cores, like fetch.parse_workers 0; 0: none, in this process)")
    ap.add_argument("--group", type=int, default=1,
                    help="with --inflight 0: feeds per transaction, each in a savepoint")
    ap.add_argument("--matched", type=float, default=0.14,
                    help="share of generated events that mention a watched name (reports of them follow)")
    ap.add_argument("--log-level", default="warning")
    a = ap.parse_args()
    configure_logging(level=a.log_level)
    kw = dict(watchlists=a.watchlists, subs=a.subscriptions, seed=a.seed, group=a.group, matched=a.matched,
              inflight=a.inflight)
    runs: list[Result] = []
    pool = make_parse_pool(0 if a.workers < 0 else a.workers) if a.workers else None
    if pool is not None and not isinstance(pool, ProcessPoolExecutor):
        pool.shutdown()
        pool = None                               # one core: newsbot run makes briefs in its own process
    with tempfile.TemporaryDirectory() as tmp:
        dbs = ScratchDatabase(a.database_url, Path(tmp))
        try:
            for i in range(a.repeat):           # the machine is noisy: the verdict uses the median run
                runs.append(await run(await dbs.create(f"newsbot{i}"), label=f"newsbot #{i + 1}", baseline=False,
                                      items=a.items, pool=pool, **kw))
            if a.baseline_items:
                runs.append(await run(await dbs.create("same"), label="newsbot (same)", baseline=False,
                                      items=a.baseline_items, pool=pool, **kw))
                runs.append(await run(await dbs.create("baseline"), label="baseline", baseline=True,
                                      items=a.baseline_items, **kw))
        finally:
            await dbs.drop_all()
            if pool is not None:
                pool.shutdown()
    report(runs, "postgresql" if a.database_url else "sqlite", a)


if __name__ == "__main__":
    asyncio.run(main())
