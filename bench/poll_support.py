"""Helpers for bench/bench_poll.py: the feed server process, scratch databases, the baseline parser.

Not part of newsbot: nothing in `bot/` imports this.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.types import ParsedFeed


def feedparser_only(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """The baseline parser: feedparser.parse plus newsbot's own item extraction (bot.core.parse_ref).

    Same signature and result as `bot.core.parse.parse_feed`, so only the parser differs.
    Imports on first use (in the parse workers), like `bot.pipeline.poll.parse_document`.
    """
    from bot.core.parse_items import build_items, clean_text
    from bot.core.parse_ref import read_with_feedparser
    from bot.core.text import resolve_link

    ref = read_with_feedparser(body, url)
    if not ref.is_feed:
        return ParsedFeed(items=(), parser="feedparser", error=f"not a feed: {ref.problem}")
    language = ref.language.strip() if ref.language and ref.language.strip() else None
    items, _ = build_items(ref.items, language)
    return ParsedFeed(items=items, title=" ".join(clean_text(ref.title, ref.title_html).split()) or None,
                      link=resolve_link(ref.link, url), language=language, ttl_s=ref.ttl_s,
                      parser="feedparser")


class ServerProcess:
    """`python -m tests.support.feedserver` in its own process; restart() keeps the port."""

    def __init__(self, feeds: int, items: int, *, cwd: Path) -> None:
        self.feeds, self.items, self.cwd = feeds, items, cwd
        self.port = 0
        self._proc: subprocess.Popen | None = None
        self.process: psutil.Process | None = None

    def start(self, *flags: str) -> None:
        cmd = [sys.executable, "-m", "tests.support.feedserver", "--feeds", str(self.feeds),
               "--items", str(self.items), "--port", str(self.port), *flags]
        self._proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=subprocess.PIPE, text=True)
        line = self._proc.stdout.readline()          # type: ignore[union-attr]
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"feed server did not start: {line!r}")
        self.port = int(line)
        self.process = psutil.Process(self._proc.pid)

    def restart(self, *flags: str) -> None:
        self.stop()
        self.start(*flags)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


class ScratchDatabase:
    """Fresh databases for one run: SQLite files in `tmp`, or scratch databases on a PostgreSQL server."""

    def __init__(self, server_url: str | None, tmp: Path) -> None:
        self.server_url, self.tmp = server_url, tmp
        self.created: list[str] = []

    async def create(self, name: str) -> str:
        if not self.server_url:
            return f"sqlite+aiosqlite:///{self.tmp / (name + '.db')}"
        db = f"newsbot_bench_{psutil.Process().pid}_{name}"
        await self._admin(f'DROP DATABASE IF EXISTS "{db}"', f'CREATE DATABASE "{db}"')
        self.created.append(db)
        return make_url(self.server_url).set(database=db).render_as_string(hide_password=False)

    async def drop_all(self) -> None:
        if self.created:
            await self._admin(*(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in self.created))
            self.created.clear()

    async def _admin(self, *statements: str) -> None:
        engine = create_async_engine(self.server_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                for sql in statements:
                    await conn.execute(text(sql))
        finally:
            await engine.dispose()
