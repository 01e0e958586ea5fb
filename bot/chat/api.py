"""The contract between platform adapters and the command layer.

Adapters (bot.adapters.telegram, bot.adapters.slack) turn an incoming update
into a `ChatContext` and call `CommandRouter.handle(ctx, text)` for commands or
`handle_action(ctx, action, value)` for button clicks, then render the
returned `Reply` for their platform. The router never raises for anything a
member sends: bad input becomes a helpful Reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

ChatType = Literal["private", "group", "channel"]


@dataclass(frozen=True, slots=True)
class ChatContext:
    platform: Literal["telegram", "slack", "console"]
    chat_id: str             # Telegram chat id / Slack channel id: where subscriptions live
    user_id: str
    chat_type: ChatType
    is_admin: bool           # may change this chat's subscriptions (adapter decides per platform rules)
    is_operator: bool = False  # listed in config as an operator
    user_name: str | None = None
    chat_title: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: str              # "mute" | "unsub"
    value: str               # story id / subscription id (short: fits Telegram's 64-byte callback_data)


@dataclass(frozen=True, slots=True)
class Reply:
    """Plain text (adapters escape it). `title` is an optional bold first line."""

    text: str
    title: str | None = None
    ok: bool = True          # False: the command was refused or invalid
    buttons: tuple[Button, ...] = ()


class CommandRouter(Protocol):
    async def handle(self, ctx: ChatContext, text: str) -> Reply:
        """`text` is the command with its arguments: "/subscribe central-asia" or "subscribe …"."""

    async def handle_action(self, ctx: ChatContext, action: str, value: str) -> Reply:
        """A button under an alert was pressed."""

    def command_list(self) -> list[tuple[str, str]]:
        """(command, description) pairs for set_my_commands / help."""
