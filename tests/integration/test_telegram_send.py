"""TelegramSender through the real python-telegram-bot, against the strict fake Bot API."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from structlog.testing import capture_logs
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.adapters.telegram import TelegramPacer, TelegramSettings
from bot.adapters.telegram_send import TelegramSender, classify_error
from bot.errors import ConfigError
from bot.types import Brief, Delivered, Destination, OutboxMessage, Rejected, RetryLater, SourceRef
from tests.support.fake_telegram import TOKEN, FakeTelegram

LINK = "https://news.example/drills?id=7&lang=en"
BRIEF = Brief(
    headline="Drills begin near the border <live> & more",
    lede="Two armies started a week of exercises.",
    why_it_matters=("Neighbours fear armed groups crossing.",),
    go_deeper=("Over 300 troops take part.",),
    zoom_out=(("Consulate reopens", "https://news.example/consulate"),),
    sources=(SourceRef("Example Wire", "t", LINK, None),),
    link=LINK,
)


def outbox(chat: int | str, n: int = 1, *, kind: str = "alert", brief: Brief | None = BRIEF,
           story_id: int | None = None, **extra) -> OutboxMessage:
    return OutboxMessage(id=n, dedupe_key=f"k{n}", destination=Destination("telegram", str(chat)),
                         story_id=story_id or 70 + n, subscription_id=9, kind=kind, brief=brief,
                         **extra)


@pytest.fixture
async def tg():
    async with FakeTelegram() as fake:
        yield fake


def settings(tg: FakeTelegram, **extra) -> TelegramSettings:
    return TelegramSettings(**{"token": TOKEN, "base_url": tg.base_url, "read_timeout_s": 2.0,
                               **extra})


@pytest.fixture
async def sender(tg):
    async with TelegramSender(settings(tg)) as s:
        yield s


def request_times(tg: FakeTelegram, chat_id: int) -> list[float]:
    return [at for at, p in tg.calls("sendMessage") if str(p.get("chat_id")) == str(chat_id)]


# ---------------------------------------------------------------------- the happy path

async def test_alert_arrives_as_valid_html_with_buttons_and_no_preview(tg, sender):
    result = await sender.send(outbox(42, 1))
    [message] = tg.sent(42)
    assert result == Delivered(str(message.message_id))
    assert message.parse_mode == "html"
    assert message.text.startswith("Drills begin near the border <live> & more\n")
    assert "Why it matters: Neighbours fear" in message.text
    assert any(e.type == "text_link" and e.url == LINK for e in message.entities)
    assert message.reply_markup == {"inline_keyboard": [[
        {"text": "🔕 Mute story", "callback_data": "m:71"},
        {"text": "Unsubscribe", "callback_data": "u:9"}]]}
    assert message.link_preview == {"is_disabled": True}


async def test_link_preview_when_configured(tg):
    async with TelegramSender(settings(tg, link_preview=True)) as s:
        await s.send(outbox(42))
    assert tg.sent(42)[0].link_preview == {"url": LINK}


async def test_long_brief_is_trimmed_and_accepted(tg, sender):
    huge = Brief(headline="Headline " + "h" * 9000, lede="lede " * 3000,
                 why_it_matters=("Why " * 3000,), go_deeper=("deeper " * 500,) * 30,
                 zoom_out=(("zoom " * 300, LINK),) * 30, link=LINK)
    assert isinstance(await sender.send(outbox(42, brief=huge)), Delivered)
    [message] = tg.sent(42)
    assert len(message.text) <= 4096
    assert message.text.startswith("Headline hhh") and "Why it matters: Why Why" in message.text
    assert any(e.type == "text_link" and e.url == LINK for e in message.entities)


async def test_digest_and_notice(tg, sender):
    digest = outbox(42, 2, kind="digest", brief=None, briefs=(BRIEF, BRIEF), extra_count=3,
                    text="Central Asia — morning digest")
    assert isinstance(await sender.send(digest), Delivered)
    notice = outbox(43, 3, kind="notice", brief=None, text="Paused: <feeds> & co")
    assert isinstance(await sender.send(notice), Delivered)
    assert tg.sent(42)[0].text.startswith("Central Asia — morning digest")
    assert tg.sent(42)[0].text.endswith("…and 3 more stories")
    assert tg.sent(43)[0].text == "Paused: <feeds> & co"


@pytest.mark.parametrize("mode", ["edit", "reply"])
async def test_story_update_edits_or_replies_to_the_alert(tg, mode):
    async with TelegramSender(settings(tg, update_mode=mode)) as s:
        first = await s.send(outbox(42, 1))
        update = Brief(**{**{f: getattr(BRIEF, f) for f in BRIEF.__slots__}, "is_update": True,
                          "lede": "Now a second week."})
        second = await s.send(outbox(42, 2, kind="update", brief=update, story_id=71,
                                     reply_to=first.platform_message_id))
        again = await s.send(outbox(42, 3, kind="update", brief=update, story_id=71,
                                    reply_to=first.platform_message_id))
    messages = tg.sent(42)
    if mode == "edit":
        assert second == again == first           # "not modified" the second time: still delivered
        assert len(messages) == 1 and messages[0].edits == 1
        assert messages[0].text.startswith("Update: Drills begin")
    else:
        assert [m.reply_to for m in messages] == [None, int(first.platform_message_id),
                                                  int(first.platform_message_id)]


async def test_update_of_a_vanished_message_is_sent_anew(tg, sender):
    result = await sender.send(outbox(42, 1, kind="update", reply_to="999"))
    assert isinstance(result, Delivered) and len(tg.sent(42)) == 1


# ---------------------------------------------------------------------- limits

async def test_pacing_gives_zero_429s_and_keeps_per_chat_limits(tg, sender):
    batch = [outbox(1000 + i, i) for i in range(40)]                       # 40 chats at once
    batch += [outbox(42, 100 + i) for i in range(3)]                       # one private chat
    batch += [outbox(-1001234567890, 200 + i) for i in range(2)]           # one group
    results = await asyncio.gather(*(sender.send(m) for m in batch))
    assert all(isinstance(r, Delivered) for r in results)
    assert tg.count_429 == 0
    private, group = request_times(tg, 42), request_times(tg, -1001234567890)
    # times are when the fake received each request: allow 0.2 s of arrival jitter
    assert min(b - a for a, b in zip(private, private[1:])) >= 0.8          # 1 per second
    assert group[1] - group[0] >= 2.8                                       # 20 per minute
    starts = sorted(at for at, _ in tg.calls("sendMessage"))
    assert all(b - a >= 0.8 for a, b in zip(starts, starts[30:]))           # ≤ 30 per second


async def test_the_fake_would_catch_an_unpaced_sender(tg):
    reckless = TelegramPacer(messages_per_second=1e9, chat_interval_s=0, group_interval_s=0)
    async with TelegramSender(settings(tg), pacer=reckless) as s:
        results = await asyncio.gather(*(s.send(outbox(1000 + i, i)) for i in range(45)))
    assert tg.count_429 > 0
    assert sum(isinstance(r, RetryLater) for r in results) == tg.count_429


async def test_429_delays_only_that_chat_and_is_retried_after_retry_after(tg, sender):
    tg.inject("429", chat_id=42, retry_after=1)
    result = await sender.send(outbox(42, 1))
    assert result == RetryLater(1.0, "Telegram flood control: retry after 1s")
    started = time.monotonic()
    assert isinstance(await sender.send(outbox(43, 2)), Delivered)
    assert time.monotonic() - started < 0.5                      # another chat is not held back
    assert isinstance(await sender.send(outbox(42, 3)), Delivered)   # waits out retry_after
    first, second = request_times(tg, 42)
    assert second - first >= 1.0
    assert tg.count_429 == 1                                      # never resent too early


async def test_a_long_flood_wait_returns_without_blocking(tg, sender):
    tg.inject("429", chat_id=42, retry_after=120)
    assert (await sender.send(outbox(42, 1))).after_s == 120
    later = await sender.send(outbox(42, 2))
    assert isinstance(later, RetryLater) and 115 < later.after_s <= 120
    assert len(request_times(tg, 42)) == 1                        # no request while it waits


# ---------------------------------------------------------------------- failures

@pytest.mark.parametrize("fault", ["500", "502", "reset"])
async def test_server_and_network_errors_are_retried_with_backoff(tg, sender, fault):
    tg.inject(fault)
    result = await sender.send(outbox(42, 1, attempts=2))
    assert isinstance(result, RetryLater) and result.after_s == 20
    assert tg.sent(42) == []
    assert isinstance(await sender.send(outbox(42, 1, attempts=3)), Delivered)
    assert len(tg.sent(42)) == 1


async def test_timeout_after_sending_may_duplicate_at_most_once(tg):
    tg.inject("slow", delay_s=1.0)
    async with TelegramSender(settings(tg, read_timeout_s=0.3)) as s:
        result = await s.send(outbox(42, 1))
        assert isinstance(result, RetryLater) and "may have been delivered" in result.reason
        assert len(tg.sent(42)) == 1                              # Telegram did store it
        assert isinstance(await s.send(outbox(42, 1, attempts=1)), Delivered)
    assert len(tg.sent(42)) == 2                                  # the documented ≤ 1 duplicate


@pytest.mark.parametrize("chat_id,kind,state", [
    (42, "private", "blocked"),
    (42, "private", "deactivated"),
    (42, "private", "not_found"),
    (-5, "group", "kicked"),
    (-1001, "channel", "not_member"),
])
async def test_gone_destinations_are_rejected_without_retry(tg, sender, chat_id, kind, state):
    tg.add_chat(chat_id, kind, state=state)
    result = await sender.send(outbox(chat_id))
    assert isinstance(result, Rejected) and result.destination_gone and result.migrate_to is None
    assert len(request_times(tg, chat_id)) == 1 and tg.sent(chat_id) == []


async def test_migrated_group_names_the_new_chat(tg, sender):
    tg.migrate_chat(-5, -1000000000005)
    result = await sender.send(outbox(-5))
    assert isinstance(result, Rejected) and result.migrate_to == "-1000000000005"
    assert not result.destination_gone
    assert isinstance(await sender.send(outbox("-1000000000005")), Delivered)


async def test_bad_markup_is_resent_once_as_plain_text_and_logged(tg, sender):
    tg.inject("bad_markup", times=5)
    with capture_logs() as logs:
        result = await sender.send(outbox(42))
    assert isinstance(result, Delivered)
    assert len(request_times(tg, 42)) == 2
    [message] = tg.sent(42)
    assert message.parse_mode is None and message.text.startswith("Drills begin near the border")
    assert f"Read the story ({LINK})" in message.text
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["telegram_markup_rejected"]


async def test_too_long_is_rerendered_shorter_once(tg, sender):
    tg.inject("too_long")
    big = Brief(headline="Big", lede="x " * 2000, why_it_matters=("Why.",),
                go_deeper=("deep " * 100,) * 10, link=LINK)
    assert isinstance(await sender.send(outbox(42, brief=big)), Delivered)
    first, second = [p["text"] for _, p in tg.calls("sendMessage")]
    assert len(tg.sent(42)[0].text) <= 3000 < len(first)


async def test_other_bad_requests_are_rejected(tg, sender):
    result = await sender.send(outbox("not-a-chat"))
    assert isinstance(result, Rejected) and result.destination_gone
    assert tg.calls("sendMessage") == []
    empty = await sender.send(outbox(42, kind="notice", brief=None))
    assert isinstance(empty, Rejected) and not empty.destination_gone


async def test_bad_token_is_a_config_error(tg):
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        async with TelegramSender(TelegramSettings(token="1:" + "B" * 35, base_url=tg.base_url)):
            pass
    with pytest.raises(ConfigError, match="BotFather"):
        TelegramSettings(token="")


def timed_out(cause: Exception) -> TimedOut:
    try:
        raise TimedOut() from cause
    except TimedOut as exc:
        return exc


@pytest.mark.parametrize("error,expected", [
    (RetryAfter(7), RetryLater(7.0, "Telegram flood control: retry after 7s")),
    (ChatMigrated(-1009), Rejected("group was upgraded to supergroup -1009", migrate_to="-1009")),
    (Forbidden("Forbidden: bot was blocked by the user"),
     Rejected("Telegram refused the chat: Forbidden: bot was blocked by the user", True)),
    (BadRequest("Bad Request: chat not found"),
     Rejected("Telegram refused the chat: Chat not found", True)),
    (BadRequest("Bad Request: wrong parameter"), Rejected("Telegram refused the message: Wrong parameter")),
    (NetworkError("Bad Gateway (502)"), RetryLater(10.0, "Telegram unreachable or failing: Bad Gateway (502)")),
    (timed_out(httpx.ConnectTimeout("x")), RetryLater(5.0, "timed out before sending; not sent")),
    (timed_out(httpx.ReadTimeout("x")),
     RetryLater(10.0, "timed out waiting for Telegram; the message may have been delivered")),
])
def test_error_mapping_table(error, expected):
    assert classify_error(error, attempts=1) == expected


async def test_keyword_construction_starts_lazily_and_shares_the_tokens_limits(tg):
    first = TelegramSender(token=TOKEN, base_url=f"http://127.0.0.1:{tg.port}", link_preview=False)
    second = TelegramSender(token=TOKEN, base_url=tg.base_url)
    try:
        assert first.pacer is second.pacer
        assert isinstance(await first.send(outbox(42, 1)), Delivered)     # no start() needed
        assert isinstance(await second.send(outbox(42, 2)), Delivered)
    finally:
        await first.close()
        await second.close()
    one, two = request_times(tg, 42)
    assert two - one >= 0.8 and tg.count_429 == 0
