"""TelegramInbound with the real python-telegram-bot polling the strict fake Bot API.

Commands go through the real command router: the `command_router` fixture
(tests/conftest.py) builds `bot.chat.commands.Commands` over a fresh store.
Replies are checked in what the fake received, as a member would see them.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from bot.adapters.telegram import TelegramSettings
from bot.adapters.telegram_inbound import CONFLICT_HINT, SECRET_HEADER, TelegramInbound
from tests.support.fake_telegram import TOKEN, FakeTelegram, SentMessage

OPERATOR = 777
GROUP = -1001234500001
CHANNEL = -1001234500002


@pytest.fixture
async def tg():
    async with FakeTelegram(conflict_delay_s=0.05) as fake:
        yield fake


def settings(tg: FakeTelegram, **extra) -> TelegramSettings:
    return TelegramSettings(**{"token": TOKEN, "base_url": tg.base_url, "poll_timeout_s": 1,
                               "operator_ids": frozenset({str(OPERATOR)}), **extra})


@pytest.fixture
async def inbound(tg, command_router):
    receiver = TelegramInbound(settings(tg), command_router)
    await receiver.start()
    yield receiver
    await receiver.stop()


async def replies(tg: FakeTelegram, chat_id: int, count: int, timeout: float = 10.0) -> list[SentMessage]:
    """Wait until `count` messages reached the chat (groups get one every 3 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(tg.sent(chat_id)) < count and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return tg.sent(chat_id)


async def test_commands_are_registered_at_start(tg, inbound, command_router):
    assert tg.commands == [{"command": c, "description": d} for c, d in command_router.command_list()]


async def test_start_in_a_private_chat_gets_an_html_reply(tg, inbound):
    tg.push_message(10, 10, "/start")
    [reply] = await replies(tg, 10, 1)
    assert reply.parse_mode == "html" and len(reply.text) > 20
    assert reply.link_preview == {"is_disabled": True}


async def test_free_text_is_answered_in_private_and_ignored_in_groups(tg, inbound):
    tg.push_message(10, 10, "hello there")
    assert len(await replies(tg, 10, 1)) == 1
    tg.push_message(GROUP, 11, "just chatting", chat_type="supergroup")
    tg.push_message(GROUP, 11, "/help", chat_type="supergroup")
    await replies(tg, GROUP, 1)
    await asyncio.sleep(0.3)
    assert len(tg.sent(GROUP)) == 1


async def test_only_group_admins_change_subscriptions(tg, inbound):
    tg.add_chat(GROUP, "supergroup")
    tg.set_member(GROUP, 1, "administrator")
    tg.push_message(GROUP, 2, "/subscribe Zebra")                 # a plain member
    await replies(tg, GROUP, 1)
    tg.push_message(GROUP, 1, "/subscribe Tajikistan")            # an admin
    tg.push_message(GROUP, 1, "/list")
    listing = (await replies(tg, GROUP, 3))[2].text
    assert "Tajikistan" in listing and "Zebra" not in listing
    assert len(tg.calls("getChatMember")) == 2                    # cached per user


async def test_channel_posts_come_from_its_admins(tg, inbound):
    tg.add_chat(CHANNEL, "channel")
    tg.push_message(CHANNEL, 0, "/subscribe Taliban")
    tg.push_message(CHANNEL, 0, "/list")
    assert "Taliban" in (await replies(tg, CHANNEL, 2))[1].text
    assert tg.calls("getChatMember") == []


async def test_commands_for_another_bot_are_ignored(tg, inbound):
    tg.push_message(GROUP, 11, "/help@someotherbot", chat_type="supergroup")
    tg.push_message(GROUP, 11, "/help@newsbot_test_bot", chat_type="supergroup")
    await replies(tg, GROUP, 1)
    await asyncio.sleep(0.3)
    assert len(tg.sent(GROUP)) == 1


async def test_operators_see_operator_commands(tg, inbound):
    tg.push_message(OPERATOR, OPERATOR, "/help")
    tg.push_message(10, 10, "/help")
    operator_help, member_help = (await replies(tg, OPERATOR, 1))[0], (await replies(tg, 10, 1))[0]
    assert "/status" in operator_help.text and "/status" not in member_help.text


async def test_button_presses_are_answered(tg, inbound):
    query_id = tg.push_callback(10, 10, "m:5")
    junk_id = tg.push_callback(10, 10, "no-such-button")
    for _ in range(100):
        if len(tg.callback_answers) == 2:
            break
        await asyncio.sleep(0.05)
    answers = {a["callback_query_id"]: a.get("text") for a in tg.callback_answers}
    assert set(answers) == {query_id, junk_id}
    assert answers[junk_id] == "This button no longer works."


async def test_stale_button_press_is_quiet(tg, inbound):
    stale = tg.push_callback(10, 10, "m:5")
    tg.expire_callback(stale)
    with capture_logs() as logs:
        tg.push_message(10, 10, "/help")
        await replies(tg, 10, 1)
    events = [e["event"] for e in logs]
    assert "telegram_callback_stale" in events and "telegram_update_failed" not in events
    assert tg.callback_answers == []


@pytest.mark.parametrize("text", ["/", "/" + "x" * 5000, "/subscribe " + "<b>" * 200,
                                  "\u202e/evil", "/subscribe (((", "/subscribe \x00\ud800",
                                  "/mode digest daily 99:99", "/quiet nonsense"])
async def test_hostile_input_never_crashes_a_handler(tg, inbound, text):
    with capture_logs() as logs:
        tg.push_message(10, 10, text)
        tg.push_message(10, 10, "/help")
        got = await replies(tg, 10, 2)
    assert len(got) == 2
    assert not [e for e in logs if e["log_level"] in ("error", "critical")]


async def test_second_poller_stops_with_a_clear_error_not_a_crash_loop(tg, inbound, command_router):
    second = TelegramInbound(settings(tg), command_router)
    with capture_logs() as logs:
        await second.start()
        await asyncio.wait_for(inbound.conflict_detected.wait(), 5)
    try:
        assert CONFLICT_HINT in (inbound.conflict or "") and second.conflict is None
        assert [e["event"] for e in logs].count("telegram_polling_conflict") == 1
        polls = len(tg.calls("getUpdates"))
        tg.push_message(10, 10, "/help")
        assert len(await replies(tg, 10, 1)) == 1                 # the other instance answers
        await asyncio.sleep(1.5)
        survivors = len(tg.calls("getUpdates")) - polls
        assert survivors <= 3 and tg.conflicts == 1               # no tug of war
    finally:
        await second.stop()


async def test_webhook_mode_checks_the_secret_on_every_request(tg, command_router):
    app = web.Application()
    runner = web.AppRunner(app)
    receiver: TelegramInbound | None = None

    async def handler(request: web.Request) -> web.Response:
        assert receiver is not None
        return await receiver.webhook_handler(request)

    app.router.add_post("/telegram", handler)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/telegram"
    receiver = TelegramInbound(settings(tg, webhook_url=url, webhook_secret="s3cret_-x"),
                               command_router)
    try:
        await receiver.start()
        assert tg.webhook == {"url": url, "secret_token": "s3cret_-x"}
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {SECRET_HEADER: "wrong"}):
                async with http.post(url, json={"update_id": 1}, headers=headers) as resp:
                    assert resp.status == 403
        tg.push_message(10, 10, "/help")
        assert await tg.deliver_webhook(secret="nope") == [403]
        assert await tg.deliver_webhook() == [200]
        assert len(await replies(tg, 10, 1)) == 1
        assert tg.calls("getUpdates") == []
    finally:
        await receiver.stop()
        await runner.cleanup()
