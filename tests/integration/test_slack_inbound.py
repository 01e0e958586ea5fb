"""SlackInbound with the real slack-bolt against the fake Slack (Web API + Socket Mode)
and against signed HTTP requests built the way Slack builds them.

Tests marked "router" drive the real command router through the `command_router`
fixture from tests/conftest.py. The others never reach a router: they check
signatures, acknowledgements, permissions and the App Home without one.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from bot.adapters.slack_inbound import SlackInbound
from bot.chat.api import Reply
from bot.errors import ConfigError
from tests.support import slack_requests as sr
from tests.support.fake_slack import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.support.slack_mrkdwn import lint_mrkdwn, text_objects, validate_blocks

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ACK_DEADLINE_S = 3.0          # Slack's: an app must acknowledge within 3 seconds


class RouterNotReached:
    """Stands where the router goes in tests whose requests must never reach it."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def handle(self, ctx, text):
        self.calls.append(("handle", ctx, text))
        raise AssertionError("the router must not be reached")

    async def handle_action(self, ctx, action, value):
        self.calls.append(("handle_action", ctx, action, value))
        raise AssertionError("the router must not be reached")

    def command_list(self):
        return []


@pytest.fixture
async def fake():
    async with FakeSlack(ack_timeout_s=ACK_DEADLINE_S) as f:
        f.add_channel("C0GENERAL", "general")
        f.add_channel("C0NEWS", "news")
        f.add_user("U0MEMBER", "member", channels=("C0GENERAL", "C0NEWS"))
        f.add_user("U0ADMIN", "admin", is_admin=True, channels=("C0GENERAL",))
        f.add_user("U0OWNER", "owner", is_owner=True)
        f.add_user("U0OPS", "ops")
        yield f


def inbound(fake: FakeSlack, router, **kw) -> SlackInbound:
    kw.setdefault("app_token", APP_TOKEN)
    return SlackInbound(router, bot_token=BOT_TOKEN, base_url=fake.api_url, signing_secret=SECRET, **kw)


@asynccontextmanager
async def socket_app(fake: FakeSlack, router, **kw):
    app = inbound(fake, router, **kw)
    await app.start()
    try:
        await fake.socket.wait_connected()
        yield app
    finally:
        await app.stop()


@asynccontextmanager
async def http_app(fake: FakeSlack, router, **kw):
    """newsbot's web server stand-in: SlackInbound.handle_http mounted at /slack/events."""
    app = inbound(fake, router, mode="http", **kw)
    await app.start()
    server = web.Application()
    server.router.add_post("/slack/events", app.handle_http)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/slack/events"
    finally:
        await runner.cleanup()


