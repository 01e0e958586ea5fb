"""Composition root: settings → adapters → pipeline → scheduler → channels.

`App` builds every piece once and owns their lifecycle (`async with App(config)`).
Commands (bot.commands) and tests use it; nothing else constructs adapters.
"""

from __future__ import annotations

import asyncio
import os
import socket
from concurrent.futures import Executor, ProcessPoolExecutor
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
    owner: str = field(default_factory=lambda: os.environ.get("NEWSBOT_INSTANCE_ID") or socket.gethostname())

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

    # ------------------------------------------------------------------ runtime (newsbot run)

    async def start_runtime(self) -> None:
        """Feeds, watchlists, routes, processor, poller and dispatcher, ready to run."""
        from bot.pipeline.deliver import Dispatcher
        from bot.pipeline.process import StoryProcessor
        from bot.pipeline.rules import RuleBook
        s = self.config.settings
        if s.instance_id:
            self.owner = s.instance_id
        await self.release_own_leases()
        await self.sync_config_feeds()
        self.rules = RuleBook(self.config.resolve(s.watchlists.dir), self.storage)
        self.rules.load()
        await self.sync_routes()
        await self.rules.subscriptions_changed()
        self.processor = StoryProcessor(self.rules, stories=s.stories, summarize=self._summarizer())
        self.build_poller(self.processor)
        if isinstance(self.parse_pool, ProcessPoolExecutor):     # briefs on another core than the event loop
            self.processor.executor = self.parse_pool
        from bot.adapters.article import ArticleFetcher
        self.processor.articles = ArticleFetcher(
            self.fetcher, executor=self.parse_pool, timeout_s=s.summarizer.full_text_timeout,
            max_body_bytes=min(5 * 1024 * 1024, s.fetch.max_body_bytes))
        self.senders = self._senders()
        self.dispatcher = Dispatcher(self.storage, self.senders, settings=s.delivery, owner=self.owner,
                                     clock=utcnow)
        self._busy = 0
        self._last_event_id = await self._max_event_id()

    async def release_own_leases(self) -> None:
        """A restarted instance's old leases are certainly dead: take them back now."""
        from sqlalchemy import update

        from bot.storage.models import feeds, outbox
        async with self.storage.begin() as tx:
            await tx.conn.execute(update(feeds).where(feeds.c.lease_owner == self.owner)
                                  .values(lease_owner=None, lease_until=None))
            await tx.conn.execute(update(outbox).where(outbox.c.lease_owner == self.owner)
                                  .values(lease_owner=None, lease_until=None))

    async def sync_routes(self) -> None:
        """Operator routes (settings `routes:`) become subscriptions with source=config."""
        from bot.core.timing import next_digest_at, parse_digest, parse_zone
        now = utcnow()
        async with self.storage.begin() as tx:
            existing = [x for x in await tx.list_subscriptions() if x.source == "config"]
            wanted = set()
            for r in self.config.settings.routes:
                platform, _, address = r.to.partition(":")
                address = address or "stdout"
                key = (platform, address, r.watchlist)
                wanted.add(key)
                if r.watchlist not in self.rules.watchlists:
                    log.error("route_watchlist_unknown", watchlist=r.watchlist, to=r.to,
                              hint="add config/watchlists/<name>.yaml or fix routes: in the settings")
                values = dict(mode=r.mode, digest=r.digest, timezone=r.timezone, quiet=r.quiet)
                if r.mode == "digest":
                    values["next_digest_at"] = next_digest_at(now, parse_digest(r.digest or "daily 08:00"),
                                                              parse_zone(r.timezone))
                match = [x for x in existing if (x.platform, x.address, x.watchlist) == key]
                if match:
                    await tx.update_subscriptions([m.id for m in match], **values)
                else:
                    await tx.add_subscription(platform=platform, address=address, watchlist=r.watchlist, query=None,
                                              source="config", created_by="config", now=now, **values)
            stale = [x.id for x in existing if (x.platform, x.address, x.watchlist) not in wanted]
            await tx.delete_subscriptions(stale)

    def _summarizer(self):
        from bot.pipeline.process import extractive
        s = self.config.settings.summarizer
        if s.kind != "llm":
            return extractive
        from bot.adapters.llm import LlmSummarizer
        from bot.core.summarize import summarize
        if not (s.llm_base_url and s.llm_model):
            raise ConfigError("summarizer.kind is llm but llm_base_url or llm_model is missing",
                              key="summarizer", hint="set both, or use kind: extractive")
        llm = LlmSummarizer(base_url=s.llm_base_url, model=s.llm_model, api_key=self.config.secrets.llm_api_key,
                            timeout_s=s.llm_timeout, fallback=summarize)
        return llm.summarize

    def _senders(self) -> dict:
        from bot.adapters.console import ConsoleSender
        s, sec = self.config.settings, self.config.secrets
        senders: dict = {}
        has_platform = bool(sec.telegram_bot_token or sec.slack_bot_token)
        routed = any(r.to == "console" for r in s.routes)
        if s.console.enabled == "on" or (s.console.enabled == "auto" and (routed or not has_platform)):
            senders["console"] = ConsoleSender(path=str(self.config.resolve(s.console.output))
                                               if s.console.output else None)
        if sec.telegram_bot_token:
            from bot.adapters.telegram import TelegramSender
            senders["telegram"] = TelegramSender(token=sec.telegram_bot_token, base_url=s.telegram.api_base_url,
                                                 link_preview=s.telegram.link_preview)
        if sec.slack_bot_token:
            from bot.adapters.slack import SlackBudget, SlackSender
            senders["slack"] = SlackSender(sec.slack_bot_token, base_url=s.slack.api_base_url,
                                           budget=SlackBudget(workspace_per_minute=s.slack.workspace_per_minute))
        return senders

    async def start_channels(self) -> None:
        """Inbound chat (Telegram, Slack) and the web server, when configured."""
        self.inbound = []
        from bot.chat.commands import Commands, Limits
        s, sec = self.config.settings, self.config.secrets
        self.commands = Commands(self.storage, self.rules, status=self.status_text,
                                 limits=Limits(s.telegram.max_subscriptions_per_chat, s.telegram.max_query_length))
        if sec.telegram_bot_token:
            from bot.adapters.telegram import TelegramInbound
            tg = TelegramInbound(token=sec.telegram_bot_token, base_url=s.telegram.api_base_url,
                                 router=self.commands, operators=set(s.telegram.operators), mode=s.telegram.mode,
                                 webhook_url=s.telegram.webhook_url, webhook_secret=sec.telegram_webhook_secret)
            await tg.start()
            self.inbound.append(tg)
        if sec.slack_bot_token and (sec.slack_app_token or sec.slack_signing_secret):
            from bot.adapters.slack import SlackInbound
            sl = SlackInbound(self.commands, bot_token=sec.slack_bot_token, app_token=sec.slack_app_token,
                              signing_secret=sec.slack_signing_secret, base_url=s.slack.api_base_url,
                              mode=s.slack.mode, who_can_change=s.slack.who_can_change,
                              operators=tuple(s.slack.operators))
            await sl.start()
            self.inbound.append(sl)
        if s.web.enabled:
            from bot.web.server import start_web
            self.web = await start_web(self, s.web.host, s.web.port)

    async def stop_channels(self) -> None:
        for ch in reversed(getattr(self, "inbound", [])):
            try:
                await ch.stop()
            except Exception:
                log.exception("channel_stop_failed", channel=type(ch).__name__)
        web = getattr(self, "web", None)
        if web is not None:
            await web.cleanup()

    def poll_every(self) -> float:
        return max(0.1, self.config.settings.feeds.tick)

    async def poll_tick(self) -> None:
        self._busy += 1
        try:
            stats = await self.poller.poll_due()
            if stats.feeds:
                log.info("poll_pass_finished", feeds=stats.feeds, new_items=stats.new_items, failed=stats.failed,
                         not_modified=stats.not_modified)
            self.dispatcher.wake()
        except Exception:
            log.exception("poll_pass_failed")
        finally:
            self._busy -= 1

    async def wait_idle(self, timeout: float = 30) -> None:
        for _ in range(int(timeout * 10)):
            if not self._busy:
                return
            await asyncio.sleep(0.1)

    async def reload_tick(self) -> None:
        try:
            if self.rules.reload_if_changed():
                await self.rules.subscriptions_changed()
        except Exception:
            log.exception("watchlist_reload_failed")

    async def digest_tick(self) -> None:
        from bot.pipeline.digest import build_due_digests
        try:
            n = await build_due_digests(self.storage, now=utcnow(), top=self.config.settings.delivery.digest_top,
                                        priorities=self.rules.priorities())
            if n:
                self.dispatcher.wake()
        except Exception:
            log.exception("digest_build_failed")

    async def _max_event_id(self) -> int:
        events = await self.storage.recent_operator_events(1)
        return events[0]["id"] if events else 0

    async def notice_tick(self) -> None:
        """Tell the operators about new operator events (failing feeds, gone destinations, dead letters)."""
        try:
            events = [e for e in await self.storage.recent_operator_events(50) if e["id"] > self._last_event_id]
            if not events:
                return
            self._last_event_id = max(e["id"] for e in events)
            dests = [("console", "stdout")] if "console" in self.senders else []
            if "telegram" in self.senders:
                dests += [("telegram", str(u)) for u in self.config.settings.telegram.operators]
            if "slack" in self.senders:      # a user id as the channel: Slack posts to the app's DM with them
                dests += [("slack", u) for u in self.config.settings.slack.operators]
            rows = [dict(dedupe_key=f"notice:{e['id']}:{p}:{a}", subscription_id=None, story_id=None, platform=p,
                         address=a, kind="notice", payload={"text": f"[{e['kind']}] {e['subject']}: {e['message']}"},
                         status="pending", not_before=utcnow(), attempts=0, created_at=utcnow())
                    for e in sorted(events, key=lambda e: e["id"]) for p, a in dests]
            async with self.storage.begin() as tx:
                await tx.enqueue(rows)
            self.dispatcher.wake()
        except Exception:
            log.exception("notice_failed")

    async def status_text(self) -> str:
        from bot.commands import feed_health
        now = utcnow()
        feeds = await self.storage.list_feeds()
        failing = [f for f in feeds if f.error_count]
        async with self.storage.read() as tx:
            counts = await tx.outbox_counts()
        events = await self.storage.recent_operator_events(5)
        lines = [f"Feeds: {len(feeds)} ({len(failing)} failing)",
                 "Outbox: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) if counts else "Outbox: empty"]
        lines += [f"  ✗ {f.url}: {feed_health(f, now)} — {f.last_error}" for f in failing[:5]]
        if events:
            lines.append("Last events:")
            lines += [f"  {e['created_at']:%m-%d %H:%M} {e['kind']}: {e['subject']}" for e in events]
        return "\n".join(lines)
