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

Strings marked [fake] are invented where the reference gives none. A journal of
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
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web

from tests.support.telegram_html import HtmlParseError, parse_html

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,64}$")
_JSON_FIELDS = ("reply_markup", "entities", "link_preview_options", "reply_parameters",
                "commands", "scope", "allowed_updates")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]*$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
CONFLICT_POLL = ("Conflict: terminated by other getUpdates request; "
                 "make sure that only one bot instance is running")
CONFLICT_WEBHOOK = ("Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first")
STALE_QUERY = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message")
BAD_GATEWAY_HTML = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" \
                   "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n" \
                   "</body>\r\n</html>\r\n"


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def response(self) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return web.json_response(body, status=self.code)


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
class Chat:
    id: int
    type: str                     # private | group | supergroup | channel
    title: str | None = None
    username: str | None = None
    state: str = "ok"             # ok | blocked | deactivated | not_found | kicked | not_member
    migrate_to: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            data["first_name"] = self.title or f"User {self.id}"
        else:
            data["title"] = self.title or f"Chat {self.id}"
        if self.username:
            data["username"] = self.username
        return data


@dataclass
class SentMessage:
    chat_id: int
    message_id: int
    text: str                     # decoded visible text
    entities: tuple               # tests.support.telegram_html.Entity
    raw: str                      # the text parameter as received
    parse_mode: str | None
    reply_markup: dict | None = None
    reply_to: int | None = None
    link_preview: dict | None = None
    edits: int = 0
    history: list[str] = field(default_factory=list)


@dataclass
class Fault:
    kind: str                     # 500 | 502 | reset | slow | 429 | bad_markup | too_long
    method: str = "sendmessage"
    chat_id: int | None = None
    times: int = 1
    delay_s: float = 1.0
    retry_after: int = 1


