"""`newsbot run` end to end with Telegram: the real process, the real outbox.

Each test starts the strict Bot API stand-in (tests.support.fake_telegram, in
this process, 127.0.0.1 port 0) and a scripted RSS feed, then runs
`python -m bot --config … run` as a subprocess pointed at both through
TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE_URL. Members talk to newsbot through
getUpdates; what reaches them is read from what the stand-in received, and the
database is read to check what newsbot recorded.

The harness (ScriptedFeed, NewsbotRun, Db, wait_for) is shared with
tests/e2e/test_slack_run.py.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Awaitable, Callable
from xml.sax.saxutils import escape

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage.models import muted_stories, operator_events, outbox, subscriptions
from tests.support.fake_telegram import TOKEN, FakeTelegram, SentMessage
from tests.support.telegram_html import parse_html

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = 777

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


# ---------------------------------------------------------------------- harness (shared with Slack)


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


# ---------------------------------------------------------------------- Telegram world


@dataclass
class World:
    tg: FakeTelegram
    feed: ScriptedFeed
    run: NewsbotRun
    db: Db

    async def wait(self, predicate, what: str, timeout: float = 20.0) -> Any:
        return await wait_for(predicate, what, timeout=timeout, run=self.run)

    async def command(self, chat_id: int, user_id: int, text: str, expect: str, *,
                      chat_type: str | None = None) -> SentMessage:
        """A member sends `text`; returns newsbot's reply in that chat containing `expect`."""
        before = len(self.tg.sent(chat_id))
        self.tg.push_message(chat_id, user_id, text, chat_type=chat_type)
        return await self.wait(lambda: next((m for m in self.tg.sent(chat_id)[before:] if expect in m.text), None),
                               f"a reply containing {expect!r} to {text!r} in chat {chat_id}")

    async def alert(self, chat_id: int, headline_start: str, timeout: float = 20.0) -> SentMessage:
        return await self.wait(lambda: next((m for m in self.tg.sent(chat_id) if m.reply_markup
                                             and m.text.startswith(headline_start)), None),
                               f"an alert {headline_start!r}… in chat {chat_id}", timeout)

    async def answer(self, query_id: str) -> dict:
        return await self.wait(lambda: next((a for a in self.tg.callback_answers
                                             if a["callback_query_id"] == query_id), None),
                               f"the answer to callback {query_id}")


@pytest.fixture
async def world(tmp_path, db_url):
    async with FakeTelegram() as tg, ScriptedFeed() as feed:
        feed.publish(*QUIET)
        cfg = write_run_config(tmp_path, db_url, feed.url, extra=f"telegram:\n  operators: [{OPERATOR}]\n")
        env = run_env(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=tg.base_url)
        run = await NewsbotRun(cfg, env, tmp_path / "newsbot.log").start()
        w = World(tg, feed, run, Db(db_url))
        try:
            await w.wait(lambda: tg.commands and tg.calls("getUpdates") and feed.requests, "newsbot to start",
                         timeout=60)
            yield w
            assert run.alive(), f"newsbot exited early\n{run.log_tail()}"
            assert await run.stop() == 0, run.log_tail()
            assert "Traceback" not in run.log_tail(10**7), run.log_tail()
        finally:
            await run.stop()
            await w.db.close()


def buttons(message: SentMessage) -> dict[str, str]:
    """{callback_data prefix: callback_data} of an alert's inline keyboard."""
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return {b["callback_data"].split(":")[0]: b["callback_data"] for row in rows for b in row}


# ---------------------------------------------------------------------- scenarios


async def test_member_subscribes_gets_an_alert_with_buttons_and_uses_them(world: World):
    tg = world.tg
    reply = await world.command(1001, 1001, "/subscribe central-asia", "Subscribed")
    assert "Central Asia security" in reply.text
    [sub] = await world.db.subscriptions("telegram", "1001")
    assert sub["watchlist"] == "central-asia" and not sub["paused"]

    link = world.feed.publish(*BORDER)
    alert = await world.alert(1001, "Tajikistan & the Taliban")
    # valid Telegram HTML (the stand-in parsed it strictly), feed text escaped, inside the limits
    assert alert.parse_mode == "html" and len(alert.text) <= 4096
    assert parse_html(alert.raw, strict=True).text == alert.text
    assert "<warnings>" in alert.text and "&lt;warnings&gt;" in alert.raw
    assert "Why it matters" in alert.text
    assert {e.type for e in alert.entities} >= {"bold", "text_link"}
    assert any(e.url == link for e in alert.entities)
    assert alert.link_preview == {"is_disabled": True}
    # it went through the outbox, once
    [row] = await world.db.sent("telegram", "1001")
    assert row["status"] == "sent" and row["platform_message_id"] == str(alert.message_id)
    keys = buttons(alert)
    assert keys == {"m": f"m:{row['story_id']}", "u": f"u:{sub['id']}"}

    mute = tg.push_callback(1001, 1001, keys["m"], message_id=alert.message_id)
    assert "Muted" in (await world.answer(mute))["text"]
    assert [m["story_id"] for m in await world.db.muted("telegram", "1001")] == [row["story_id"]]

    unsub = tg.push_callback(1001, 1001, keys["u"], message_id=alert.message_id)
    assert "Removed 1 subscription" in (await world.answer(unsub))["text"]
    assert await world.db.subscriptions("telegram", "1001") == []
    assert len([m for m in tg.sent(1001) if m.reply_markup]) == 1


