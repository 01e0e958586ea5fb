"""TelegramSender: renders an outbox message and sends it through `telegram.Bot`.

Implements `bot.ports.Sender`: never raises for Telegram's answer, returns
Delivered, RetryLater or Rejected. Every send first waits on the shared
`TelegramPacer` (our own limits, so 429s stay rare), then maps PTB's
exceptions in one place, `classify_error`:

| Telegram says                         | result                                          |
|---------------------------------------|-------------------------------------------------|
| 429 retry_after=N                     | RetryLater(N); only that chat is delayed        |
| group upgraded (migrate_to_chat_id)   | Rejected(migrate_to=new id)                     |
| 403 blocked / kicked / deactivated    | Rejected(destination_gone=True)                 |
| 400 chat not found                    | Rejected(destination_gone=True)                 |
| 400 can't parse entities              | resend once as plain text at once (logged: bug) |
| 400 message is too long               | re-render shorter once, then plain once         |
| 400 message is not modified (edit)    | Delivered (nothing to change)                   |
| 400 message to edit not found         | sent as a new message                           |
| other 400                             | Rejected                                        |
| 401/404 token                         | RetryLater(5 min), logged loudly                |
| 5xx, 502 HTML, reset, other network   | RetryLater with exponential backoff             |
| timeout before sending (connect/pool) | RetryLater(short): nothing was sent             |
| timeout after sending (read/write)    | RetryLater; may have been delivered (see below) |

Duplicates: the Bot API has no idempotency key, so a read timeout cannot tell
whether Telegram stored the message. We choose at-least-once: the outbox
retries, and a subscriber may see at most one extra copy per timed-out attempt.
The read timeout is generous (15 s) so that this stays rare, and it is logged
as `telegram_send_timed_out`. Edits are idempotent, so updates never duplicate.

Does not: retry inside `send` (the outbox owns retries), store anything, or
receive updates (see `telegram_inbound`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

import httpx
import structlog
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.adapters.telegram import TelegramPacer, TelegramSettings, build_bot, shared_pacer
from bot.core.render_telegram import (
    RenderedTelegram,
    alert_buttons,
    render_telegram,
    render_telegram_digest,
    render_text,
)
from bot.errors import ConfigError
from bot.types import Delivered, OutboxMessage, Rejected, RetryLater, SendResult

log = structlog.get_logger(__name__)

SHORTER_CHARS = 3000
_GONE_BAD_REQUESTS = ("chat not found", "user not found", "peer_id_invalid",
                      "group chat was deactivated", "need administrator rights",
                      "not enough rights to send", "have no rights to send")


@dataclass(frozen=True, slots=True)
class Fallback:
    """Telegram refused this payload, but another form of it may pass."""

    kind: Literal["plain", "shorter", "not_modified", "edit_missing"]
    reason: str


def backoff_s(attempts: int) -> float:
    """5 s, 10 s, 20 s … capped at 5 minutes."""
    return float(min(300, 5 * 2 ** max(0, min(attempts, 10))))


def _retry_after_s(exc: RetryAfter) -> float:
    value = exc._retry_after if hasattr(exc, "_retry_after") else exc.retry_after  # noqa: SLF001
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)


def classify_error(exc: TelegramError, *, attempts: int = 0) -> SendResult | Fallback:
    """The one place that maps python-telegram-bot's errors to outcomes."""
    reason = str(exc)
    if isinstance(exc, RetryAfter):
        after = _retry_after_s(exc)
        return RetryLater(after, f"Telegram flood control: retry after {after:g}s")
    if isinstance(exc, ChatMigrated):
        return Rejected(f"group was upgraded to supergroup {exc.new_chat_id}",
                        migrate_to=str(exc.new_chat_id))
    if isinstance(exc, Forbidden):
        return Rejected(f"Telegram refused the chat: {reason}", destination_gone=True)
    if isinstance(exc, InvalidToken):
        return RetryLater(300.0, "Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN")
    if isinstance(exc, BadRequest):       # before NetworkError: BadRequest subclasses it
        return _classify_bad_request(reason)
    if isinstance(exc, TimedOut):
        cause = exc.__cause__
        if isinstance(cause, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return RetryLater(min(5.0, backoff_s(attempts)), "timed out before sending; not sent")
        return RetryLater(backoff_s(attempts),
                          "timed out waiting for Telegram; the message may have been delivered")
    if isinstance(exc, NetworkError):
        return RetryLater(backoff_s(attempts), f"Telegram unreachable or failing: {reason}")
    return RetryLater(backoff_s(attempts), f"unexpected Telegram error: {reason}")


def _classify_bad_request(reason: str) -> SendResult | Fallback:
    text = reason.lower()
    if "can't parse entities" in text:
        return Fallback("plain", reason)
    if "message is too long" in text or "text is too long" in text:
        return Fallback("shorter", reason)
    if "message is not modified" in text:
        return Fallback("not_modified", reason)
    if "message to edit not found" in text or "message can't be edited" in text:
        return Fallback("edit_missing", reason)
    if any(marker in text for marker in _GONE_BAD_REQUESTS):
        return Rejected(f"Telegram refused the chat: {reason}", destination_gone=True)
    return Rejected(f"Telegram refused the message: {reason}")


@dataclass(frozen=True, slots=True)
class _Payload:
    rendered: RenderedTelegram
    markup: InlineKeyboardMarkup | None
    edit_id: int | None          # edit this message instead of sending
    reply_to: int | None


class TelegramSender:
    """Sends outbox messages to Telegram chats. `async with TelegramSender(settings) as s:`."""

    platform = "telegram"

    def __init__(self, settings: TelegramSettings | None = None, *,
                 pacer: TelegramPacer | None = None, bot: Bot | None = None,
                 **options: object) -> None:
        """`TelegramSender(settings)` or `TelegramSender(token=…, base_url=…, link_preview=…)`."""
        self.settings = TelegramSettings.of(settings, **options)
        self._pacer = pacer
        self.bot = bot or build_bot(self.settings)
        self._started = False
        self._start_lock = asyncio.Lock()

    @property
    def pacer(self) -> TelegramPacer:
        """The token's shared pacer unless one was given (resolved inside the event loop)."""
        if self._pacer is None:
            self._pacer = shared_pacer(self.settings)
        return self._pacer

    async def start(self) -> None:
        """Opens the HTTP client and checks the token (getMe); a bad token is a ConfigError.
        Optional: the first `send` starts the sender too."""
        async with self._start_lock:
            if self._started:
                return
            try:
                await self.bot.initialize()
            except InvalidToken as exc:
                raise ConfigError("Telegram rejected the bot token", key="TELEGRAM_BOT_TOKEN",
                                  hint="copy the token again from @BotFather") from exc
            self._started = True

    async def close(self) -> None:
        if self._started:
            await self.bot.shutdown()
            self._started = False

    async def __aenter__(self) -> TelegramSender:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, message: OutboxMessage) -> SendResult:
        chat_id = message.destination.address.strip()
        log_ = log.bind(outbox_id=message.id, chat_id=chat_id, kind=message.kind)
        if not _valid_chat(chat_id):
            return Rejected(f"{chat_id!r} is not a Telegram chat id or @channel name",
                            destination_gone=True)
        if not self._started:
            try:
                await self.start()
            except ConfigError as exc:
                log_.error("telegram_token_rejected", error=str(exc))
                return RetryLater(300.0, str(exc))
            except TelegramError as exc:
                return RetryLater(backoff_s(message.attempts), f"could not reach Telegram: {exc}")
        payload = self._payload(message)
        if payload is None:
            log_.error("telegram_message_empty")
            return Rejected(f"outbox message {message.id} ({message.kind}) has nothing to send")
        result = await self._attempt(chat_id, payload, payload.rendered.html, message, log_)
        if isinstance(result, Fallback):
            result = await self._fallback(chat_id, payload, result, message, log_)
        return self._settle(chat_id, result, log_)

    # ------------------------------------------------------------------ one request

    async def _attempt(self, chat_id: str, payload: _Payload, text: str | None,
                       message: OutboxMessage, log_) -> SendResult | Fallback:
        wait = await self.pacer.acquire(chat_id)
        if wait is not None:
            return RetryLater(wait, "this chat is rate limited; waiting its turn")
        try:
            sent = await self._request(chat_id, payload, text)
        except TelegramError as exc:
            if isinstance(exc, RetryAfter):       # this chat only: the others keep going
                self.pacer.delay_chat(chat_id, _retry_after_s(exc))
            if isinstance(exc, TimedOut):
                log_.warning("telegram_send_timed_out", cause=repr(exc.__cause__))
            return classify_error(exc, attempts=message.attempts)
        message_id = sent.message_id if isinstance(sent, Message) else payload.edit_id
        return Delivered(str(message_id))

    async def _request(self, chat_id: str, payload: _Payload, text: str | None) -> object:
        html = text is not None
        body = text if html else payload.rendered.plain
        mode = ParseMode.HTML if html else None
        preview = (LinkPreviewOptions(url=payload.rendered.preview_url)
                   if payload.rendered.preview_url else LinkPreviewOptions(is_disabled=True))
        if payload.edit_id is not None:
            return await self.bot.edit_message_text(
                body, chat_id=chat_id, message_id=payload.edit_id, parse_mode=mode,
                link_preview_options=preview, reply_markup=payload.markup)
        reply = (ReplyParameters(payload.reply_to, allow_sending_without_reply=True)
                 if payload.reply_to is not None else None)
        return await self.bot.send_message(
            chat_id, body, parse_mode=mode, link_preview_options=preview,
            reply_markup=payload.markup, reply_parameters=reply)

    async def _fallback(self, chat_id: str, payload: _Payload, fallback: Fallback,
                        message: OutboxMessage, log_) -> SendResult | Fallback:
        if fallback.kind == "not_modified":
            return Delivered(str(payload.edit_id))
        if fallback.kind == "edit_missing":
            log_.info("telegram_edit_target_missing", reason=fallback.reason)
            payload = _Payload(payload.rendered, payload.markup, None, None)
            return await self._attempt(chat_id, payload, payload.rendered.html, message, log_)
        if fallback.kind == "plain":
            log_.error("telegram_markup_rejected", reason=fallback.reason,
                       html=payload.rendered.html[:500])
            return await self._attempt(chat_id, payload, None, message, log_)
        log_.warning("telegram_message_too_long", reason=fallback.reason)
        shorter = self._payload(message, max_chars=SHORTER_CHARS) or payload
        result = await self._attempt(chat_id, shorter, shorter.rendered.html, message, log_)
        if isinstance(result, Fallback) and result.kind in ("plain", "shorter"):
            result = await self._attempt(chat_id, shorter, None, message, log_)
        return result

    def _settle(self, chat_id: str, result: SendResult | Fallback, log_) -> SendResult:
        if isinstance(result, Fallback):      # the fallback itself was refused: give up on it
            log_.error("telegram_send_rejected", reason=result.reason)
            return Rejected(f"Telegram refused the message even in plain form: {result.reason}")
        if isinstance(result, Delivered):
            log_.debug("telegram_message_sent", message_id=result.platform_message_id)
        elif isinstance(result, RetryLater):
            log_.warning("telegram_send_deferred", after_s=result.after_s, reason=result.reason)
        elif result.migrate_to:
            log_.warning("telegram_chat_migrated", migrate_to=result.migrate_to)
        elif result.destination_gone:
            log_.warning("telegram_destination_gone", reason=result.reason)
        else:
            log_.error("telegram_send_rejected", reason=result.reason)
        return result

    # ------------------------------------------------------------------ rendering

    def _payload(self, message: OutboxMessage, *, max_chars: int = 4096) -> _Payload | None:
        preview = self.settings.link_preview
        if message.kind in ("alert", "update") and message.brief is not None:
            rendered = render_telegram(message.brief, link_preview=preview, max_chars=max_chars)
            buttons = alert_buttons(message.story_id, message.subscription_id)
        elif message.kind == "digest" and message.briefs:
            title = message.text or "Your news digest"
            rendered = render_telegram_digest(message.briefs, message.extra_count, title,
                                              max_chars=max_chars)
            buttons = alert_buttons(None, message.subscription_id)
        elif message.text:
            rendered = RenderedTelegram(render_text(message.text),
                                        render_text(message.text, plain=True))
            buttons = ()
        else:
            return None
        markup = (InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)
                                         for label, data in buttons]]) if buttons else None)
        edit_id = reply_to = None
        if message.kind == "update" and message.reply_to and message.reply_to.isdigit():
            if self.settings.update_mode == "edit":
                edit_id = int(message.reply_to)
            else:
                reply_to = int(message.reply_to)
        return _Payload(rendered, markup, edit_id, reply_to)


def _valid_chat(chat_id: str) -> bool:
    if chat_id.startswith("@"):
        return len(chat_id) > 1
    return chat_id.lstrip("-").isdigit()
