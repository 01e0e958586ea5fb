"""Send outbox messages to Slack channels with chat.postMessage, within Slack's budgets.

`SlackSender` is the `bot.ports.Sender` for Slack. It renders with
`bot.core.render_slack`, paces itself so Slack never has to refuse it, and
maps every answer to `Delivered`, `RetryLater` or `Rejected` in ONE place
(`map_slack_error`). It never raises for Slack's answers or network trouble.

Pacing (`SlackPacer`): at most one post per `per_channel_interval_s` to a
channel, and a workspace-wide budget of `workspace_per_minute` (GCRA, FIFO).
A caller over budget WAITS for its turn rather than failing; turns go in
arrival order, and a channel only asks for a workspace slot once its own
interval has passed, so one busy or rate-limited channel never holds up the
others. A 429 blocks only the channel that got it, for `Retry-After` seconds,
and the message goes back to the outbox with `RetryLater(after_s=Retry-After)`.

Errors (see docs/slack.md for the full table):
- 429 / `ratelimited` → RetryLater(Retry-After), that channel paused;
- channel or token gone (`not_in_channel`, `channel_not_found`, `is_archived`,
  `account_inactive`, `token_revoked`, `invalid_auth`, …) → Rejected(destination_gone=True);
- content refused (`invalid_blocks`, `msg_blocks_too_long`, `msg_too_long`) →
  logged as the bug it is (`slack_blocks_rejected`) and resent ONCE as the
  plain fallback text;
- HTTP 5xx, timeouts, connection errors, `request_timeout`,
  `service_unavailable` → RetryLater with exponential backoff;
- `fatal_error` / `internal_error` (Slack says the post may have happened) →
  RetryLater too. Duplicate policy: we prefer a possible duplicate to a
  possible loss, so such a message is retried and may appear twice; the same
  holds for a timeout or reset after Slack received the request. No retry
  happens inside slack_sdk (`retry_handlers=[]`), so each of these ambiguous
  failures can cause at most one extra copy.

Story updates (`kind="update"` with `reply_to` = the first alert's ts) go out
as thread replies (`thread_ts`). It does not store anything, retry on its own
or decide what is due: the dispatcher does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.render_slack import (
    RenderedSlack, render_slack, render_slack_digest, render_slack_notice,
)
from bot.types import Delivered, OutboxMessage, Rejected, RetryLater, SendResult

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://slack.com/api/"

GONE: Mapping[str, str] = {
    "not_in_channel": "newsbot is not in this channel: invite it (/invite @newsbot), then resume",
    "channel_not_found": "the channel was deleted or newsbot cannot see it (a private channel "
                         "without newsbot): invite it or remove the subscription",
    "is_archived": "the channel is archived: unarchive it, then resume",
    "restricted_action_read_only_channel": "the channel is read-only for apps: ask a workspace "
                                           "admin to allow posting, then resume",
    "restricted_action": "a workspace policy forbids newsbot to post here",
    "ekm_access_denied": "the workspace's encryption keys deny access (EKM)",
    "account_inactive": "the bot token belongs to a deactivated app or user: reinstall the app "
                        "and set SLACK_BOT_TOKEN",
    "token_revoked": "the bot token was revoked: reinstall the app and set SLACK_BOT_TOKEN",
    "invalid_auth": "the bot token is not valid: check SLACK_BOT_TOKEN (xoxb-…)",
    "not_authed": "no bot token was sent: set SLACK_BOT_TOKEN",
    "team_access_not_granted": "the token has no access to this workspace",
}
CONTENT = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long", "msg_too_long",
                     "too_many_attachments", "invalid_attachments"})
AMBIGUOUS = frozenset({"fatal_error", "internal_error"})
TRANSIENT = frozenset({"request_timeout", "service_unavailable", "team_added_to_org"})
RATE_LIMITED = frozenset({"ratelimited", "rate_limited"})
MISCONFIGURED: Mapping[str, str] = {
    "missing_scope": "the app lacks a scope: add it (see config/slack-app-manifest.yaml) and reinstall",
    "no_permission": "the token lacks permission for chat.postMessage",
    "not_allowed_token_type": "SLACK_BOT_TOKEN must be a bot token (xoxb-…)",
    "invalid_arguments": "Slack refused the request's arguments",
}


@dataclass(frozen=True, slots=True)
class SlackBudget:
    """Our own send budgets (kept below Slack's) and the backoff for transient failures."""

    per_channel_interval_s: float = 1.0
    workspace_per_minute: float = 600.0
    workspace_burst: int = 1
    backoff_base_s: float = 2.0
    backoff_max_s: float = 300.0
    retry_after_default_s: float = 5.0

    def backoff(self, attempts: int) -> float:
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, min(attempts, 20)))


