"""Slack inbound: the `/newsbot` slash command, the buttons under alerts, the App Home.

`SlackInbound` runs slack-bolt's `AsyncApp` inside newsbot's event loop, with
a Web API client on the configured base URL. Two ways in:

- Socket Mode (default; SLACK_APP_TOKEN `xapp-…` + SLACK_BOT_TOKEN):
  `start()` checks the bot token (`auth.test`), asks for a WebSocket URL
  (`apps.connections.open`) and connects with slack-bolt's aiohttp
  `AsyncSocketModeHandler.connect_async()`; no public URL is needed.
- HTTP (SLACK_SIGNING_SECRET): mount `handle_http` at `POST /slack/events` on
  newsbot's web server. Bolt checks every request's `v0` signature over the
  raw body and the 5-minute timestamp window; bad ones get 401 and a
  `slack_request_rejected` log line.

Commands: `/newsbot <subcommand …>` is acknowledged at once (`ack()`), then
passed to `router.handle(ctx, "/<subcommand …>")`; the reply (with `/subscribe`
written `/newsbot subscribe`) goes back as an ephemeral message through the command's `response_url` (falling back to
`chat.postEphemeral`). Buttons `mute` / `unsub` go to
`router.handle_action(ctx, action, value)`, answered the same way. Opening
the App Home publishes (`views.publish`) the watchlists and the
subscriptions of the channels the user is in, from the router's optional
`home_view_data` (see `HomeDataSource`).

Permissions: `who_can_change="anyone"` lets every member change a channel's
subscriptions; `"admins"` only workspace admins/owners (`users.info`, cached)
and the operators listed in config. In a direct message the member always
may. The result is `ChatContext.is_admin`; the router enforces it.

It does not send alerts (bot.adapters.slack_send does) and it keeps no state
but a short admin cache.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import aiohttp
import structlog
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler, AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.api import ChatContext, CommandRouter, Reply
from bot.core.render_slack import (
    HomeSubscription, HomeWatchlist, render_home, render_slack_reply, unescape_mrkdwn,
)
from bot.errors import BotError, ConfigError

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://slack.com/api/"
CHANNEL_TYPES = "public_channel,private_channel,mpim,im"
FAILED_REPLY = Reply(text="Something went wrong on newsbot's side and the operator can see it in the "
                          "logs. Please try again in a minute.", ok=False)


@runtime_checkable
class HomeDataSource(Protocol):
    """What the App Home needs from the command router (optional method)."""

    async def home_view_data(self, *, platform: str, user_id: str, chat_ids: Sequence[str]
                             ) -> tuple[Sequence[HomeWatchlist], Sequence[HomeSubscription]]:
        """All watchlists, and the subscriptions of `chat_ids` (channels the user is in)."""


class SlackStartError(BotError):
    """Slack could not be reached or refused the connection at start-up."""


class SlackInbound:
    """slack-bolt AsyncApp for commands, buttons and App Home. `start()`/`stop()` inside the loop."""

    def __init__(self, router: CommandRouter, *, bot_token: str, app_token: str | None = None,
                 signing_secret: str | None = None, base_url: str | None = None,
                 mode: Literal["socket", "http"] = "socket",
                 who_can_change: Literal["anyone", "admins"] = "anyone", operators: Iterable[str] = (),
                 command: str = "/newsbot", admin_cache_ttl_s: float = 300.0,
                 connect_timeout_s: float = 30.0, ping_interval_s: float = 10.0) -> None:
        _check_config(mode, bot_token, app_token, signing_secret)
        self._router = router
        self._mode = mode
        self._app_token = app_token
        self._who_can_change = who_can_change
        self._operators = frozenset(operators)
        self._command = command
        self._admin_ttl = admin_cache_ttl_s
        self._admin_cache: dict[str, tuple[float, bool]] = {}
        self._connect_timeout = connect_timeout_s
        self._ping_interval = ping_interval_s
        self._handler: AsyncSocketModeHandler | None = None
        self.client = AsyncWebClient(
            token=bot_token, base_url=base_url or DEFAULT_BASE_URL,
            retry_handlers=[AsyncConnectionErrorRetryHandler(), AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
        self.app = AsyncApp(client=self.client, signing_secret=signing_secret or "",
                            request_verification_enabled=(mode == "http"), name="newsbot")
        self.app.command(command)(self._on_command)
        self.app.action("mute")(self._on_action)
        self.app.action("unsub")(self._on_action)
        self.app.event("app_home_opened")(self._on_home_opened)

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Check the bot token; in Socket Mode also open the WebSocket. Raises on failure."""
        await self._call_at_start("auth.test", self.client.auth_test(), "SLACK_BOT_TOKEN")
        if self._mode == "http":
            log.info("slack_inbound_ready", mode="http")
            return
        opened = await self._call_at_start("apps.connections.open",
                                           self.client.apps_connections_open(app_token=self._app_token),
                                           "SLACK_APP_TOKEN")
        handler = AsyncSocketModeHandler(self.app, self._app_token, web_client=self.client,
                                         ping_interval=self._ping_interval)
        handler.client.wss_uri = opened["url"]
        try:
            await asyncio.wait_for(handler.connect_async(), self._connect_timeout)
        except asyncio.TimeoutError:
            await handler.close_async()
            raise SlackStartError(f"could not open the Socket Mode WebSocket in {self._connect_timeout:g}s; "
                                  "check network access to Slack") from None
        self._handler = handler
        log.info("slack_inbound_ready", mode="socket")

    async def stop(self) -> None:
        if self._handler is not None:
            await self._handler.close_async()
            self._handler = None

    async def _call_at_start(self, method: str, call: Any, env_name: str) -> Any:
        try:
            return await call
        except SlackApiError as exc:
            code = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            raise ConfigError(f"Slack refused {method}: {code or exc.response.status_code}", key=env_name,
                              hint=f"check {env_name} and the app's installation "
                                   "(see docs/slack.md)") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise SlackStartError(f"Slack API unreachable for {method} at {self.client.base_url}: {exc!r}; "
                                  "check network access or SLACK_API_BASE_URL") from exc

    # ----------------------------------------------------------------- HTTP mode

    async def handle_http(self, request: web.Request) -> web.Response:
        """aiohttp handler for `POST /slack/events` (HTTP mode). 401 for unsigned or stale requests."""
        if self._mode != "http":
            return web.json_response({"error": "Slack HTTP mode is off (Socket Mode in use)"}, status=404)
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "").strip()
        if not timestamp.isdigit():
            return self._reject(request, "missing or malformed X-Slack-Request-Timestamp")
        try:
            bolt_request = await to_bolt_request(request)
        except UnicodeDecodeError:
            return self._reject(request, "body is not UTF-8")
        bolt_response = await self.app.async_dispatch(bolt_request)
        if bolt_response.status == 401:
            return self._reject(request, "bad signature or timestamp outside the 5-minute window")
        return await to_aiohttp_response(bolt_response)

    @staticmethod
    def _reject(request: web.Request, reason: str) -> web.Response:
        log.warning("slack_request_rejected", reason=reason, remote=request.remote, path=request.path)
        return web.json_response({"error": "invalid request"}, status=401)

    # ----------------------------------------------------------------- listeners

    async def _on_command(self, ack: Any, command: dict, respond: Any) -> None:
        await ack()
        # Slack sends what the member typed with &, <, > entity-escaped: undo that for the router.
        text = unescape_mrkdwn(" ".join(str(command.get("text") or "").split()))
        ctx = await self.context(user_id=command.get("user_id", ""), channel_id=command.get("channel_id", ""),
                                 user_name=command.get("user_name"), chat_title=command.get("channel_name"))
        try:
            reply = await self._router.handle(ctx, "/" + (text or "help"))
        except Exception:                           # a router bug must still get the member an answer
            log.exception("slack_command_failed", channel=ctx.chat_id, user=ctx.user_id, text=text[:200])
            reply = FAILED_REPLY
        await self._reply(respond, ctx, reply)

    async def _on_action(self, ack: Any, body: dict, action: dict, respond: Any) -> None:
        await ack()
        channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        user = body.get("user") or {}
        if not channel_id:
            await self._reply(respond, None, Reply(text="This button only works under an alert.", ok=False))
            return
        ctx = await self.context(user_id=user.get("id", ""), channel_id=channel_id,
                                 user_name=user.get("username") or user.get("name"),
                                 chat_title=(body.get("channel") or {}).get("name"))
        try:
            reply = await self._router.handle_action(ctx, action.get("action_id", ""), str(action.get("value", "")))
        except Exception:                           # see _on_command
            log.exception("slack_action_failed", channel=ctx.chat_id, user=ctx.user_id,
                          action=action.get("action_id"))
            reply = FAILED_REPLY
        await self._reply(respond, ctx, reply)

    async def _on_home_opened(self, event: dict) -> None:
        if event.get("tab") != "home" or not event.get("user"):
            return
        user_id = event["user"]
        chat_ids = await self._user_channels(user_id)
        watchlists, subscriptions = await self._home_data(user_id, chat_ids)
        view = render_home(watchlists, subscriptions, command=self._command)
        try:
            await self.client.views_publish(user_id=user_id, view=view)
        except (SlackApiError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("slack_home_publish_failed", user=user_id, error=_error_code(exc))

    # ----------------------------------------------------------------- helpers

    async def context(self, *, user_id: str, channel_id: str, user_name: str | None = None,
                      chat_title: str | None = None) -> ChatContext:
        """The ChatContext for a member acting in a channel (decides `is_admin`)."""
        is_operator = user_id in self._operators
        return ChatContext(
            platform="slack", chat_id=channel_id, user_id=user_id,
            chat_type="private" if channel_id.startswith("D") else "group",
            is_admin=await self._may_change(user_id, channel_id, is_operator),
            is_operator=is_operator, user_name=user_name, chat_title=chat_title)

    async def _may_change(self, user_id: str, channel_id: str, is_operator: bool) -> bool:
        if self._who_can_change == "anyone" or is_operator or channel_id.startswith("D"):
            return True
        cached = self._admin_cache.get(user_id)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        try:
            user = (await self.client.users_info(user=user_id)).get("user") or {}
        except (SlackApiError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("slack_admin_check_failed", user=user_id, error=_error_code(exc),
                        hint="treated as not an admin; the users:read scope is needed")
            return False
        is_admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        self._admin_cache[user_id] = (now + self._admin_ttl, is_admin)
        return is_admin

    def for_slack(self, reply: Reply) -> Reply:
        """Router texts name commands Telegram-style (`/subscribe`); Slack has one command,
        so `/subscribe` becomes `/newsbot subscribe` (URLs and unknown words untouched)."""
        names = sorted((c for c, _ in self._router.command_list()), key=len, reverse=True)
        if not names:
            return reply
        pattern = re.compile(r"(?<![\w/])/(" + "|".join(map(re.escape, names)) + r")\b")
        fix = lambda text: pattern.sub(lambda m: f"{self._command} {m.group(1)}", text)  # noqa: E731
        return dataclasses.replace(reply, text=fix(reply.text), title=fix(reply.title) if reply.title else None)

    async def _reply(self, respond: Any, ctx: ChatContext | None, reply: Reply) -> None:
        """Ephemeral answer via response_url; chat.postEphemeral if that fails."""
        text, blocks = render_slack_reply(self.for_slack(reply))
        try:
            resp = await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
            if resp.status_code == 200:
                return
            log.warning("slack_response_url_failed", status=resp.status_code, body=str(resp.body)[:200])
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            log.warning("slack_response_url_failed", error=repr(exc))
        if ctx is None:
            return
        try:
            await self.client.chat_postEphemeral(channel=ctx.chat_id, user=ctx.user_id, text=text, blocks=blocks)
        except (SlackApiError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("slack_reply_failed", channel=ctx.chat_id, user=ctx.user_id, error=_error_code(exc))

    async def _user_channels(self, user_id: str, *, max_pages: int = 5) -> list[str]:
        ids: list[str] = []
        cursor = None
        for _ in range(max_pages):
            try:
                page = await self.client.users_conversations(user=user_id, types=CHANNEL_TYPES,
                                                             exclude_archived=True, limit=200, cursor=cursor)
            except (SlackApiError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                log.warning("slack_user_channels_failed", user=user_id, error=_error_code(exc))
                break
            ids += [c["id"] for c in page.get("channels") or [] if c.get("id")]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return ids

    async def _home_data(self, user_id: str, chat_ids: Sequence[str]
                         ) -> tuple[Sequence[HomeWatchlist], Sequence[HomeSubscription]]:
        if not isinstance(self._router, HomeDataSource):
            return (), ()
        try:
            return await self._router.home_view_data(platform="slack", user_id=user_id, chat_ids=chat_ids)
        except Exception:                           # the Home tab must render even if the router fails
            log.exception("slack_home_data_failed", user=user_id)
            return (), ()


def _check_config(mode: str, bot_token: str, app_token: str | None, signing_secret: str | None) -> None:
    if not bot_token or not bot_token.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with xoxb-", key="SLACK_BOT_TOKEN",
                          hint="copy it from the app's OAuth & Permissions page")
    if mode == "socket" and not (app_token or "").startswith("xapp-"):
        raise ConfigError("Socket Mode needs an app-level token starting with xapp-", key="SLACK_APP_TOKEN",
                          hint="create one with the connections:write scope under Basic Information, "
                               "or set slack.mode: http and SLACK_SIGNING_SECRET")
    if mode == "http" and not signing_secret:
        raise ConfigError("HTTP mode needs the app's signing secret", key="SLACK_SIGNING_SECRET",
                          hint="copy it from Basic Information > App Credentials")


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError) and isinstance(exc.response.data, dict):
        return str(exc.response.data.get("error") or exc.response.status_code)
    return repr(exc)
