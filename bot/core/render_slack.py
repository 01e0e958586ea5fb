"""Render briefs, digests, command replies and the App Home for Slack.

Pure: no I/O, no clock. Alerts become Block Kit blocks plus a fallback `text`
that reads as a complete message on its own (Slack shows it in
notifications, and the sender resends it alone if Slack ever refuses the
blocks).

Escaping: every piece of feed or member text goes through `escape_mrkdwn`
(only `&`, `<`, `>`, as Slack asks; quotes are left alone). Links are written
`<url|label>` with the URL sanitised (http/https only, `|`, `<`, `>`, quotes
and whitespace percent-encoded, `&` escaped) and `|` removed from the label,
so no feed can inject a mention, a link or a broken token. mrkdwn objects are
`verbatim: true`: Slack then applies our markup but does not auto-link bare
URLs, channel names or mentions found in feed text.

Limits kept (Slack's own in brackets): at most 8 blocks per alert (50), section
text ≤ 2,900 (3,000), header ≤ 150 plain_text, context ≤ 4 elements (10), all
block text together ≤ 9,000 (`msg_blocks_too_long` fires near 13k). Lengths
are counted in UTF-16 units, which is never less than Slack's count. Over
budget, *Go deeper* shrinks first, then *Zoom out*, then the lede; the
headline, the first *Why it matters* line and the story link always stay
(a link longer than 2,000 characters is dropped: Slack could not use it).

It does not decide what to send or where: `bot.adapters.slack_send` does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.types import Brief, SourceRef

if TYPE_CHECKING:                      # only for annotations: core imports no chat layer at run time
    from bot.chat.api import Reply

__all__ = [
    "HomeSubscription", "HomeWatchlist", "RenderedSlack", "escape_mrkdwn", "mrkdwn_link",
    "render_home", "render_slack", "render_slack_digest", "render_slack_reply", "sanitize_url",
    "slack_len", "unescape_mrkdwn",
]

HEADER_MAX = 150
SECTION_MAX = 2900
TOTAL_BUDGET = 9000
FALLBACK_MAX = 3000
URL_MAX = 2000
HOME_MAX_BLOCKS = 100
MESSAGE_MAX_BLOCKS = 50
_ELLIPSIS = "…"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\u2028\u2029]")
_URL_UNSAFE = re.compile(r"[\s|<>\"`\\^{}\x00-\x1f\x7f]")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,30}$")    # C public, G private, D direct message


@dataclass(frozen=True, slots=True)
class RenderedSlack:
    """What chat.postMessage gets: Block Kit `blocks` and the fallback `text`."""

    blocks: list[dict]
    text: str


@dataclass(frozen=True, slots=True)
class HomeWatchlist:
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class HomeSubscription:
    id: int
    chat_id: str                  # Slack channel id (rendered as a channel mention)
    target: str                   # watchlist name or the member's query
    mode: str = "instant"         # instant | digest …
    paused: bool = False


# --------------------------------------------------------------------------- text helpers


def slack_len(text: str) -> int:
    """Length in UTF-16 code units: what a JavaScript-side counter would see."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def clean(text: str | None) -> str:
    """Drop control characters, lone surrogates and line separators; keep \\n and \\t."""
    return _CONTROL.sub("", text or "")


def one_line(text: str | None) -> str:
    return " ".join(clean(text).split())


