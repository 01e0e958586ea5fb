"""`newsbot run` end to end with Telegram: the real process, the real outbox.

Each test starts the strict Bot API stand-in (tests.support.fake_telegram, in
this process, 127.0.0.1 port 0) and a scripted RSS feed, then runs
`python -m bot --config … run` as a subprocess pointed at both through
TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE_URL. Members talk to newsbot through
getUpdates; what reaches them is read from what the stand-in received, and the
database is read to check what newsbot recorded.

The harness (ScriptedFeed, NewsbotRun, Db, wait_for) is tests/support/newsbot_run.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.fake_telegram import TOKEN, FakeTelegram, SentMessage
from tests.support.newsbot_run import (
    BASE, BORDER, DRILL, QUIET, Db, NewsbotRun, ScriptedFeed, run_env, wait_for, write_run_config)
from tests.support.telegram_html import parse_html

OPERATOR = 777

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
