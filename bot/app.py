"""Composition root: settings → adapters → pipeline → scheduler → channels.

`App` builds every piece once and owns their lifecycle (`async with App(config)`).
Commands (bot.commands) and tests use it; nothing else constructs adapters.
"""

from __future__ import annotations

import os
import socket
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from bot import USER_AGENT
from bot.adapters.http import AiohttpFetcher
from bot.errors import ConfigError
from bot.feedlist import load_feed_lists
from bot.pipeline.poll import Poller, make_parse_pool, utcnow
from bot.settings import Config
from bot.storage.sql import SqlStorage

log = structlog.get_logger(__name__)


@dataclass
class App:
    config: Config
    storage: SqlStorage | None = None
    fetcher: AiohttpFetcher | None = None
    parse_pool: Executor | None = None
    poller: Poller | None = None
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    async def __aenter__(self) -> "App":
        s = self.config.settings
        self.storage = await SqlStorage.open(s.database.url, upgrade=s.database.auto_upgrade, echo=s.database.echo)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self.fetcher is not None:
            await self.fetcher.close()
        if self.parse_pool is not None:
            self.parse_pool.shutdown(wait=True, cancel_futures=True)
        if self.storage is not None:
            await self.storage.close()

    # ------------------------------------------------------------------ feeds

    def feed_list_paths(self) -> list[Path]:
        return [self.config.resolve(p) for p in self.config.settings.feeds.lists]

    async def sync_config_feeds(self) -> list[ConfigError]:
        """Upsert the feeds of the operator's feed lists. Bad entries are reported and skipped."""
        feeds, problems = load_feed_lists(self.feed_list_paths())
        for p in problems:
            log.error("feed_list_entry_skipped", problem=str(p))
        added, updated, disabled = await self.storage.sync_feeds(feeds, source="config", now=utcnow(),
                                                                 disable_missing=not problems)
        log.info("feeds_synced", added=added, updated=updated, disabled=disabled, total=len(feeds))
        return problems

    def build_poller(self, processor=None) -> Poller:
        s = self.config.settings
        f = s.fetch
        self.fetcher = AiohttpFetcher(
            user_agent=f.user_agent or USER_AGENT, connect_timeout_s=f.connect_timeout,
            read_timeout_s=f.read_timeout, total_timeout_s=f.total_timeout, max_body_bytes=f.max_body_bytes,
            max_redirects=f.max_redirects, max_concurrency=f.concurrency, per_host_concurrency=f.per_host_concurrency)
        self.parse_pool = make_parse_pool(f.parse_workers)
        self.poller = Poller(self.storage, self.fetcher, feeds_settings=s.feeds, parse_pool=self.parse_pool,
                             processor=processor, owner=self.owner, concurrency=f.concurrency)
        return self.poller