def escape_mrkdwn(text: str) -> str:
    """Escape Slack's three control characters; nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape_mrkdwn(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_PIECE = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def fit(text: str, limit: int) -> str:
    """Escape `text` and cut it so the escaped form is at most `limit` UTF-16 units.

    Cuts never split an entity; a cut text ends with "…", at a word boundary when one
    is near. Returns "" when `limit` leaves no room.
    """
    escaped = escape_mrkdwn(text)
    if slack_len(escaped) <= limit:
        return escaped
    if limit < 2:
        return ""
    out: list[str] = []
    used = 0
    for ch in text:
        piece = _PIECE.get(ch, ch)
        size = 2 if ch > "\uffff" else len(piece)
        if used + size > limit - 1:
            break
        out.append(piece)
        used += size
    cut = "".join(out)
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > len(cut) * 0.7:
        cut = cut[:space]
    return cut.rstrip() + _ELLIPSIS


def sanitize_url(url: str | None) -> str | None:
    """An http(s) URL made safe inside `<…|…>`, `&` escaped; None if unusable."""
    url = clean(url).strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    url = parts.scheme.lower() + url[len(parts.scheme):]
    safe = _URL_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), url)
    safe = escape_mrkdwn(safe)
    return safe if len(safe) <= URL_MAX else None


def mrkdwn_link(url: str | None, label: str, *, label_max: int = 300) -> str:
    """`<url|label>` when the URL is usable, else just the escaped label."""
    label = one_line(label).replace("|", "¦")
    safe = sanitize_url(url)
    if safe is None:
        return fit(label, label_max)
    text = fit(label, label_max) or fit(urlsplit(unescape_mrkdwn(safe)).netloc, label_max) or "link"
    return f"<{safe}|{text}>"


# --------------------------------------------------------------------------- blocks


def _section(text: str, block_id: str | None = None) -> dict:
    block: dict = {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}
    if block_id:
        block["block_id"] = block_id
    return block


def _header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": False}}


def _context(elements: Sequence[str]) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t, "verbatim": True} for t in elements]}


def _actions(buttons: Sequence[tuple[str, str, str]], block_id: str = "newsbot_actions") -> dict:
    """Buttons from (label, action_id, value) triples; the router gets action_id and value back."""
    elements = []
    for label, action, value in buttons[:25]:
        text = one_line(label)[:75] or action
        elements.append({"type": "button", "text": {"type": "plain_text", "text": text, "emoji": False},
                         "action_id": action[:255], "value": value[:2000]})
    return {"type": "actions", "block_id": block_id, "elements": elements}


def blocks_text_len(blocks: Sequence[dict]) -> int:
    """Sum of every text in the blocks (what Slack's aggregate limit counts)."""
    total = 0
    for block in blocks:
        for key in ("text",):
            if isinstance(block.get(key), dict):
                total += slack_len(block[key].get("text", ""))
        for element in block.get("elements", ()) or ():
            text = element.get("text")
            total += slack_len(text if isinstance(text, str) else (text or {}).get("text", ""))
        for field in block.get("fields", ()) or ():
            total += slack_len(field.get("text", ""))
    return total


def _header_text(headline: str, prefix: str = "") -> str:
    text = prefix + (one_line(headline[:HEADER_MAX * 8]) or "(untitled story)")
    if slack_len(text) <= HEADER_MAX:
        return text
    cut = text[:HEADER_MAX]
    while slack_len(cut) > HEADER_MAX - 1:
        cut = cut[:-1]
    return cut.rstrip() + _ELLIPSIS


def _bullets(label: str, items: Sequence[str], limit: int) -> str:
    """`*label*` and one bullet per item (already escaped), whole items only, ≤ limit."""
    if limit <= slack_len(label) + 8:
        return ""
    out = label
    for item in items:
        line = f"\n• {item}"
        if slack_len(out) + slack_len(line) > limit:
            break
        out += line
    return out if out != label else ""


def _list_section(label: str, raw_items: Sequence[str], limit: int, *, item_max: int) -> str:
    """Like `_bullets` but shortens the first item to fit when nothing else would."""
    items = [fit(one_line(i), item_max) for i in raw_items if one_line(i)]
    text = _bullets(label, items, limit)
    if text or not items:
        return text
    room = limit - slack_len(label) - 3
    first = fit(next(one_line(i) for i in raw_items if one_line(i)), room) if room >= 40 else ""
    return f"{label}\n• {first}" if first else ""


def _why_text(why: Sequence[str], limit: int) -> str:
    items = [one_line(w) for w in why if one_line(w)]
    if not items:
        return ""
    label = "*Why it matters:*"
    if len(items) == 1:
        return f"{label} {fit(items[0], limit - slack_len(label) - 1)}"
    return _list_section(label, items, limit, item_max=limit - slack_len(label) - 3)


def _published(ts: datetime | None) -> str:
    if ts is None:
        return ""
    ts = ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
    fallback = ts.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    epoch = int(ts.timestamp())
    if epoch < 0:                   # Slack's date token takes no pre-1970 time: plain text then
        return fallback
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


def _sources_text(sources: Sequence[SourceRef], limit: int = 1200) -> str:
    if not sources:
        return ""
    shown = [mrkdwn_link(s.link, s.outlet or s.title or "source", label_max=80) for s in sources[:5]]
    text = "Sources: " + ", ".join(shown)
    while slack_len(text) > limit and len(shown) > 1:
        shown.pop()
        text = "Sources: " + ", ".join(shown)
    if slack_len(text) > limit:                       # one huge link: keep the outlet, drop the URL
        text = "Sources: " + fit(one_line(sources[0].outlet or "source"), 80)
    extra = len(sources) - len(shown)
    return text + (f" +{extra} more" if extra else "")


def _context_line(brief: Brief) -> dict | None:
    elements = [e for e in (
        _sources_text(brief.sources),
        _published(brief.published),
        ("Matched: " + fit(", ".join(one_line(t) for t in brief.matched_terms[:12]), 300))
        if brief.matched_terms else "",
        ("Watchlist: " + fit(one_line(brief.watchlist), 100)) if brief.watchlist else "",
    ) if e]
    return _context(elements) if elements else None


def _buttons(story_id: int | None, subscription_id: int | None) -> list[tuple[str, str, str]]:
    """`mute` carries the story id, `unsub` the subscription id (see bot.chat.api.Button)."""
    buttons = []
    if story_id is not None:
        buttons.append(("Mute story", "mute", str(story_id)))
    if subscription_id is not None:
        buttons.append(("Unsubscribe", "unsub", str(subscription_id)))
    return buttons


def _story_link(brief: Brief) -> str:
    outlet = next((one_line(s.outlet) for s in brief.sources if one_line(s.outlet)), "")
    label = f"Read at {outlet}" if outlet else "Read the story"
    return mrkdwn_link(brief.link, label, label_max=100) if sanitize_url(brief.link) else ""


def _fallback(brief: Brief, header: str, link: str) -> str:
    parts = [f"*{escape_mrkdwn(header)}*"]
    if one_line(brief.lede):
        parts.append(fit(one_line(brief.lede), 900))
    why = [one_line(w) for w in brief.why_it_matters if one_line(w)]
    if why:
        parts.append("*Why it matters:* " + fit(why[0], 900))
    if link:
        parts.append(link)
    return "\n".join(parts)


# --------------------------------------------------------------------------- alerts


def render_slack(brief: Brief, *, story_id: int | None, subscription_id: int | None) -> RenderedSlack:
    """One alert (or, with `brief.is_update`, one story update) as Block Kit."""
    header = _header_text(brief.headline, "Update: " if brief.is_update else "")
    link = _story_link(brief)
    context = _context_line(brief)
    buttons = _buttons(story_id, subscription_id)
    fixed: list[dict] = [_header(header)] + ([context] if context else [])
    fixed += [_actions(buttons)] if buttons else []
    room = TOTAL_BUDGET - blocks_text_len(fixed) - slack_len(link) - 1

    lede_min = min(400, slack_len(escape_mrkdwn(one_line(brief.lede))))
    why = _why_text(brief.why_it_matters, min(SECTION_MAX, room - lede_min))
    room -= slack_len(why)
    lede_room = min(SECTION_MAX - slack_len(link) - 1, room)
    lede = fit(clean(brief.lede).strip(), lede_room)
    room -= slack_len(lede)
    zoom_items = [mrkdwn_link(url, title, label_max=200) for title, url in brief.zoom_out if one_line(title)]
    zoom = _bullets("*Zoom out:*", zoom_items, min(SECTION_MAX, room))
    room -= slack_len(zoom)
    deeper = _list_section("*Go deeper:*", list(brief.go_deeper), min(SECTION_MAX, room), item_max=600)

    lede_block = "\n".join(p for p in (lede, link) if p)
    body = [_section(t) for t in (lede_block, why, deeper, zoom) if t]
    blocks = fixed[:1] + body + fixed[1:]
    return RenderedSlack(blocks=blocks, text=_fallback(brief, header, link))


def render_slack_digest(briefs: Sequence[Brief], *, extra_count: int = 0,
                        subscription_id: int | None = None, title: str | None = None) -> RenderedSlack:
    """Several stories in one message: one section per story, as many as fit."""
    header = _header_text(title or f"Digest: {len(briefs) + extra_count} stories")
    footer_room = 200
    room = TOTAL_BUDGET - slack_len(header) - footer_room
    sections: list[dict] = []
    lines: list[str] = []
    for brief in briefs:
        if len(sections) >= MESSAGE_MAX_BLOCKS - 4:
            break
        headline = mrkdwn_link(brief.link, one_line(brief.headline) or "(untitled story)", label_max=200)
        summary = next((one_line(w) for w in brief.why_it_matters if one_line(w)), one_line(brief.lede))
        text = f"*{headline}*" + (f"\n{fit(summary, 500)}" if summary else "")
        if slack_len(text) > room:
            break
        room -= slack_len(text)
        sections.append(_section(text))
        lines.append(f"• {headline}")
    more = extra_count + len(briefs) - len(sections)
    blocks = [_header(header)] + sections
    if more > 0:
        blocks.append(_context([f"…and {more} more {'story' if more == 1 else 'stories'}"]))
    buttons = _buttons(None, subscription_id)
    if buttons:
        blocks.append(_actions(buttons))
    text = fit(header, 200) + "\n" + "\n".join(lines)
    return RenderedSlack(blocks=blocks, text=text[:FALLBACK_MAX])


def render_slack_notice(text: str) -> RenderedSlack:
    """A plain notice (operator or system message): escaped text in sections."""
    return RenderedSlack(blocks=_text_sections(clean(text).strip(), 10), text=fit(clean(text).strip(), FALLBACK_MAX))


# --------------------------------------------------------------------------- replies and home


def _text_sections(raw: str, max_blocks: int, budget: int = TOTAL_BUDGET) -> list[dict]:
    """Split plain text into escaped sections ≤ SECTION_MAX, cutting at line ends,
    at most `max_blocks` sections and `budget` characters in all."""
    blocks: list[dict] = []
    chunk = ""
    used = 0
    for line in raw.split("\n"):
        line_esc = fit(line, SECTION_MAX)
        candidate = f"{chunk}\n{line_esc}" if chunk else line_esc
        if slack_len(candidate) > SECTION_MAX and chunk:
            blocks.append(_section(chunk))
            used += slack_len(chunk)
            candidate = line_esc
        chunk = candidate
        if used + slack_len(chunk) > budget - 40 or len(blocks) >= max_blocks - 1:
            chunk = fit(unescape_mrkdwn(chunk), max(0, min(SECTION_MAX, budget - 40 - used) - 30))
            blocks.append(_section((chunk + "\n" if chunk else "") + "…(cut: too long for one message)"))
            return blocks
    if chunk.strip():
        blocks.append(_section(chunk))
    return blocks


def render_slack_reply(reply: "Reply") -> tuple[str, list[dict]]:
    """A command reply: (fallback text, blocks). Title bold, text escaped, buttons kept."""
    body = clean(reply.text).strip()
    title = one_line(reply.title)
    head = f"*{fit(title, 300)}*" if title else ""
    blocks = ([_section(head)] if head else []) + _text_sections(body, 40)
    if reply.buttons:
        triples = [(b.label, b.action, b.value) for b in reply.buttons]
        blocks.append(_actions(triples, block_id="newsbot_reply_actions"))
    if not blocks:
        blocks = [_section("(no reply)")]
    text = "\n".join(p for p in (head, fit(body, FALLBACK_MAX - slack_len(head) - 1)) if p) or "(no reply)"
    return text, blocks


def _channel_ref(chat_id: str) -> str:
    if chat_id.startswith("D") and _CHANNEL_ID.match(chat_id):
        return "Your direct messages with newsbot"
    return f"<#{chat_id}>" if _CHANNEL_ID.match(chat_id) else fit(one_line(chat_id), 80)


def render_home(watchlists: Sequence[HomeWatchlist], subscriptions: Sequence[HomeSubscription], *,
                command: str = "/newsbot") -> dict:
    """The App Home view: the watchlists, then each channel's subscriptions (≤ 100 blocks)."""
    cmd = escape_mrkdwn(command)
    blocks: list[dict] = [
        _header("newsbot"),
        _section(f"News alerts for this workspace. In a channel, type `{cmd} help` to see the commands."),
        {"type": "divider"},
    ]
    wl_lines = [f"*{fit(one_line(w.name), 100)}*" + (f" — {fit(one_line(w.description), 300)}"
                                                     if one_line(w.description) else "") for w in watchlists]
    blocks.append(_section("*Watchlists*" if wl_lines else "*Watchlists*\nNo watchlists are configured yet."))
    blocks += _text_sections_escaped(wl_lines)
    blocks.append({"type": "divider"})
    none_yet = f"\nNone yet. In a channel: `{cmd} subscribe &lt;watchlist or keywords&gt;`"
    blocks.append(_section("*Subscriptions in your channels*" + ("" if subscriptions else none_yet)))
    by_chat: dict[str, list[HomeSubscription]] = {}
    for sub in subscriptions:
        by_chat.setdefault(sub.chat_id, []).append(sub)
    lines = []
    for chat_id, subs in by_chat.items():
        lines.append(_channel_ref(chat_id))
        for sub in subs:
            state = f"{fit(one_line(sub.mode), 30) or 'instant'}{', paused' if sub.paused else ''}"
            lines.append(f"• #{sub.id} {fit(one_line(sub.target), 300)} ({state})")
    blocks += _text_sections_escaped(lines)
    if len(blocks) > HOME_MAX_BLOCKS:
        blocks = blocks[:HOME_MAX_BLOCKS - 1] + [_section("…more than fits on this page.")]
    return {"type": "home", "blocks": blocks}


def _text_sections_escaped(lines: Sequence[str]) -> list[dict]:
    """Group already-escaped lines into sections ≤ SECTION_MAX."""
    blocks: list[dict] = []
    chunk = ""
    for line in lines:
        candidate = f"{chunk}\n{line}" if chunk else line
        if slack_len(candidate) > SECTION_MAX and chunk:
            blocks.append(_section(chunk))
            candidate = line
        chunk = candidate
    if chunk:
        blocks.append(_section(chunk))
    return blocks
