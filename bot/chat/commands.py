"""The command router: what /subscribe, /list, /mode … mean, for every platform.

Telegram and Slack adapters turn their updates into a ChatContext and call
`Commands.handle(ctx, "/subscribe central-asia")`; Slack's `/newsbot subscribe …`
arrives as the same text. Replies are plain text (adapters escape and format).
Nothing a member sends can raise out of here: bad input gets a helpful Reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Awaitable, Callable, Sequence

import structlog

from bot.chat.api import ChatContext, Reply
from bot.core.timing import TimingError, next_digest_at, parse_digest, parse_quiet, parse_zone
from bot.errors import QueryError

log = structlog.get_logger(__name__)

COMMANDS: list[tuple[str, str]] = [
    ("start", "what this bot does"),
    ("help", "commands and examples"),
    ("watchlists", "the watchlists you can follow"),
    ("subscribe", "follow a watchlist or your own query"),
    ("unsubscribe", "stop a subscription: /unsubscribe <id|all>"),
    ("list", "this chat's subscriptions"),
    ("mode", "instant | digest hourly | digest daily 08:00"),
    ("quiet", "quiet hours, e.g. /quiet 22:00-07:00 Asia/Dushanbe"),
    ("pause", "pause alerts in this chat"),
    ("resume", "resume alerts in this chat"),
]
OPERATOR_COMMANDS = [("status", "feeds health, outbox depth, last errors"), ("reload", "reload watchlists")]


@dataclass(frozen=True)
class Limits:
    max_subscriptions_per_chat: int = 20
    max_query_length: int = 300


class Commands:
    """Implements bot.chat.api.CommandRouter over SqlStorage and the RuleBook."""

    def __init__(self, storage, rules, *, limits: Limits = Limits(),
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 status: Callable[[], Awaitable[str]] | None = None) -> None:
        self.storage = storage
        self.rules = rules
        self.limits = limits
        self.clock = clock
        self.status = status

    def command_list(self) -> list[tuple[str, str]]:
        return list(COMMANDS)

    async def handle(self, ctx: ChatContext, text: str) -> Reply:
        name, args = _split(text)
        try:
            handler = getattr(self, f"_cmd_{name}", None) if name else None
            if handler is None:
                return self._unknown(ctx, name, text)
            return await handler(ctx, args)
        except Exception:
            log.exception("command_failed", platform=ctx.platform, chat_id=ctx.chat_id, command=name)
            return Reply("Something went wrong on our side while doing that; the operator has the details. "
                         "Please try again in a minute.", ok=False)

    # ------------------------------------------------------------------ information

    async def _cmd_start(self, ctx: ChatContext, args: str) -> Reply:
        intro = ("I send short news alerts (what happened · why it matters · go deeper · zoom out) when stories "
                 "match the watchlists or queries this chat follows.")
        return Reply(f"{intro}\n\n{self._help_text(ctx)}\n\n{self._watchlist_text()}", title="newsbot")

    async def _cmd_help(self, ctx: ChatContext, args: str) -> Reply:
        return Reply(self._help_text(ctx) + "\n\nExamples:\n  /subscribe central-asia\n"
                     '  /subscribe "201st base" OR ОДКБ\n  /subscribe title:Taliban AND (Tajik* OR Dushanbe)\n'
                     "  /mode digest daily 08:00\n  /quiet 22:00-07:00 Asia/Dushanbe", title="Commands")

    def _help_text(self, ctx: ChatContext) -> str:
        cmds = COMMANDS + (OPERATOR_COMMANDS if ctx.is_operator else [])
        return "\n".join(f"{_cmd(ctx, c)} — {d}" for c, d in cmds)

    async def _cmd_watchlists(self, ctx: ChatContext, args: str) -> Reply:
        return Reply(self._watchlist_text(), title="Watchlists")

    def _watchlist_text(self) -> str:
        wls = self.rules.watchlists
        if not wls:
            return "No watchlists are configured yet; you can still /subscribe with your own query."
        lines = [f"• {w.name} — {w.title}" + (f": {w.description}" if w.description else "")
                 for w in sorted(wls.values(), key=lambda w: w.name)]
        return "Watchlists (follow one with /subscribe NAME):\n" + "\n".join(lines)

    # ------------------------------------------------------------------ subscriptions

    async def _cmd_subscribe(self, ctx: ChatContext, args: str) -> Reply:
        if (refused := self._refuse(ctx)) is not None:
            return refused
        arg = args.strip()
        if not arg:
            return Reply("Tell me what to follow: /subscribe WATCHLIST or /subscribe QUERY. "
                         "See /watchlists, and /help for the query language.", ok=False)
        if len(arg) > self.limits.max_query_length:
            return Reply(f"That query is {len(arg)} characters; the limit is {self.limits.max_query_length}. "
                         "Shorten it or split it into two subscriptions.", ok=False)
        async with self.storage.begin() as tx:
            subs = await tx.list_subscriptions(ctx.platform, ctx.chat_id)
            if len(subs) >= self.limits.max_subscriptions_per_chat:
                return Reply(f"This chat has {len(subs)} subscriptions, the most allowed. "
                             "Remove one with /unsubscribe ID first (see /list).", ok=False)
            wl = self.rules.watchlists.get(arg.lower())
            if wl is not None:
                if any(s.watchlist == wl.name for s in subs):
                    return Reply(f"This chat already follows {wl.name}. See /list.", ok=False)
                sid = await tx.add_subscription(platform=ctx.platform, address=ctx.chat_id, watchlist=wl.name,
                                                query=None, created_by=ctx.user_id, now=self.clock(),
                                                **_inherit(subs))
                return Reply(f"Subscribed (#{sid}) to {wl.title}. Alerts arrive as stories match; "
                             "/mode switches to a digest.", title="Subscribed")
            try:
                understood = self.rules.check_query(arg)
            except QueryError as exc:
                return Reply(f"I could not read that query: {exc.message} at position {exc.position + 1}:\n"
                             f"{_marked(exc)}\nSee /help for the query language, or /watchlists.", ok=False)
            sid = await tx.add_subscription(platform=ctx.platform, address=ctx.chat_id, watchlist=None, query=arg,
                                            created_by=ctx.user_id, now=self.clock(), **_inherit(subs))
        await self.rules.subscriptions_changed()
        return Reply(f"Subscribed (#{sid}) to your query.\nI understood: {understood}", title="Subscribed")

    async def _cmd_unsubscribe(self, ctx: ChatContext, args: str) -> Reply:
        if (refused := self._refuse(ctx)) is not None:
            return refused
        arg = args.strip().lstrip("#").lower()
        async with self.storage.begin() as tx:
            subs = await tx.list_subscriptions(ctx.platform, ctx.chat_id)
            if arg == "all":
                ids = [s.id for s in subs]
            elif arg.isdigit() and any(s.id == int(arg) for s in subs):
                ids = [int(arg)]
            else:
                return Reply("Which one? /unsubscribe ID (the number in /list) or /unsubscribe all.", ok=False)
            n = await tx.delete_subscriptions(ids)
        await self.rules.subscriptions_changed()
        return Reply(f"Removed {n} subscription{'s' if n != 1 else ''}.")

    async def _cmd_list(self, ctx: ChatContext, args: str) -> Reply:
        async with self.storage.read() as tx:
            subs = await tx.list_subscriptions(ctx.platform, ctx.chat_id)
        if not subs:
            return Reply("This chat follows nothing yet. Try /watchlists, then /subscribe NAME.")
        lines = []
        for s in subs:
            mode = "instant" if s.mode == "instant" else f"digest {s.digest}"
            extra = (f", quiet {s.quiet} {s.timezone}" if s.quiet else "") + (
                f", PAUSED ({s.paused_reason or 'by a member'})" if s.paused else "")
            lines.append(f"#{s.id} {s.target} — {mode}{extra}")
        return Reply("\n".join(lines), title="Subscriptions in this chat")

    async def _cmd_mode(self, ctx: ChatContext, args: str) -> Reply:
        if (refused := self._refuse(ctx)) is not None:
            return refused
        words = args.strip().lower().split()
        if words == ["instant"]:
            values = dict(mode="instant", digest=None, next_digest_at=None)
            said = "instant alerts"
        elif words and words[0] == "digest":
            try:
                sched = parse_digest(" ".join(words[1:]) or "daily 08:00")
            except TimingError as exc:
                return Reply(f"{exc}. Usage: /mode instant | digest hourly | digest daily 08:00", ok=False)
            values = dict(mode="digest", digest=str(sched))
            said = f"a {sched} digest"
        else:
            return Reply("Usage: /mode instant | digest hourly | digest daily 08:00", ok=False)
        async with self.storage.begin() as tx:
            subs = await tx.list_subscriptions(ctx.platform, ctx.chat_id)
            if not subs:
                return Reply("Subscribe to something first (/watchlists).", ok=False)
            for s in subs:
                v = dict(values)
                if v["mode"] == "digest":
                    v["next_digest_at"] = next_digest_at(self.clock(), parse_digest(v["digest"]), parse_zone(s.timezone))
                await tx.update_subscriptions([s.id], **v)
        return Reply(f"This chat now gets {said} (times in {subs[0].timezone}; set the zone with /quiet).")

    async def _cmd_quiet(self, ctx: ChatContext, args: str) -> Reply:
        if (refused := self._refuse(ctx)) is not None:
            return refused
        words = args.split()
        try:
            if words in (["off"], ["none"]):
                quiet, zone = None, None
            elif 1 <= len(words) <= 2:
                quiet = str(parse_quiet(words[0]))
                zone = parse_zone(words[1]).key if len(words) == 2 else None
            else:
                raise TimingError("usage")
        except TimingError as exc:
            why = "" if str(exc) == "usage" else f"{exc}. "
            return Reply(f"{why}Usage: /quiet 22:00-07:00 [Area/City] or /quiet off", ok=False)
        async with self.storage.begin() as tx:
            subs = await tx.list_subscriptions(ctx.platform, ctx.chat_id)
            values = {"quiet": quiet} | ({"timezone": zone} if zone else {})
            await tx.update_subscriptions([s.id for s in subs], **values)
        if quiet is None:
            return Reply("Quiet hours off.")
        tz = zone or (subs[0].timezone if subs else "UTC")
        return Reply(f"Quiet hours {quiet} ({tz}): alerts wait until they end; none are dropped.")

    async def _cmd_pause(self, ctx: ChatContext, args: str) -> Reply:
        if (refused := self._refuse(ctx)) is not None:
            return refused
        async with self.storage.begin() as tx:
            n = await tx.pause_destination(ctx.platform, ctx.chat_id, "paused by a member")
        return Reply(f"Paused {n} subscription{'s' if n != 1 else ''}. /resume to start again.")

    async def _cmd_resume(self, ctx: ChatContext, args: str) -> Reply:
        if (refused := self._refuse(ctx)) is not None:
            return refused
        async with self.storage.begin() as tx:
            n = await tx.resume_destination(ctx.platform, ctx.chat_id, self.clock())
        return Reply(f"Resumed {n} subscription{'s' if n != 1 else ''}.")

    # ------------------------------------------------------------------ operators

    async def _cmd_status(self, ctx: ChatContext, args: str) -> Reply:
        if not ctx.is_operator:
            return Reply("/status is for the bot's operators.", ok=False)
        text = await self.status() if self.status else "status is not available in this process"
        return Reply(text, title="Status")

    async def _cmd_reload(self, ctx: ChatContext, args: str) -> Reply:
        if not ctx.is_operator:
            return Reply("/reload is for the bot's operators.", ok=False)
        problems = self.rules.reload()
        if problems:
            return Reply("Reloaded with problems (the previous version of each broken file stays in use):\n"
                         + "\n".join(f"• {p}" for p in problems), ok=False)
        return Reply(f"Reloaded {len(self.rules.watchlists)} watchlists.")

    # ------------------------------------------------------------------ Slack App Home

    async def home_view_data(self, *, platform: str, user_id: str, chat_ids: Sequence[str]):
        """Every watchlist, and the subscriptions of the channels the user is in (Slack App Home)."""
        from bot.core.render_slack import HomeSubscription, HomeWatchlist
        wls = [HomeWatchlist(name=w.name, description=w.description or w.title or "")
               for w in sorted(self.rules.watchlists.values(), key=lambda w: w.name)]
        wanted = set(chat_ids)
        async with self.storage.read() as tx:
            subs = [s for s in await tx.list_subscriptions(platform) if s.address in wanted]
        return wls, [HomeSubscription(id=s.id, chat_id=s.address, target=s.watchlist or s.query or "",
                                      mode=s.mode if s.mode == "instant" else f"digest {s.digest}", paused=s.paused)
                     for s in subs]

    # ------------------------------------------------------------------ buttons

    async def handle_action(self, ctx: ChatContext, action: str, value: str) -> Reply:
        try:
            if action == "mute" and value.isdigit():
                async with self.storage.begin() as tx:
                    await tx.mute_story(ctx.platform, ctx.chat_id, int(value), self.clock())
                return Reply("Muted: no more updates about this story here.")
            if action == "unsub" and value.isdigit():
                if (refused := self._refuse(ctx)) is not None:
                    return refused
                return await self._cmd_unsubscribe(ctx, value)
            return Reply("That button has expired.", ok=False)
        except Exception:
            log.exception("action_failed", platform=ctx.platform, chat_id=ctx.chat_id, action=action)
            return Reply("Something went wrong; please try again.", ok=False)

    # ------------------------------------------------------------------ helpers

    def _refuse(self, ctx: ChatContext) -> Reply | None:
        if ctx.chat_type == "private" or ctx.is_admin or ctx.is_operator:
            return None
        return Reply("Only this chat's administrators can change its subscriptions. "
                     "Ask an admin, or talk to me in a private chat for your own alerts.", ok=False)

    def _unknown(self, ctx: ChatContext, name: str | None, text: str) -> Reply:
        if name:
            return Reply(f"I don't know /{name[:32]}. /help lists what I can do.", ok=False)
        return Reply("I answer commands. Try /watchlists to see what you can follow, or /help.", ok=False)


def _cmd(ctx: ChatContext, name: str) -> str:
    """How a member types a command here: /status on Telegram, /newsbot status on Slack."""
    return f"/newsbot {name}" if ctx.platform == "slack" else f"/{name}"


def _split(text: str) -> tuple[str | None, str]:
    text = (text or "").strip()
    if not text:
        return None, ""
    head, _, rest = text.partition(" ")
    if not head.startswith("/") and head.lower() not in {c for c, _ in COMMANDS + OPERATOR_COMMANDS}:
        return None, text
    name = head.lstrip("/").split("@", 1)[0].lower()
    return (name if name.replace("_", "").isalnum() else None), rest.strip()


def _marked(exc: QueryError) -> str:
    """The query with the offending part in ⟦ ⟧. Not a caret line under it: chat apps use
    proportional fonts and the renderers tidy spaces, so a caret would point at the wrong place."""
    q = exc.query
    start = min(exc.position, len(q))
    end = min(len(q), start + exc.length)
    return f"{q[:start]}⟦{q[start:end] or ' '}⟧{q[end:]}"


def _inherit(subs) -> dict:
    """A new subscription takes the chat's current mode, quiet hours and zone."""
    if not subs:
        return {}
    s = subs[-1]
    return dict(mode=s.mode, digest=s.digest, timezone=s.timezone, quiet=s.quiet,
                next_digest_at=s.next_digest_at)

