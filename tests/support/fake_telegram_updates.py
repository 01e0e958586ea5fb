"""The inbound side of the fake Telegram server (see tests.support.fake_telegram).

Owns the update queue: tests push user messages, channel posts and callback
queries; the bot takes them by getUpdates long polling (offset/limit/timeout,
the 409 for a second poller, the 409 while a webhook is set) or by webhook
delivery (`deliver_webhook`, with the secret header). Also setWebhook,
deleteWebhook, getWebhookInfo and answerCallbackQuery (stale or expired ids).

It does not own the HTTP server, chats or rate limits: `FakeTelegram` mixes
this in and supplies those.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Iterator
from typing import Any, Callable

import aiohttp

from tests.support.fake_telegram_methods import ApiError, Chat, _int, _true

_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]*$")
CONFLICT_POLL = ("Conflict: terminated by other getUpdates request; "
                 "make sure that only one bot instance is running")
CONFLICT_WEBHOOK = ("Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first")
STALE_QUERY = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class UpdatesMixin:
    """Update queue, polling, webhooks and callback queries; mixed into FakeTelegram."""

    clock: Callable[[], float]
    conflict_delay_s: float
    callback_ttl_s: float
    conflicts: int
    callback_answers: list[dict[str, Any]]
    webhook: dict[str, Any] | None
    chats: dict[int, Chat]
    _updates: list[dict[str, Any]]
    _update_ids: Iterator[int]
    _message_ids: Iterator[int]
    _callbacks: dict[str, list[float | bool]]
    _new_update: asyncio.Event
    _poll: asyncio.Future | None
    _last_conflict: float

    def add_chat(self, chat_id: int, type: str | None = None, *, title: str | None = None,
                 username: str | None = None, state: str = "ok") -> Chat: ...

    def _known(self, chat_id: int) -> Chat: ...

    # ------------------------------------------------------------------ pushing updates

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
    # ------------------------------------------------------------------ methods

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

    async def _m_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        entry = self._callbacks.get(str(p.get("callback_query_id")))
        if entry is None or entry[1] or self.clock() - float(entry[0]) > self.callback_ttl_s:
            raise ApiError(400, STALE_QUERY)
        if len(p.get("text") or "") > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG [fake]")
        entry[1] = True
        self.callback_answers.append(p)
        return True
