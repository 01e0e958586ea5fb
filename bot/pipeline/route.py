"""Routing one `process` call's stories to subscriptions: reads once, writes once.

- `SubscriptionCache`: the subscriptions (not paused) of each watchlist and member
  query, kept between calls. An entry is used while no subscription changed through
  storage in this process since it was read (`tx_delivery.subscriptions_version`,
  bumped by every change and again once the changing transaction ended) and for at
  most `ttl_s` seconds, the bound on how late a change made elsewhere (the CLI,
  another instance on PostgreSQL) is seen.
- `Routing`: one call's reads (subscriptions through the cache, recently active
  stories for Zoom out, read once and kept current as the call opens and grows
  stories) and its pending writes (matches, item links, outbox rows).
- `OutboxPayload`: the JSON payload of one story's rows, the brief serialized once.

What it does not do: decide which stories open or join (`process`), or send
anything (`deliver`).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Callable, Sequence

from bot.core.codec import brief_to_dict
from bot.core.timing import TimingError, parse_quiet, parse_zone, quiet_until
from bot.storage.tx import SqlTx
from bot.storage.tx_delivery import JsonText, Subscription, subscriptions_version
from bot.types import Brief, Match


class SubscriptionCache:
    """Subscriptions by watchlist and by id, shared by the `process` calls of one processor."""

    def __init__(self, ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self._version = -1
        self._by_watchlist: dict[str, tuple[float, list[Subscription]]] = {}
        self._by_id: dict[int, tuple[float, Subscription | None]] = {}

    async def lookup(self, tx: SqlTx, watchlists: set[str], sub_ids: set[int]
                     ) -> tuple[dict[str, list[Subscription]], dict[int, Subscription]]:
        """The subscriptions of these watchlists and these (query) subscription ids; what is
        missing or too old is read with one query."""
        version, now = subscriptions_version(), self.clock()
        if version != self._version:
            self._by_watchlist.clear()
            self._by_id.clear()
        fresh = now - self.ttl_s
        wl = {w for w in watchlists if self._by_watchlist.get(w, (fresh - 1,))[0] < fresh}
        ids = {i for i in sub_ids if self._by_id.get(i, (fresh - 1,))[0] < fresh}
        if wl or ids:
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


class Routing:
    """One `process` call's reads and pending writes.

    Reads once per call: the subscriptions of every watchlist and member query that
    matched (not paused), and the recently active stories for Zoom out (kept current
    as this call opens and grows stories, as the database would be). Collects the
    matches, item links and outbox rows that `process` writes at the end.
    """

    def __init__(self, tx: SqlTx, now: datetime, found: Sequence[Match], cache: SubscriptionCache) -> None:
        self.tx, self.now, self.cache = tx, now, cache
        self._wanted = ({m.watchlist for m in found if m.watchlist}, set(sub_ids_of(found)))
        self._by_watchlist: dict[str, list[Subscription]] = {}
        self._by_id: dict[int, Subscription] = {}
        self._recent: list[tuple[int, str, str | None, tuple[str, ...]]] | None = None
        self._quiet: dict[tuple[str, str], datetime] = {}
        self.matches: list[tuple[int, int, Sequence[Match]]] = []
        self.links: list[tuple[int, int, bytes]] = []
        self.outbox: list[dict] = []

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

    async def zoom_out(self, watchlists: Sequence[str], *, since: datetime,
                       limit: int = 3) -> list[tuple[str, str | None]]:
        """Earlier stories of the same watchlists (title, link), most recently active first,
        among the ZOOM_SCAN most recently active stories since `since`."""
        if not watchlists:
            return []
        if self._recent is None:
            self._recent = await self.tx.recent_story_heads(since, limit=ZOOM_SCAN)
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

    def outbox_row(self, sub: Subscription, story_id: int, payload: OutboxPayload, *, kind: str,
                   version: int) -> dict:
        status, not_before = "pending", self.now
        if sub.mode == "digest":
            status = "digest"
        elif sub.quiet:
            not_before = self._quiet_until(sub.quiet, sub.timezone)
        key = f"{kind}:{sub.platform}:{sub.address}:{story_id}" + (f":v{version}" if kind == "update" else "")
        return dict(dedupe_key=key, subscription_id=sub.id, story_id=story_id, platform=sub.platform,
                    address=sub.address, kind=kind, payload=payload.for_subscription(sub), status=status,
                    not_before=not_before, attempts=0, created_at=self.now)

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


class OutboxPayload:
    """An outbox row's payload for each subscription of one story, as JSON text: the brief
    (serialized once per story) and the explanation of the matches that concern that
    subscription. The text is exactly `json.dumps` of the payload dict
    {"brief", "story_id", "subscription_id", "explanation"}."""

    def __init__(self, brief: Brief, story_id: int, found: Sequence[Match]) -> None:
        self.found = found
        self._head = '{"brief": ' + json.dumps(brief_to_dict(brief)) + f', "story_id": {int(story_id)}'
        self._rules = {m.rule_id for m in found}
        self._explained: dict[tuple[str | None, int | None], str] = {}

    def for_subscription(self, sub: Subscription) -> JsonText:
        own = f"sub:{sub.id}"
        key = (sub.watchlist, sub.id if own in self._rules else None)
        if key not in self._explained:
            self._explained[key] = json.dumps([m.explain() for m in self.found
                                               if m.watchlist == sub.watchlist or m.rule_id == own])
        return JsonText(f'{self._head}, "subscription_id": {int(sub.id)}, '
                        f'"explanation": {self._explained[key]}}}')


def sub_ids_of(found: Sequence[Match]) -> list[int]:
    """The ids of the member query subscriptions among matches (rule ids "sub:<id>")."""
    return [int(m.rule_id[4:]) for m in found if m.rule_id.startswith("sub:")]
