"""Digests and dead letters through the real storage, dispatcher and console channel."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.adapters.console import ConsoleSender
from bot.core.codec import brief_to_dict
from bot.pipeline.deliver import Dispatcher
from bot.pipeline.digest import build_due_digests
from bot.settings import DeliverySettings
from bot.types import Brief

NOW = datetime(2026, 11, 24, 8, 0, 30, tzinfo=timezone.utc)


def row(key: str, sub: int, status: str, brief: Brief, at: datetime) -> dict:
    return dict(dedupe_key=key, subscription_id=sub, story_id=None, platform="console", address="stdout",
                kind="alert", payload={"brief": brief_to_dict(brief)}, status=status, not_before=at,
                attempts=0, created_at=at)


async def test_a_digest_sends_the_top_stories_and_counts_the_rest(storage, tmp_path):
    async with storage.begin() as tx:
        sub = await tx.add_subscription(platform="console", address="stdout", watchlist="central-asia", query=None,
                                        mode="digest", digest="daily 08:00", now=NOW,
                                        next_digest_at=NOW - timedelta(seconds=30))
        rows = [row(f"a{n}", sub, "digest", Brief(headline=f"Story {n}", lede=f"Lede {n}.",
                                                   watchlist="low" if n < 4 else "central-asia"),
                    NOW - timedelta(hours=7 - n)) for n in range(7)]
        await tx.enqueue(rows)
    queued = await build_due_digests(storage, now=NOW, top=5, priorities={"central-asia": 2, "low": 0})
    assert queued == 1
    out = tmp_path / "alerts.txt"
    d = Dispatcher(storage, {"console": ConsoleSender(path=str(out))}, settings=DeliverySettings(),
                   owner="t", clock=lambda: NOW)
    assert await d.drain_once() == 1
    text = out.read_text()
    assert text.count("DIGEST") == 1
    # the three central-asia stories first (newest first), then the two newest low-priority ones
    order = [text.index(f"Story {n}") for n in (6, 5, 4, 3, 2)]
    assert order == sorted(order) and "Story 1" not in text and "Story 0" not in text
    assert "2 more" in text
    async with storage.read() as tx:
        (s,) = await tx.list_subscriptions()
        counts = await tx.outbox_counts()
    assert s.next_digest_at == datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
    assert counts == {"digested": 7, "sent": 1}
    # an empty period sends nothing
    assert await build_due_digests(storage, now=s.next_digest_at + timedelta(seconds=1), top=5, priorities={}) == 0


async def test_a_message_the_channel_refuses_is_dead_lettered_and_the_operator_told(storage, tmp_path):
    async with storage.begin() as tx:
        await tx.enqueue([row("x1", None, "pending", Brief(headline="H", lede="L."), NOW)])
    d = Dispatcher(storage, {"console": ConsoleSender(path=str(tmp_path))},   # a directory: cannot append
                   settings=DeliverySettings(), owner="t", clock=lambda: NOW)
    assert await d.drain_once() == 1
    async with storage.read() as tx:
        assert await tx.outbox_counts() == {"dead": 1}
    (event,) = await storage.recent_operator_events()
    assert event["kind"] == "dead_letter" and "cannot write alerts" in event["message"]
    assert await d.drain_once() == 0                               # never retried
