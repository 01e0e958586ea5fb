"""Schema migrations: what `newsbot db upgrade` builds is what the code expects, and an
upgrade keeps the alerts that were waiting in the outbox.

Each test gets an EMPTY database (a new SQLite file; a new PostgreSQL database when
NEWSBOT_TEST_DATABASE_URL is set), since they run the migrations themselves.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage import migrate
from bot.storage.models import briefs, metadata, outbox, stories
from bot.storage.sql import SqlStorage
from tests.conftest import PG_URL, backends

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
OLD_BRIEF = {"headline": "Border crossing closed", "lede": "Officials shut the crossing on Monday.",
             "why_it_matters": [], "go_deeper": [], "zoom_out": [], "sources": [], "matched_terms": ["Taliban"]}


@pytest.fixture(params=backends())
def blank_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"
        return
    base = make_url(PG_URL)
    name = f"newsbot_m_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
        async with engine.connect() as c:
            await c.execute(text(sql))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_the_migrated_schema_is_the_one_the_code_uses(blank_url):
    engine = create_async_engine(blank_url)
    try:
        before, after = await migrate.upgrade(engine)
        assert (before, after) == (None, migrate.head_revision())
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), metadata))
        assert diff == []
    finally:
        await engine.dispose()


async def test_upgrading_keeps_queued_alerts_and_moves_briefs_out_of_the_outbox(blank_url):
    engine = create_async_engine(blank_url)
    try:
        await migrate.upgrade(engine, "0001")
        async with engine.begin() as c:          # what a 0001 database holds: the brief inside the row
            await c.execute(text(
                "INSERT INTO stories (id, title, watchlists, brief, first_seen_at, last_item_at, item_count, "
                "sources, version) VALUES (7, 'Border crossing closed', '[]', :b, :t, :t, 1, '[]', 1)"),
                {"b": json.dumps(OLD_BRIEF), "t": NOW})
            await c.execute(text(
                "INSERT INTO outbox (dedupe_key, story_id, platform, address, kind, payload, status, not_before, "
                "attempts, created_at) VALUES ('alert:console:stdout:7', 7, 'console', 'stdout', 'alert', :p, "
                "'pending', :t, 0, :t)"), {"p": json.dumps({"brief": OLD_BRIEF, "story_id": 7}), "t": NOW})
        assert await migrate.upgrade(engine) == ("0001", migrate.head_revision())
    finally:
        await engine.dispose()

    storage = await SqlStorage.open(blank_url)
    try:
        async with storage.begin() as tx:
            [row] = await tx.claim_outbox(now=NOW, owner="t", lease_s=60, limit=10)
            copied = (await tx.conn.execute(select(briefs))).mappings().all()
            story = (await tx.conn.execute(select(stories))).mappings().one()
        assert row["payload"]["brief"] == OLD_BRIEF and row["brief_id"] is None and row["status"] == "pending"
        assert [(b["story_id"], b["version"], b["brief"]) for b in copied] == [(7, 1, OLD_BRIEF)]
        assert story["brief"] == OLD_BRIEF
        async with storage.begin() as tx:          # a row queued the new way, then back to 0001
            await tx.enqueue([dict(dedupe_key="alert:7:console:other", subscription_id=None, story_id=7,
                                   brief_id=copied[0]["id"], platform="console", address="other", kind="alert",
                                   payload={}, status="pending", not_before=NOW, attempts=0, created_at=NOW)])
    finally:
        await storage.close()

    engine = create_async_engine(blank_url)
    try:
        assert await migrate.downgrade(engine, "0001") == (migrate.head_revision(), "0001")
        async with engine.connect() as c:
            payloads = {k: json.loads(p) if isinstance(p, str) else p for k, p in (await c.execute(
                select(outbox.c.dedupe_key, text("payload")).select_from(outbox))).all()}
        assert payloads["alert:7:console:other"]["brief"] == OLD_BRIEF
        assert payloads["alert:console:stdout:7"]["brief"] == OLD_BRIEF
    finally:
        await engine.dispose()
