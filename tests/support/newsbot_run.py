"""The harness of the `newsbot run` end-to-end tests (Telegram and Slack).

- `ScriptedFeed`: an RSS feed on 127.0.0.1 whose items the test publishes;
- `write_run_config` / `run_env`: a config and an environment for one run;
- `NewsbotRun`: `python -m bot --config … run` as a subprocess, stopped at the end;
- `Db`: reads what that process recorded, from outside;
- `wait_for`: polls a condition, and shows the process's output when it times out;
- invented news items (BORDER, DRILL, BASE, QUIET), each distinct enough to open a
  story of its own; all but QUIET match the shipped central-asia watchlist.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import signal
import sys
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Awaitable, Callable
from xml.sax.saxutils import escape

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage.models import muted_stories, operator_events, outbox, subscriptions

ROOT = Path(__file__).resolve().parents[2]

# Invented news, each distinct enough to open a story of its own; all match central-asia.
BORDER = ("Tajikistan & the Taliban trade <warnings> over a night clash on the Panj",
          "Border guards near Khorog said two posts came under fire overnight. Officials in Dushanbe "
          "asked the Taliban to explain the incident. Nobody was hurt, the guards said.")
DRILL = ("CSTO staff officers rehearse an airlift to Dushanbe",
         "Officers of the Collective Security Treaty alliance practised moving a brigade by air. "
         "The exercise lasted three days and ended on Friday.")
BASE = ("Russia's 201st military base adds a mountain rifle company in Bokhtar",
        "The new company will train with Tajik border troops during the summer months. "
        "A spokesman said the move had been planned for a year.")
QUIET = ("Botanical garden opens a new tulip walk", "Gardeners planted forty varieties this spring.")


async def wait_for(predicate: Callable[[], Any] | Callable[[], Awaitable[Any]], what: str, *,
                   timeout: float = 20.0, run: "NewsbotRun | None" = None, every: float = 0.05) -> Any:
    """Poll `predicate` (sync or async) until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            tail = f"\n--- newsbot log (tail) ---\n{run.log_tail()}" if run else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{tail}")
        await asyncio.sleep(every)


class ScriptedFeed:
    """One RSS 2.0 feed on 127.0.0.1 whose items the test publishes (ETag, 304 when unchanged)."""

    def __init__(self) -> None:
        self._items: list[str] = []
        self._ids = itertools.count(1)
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> "ScriptedFeed":
        app = web.Application()
        app.router.add_get("/feed.xml", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/feed.xml"  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def publish(self, title: str, text: str) -> str:
        """Add an item (newest first); returns its link."""
        n = next(self._ids)
        link = f"https://wire.example/story/{n}"
        self._items.insert(0, (
            f"<item><title>{escape(title)}</title><link>{link}</link>"
            f'<guid isPermaLink="false">e2e-{n}</guid>'
            f"<pubDate>{format_datetime(datetime.now(UTC), usegmt=True)}</pubDate>"
            f"<description>{escape(text)}</description></item>"))
        return link

    async def _serve(self, request: web.Request) -> web.Response:
        self.requests += 1
        etag = f'"v{len(self._items)}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        body = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                "<title>Example Wire</title><link>https://wire.example/</link>"
                "<description>invented news for newsbot tests</description>"
                + "".join(self._items) + "</channel></rss>")
        return web.Response(body=body.encode(), headers={"ETag": etag}, content_type="application/rss+xml")


def write_run_config(tmp: Path, db_url: str, feed_url: str, extra: str = "") -> Path:
    """Settings for a fast `newsbot run`: short intervals, the shipped watchlist, console off."""
    wl = tmp / "watchlists"
    wl.mkdir(exist_ok=True)
    (wl / "central-asia.yaml").write_text((ROOT / "config/watchlists/central-asia.yaml").read_text("utf-8"),
                                          encoding="utf-8")
    (tmp / "feeds.yaml").write_text(f"feeds:\n  - url: {feed_url}\n    allow_private: true\n", encoding="utf-8")
    cfg = tmp / "newsbot.yaml"
    cfg.write_text(
        f"database:\n  url: {db_url}\n"
        "feeds:\n  lists: [feeds.yaml]\n  default_interval: 1s\n  min_interval: 1s\n  max_interval: 1s\n"
        "  tick: 0.2s\n"
        "watchlists:\n  dir: watchlists\n"
        "delivery:\n  poll_interval: 0.2s\n  lease: 10s\n"
        'console:\n  enabled: "off"\n'
        "instance_id: e2e\n" + extra, encoding="utf-8")
    return cfg


def run_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_", "SLACK_"))}
    env.update(NEWSBOT_LOG_FORMAT="json", NEWSBOT_LOG_LEVEL="info", PYTHONPATH=str(ROOT), **extra)
    return env


class NewsbotRun:
    """`python -m bot --config CFG run` as a subprocess; its output goes to a log file."""

    def __init__(self, cfg: Path, env: dict[str, str], log: Path) -> None:
        self.cfg, self.env, self.log = cfg, env, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> "NewsbotRun":
        with open(self.log, "ab") as fh:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "--config", str(self.cfg), "run",
                cwd=ROOT, env=self.env, stdout=fh, stderr=fh)
        return self

    async def stop(self) -> int | None:
        """SIGTERM (graceful), SIGKILL if it does not stop within 30 s."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 30)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"newsbot did not stop within 30 s of SIGTERM\n{self.log_tail()}") from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log.read_text("utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"


class Db:
    """Read what the newsbot process recorded (its own database, read from outside)."""

    def __init__(self, url: str) -> None:
        self.engine = create_async_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})

    async def rows(self, stmt) -> list[dict]:
        async with self.engine.connect() as c:
            return [dict(r._mapping) for r in (await c.execute(stmt)).all()]

    async def subscriptions(self, platform: str, address: str | None = None) -> list[dict]:
        stmt = select(subscriptions).where(subscriptions.c.platform == platform)
        if address is not None:
            stmt = stmt.where(subscriptions.c.address == address)
        return await self.rows(stmt.order_by(subscriptions.c.id))

    async def outbox(self, platform: str, address: str | None = None, kind: str = "alert") -> list[dict]:
        stmt = select(outbox).where(outbox.c.platform == platform, outbox.c.kind == kind)
        if address is not None:
            stmt = stmt.where(outbox.c.address == address)
        return await self.rows(stmt.order_by(outbox.c.id))

    async def sent(self, platform: str, address: str | None = None, *, timeout: float = 10.0) -> list[dict]:
        """The alert rows once all are marked sent: the platform has a message a moment before
        newsbot records that it was accepted."""
        async def done() -> list[dict] | None:
            rows = await self.outbox(platform, address)
            return rows if rows and all(r["status"] == "sent" for r in rows) else None
        return await wait_for(done, f"{platform} {address or ''} alert rows marked sent", timeout=timeout)

    async def events(self, kind: str) -> list[dict]:
        return await self.rows(select(operator_events).where(operator_events.c.kind == kind))

    async def muted(self, platform: str, address: str) -> list[dict]:
        return await self.rows(select(muted_stories).where(muted_stories.c.platform == platform,
                                                           muted_stories.c.address == address))

    async def close(self) -> None:
        await self.engine.dispose()
