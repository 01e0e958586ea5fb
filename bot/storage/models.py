"""The database schema, as SQLAlchemy Core tables (one definition for SQLite and PostgreSQL).

Alembic migrations under `migrations/versions/` create and evolve these tables;
this module is what the code reads and writes through. Timestamps are stored as
timezone-aware UTC (`DateTime(timezone=True)`; SQLite keeps ISO text).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON, BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, LargeBinary,
    MetaData, String, Table, Text, UniqueConstraint,
)

# Integer primary keys that are BIGINT on PostgreSQL and INTEGER (rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

feeds = Table(
    "feeds", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False, unique=True),
    Column("title", Text),
    Column("site_url", Text),
    Column("source", String(16), nullable=False, default="config"),   # config | import | cli
    Column("allow_private", Boolean, nullable=False, default=False),
    Column("full_text", Boolean, nullable=False, default=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("min_interval_s", Integer),
    Column("max_interval_s", Integer),
    Column("language", String(16)),
    # HTTP caching state
    Column("etag", Text),
    Column("last_modified", Text),
    # skip re-parsing: "f1:<item fingerprint>" or the SHA-1 of the bytes, [":<ttl s>"] (bot.core.fingerprint)
    Column("body_hash", String(64)),
    # schedule
    Column("next_check_at", DateTime(timezone=True)),
    Column("interval_s", Integer),
    Column("lease_owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    # health
    Column("last_checked_at", DateTime(timezone=True)),
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_new_item_at", DateTime(timezone=True)),
    Column("last_status", Integer),
    Column("error_count", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("error_since", DateTime(timezone=True)),
    Column("operator_notified_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_feeds_due", "enabled", "next_check_at"),
)

stories = Table(
    "stories", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("title", Text, nullable=False),
    Column("link", Text),
    Column("watchlists", JSON, nullable=False, default=list),
    Column("signature", LargeBinary),
    Column("brief", JSON),                       # the latest Brief, as a dict
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_item_at", DateTime(timezone=True), nullable=False),
    Column("item_count", Integer, nullable=False, default=1),
    Column("sources", JSON, nullable=False, default=list),
    Column("version", Integer, nullable=False, default=1),
    Index("ix_stories_recent", "last_item_at"),
)

# Every brief a story had: version 1 when it opened, one more per update. Outbox rows
# point at the brief they send (a story's hundred destinations share one copy).
briefs = Table(
    "briefs", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("story_id", Id, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("brief", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_briefs_story", "story_id"),
)

items = Table(
    "items", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("feed_id", Id, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    Column("guid", Text),
    Column("link", Text),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("html", Text),
    Column("author", Text),
    Column("categories", JSON),
    Column("language", String(16)),
    Column("published_at", DateTime(timezone=True)),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("content_hash", String(64), nullable=False),
    Column("story_id", Id, ForeignKey("stories.id", ondelete="SET NULL")),
    Column("signature", LargeBinary),           # near-duplicate signature (matched items only)
    Column("processed", Boolean, nullable=False, default=False),
    UniqueConstraint("feed_id", "key", name="uq_items_feed_key"),
    Index("ix_items_first_seen", "first_seen_at"),
    Index("ix_items_unprocessed", "processed", "id"),
    Index("ix_items_story", "story_id"),
)

matches = Table(
    "matches", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("item_id", Id, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("story_id", Id, ForeignKey("stories.id", ondelete="SET NULL")),
    Column("rule_id", Text, nullable=False),
    Column("watchlist", Text),
    Column("query", Text, nullable=False),
    Column("explanation", JSON, nullable=False),   # list of hits: term, field, text, start, end
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("item_id", "rule_id", name="uq_matches_item_rule"),
)

subscriptions = Table(
    "subscriptions", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),      # console | telegram | slack
    Column("address", Text, nullable=False),             # chat id / channel id / stdout
    Column("watchlist", Text),                           # either a watchlist …
    Column("query", Text),                               # … or a member's own query
    Column("mode", String(16), nullable=False, default="instant"),   # instant | digest
    Column("digest", String(32)),                        # "hourly" | "daily 08:00"
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("quiet", String(16)),                         # "22:00-07:00"
    Column("paused", Boolean, nullable=False, default=False),
    Column("paused_reason", Text),
    Column("source", String(16), nullable=False, default="chat"),    # config | chat
    Column("created_by", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_digest_at", DateTime(timezone=True)),
    Index("ix_subscriptions_dest", "platform", "address"),
)

muted_stories = Table(
    "muted_stories", metadata,
    Column("platform", String(16), primary_key=True),
    Column("address", Text, primary_key=True),
    Column("story_id", Id, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("dedupe_key", Text, nullable=False, unique=True),
    # The ids a row was made for, without foreign keys: a row is a self-contained message
    # (destination, kind, brief), so writing a story's hundred rows runs no key check per
    # row, and deleting a subscription does not search the outbox.
    Column("subscription_id", Id),
    Column("story_id", Id),
    Column("platform", String(16), nullable=False),
    Column("address", Text, nullable=False),
    Column("kind", String(16), nullable=False),           # alert | update | digest | notice
    # alerts and updates: the brief is `brief_id`'s (payload {}); digests: the briefs; notices: the text
    Column("brief_id", Id),
    Column("payload", JSON, nullable=False),
    # pending → sent | dead ; held = waiting for a digest or the end of quiet hours
    Column("status", String(16), nullable=False, default="pending"),
    Column("not_before", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("lease_owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("platform_message_id", Text),
    Column("reply_to", Text),
    Index("ix_outbox_due", "status", "not_before"),
)

operator_events = Table(
    "operator_events", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),          # feed_failing | destination_gone | dead_letter | …
    Column("subject", Text, nullable=False),             # feed URL, destination, outbox id
    Column("message", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged", Boolean, nullable=False, default=False),
)