@dataclass
class _Channel:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = -math.inf


class SlackPacer:
    """Per-channel spacing and a workspace GCRA. Callers wait their turn; nobody fails."""

    def __init__(self, budget: SlackBudget, *, clock: Callable[[], float] | None = None) -> None:
        self._interval = budget.per_channel_interval_s
        self._emission = 60.0 / budget.workspace_per_minute
        self._tolerance = max(0, budget.workspace_burst - 1) * self._emission
        self._tat = -math.inf
        self._clock = clock
        self._channels: dict[str, _Channel] = {}

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    async def _sleep_until(self, at: float) -> None:
        delay = at - self._now()
        if delay > 0:
            await asyncio.sleep(delay)

    def _reserve_workspace(self) -> float:
        now = self._now()
        tat = max(self._tat, now)
        self._tat = tat + self._emission
        return max(now, tat - self._tolerance)

    @asynccontextmanager
    async def turn(self, channel: str) -> AsyncIterator[None]:
        """Hold the channel, wait for its interval and a workspace slot; post inside."""
        state = self._channels.setdefault(channel, _Channel())
        async with state.lock:
            await self._sleep_until(state.next_at)
            await self._sleep_until(self._reserve_workspace())
            try:
                yield
            finally:
                state.next_at = max(state.next_at, self._now() + self._interval)
        self._prune()

    def block(self, channel: str, seconds: float) -> None:
        """Keep the channel quiet for `seconds` (a 429's Retry-After)."""
        state = self._channels.setdefault(channel, _Channel())
        state.next_at = max(state.next_at, self._now() + seconds)

    def blocked_for(self, channel: str) -> float:
        state = self._channels.get(channel)
        return max(0.0, state.next_at - self._now()) if state else 0.0

    def _prune(self) -> None:
        if len(self._channels) < 10_000:
            return
        now = self._now()
        for key in [k for k, s in self._channels.items() if not s.lock.locked() and s.next_at < now]:
            del self._channels[key]


# --------------------------------------------------------------------------- error mapping


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Literal["ok", "limited", "retry", "gone", "content", "reject"]
    ts: str | None = None
    after_s: float = 0.0
    reason: str = ""
    code: str | None = None


def _retry_after(headers: Mapping[str, str] | None, default: float) -> float:
    try:
        value = float((headers or {}).get("Retry-After", ""))
    except ValueError:
        return default
    return min(3600.0, value) if value > 0 else default


def map_slack_error(exc: BaseException, *, attempts: int, budget: SlackBudget) -> Outcome:
    """THE place where Slack's and the network's failures become outcomes."""
    backoff = budget.backoff(attempts)
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        code = str(data.get("error") or f"http_{status}")
        if status == 429 or code in RATE_LIMITED:
            after = _retry_after(exc.response.headers, budget.retry_after_default_s)
            return Outcome("limited", after_s=after, code=code, reason=f"Slack rate limit: retry in {after:g}s")
        if code in GONE:
            return Outcome("gone", code=code, reason=f"{code}: {GONE[code]}")
        if code in CONTENT:
            return Outcome("content", code=code, reason=f"Slack refused the message content ({code})")
        if code in AMBIGUOUS:
            return Outcome("retry", after_s=backoff, code=code,
                           reason=f"Slack answered {code}: the post may have happened; retrying "
                                  "(a duplicate is possible)")
        if code in TRANSIENT or status >= 500:
            return Outcome("retry", after_s=backoff, code=code, reason=f"Slack unavailable ({code})")
        if code in MISCONFIGURED:
            return Outcome("reject", code=code, reason=f"{code}: {MISCONFIGURED[code]}")
        if status != 200:
            return Outcome("retry", after_s=backoff, code=code,
                           reason=f"HTTP {status} from the Slack API: check SLACK_API_BASE_URL")
        return Outcome("reject", code=code, reason=f"Slack refused the message: {code}")
    if isinstance(exc, asyncio.TimeoutError):
        return Outcome("retry", after_s=backoff, code="timeout",
                       reason="Slack did not answer in time; it may have posted (a duplicate is possible)")
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return Outcome("retry", after_s=backoff, code="network",
                       reason=f"network error talking to Slack: {type(exc).__name__}: {exc}")
    raise exc


