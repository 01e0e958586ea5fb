"""From stored items to stories and outbox rows, inside the poll's transaction.

    prepare (before the transaction)     match every unseen item; summarize the matched ones
    process (in the poll's transaction)  store matches; join or open a story; route it:
                                         one outbox row per destination that wants it

Summarizing happens before the transaction so that a slow summarizer (the
optional LLM) or an article page (feeds with `full_text: true`, see
`article_texts`) never holds the database's write lock; the extractive brief and
the story signature of a feed's matched items are made in one job on the worker
pool that parses feeds (`executor`, bot.core.brief_job), on another core; what needs the database
(clustering against recent stories, Zoom out, routing) happens inside it, so
items, matches, stories and outbox rows commit together or not at all.

Cost (bench/bench_pipeline.py, docs/benchmarks.md): a `process` call reads the
subscriptions it needs once (bot.pipeline.route.SubscriptionCache keeps them
between calls) and recent stories once, and writes all its matches, item links
and outbox rows with one statement each; an item that matched nothing in
`prepare` is not matched again.
"""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Awaitable, Callable, Mapping, Sequence
from urllib.parse import urlsplit

import structlog

from bot.core.cluster import Signature, SignatureError, StoryIndex, assign_story, is_material_update, story_signature
from bot.core.brief_job import brief_and_sign
from bot.core.codec import brief_to_dict
from bot.core.summarize import summarize as extractive_summarize
from bot.core.timing import next_digest_at, parse_digest, parse_zone
from bot.pipeline.route import RecentStories, Routing, SubscriptionCache, sub_ids_of
from bot.pipeline.touched import ProcessCall, TouchedStory
from bot.settings import StoriesSettings
from bot.storage.models import briefs as briefs_table
from bot.storage.models import stories as stories_table
from bot.storage.tx import SqlTx
from bot.storage.tx_delivery import Subscription
from bot.types import Brief, Feed, Item, ItemData, Match, SourceRef

if TYPE_CHECKING:
    from bot.adapters.article import ArticleFetcher

log = structlog.get_logger(__name__)

SummarizeFn = Callable[..., Awaitable[Brief]]
PRUNE_EVERY = timedelta(minutes=5)


