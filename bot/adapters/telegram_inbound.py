"""TelegramInbound: member commands and button presses, through python-telegram-bot.

PTB's `Application` runs inside newsbot's event loop (`initialize`, `start`,
`updater.start_polling`; never `run_polling`). Long polling is the default;
with `webhook_url` set, `start` registers the webhook (with its secret) and
`webhook_handler` — mounted by the lead on newsbot's aiohttp server — checks
`X-Telegram-Bot-Api-Secret-Token` on every request (403 when wrong) and feeds
PTB's update queue.

Each command message, channel post or callback query becomes a `ChatContext`:
private chats are their own admins; in groups `getChatMember` decides (cached
briefly); channel posts come from the channel's admins; operators are the
configured user ids. The `CommandRouter` answers; replies go out through
`telegram.Bot` under the shared `TelegramPacer`. Free text in private chats goes
to the router too (it answers helpfully); in groups it is ignored.

A second poller on the same token (409 Conflict) stops polling with one clear
error, `telegram_polling_conflict`, instead of a crash loop. Nothing a member
sends can crash a handler: failures are logged and the update is dropped.

Does not: parse commands (the router does), store anything, or send alerts.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Awaitable, Callable
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from telegram import (
    Bot,
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
    User,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.adapters.telegram import TelegramPacer, TelegramSettings, shared_pacer
from bot.chat.api import ChatContext, ChatType, CommandRouter, Reply
from bot.core.render_telegram import (
    callback_data,
    parse_callback_data,
    render_reply,
    render_text,
    shorten,
)
from bot.errors import BotError

log = structlog.get_logger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "channel_post", "callback_query")
CONFLICT_HINT = ("another newsbot instance is polling this bot token; "
                 "run one instance or use webhook mode")
_CHAT_TYPES: dict[str, ChatType] = {"private": "private", "group": "group",
                                    "supergroup": "group", "channel": "channel"}


class PollingConflictError(BotError):
    """Telegram answered 409: some other process polls (or set a webhook for) this token."""


class TelegramInbound:
    """Receives updates and answers them. `await start()` … `await stop()`."""

    def __init__(self, settings: TelegramSettings | None = None,
                 router: CommandRouter | None = None, *, pacer: TelegramPacer | None = None,
                 **options: object) -> None:
        """`TelegramInbound(settings, router)` or `TelegramInbound(token=…, router=…,
        base_url=…, operators=…, mode=…, webhook_url=…, webhook_secret=…)`."""
        if router is None:
            raise TypeError("TelegramInbound needs a CommandRouter (router=...)")
        self.settings = settings = TelegramSettings.of(settings, **options)
        self.router = router
        self._pacer = pacer
        self.conflict: str | None = None          # set when polling stopped on a 409
        self.conflict_detected = asyncio.Event()
        self._admins: dict[tuple[int, int], tuple[float, bool]] = {}
        self._chat_locks: dict[int, asyncio.Lock] = {}    # one chat's updates stay in order
        self.app: Application = (
            Application.builder().token(settings.token).base_url(settings.base_url)
            .job_queue(None).concurrent_updates(16)
            .connect_timeout(settings.connect_timeout_s).read_timeout(settings.read_timeout_s)
            .write_timeout(settings.read_timeout_s).get_updates_read_timeout(10.0)
            .build())
        self.app.add_handler(TypeHandler(Update, self._on_update))
        self.app.add_error_handler(self._on_error)

    @property
    def bot(self) -> Bot:
        return self.app.bot

    @property
    def pacer(self) -> TelegramPacer:
        """The token's shared pacer unless one was given (resolved inside the event loop)."""
        if self._pacer is None:
            self._pacer = shared_pacer(self.settings)
        return self._pacer

    @property
    def webhook_mode(self) -> bool:
        return self.settings.mode == "webhook"

    def web_routes(self) -> list[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]]]:
        """(method, path, handler) for newsbot's web server: the webhook, in webhook mode."""
        if not self.webhook_mode:
            return []
        path = urlsplit(self.settings.webhook_url or "").path or "/telegram"
        return [("POST", path, self.webhook_handler)]

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """getMe, register the commands, then poll (or set the webhook)."""
        await self.app.initialize()
        await self._register_commands()
        await self.app.start()
        if self.webhook_mode:
            await self.bot.set_webhook(self.settings.webhook_url or "",
                                       secret_token=self.settings.webhook_secret,
                                       allowed_updates=list(ALLOWED_UPDATES))
            log.info("telegram_webhook_set", url=self.settings.webhook_url)
            return
        await self.app.updater.start_polling(   # type: ignore[union-attr]
            timeout=int(self.settings.poll_timeout_s), bootstrap_retries=5,
            allowed_updates=list(ALLOWED_UPDATES), error_callback=self._on_poll_error)
        log.info("telegram_polling_started", base_url=self.settings.base_url)

    async def stop(self) -> None:
        updater = self.app.updater
        if updater is not None and updater.running:
            try:
                await updater.stop()
            except PollingConflictError:
                pass                               # already reported when it happened
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def _register_commands(self) -> None:
        commands = self.router.command_list()
        try:
            await self.bot.set_my_commands(commands)
        except TelegramError as exc:
            log.error("telegram_commands_rejected", error=str(exc),
                      commands=[c for c, _ in commands])

    def _on_poll_error(self, exc: TelegramError) -> None:
        """PTB's polling loop calls this synchronously; raising ends that loop for good."""
        if isinstance(exc, Conflict):
            self.conflict = f"{CONFLICT_HINT} (Telegram said: {exc})"
            self.conflict_detected.set()
            log.error("telegram_polling_conflict", error=str(exc), hint=CONFLICT_HINT)
            raise PollingConflictError(CONFLICT_HINT) from exc
        log.warning("telegram_polling_failed", error=str(exc))

    # ------------------------------------------------------------------ webhook

    async def webhook_handler(self, request: web.Request) -> web.Response:
        """aiohttp handler for Telegram's webhook POSTs (mount it on newsbot's web app)."""
        expected = (self.settings.webhook_secret or "").encode()
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            log.warning("telegram_webhook_rejected", remote=request.remote)
            return web.Response(status=403, text="wrong or missing secret token")
        if not self.app.running:
            return web.Response(status=503, text="not started")
        try:
            update = Update.de_json(await request.json(), self.bot)
        except Exception as exc:   # noqa: BLE001 — any body a stranger posts is just refused
            log.warning("telegram_webhook_bad_body", error=str(exc))
            return web.Response(status=400, text="body is not a Telegram update")
        await self.app.update_queue.put(update)
        return web.Response(status=200)

    # ------------------------------------------------------------------ updates

    async def _on_update(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not isinstance(update, Update):
            return
        chat = update.effective_chat
        lock = self._chat_lock(chat.id if chat else 0)
        try:
            async with lock:
                if update.callback_query is not None:
                    await self._on_callback(update.callback_query)
                elif (message := update.message or update.channel_post) and message.text:
                    await self._on_text(message)
        except Exception:   # noqa: BLE001 — nothing a member sends may stop the bot
            log.exception("telegram_update_failed", update_id=update.update_id,
                          chat_id=chat.id if chat else None)

    def _chat_lock(self, chat_id: int) -> asyncio.Lock:
        if len(self._chat_locks) > 10_000:
            for key in [k for k, v in self._chat_locks.items() if not v.locked()]:
                del self._chat_locks[key]
        return self._chat_locks.setdefault(chat_id, asyncio.Lock())

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram_handler_failed", error=repr(context.error))

    async def _on_text(self, message: Message) -> None:
        text = message.text.strip() if message.text else ""
        chat = message.chat
        if text.startswith("/"):
            command = self._own_command(text)
            if command is None:
                return                               # addressed to another bot
            text = command
        elif chat.type != Chat.PRIVATE:
            return                                   # chatter in groups is not for us
        ctx = await self._context(chat, message.from_user, message.sender_chat)
        reply = await self.router.handle(ctx, text)
        await self._reply(chat.id, reply)

    def _own_command(self, text: str) -> str | None:
        head, *rest = text.split(maxsplit=1)
        name, _, mention = head.partition("@")
        if mention and mention.lower() != (self.bot.username or "").lower():
            return None
        return " ".join([name, *rest])

    async def _on_callback(self, query: CallbackQuery) -> None:
        parsed = parse_callback_data(query.data)
        message = query.message
        if parsed is None or message is None:
            await self._answer(query, "This button no longer works.")
            return
        ctx = await self._context(message.chat, query.from_user, None, button=True)
        reply = await self.router.handle_action(ctx, *parsed)
        full = render_text(reply.text, reply.title, plain=True)
        await self._answer(query, shorten(full, 200))
        if len(full) > 200 or reply.buttons:
            await self._reply(message.chat.id, reply)

    async def _answer(self, query: CallbackQuery, text: str) -> None:
        try:
            await self.bot.answer_callback_query(query.id, text=text)
        except BadRequest as exc:
            if "query is too old" in str(exc).lower():
                log.info("telegram_callback_stale", callback_id=query.id)
            else:
                log.warning("telegram_callback_answer_failed", error=str(exc))
        except TelegramError as exc:
            log.warning("telegram_callback_answer_failed", error=str(exc))

    # ------------------------------------------------------------------ context

    async def _context(self, chat: Chat, user: User | None, sender_chat: Chat | None, *,
                       button: bool = False) -> ChatContext:
        chat_type = _CHAT_TYPES.get(chat.type, "group")
        user_id = user.id if user else (sender_chat.id if sender_chat else chat.id)
        return ChatContext(
            platform="telegram", chat_id=str(chat.id), user_id=str(user_id),
            chat_type=chat_type,
            is_admin=await self._is_admin(chat, chat_type, user, sender_chat, button),
            is_operator=user is not None and str(user.id) in self.settings.operator_ids,
            user_name=(user.username or user.full_name) if user else None,
            chat_title=chat.title or (user.full_name if user else None),
        )

    async def _is_admin(self, chat: Chat, chat_type: ChatType, user: User | None,
                        sender_chat: Chat | None, button: bool) -> bool:
        if chat_type == "private":
            return True
        if chat_type == "channel" and not button:
            return True               # only a channel's admins can post in it
        if sender_chat is not None and sender_chat.id == chat.id:
            return True               # an anonymous group admin
        if user is None:
            return False
        key, now = (chat.id, user.id), time.monotonic()
        cached = self._admins.get(key)
        if cached and cached[0] > now:
            return cached[1]
        try:
            member = await self.bot.get_chat_member(chat.id, user.id)
            admin = member.status in ("creator", "administrator")
        except TelegramError as exc:
            log.warning("telegram_admin_check_failed", chat_id=chat.id, error=str(exc))
            return False
        self._admins[key] = (now + self.settings.admin_cache_s, admin)
        return admin

    # ------------------------------------------------------------------ replies

    async def _reply(self, chat_id: int, reply: Reply) -> None:
        buttons = [InlineKeyboardButton(b.label, callback_data=data) for b in reply.buttons
                   if (data := callback_data(b.action, b.value))]
        markup = InlineKeyboardMarkup([buttons]) if buttons else None
        wait = await self.pacer.acquire(str(chat_id))
        if wait is not None:                        # flood-controlled chat: answer late, not never
            await asyncio.sleep(wait)
        try:
            await self.bot.send_message(chat_id, render_reply(reply), parse_mode=ParseMode.HTML,
                                        reply_markup=markup,
                                        link_preview_options=LinkPreviewOptions(is_disabled=True))
        except BadRequest as exc:
            if "can't parse entities" not in str(exc).lower():
                log.warning("telegram_reply_failed", chat_id=chat_id, error=str(exc))
                return
            log.error("telegram_markup_rejected", chat_id=chat_id, error=str(exc))
            await self._send_quietly(chat_id, render_text(reply.text, reply.title, plain=True))
        except RetryAfter as exc:
            self.pacer.delay_chat(str(chat_id), float(exc._retry_after.total_seconds()))  # noqa: SLF001
            log.warning("telegram_reply_rate_limited", chat_id=chat_id)
        except TelegramError as exc:
            log.warning("telegram_reply_failed", chat_id=chat_id, error=str(exc))

    async def _send_quietly(self, chat_id: int, text: str) -> None:
        try:
            await self.bot.send_message(chat_id, text)
        except TelegramError as exc:
            log.warning("telegram_reply_failed", chat_id=chat_id, error=str(exc))
