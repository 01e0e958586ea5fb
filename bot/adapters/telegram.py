"""Telegram plumbing shared by the sender and the inbound adapter.

- `TelegramSettings`: token, Bot API base URL, webhook, operators, limits
  (`from_env` reads TELEGRAM_* variables; the composition root may build it
  from its own settings instead).
- `build_bot`: a `telegram.Bot` pointed at the configured base URL.
- `TelegramPacer`: newsbot's own process-wide send limits — ≤ 30 messages/s
  overall, ≤ 1 message/s per chat, ≤ 20 messages/min per group or channel —
  as leaky schedulers that *wait* instead of failing. A chat's sends are
  serialised (FIFO); a chat waits for its own slot before it takes a global slot,
  so a busy chat never holds back the others. A 429 delays that chat only.

The sender lives in `bot.adapters.telegram_send`, updates and commands in
`bot.adapters.telegram_inbound`; both are importable from here too.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import weakref
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Literal, Mapping

import structlog
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.errors import ConfigError

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


def normalize_base_url(url: str | None) -> str:
    """Accept 'https://host', 'https://host/bot' or a '{token}' template; return PTB's form."""
    url = (url or "").strip() or DEFAULT_BASE_URL
    if "{token}" in url or url.endswith("/bot"):
        return url
    return url.rstrip("/") + "/bot"


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    token: str
    base_url: str = DEFAULT_BASE_URL
    link_preview: bool = False
    update_mode: Literal["edit", "reply"] = "edit"     # story updates edit the alert or reply to it
    operator_ids: frozenset[str] = frozenset()         # any iterable of ids; stored as strings
    mode: Literal["polling", "webhook"] | None = None  # None: webhook when webhook_url is set
    webhook_url: str | None = None                     # the public HTTPS URL Telegram posts to
    webhook_secret: str | None = None
    poll_timeout_s: float = 30.0                       # getUpdates long-poll timeout
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0                       # generous: a timeout may mean a duplicate
    connection_pool_size: int = 256
    messages_per_second: float = 30.0
    chat_interval_s: float = 1.0                       # ≤ 1 message/s per chat
    group_interval_s: float = 3.0                      # ≤ 20 messages/min per group or channel
    max_local_wait_s: float = 30.0                     # longer: RetryLater instead of waiting
    admin_cache_s: float = 60.0

    def __post_init__(self) -> None:
        if not _TOKEN_RE.match(self.token or ""):
            raise ConfigError("the Telegram bot token is missing or malformed",
                              key="TELEGRAM_BOT_TOKEN",
                              hint="create a bot with @BotFather and set TELEGRAM_BOT_TOKEN "
                                   "to the token it gives you (digits:letters)")
        mode = self.mode or ("webhook" if self.webhook_url else "polling")
        if mode not in ("polling", "webhook"):
            raise ConfigError(f"unknown Telegram mode {mode!r}", key="telegram.mode",
                              hint="use 'polling' (one instance) or 'webhook' (several)")
        if mode == "webhook" and not self.webhook_url:
            raise ConfigError("webhook mode needs the public URL Telegram should post to",
                              key="telegram.webhook_url",
                              hint="e.g. https://news.example.org/telegram (ports 443, 80, 88, 8443)")
        if mode == "webhook" and not _SECRET_RE.match(self.webhook_secret or ""):
            raise ConfigError("webhook mode needs a secret of 1-256 characters A-Z a-z 0-9 _ -",
                              key="TELEGRAM_WEBHOOK_SECRET",
                              hint="e.g. TELEGRAM_WEBHOOK_SECRET=$(openssl rand -hex 32)")
        if self.update_mode not in ("edit", "reply"):
            raise ConfigError(f"unknown update mode {self.update_mode!r}",
                              key="TELEGRAM_UPDATE_MODE", hint="use 'edit' or 'reply'")
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        object.__setattr__(self, "operator_ids", frozenset(str(x) for x in self.operator_ids))

    @classmethod
    def of(cls, settings: TelegramSettings | None = None, **options: object) -> TelegramSettings:
        """Settings from keyword options (`operators=` is accepted for `operator_ids=`)."""
        if settings is not None:
            return settings
        if "operators" in options:
            options["operator_ids"] = options.pop("operators") or ()
        options = {k: v for k, v in options.items() if v is not None}
        return cls(**options)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> TelegramSettings:
        env = os.environ if env is None else env
        operators = {x.strip() for x in env.get("TELEGRAM_OPERATOR_IDS", "").split(",") if x.strip()}
        values: dict[str, object] = {
            "token": env.get("TELEGRAM_BOT_TOKEN", ""),
            "base_url": env.get("TELEGRAM_API_BASE_URL") or DEFAULT_BASE_URL,
            "link_preview": env.get("TELEGRAM_LINK_PREVIEW", "").lower() in ("1", "true", "yes"),
            "update_mode": env.get("TELEGRAM_UPDATE_MODE", "edit"),
            "operator_ids": frozenset(operators),
            "mode": env.get("TELEGRAM_MODE") or None,
            "webhook_url": env.get("TELEGRAM_WEBHOOK_URL") or None,
            "webhook_secret": env.get("TELEGRAM_WEBHOOK_SECRET") or None,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def build_bot(settings: TelegramSettings, *, pool_size: int | None = None) -> Bot:
    """A Bot for sending; its HTTP timeouts come from the settings."""
    request = HTTPXRequest(
        connection_pool_size=pool_size or settings.connection_pool_size,
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        write_timeout=settings.read_timeout_s,
        pool_timeout=settings.read_timeout_s,
    )
    return Bot(settings.token, base_url=settings.base_url, request=request)


def is_group_address(chat_id: str) -> bool:
    """Groups, supergroups and channels have negative ids or an @username."""
    return chat_id.startswith("-") or chat_id.startswith("@")


@dataclass
class _ChatSlot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0


class TelegramPacer:
    """Process-wide send pacing; share one instance between every sender of a bot."""

    def __init__(self, *, messages_per_second: float = 30.0, chat_interval_s: float = 1.0,
                 group_interval_s: float = 3.0, max_wait_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self._spacing = 1.0 / messages_per_second
        self._chat_interval, self._group_interval = chat_interval_s, group_interval_s
        self._max_wait, self._clock, self._sleep = max_wait_s, clock, sleep
        self._global_next = 0.0
        self._chats: dict[str, _ChatSlot] = {}

    @classmethod
    def from_settings(cls, settings: TelegramSettings) -> TelegramPacer:
        return cls(messages_per_second=settings.messages_per_second,
                   chat_interval_s=settings.chat_interval_s,
                   group_interval_s=settings.group_interval_s,
                   max_wait_s=settings.max_local_wait_s)

    async def acquire(self, chat_id: str) -> float | None:
        """Wait for this chat's turn and a global slot. Returns None when the caller may send
        now, or the seconds to come back after when the chat's wait exceeds `max_wait_s`."""
        slot = self._chats.setdefault(chat_id, _ChatSlot())
        async with slot.lock:
            wait = slot.next_at - self._clock()
            if wait > self._max_wait:
                return wait
            if wait > 0:
                await self._sleep(wait)
            now = self._clock()
            start = max(now, self._global_next)
            self._global_next = start + self._spacing
            if start > now:
                await self._sleep(start - now)
            interval = self._group_interval if is_group_address(chat_id) else self._chat_interval
            slot.next_at = max(slot.next_at, start + interval)
        self._forget_idle()
        return None

    def delay_chat(self, chat_id: str, seconds: float) -> None:
        """Telegram said 429 for this chat: nothing goes to it for `seconds`."""
        slot = self._chats.setdefault(chat_id, _ChatSlot())
        slot.next_at = max(slot.next_at, self._clock() + seconds)

    def not_before(self, chat_id: str) -> float:
        """Seconds until this chat may receive again (0 when it may now)."""
        slot = self._chats.get(chat_id)
        return max(0.0, slot.next_at - self._clock()) if slot else 0.0

    def _forget_idle(self) -> None:
        if len(self._chats) < 20_000:
            return
        now = self._clock()
        for chat_id in [c for c, s in self._chats.items() if s.next_at < now and not s.lock.locked()]:
            del self._chats[chat_id]


_PACERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, TelegramPacer]] = \
    weakref.WeakKeyDictionary()


def shared_pacer(settings: TelegramSettings) -> TelegramPacer:
    """The one pacer of this bot token in this process (per event loop): every sender and
    every reply of the token shares it, so the limits hold for the process as a whole."""
    per_loop = _PACERS.setdefault(asyncio.get_running_loop(), {})
    if settings.token not in per_loop:
        per_loop[settings.token] = TelegramPacer.from_settings(settings)
    return per_loop[settings.token]


def __getattr__(name: str) -> object:
    """`from bot.adapters.telegram import TelegramSender, TelegramInbound` (lazy: no cycle)."""
    if name == "TelegramSender":
        from bot.adapters.telegram_send import TelegramSender
        return TelegramSender
    if name == "TelegramInbound":
        from bot.adapters.telegram_inbound import TelegramInbound
        return TelegramInbound
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
