"""Shared fixtures.

Storage tests run on SQLite always and on PostgreSQL too when
NEWSBOT_TEST_DATABASE_URL names one (`.ci/run` always sets it). Each test gets
an empty, fully migrated database: a copy of a migrated SQLite template file, or
a PostgreSQL database of its own worker whose tables are truncated between tests.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage import migrate
from bot.storage.models import metadata
from bot.storage.sql import SqlStorage

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("NEWSBOT_TEST_DATABASE_URL")


def corpus_dir() -> Path:
    return Path(os.environ.get("NEWSBOT_CORPUS") or (ROOT.parent / "shared" / "corpus")).resolve()


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")

    async def go():
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(go())
    return path


@pytest.fixture(scope="session")
def pg_database():
    """A migrated PostgreSQL database for this test process, dropped at the end."""
    if not PG_URL:
        return None
    base = make_url(PG_URL)
    name = f"newsbot_t_{uuid.uuid4().hex[:10]}"
    url = base.set(database=name).render_as_string(hide_password=False)

    async def admin(sql: str) -> None:
        engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
        async with engine.connect() as c:
            await c.execute(text(sql))
        await engine.dispose()

    async def create():
        await admin(f'CREATE DATABASE "{name}"')
        engine = create_async_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(create())
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=backends())
def db_url(request, tmp_path, sqlite_template) -> str:
    """A URL to an empty, migrated database (SQLite and, when configured, PostgreSQL)."""
    if request.param == "sqlite":
        path = tmp_path / "newsbot.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url = request.getfixturevalue("pg_database")

    async def truncate():
        engine = create_async_engine(url)
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        async with engine.begin() as c:
            await c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        await engine.dispose()

    asyncio.run(truncate())
    return url


@pytest.fixture
async def storage(db_url):
    s = await SqlStorage.open(db_url, upgrade=False)
    yield s
    await s.close()


@pytest.fixture
def watchlist_dir(tmp_path) -> Path:
    """A watchlist directory holding the shipped central-asia watchlist."""
    d = tmp_path / "watchlists"
    d.mkdir()
    shutil.copy(ROOT / "config" / "watchlists" / "central-asia.yaml", d / "central-asia.yaml")
    return d


@pytest.fixture
async def rulebook(storage, watchlist_dir):
    from bot.pipeline.rules import RuleBook
    rules = RuleBook(watchlist_dir, storage)
    rules.load()
    await rules.subscriptions_changed()
    return rules


@pytest.fixture
async def command_router(storage, rulebook):
    """The real command router over real storage and the shipped watchlist."""
    from bot.chat.commands import Commands
    return Commands(storage, rulebook)
