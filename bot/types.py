"""Small immutable types, one per stage of the flow (see README "Design notes").

`XData` is data from outside, `X` a stored row, `XIntent` a write request,
`XResult` or a small union an outcome. Datetimes are UTC-aware everywhere.
Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Union

# --------------------------------------------------------------------------- feeds


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """A feed as the operator configured it (feed list, OPML import)."""

    url: str
    title: str | None = None
    allow_private: bool = False
    full_text: bool = False
    min_interval_s: int | None = None   # None: the global default
    max_interval_s: int | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Feed:
    """A stored feed with its HTTP caching state, schedule and health."""

    id: int
    url: str
    title: str | None = None
    site_url: str | None = None
    allow_private: bool = False
    full_text: bool = False
    enabled: bool = True
    min_interval_s: int | None = None
    max_interval_s: int | None = None
    language: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    next_check_at: datetime | None = None
    interval_s: int | None = None
    last_checked_at: datetime | None = None
    last_success_at: datetime | None = None
    last_new_item_at: datetime | None = None
    last_status: int | None = None
    error_count: int = 0
    last_error: str | None = None
    error_since: datetime | None = None


# --------------------------------------------------------------------------- fetch


@dataclass(frozen=True, slots=True)
class Fetched:
    """A full document was received (HTTP 200 or a file:// read)."""

    url: str
    final_url: str
    status: int
    body: bytes
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    max_age_s: float | None = None        # Cache-Control max-age / Expires, if any
    elapsed_s: float = 0.0


@dataclass(frozen=True, slots=True)
class NotModified:
    """HTTP 304: the document is unchanged since our last conditional GET."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    max_age_s: float | None = None
    elapsed_s: float = 0.0


FailureKind = Literal[
    "dns", "connect", "timeout", "tls", "http", "too_large", "too_many_redirects",
    "private_address", "bad_url", "file", "network",
]


@dataclass(frozen=True, slots=True)
class FetchFailed:
    """The fetch failed; `reason` is a sentence an operator can act on."""

    url: str
    kind: FailureKind
    reason: str
    status: int | None = None
    retry_after_s: float | None = None    # from Retry-After (429/503)
    permanent: bool = False               # 404/410, refused address: needs the operator
    elapsed_s: float = 0.0


FetchResult = Union[Fetched, NotModified, FetchFailed]


# --------------------------------------------------------------------------- parse


@dataclass(frozen=True, slots=True)
class ItemData:
    """One entry of a parsed feed, cleaned. `key` is its stable id within the feed."""

    key: str                      # guid, else normalised link, else content hash
    title: str                    # clean text
    summary: str                  # clean text of the description (else of the content)
    link: str | None = None       # absolute, resolved against the feed's base
    guid: str | None = None
    html: str = ""                # the original content HTML, kept for later: NOT sanitised, escape it
    published: datetime | None = None
    updated: datetime | None = None
    author: str | None = None
    categories: tuple[str, ...] = ()
    language: str | None = None
    content_hash: str = ""        # hash of title+summary+link: detects edits


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What a document yielded. `error` is set when nothing could be recovered."""

    items: tuple[ItemData, ...]
    title: str | None = None
    link: str | None = None
    language: str | None = None
    ttl_s: int | None = None      # <ttl> (minutes in RSS) converted to seconds
    parser: str = "fast"          # "fast" | "feedparser" | "json" | "recover"
    warning: str | None = None    # recovered with damage (bozo): what was wrong
    error: str | None = None      # nothing recovered: a readable reason


# --------------------------------------------------------------------------- items


@dataclass(frozen=True, slots=True)
class Item:
    """A stored item."""

    id: int
    feed_id: int
    key: str
    title: str
    summary: str
    link: str | None
    published: datetime | None
    first_seen_at: datetime
    updated_at: datetime | None = None
    author: str | None = None
    categories: tuple[str, ...] = ()
    language: str | None = None
    content_hash: str = ""
    html: str = ""


@dataclass(frozen=True, slots=True)
class PollIntent:
    """One feed's poll outcome, written in one transaction."""

    feed_id: int
    checked_at: datetime
    next_check_at: datetime
    interval_s: int
    result: Literal["ok", "not_modified", "failed"]
    status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    title: str | None = None
    site_url: str | None = None
    items: tuple[ItemData, ...] = ()


@dataclass(frozen=True, slots=True)
class PollResult:
    """What `commit_poll` stored."""

    feed_id: int
    new_items: tuple[Item, ...] = ()
    updated_items: tuple[Item, ...] = ()


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class Hit:
    """One term occurrence that contributed to a match."""

    term: str           # the term as written in the query
    field: str          # "title" | "summary"
    text: str           # the matched text as it appears in the original field
    start: int          # character offsets into the original field text
    end: int


@dataclass(frozen=True, slots=True)
class Match:
    """An item satisfied a rule (a watchlist query or a member's query)."""

    rule_id: str        # "watchlist:<name>#<n>" or "sub:<id>"
    watchlist: str | None
    query: str
    hits: tuple[Hit, ...]
    why: tuple[str, ...] = ()   # operator context lines for the matched watchlist/terms
    priority: int = 0

    def explain(self) -> str:
        parts = [f'{h.field}:"{h.text}"@{h.start} ({h.term})' for h in self.hits]
        return f"{self.rule_id} [{self.query}] " + ", ".join(parts)


# --------------------------------------------------------------------------- briefs


@dataclass(frozen=True, slots=True)
class SourceRef:
    outlet: str
    title: str
    link: str | None
    published: datetime | None


@dataclass(frozen=True, slots=True)
class Brief:
    """A story condensed into the Smart Brevity shape. Plain text, unescaped."""

    headline: str
    lede: str
    why_it_matters: tuple[str, ...] = ()
    go_deeper: tuple[str, ...] = ()
    zoom_out: tuple[tuple[str, str | None], ...] = ()     # (title, link)
    sources: tuple[SourceRef, ...] = ()
    link: str | None = None
    published: datetime | None = None
    matched_terms: tuple[str, ...] = ()
    watchlist: str | None = None
    is_update: bool = False


# --------------------------------------------------------------------------- delivery

Platform = Literal["console", "telegram", "slack"]


@dataclass(frozen=True, slots=True)
class Destination:
    platform: Platform
    address: str        # chat id, channel id, or "stdout"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A claimed outbox row, ready to render and send."""

    id: int
    dedupe_key: str
    destination: Destination
    story_id: int | None
    subscription_id: int | None
    kind: Literal["alert", "update", "digest", "notice"]
    brief: Brief | None = None
    briefs: tuple[Brief, ...] = ()          # digest
    extra_count: int = 0                    # digest: stories beyond the top N
    attempts: int = 0
    reply_to: str | None = None             # platform message id for updates (edit / thread)
    text: str | None = None                 # notices: plain text


@dataclass(frozen=True, slots=True)
class Delivered:
    platform_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class RetryLater:
    after_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    destination_gone: bool = False          # pause the destination, tell the operator
    migrate_to: str | None = None           # Telegram group → supergroup


SendResult = Union[Delivered, RetryLater, Rejected]
