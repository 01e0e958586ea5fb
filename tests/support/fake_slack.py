"""A strict stand-in for Slack's Web API (plus Socket Mode), on 127.0.0.1, port 0.

Reach it with `AsyncWebClient(token=…, base_url=fake.api_url)`; methods live
at `/api/<method>`. It enforces what platform-limits.md §2 and §5.2 list:

- auth: `Authorization: Bearer xoxb-…` or a `token` form/query field;
  `not_authed`, `invalid_auth`, `not_allowed_token_type` (xapp vs xoxb),
  `missing_scope` (with `needed`/`provided`), scenario tokens
  `xoxb-account_inactive` / `xoxb-token_revoked`, and `revoke()` mid-run;
- posts: JSON (`charset` must be utf-8: `invalid_charset`) or urlencoded;
  anything else `invalid_post_type`, a body without a type `missing_post_type`;
- errors are HTTP 200 `{"ok": false, "error": …}`; `chat.postMessage` returns
  `channel`, `ts`, `message`; `invalid_blocks` (with the violations),
  `msg_blocks_too_long` past `blocks_text_limit`, `no_text`; `text` over
  40,000 is truncated or refused (`long_text="truncate"|"reject"`);
- channel states: `channel_not_found`, `not_in_channel` (unless the channel is
  public and the app has `chat:write.public`), `is_archived`,
  `restricted_action_read_only_channel`;
- rate limits on chat.postMessage: per channel (interval + small burst) and
  per workspace (rate + burst), GCRA; excess gets HTTP 429 with `Retry-After`
  (whole seconds) and `{"ok":false,"error":"ratelimited"}`; a re-request
  before Retry-After has passed is refused again; every 429 is journalled;
- faults queued per method (and channel): HTTP 500/502/503/504, `ok:false`
  errors such as `fatal_error` (optionally after the write happened),
  connection reset, slow replies;
- a mrkdwn lint journal (tests.support.slack_mrkdwn) and a journal of every
  message per channel; `response_url` endpoints (at most 5 posts in 30 min).

Socket Mode: `apps.connections.open` with an `xapp-` token returns a one-time
URL of the WebSocket stand-in in tests.support.fake_slack_socket (`fake.socket`).

It does not implement OAuth, files, modals, Enterprise Grid or history.
Run it alone for benches: `python -m tests.support.fake_slack --port 0`
prints `PORT <n>`; `GET /_fake/stats` returns the journals' counters.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from aiohttp import web

from tests.support.fake_slack_methods import ApiError, FakeChannel, FakeUser, LintIssue, MethodsMixin, Posted
from tests.support.fake_slack_socket import SocketModeStandIn

__all__ = ["ApiError", "Call", "FakeChannel", "FakeSlack", "FakeUser", "Fault", "LintIssue", "Posted", "RateLimits"]

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
DEFAULT_SCOPES = frozenset({
    "chat:write", "chat:write.public", "commands", "channels:read", "groups:read", "im:read",
    "mpim:read", "users:read", "channels:join",
})
SCENARIO_TOKENS = {"xoxb-account_inactive": "account_inactive", "xoxb-token_revoked": "token_revoked",
                   "xoxb-invalid_auth": "invalid_auth"}
RATE_LIMITED_METHODS = frozenset({"chat.postMessage"})


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass
class Call:
    method: str
    status: int
    error: str | None
    channel: str | None
    at: float


@dataclass
class Fault:
    """One injected failure. kind: status | error | reset | slow | ratelimited."""

    kind: str
    status: int = 500
    error: str = "fatal_error"
    delay_s: float = 0.0
    retry_after: int = 1
    commit: bool = False          # perform the write before failing ("may have happened")


@dataclass
class RateLimits:
    channel_interval_s: float = 1.0
    channel_burst: int = 2
    workspace_per_s: float = 10.0
    workspace_burst: int = 10


class Gcra:
    """Generic cell rate algorithm: `burst` at once, then one per `interval`."""

    def __init__(self, interval: float, burst: int) -> None:
        self.interval = interval
        self.tolerance = max(0, burst - 1) * interval
        self.tat = -math.inf

    def wait(self, now: float) -> float:
        return max(0.0, max(self.tat, now) - self.tolerance - now)

    def take(self, now: float) -> None:
        self.tat = max(self.tat, now) + self.interval


class FakeSlack(MethodsMixin):
    def __init__(self, *, bot_tokens: set[str] | None = None, app_tokens: set[str] | None = None,
                 scopes: frozenset[str] = DEFAULT_SCOPES, limits: RateLimits | None = None,
                 blocks_text_limit: int = 13_000, long_text: str = "truncate",
                 auto_channels: bool = False, ack_timeout_s: float = 3.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bot_tokens = set(bot_tokens or {BOT_TOKEN})
        self.app_tokens = set(app_tokens or {APP_TOKEN})
        self.scopes = set(scopes)
        self.limits = limits or RateLimits()
        self.blocks_text_limit = blocks_text_limit
        self.long_text = long_text
        self.auto_channels = auto_channels
        self.clock = clock
        self.channels: dict[str, FakeChannel] = {}
        self.users: dict[str, FakeUser] = {"UBOT": FakeUser("UBOT", "newsbot")}
        self.messages: dict[str, list[Posted]] = {}
        self.ephemerals: list[Posted] = []
        self.home_views: dict[str, list[dict]] = {}
        self.calls: list[Call] = []
        self.lint: list[LintIssue] = []
        self.responses: dict[str, list[dict]] = {}
        self.revoked: dict[str, str] = {}
        self.socket = SocketModeStandIn(ack_timeout_s=ack_timeout_s)
        self._faults: list[tuple[str, str | None, Fault]] = []
        self._channel_limits: dict[str, Gcra] = {}
        self._workspace = Gcra(1 / self.limits.workspace_per_s, self.limits.workspace_burst)
        self._penalty: dict[str, float] = {}
        self._response_urls: dict[str, list[float]] = {}
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ----------------------------------------------------------------- lifecycle

    async def start(self, port: int = 0) -> "FakeSlack":
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response_url)
        app.router.add_get("/socket", self.socket.handle)
        app.router.add_get("/_fake/stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self.socket.bind(self.url)
        return self

    async def stop(self) -> None:
        await self.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> "FakeSlack":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    # ----------------------------------------------------------------- test set-up

    def add_channel(self, channel_id: str, name: str | None = None, **kw: object) -> FakeChannel:
        ch = FakeChannel(channel_id, name or channel_id.lower(), **kw)  # type: ignore[arg-type]
        self.channels[channel_id] = ch
        return ch

    def add_user(self, user_id: str, name: str | None = None, *, channels: tuple[str, ...] = (),
                 **kw: object) -> FakeUser:
        user = FakeUser(user_id, name or user_id.lower(), **kw)  # type: ignore[arg-type]
        self.users[user_id] = user
        for cid in channels:
            self.channels[cid].members.add(user_id)
        return user

    def inject(self, method: str, fault: Fault, *, times: int = 1, channel: str | None = None) -> None:
        """Queue `times` copies of `fault` for the next calls of `method` (to `channel`)."""
        self._faults += [(method, channel, fault)] * times

    def revoke(self, token: str, error: str = "token_revoked") -> None:
        self.revoked[token] = error

    def new_response_url(self) -> str:
        key = uuid.uuid4().hex
        self._response_urls[key] = []
        self.responses[key] = []
        return f"{self.url}/response/{key}"

    # ----------------------------------------------------------------- journals

    def posted(self, channel: str) -> list[Posted]:
        return list(self.messages.get(channel, []))

    def all_posted(self) -> list[Posted]:
        return sorted((p for msgs in self.messages.values() for p in msgs), key=lambda p: p.at)

    @property
    def count_429(self) -> int:
        return sum(1 for c in self.calls if c.status == 429)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def responses_to(self, response_url: str) -> list[dict]:
        return list(self.responses.get(response_url.rsplit("/", 1)[1], []))

    # ----------------------------------------------------------------- request handling

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        channel = None
        try:
            args, token = await self._read_args(request)
            channel = args.get("channel") if isinstance(args.get("channel"), str) else None
            self._authenticate(method, token)
            handler = self.method_handler(method)
            if method in RATE_LIMITED_METHODS:
                self._check_rate(channel or "")
            fault = self._take_fault(method, channel)
            if fault is not None:
                return await self._apply_fault(fault, method, handler, args, channel, request)
            data = handler(args)
            return self._reply(method, channel, {"ok": True, **data})
        except RateLimited as e:
            self.calls.append(Call(method, 429, "ratelimited", channel, self.clock()))
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(e.retry_after)})
        except ApiError as e:
            return self._reply(method, channel, {"ok": False, "error": e.code, **e.extra})

    def _reply(self, method: str, channel: str | None, body: dict, status: int = 200) -> web.Response:
        self.calls.append(Call(method, status, body.get("error"), channel, self.clock()))
        return web.json_response(body, status=status)

    async def _read_args(self, request: web.Request) -> tuple[dict, str | None]:
        args: dict = dict(request.query)
        body = await request.read()
        if body:
            raw_type = request.headers.get("Content-Type")
            if not raw_type:
                raise ApiError("missing_post_type")
            charset = (request.charset or "utf-8").lower()
            if charset not in ("utf-8", "utf8"):
                raise ApiError("invalid_charset")
            if request.content_type == "application/json":
                try:
                    parsed = json.loads(body.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    raise ApiError("invalid_json") from None
                if not isinstance(parsed, dict):
                    raise ApiError("invalid_json")
                parsed.pop("token", None)            # Slack ignores a token inside a JSON body
                args.update(parsed)
            elif request.content_type == "application/x-www-form-urlencoded":
                try:
                    args.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
                except UnicodeDecodeError:
                    raise ApiError("invalid_form_data") from None
            else:
                raise ApiError("invalid_post_type")
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else args.pop("token", None)
        args.pop("token", None)
        return args, token or None

    def _authenticate(self, method: str, token: str | None) -> None:
        if not token:
            raise ApiError("not_authed")
        if token in SCENARIO_TOKENS:
            raise ApiError(SCENARIO_TOKENS[token])
        if token in self.revoked:
            raise ApiError(self.revoked[token])
        is_app = token in self.app_tokens
        if not is_app and token not in self.bot_tokens:
            raise ApiError("invalid_auth")
        if (method == "apps.connections.open") != is_app:
            raise ApiError("not_allowed_token_type")
        needed = self.scope_needed(method)
        if needed and needed not in self.scopes:
            raise ApiError("missing_scope", needed=needed, provided=",".join(sorted(self.scopes)))

    def _check_rate(self, channel: str) -> None:
        now = self.clock()
        penalty = self._penalty.get(channel, 0.0) - now
        if penalty > 0:
            raise RateLimited(max(1, math.ceil(penalty)))
        per_channel = self._channel_limits.setdefault(
            channel, Gcra(self.limits.channel_interval_s, self.limits.channel_burst))
        wait = max(per_channel.wait(now), self._workspace.wait(now))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            self._penalty[channel] = now + retry_after
            raise RateLimited(retry_after)
        per_channel.take(now)
        self._workspace.take(now)

    def _take_fault(self, method: str, channel: str | None) -> Fault | None:
        for i, (m, ch, fault) in enumerate(self._faults):
            if m == method and (ch is None or ch == channel):
                del self._faults[i]
                return fault
        return None

    async def _apply_fault(self, fault: Fault, method: str, handler: Callable[[dict], dict], args: dict,
                           channel: str | None, request: web.Request) -> web.StreamResponse:
        if fault.kind == "ratelimited":
            raise RateLimited(fault.retry_after)
        if fault.kind == "slow":
            data = handler(args)
            await asyncio.sleep(fault.delay_s)
            return self._reply(method, channel, {"ok": True, **data})
        if fault.commit:
            handler(args)
        if fault.kind == "reset":
            self.calls.append(Call(method, 0, "connection_reset", channel, self.clock()))
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if fault.kind == "error":
            return self._reply(method, channel, {"ok": False, "error": fault.error})
        self.calls.append(Call(method, fault.status, f"http_{fault.status}", channel, self.clock()))
        return web.Response(status=fault.status, content_type="text/html",
                            text=f"<html><body>{fault.status} from the fake</body></html>")

    # ----------------------------------------------------------------- response_url

    async def _response_url(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        uses = self._response_urls.get(key)
        if uses is None:
            return web.Response(status=404, text="expired_url")
        now = self.clock()
        recent = [t for t in uses if now - t < 1800]
        if len(recent) >= 5:
            return web.Response(status=404, text="used_url")
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not body.get("text") and not body.get("blocks"):
            return web.Response(status=400, text="no_text")
        problems = self.check_content(None, body.get("text"), body.get("blocks"))
        if problems:
            return web.Response(status=400, text=problems)
        uses.append(now)
        self.responses[key].append(body)
        return web.Response(status=200, text="ok")

    async def _stats(self, request: web.Request) -> web.Response:
        posted = self.all_posted()
        return web.json_response({
            "posted": len(posted), "rate_limited": self.count_429,
            "first_at": posted[0].at if posted else None, "last_at": posted[-1].at if posted else None,
            "channels": len(self.messages), "lint_issues": len(self.lint),
            "calls": len(self.calls), "now": self.clock(),
        })

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"


# --------------------------------------------------------------------------- CLI


async def _serve(args) -> None:
    limits = RateLimits(args.channel_interval, args.channel_burst, args.workspace_rate, args.workspace_burst)
    fake = FakeSlack(limits=limits, auto_channels=True)
    await fake.start(args.port)
    print(f"PORT {fake.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="A strict local Slack Web API stand-in (for benches).")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--channel-interval", type=float, default=1.0, help="seconds between posts per channel")
    p.add_argument("--channel-burst", type=int, default=2)
    p.add_argument("--workspace-rate", type=float, default=10.0, help="posts per second, whole workspace")
    p.add_argument("--workspace-burst", type=int, default=10)
    asyncio.run(_serve(p.parse_args(argv)))


if __name__ == "__main__":
    main()
