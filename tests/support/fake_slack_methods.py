"""The Web API methods of the fake Slack server (see tests.support.fake_slack).

Each handler takes the request's arguments (JSON, form or query, already
authenticated and rate-checked) and returns the reply's fields or raises
`ApiError(code)`. Content rules (Block Kit limits, the aggregate block text
limit, `no_text`, the 40,000-character `text` limit) and the mrkdwn lint
journal live here too, so `chat.postMessage`, `chat.update`,
`chat.postEphemeral` and `response_url` posts are held to one definition.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support.slack_mrkdwn import blocks_text_length, lint_mrkdwn, text_objects, validate_blocks

TEXT_MAX = 40_000
SCOPE_NEEDED = {
    "chat.postMessage": "chat:write", "chat.update": "chat:write", "chat.postEphemeral": "chat:write",
    "users.info": "users:read", "conversations.info": "channels:read",
    "users.conversations": "channels:read", "conversations.join": "channels:join",
}


class ApiError(Exception):
    def __init__(self, code: str, **extra: object) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


@dataclass
class FakeChannel:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    read_only: bool = False
    bot_is_member: bool = True
    members: set[str] = field(default_factory=set)
    is_im: bool = False

    def info(self) -> dict:
        return {"id": self.id, "name": self.name, "is_channel": not self.is_private and not self.is_im,
                "is_group": self.is_private, "is_im": self.is_im, "is_private": self.is_private,
                "is_archived": self.is_archived, "is_member": self.bot_is_member}


@dataclass
class FakeUser:
    id: str
    name: str
    is_admin: bool = False
    is_owner: bool = False
    is_primary_owner: bool = False
    deleted: bool = False


@dataclass
class Posted:
    channel: str
    ts: str
    text: str | None
    blocks: list | None
    thread_ts: str | None
    method: str
    at: float
    payload: dict
    user: str | None = None


@dataclass
class LintIssue:
    channel: str | None
    where: str
    text: str
    problems: list[str]


class MethodsMixin:
    """Web API method handlers; mixed into FakeSlack, which owns the state used here."""

    channels: dict[str, FakeChannel]
    users: dict[str, FakeUser]
    messages: dict[str, list[Posted]]
    ephemerals: list[Posted]
    home_views: dict[str, list[dict]]
    lint: list[LintIssue]
    scopes: set[str]
    auto_channels: bool
    blocks_text_limit: int
    long_text: str
    clock: Callable[[], float]

    def next_ts(self) -> str: ...

    def scope_needed(self, method: str) -> str | None:
        return SCOPE_NEEDED.get(method)

    def method_handler(self, method: str) -> Callable[[dict], dict]:
        table = {
            "auth.test": self.auth_test, "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update, "chat.postEphemeral": self.chat_post_ephemeral,
            "views.publish": self.views_publish, "conversations.join": self.conversations_join,
            "conversations.info": self.conversations_info, "users.info": self.users_info,
            "users.conversations": self.users_conversations,
            "apps.connections.open": self.apps_connections_open,
        }
        if method not in table:
            raise ApiError("unknown_method")
        return table[method]

    # ----------------------------------------------------------------- helpers

    def channel(self, args: dict) -> FakeChannel:
        cid = args.get("channel")
        if not isinstance(cid, str) or not cid:
            raise ApiError("channel_not_found")
        ch = self.channels.get(cid) or next((c for c in self.channels.values()
                                             if c.name == cid.lstrip("#")), None)
        if ch is None and self.auto_channels and cid[:1] == "C":
            ch = self.channels.setdefault(cid, FakeChannel(cid, cid.lower()))
        if ch is None:
            raise ApiError("channel_not_found")
        return ch

    def postable(self, args: dict) -> FakeChannel:
        ch = self.channel(args)
        if ch.is_archived:
            raise ApiError("is_archived")
        if not ch.bot_is_member and (ch.is_private or "chat:write.public" not in self.scopes):
            raise ApiError("not_in_channel")
        if ch.read_only:
            raise ApiError("restricted_action_read_only_channel")
        return ch

    def check_content(self, channel: str | None, text: object, blocks: object, *,
                      max_blocks: int = 50) -> str | None:
        """The error code the content earns, or None; lints every mrkdwn text."""
        if blocks is not None:
            errors = validate_blocks(blocks, max_blocks=max_blocks)
            if errors:
                return "invalid_blocks"
            if blocks_text_length(blocks) > self.blocks_text_limit:  # type: ignore[arg-type]
                return "msg_blocks_too_long"
            for where, kind, t in text_objects(blocks):  # type: ignore[arg-type]
                if kind == "mrkdwn":
                    self._lint(channel, where, t)
        if isinstance(text, str) and text:
            self._lint(channel, "/text", text)
        elif blocks is None:
            return "no_text"
        return None

    def _lint(self, channel: str | None, where: str, text: str) -> None:
        problems = lint_mrkdwn(text)
        if problems:
            self.lint.append(LintIssue(channel, where, text, problems))

    def _content(self, channel: str | None, args: dict) -> tuple[str | None, list | None]:
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                raise ApiError("invalid_blocks_format") from None
        if args.get("attachments"):
            raise ApiError("invalid_arguments", detail="attachments are not supported by this fake")
        text = args.get("text")
        if text is not None and not isinstance(text, str):
            raise ApiError("invalid_arguments")
        if text and len(text) > TEXT_MAX:
            if self.long_text == "reject":
                raise ApiError("msg_too_long")
            text = text[:TEXT_MAX]
        code = self.check_content(channel, text, blocks)
        if code == "invalid_blocks":
            raise ApiError(code, errors=validate_blocks(blocks))
        if code:
            raise ApiError(code)
        return text, blocks

    # ----------------------------------------------------------------- methods

    def auth_test(self, args: dict) -> dict:
        return {"url": "https://fake.slack.invalid/", "team": "Fake", "user": "newsbot", "team_id": "T0FAKE",
                "user_id": "UBOT", "bot_id": "BBOT", "is_enterprise_install": False}

    def chat_post_message(self, args: dict) -> dict:
        ch = self.postable(args)
        text, blocks = self._content(ch.id, args)
        ts = self.next_ts()
        thread_ts = args.get("thread_ts") or None
        posted = Posted(ch.id, ts, text, blocks, thread_ts, "chat.postMessage", self.clock(), dict(args))
        self.messages.setdefault(ch.id, []).append(posted)
        message = {"type": "message", "user": "UBOT", "bot_id": "BBOT", "ts": ts, "text": text or ""}
        if blocks is not None:
            message["blocks"] = blocks
        if thread_ts:
            message["thread_ts"] = thread_ts
        return {"channel": ch.id, "ts": ts, "message": message}

    def chat_update(self, args: dict) -> dict:
        ch = self.postable(args)
        target = next((p for p in self.messages.get(ch.id, []) if p.ts == args.get("ts")), None)
        if target is None:
            raise ApiError("message_not_found")
        text, blocks = self._content(ch.id, args)
        target.text, target.blocks = text, blocks
        return {"channel": ch.id, "ts": target.ts, "text": text or ""}

    def chat_post_ephemeral(self, args: dict) -> dict:
        ch = self.postable(args)
        user = args.get("user")
        if user not in self.users:
            raise ApiError("user_not_found")
        if not ch.is_im and user not in ch.members:
            raise ApiError("user_not_in_channel")
        text, blocks = self._content(ch.id, args)
        ts = self.next_ts()
        self.ephemerals.append(Posted(ch.id, ts, text, blocks, None, "chat.postEphemeral",
                                      self.clock(), dict(args), user))
        return {"message_ts": ts}

    def views_publish(self, args: dict) -> dict:
        user = args.get("user_id")
        if user not in self.users:
            raise ApiError("user_not_found")
        view = args.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                raise ApiError("invalid_arguments") from None
        if not isinstance(view, dict) or view.get("type") != "home":
            raise ApiError("invalid_arguments", detail="view.type must be home")
        errors = validate_blocks(view.get("blocks"), max_blocks=100)
        if errors:
            raise ApiError("invalid_arguments", response_metadata={"messages": errors})
        for where, kind, t in text_objects(view["blocks"]):
            if kind == "mrkdwn":
                self._lint(None, f"home:{user}{where}", t)
        self.home_views.setdefault(user, []).append(view)
        return {"view": {"id": f"V{len(self.home_views[user]):08d}", "type": "home", **view}}

    def conversations_join(self, args: dict) -> dict:
        ch = self.channel(args)
        if ch.is_archived:
            raise ApiError("is_archived")
        if ch.is_private or ch.is_im:
            raise ApiError("method_not_supported_for_channel_type")
        ch.bot_is_member = True
        return {"channel": ch.info()}

    def conversations_info(self, args: dict) -> dict:
        ch = self.channel(args)
        if ch.is_private and not ch.bot_is_member:
            raise ApiError("channel_not_found")
        return {"channel": ch.info()}

    def users_info(self, args: dict) -> dict:
        user = self.users.get(args.get("user", ""))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": {"id": user.id, "name": user.name, "deleted": user.deleted, "is_bot": user.id == "UBOT",
                         "is_admin": user.is_admin, "is_owner": user.is_owner,
                         "is_primary_owner": user.is_primary_owner, "team_id": "T0FAKE"}}

    def users_conversations(self, args: dict) -> dict:
        user = args.get("user") or "UBOT"
        types = set(str(args.get("types") or "public_channel").split(","))
        exclude_archived = str(args.get("exclude_archived", "false")).lower() in ("1", "true")
        limit = max(1, min(1000, int(args.get("limit") or 100)))
        start = int(args.get("cursor") or 0)
        found = [c for c in self.channels.values()
                 if (user in c.members or (user == "UBOT" and c.bot_is_member))
                 and _type_of(c) in types and not (exclude_archived and c.is_archived)
                 and (not c.is_private or c.bot_is_member)]
        page = found[start:start + limit]
        more = start + limit < len(found)
        return {"channels": [c.info() for c in page],
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def apps_connections_open(self, args: dict) -> dict:
        return {"url": self.socket.issue_url()}  # type: ignore[attr-defined]


def _type_of(ch: FakeChannel) -> str:
    if ch.is_im:
        return "im"
    return "private_channel" if ch.is_private else "public_channel"