async def wait_for(predicate, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def assert_slack_clean(message: dict) -> None:
    assert validate_blocks(message["blocks"]) == []
    for _, kind, text in text_objects(message["blocks"]):
        if kind == "mrkdwn":
            assert lint_mrkdwn(text) == []
    assert message["text"] and lint_mrkdwn(message["text"]) == []


# --------------------------------------------------------------------------- HTTP mode: signatures


async def test_signed_request_is_answered_fast(fake):
    router = RouterNotReached()
    async with http_app(fake, router) as url:
        reply = await sr.post_signed(url, sr.event_body(sr.url_verification("abc123")),
                                     secret=SECRET, content_type=sr.JSON)
        assert (reply.status, json.loads(reply.body)) == (200, {"challenge": "abc123"})
        assert reply.elapsed_s < ACK_DEADLINE_S
        event = await sr.post_signed(url, sr.event_body(sr.app_home_opened("U0MEMBER")),
                                     secret=SECRET, content_type=sr.JSON, skew_s=-290)   # inside the window
        assert event.status == 200
        await wait_for(lambda: "U0MEMBER" in fake.home_views)
    assert router.calls == []


@pytest.mark.parametrize("variant", [
    {"skew_s": -301}, {"skew_s": 301}, {"sign_with": "not-the-secret"}, {"unsigned": True},
    {"timestamp": "yesterday"}, {"reserialised": True},
], ids=["expired", "future", "forged", "unsigned", "bad-timestamp", "re-serialised-body"])
async def test_bad_requests_get_401_and_do_nothing(fake, variant):
    router = RouterNotReached()
    original = sr.event_body(sr.app_home_opened("U0MEMBER"))
    body = original
    if variant.pop("reserialised", False):
        body = json.dumps(json.loads(original), indent=1)
        variant["signed_body"] = original
    async with http_app(fake, router) as url:
        reply = await sr.post_signed(url, body, secret=SECRET, content_type=sr.JSON, **variant)
        command = await sr.post_signed(url, sr.form_body(sr.slash_command("help")), secret=SECRET, **variant) \
            if "signed_body" not in variant else reply
        await asyncio.sleep(0.1)
    assert (reply.status, json.loads(reply.body)) == (401, {"error": "invalid request"})
    assert command.status == 401
    assert fake.home_views == {} and router.calls == []


async def test_http_endpoint_is_off_in_socket_mode(fake):
    app = inbound(fake, RouterNotReached())
    server = web.Application()
    server.router.add_post("/slack/events", app.handle_http)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        reply = await sr.post_signed(f"http://127.0.0.1:{port}/slack/events",
                                     sr.event_body(sr.url_verification()), secret=SECRET, content_type=sr.JSON)
    finally:
        await runner.cleanup()
    assert reply.status == 404


# --------------------------------------------------------------------------- Socket Mode


async def test_socket_mode_envelope_is_acked_and_home_published(fake):
    async with socket_app(fake, RouterNotReached()):
        envelope = await fake.socket.push("events_api", sr.app_home_opened("U0MEMBER"))
        ack = await fake.socket.wait_for_ack(envelope)
        assert ack.after_s < ACK_DEADLINE_S
        await wait_for(lambda: "U0MEMBER" in fake.home_views)
    [view] = fake.home_views["U0MEMBER"]
    assert view["type"] == "home" and validate_blocks(view["blocks"], max_blocks=100) == []
    assert fake.socket.envelopes[envelope].deliveries == 0           # no redelivery needed


async def test_socket_mode_survives_a_refresh(fake):
    async with socket_app(fake, RouterNotReached()):
        await fake.socket.request_refresh()
        await wait_for(lambda: fake.socket.connections_opened == 2, timeout=5)
        envelope = await fake.socket.push("events_api", sr.app_home_opened("U0ADMIN"))
        await fake.socket.wait_for_ack(envelope)
        await wait_for(lambda: "U0ADMIN" in fake.home_views)
    assert len(fake.calls_to("apps.connections.open")) == 2


async def test_home_tab_other_than_home_publishes_nothing(fake):
    async with socket_app(fake, RouterNotReached()):
        envelope = await fake.socket.push("events_api", sr.app_home_opened("U0MEMBER", tab="messages"))
        await fake.socket.wait_for_ack(envelope)
        await asyncio.sleep(0.1)
    assert fake.home_views == {}


# --------------------------------------------------------------------------- start-up and permissions


@pytest.mark.parametrize("kw, key", [
    ({"bot_token": "xoxp-user-token"}, "SLACK_BOT_TOKEN"),
    ({"app_token": None}, "SLACK_APP_TOKEN"),
    ({"app_token": "xoxb-not-an-app-token"}, "SLACK_APP_TOKEN"),
    ({"mode": "http", "signing_secret": None}, "SLACK_SIGNING_SECRET"),
])
def test_bad_configuration_is_refused_with_the_variable_to_fix(kw, key):
    args = {"bot_token": BOT_TOKEN, "app_token": APP_TOKEN, "signing_secret": SECRET, **kw}
    with pytest.raises(ConfigError) as err:
        SlackInbound(RouterNotReached(), base_url="http://127.0.0.1:9/api/", **args)
    assert err.value.key == key and err.value.hint


@pytest.mark.parametrize("token, app_token, key", [
    ("xoxb-token_revoked", APP_TOKEN, "SLACK_BOT_TOKEN"),
    (BOT_TOKEN, "xapp-unknown", "SLACK_APP_TOKEN"),
])
async def test_start_fails_clearly_on_refused_tokens(fake, token, app_token, key):
    app = SlackInbound(RouterNotReached(), bot_token=token, app_token=app_token, base_url=fake.api_url)
    with pytest.raises(ConfigError) as err:
        await app.start()
    assert err.value.key == key


@pytest.mark.parametrize("text, expected", [
    ("Try /subscribe NAME or /list.", "Try /newsbot subscribe NAME or /newsbot list."),
    ("See https://x.example/subscribe and //list", "See https://x.example/subscribe and //list"),
    ("/subscribers is not a command", "/subscribers is not a command"),
])
def test_replies_name_the_slack_command(fake, text, expected):
    class Commands(RouterNotReached):
        def command_list(self):
            return [("subscribe", "follow"), ("list", "show")]

    app = inbound(fake, Commands())
    assert app.for_slack(Reply(text=text, title="/list")) == Reply(text=expected, title="/newsbot list")


@pytest.mark.parametrize("who, user, channel, expected", [
    ("anyone", "U0MEMBER", "C0GENERAL", True),
    ("admins", "U0MEMBER", "C0GENERAL", False),
    ("admins", "U0ADMIN", "C0GENERAL", True),
    ("admins", "U0OWNER", "C0GENERAL", True),
    ("admins", "U0OPS", "C0GENERAL", True),          # listed as an operator
    ("admins", "U0MEMBER", "D0DIRECT", True),        # their own direct messages
    ("admins", "U0GHOST", "C0GENERAL", False),       # users.info fails: fail closed
])
async def test_who_may_change_subscriptions(fake, who, user, channel, expected):
    app = inbound(fake, RouterNotReached(), who_can_change=who, operators=("U0OPS",))
    ctx = await app.context(user_id=user, channel_id=channel)
    assert ctx.is_admin is expected
    assert ctx.is_operator is (user == "U0OPS")
    assert ctx.chat_type == ("private" if channel.startswith("D") else "group")


async def test_admin_lookups_are_cached(fake):
    app = inbound(fake, RouterNotReached(), who_can_change="admins")
    for _ in range(3):
        await app.context(user_id="U0ADMIN", channel_id="C0GENERAL")
    assert len(fake.calls_to("users.info")) == 1


# --------------------------------------------------------------------------- with the real router


async def test_router_slash_command_over_socket_mode_gets_an_ephemeral_reply(fake, command_router):
    async with socket_app(fake, command_router):
        url = fake.new_response_url()
        envelope = await fake.socket.push("slash_commands", sr.slash_command("help", response_url=url),
                                          accepts_response_payload=True)
        ack = await fake.socket.wait_for_ack(envelope)
        assert ack.after_s < ACK_DEADLINE_S
        await wait_for(lambda: fake.responses_to(url))
    [reply] = fake.responses_to(url)
    assert reply["response_type"] == "ephemeral"
    assert "/newsbot subscribe" in reply["text"]          # Slack's one command, not Telegram's /subscribe
    assert_slack_clean(reply)


async def test_router_slash_command_over_signed_http(fake, command_router):
    async with http_app(fake, command_router) as events_url:
        url = fake.new_response_url()
        answer = await sr.post_signed(events_url, sr.form_body(sr.slash_command("watchlists", response_url=url)),
                                      secret=SECRET)
        assert answer.status == 200 and answer.elapsed_s < ACK_DEADLINE_S
        await wait_for(lambda: fake.responses_to(url))
    assert_slack_clean(fake.responses_to(url)[0])


async def test_router_button_click_is_answered_without_replacing_the_alert(fake, command_router):
    async with socket_app(fake, command_router):
        url = fake.new_response_url()
        envelope = await fake.socket.push("interactive", sr.block_action("mute", "7", response_url=url))
        await fake.socket.wait_for_ack(envelope)
        await wait_for(lambda: fake.responses_to(url))
    [reply] = fake.responses_to(url)
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    assert_slack_clean(reply)


async def test_router_only_admins_change_subscriptions_when_so_configured(fake, command_router):
    async def run(user: str, text: str) -> str:
        url = fake.new_response_url()
        envelope = await fake.socket.push("slash_commands", sr.slash_command(
            text, user_id=user, channel_id="C0GENERAL", response_url=url))
        await fake.socket.wait_for_ack(envelope)
        await wait_for(lambda: fake.responses_to(url))
        return fake.responses_to(url)[0]["text"]

    async with socket_app(fake, command_router, who_can_change="admins"):
        await run("U0MEMBER", "subscribe zanzibar ferry")
        assert "zanzibar" not in (await run("U0MEMBER", "list")).lower()
        await run("U0ADMIN", "subscribe zanzibar ferry")
        assert "zanzibar" in (await run("U0MEMBER", "list")).lower()


async def test_router_home_lists_watchlists_and_the_users_channel_subscriptions(fake, command_router):
    """Needs the router's `home_view_data` (see bot.adapters.slack_inbound.HomeDataSource)."""
    async with socket_app(fake, command_router):
        url = fake.new_response_url()
        await fake.socket.push("slash_commands", sr.slash_command(
            "subscribe central-asia", channel_id="C0NEWS", response_url=url))
        await wait_for(lambda: fake.responses_to(url))
        envelope = await fake.socket.push("events_api", sr.app_home_opened("U0MEMBER"))
        await fake.socket.wait_for_ack(envelope)
        await wait_for(lambda: "U0MEMBER" in fake.home_views)
    view = fake.home_views["U0MEMBER"][-1]
    text = "\n".join(t for _, _, t in text_objects(view["blocks"]))
    assert "*central-asia*" in text                               # the watchlists …
    assert "<#C0NEWS>\n• #" in text and "central-asia (instant)" in text   # … and C0NEWS's subscription