async def extractive(**kwargs) -> Brief:
    return extractive_summarize(**kwargs)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What `prepare` found for one matched item: its matches, its brief (None: not
    summarized, see `StoryProcessor.prepare`) and the signature it is clustered by."""

    matches: tuple[Match, ...]
    brief: Brief | None = None
    signature: Signature | None = None


class PreparedItems(dict):
    """What `prepare` returns: item key → Prepared, for the items that matched; `looked_at`
    holds the keys of every item it matched against the rules (those that matched nothing
    are not matched again in `process`)."""

    def __init__(self) -> None:
        super().__init__()
        self.looked_at: set[str] = set()


class StoryProcessor:
    """Implements pipeline.poll.Processor."""

    def __init__(self, rules, *, stories: StoriesSettings, summarize: SummarizeFn = extractive,
                 articles: ArticleFetcher | None = None, executor: Executor | None = None) -> None:
        self.rules = rules                  # bot.pipeline.rules.RuleBook: .matcher, .context_for(match)
        self.settings = stories
        self.summarize = summarize
        self.articles = articles            # None: briefs always come from the feed's own text
        self.executor = executor            # worker processes for briefs and signatures (None: in this process)
        self.index = StoryIndex()
        self.subscriptions = SubscriptionCache()
        self.recent = RecentStories()
        self._watermark: datetime | None = None
        self._pruned_at: datetime | None = None
        self._added: set[int] = set()       # items this processor indexed since the last refresh
        self._gone: set[int] = set()        # stories in the index that the database does not have

    # ------------------------------------------------------------------ before the transaction

    async def prepare(self, feed: Feed, items: Sequence[ItemData], known: dict[str, str]) -> PreparedItems:
        """Match items that are new or edited; sign and summarize the ones that matched.

        Matching always reads title + summary; only the summarizer gets the article's
        full text (full_text feeds), so what matches does not depend on a page fetch.
        With story updates off and a costly summary (the LLM summarizer, or an article page
        to fetch), an item that will join a story we already hold is not summarized: its
        brief would never be shown. Should it open a story after all (its story left the
        window meanwhile), `process` summarizes its feed text then. The extractive summary
        of feed text costs less than that forecast, so it is always made.
        """
        out = PreparedItems()
        matcher = self.rules.matcher
        forecast = self.settings.updates == "off" and (
            self.summarize is not extractive or (self.articles is not None and feed.full_text))
        todo: list[tuple[ItemData, list[Match], Signature | None]] = []
        for d in items:
            if known.get(d.key) == d.content_hash:
                continue
            found = matcher.match(d.title, d.summary, language=d.language or feed.language)
            out.looked_at.add(d.key)
            if not found:
                continue
            sig = story_signature(d.title, d.summary) if forecast else None
            if sig is not None and self._joins(sig, d.published):
                out[d.key] = Prepared(tuple(found), None, sig)
            else:
                todo.append((d, found, sig))
        texts = await article_texts(self.articles, feed, [d for d, _, _ in todo])
        jobs = [(self._brief_args(feed, d, found, text), d.summary) for (d, found, _), text in zip(todo, texts)]
        made = await self._in_pool(feed, jobs) if self.summarize is extractive else None
        for i, ((d, found, sig), (kwargs, _)) in enumerate(zip(todo, jobs)):
            if made is not None:
                brief, sig = made[i]
            else:
                brief, sig = await self._brief(feed, d, kwargs), sig or story_signature(d.title, d.summary)
            out[d.key] = Prepared(tuple(found), brief, sig)
        return out

    async def _in_pool(self, feed: Feed, jobs: list) -> list[tuple[Brief, Signature]] | None:
        """Briefs and signatures made by a worker process (`executor`), or None: no pool, no jobs,
        or the pool failed (then the caller makes them here)."""
        if self.executor is None or not jobs:
            return None
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, brief_and_sign, jobs)
        except Exception as exc:                    # noqa: BLE001 - a broken pool must not lose the items
            log.warning("brief_worker_failed", feed_url=feed.url, error=f"{type(exc).__name__}: {exc}")
            return None

    def _joins(self, sig: Signature, published: datetime | None) -> bool:
        """Whether the item would join a story of the index as it is now (a forecast)."""
        if published is None or not len(self.index):
            return False
        return assign_story(sig, published, self._candidates(sig), threshold=self.settings.threshold,
                            window=timedelta(seconds=self.settings.window)) is not None

    def _brief_args(self, feed: Feed, d: ItemData | Item, found: Sequence[Match], text: str) -> dict:
        return dict(title=d.title, text=text, context=self.rules.context_for(found), matched_terms=_terms(found),
                    language=d.language or feed.language, link=d.link, published=d.published,
                    watchlist=_first_watchlist(found))

    async def _brief(self, feed: Feed, d: ItemData, kwargs: dict) -> Brief:
        try:
            return await self.summarize(**kwargs)
        except Exception:
            log.exception("summarizer_failed", feed_url=feed.url, item=d.key)
            return extractive_summarize(**kwargs)

    # ------------------------------------------------------------------ in the transaction

    async def process(self, tx: SqlTx, feed: Feed, new: Sequence[Item], updated: Sequence[Item], now: datetime,
                      prepared: Mapping[str, Prepared] | None = None) -> None:
        """Cluster and route the matched new items. Reads what it needs once per call (recent
        stories, the subscriptions of the watchlists that matched, each story it joins) and
        decides in memory; then writes new stories, changed stories, briefs, matches, item
        links and outbox rows with one statement each (`_write`)."""
        prepared = {} if prepared is None else prepared       # an empty PreparedItems still has looked_at
        looked_at = getattr(prepared, "looked_at", ())
        work: list[tuple[Item, Prepared]] = []
        for item in new:
            p = prepared.get(item.key)
            if p is None and item.key not in looked_at:     # not seen by prepare
                found = self.rules.matcher.match(item.title, item.summary, language=item.language or feed.language)
                p = Prepared(tuple(found)) if found else None
            if p is not None:
                work.append((item, p))
        await self._refresh_index(tx, now)
        if not work:
            return
        batch = Routing(tx, now, [m for _, p in work for m in p.matches], self.subscriptions, self.recent)
        call = ProcessCall()
        for item, p in work:
            await self._matched(batch, call, feed, item, p)
        await self._write(batch, call)
        log.info("stories_routed", feed_url=feed.url, items=len(work), outbox_rows=len(call.rows),
                 queued=call.queued)

    async def _refresh_index(self, tx: SqlTx, now: datetime) -> None:
        """Bring the in-memory index up to date with the stories' items (ours and other instances').

        The entries this processor added since the last refresh are confirmed by the same query:
        one the database does not return was rolled back (its transaction or savepoint failed
        after `process`), so it leaves the index before its item or story id can be reused."""
        window = timedelta(seconds=self.settings.window)
        since = self._watermark or (now - window)
        added, self._added = self._added, set()
        for item_id, story_id, raw, published in await tx.story_items_since(since):
            if item_id in added:            # added by this processor: in the index already
                added.discard(item_id)
                continue
            try:
                self.index.add(item_id, story_id, Signature.from_bytes(raw), published or now)
            except SignatureError:
                continue
        for item_id in added:
            self.index.remove(item_id)
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            self.index.prune(now, window)   # a scan of the whole index; assign_story checks the window anyway
            self._pruned_at = now
        self._watermark = now

    async def _matched(self, batch: Routing, call: ProcessCall, feed: Feed, item: Item, p: Prepared) -> None:
        now = batch.now
        sig = p.signature or story_signature(item.title, item.summary)
        window = timedelta(seconds=self.settings.window)
        published = item.published or now
        ref = assign_story(sig, published, self._candidates(sig), window=window,
                           threshold=self.settings.threshold)
        source = _source(feed, item)
        watchlists = sorted({m.watchlist for m in p.matches if m.watchlist})
        story = await call.story(batch.tx, ref) if ref is not None else None
        if story is None:
            if ref is not None:             # indexed by a transaction that was rolled back
                self._gone.add(ref)
                log.warning("story_missing", story_id=ref, feed_url=feed.url)
            brief = p.brief or self._feed_brief(feed, item, p.matches)
            zoom = await batch.zoom_out(watchlists, since=now - timedelta(days=3))
            brief = dataclasses.replace(brief, zoom_out=tuple(zoom), sources=(SourceRef(**source_ref(source)),))
            story = call.open(title=brief.headline, link=item.link, watchlists=watchlists, brief=brief_to_dict(brief),
                              signature=sig.to_bytes(), source=source, now=now)
            batch.story_seen(story.ref, story.title, story.link, watchlists)
            await self._route(batch, call, story, p.matches, kind="alert")
        else:
            await self._joined(batch, call, feed, item, story, p, source, watchlists)
        self.index.add(item.id, story.ref, sig, published)
        self._added.add(item.id)
        call.items.append((item.id, story, p.matches, published, sig))

    def _candidates(self, sig: Signature) -> list:
        found = self.index.candidates(sig)
        return [c for c in found if c.story_id not in self._gone] if self._gone else found

    def _feed_brief(self, feed: Feed, item: Item, found: Sequence[Match]) -> Brief:
        """The extractive brief of an item's feed text (it was not summarized in `prepare`)."""
        return extractive_summarize(**self._brief_args(feed, item, found, item.summary))

    async def _joined(self, batch: Routing, call: ProcessCall, feed: Feed, item: Item, story: TouchedStory,
                      p: Prepared, source: dict, watchlists: list[str]) -> None:
        update = self.settings.updates == "on" and is_material_update(
            [story.title, *story.brief.get("go_deeper", []), story.brief.get("lede", "")],
            f"{item.title}. {item.summary}")
        story.add_item(source, watchlists, batch.now)
        if update:
            sources = [SourceRef(**source_ref(s)) for s in story.sources]
            brief = p.brief or self._feed_brief(feed, item, p.matches)
            brief = dataclasses.replace(brief, sources=tuple(_unique_sources(sources)), is_update=True)
            story.new_version(brief_to_dict(brief))
        batch.story_seen(story.ref, story.title, story.link, sorted(story.watchlists))
        log.info("story_joined", story_id=story.ref, feed_url=feed.url, title=item.title[:120], update=update)
        if update:
            await self._route(batch, call, story, p.matches, kind="update")

    async def _route(self, batch: Routing, call: ProcessCall, story: TouchedStory, found: Sequence[Match], *,
                     kind: str) -> None:
        dests = await self._subscriptions(batch, {m.watchlist for m in found if m.watchlist}, sub_ids_of(found))
        muted = await batch.tx.muted(story.ref) if kind == "update" and story.ref > 0 else set()
        before = len(call.routes)
        for sub in dests:                   # one per destination, its instant subscription first
            if kind == "update" and (sub.mode != "instant" or (sub.platform, sub.address) in muted):
                continue
            call.routes.append((sub, story, story.version, kind))
        log.info("story_routed", story_id=story.ref, kind=kind, destinations=len(call.routes) - before)

    async def _write(self, batch: Routing, call: ProcessCall) -> None:
        """Give the call's new stories and briefs their ids, then write everything it decided."""
        tx, now = batch.tx, batch.now
        opened = [s for s in call.stories.values() if s.row is None]
        new_briefs = [(s, v, b) for s in call.stories.values() for v, b in s.briefs]
        ids = await tx.reserve_ids({stories_table: len(opened), briefs_table: len(new_briefs)})
        for story, story_id in zip(opened, ids.get(stories_table, ())):
            story.id = story_id
            log.info("story_opened", story_id=story_id, title=story.title[:120], watchlists=sorted(story.watchlists))
        brief_ids = ids.get(briefs_table, [])
        brief_of = {(s.key, v): b_id for (s, v, _), b_id in zip(new_briefs, brief_ids)}
        await tx.write_stories(
            [s.insert_row() for s in opened], [s.update_row() for s in call.stories.values() if s.row is not None],
            [dict(id=b_id, story_id=s.id, version=v, brief=b, created_at=now)
             for (s, v, b), b_id in zip(new_briefs, brief_ids)])
        for item_id, story, _, published, sig in call.items:
            if story.row is None:           # the index knew it by its stand-in id
                self.index.add(item_id, story.id, sig, published)
        await tx.insert_matches_many([(item_id, s.id, found) for item_id, s, found, *_ in call.items], now)
        await tx.link_items_to_stories([(item_id, s.id, sig.to_bytes()) for item_id, s, _, _, sig in call.items])
        call.rows = batch.outbox_rows([(sub, story.id, brief_of[story.key, version], kind, version)
                                       for sub, story, version, kind in call.routes])
        call.queued = await self._enqueue(tx, call.rows)
        self.recent.seen([(s.id, s.title, s.link, tuple(sorted(s.watchlists))) for s in call.stories.values()])

    async def _subscriptions(self, batch: Routing, watchlists: set[str], sub_ids: Sequence[int]) -> list[Subscription]:
        return await batch.destinations(watchlists, sub_ids)

    async def _enqueue(self, tx: SqlTx, rows: list[tuple]) -> int:
        return await tx.enqueue(rows)


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
