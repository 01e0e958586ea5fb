"""`newsbot run` end to end with Slack: the real process, the real outbox.

Each test starts the strict Web API stand-in with its Socket Mode WebSocket
(tests.support.fake_slack, in this process) and a scripted RSS feed, then runs
`python -m bot --config … run` as a subprocess with SLACK_BOT_TOKEN,
SLACK_APP_TOKEN and SLACK_API_BASE_URL pointing at the stand-in. Slash
commands and button clicks arrive as Socket Mode envelopes; alerts are checked
in what the stand-in received, and the database in what newsbot recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.newsbot_run import (
    BORDER,
    DRILL,
    QUIET,
    Db,
    NewsbotRun,
    ScriptedFeed,
    run_env,
    wait_for,
    write_run_config,
)
from tests.support import slack_requests as sr
from tests.support.fake_slack import APP_TOKEN, BOT_TOKEN, FakeSlack, Fault, Posted
from tests.support.slack_mrkdwn import lint_mrkdwn, text_objects, validate_blocks

OPERATOR = "U0OPS"
MEMBER = "U0MEMBER"


@dataclass
class World:
    slack: FakeSlack
    feed: ScriptedFeed
    run: NewsbotRun
    db: Db

    async def wait(self, predicate, what: str, timeout: float = 20.0) -> Any:
        return await wait_for(predicate, what, timeout=timeout, run=self.run)

    async def command(self, channel: str, text: str, expect: str) -> dict:
        """`/newsbot <text>` typed in `channel`; returns the ephemeral reply containing `expect`."""
        url = self.slack.new_response_url()
        envelope = await self.slack.socket.push("slash_commands", sr.slash_command(
            text, user_id=MEMBER, channel_id=channel, channel_name=channel.lower(), response_url=url))
        ack = await self.slack.socket.wait_for_ack(envelope, timeout=10)
        assert ack.after_s < 3.0                               # Slack's acknowledgement deadline
        return await self.wait(lambda: next((r for r in self.slack.responses_to(url) if expect in r["text"]), None),
                               f"a reply containing {expect!r} to /newsbot {text}")

    async def click(self, channel: str, action_id: str, value: str, message_ts: str, expect: str) -> dict:
        url = self.slack.new_response_url()
        await self.slack.socket.push("interactive", sr.block_action(
            action_id, value, user_id=MEMBER, channel_id=channel, message_ts=message_ts, response_url=url))
        return await self.wait(lambda: next((r for r in self.slack.responses_to(url) if expect in r["text"]), None),
                               f"the answer to the {action_id} button")

    async def alert(self, channel: str, headline_start: str, timeout: float = 20.0) -> Posted:
        return await self.wait(lambda: next((p for p in self.slack.posted(channel) if p.blocks
                                             and header(p).startswith(headline_start)), None),
                               f"an alert {headline_start!r}… in {channel}", timeout)


def header(posted: Posted) -> str:
    return next((b["text"]["text"] for b in posted.blocks or () if b["type"] == "header"), "")


def buttons(posted: Posted) -> dict[str, str]:
    return {e["action_id"]: e["value"] for b in posted.blocks or () if b["type"] == "actions"
            for e in b["elements"]}


@pytest.fixture
async def world(tmp_path, db_url):
    async with FakeSlack(ack_timeout_s=3.0) as slack, ScriptedFeed() as feed:
        for cid in ("C0NEWS", "C0DESK", "C0OLD"):
            slack.add_channel(cid, cid[2:].lower())
        slack.add_user(MEMBER, "member", channels=("C0NEWS", "C0DESK", "C0OLD"))
        slack.add_user(OPERATOR, "ops")
        # chat.postMessage with a user id as channel posts to the app's DM with that user
        slack.add_channel(OPERATOR, "ops-dm", is_im=True)
        feed.publish(*QUIET)
        cfg = write_run_config(tmp_path, db_url, feed.url, extra=f"slack:\n  operators: [{OPERATOR}]\n")
        env = run_env(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_BASE_URL=slack.api_url)
        run = await NewsbotRun(cfg, env, tmp_path / "newsbot.log").start()
        w = World(slack, feed, run, Db(db_url))
        try:
            await w.wait(lambda: slack.socket.connections_opened and feed.requests, "newsbot to connect",
                         timeout=60)
            yield w
            assert run.alive(), f"newsbot exited early\n{run.log_tail()}"
            assert await run.stop() == 0, run.log_tail()
            assert "Traceback" not in run.log_tail(10**7), run.log_tail()
            assert slack.lint == []                            # every mrkdwn text newsbot sent was clean
        finally:
            await run.stop()
            await w.db.close()


async def test_channel_subscribes_and_gets_a_block_kit_alert(world: World):
    reply = await world.command("C0NEWS", "subscribe central-asia", "Subscribed")
    assert reply["response_type"] == "ephemeral" and "Central Asia security" in reply["text"]
    assert "/newsbot mode" in reply["text"]                    # commands written the Slack way
    [sub] = await world.db.subscriptions("slack", "C0NEWS")
    assert sub["watchlist"] == "central-asia"

    link = world.feed.publish(*BORDER)
    alert = await world.alert("C0NEWS", "Tajikistan & the Taliban")
    assert validate_blocks(alert.blocks) == []
    sections = [t for _, kind, t in text_objects(alert.blocks) if kind == "mrkdwn"]
    assert all(lint_mrkdwn(t) == [] for t in sections)
    assert any("Why it matters" in t for t in sections)
    assert any(f"<{link}|" in t for t in sections)             # a Slack link to the story
    assert "<warnings>" in header(alert)                       # plain_text header: shown as written
    assert "&lt;warnings&gt;" in alert.text                    # mrkdwn fallback text: escaped
    assert alert.payload.get("unfurl_links") in (False, "false", "0", 0)
    [row] = await world.db.sent("slack", "C0NEWS")
    assert row["status"] == "sent" and row["platform_message_id"] == alert.ts
    assert buttons(alert) == {"mute": str(row["story_id"]), "unsub": str(sub["id"])}

    answer = await world.click("C0NEWS", "mute", str(row["story_id"]), alert.ts, "Muted")
    assert answer["response_type"] == "ephemeral"
    assert [m["story_id"] for m in await world.db.muted("slack", "C0NEWS")] == [row["story_id"]]
    await world.click("C0NEWS", "unsub", str(sub["id"]), alert.ts, "Removed 1 subscription")
    assert await world.db.subscriptions("slack", "C0NEWS") == []


async def test_archived_channel_is_paused_and_the_operator_is_told(world: World):
    await world.command("C0OLD", "subscribe central-asia", "Subscribed")
    world.slack.channels["C0OLD"].is_archived = True
    world.feed.publish(*DRILL)

    async def paused():
        subs = await world.db.subscriptions("slack", "C0OLD")
        return subs if subs and all(s["paused"] for s in subs) else None
    [sub] = await world.wait(paused, "C0OLD's subscription to be paused")
    assert "is_archived" in sub["paused_reason"]
    assert [c.error for c in world.slack.calls_to("chat.postMessage") if c.channel == "C0OLD"] == ["is_archived"]
    notice = await world.wait(lambda: next((p for p in world.slack.posted(OPERATOR) if "slack:C0OLD" in p.text),
                                           None), "the operator's notice", timeout=30)
    assert "destination_gone" in notice.text and "unarchive" in notice.text
    assert world.slack.posted("C0OLD") == []


async def test_429_retry_after_is_honoured_for_that_channel_only(world: World):
    await world.command("C0NEWS", "subscribe central-asia", "Subscribed")
    await world.command("C0DESK", "subscribe central-asia", "Subscribed")
    world.slack.inject("chat.postMessage", Fault("ratelimited", retry_after=2), channel="C0NEWS")
    world.feed.publish(*BORDER)

    calm = await world.alert("C0DESK", "Tajikistan & the Taliban")
    busy = await world.alert("C0NEWS", "Tajikistan & the Taliban", timeout=30)
    [limited] = [c for c in world.slack.calls_to("chat.postMessage") if c.status == 429]
    assert limited.channel == "C0NEWS" and world.slack.count_429 == 1
    assert busy.at - limited.at >= 2.0                        # not before Retry-After
    assert calm.at < busy.at
    assert len(world.slack.posted("C0NEWS")) == 1 and len(world.slack.posted("C0DESK")) == 1
    [row] = await world.db.sent("slack", "C0NEWS")
    assert row["status"] == "sent" and row["attempts"] == 2   # one refused, one sent