class FakeTelegram:
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

    # ------------------------------------------------------------------ updates

    def _push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), kind: payload}
        self._updates.append(update)
        self._new_update.set()
        self._new_update = asyncio.Event()
        return update

    def _user(self, user_id: int, username: str | None, first_name: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False,
                                "first_name": first_name or f"User{user_id}"}
        if username:
            user["username"] = username
        return user

    def push_message(self, chat_id: int, user_id: int, text: str, *, chat_type: str | None = None,
                     username: str | None = None, first_name: str | None = None,
                     sender_chat_id: int | None = None) -> dict[str, Any]:
        chat = self.chats.get(chat_id) or self.add_chat(chat_id, chat_type)
        message = {"message_id": next(self._message_ids), "date": int(time.time()),
                   "chat": chat.to_json(), "text": text}
        if chat.type == "channel":                 # channel posts are signed by the channel
            message["sender_chat"] = chat.to_json()
        else:
            message["from"] = self._user(user_id, username, first_name)
        if sender_chat_id is not None:
            message["sender_chat"] = self._known(sender_chat_id).to_json()
        if text.startswith("/"):
            length = len(text.split()[0]) if text.split() else 1
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._push("channel_post" if chat.type == "channel" else "message", message)

    def push_callback(self, chat_id: int, user_id: int, data: str, *, message_id: int | None = None,
                      username: str | None = None) -> str:
        chat = self._known(chat_id)
        query_id = f"cbq{next(self._update_ids)}"
        self._callbacks[query_id] = [self.clock(), False]
        message = {"message_id": message_id or next(self._message_ids), "date": int(time.time()),
                   "chat": chat.to_json(), "text": "alert"}
        self._push("callback_query", {"id": query_id, "from": self._user(user_id, username, None),
                                      "chat_instance": f"ci{chat_id}", "data": data,
                                      "message": message})
        return query_id

    def expire_callback(self, query_id: str) -> None:
        self._callbacks[query_id][0] = -math.inf

    async def deliver_webhook(self, secret: str | None = None) -> list[int]:
        """POST pending updates to the webhook (as Telegram does); drop those answered 2xx."""
        assert self.webhook, "setWebhook was not called"
        header = secret if secret is not None else self.webhook.get("secret_token")
        statuses = []
        async with aiohttp.ClientSession() as session:
            for update in list(self._updates):
                headers = {"X-Telegram-Bot-Api-Secret-Token": header} if header else {}
                async with session.post(self.webhook["url"], json=update, headers=headers) as resp:
                    statuses.append(resp.status)
                    if 200 <= resp.status < 300:
                        self._updates.remove(update)
        return statuses

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

    # ------------------------------------------------------------------ chats and limits

    def _chat(self, raw: Any) -> Chat:
        if isinstance(raw, str) and raw.startswith("@"):
            found = next((c for c in self.chats.values() if c.username == raw[1:]), None)
            if found is None:
                raise ApiError(400, "Bad Request: chat not found")
            return found
        chat_id = _int(raw)
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty" if raw in (None, "")
                           else "Bad Request: chat not found")
        chat = self.chats.get(chat_id)
        if chat is None and self.auto_create_chats:
            chat = self.add_chat(chat_id)
        if chat is None or chat.state == "not_found":
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _writable(self, raw: Any) -> Chat:
        chat = self._chat(raw)
        if chat.migrate_to is not None:
            raise ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                           {"migrate_to_chat_id": chat.migrate_to})
        kind = {"group": "group", "supergroup": "supergroup", "channel": "channel"}.get(chat.type)
        errors = {
            "blocked": "Forbidden: bot was blocked by the user",
            "deactivated": "Forbidden: user is deactivated",
            "kicked": f"Forbidden: bot was kicked from the {kind} chat" if kind
            else "Forbidden: bot was blocked by the user",
            "not_member": f"Forbidden: bot is not a member of the {kind or 'group'} chat",
        }
        if chat.state in errors:
            raise ApiError(403, errors[chat.state])
        return chat

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

    # ------------------------------------------------------------------ text

    def _parse_text(self, params: dict[str, Any]) -> tuple[str, tuple, str, str | None]:
        raw = params.get("text")
        if not isinstance(raw, str) or raw == "":
            raise ApiError(400, "Bad Request: message text is empty")
        if len(raw.encode("utf-8", "surrogatepass")) > 32768:
            raise ApiError(400, "Bad Request: text is too long")
        mode = (params.get("parse_mode") or "").lower() or None
        if mode in (None, "none"):
            text, entities, mode = raw.strip(" \t\r\n\v\f"), (), None
        elif mode == "html":
            try:
                parsed = parse_html(raw, strict=self.strict_html)
            except HtmlParseError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc.detail}") from None
            text, entities = parsed.text, parsed.entities
        elif mode in ("markdown", "markdownv2"):
            raise ApiError(501, "Not Implemented: this stand-in does not parse Markdown [fake]")
        else:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        if not text:
            raise ApiError(400, "Bad Request: text must be non-empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return text, entities, raw, mode

    @staticmethod
    def _check_markup(markup: Any) -> dict | None:
        if not markup:
            return None
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode("utf-8")) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _message_json(self, chat: Chat, msg: SentMessage) -> dict[str, Any]:
        data: dict[str, Any] = {"message_id": msg.message_id, "date": int(time.time()),
                                "chat": chat.to_json(), "text": msg.text}
        if chat.type != "channel":
            data["from"] = self._me()
        if msg.entities:
            data["entities"] = [e.to_json() for e in msg.entities]
        if msg.reply_markup:
            data["reply_markup"] = msg.reply_markup
        if msg.edits:
            data["edit_date"] = int(time.time())
        return data

    def _me(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "newsbot",
                "username": "newsbot_test_bot", "can_join_groups": True,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    # ------------------------------------------------------------------ methods

    async def _m_getMe(self, p: dict[str, Any]) -> Any:
        return self._me()

    async def _m_sendMessage(self, p: dict[str, Any]) -> Any:
        chat = self._writable(p.get("chat_id"))
        text, entities, raw, mode = self._parse_text(p)
        markup = self._check_markup(p.get("reply_markup"))
        reply_to = _int((p.get("reply_parameters") or {}).get("message_id")
                        or p.get("reply_to_message_id"))
        allow = (p.get("reply_parameters") or {}).get("allow_sending_without_reply") \
            or str(p.get("allow_sending_without_reply")).lower() == "true"
        if reply_to and reply_to not in self.messages[chat.id] and not allow:
            raise ApiError(400, "Bad Request: message to be replied not found")
        self._rate_check(chat)
        msg = SentMessage(chat.id, next(self._message_ids), text, entities, raw, mode, markup,
                          reply_to, p.get("link_preview_options"))
        self.messages[chat.id][msg.message_id] = msg
        return self._message_json(chat, msg)

    async def _m_editMessageText(self, p: dict[str, Any]) -> Any:
        chat = self._writable(p.get("chat_id"))
        text, entities, raw, mode = self._parse_text(p)
        markup = self._check_markup(p.get("reply_markup"))
        msg = self.messages[chat.id].get(_int(p.get("message_id")) or 0)
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if msg.text == text and msg.entities == entities and msg.reply_markup == markup:
            raise ApiError(400, NOT_MODIFIED)
        self._rate_check(chat)
        msg.history.append(msg.text)
        msg.text, msg.entities, msg.raw, msg.parse_mode = text, entities, raw, mode
        msg.reply_markup, msg.edits = markup, msg.edits + 1
        return self._message_json(chat, msg)

    async def _m_setWebhook(self, p: dict[str, Any]) -> Any:
        secret = p.get("secret_token") or ""
        if len(secret) > 256:
            raise ApiError(400, "Bad Request: secret token is too long")
        if not _SECRET_RE.match(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if not p.get("url"):
            return await self._m_deleteWebhook(p)
        self.webhook = {"url": p["url"], "secret_token": secret or None}
        if _true(p.get("drop_pending_updates")):
            self._updates.clear()
        return True

    async def _m_deleteWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = None
        if _true(p.get("drop_pending_updates")):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, p: dict[str, Any]) -> Any:
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    async def _m_getUpdates(self, p: dict[str, Any]) -> Any:
        if self.webhook:
            raise ApiError(409, CONFLICT_WEBHOOK)
        offset, limit = _int(p.get("offset")) or 0, min(100, max(1, _int(p.get("limit")) or 100))
        timeout = min(50, max(0, _int(p.get("timeout")) or 0))
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if self._poll and not self._poll.done():
            self._poll.set_result(True)            # the earlier long poll gets the 409
        me: asyncio.Future = asyncio.get_running_loop().create_future()
        self._poll = me
        try:
            return await self._long_poll(me, limit, time.monotonic() + timeout)
        finally:
            if self._poll is me:
                self._poll = None

    async def _long_poll(self, me: asyncio.Future, limit: int, deadline: float) -> Any:
        while True:
            if me.done():
                self.conflicts += 1
                if self.clock() - self._last_conflict < 3.0:
                    await asyncio.sleep(self.conflict_delay_s)
                self._last_conflict = self.clock()
                raise ApiError(409, CONFLICT_POLL)
            if self._updates or time.monotonic() >= deadline:
                return self._updates[:limit]
            waiter = asyncio.ensure_future(self._new_update.wait())
            await asyncio.wait({me, waiter}, timeout=deadline - time.monotonic(),
                               return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()

    async def _m_setMyCommands(self, p: dict[str, Any]) -> Any:
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified [fake]"
                           if isinstance(commands, list) else "Bad Request: commands must be an array")
        for cmd in commands:
            if not _COMMAND_RE.match(str(cmd.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID [fake]")
        self.commands = [{"command": c["command"], "description": c["description"]}
                         for c in commands]
        return True

    async def _m_getMyCommands(self, p: dict[str, Any]) -> Any:
        return self.commands

    async def _m_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        entry = self._callbacks.get(str(p.get("callback_query_id")))
        if entry is None or entry[1] or self.clock() - float(entry[0]) > self.callback_ttl_s:
            raise ApiError(400, STALE_QUERY)
        if len(p.get("text") or "") > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG [fake]")
        entry[1] = True
        self.callback_answers.append(p)
        return True

    async def _m_getChatMember(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p.get("chat_id"))
        user_id = _int(p.get("user_id"))
        if user_id is None:
            raise ApiError(400, "Bad Request: user_id is empty [fake]")
        default = "member" if chat.type == "private" and user_id == chat.id else "left"
        return _member_json(user_id, self.members[chat.id].get(user_id, default))

    async def _m_getChatAdministrators(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p.get("chat_id"))
        return [_member_json(uid, status) for uid, status in self.members[chat.id].items()
                if status in ("creator", "administrator")]

    async def _m_getChat(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p.get("chat_id"))
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts",
                               "premium_subscription", "gifts_from_channels"), False)
        return {**chat.to_json(), "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": gifts}

    async def _m_close(self, p: dict[str, Any]) -> Any:
        return True

    async def _m_logOut(self, p: dict[str, Any]) -> Any:
        return True


# ---------------------------------------------------------------------- helpers


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


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


def _member_json(user_id: int, status: str) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
    data: dict[str, Any] = {"user": user, "status": status}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        data.update(dict.fromkeys((
            "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
            "can_manage_video_chats", "can_restrict_members", "can_promote_members",
            "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
            "can_delete_stories"), False))
        data.update(can_manage_chat=True, can_post_messages=True)
    elif status == "restricted":
        data.update(dict.fromkeys((
            "is_member", "can_change_info", "can_invite_users", "can_pin_messages",
            "can_send_messages", "can_send_polls", "can_send_other_messages",
            "can_add_web_page_previews", "can_manage_topics", "can_send_audios",
            "can_send_documents", "can_send_photos", "can_send_videos", "can_send_video_notes",
            "can_send_voice_notes", "can_edit_tag", "can_react_to_messages"), False),
            until_date=0, is_member=True)
    elif status == "kicked":
        data["until_date"] = 0
    return data


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
