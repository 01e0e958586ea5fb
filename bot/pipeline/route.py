"""Routing one `process` call's stories to subscriptions: reads once, writes once.

- `SubscriptionCache`: the subscriptions (not paused) of each watchlist and member
  query, kept between calls. An entry is used while no subscription changed through
  storage in this process since it was read (`tx_delivery.subscriptions_version`,
  bumped by every change and again once the changing transaction ended) and for at
  most `ttl_s` seconds, the bound on how late a change made elsewhere (the CLI,
  another instance on PostgreSQL) is seen.
- `RecentStories`: the most recently active stories, for Zoom out, kept between
  calls (re-read every `ttl_s` seconds; this processor's own stories put in front).
- `Routing`: one call's reads (subscriptions through the cache, recent stories,
  kept current as the call opens and grows stories) and its outbox rows.
- Outbox dedupe keys: bot.storage.tx_outbox.outbox_key.

What it does not do: decide which stories open or join (`process`), or send
anything (`deliver`).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Callable, Sequence

from bot.core.timing import TimingError, parse_quiet, parse_zone, quiet_until
from bot.storage.tx import SqlTx
from bot.storage.tx_delivery import JsonText, Subscription, subscriptions_version
from bot.storage.tx_outbox import outbox_key
from bot.types import Match


class SubscriptionCache:
    """Subscriptions by watchlist and by id, shared by the `process` calls of one processor."""

    def __init__(self, ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self._version = -1
        self._by_watchlist: dict[str, tuple[float, list[Subscription]]] = {}
        self._by_id: dict[int, tuple[float, Subscription | None]] = {}
        self.generation = 0           # bumped whenever an entry changes: `destinations` memos expire
        self.memo: dict[tuple[frozenset, frozenset], tuple[int, list[Subscription]]] = {}

    async def lookup(self, tx: SqlTx, watchlists: set[str], sub_ids: set[int]
                     ) -> tuple[dict[str, list[Subscription]], dict[int, Subscription]]:
        """The subscriptions of these watchlists and these (query) subscription ids; what is
        missing or too old is read with one query."""
        version, now = subscriptions_version(), self.clock()
        if version != self._version:
            self._by_watchlist.clear()
            self._by_id.clear()
            self.generation += 1
        fresh = now - self.ttl_s
        wl = {w for w in watchlists if self._by_watchlist.get(w, (fresh - 1,))[0] < fresh}
        ids = {i for i in sub_ids if self._by_id.get(i, (fresh - 1,))[0] < fresh}
        if wl or ids:
            self.generation += 1
            rows = await tx.subscriptions_for(wl, ids)
            for w in wl:
                self._by_watchlist[w] = (now, [s for s in rows if s.watchlist == w])
            by_id = {s.id: s for s in rows}
            for i in ids:
                self._by_id[i] = (now, by_id.get(i))
        self._version = version       # as read BEFORE the query: a change meanwhile invalidates it
        return ({w: self._by_watchlist[w][1] for w in watchlists},
                {i: s for i in sub_ids if (s := self._by_id[i][1]) is not None})


ZOOM_SCAN = 200          # Zoom out looks among this many most recently active stories

Head = tuple[int, str, "str | None", tuple[str, ...]]      # story id, title, link, watchlists


class RecentStories:
    """The ZOOM_SCAN most recently active stories (for Zoom out), kept between calls.

    Read from the database at most every `ttl_s` seconds (how late a story opened by
    another instance shows in Zoom out); the stories this processor opens or grows are
    put in front as their transaction's writes succeed (`seen`)."""

    def __init__(self, ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self._heads: list[Head] | None = None
        self._read_at = 0.0

    async def heads(self, tx: SqlTx, since: datetime) -> list[Head]:
        if self._heads is None or self.clock() - self._read_at > self.ttl_s:
            self._heads = await tx.recent_story_heads(since, limit=ZOOM_SCAN)
            self._read_at = self.clock()
        return self._heads

    def seen(self, heads: Sequence[Head]) -> None:
        """These stories (most recent last) just opened or grew."""
        if self._heads is not None and heads:
            ids = {h[0] for h in heads}
            self._heads = [*reversed(heads), *(h for h in self._heads if h[0] not in ids)][:ZOOM_SCAN]


class Routing:
    """One `process` call's reads and pending writes.

    Reads once per call: the subscriptions of every watchlist and member query that
    matched (not paused), and the recently active stories for Zoom out (kept current
    as this call opens and grows stories, as the database would be); makes the
    outbox rows that `process` writes at the end.
    """

    def __init__(self, tx: SqlTx, now: datetime, found: Sequence[Match], cache: SubscriptionCache,
                 recent: RecentStories | None = None) -> None:
        self.tx, self.now, self.cache = tx, now, cache
        self.recent = recent or RecentStories(ttl_s=0)
        self._wanted = ({m.watchlist for m in found if m.watchlist}, set(sub_ids_of(found)))
        self._by_watchlist: dict[str, list[Subscription]] = {}
        self._by_id: dict[int, Subscription] = {}
        self._recent: list[tuple[int, str, str | None, tuple[str, ...]]] | None = None
        self._quiet: dict[tuple[str, str], datetime] = {}

    async def subscriptions(self, watchlists: set[str], sub_ids: Sequence[int]) -> list[Subscription]:
        """What `tx.subscriptions_for(watchlists, sub_ids)` returns; the first call looks up
        every watchlist and query that matched in this call at once."""
        if not (watchlists <= self._by_watchlist.keys() and set(sub_ids) <= self._by_id.keys()):
            by_wl, by_id = await self.cache.lookup(self.tx, self._wanted[0] | watchlists,
                                                   self._wanted[1] | set(sub_ids))
            self._by_watchlist.update(by_wl)
            self._by_id.update(by_id)
        out = {s.id: s for w in watchlists for s in self._by_watchlist.get(w, ())}
        out.update((i, self._by_id[i]) for i in sub_ids if i in self._by_id)
        return list(out.values())

    async def destinations(self, watchlists: set[str], sub_ids: Sequence[int]) -> list[Subscription]:
        """One subscription per destination among `subscriptions(watchlists, sub_ids)`: its instant
        one if it has one, else its lowest id. Remembered across calls while the cache holds the
        same entries (a story of a watchlist routes like the last one)."""
        subs = await self.subscriptions(watchlists, sub_ids)
        key = (frozenset(watchlists), frozenset(sub_ids))
        memo = self.cache.memo.get(key)
        if memo is not None and memo[0] == self.cache.generation:
            return memo[1]
        seen: set[tuple[str, str]] = set()
        out = []
        for sub in sorted(subs, key=lambda s: (s.mode != "instant", s.id)):
            if (sub.platform, sub.address) not in seen:
                seen.add((sub.platform, sub.address))
                out.append(sub)
        if len(self.cache.memo) > 4096:
            self.cache.memo.clear()
        self.cache.memo[key] = (self.cache.generation, out)
        return out

    async def zoom_out(self, watchlists: Sequence[str], *, since: datetime,
                       limit: int = 3) -> list[tuple[str, str | None]]:
        """Earlier stories of the same watchlists (title, link), most recently active first,
        among the ZOOM_SCAN most recently active stories since `since`."""
        if not watchlists:
            return []
        if self._recent is None:
            self._recent = list(await self.recent.heads(self.tx, since))
        wanted, out = set(watchlists), []
        for _, title, link, wls in self._recent:
            if wanted.intersection(wls):
                out.append((title, link))
                if len(out) == limit:
                    break
        return out

    def story_seen(self, story_id: int, title: str, link: str | None, watchlists: Sequence[str]) -> None:
        """A story opened or grew now: it is the most recently active one."""
        if self._recent is not None:
            rest = [r for r in self._recent if r[0] != story_id]
            self._recent = [(story_id, title, link, tuple(sorted(set(watchlists)))), *rest][:ZOOM_SCAN]

    def outbox_rows(self, routes: Sequence[tuple[Subscription, int, int, str, int]]) -> list[tuple]:
        """The outbox rows (tuples in tx_outbox.OUTBOX_COLUMNS order) that send each route's brief:
        (subscription, story id, brief id, kind, version). A row's key starts with the story id (new
        keys append to the unique index) and names the destination, so a destination gets one
        alert per story and one message per update version."""
        now, rows = self.now, []
        for sub, story_id, brief_id, kind, version in routes:
            status, not_before = "pending", now
            if sub.mode == "digest":
                status = "digest"
            elif sub.quiet:
                not_before = self._quiet_until(sub.quiet, sub.timezone)
            rows.append((outbox_key(kind, story_id, sub.platform, sub.address, version), sub.id, story_id, brief_id,
                         sub.platform, sub.address, kind, EMPTY, status, not_before, 0, now))
        return rows

    def _quiet_until(self, quiet: str, zone: str) -> datetime:
        """When quiet hours `quiet` in time zone `zone` end, or now if they are not on (or invalid)."""
        key = (quiet, zone)
        if key not in self._quiet:
            try:
                until = quiet_until(self.now, parse_quiet(quiet), parse_zone(zone))
            except TimingError:
                until = None
            self._quiet[key] = until or self.now
        return self._quiet[key]


EMPTY = JsonText("{}")


def sub_ids_of(found: Sequence[Match]) -> list[int]:
    """The ids of the member query subscriptions among matches (rule ids "sub:<id>")."""
    return [int(m.rule_id[4:]) for m in found if m.rule_id.startswith("sub:")]