# --------------------------------------------------------------------------- the sender


class SlackSender:
    """`bot.ports.Sender` for Slack. Create and use inside the running loop; `close()` at shutdown."""

    platform = "slack"

    def __init__(self, token: str, *, base_url: str | None = None, budget: SlackBudget | None = None,
                 timeout_s: float = 15.0, max_connections: int = 32) -> None:
        self._token = token
        self._base_url = base_url or DEFAULT_BASE_URL
        self.budget = budget or SlackBudget()
        self.pacer = SlackPacer(self.budget)
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._web: AsyncWebClient | None = None

    @property
    def client(self) -> AsyncWebClient:
        if self._web is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                connector=aiohttp.TCPConnector(limit=self._max_connections))
            self._web = AsyncWebClient(token=self._token, base_url=self._base_url, session=self._session,
                                       timeout=int(math.ceil(self._timeout_s)), retry_handlers=[])
        return self._web

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = self._web = None

    async def send(self, message: OutboxMessage) -> SendResult:
        channel = message.destination.address
        bound = log.bind(outbox_id=message.id, channel=channel, kind=message.kind)
        if message.destination.platform != "slack":
            return Rejected(reason=f"not a Slack destination: {message.destination.platform}")
        rendered = render_message(message)
        if rendered is None:
            return Rejected(reason=f"outbox row {message.id} ({message.kind}) has nothing to send")
        thread_ts = message.reply_to if message.kind == "update" and message.reply_to else None
        outcome = await self._post(channel, rendered, thread_ts, message.attempts, with_blocks=True)
        if outcome.kind == "content":
            bound.error("slack_blocks_rejected", error=outcome.code, blocks=len(rendered.blocks),
                        hint="a bug in bot.core.render_slack: resending as plain text once")
            outcome = await self._post(channel, rendered, thread_ts, message.attempts, with_blocks=False)
        return self._result(outcome, bound)

    async def _post(self, channel: str, rendered: RenderedSlack, thread_ts: str | None, attempts: int,
                    *, with_blocks: bool) -> Outcome:
        async with self.pacer.turn(channel):
            try:
                resp = await self.client.chat_postMessage(
                    channel=channel, text=rendered.text, blocks=rendered.blocks if with_blocks else None,
                    thread_ts=thread_ts, unfurl_links=False, unfurl_media=False)
                return Outcome("ok", ts=resp.get("ts"))
            except (SlackApiError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                outcome = map_slack_error(exc, attempts=attempts, budget=self.budget)
        if outcome.kind == "limited":
            self.pacer.block(channel, outcome.after_s)
        return outcome

    def _result(self, outcome: Outcome, bound: structlog.typing.FilteringBoundLogger) -> SendResult:
        if outcome.kind == "ok":
            bound.debug("slack_message_sent", ts=outcome.ts)
            return Delivered(platform_message_id=outcome.ts)
        if outcome.kind in ("limited", "retry"):
            bound.warning("slack_send_deferred", error=outcome.code, after_s=outcome.after_s,
                          reason=outcome.reason)
            return RetryLater(after_s=outcome.after_s, reason=outcome.reason)
        if outcome.kind == "gone":
            bound.warning("slack_destination_gone", error=outcome.code, reason=outcome.reason)
            return Rejected(reason=outcome.reason, destination_gone=True)
        if outcome.kind == "content":
            bound.error("slack_plain_text_rejected", error=outcome.code)
            return Rejected(reason=f"Slack refused even the plain-text version ({outcome.code})")
        bound.error("slack_send_rejected", error=outcome.code, reason=outcome.reason)
        return Rejected(reason=outcome.reason)


def render_message(message: OutboxMessage) -> RenderedSlack | None:
    """Pick the renderer for the outbox row's kind; None if the row carries nothing."""
    if message.kind in ("alert", "update") and message.brief is not None:
        brief = message.brief
        if message.kind == "update" and not brief.is_update:
            brief = dataclasses.replace(brief, is_update=True)
        return render_slack(brief, story_id=message.story_id, subscription_id=message.subscription_id)
    if message.kind == "digest" and message.briefs:
        return render_slack_digest(message.briefs, extra_count=message.extra_count,
                                   subscription_id=message.subscription_id)
    if message.text and message.text.strip():
        return render_slack_notice(message.text)
    return None
