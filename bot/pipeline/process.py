"""From stored items to stories and outbox rows, inside the poll's transaction.

    prepare (before the transaction)     match every unseen item; summarize the matched ones
    process (in the poll's transaction)  store matches; join or open a story; route it:
                                         one outbox row per destination that wants it

Summarizing happens before the transaction so that a slow summarizer (the
optional LLM) or an article page (feeds with `full_text: true`, see
`article_texts`) never holds the database's write lock; what needs the database
(clustering against recent stories, Zoom out, routing) happens inside it, so
items, matches, stories and outbox rows commit together or not at all.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Awaitable, Callable, Sequence
from urllib.parse import urlsplit

import structlog

from bot.core.cluster import Signature, SignatureError, StoryIndex, assign_story, is_material_update, story_signature
from bot.core.codec import brief_to_dict
from bot.core.summarize import summarize as extractive_summarize
from bot.core.timing import TimingError, next_digest_at, parse_digest, parse_quiet, parse_zone, quiet_until
from bot.settings import StoriesSettings
from bot.storage.tx import SqlTx
from bot.storage.tx_delivery import Subscription
from bot.types import Brief, Feed, Item, ItemData, Match, SourceRef

if TYPE_CHECKING:
    from bot.adapters.article import ArticleFetcher

log = structlog.get_logger(__name__)

SummarizeFn = Callable[..., Awaitable[Brief]]


async def extractive(**kwargs) -> Brief:
    return extractive_summarize(**kwargs)


@dataclass(frozen=True, slots=True)
class Prepared:
    matches: tuple[Match, ...]
    brief: Brief | None


class StoryProcessor:
    """Implements pipeline.poll.Processor."""

    def __init__(self, rules, *, stories: StoriesSettings, summarize: SummarizeFn = extractive,
                 articles: ArticleFetcher | None = None) -> None:
        self.rules = rules                  # bot.pipeline.rules.RuleBook: .matcher, .context_for(match)
        self.settings = stories
        self.summarize = summarize
        self.articles = articles            # None: briefs always come from the feed's own text
        self.index = StoryIndex()
        self._watermark: datetime | None = None

    # ------------------------------------------------------------------ before the transaction

    async def prepare(self, feed: Feed, items: Sequence[ItemData], known: dict[str, str]) -> dict[str, Prepared]:
        """Match items that are new or edited; summarize the ones that matched.

        Matching always reads title + summary; only the summarizer gets the article's
        full text (full_text feeds), so what matches does not depend on a page fetch.
        """
        out: dict[str, Prepared] = {}
        matcher = self.rules.matcher
        matched: list[tuple[ItemData, list[Match]]] = []
        for d in items:
            if known.get(d.key) == d.content_hash:
                continue
            found = matcher.match(d.title, d.summary, language=d.language or feed.language)
            if found:
                matched.append((d, found))
        texts = await article_texts(self.articles, feed, [d for d, _ in matched])
        for (d, found), text in zip(matched, texts):
            out[d.key] = Prepared(tuple(found), await self._brief(feed, d, found, text))
        return out

    async def _brief(self, feed: Feed, d: ItemData, found: Sequence[Match], text: str) -> Brief:
        kwargs = dict(title=d.title, text=text, context=self.rules.context_for(found),
                      matched_terms=_terms(found), language=d.language or feed.language, link=d.link,
                      published=d.published, watchlist=_first_watchlist(found))
        try:
            return await self.summarize(**kwargs)
        except Exception:
            log.exception("summarizer_failed", feed_url=feed.url, item=d.key)
            return extractive_summarize(**kwargs)

    # ------------------------------------------------------------------ in the transaction

    async def process(self, tx: SqlTx, feed: Feed, new: Sequence[Item], updated: Sequence[Item], now: datetime,
                      prepared: dict[str, Prepared] | None = None) -> None:
        prepared = prepared or {}
        await self._refresh_index(tx, now)
        for item in new:
            p = prepared.get(item.key)
            if p is None:
                found = self.rules.matcher.match(item.title, item.summary, language=item.language or feed.language)
                if not found:
                    continue
                p = Prepared(tuple(found), None)
            await self._matched(tx, feed, item, p, now)

    async def _refresh_index(self, tx: SqlTx, now: datetime) -> None:
        """Bring the in-memory index up to date with the stories' items (ours and other instances')."""
        window = timedelta(seconds=self.settings.window)
        since = self._watermark or (now - window)
        for item_id, story_id, raw, published in await tx.story_items_since(since):
            try:
                self.index.add(item_id, story_id, Signature.from_bytes(raw), published or now)
            except SignatureError:
                continue
        self.index.prune(now, window)
        self._watermark = now

    async def _matched(self, tx: SqlTx, feed: Feed, item: Item, p: Prepared, now: datetime) -> None:
        brief = p.brief or extractive_summarize(
            title=item.title, text=item.summary, context=self.rules.context_for(p.matches),
            matched_terms=_terms(p.matches), language=item.language, link=item.link, published=item.published,
            watchlist=_first_watchlist(p.matches))
        sig = story_signature(item.title, item.summary)
        window = timedelta(seconds=self.settings.window)
        published = item.published or now
        story_id = assign_story(sig, published, self.index.candidates(sig), window=window,
                                threshold=self.settings.threshold)
        source = _source(feed, item)
        watchlists = sorted({m.watchlist for m in p.matches if m.watchlist})
        if story_id is None:
            zoom = await tx.zoom_out(watchlists, since=now - timedelta(days=3), exclude=None)
            brief = dataclasses.replace(brief, zoom_out=tuple(zoom), sources=(SourceRef(**source_ref(source)),))
            story_id = await tx.create_story(title=brief.headline, link=item.link, watchlists=watchlists,
                                             signature=sig.to_bytes(), brief=brief_to_dict(brief), source=source,
                                             now=now)
            await self._route(tx, story_id, brief, p.matches, now, kind="alert")
            log.info("story_opened", story_id=story_id, feed_url=feed.url, title=item.title[:120],
                     watchlists=watchlists)
        else:
            await self._joined(tx, feed, item, story_id, brief, p, source, watchlists, now)
        self.index.add(item.id, story_id, sig, published)
        await tx.insert_matches(item.id, story_id, p.matches, now)
        await tx.link_item_to_story(item.id, story_id, sig.to_bytes())

    async def _joined(self, tx: SqlTx, feed: Feed, item: Item, story_id: int, brief: Brief, p: Prepared,
                      source: dict, watchlists: list[str], now: datetime) -> None:
        story = await tx.story(story_id)
        if story is None:
            return
        update = self.settings.updates == "on" and is_material_update(
            [story.title, *(story.brief or {}).get("go_deeper", []), (story.brief or {}).get("lede", "")],
            f"{item.title}. {item.summary}")
        new_brief = None
        if update:
            sources = [SourceRef(**source_ref(s)) for s in (*story.sources, source)]
            new_brief = dataclasses.replace(brief, sources=tuple(_unique_sources(sources)), is_update=True)
        await tx.add_to_story(story, watchlists=watchlists, source=source, now=now,
                              brief=brief_to_dict(new_brief) if new_brief else None)
        log.info("story_joined", story_id=story_id, feed_url=feed.url, title=item.title[:120], update=update)
        if new_brief is not None:
            await self._route(tx, story_id, new_brief, p.matches, now, kind="update", version=story.version + 1)

    async def _route(self, tx: SqlTx, story_id: int, brief: Brief, found: Sequence[Match], now: datetime, *,
                     kind: str, version: int = 1) -> None:
        sub_ids = [int(m.rule_id[4:]) for m in found if m.rule_id.startswith("sub:")]
        subs = await tx.subscriptions_for({m.watchlist for m in found if m.watchlist}, sub_ids)
        muted = await tx.muted(story_id) if kind == "update" else set()
        rows, seen = [], set()
        for sub in sorted(subs, key=lambda s: (s.mode != "instant", s.id)):
            dest = (sub.platform, sub.address)
            if dest in seen or dest in muted:
                continue
            if kind == "update" and sub.mode != "instant":
                continue
            seen.add(dest)
            rows.append(_outbox_row(sub, story_id, brief, found, now, kind=kind, version=version))
        inserted = await tx.enqueue(rows)
        log.info("story_routed", story_id=story_id, kind=kind, destinations=len(rows), queued=inserted)


async def article_texts(articles: ArticleFetcher | None, feed: Feed, items: Sequence[ItemData]) -> list[str]:
    """The text to summarize for each item: its summary, or — for a `full_text` feed — the
    main text of its article page when that is longer (a teaser feed). Pages are fetched
    concurrently (the fetcher's per-host limit keeps that polite); a page that fails gives
    None and the summary is used, so a broken site never holds up an alert."""
    if articles is None or not feed.full_text:
        return [d.summary for d in items]

    async def one(d: ItemData) -> str:
        if not d.link:
            return d.summary
        full = await articles.full_text(d.link, allow_private=feed.allow_private, feed_url=feed.url)
        return full if full and len(full) > len(d.summary) else d.summary

    return list(await asyncio.gather(*(one(d) for d in items)))


def _outbox_row(sub: Subscription, story_id: int, brief: Brief, found: Sequence[Match], now: datetime, *,
                kind: str, version: int) -> dict:
    status, not_before = "pending", now
    if sub.mode == "digest":
        status = "digest"
    else:
        try:
            until = quiet_until(now, parse_quiet(sub.quiet), parse_zone(sub.timezone)) if sub.quiet else None
        except TimingError:
            until = None
        not_before = until or now
    key = f"{kind}:{sub.platform}:{sub.address}:{story_id}" + (f":v{version}" if kind == "update" else "")
    explanation = [m.explain() for m in found if m.watchlist == sub.watchlist or m.rule_id == f"sub:{sub.id}"]
    payload = {"brief": brief_to_dict(brief), "story_id": story_id, "subscription_id": sub.id,
               "explanation": explanation}
    return dict(dedupe_key=key, subscription_id=sub.id, story_id=story_id, platform=sub.platform,
                address=sub.address, kind=kind, payload=payload, status=status, not_before=not_before,
                attempts=0, created_at=now)


def digest_due(sub: Subscription, now: datetime) -> datetime:
    return next_digest_at(now, parse_digest(sub.digest or "daily 08:00"), parse_zone(sub.timezone))


def _terms(found: Sequence[Match]) -> list[str]:
    out: list[str] = []
    for m in found:
        for h in m.hits:
            if h.text not in out:
                out.append(h.text)
    return out


def _first_watchlist(found: Sequence[Match]) -> str | None:
    return next((m.watchlist for m in sorted(found, key=lambda m: -m.priority) if m.watchlist), None)


def _source(feed: Feed, item: Item) -> dict:
    outlet = feed.title or urlsplit(feed.url).netloc or feed.url
    return {"outlet": outlet, "title": item.title, "link": item.link,
            "published": item.published.isoformat() if item.published else None}


def source_ref(d: dict) -> dict:
    published = d.get("published")
    return {"outlet": d.get("outlet", ""), "title": d.get("title", ""), "link": d.get("link"),
            "published": datetime.fromisoformat(published) if isinstance(published, str) else published}


def _unique_sources(sources: list[SourceRef]) -> list[SourceRef]:
    seen, out = set(), []
    for s in sources:
        if s.outlet not in seen:
            seen.add(s.outlet)
            out.append(s)
    return out
