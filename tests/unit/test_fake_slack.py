"""The fake Slack server holds clients to Slack's documented rules (platform-limits.md §2, §5.2).

Raw aiohttp requests check the wire format; slack_sdk's AsyncWebClient checks
that the real client and the fake understand each other.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.support import slack_requests as sr
from tests.support.fake_slack import APP_TOKEN, BOT_TOKEN, DEFAULT_SCOPES, FakeSlack, Fault, RateLimits
from tests.support.slack_mrkdwn import lint_mrkdwn, tokens

ROOT = Path(__file__).resolve().parents[2]


class ManualClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def fake(clock):
    limits = RateLimits(channel_interval_s=1.0, channel_burst=2, workspace_per_s=4, workspace_burst=3)
    async with FakeSlack(clock=clock, limits=limits, ack_timeout_s=0.3) as f:
        f.add_channel("C0GENERAL", "general")
        f.add_channel("C0OTHER", "other")
        f.add_channel("C0THIRD", "third")
        f.add_user("U0MEMBER", channels=("C0GENERAL",))
        yield f


async def call(fake: FakeSlack, method: str, *, json_body: dict | None = None, data: bytes | str | None = None,
               content_type: str | None = None, token: str | None = BOT_TOKEN,
               timeout: float = 5.0) -> tuple[int, dict, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if json_body is not None:
        data, content_type = json.dumps(json_body), content_type or "application/json; charset=utf-8"
    if content_type:
        headers["Content-Type"] = content_type
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
        body = data.encode() if isinstance(data, str) else data
        async with s.post(f"{fake.api_url}{method}", data=body, headers=headers,
                          skip_auto_headers=["Content-Type"]) as r:
            return r.status, await r.json(content_type=None), dict(r.headers)


def post(channel: str = "C0GENERAL", **kw) -> dict:
    return {"channel": channel, "text": "hello", **kw}


# --------------------------------------------------------------------------- auth and envelope


@pytest.mark.parametrize("token, error", [
    (None, "not_authed"),
    ("xoxb-wrong", "invalid_auth"),
    ("xoxb-account_inactive", "account_inactive"),
    ("xoxb-token_revoked", "token_revoked"),
    (APP_TOKEN, "not_allowed_token_type"),
])
async def test_auth_errors_are_http_200_ok_false(fake, token, error):
    status, body, _ = await call(fake, "chat.postMessage", json_body=post(), token=token)
    assert (status, body) == (200, {"ok": False, "error": error})
    assert fake.posted("C0GENERAL") == []


async def test_token_in_a_form_field_is_accepted_and_revocation_applies_mid_run(fake):
    form = sr.form_body({"token": BOT_TOKEN, "channel": "C0GENERAL", "text": "via form"})
    status, body, _ = await call(fake, "chat.postMessage", data=form, token=None,
                                 content_type="application/x-www-form-urlencoded")
    assert body["ok"] is True and fake.posted("C0GENERAL")[0].text == "via form"
    fake.revoke(BOT_TOKEN)
    _, body, _ = await call(fake, "auth.test", data="", token=BOT_TOKEN)
    assert body == {"ok": False, "error": "token_revoked"}


async def test_missing_scope_names_what_is_needed(clock):
    async with FakeSlack(clock=clock, scopes=DEFAULT_SCOPES - {"users:read"}) as f:
        f.add_user("U1")
        _, body, _ = await call(f, "users.info", json_body={"user": "U1"})
    assert body["error"] == "missing_scope" and body["needed"] == "users:read"


@pytest.mark.parametrize("data, content_type, error", [
    ('{"channel": "C0GENERAL", "text": "x"}', "application/json; charset=iso-8859-1", "invalid_charset"),
    ("channel=C0GENERAL&text=x", "text/plain", "invalid_post_type"),
    ("channel=C0GENERAL&text=x", None, "missing_post_type"),
    ("{not json", "application/json", "invalid_json"),
])
async def test_post_types(fake, data, content_type, error):
    _, body, _ = await call(fake, "chat.postMessage", data=data, content_type=content_type)
    assert body == {"ok": False, "error": error}


async def test_post_message_reply_shape_and_journal(fake):
    status, body, _ = await call(fake, "chat.postMessage", json_body=post(text="hi", thread_ts="1.000001"))
    assert status == 200 and body["ok"] and body["channel"] == "C0GENERAL"
    assert body["message"]["ts"] == body["ts"] and body["message"]["thread_ts"] == "1.000001"
    [posted] = fake.posted("C0GENERAL")
    assert (posted.ts, posted.text, posted.thread_ts) == (body["ts"], "hi", "1.000001")


async def test_real_client_round_trip_and_error_as_exception(fake):
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url, retry_handlers=[])
    assert (await client.auth_test())["bot_id"] == "BBOT"
    blocks = json.dumps([{"type": "section", "text": {"type": "mrkdwn", "text": "form blocks"}}])
    await client.api_call("chat.postMessage", data={"channel": "C0OTHER", "text": "t", "blocks": blocks})
    assert fake.posted("C0OTHER")[0].blocks[0]["text"]["text"] == "form blocks"
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C0NOPE", text="x")
    assert err.value.response.status_code == 200 and err.value.response["error"] == "channel_not_found"


# --------------------------------------------------------------------------- content


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.mark.parametrize("blocks, error", [
    ([section("x")] * 51, "invalid_blocks"),
    ([section("x" * 3001)], "invalid_blocks"),
    ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "invalid_blocks"),
    ([{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}], "invalid_blocks"),
    ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "invalid_blocks"),
    ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "invalid_blocks"),
    ([{"type": "actions", "elements": [{"type": "button", "action_id": "a",
                                        "text": {"type": "plain_text", "text": "b"}}] * 2}], "invalid_blocks"),
    ([section("")], "invalid_blocks"),
    ([section("y" * 2900)] * 5, "msg_blocks_too_long"),
    ([section("x" * 3000)] + [section("y" * 2900)] * 3, None),
])
async def test_block_kit_limits(fake, blocks, error):
    _, body, _ = await call(fake, "chat.postMessage", json_body=post(blocks=blocks))
    assert body.get("error") == error
    assert len(fake.posted("C0GENERAL")) == (0 if error else 1)


async def test_no_text_and_long_text(fake, clock):
    _, body, _ = await call(fake, "chat.postMessage", json_body={"channel": "C0GENERAL"})
    assert body["error"] == "no_text"
    _, body, _ = await call(fake, "chat.postMessage", json_body=post(text="z" * 40_500))
    assert body["ok"] and len(fake.posted("C0GENERAL")[0].text) == 40_000
    fake.long_text = "reject"
    clock.advance(5)
    _, body, _ = await call(fake, "chat.postMessage", json_body=post(text="z" * 40_001))
    assert body["error"] == "msg_too_long"


@pytest.mark.parametrize("text, ok", [
    ("plain words", True),
    ("AT&amp;T &lt;tag&gt;", True),
    ("<https://a.example/x?a=1&amp;b=2|label>", True),
    ("<@U0MEMBER> and <#C0GENERAL|general> and <!here>", True),
    ("<!date^1714572120^{date_short_pretty}|2024-05-01>", True),
    ("AT&T", False),
    ("a < b", False),
    ("quote >", False),
    ("<https://a.example/x?a=1&b=2|label>", False),
    ("<javascript:alert(1)|x>", False),
])
def test_mrkdwn_lint_table(text, ok):
    assert (lint_mrkdwn(text) == []) is ok


async def test_lint_journal_records_raw_control_characters(fake):
    await call(fake, "chat.postMessage", json_body=post(text="AT&T <b>", blocks=[section("fine &amp; dandy")]))
    assert [(i.channel, i.where) for i in fake.lint] == [("C0GENERAL", "/text")]
    assert tokens("x <https://a.example|y> <@U1>")[0].kind == "link"


# --------------------------------------------------------------------------- channel states


@pytest.mark.parametrize("setup, error", [
    ({}, None),
    ({"bot_is_member": False}, None),                          # public + chat:write.public
    ({"bot_is_member": False, "is_private": True}, "not_in_channel"),
    ({"is_archived": True}, "is_archived"),
    ({"read_only": True}, "restricted_action_read_only_channel"),
])
async def test_channel_states(fake, setup, error):
    fake.add_channel("C0STATE", "state", **setup)
    _, body, _ = await call(fake, "chat.postMessage", json_body=post("C0STATE"))
    assert body.get("error") == error


async def test_public_channel_needs_membership_without_chat_write_public(clock):
    async with FakeSlack(clock=clock, scopes=DEFAULT_SCOPES - {"chat:write.public"}) as f:
        f.add_channel("C0PUB", "pub", bot_is_member=False)
        _, body, _ = await call(f, "chat.postMessage", json_body=post("C0PUB"))
        assert body["error"] == "not_in_channel"
        _, body, _ = await call(f, "conversations.join", json_body={"channel": "C0PUB"})
        assert body["ok"] and body["channel"]["is_member"]
        _, body, _ = await call(f, "chat.postMessage", json_body=post("C0PUB"))
        assert body["ok"]


# --------------------------------------------------------------------------- rate limits


async def test_per_channel_limit_429_retry_after_and_early_retry_refused(fake, clock):
    results = [await call(fake, "chat.postMessage", json_body=post()) for _ in range(3)]
    assert [r[0] for r in results] == [200, 200, 429]              # burst of 2, then refused
    status, body, headers = results[2]
    assert body == {"ok": False, "error": "ratelimited"} and headers["Retry-After"] == "1"
    _, body, _ = await call(fake, "chat.postMessage", json_body=post("C0OTHER"))
    assert body["ok"]                                               # other channels unaffected
    clock.advance(0.5)
    assert (await call(fake, "chat.postMessage", json_body=post()))[0] == 429   # before Retry-After
    clock.advance(0.6)
    assert (await call(fake, "chat.postMessage", json_body=post()))[0] == 200
    assert fake.count_429 == 2 and len(fake.posted("C0GENERAL")) == 3


async def test_workspace_budget_spans_channels(fake, clock):
    statuses = []
    for ch in ("C0GENERAL", "C0OTHER", "C0THIRD", "C0GENERAL"):
        statuses.append((await call(fake, "chat.postMessage", json_body=post(ch)))[0])
    assert statuses == [200, 200, 200, 429]                         # workspace burst of 3
    clock.advance(1.0)
    assert (await call(fake, "chat.postMessage", json_body=post("C0OTHER")))[0] == 200


async def test_real_client_sees_429_as_error_with_header(fake):
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url, retry_handlers=[])
    fake.inject("chat.postMessage", Fault("ratelimited", retry_after=7))
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C0GENERAL", text="x")
    assert err.value.response.status_code == 429 and err.value.response.headers["Retry-After"] == "7"


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_http_status_faults(fake, status):
    fake.inject("chat.postMessage", Fault("status", status=status))
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C0GENERAL", text="x")
    assert err.value.response.status_code == status
    assert fake.posted("C0GENERAL") == []
    await client.chat_postMessage(channel="C0OTHER", text="next call is normal")


async def test_fatal_error_after_the_write(fake):
    fake.inject("chat.postMessage", Fault("error", error="fatal_error", commit=True))
    _, body, _ = await call(fake, "chat.postMessage", json_body=post())
    assert body == {"ok": False, "error": "fatal_error"}
    assert len(fake.posted("C0GENERAL")) == 1                       # it happened anyway


async def test_connection_reset_and_slow_reply(fake):
    fake.inject("chat.postMessage", Fault("reset", commit=True), channel="C0GENERAL")
    with pytest.raises(aiohttp.ClientError):
        await call(fake, "chat.postMessage", json_body=post())
    assert len(fake.posted("C0GENERAL")) == 1
    fake.inject("chat.postMessage", Fault("slow", delay_s=0.3))
    start = time.monotonic()
    _, body, _ = await call(fake, "chat.postMessage", json_body=post("C0OTHER"))
    assert body["ok"] and time.monotonic() - start >= 0.3


# --------------------------------------------------------------------------- other methods


async def test_update_ephemeral_home_and_lookups(fake):
    fake.add_user("U0BOSS", is_admin=True, channels=("C0GENERAL", "C0OTHER"))
    _, sent, _ = await call(fake, "chat.postMessage", json_body=post(text="v1"))
    _, body, _ = await call(fake, "chat.update", json_body={"channel": "C0GENERAL", "ts": sent["ts"], "text": "v2"})
    assert body["ok"] and fake.posted("C0GENERAL")[0].text == "v2"
    _, body, _ = await call(fake, "chat.update", json_body={"channel": "C0GENERAL", "ts": "9.9", "text": "v"})
    assert body["error"] == "message_not_found"
    _, body, _ = await call(fake, "chat.postEphemeral", json_body={"channel": "C0OTHER", "user": "U0MEMBER",
                                                                   "text": "psst"})
    assert body["error"] == "user_not_in_channel"
    _, body, _ = await call(fake, "chat.postEphemeral", json_body={"channel": "C0GENERAL", "user": "U0MEMBER",
                                                                   "text": "psst"})
    assert body["ok"] and fake.ephemerals[0].user == "U0MEMBER"
    _, body, _ = await call(fake, "views.publish", json_body={"user_id": "U0MEMBER", "view": {
        "type": "home", "blocks": [section("x")] * 101}})
    assert body["error"] == "invalid_arguments"
    _, body, _ = await call(fake, "views.publish", json_body={"user_id": "U0MEMBER", "view": {
        "type": "home", "blocks": [section("x")] * 100}})
    assert body["ok"] and len(fake.home_views["U0MEMBER"]) == 1
    _, body, _ = await call(fake, "users.info", json_body={"user": "U0BOSS"})
    assert body["user"]["is_admin"] is True
    _, body, _ = await call(fake, "users.conversations", json_body={"user": "U0BOSS", "limit": 1})
    assert [c["id"] for c in body["channels"]] == ["C0GENERAL"] and body["response_metadata"]["next_cursor"]
    _, body, _ = await call(fake, "conversations.info", json_body={"channel": "C0OTHER"})
    assert body["channel"]["name"] == "other"


async def test_response_url_takes_five_posts(fake):
    url = fake.new_response_url()
    statuses = []
    async with aiohttp.ClientSession() as s:
        for i in range(6):
            async with s.post(url, json={"text": f"reply {i}", "response_type": "ephemeral"}) as r:
                statuses.append(r.status)
    assert statuses == [200] * 5 + [404]
    assert [r["text"] for r in fake.responses_to(url)] == [f"reply {i}" for i in range(5)]


# --------------------------------------------------------------------------- Socket Mode


async def test_socket_mode_hello_envelope_ack_and_redelivery(fake):
    _, body, _ = await call(fake, "apps.connections.open", data="", token=APP_TOKEN)
    url = body["url"]
    assert url.startswith("ws://127.0.0.1:")
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url) as ws:
            assert (await ws.receive_json(timeout=2))["type"] == "hello"
            first = await fake.socket.push("slash_commands", sr.slash_command("help"), accepts_response_payload=True)
            env = await ws.receive_json(timeout=2)
            assert (env["envelope_id"], env["type"], env["payload"]["text"]) == (first, "slash_commands", "help")
            again = await ws.receive_json(timeout=2)               # not acked within 0.3 s
            assert (again["envelope_id"], again["retry_attempt"], again["retry_reason"]) == (first, 1, "timeout")
            await ws.send_json({"envelope_id": first, "payload": {"text": "ok"}})
            ack = await fake.socket.wait_for_ack(first)
            assert ack.payload == {"text": "ok"}
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:     # tickets are single-use
            await s.ws_connect(url)
        assert refused.value.status == 401
    assert fake.socket.envelopes[first].deliveries == 1


async def test_apps_connections_open_requires_an_app_token(fake):
    _, body, _ = await call(fake, "apps.connections.open", data="", token=BOT_TOKEN)
    assert body["error"] == "not_allowed_token_type"


# --------------------------------------------------------------------------- signing and the CLI


def test_signatures_match_slack_sdk_verifier():
    body = sr.form_body(sr.slash_command("list"))
    now = int(time.time())
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid(body, str(now), sr.signature(body, "s3cret", now))
    assert not verifier.is_valid(body, str(now), sr.signature(body, "forged", now))
    assert not verifier.is_valid(body, str(now - 301), sr.signature(body, "s3cret", now - 301))


async def test_runs_as_a_separate_process_and_reports_stats():
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.fake_slack", "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        port = int(line.split()[1])
        client = AsyncWebClient(token=BOT_TOKEN, base_url=f"http://127.0.0.1:{port}/api/")
        await client.chat_postMessage(channel="C0ANY", text="hello")
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{port}/_fake/stats") as r:
                stats = await r.json()
        assert (stats["posted"], stats["rate_limited"]) == (1, 0)
    finally:
        proc.terminate()
        proc.wait(10)
