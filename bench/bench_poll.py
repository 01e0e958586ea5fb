"""Benchmark: ingestion (claim → fetch → parse → store), with a feedparser-only baseline.

Serves N generated feeds (tests/support/feedserver.py) from a separate process on
127.0.0.1 and runs real `Poller.poll_due(ignore_schedule=True)` passes, built by
`App.build_poller()` on a fresh database (SQLite in a temporary directory, or a
scratch database on the PostgreSQL named by `--database-url`):

  1 first ingest            every feed new: N × items new items parsed and stored
  2 all 304                 every answer 304 Not Modified
  3 changed, nothing new    every answer a full document whose bytes changed (a fresh
                            <lastBuildDate>) while its items did not: the item fingerprint
                            (bot.core.fingerprint, kept in feeds.body_hash) matches, so the
                            document is not parsed. Also measured: after a restart (the
                            poller's memory cleared: the stored fingerprint still matches),
                            and without fingerprints (`Poller.fingerprints = False`: parsed,
                            then deduped by the in-memory item digests), and without either
                            (every item looked up in the database)
  4 identical body          every answer a full, byte-identical document: the poller
                            skips parsing (feeds.body_hash)

The baseline is the same pipeline (same fetcher, storage and item extraction)
with only the parser swapped for feedparser (`bot.core.parse_ref`) and the
fingerprint skip turned off (a byte-identical body is still skipped, as before),
run on scenarios 1 and 3. Peak memory is measured in a child process with
`--memory-feeds` feeds configured (first ingest, then a 304 pass).

All feeds live on one host (127.0.0.1), so the per-host limit is raised to the
global one (`--concurrency`); in the field the feeds are spread over many hosts.
"CPU ms/feed" is CPU time per polled feed of this process (event loop, fetcher,
storage threads), of the parse workers and of the feed server: it does not
depend on what else the machine is doing, unlike feeds/s.

Run: `.venv/bin/python bench/bench_poll.py [--feeds 1000] [--items 50] [--rounds 3]
      [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]`.
Prints a table and one PASS/FAIL line per target; it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench.poll_support import ScratchDatabase, ServerProcess, feedparser_only  # noqa: E402
from bot.app import App  # noqa: E402
from bot.log import configure_logging  # noqa: E402
from bot.pipeline.poll import PollStats, utcnow  # noqa: E402
from bot.settings import Config, DatabaseSettings, FeedsSettings, FetchSettings, Secrets, Settings  # noqa: E402
from bot.types import FeedConfig  # noqa: E402

TARGETS = dict(not_modified=2000, churn=800, ingest_items=10_000, ratio=15, rss_mb=150)


@dataclass
class Pass:
    seconds: float
    stats: PollStats
    cpu_main: float           # CPU seconds of this process (event loop, fetch, storage)
    cpu_pool: float           # CPU seconds of the parse workers
    cpu_server: float         # CPU seconds of the feed server process
    problem: str | None = None

    @property
    def feeds_s(self) -> float:
        return self.stats.feeds / self.seconds

    @property
    def parsed_s(self) -> float:
        return self.stats.parsed_items / self.seconds

    @property
    def stored_s(self) -> float:
        return self.stats.new_items / self.seconds


@dataclass
class Row:
    label: str
    passes: list[Pass] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(p, attr) for p in self.passes) if self.passes else 0.0

    def best(self, attr: str) -> float:
        return max(getattr(p, attr) for p in self.passes) if self.passes else 0.0

    @property
    def problem(self) -> str | None:
        return next((p.problem for p in self.passes if p.problem), None)


# ---------------------------------------------------------------------- one pipeline


class Pipeline:
    """An App (storage, fetcher, parse pool, poller) on its own database."""

    def __init__(self, url: str, args: argparse.Namespace, *, baseline: bool = False) -> None:
        fetch = FetchSettings(concurrency=args.concurrency, per_host_concurrency=args.concurrency,
                              parse_workers=args.parse_workers)
        settings = Settings(database=DatabaseSettings(url=url), fetch=fetch, feeds=FeedsSettings(lists=()))
        self.config = Config(settings=settings, secrets=Secrets(), path=None, base_dir=ROOT)
        self.baseline = baseline
        self.app: App | None = None

    async def __aenter__(self) -> "Pipeline":
        self.app = await App(self.config).__aenter__()
        poller = self.app.build_poller()
        if self.baseline:
            poller.parse = feedparser_only
            poller.fingerprints = False
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.close()

    async def configure(self, urls: list[str]) -> None:
        configs = [FeedConfig(url=u, allow_private=True) for u in urls]
        await self.app.storage.sync_feeds(configs, source="config", now=utcnow())

    async def run(self, server: ServerProcess) -> Pass:
        me = psutil.Process()
        pool = [psutil.Process(p) for p in _pool_pids(self.app.parse_pool)]
        c0 = _cpu(me), _cpu_all(pool), _cpu(server.process)
        t0 = time.perf_counter()
        stats = await self.app.poller.poll_due(ignore_schedule=True)
        seconds = time.perf_counter() - t0
        pool = [psutil.Process(p) for p in _pool_pids(self.app.parse_pool)]
        return Pass(seconds, stats, _cpu(me) - c0[0], max(0.0, _cpu_all(pool) - c0[1]),
                    _cpu(server.process) - c0[2])


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def _cpu_all(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            total += _cpu(p)
        except psutil.NoSuchProcess:
            pass
    return total


def _pool_pids(pool) -> list[int]:
    return list(getattr(pool, "_processes", None) or {})


def check(p: Pass, **expected: int) -> Pass:
    got = {k: getattr(p.stats, k) for k in expected}
    if got != expected:
        p.problem = f"expected {expected}, got {got} (failed={p.stats.failed})"
    return p


# ---------------------------------------------------------------------- scenarios


async def scenarios(args: argparse.Namespace, tmp: Path) -> dict[str, Row]:
    n, k = args.feeds, args.items
    rows = {key: Row(label) for key, label in [
        ("ingest", "1 first ingest"), ("ingest_fp", "1 first ingest, feedparser-only"),
        ("not_modified", "2 all 304"), ("churn", "3 changed body, nothing new"),
        ("churn_restart", "3 … after a restart"), ("churn_parsed", "3 … without fingerprints"),
        ("churn_cold", "3 … without fingerprints, digests"),
        ("churn_fp", "3 changed body, feedparser-only"), ("identical", "4 identical body (hash skip)")]}
    db = ScratchDatabase(args.database_url, tmp)
    server = ServerProcess(n, k, cwd=ROOT)
    try:
        server.start()
        urls = [f"http://127.0.0.1:{server.port}/feeds/{i}.xml" for i in range(n)]
        ours = fp = None
        for r in range(args.rounds):                      # each round on a fresh database
            url = await db.create(f"ours{r}")
            ours = Pipeline(url, args)
            await ours.__aenter__()
            await ours.configure(urls)
            rows["ingest"].passes.append(check(await ours.run(server), ok=n, new_items=n * k))
            if r < args.rounds - 1:
                await ours.__aexit__()
        fp = Pipeline(await db.create("feedparser"), args, baseline=True)
        await fp.__aenter__()
        await fp.configure(urls)
        rows["ingest_fp"].passes.append(check(await fp.run(server), ok=n, new_items=n * k))
        for _ in range(args.rounds):
            rows["not_modified"].passes.append(check(await ours.run(server), not_modified=n))

        server.restart("--no-conditional")
        await ours.run(server)                            # records the body hash
        for _ in range(args.rounds):
            rows["identical"].passes.append(check(await ours.run(server), unchanged=n))

        server.restart("--churn")
        poller = ours.app.poller
        for _ in range(args.rounds):
            rows["churn"].passes.append(check(await ours.run(server), unchanged=n, parsed_items=0))
        for _ in range(args.rounds):    # the first pass after a restart: the poller's memory is empty
            poller._stored.clear()
            poller._dates.clear()
            rows["churn_restart"].passes.append(check(await ours.run(server), unchanged=n, parsed_items=0))
        poller.fingerprints = False     # parsed; the item digests spare the lookups
        await ours.run(server)          # (the first pass fills the digests)
        for _ in range(args.rounds):
            rows["churn_parsed"].passes.append(check(await ours.run(server), ok=n, new_items=0))
        for _ in range(args.rounds):    # as on the first pass after a restart: every item looked up
            poller._stored.clear()
            rows["churn_cold"].passes.append(check(await ours.run(server), ok=n, new_items=0))
        rows["churn_fp"].passes.append(check(await fp.run(server), ok=n, new_items=0))
        await ours.__aexit__()
        await fp.__aexit__()
    finally:
        server.stop()
        await db.drop_all()
    return rows


# ---------------------------------------------------------------------- memory (child process)


class RssSampler:
    """Samples the RSS of this process every 20 ms, and its PSS plus the parse workers' PSS
    (proportional set size: pages shared with this process after fork counted once)."""

    def __init__(self, pool) -> None:
        self.me = psutil.Process()
        self.pool = pool
        self.peak_self = self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_self = max(self.peak_self, self.me.memory_info().rss)
            total = self.me.memory_full_info().pss
            for pid in _pool_pids(self.pool):
                try:
                    total += psutil.Process(pid).memory_full_info().pss
                except psutil.NoSuchProcess:
                    pass
            self.peak_total = max(self.peak_total, total)
            self._stop.wait(0.02)


async def memory_child(args: argparse.Namespace, tmp: Path) -> dict:
    n = args.memory_feeds
    db = ScratchDatabase(args.database_url, tmp)
    server = ServerProcess(n, args.memory_items, cwd=ROOT)
    out: dict = {"feeds": n, "items": args.memory_items}
    try:
        server.start()
        async with Pipeline(await db.create("memory"), args) as ours:
            await ours.configure([f"http://127.0.0.1:{server.port}/feeds/{i}.xml" for i in range(n)])
            with RssSampler(ours.app.parse_pool) as s:
                ingest = await ours.run(server)
            out.update(ingest_peak_self=s.peak_self, ingest_peak_total=s.peak_total,
                       ingest_ok=ingest.stats.ok, ingest_s=ingest.seconds)
            with RssSampler(ours.app.parse_pool) as s:
                nm = await ours.run(server)
            out.update(nm_peak_self=s.peak_self, nm_peak_total=s.peak_total,
                       nm_count=nm.stats.not_modified, nm_feeds_s=nm.feeds_s)
    finally:
        server.stop()
        await db.drop_all()
    out["maxrss_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def run_memory_child(args: argparse.Namespace) -> dict | None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child",
           "--memory-feeds", str(args.memory_feeds), "--memory-items", str(args.memory_items),
           "--concurrency", str(args.concurrency), "--parse-workers", str(args.parse_workers),
           "--log-level", args.log_level]
    if args.database_url:
        cmd += ["--database-url", args.database_url]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        print(f"memory run failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- report


def report(rows: dict[str, Row], mem: dict | None, args: argparse.Namespace, load: tuple) -> None:
    mb = 1024 * 1024
    print(f"\nnewsbot ingestion benchmark: {args.feeds:,} feeds × {args.items} items, median of "
          f"{args.rounds} round(s); {os.cpu_count()} CPUs, load average {load[0]:.1f} before / "
          f"{os.getloadavg()[0]:.1f} after; {'PostgreSQL' if args.database_url else 'SQLite (temporary file)'}")
    print(f"{'scenario':<34}{'feeds/s':>9}{'best':>9}{'items/s parsed':>16}{'items/s stored':>16}"
          f"{'CPU ms/feed main+pool+server':>30}")
    for row in rows.values():
        if not row.passes:
            continue
        p = row.passes[len(row.passes) // 2]
        cpu = "/".join(f"{1000 * c / max(1, p.stats.feeds):.2f}" for c in (p.cpu_main, p.cpu_pool, p.cpu_server))
        print(f"{row.label:<34}{row.median('feeds_s'):>9,.0f}{row.best('feeds_s'):>9,.0f}"
              f"{row.median('parsed_s'):>16,.0f}{row.median('stored_s'):>16,.0f}{cpu:>30}"
              + (f"   !! {row.problem}" if row.problem else ""))
    ratio_ingest = _ratio(rows["ingest"], rows["ingest_fp"])
    ratio_churn = _ratio(rows["churn"], rows["churn_fp"])
    print(f"\nratio to the feedparser-only pipeline: first ingest {ratio_ingest:.1f}×, changed body "
          f"{ratio_churn:.1f}× ({_ratio(rows['churn_restart'], rows['churn_fp']):.1f}× after a restart, "
          f"{_ratio(rows['churn_parsed'], rows['churn_fp']):.1f}× without fingerprints, "
          f"{_ratio(rows['churn_cold'], rows['churn_fp']):.1f}× without fingerprints or item digests)")
    if mem:
        print(f"memory with {mem['feeds']:,} feeds configured ({mem['items']} items each): poller process peak "
              f"RSS {mem['maxrss_self'] / mb:.0f} MB over the run (first ingest {mem['ingest_peak_self'] / mb:.0f} MB, "
              f"304 pass {mem['nm_peak_self'] / mb:.0f} MB at {mem['nm_feeds_s']:,.0f} feeds/s); "
              f"with the parse workers (PSS) {max(mem['ingest_peak_total'], mem['nm_peak_total']) / mb:.0f} MB")
    t = TARGETS
    churn, restart = rows["churn"].median("feeds_s"), rows["churn_restart"].median("feeds_s")
    parsed, cold = rows["churn_parsed"].median("feeds_s"), rows["churn_cold"].median("feeds_s")
    verdicts = [
        (f"all 304 ≥ {t['not_modified']:,} feeds/s: {rows['not_modified'].median('feeds_s'):,.0f}",
         rows["not_modified"].median("feeds_s") >= t["not_modified"], rows["not_modified"]),
        (f"changed body, nothing new ≥ {t['churn']:,} feeds/s: {churn:,.0f} (after a restart {restart:,.0f}; "
         f"parsed, without fingerprints: {parsed:,.0f}, and without item digests: {cold:,.0f})",
         min(churn, restart) >= t["churn"], rows["churn"]),
        (f"first ingest ≥ {t['ingest_items']:,} new items/s stored: {rows['ingest'].median('stored_s'):,.0f}",
         rows["ingest"].median("stored_s") >= t["ingest_items"], rows["ingest"]),
        (f"changed body ≥ {t['ratio']}× feedparser-only: {ratio_churn:.1f}× "
         f"(after a restart {_ratio(rows['churn_restart'], rows['churn_fp']):.1f}×)",
         min(ratio_churn, _ratio(rows["churn_restart"], rows["churn_fp"])) >= t["ratio"], rows["churn_fp"]),
    ]
    if mem:
        verdicts.append((f"RSS with {mem['feeds']:,} feeds < {t['rss_mb']} MB: {mem['maxrss_self'] / mb:.0f} MB "
                         "(poller process, peak over first ingest and a 304 pass)",
                         mem["maxrss_self"] < t["rss_mb"] * mb and mem["nm_count"] == mem["feeds"], Row("")))
    print()
    for text, ok, row in verdicts:
        print(f"{'PASS' if ok and not row.problem else 'FAIL'}  {text}")


def _ratio(ours: Row, base: Row) -> float:
    b = base.median("feeds_s")
    return ours.median("feeds_s") / b if b else 0.0


# ---------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=1000, help="feeds served and polled (default 1000)")
    ap.add_argument("--items", type=int, default=50, help="items per feed (default 50)")
    ap.add_argument("--rounds", type=int, default=3, help="measured passes per scenario (median shown)")
    ap.add_argument("--database-url", help="postgresql+asyncpg://… : run on a scratch database there")
    ap.add_argument("--concurrency", type=int, default=100, help="fetch.concurrency (also the per-host limit)")
    ap.add_argument("--parse-workers", type=int, default=0, help="fetch.parse_workers (0: one per core)")
    ap.add_argument("--memory-feeds", type=int, default=10_000, help="feeds configured for the memory run")
    ap.add_argument("--memory-items", type=int, default=50, help="items per feed in the memory run")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory run")
    ap.add_argument("--log-level", default="warning", help="newsbot log level during the run")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main() -> None:
    args = parse_args()
    load = os.getloadavg()
    configure_logging(level=args.log_level, fmt="plain")
    with tempfile.TemporaryDirectory(prefix="newsbot-bench-") as tmp:
        if args.memory_child:
            print(json.dumps(asyncio.run(memory_child(args, Path(tmp)))))
            return
        rows = asyncio.run(scenarios(args, Path(tmp)))
    mem = None if args.no_memory else run_memory_child(args)
    report(rows, mem, args, load)


if __name__ == "__main__":
    main()
