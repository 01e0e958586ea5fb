"""What one `StoryProcessor.process` call decided, before it is written.

- `TouchedStory`: a story the call opened or added items to, as it will be written
  (a new one has a negative stand-in id until `process` reserves its real id);
- `ProcessCall`: the stories it touched, its items (with their story and
  signature) and its routes (subscription, story, brief version, kind).

Not here: deciding (bot.pipeline.process) or writing (bot.storage).
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from bot.core.cluster import Signature
from bot.storage.tx import SqlTx
from bot.storage.tx_delivery import StoryRow, Subscription
from bot.types import Match


class TouchedStory:
    """A story one `process` call opened or added items to, as it will be written.

    A story opened in the call has no id until `_write` reserves one; until then
    `ref` (used in the index and logs) is a negative stand-in."""

    def __init__(self, key: int, row: StoryRow | None, *, title: str, link: str | None, watchlists: Sequence[str],
                 sources: Sequence[dict], item_count: int, version: int, brief: dict, signature: bytes | None,
                 now: datetime) -> None:
        self.key, self.row = key, row
        self.id: int | None = row.id if row is not None else None
        self.title, self.link = title, link
        self.watchlists = set(watchlists)
        self.sources = list(sources)
        self.item_count, self.version, self.brief = item_count, version, brief
        self.signature, self.now = signature, now
        self.briefs: list[tuple[int, dict]] = [] if row is not None else [(version, brief)]

    @property
    def ref(self) -> int:
        return self.id if self.id is not None else self.key

    def add_item(self, source: dict, watchlists: Sequence[str], now: datetime) -> None:
        if source.get("outlet") not in {s.get("outlet") for s in self.sources}:
            self.sources.append(source)
        self.watchlists.update(watchlists)
        self.item_count += 1
        self.now = now

    def new_version(self, brief: dict) -> None:
        self.version += 1
        self.brief = brief
        self.briefs.append((self.version, brief))

    def insert_row(self) -> dict:
        return dict(id=self.id, title=self.title, link=self.link, watchlists=sorted(self.watchlists),
                    signature=self.signature, brief=self.brief, first_seen_at=self.now, last_item_at=self.now,
                    item_count=self.item_count, sources=self.sources, version=self.version)

    def update_row(self) -> dict:
        row = dict(id=self.id, last_item_at=self.now, item_count=self.item_count, sources=self.sources,
                   watchlists=sorted(self.watchlists))
        if self.briefs:
            row.update(brief=self.brief, version=self.version)
        return row


class ProcessCall:
    """What one `process` call decided: the stories it touched (by id, or by stand-in for new
    ones), its items (id, story, matches, published, signature), and its routes (subscription,
    story, brief version, kind)."""

    def __init__(self) -> None:
        self.stories: dict[int, TouchedStory] = {}
        self.items: list[tuple[int, TouchedStory, Sequence[Match], datetime, Signature]] = []
        self.routes: list[tuple[Subscription, TouchedStory, int, str]] = []
        self.rows: list[tuple] = []
        self.queued = 0

    async def story(self, tx: SqlTx, ref: int) -> TouchedStory | None:
        """The story an item joins: touched earlier in this call, or read from the database."""
        if ref in self.stories:
            return self.stories[ref]
        if ref < 0:
            return None
        row = await tx.story(ref)
        if row is None:
            return None
        story = TouchedStory(ref, row, title=row.title, link=row.link, watchlists=row.watchlists,
                             sources=row.sources, item_count=row.item_count, version=row.version,
                             brief=row.brief or {}, signature=row.signature, now=row.last_item_at)
        self.stories[ref] = story
        return story

    def open(self, *, title: str, link: str | None, watchlists: Sequence[str], brief: dict, signature: bytes,
             source: dict, now: datetime) -> TouchedStory:
        key = -(len(self.stories) + 1)
        story = TouchedStory(key, None, title=title, link=link, watchlists=watchlists, sources=[source],
                             item_count=1, version=1, brief=brief, signature=signature, now=now)
        self.stories[key] = story
        return story
