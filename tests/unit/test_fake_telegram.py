"""Conformance of the fake Bot API: its answers must match the reference facts
(../shared/reference/platform-limits.md §1, §5.1), or tests built on it prove nothing."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.support.fake_telegram import CONFLICT_POLL, CONFLICT_WEBHOOK, STALE_QUERY, TOKEN, FakeTelegram
from tests.support.telegram_html import HtmlParseError, parse_html, utf16_len


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def tg():
    async with FakeTelegram(conflict_delay_s=0.05) as fake:
        yield fake


async def call(http, tg, method, *, token=TOKEN, form=None, json_body=None, query=None):
    url = f"http://127.0.0.1:{tg.port}/bot{token}/{method}"
    async with http.post(url, data=form, json=json_body, params=query) as resp:
        text = await resp.text()
        body = json.loads(text) if resp.content_type == "application/json" else text
        return resp.status, body, resp.headers


async def send(http, tg, chat_id, text, **extra):
    return await call(http, tg, "sendMessage",
                      form={"chat_id": str(chat_id), "text": text, "parse_mode": "HTML", **extra})


# ---------------------------------------------------------------------- HTML parsing

HTML_ERRORS = [
    ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
    ("a < b", 'Unsupported start tag "" at byte offset 2'),
    ("é<</b>", 'Unsupported start tag "</b" at byte offset 2'),   # é is 2 bytes: UTF-8 offsets
    ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("<b>x</b", "Unclosed end tag at byte offset 4"),
    ("text <b", "Unclosed start tag at byte offset 5"),
    ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ("&#xD83D;", "Text contains invalid Unicode characters after decoding HTML entities, "
                 "check for unmatched surrogate code units"),
]


@pytest.mark.parametrize("text,detail", HTML_ERRORS)
async def test_bad_html_gets_telegrams_exact_error(http, tg, text, detail):
    status, body, _ = await send(http, tg, 42, text)
    assert status == 400
    assert body == {"ok": False, "error_code": 400,
                    "description": f"Bad Request: can't parse entities: {detail}"}
    assert tg.sent(42) == []


ENTITY_CASES = [
    ("&lt;b&gt; &amp; &quot;q&quot;", '<b> & "q"'),
    ("&#60;&#x3c;&#x27;", "<<'"),
    ("&amp no semicolon", "& no semicolon"),
    ("<B>upper</B> <strong>s</strong> <tg-spoiler>x</tg-spoiler>", "upper s x"),
    ('<a href="https://e.org/?a=1&amp;b=2">link</a>', "link"),
    ("<blockquote expandable>q</blockquote>", "q"),
]


@pytest.mark.parametrize("raw,visible", ENTITY_CASES)
def test_entities_and_tags_decode(raw, visible):
    assert parse_html(raw, strict=True).text == visible


@pytest.mark.parametrize("raw,offset", [("AT&T", 2), ("1 > 0", 2), ("&unknown;", 0)])
def test_bare_ampersand_and_gt_pass_in_real_mode_fail_in_strict_mode(raw, offset):
    assert parse_html(raw, strict=False).text == raw
    with pytest.raises(HtmlParseError) as err:
        parse_html(raw, strict=True)
    assert err.value.detail.endswith(f"at byte offset {offset}")


async def test_entities_come_back_in_utf16_units(http, tg):
    status, body, _ = await send(http, tg, 42, "😀😀 <b>bold</b> <a href=\"https://e.org\">x</a>")
    assert status == 200
    entities = body["result"]["entities"]
    assert entities == [{"type": "bold", "offset": 5, "length": 4},
                        {"type": "text_link", "offset": 10, "length": 1, "url": "https://e.org"}]
    assert utf16_len(body["result"]["text"]) == 11


async def test_links_with_unsafe_schemes_lose_their_entity(http, tg):
    status, body, _ = await send(http, tg, 42, '<a href="javascript:alert(1)">x</a>')
    assert status == 200 and "entities" not in body["result"]


# ---------------------------------------------------------------------- lengths

async def test_4096_emoji_pass_and_4097_fail(http, tg):
    status, _, _ = await send(http, tg, 42, "😀" * 4096)
    assert status == 200
    assert len(tg.sent(42)[0].text) == 4096
    status, body, _ = await send(http, tg, 43, "😀" * 4097)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")


async def test_length_counts_visible_text_not_tags(http, tg):
    status, _, _ = await send(http, tg, 42, "<b>" + "x" * 4096 + "</b>")
    assert status == 200


@pytest.mark.parametrize("text,description", [
    ("", "Bad Request: message text is empty"),
    ("<b> </b>\n", "Bad Request: text must be non-empty"),
    ("&amp;" * 6554, "Bad Request: text is too long"),     # 32 770 raw bytes
])
async def test_empty_and_oversized_text(http, tg, text, description):
    status, body, _ = await send(http, tg, 42, text)
    assert (status, body["description"]) == (400, description)


# ---------------------------------------------------------------------- flood control

async def test_429_shape_and_early_resend_refused_again(http):
    clock = Clock()
    async with FakeTelegram(clock=clock, chat_burst=1) as tg:
        assert (await send(http, tg, 42, "one"))[0] == 200
        status, body, headers = await send(http, tg, 42, "two")
        assert status == 429
        assert body == {"ok": False, "error_code": 429,
                        "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1}}
        assert "Retry-After" not in headers
        clock.now += 0.5
        assert (await send(http, tg, 42, "too early"))[0] == 429
        clock.now += 0.6
        assert (await send(http, tg, 42, "on time"))[0] == 200
        assert tg.count_429 == 2 and tg.count_429_by_chat[42] == 2
        assert [m.text for m in tg.sent(42)] == ["one", "on time"]


async def test_group_limit_is_20_per_minute(http):
    clock = Clock()
    async with FakeTelegram(clock=clock, group_burst=20, chat_burst=100, chat_rate=100) as tg:
        for _ in range(20):
            assert (await send(http, tg, -100, "m"))[0] == 200
        status, body, _ = await send(http, tg, -100, "m")
        assert status == 429 and body["parameters"]["retry_after"] == 3
        assert (await send(http, tg, 100, "a private chat is not held back"))[0] == 200


async def test_global_limit_is_30_per_second(http):
    clock = Clock()
    async with FakeTelegram(clock=clock) as tg:
        statuses = [(await send(http, tg, 1000 + i, "m"))[0] for i in range(31)]
        assert statuses.count(200) == 30 and statuses[-1] == 429
        clock.now += 0.04                  # one token back after 1/30 s
        assert (await send(http, tg, 2000, "m"))[0] == 200


# ---------------------------------------------------------------------- chat states

@pytest.mark.parametrize("chat_id,kind,state,status,description", [
    (42, "private", "blocked", 403, "Forbidden: bot was blocked by the user"),
    (42, "private", "deactivated", 403, "Forbidden: user is deactivated"),
    (42, "private", "not_found", 400, "Bad Request: chat not found"),
    (-5, "group", "kicked", 403, "Forbidden: bot was kicked from the group chat"),
    (-1001, "supergroup", "kicked", 403, "Forbidden: bot was kicked from the supergroup chat"),
    (-1002, "channel", "kicked", 403, "Forbidden: bot was kicked from the channel chat"),
    (-1003, "channel", "not_member", 403, "Forbidden: bot is not a member of the channel chat"),
])
async def test_chat_states(http, tg, chat_id, kind, state, status, description):
    tg.add_chat(chat_id, kind, state=state)
    got_status, body, _ = await send(http, tg, chat_id, "hello")
    assert (got_status, body["error_code"], body["description"]) == (status, status, description)


async def test_unknown_chat_when_chats_are_not_auto_created(http):
    async with FakeTelegram(auto_create_chats=False) as tg:
        status, body, _ = await send(http, tg, 77, "hello")
        assert (status, body["description"]) == (400, "Bad Request: chat not found")


async def test_migrated_group_names_its_new_id(http, tg):
    tg.migrate_chat(-5, -1000000000005)
    status, body, _ = await send(http, tg, -5, "hello")
    assert status == 400
    assert body["description"] == "Bad Request: group chat was upgraded to a supergroup chat"
    assert body["parameters"] == {"migrate_to_chat_id": -1000000000005}
    assert (await send(http, tg, -1000000000005, "hello"))[0] == 200


# ---------------------------------------------------------------------- transport and envelope

async def test_tokens_methods_and_parameter_encodings(http, tg):
    assert (await call(http, tg, "getMe", token="nonsense"))[:2] == (
        404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert (await call(http, tg, "getMe", token="1:" + "A" * 35))[1]["description"] == "Unauthorized"
    assert (await call(http, tg, "noSuchMethod"))[1]["description"] == "Not Found: method not found"
    assert (await call(http, tg, "GETME"))[1]["result"]["is_bot"] is True
    markup = {"inline_keyboard": [[{"text": "Mute", "callback_data": "m:1"}]]}
    status, body, _ = await call(http, tg, "sendmessage", query={"chat_id": "7", "text": "q"})
    assert status == 200 and body["result"]["text"] == "q"
    status, body, _ = await call(http, tg, "sendMessage",
                                 json_body={"chat_id": 7, "text": "j", "reply_markup": markup})
    assert body["result"]["reply_markup"] == markup
    status, body, _ = await call(http, tg, "sendMessage", form={
        "chat_id": "8", "text": "f", "reply_markup": json.dumps(markup)})
    assert tg.sent(8)[0].reply_markup == markup


async def test_callback_data_over_64_bytes_is_refused(http, tg):
    markup = {"inline_keyboard": [[{"text": "x", "callback_data": "é" * 33}]]}
    status, body, _ = await call(http, tg, "sendMessage",
                                 json_body={"chat_id": 7, "text": "t", "reply_markup": markup})
    assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")


async def test_edit_with_same_content_is_not_modified(http, tg):
    _, body, _ = await send(http, tg, 42, "<b>v1</b>")
    message_id = body["result"]["message_id"]
    edit = {"chat_id": "42", "message_id": str(message_id), "text": "<b>v1</b>", "parse_mode": "HTML"}
    status, body, _ = await call(http, tg, "editMessageText", form=edit)
    assert status == 400 and body["description"].startswith("Bad Request: message is not modified: ")
    status, _, _ = await call(http, tg, "editMessageText", form={**edit, "text": "<b>v2</b>"})
    assert status == 200 and tg.sent(42)[0].text == "v2" and tg.sent(42)[0].edits == 1


@pytest.mark.parametrize("kind", ["500", "502", "reset"])
async def test_faults_store_nothing(http, tg, kind):
    tg.inject(kind)
    if kind == "reset":
        with pytest.raises(aiohttp.ClientError):
            await send(http, tg, 42, "x")
    else:
        status, body, _ = await send(http, tg, 42, "x")
        assert status == int(kind)
        assert (body["ok"] is False) if kind == "500" else body.startswith("<html>")
    assert tg.sent(42) == []
    assert (await send(http, tg, 42, "after"))[0] == 200


async def test_slow_answer_still_stores_the_message(http, tg):
    tg.inject("slow", delay_s=1.0)
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(f"http://127.0.0.1:{tg.port}/bot{TOKEN}/sendMessage",
                             data={"chat_id": "42", "text": "x"},
                             timeout=aiohttp.ClientTimeout(total=0.2)):
            pass
    assert [m.text for m in tg.sent(42)] == ["x"]


# ---------------------------------------------------------------------- updates and webhooks

async def test_get_updates_offset_confirms(http, tg):
    first = tg.push_message(10, 10, "/start")
    tg.push_message(10, 10, "/help")
    _, body, _ = await call(http, tg, "getUpdates")
    assert [u["message"]["text"] for u in body["result"]] == ["/start", "/help"]
    assert body["result"][0]["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    _, body, _ = await call(http, tg, "getUpdates", form={"offset": str(first["update_id"] + 1)})
    assert [u["message"]["text"] for u in body["result"]] == ["/help"]


async def test_second_long_poll_terminates_the_first_with_409(http, tg):
    first = asyncio.create_task(call(http, tg, "getUpdates", form={"timeout": "5"}))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(call(http, tg, "getUpdates", form={"timeout": "5"}))
    status, body, _ = await asyncio.wait_for(first, 2)
    assert (status, body["description"]) == (409, CONFLICT_POLL)
    tg.push_message(10, 10, "/start")
    status, body, _ = await asyncio.wait_for(second, 2)
    assert status == 200 and body["result"][0]["message"]["text"] == "/start"


async def test_get_updates_refused_while_a_webhook_is_set(http, tg):
    assert (await call(http, tg, "setWebhook", form={"url": "https://e.org/h", "secret_token": "s_1"}))[0] == 200
    status, body, _ = await call(http, tg, "getUpdates")
    assert (status, body["description"]) == (409, CONFLICT_WEBHOOK)
    status, body, _ = await call(http, tg, "setWebhook", form={"url": "https://e.org/h",
                                                               "secret_token": "bad secret"})
    assert body["description"] == "Bad Request: secret token contains unallowed characters"


@pytest.mark.parametrize("commands,description", [
    ([{"command": "Start", "description": "x"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "x" * 33, "description": "x"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "ok", "description": ""}], "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID [fake]"),
    ([{"command": f"c{i}", "description": "x"} for i in range(101)],
     "Bad Request: too many commands specified [fake]"),
])
async def test_set_my_commands_validates(http, tg, commands, description):
    status, body, _ = await call(http, tg, "setMyCommands", form={"commands": json.dumps(commands)})
    assert (status, body["description"]) == (400, description)


async def test_stale_or_repeated_callback_answers_are_refused(http, tg):
    query_id = tg.push_callback(10, 10, "m:1")
    assert (await call(http, tg, "answerCallbackQuery", form={"callback_query_id": query_id}))[0] == 200
    status, body, _ = await call(http, tg, "answerCallbackQuery", form={"callback_query_id": query_id})
    assert (status, body["description"]) == (400, STALE_QUERY)
    old = tg.push_callback(10, 10, "m:2")
    tg.expire_callback(old)
    assert (await call(http, tg, "answerCallbackQuery", form={"callback_query_id": old}))[0] == 400


async def test_chat_member_roster(http, tg):
    tg.set_member(-5, 7, "administrator")
    _, body, _ = await call(http, tg, "getChatMember", form={"chat_id": "-5", "user_id": "7"})
    assert body["result"]["status"] == "administrator"
    _, body, _ = await call(http, tg, "getChatMember", form={"chat_id": "-5", "user_id": "8"})
    assert body["result"]["status"] == "left"
    _, body, _ = await call(http, tg, "getChatAdministrators", form={"chat_id": "-5"})
    assert [m["user"]["id"] for m in body["result"]] == [7]
