"""A strict local stand-in for the Telegram Bot API (aiohttp.web on 127.0.0.1, port 0).

Serves `/bot<TOKEN>/<method>` (methods case-insensitive; query string, form,
JSON or multipart parameters; nested JSON fields inside forms, as
python-telegram-bot sends them) and answers with the real envelope, HTTP codes
and error strings of ../shared/reference/platform-limits.md §1 and §5.1:

- sendMessage / editMessageText: HTML checked by `telegram_html.parse_html`
  (strict by default), 32 KiB raw, 4096 code points after parsing, empty text,
  callback_data ≤ 64 bytes, replies to unknown messages, "message is not modified";
- flood control: token buckets per chat (1/s, small burst), per group/channel
  (20/min) and per bot (30/s); 429 carries `parameters.retry_after` in the JSON body
  (no header), a resend before it elapses is refused again, 429s are counted;
- chat states: blocked, deactivated, not found, kicked, not a member, migrated;
- getUpdates long polling with offset/limit/timeout and the 409 for a second poller,
  setWebhook/deleteWebhook (and webhook delivery with the secret header),
  setMyCommands/getMyCommands validation, answerCallbackQuery (stale ids),
  getMe, getChat, getChatMember/getChatAdministrators from a seeded roster;
- fault injection: 500, 502 with an HTML body, connection reset, slow answers that
  still store the message, forced 429 / "can't parse entities" / "message is too long".

This module holds the server (lifecycle, seeding, dispatch, parameter reading,
fault injection, flood control); the outbound method handlers and message rules
are in tests.support.fake_telegram_methods, the update queue, polling, webhooks
and callback queries in tests.support.fake_telegram_updates. Strings marked
[fake] are invented where the reference gives none. A journal of
what was received per chat (`sent(chat_id)`) is what tests assert on. Not
implemented: files, Markdown, inline mode, payments.

Run alone for benches: `python -m tests.support.fake_telegram --port 0` prints
`PORT <n>`; `GET /_fake/stats` returns the counters as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import re
import signal
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

from tests.support.fake_telegram_methods import NOT_MODIFIED, ApiError, Chat, MethodsMixin, SentMessage, _int
from tests.support.fake_telegram_updates import CONFLICT_POLL, CONFLICT_WEBHOOK, STALE_QUERY, UpdatesMixin

__all__ = ["CONFLICT_POLL", "CONFLICT_WEBHOOK", "NOT_MODIFIED", "STALE_QUERY", "TOKEN", "ApiError", "Chat",
           "FakeTelegram", "Fault", "SentMessage", "TokenBucket"]

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,64}$")
_JSON_FIELDS = ("reply_markup", "entities", "link_preview_options", "reply_parameters",
                "commands", "scope", "allowed_updates")
BAD_GATEWAY_HTML = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" \
                   "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n" \
                   "</body>\r\n</html>\r\n"


class TokenBucket:
    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate, self.capacity, self.tokens, self.updated = rate, capacity, capacity, now

    def wait(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


@dataclass
class Fault:
    kind: str                     # 500 | 502 | reset | slow | 429 | bad_markup | too_long
    method: str = "sendmessage"
    chat_id: int | None = None
    times: int = 1
    delay_s: float = 1.0
    retry_after: int = 1


class FakeTelegram(UpdatesMixin, MethodsMixin):
    """The stand-in. `async with FakeTelegram() as tg:` then `Bot(TOKEN, base_url=tg.base_url)`."""

    def __init__(self, *, token: str = TOKEN, strict_html: bool = True, rate_limits: bool = True,
                 chat_rate: float = 1.0, chat_burst: float = 3, group_per_minute: float = 20,
                 group_burst: float = 3, global_rate: float = 30, global_burst: float = 30,
                 auto_create_chats: bool = True, conflict_delay_s: float = 3.0,
                 callback_ttl_s: float = 15.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.token, self.strict_html, self.rate_limits = token, strict_html, rate_limits
        self.auto_create_chats, self.conflict_delay_s = auto_create_chats, conflict_delay_s
        self.callback_ttl_s, self.clock = callback_ttl_s, clock
        self._limits = (chat_rate, chat_burst, group_per_minute / 60, group_burst)
        self._global = TokenBucket(global_rate, global_burst, clock())
        self._buckets: dict[tuple[str, int], TokenBucket] = {}
        self._penalty: dict[int, float] = {}
        self.bot_id = int(token.split(":")[0])
        self.chats: dict[int, Chat] = {}
        self.members: dict[int, dict[int, str]] = defaultdict(dict)
        self.messages: dict[int, dict[int, SentMessage]] = defaultdict(dict)
        self.faults: list[Fault] = []
        self.requests: list[tuple[float, str, dict[str, Any]]] = []   # (clock, method, params)
        self.count_429 = 0
        self.count_429_by_chat: dict[int, int] = defaultdict(int)
        self.conflicts = 0
        self.commands: list[dict[str, str]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callbacks: dict[str, list[float | bool]] = {}
        self._new_update = asyncio.Event()
        self._poll: asyncio.Future | None = None
        self._last_conflict = -math.inf
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._methods: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            name.lower(): getattr(self, "_m_" + name) for name in (
                "getMe", "sendMessage", "editMessageText", "deleteWebhook", "setWebhook",
                "getWebhookInfo", "getUpdates", "setMyCommands", "getMyCommands",
                "answerCallbackQuery", "getChatMember", "getChatAdministrators", "getChat", "close",
                "logOut")}

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeTelegram:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        app.router.add_get("/_fake/stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]   # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self._poll and not self._poll.done():
            self._poll.cancel()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    # ------------------------------------------------------------------ seeding and knobs

    def add_chat(self, chat_id: int, type: str | None = None, *, title: str | None = None,
                 username: str | None = None, state: str = "ok") -> Chat:
        if type is None:
            type = "private" if chat_id > 0 else (
                "supergroup" if chat_id <= -1_000_000_000_000 else "group")
        chat = Chat(chat_id, type, title, username, state)
        self.chats[chat_id] = chat
        return chat

    def set_chat_state(self, chat_id: int, state: str) -> None:
        self._known(chat_id).state = state

    def migrate_chat(self, old_id: int, new_id: int) -> None:
        self._known(old_id).migrate_to = new_id
        self.add_chat(new_id, "supergroup", title=self.chats[old_id].title)

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        self.members[chat_id][user_id] = status

    def inject(self, kind: str, *, method: str = "sendMessage", chat_id: int | None = None,
               times: int = 1, delay_s: float = 1.0, retry_after: int = 1) -> None:
        self.faults.append(Fault(kind, method.lower(), chat_id, times, delay_s, retry_after))

    def sent(self, chat_id: int) -> list[SentMessage]:
        return list(self.messages[chat_id].values())

    @property
    def all_sent(self) -> list[SentMessage]:
        return [m for chat in self.messages.values() for m in chat.values()]

    def calls(self, method: str) -> list[tuple[float, dict[str, Any]]]:
        return [(at, p) for at, m, p in self.requests if m == method.lower()]

    def _known(self, chat_id: int) -> Chat:
        return self.chats.get(chat_id) or self.add_chat(chat_id)

    # ------------------------------------------------------------------ HTTP plumbing

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"sent": len(self.all_sent), "count_429": self.count_429,
                                  "requests": len(self.requests), "conflicts": self.conflicts})

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        token, method = request.match_info["token"], request.match_info["method"].lower()
        if not _TOKEN_RE.match(token):
            return ApiError(404, "Not Found").response()
        if token != self.token:
            return ApiError(401, "Unauthorized").response()
        handler = self._methods.get(method)
        if handler is None:
            return ApiError(404, "Not Found: method not found").response()
        try:
            params = await _read_params(request)
        except ApiError as exc:
            return exc.response()
        self.requests.append((self.clock(), method, params))
        fault = self._take_fault(method, params)
        if fault and fault.kind in ("500", "502", "reset"):
            return _fault_response(request, fault)
        try:
            if fault and fault.kind in ("429", "bad_markup", "too_long"):
                raise self._forced_error(fault, params)
            response = web.json_response({"ok": True, "result": await handler(params)})
        except ApiError as exc:
            response = exc.response()
        if fault and fault.kind == "slow":
            await asyncio.sleep(fault.delay_s)    # the message is already stored
        return response

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        html = (params.get("parse_mode") or "").lower() == "html"
        for fault in self.faults:
            if fault.kind == "bad_markup" and not html:
                continue                           # only HTML can have bad markup
            chat_id = params.get("chat_id")
            if fault.method == method and (fault.chat_id is None or str(fault.chat_id) == str(chat_id)):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _forced_error(self, fault: Fault, params: dict[str, Any]) -> ApiError:
        if fault.kind == "429":
            return self._flood(_int(params.get("chat_id")), fault.retry_after)
        if fault.kind == "too_long":
            return ApiError(400, "Bad Request: message is too long")
        return ApiError(400, "Bad Request: can't parse entities: Unsupported start tag "
                             '"injected" at byte offset 0')

    # ------------------------------------------------------------------ flood control

    def _bucket(self, kind: str, chat_id: int, rate: float, burst: float) -> TokenBucket:
        key = (kind, chat_id)
        if key not in self._buckets:
            self._buckets[key] = TokenBucket(rate, burst, self.clock())
        return self._buckets[key]

    def _rate_check(self, chat: Chat) -> None:
        if not self.rate_limits:
            return
        now = self.clock()
        if now < self._penalty.get(chat.id, -math.inf):
            raise self._flood(chat.id, math.ceil(self._penalty[chat.id] - now))
        chat_rate, chat_burst, group_rate, group_burst = self._limits
        buckets = [self._global, self._bucket("chat", chat.id, chat_rate, chat_burst)]
        if chat.type != "private":
            buckets.append(self._bucket("group", chat.id, group_rate, group_burst))
        wait = max(b.wait(now) for b in buckets)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            self._penalty[chat.id] = now + retry_after
            raise self._flood(chat.id, retry_after)
        for bucket in buckets:
            bucket.take()

    def _flood(self, chat_id: int | None, retry_after: int) -> ApiError:
        self.count_429 += 1
        if chat_id is not None:
            self.count_429_by_chat[chat_id] += 1
        return ApiError(429, f"Too Many Requests: retry after {retry_after}",
                        {"retry_after": retry_after})


# ---------------------------------------------------------------------- helpers


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    try:
        if request.can_read_body and request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: request body must be a JSON object [fake]")
            params.update(body)
        elif request.can_read_body:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "Bad Request: strings must be encoded in UTF-8") from None
    for key in _JSON_FIELDS:
        if isinstance(params.get(key), str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
    return params


def _fault_response(request: web.Request, fault: Fault) -> web.StreamResponse:
    if fault.kind == "500":
        return ApiError(500, "Internal Server Error: fault injected [fake]").response()
    if fault.kind == "502":
        return web.Response(status=502, text=BAD_GATEWAY_HTML, content_type="text/html")
    if request.transport is not None:
        request.transport.abort()          # connection reset: no answer, nothing stored
    return web.Response(status=204)        # never written: the transport is gone


async def _serve(port: int, token: str, rate_limits: bool) -> None:
    fake = await FakeTelegram(token=token, rate_limits=rate_limits).start(port=port)
    print(f"PORT {fake.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Strict fake Telegram Bot API server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=TOKEN)
    parser.add_argument("--no-rate-limits", action="store_true")
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.token, not args.no_rate_limits))


if __name__ == "__main__":
    main()
