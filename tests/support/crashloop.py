"""The crash test: SIGKILL `newsbot run` at random moments while news keeps arriving.

Used by tests/e2e/test_crash.py (short form, in CI) and bench/crash_test.py (long
form, 50+ kills). A local feed server publishes new items between and during
runs; `newsbot run` delivers alerts to the console channel, appended to a file
(fsync'd per alert). At the end one clean run drains everything, and we check
against the database and the server:

- every item the server published was stored (nothing lost at ingestion);
- every matched item belongs to a story, and every story has a console outbox row
  that was sent, and its alert is in the output file (nothing lost at delivery);
- alerts printed more than once ≤ number of kills (at most one duplicate per crash).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage.models import items, matches, outbox
from tests.support.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[2]
END = re.compile(r"^── end (alert:\d+:console:stdout) ──$", re.M)


@dataclass
class CrashReport:
    kills: int = 0
    runs: int = 0
    published: int = 0
    stored: int = 0
    matched_items: int = 0
    stories: int = 0
    alerts_expected: int = 0
    alerts_seen: int = 0
    duplicates: int = 0
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def ok(self) -> bool:
        return (self.stored == self.published and not self.missing and self.alerts_expected > 0
                and self.duplicates <= self.kills)

    def __str__(self) -> str:
        return (f"kills={self.kills} runs={self.runs} published={self.published} stored={self.stored} "
                f"matched_items={self.matched_items} stories={self.stories} alerts_expected={self.alerts_expected} "
                f"alerts_seen={self.alerts_seen} duplicates={self.duplicates} missing={len(self.missing)} "
                f"seconds={self.seconds:.1f}")


def write_setup(tmp: Path, db_url: str, srv: FeedServer, feeds: int) -> tuple[Path, Path]:
    out = tmp / "alerts.txt"
    (tmp / "watchlists").mkdir(exist_ok=True)
    (tmp / "watchlists" / "central-asia.yaml").write_text(
        (ROOT / "config/watchlists/central-asia.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp / "feeds.yaml").write_text("feeds:\n" + "".join(
        f"  - url: {srv.url(n)}\n    allow_private: true\n" for n in range(feeds)))
    cfg = tmp / "newsbot.yaml"
    cfg.write_text(
        f"database:\n  url: {db_url}\n"
        "feeds:\n  lists: [feeds.yaml]\n  default_interval: 1s\n  min_interval: 1s\n  max_interval: 2s\n  max_backoff: 4s\n  tick: 0.2s\n"
        "watchlists:\n  dir: watchlists\n"
        "routes:\n  - watchlist: central-asia\n    to: console\n"
        f"console:\n  output: {out}\n"
        "delivery:\n  poll_interval: 0.1s\n  lease: 5s\n"
        "instance_id: crash-test\n")
    return cfg, out


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_", "SLACK_"))}
    env.update(NEWSBOT_LOG_FORMAT="json", NEWSBOT_LOG_LEVEL="warning", PYTHONPATH=str(ROOT))
    return env


async def _start(cfg: Path, log: Path) -> asyncio.subprocess.Process:
    fh = open(log, "ab")
    try:
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "--config", str(cfg), "run",
                                                    cwd=ROOT, env=_env(), stdout=fh, stderr=fh,
                                                    start_new_session=True)
    finally:
        fh.close()


async def run_crash_loop(tmp: Path, db_url: str, *, kills: int, feeds: int = 12, seed: int = 7,
                         min_up: float = 0.3, max_up: float = 2.5, drain_timeout: float = 120) -> CrashReport:
    rng = random.Random(seed)
    report = CrashReport()
    t0 = time.monotonic()
    # 30 items per feed to start, shown in a window of 200: nothing falls off a feed between
    # two successful polls, however long the runs that were killed before polling
    async with FeedServer(feeds=feeds, items=200, spacing_s=600) as srv:
        srv._totals = [30] * feeds
        srv._versions.clear()
        cfg, out = write_setup(tmp, db_url, srv, feeds)
        log = tmp / "newsbot.log"
        for _ in range(kills):
            proc = await _start(cfg, log)
            report.runs += 1
            deadline = time.monotonic() + rng.uniform(min_up, max_up)
            while time.monotonic() < deadline:              # news keeps arriving while it runs
                srv.advance(rng.randrange(feeds), count=rng.randint(1, 2))
                await asyncio.sleep(rng.uniform(0.05, 0.4))
            os.killpg(proc.pid, signal.SIGKILL)        # the whole service dies at once, workers too
            await proc.wait()
            report.kills += 1
        # a clean run drains everything, then stops gracefully
        proc = await _start(cfg, log)
        report.runs += 1
        try:
            await _wait_drained(db_url, srv, feeds, timeout=drain_timeout)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
        report.published = sum(srv._totals[n] for n in range(feeds))
        await _check(db_url, out, report)
    report.seconds = time.monotonic() - t0
    return report


async def _counts(db_url: str) -> tuple[int, int, int]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as c:
            stored = (await c.execute(select(func.count()).select_from(items))).scalar_one()
            pending = (await c.execute(select(func.count()).select_from(outbox)
                                       .where(outbox.c.status == "pending"))).scalar_one()
            unlinked = (await c.execute(select(func.count()).select_from(matches)
                                        .where(matches.c.story_id.is_(None)))).scalar_one()
        return stored, pending, unlinked
    finally:
        await engine.dispose()


async def _wait_drained(db_url: str, srv: FeedServer, feeds: int, *, timeout: float) -> None:
    want = sum(srv._totals[n] for n in range(feeds))
    deadline = time.monotonic() + timeout
    stable = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        try:
            stored, pending, _ = await _counts(db_url)
        except Exception:
            continue
        stable = stable + 1 if (stored >= want and pending == 0) else 0
        if stable >= 4:
            return
    raise TimeoutError(f"not drained after {timeout}s (stored {stored} of {want}, pending {pending})")


async def _check(db_url: str, out: Path, report: CrashReport) -> None:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as c:
            report.stored = (await c.execute(select(func.count()).select_from(items))).scalar_one()
            report.matched_items = (await c.execute(select(func.count(func.distinct(matches.c.item_id))))).scalar_one()
            story_ids = set((await c.execute(select(matches.c.story_id).distinct())).scalars())
            report.stories = len(story_ids - {None})
            rows = (await c.execute(select(outbox.c.dedupe_key, outbox.c.status, outbox.c.story_id)
                                    .where(outbox.c.platform == "console", outbox.c.kind == "alert"))).all()
    finally:
        await engine.dispose()
    expected = {k for k, _, _ in rows}
    routed_stories = {s for _, _, s in rows}
    report.alerts_expected = len(expected)
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    seen = END.findall(text)
    report.alerts_seen = len(set(seen))
    report.duplicates = len(seen) - len(set(seen))
    report.missing = sorted(expected - set(seen)) + [f"story {s} has no alert" for s in story_ids - routed_stories
                                                     if s is not None]
    report.missing += [f"{k} not sent ({st})" for k, st, _ in rows if st != "sent"]
