"""The Bot API method handlers of the fake Telegram server (see tests.support.fake_telegram).

Holds what a sent or edited message is held to: the API error envelope
(`ApiError`), chat lookups and the chat states that refuse writes (blocked,
deactivated, kicked, not a member, migrated), the text rules (32 KiB raw, HTML
via `telegram_html.parse_html`, 4096 code points after parsing, empty text),
`callback_data` ≤ 64 bytes, and the handlers for getMe, sendMessage,
editMessageText, setMyCommands/getMyCommands, getChat, getChatMember,
getChatAdministrators, close and logOut.

It does not own state, rate limits or HTTP: `FakeTelegram` mixes this in and
supplies the chats, journals, `_rate_check` and the dispatcher. Updates,
long polling, webhooks and callback queries live in
tests.support.fake_telegram_updates.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.telegram_html import HtmlParseError, parse_html

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message")


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def response(self) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return web.json_response(body, status=self.code)


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


class MethodsMixin:
    """Outbound method handlers and message rules; mixed into FakeTelegram, which owns the state."""

    strict_html: bool
    auto_create_chats: bool
    bot_id: int
    chats: dict[int, Chat]
    members: dict[int, dict[int, str]]
    messages: dict[int, dict[int, SentMessage]]
    commands: list[dict[str, str]]
    _message_ids: Iterator[int]

    def add_chat(self, chat_id: int, type: str | None = None, *, title: str | None = None,
                 username: str | None = None, state: str = "ok") -> Chat: ...

    def _rate_check(self, chat: Chat) -> None: ...

    # ------------------------------------------------------------------ chats

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