async def test_in_a_group_only_admins_change_subscriptions(world: World):
    group, member, admin = -2001, 3001, 3002
    world.tg.add_chat(group, "group", title="Analysts")
    world.tg.set_member(group, member, "member")
    world.tg.set_member(group, admin, "administrator")
    refused = await world.command(group, member, "/subscribe central-asia", "Only this chat's administrators")
    assert "Ask an admin" in refused.text
    assert await world.db.subscriptions("telegram", str(group)) == []

    await world.command(group, admin, "/subscribe central-asia", "Subscribed")
    [sub] = await world.db.subscriptions("telegram", str(group))
    assert sub["created_by"] == str(admin)


async def test_blocked_user_pauses_the_chat_and_the_operator_is_told(world: World):
    await world.command(4001, 4001, "/subscribe central-asia", "Subscribed")
    world.tg.set_chat_state(4001, "blocked")
    world.feed.publish(*DRILL)

    async def paused():
        subs = await world.db.subscriptions("telegram", "4001")
        return subs if subs and all(s["paused"] for s in subs) else None
    [sub] = await world.wait(paused, "chat 4001's subscription to be paused")
    assert "blocked" in sub["paused_reason"]
    [row] = await world.db.outbox("telegram", "4001")
    assert row["status"] != "sent"
    notice = await world.wait(lambda: next((m for m in world.tg.sent(OPERATOR) if "telegram:4001" in m.text), None),
                              "the operator notice", timeout=30)
    assert "destination_gone" in notice.text and "paused" in notice.text
    assert not [m for m in world.tg.sent(4001) if m.reply_markup]       # nothing reached the blocked chat


async def test_group_upgraded_to_supergroup_moves_the_subscription_and_gets_the_alert(world: World):
    old, new, admin = -5001, -1005001, 5002
    world.tg.add_chat(old, "group", title="Desk")
    world.tg.set_member(old, admin, "creator")
    await world.command(old, admin, "/subscribe central-asia", "Subscribed")
    world.tg.migrate_chat(old, new)
    world.feed.publish(*BASE)

    alert = await world.alert(new, "Russia's 201st military base")
    [sub] = await world.db.subscriptions("telegram")
    assert sub["address"] == str(new)
    assert buttons(alert)["u"] == f"u:{sub['id']}"
    [row] = await world.db.sent("telegram")
    assert row["address"] == str(new)
    assert [e["subject"] for e in await world.db.events("destination_moved")] == [f"telegram:{old}"]
    assert not [m for m in world.tg.sent(old) if m.reply_markup]


async def test_429_burst_delays_only_that_chat(world: World):
    busy, calm = 6001, 6002
    await world.command(busy, busy, "/subscribe central-asia", "Subscribed")
    await world.command(calm, calm, "/subscribe central-asia", "Subscribed")
    world.tg.inject("429", chat_id=busy, times=3, retry_after=1)
    world.feed.publish(*BORDER)

    calm_alert = await world.alert(calm, "Tajikistan & the Taliban")
    busy_alert = await world.alert(busy, "Tajikistan & the Taliban", timeout=30)
    assert busy_alert.message_id > calm_alert.message_id
    assert world.tg.count_429_by_chat == {busy: 3}                       # only the forced ones
    assert len([m for m in world.tg.sent(busy) if m.reply_markup]) == 1   # delivered once
    [row] = await world.db.sent("telegram", str(busy))
    assert row["status"] == "sent" and row["attempts"] == 4               # three refused, one sent
    assert (await world.db.sent("telegram", str(calm)))[0]["attempts"] == 1


async def test_subscribe_with_a_bad_query_points_at_the_error(world: World):
    reply = await world.command(7001, 7001, "/subscribe Taliban AND (Dushanbe", "could not read that query")
    assert "never closed" in reply.text and "position 13" in reply.text
    assert "Taliban AND ⟦(⟧Dushanbe" in reply.text                       # the bad part, marked
    assert await world.db.subscriptions("telegram", "7001") == []
    ok = await world.command(7001, 7001, '/subscribe "201st base" OR Dushanbe', "I understood")
    assert "201st" in ok.text
