"""SlackSender through slack_sdk's AsyncWebClient against the strict fake Slack server.

What a subscriber and an operator see: the alert arrives as valid Block Kit,
budgets are kept (zero 429s), a 429 holds back only its channel, transient
failures come back as RetryLater, a gone channel or token as Rejected(gone),
refused blocks are resent once as plain text, updates land in the thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timezone

import pytest

from bot.adapters.slack_send import SlackBudget, SlackSender
from bot.core.render_slack import render_slack
from bot.types import Brief, Delivered, Destination, OutboxMessage, Rejected, RetryLater, SourceRef
from tests.support.fake_slack import BOT_TOKEN, DEFAULT_SCOPES, FakeSlack, Fault, RateLimits
from tests.support.slack_mrkdwn import validate_blocks

FAKE_LIMITS = RateLimits(channel_interval_s=0.1, channel_burst=2, workspace_per_s=50, workspace_burst=5)
BUDGET = SlackBudget(per_channel_interval_s=0.1, workspace_per_minute=50 * 60, backoff_base_s=2.0)

BRIEF = Brief(
    headline="Drill near the Afghan border: CSTO & Tajik troops <rehearse> a response",
    lede="Troops from the 201st base joined a drill at Kharb-Maidon on Tuesday.",
    why_it_matters=("It is the largest exercise on the border this year.",),
    go_deeper=("Three battalions took part.", "Aircraft flew from Dushanbe."),
    zoom_out=(("Earlier: border talks stall", "https://news.example/earlier?a=1&b=2"),),
    sources=(SourceRef("Example Wire", "Drill", "https://wire.example/drill", None),),
    link="https://news.example/drill?id=7&ref=rss",
    published=datetime(2024, 5, 1, 14, 2, tzinfo=timezone.utc),
    matched_terms=("201st", "CSTO"), watchlist="central-asia",
)


def alert(channel: str, n: int = 1, **kw) -> OutboxMessage:
    fields = dict(id=n, dedupe_key=f"story-7:{channel}:{n}", destination=Destination("slack", channel),
                  story_id=7, subscription_id=3, kind="alert", brief=BRIEF)
    fields.update(kw)
    return OutboxMessage(**fields)


@pytest.fixture
async def fake():
    async with FakeSlack(limits=FAKE_LIMITS) as f:
        for cid in ("C0ALPHA", "C0BETA", "C0GAMMA"):
            f.add_channel(cid, cid.lower())
        yield f


@pytest.fixture
async def sender(fake):
    s = SlackSender(BOT_TOKEN, base_url=fake.api_url, budget=BUDGET, timeout_s=2.0)
    yield s
    await s.close()


async def test_alert_arrives_as_valid_block_kit(fake, sender):
    result = await sender.send(alert("C0ALPHA"))
    [posted] = fake.posted("C0ALPHA")
    assert result == Delivered(platform_message_id=posted.ts)
    assert validate_blocks(posted.blocks) == [] and fake.lint == []
    assert posted.blocks == render_slack(BRIEF, story_id=7, subscription_id=3).blocks
    assert posted.blocks[0]["text"]["text"] == BRIEF.headline
    assert "<https://news.example/drill?id=7&amp;ref=rss|Read at Example Wire>" in posted.blocks[1]["text"]["text"]
    assert posted.text.startswith("*Drill near the Afghan border: CSTO &amp; Tajik troops &lt;rehearse&gt;")
    assert posted.payload["unfurl_links"] is False and posted.thread_ts is None


async def test_update_is_a_thread_reply_under_the_first_alert(fake, sender):
    first = await sender.send(alert("C0ALPHA"))
    update = alert("C0ALPHA", 2, kind="update", reply_to=first.platform_message_id)
    result = await sender.send(update)
    assert isinstance(result, Delivered)
    reply = fake.posted("C0ALPHA")[1]
    assert reply.thread_ts == first.platform_message_id
    assert reply.blocks[0]["text"]["text"].startswith("Update: Drill near")


async def test_digest_and_notice_are_sent_too(fake, sender):
    digest = OutboxMessage(id=5, dedupe_key="d", destination=Destination("slack", "C0BETA"), story_id=None,
                           subscription_id=3, kind="digest", briefs=(BRIEF, BRIEF), extra_count=4)
    notice = OutboxMessage(id=6, dedupe_key="n", destination=Destination("slack", "C0BETA"), story_id=None,
                           subscription_id=None, kind="notice", text="Subscription #3 paused: <reason> & more")
    assert isinstance(await sender.send(digest), Delivered)
    assert isinstance(await sender.send(notice), Delivered)
    d, n = fake.posted("C0BETA")
    assert d.blocks[-2]["elements"][0]["text"] == "…and 4 more stories"
    assert n.blocks[0]["text"]["text"] == "Subscription #3 paused: &lt;reason&gt; &amp; more"
    assert fake.lint == []


async def test_pacing_keeps_both_budgets_with_zero_429s(fake, sender):
    messages = [alert(ch, n, brief=dataclasses.replace(BRIEF, headline=f"Story {n}"))
                for n in range(8) for ch in ("C0ALPHA", "C0BETA", "C0GAMMA")]
    results = await asyncio.gather(*(sender.send(m) for m in messages))
    assert all(isinstance(r, Delivered) for r in results)
    assert fake.count_429 == 0 and len(fake.all_posted()) == 24
    for ch in ("C0ALPHA", "C0BETA", "C0GAMMA"):
        headlines = [p.blocks[0]["text"]["text"] for p in fake.posted(ch)]
        assert headlines == [f"Story {n}" for n in range(8)]          # FIFO per channel
        times = [p.at for p in fake.posted(ch)]
        assert all(b - a >= 0.09 for a, b in zip(times, times[1:]))    # ≤ 1 per interval per channel


async def test_without_pacing_the_fake_refuses(fake):
    """Control for the test above: the fake really enforces the budgets."""
    greedy = SlackSender(BOT_TOKEN, base_url=fake.api_url,
                         budget=SlackBudget(per_channel_interval_s=0, workspace_per_minute=10**7))
    try:
        results = await asyncio.gather(*(greedy.send(alert("C0ALPHA", n)) for n in range(6)))
    finally:
        await greedy.close()
    assert fake.count_429 > 0
    assert any(isinstance(r, RetryLater) for r in results)


async def test_429_holds_back_only_that_channel(fake, sender):
    fake.inject("chat.postMessage", Fault("ratelimited", retry_after=1), channel="C0ALPHA")
    assert await sender.send(alert("C0ALPHA")) == RetryLater(after_s=1.0, reason="Slack rate limit: retry in 1s")
    refused_at = fake.calls_to("chat.postMessage")[-1].at
    again, other = await asyncio.gather(sender.send(alert("C0ALPHA", 2)), sender.send(alert("C0BETA", 3)))
    assert isinstance(again, Delivered) and isinstance(other, Delivered)
    assert fake.posted("C0BETA")[0].at - refused_at < 0.5           # not held back
    assert fake.posted("C0ALPHA")[0].at - refused_at >= 0.95        # waited out Retry-After
    assert fake.count_429 == 1


@pytest.mark.parametrize("fault", [
    Fault("status", status=500), Fault("status", status=502), Fault("status", status=503),
    Fault("status", status=504), Fault("reset"), Fault("error", error="internal_error"),
    Fault("error", error="request_timeout"), Fault("error", error="service_unavailable"),
], ids=lambda f: f"{f.kind}-{f.status if f.kind == 'status' else f.error}")
async def test_transient_failures_come_back_with_backoff_then_succeed(fake, sender, fault):
    fake.inject("chat.postMessage", fault)
    result = await sender.send(alert("C0ALPHA", attempts=3))
    assert isinstance(result, RetryLater) and result.after_s == 16.0       # 2 s · 2³
    assert fake.posted("C0ALPHA") == []
    assert isinstance(await sender.send(alert("C0ALPHA", attempts=4)), Delivered)


async def test_ambiguous_failures_are_retried_and_may_duplicate(fake, sender):
    """Duplicate policy: fatal_error or a timeout after the write → RetryLater; at most one extra copy."""
    fake.inject("chat.postMessage", Fault("error", error="fatal_error", commit=True))
    first = await sender.send(alert("C0ALPHA"))
    assert isinstance(first, RetryLater) and "duplicate is possible" in first.reason
    fake.inject("chat.postMessage", Fault("slow", delay_s=1.0), channel="C0BETA")
    impatient = SlackSender(BOT_TOKEN, base_url=fake.api_url, budget=BUDGET, timeout_s=0.3)
    try:
        timed_out = await impatient.send(alert("C0BETA"))
    finally:
        await impatient.close()
    assert isinstance(timed_out, RetryLater) and "duplicate is possible" in timed_out.reason
    assert len(fake.posted("C0ALPHA")) == 1 and len(fake.posted("C0BETA")) == 1
    assert isinstance(await sender.send(alert("C0ALPHA")), Delivered)
    assert len(fake.posted("C0ALPHA")) == 2                          # the one possible duplicate


@pytest.mark.parametrize("setup, error", [
    (None, "channel_not_found"),
    ({"is_private": True, "bot_is_member": False}, "not_in_channel"),
    ({"is_archived": True}, "is_archived"),
    ({"read_only": True}, "restricted_action_read_only_channel"),
])
async def test_gone_channels_are_rejected_as_gone_without_retry(fake, sender, setup, error):
    if setup is not None:
        fake.add_channel("C0GONE", "gone", **setup)
    result = await sender.send(alert("C0GONE"))
    assert isinstance(result, Rejected) and result.destination_gone and result.reason.startswith(error)
    assert len(fake.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize("token", ["xoxb-account_inactive", "xoxb-token_revoked", "xoxb-invalid_auth"])
async def test_gone_tokens_are_rejected_as_gone(fake, token):
    s = SlackSender(token, base_url=fake.api_url, budget=BUDGET)
    try:
        result = await s.send(alert("C0ALPHA"))
    finally:
        await s.close()
    assert isinstance(result, Rejected) and result.destination_gone
    assert "SLACK_BOT_TOKEN" in result.reason


async def test_token_revoked_mid_run(fake, sender):
    assert isinstance(await sender.send(alert("C0ALPHA")), Delivered)
    fake.revoke(BOT_TOKEN)
    result = await sender.send(alert("C0BETA"))
    assert isinstance(result, Rejected) and result.destination_gone and result.reason.startswith("token_revoked")


async def test_refused_blocks_are_resent_once_as_plain_text(fake, sender):
    fake.blocks_text_limit = 100                     # the fake now refuses our (valid) blocks
    result = await sender.send(alert("C0ALPHA"))
    [posted] = fake.posted("C0ALPHA")
    assert result == Delivered(platform_message_id=posted.ts)
    assert posted.blocks is None and posted.text == render_slack(BRIEF, story_id=7, subscription_id=3).text
    assert [c.error for c in fake.calls_to("chat.postMessage")] == ["msg_blocks_too_long", None]


async def test_plain_text_refused_too_is_rejected_after_exactly_two_calls(fake, sender):
    fake.inject("chat.postMessage", Fault("error", error="invalid_blocks"), times=2)
    result = await sender.send(alert("C0ALPHA"))
    assert isinstance(result, Rejected) and not result.destination_gone
    assert len(fake.calls_to("chat.postMessage")) == 2


async def test_missing_scope_is_rejected_with_the_fix(fake):
    async with FakeSlack(scopes=DEFAULT_SCOPES - {"chat:write"}) as f:
        f.add_channel("C0ALPHA")
        s = SlackSender(BOT_TOKEN, base_url=f.api_url)
        try:
            result = await s.send(alert("C0ALPHA"))
        finally:
            await s.close()
    assert isinstance(result, Rejected) and not result.destination_gone
    assert "slack-app-manifest.yaml" in result.reason


async def test_wrong_platform_or_empty_row_is_rejected(sender):
    assert isinstance(await sender.send(alert("C0ALPHA", destination=Destination("telegram", "1"))), Rejected)
    assert isinstance(await sender.send(alert("C0ALPHA", brief=None)), Rejected)
