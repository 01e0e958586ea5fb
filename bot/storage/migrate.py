"""Schema migrations: `newsbot db upgrade` and the automatic upgrade at start-up.

Runs Alembic programmatically on an existing async connection, so the same code
path serves SQLite and PostgreSQL. For SQLite the database file's directory is
created first (the default `data/newsbot.db` appears on first run).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def ensure_sqlite_dir(url: str) -> None:
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade to `revision`; returns (revision before, revision after)."""
    return await _migrate(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> tuple[str | None, str]:
    """Go back to `revision` (to run an older newsbot on this database); returns (before, after)."""
    return await _migrate(engine, command.downgrade, revision)


async def _migrate(engine: AsyncEngine, step, revision: str) -> tuple[str | None, str]:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))

    def _do(connection) -> tuple[str | None, str]:
        before = MigrationContext.configure(connection).get_current_revision()
        cfg.attributes["connection"] = connection
        step(cfg, revision)
        after = MigrationContext.configure(connection).get_current_revision()
        return before, after or ""

    async with engine.begin() as conn:
        return await conn.run_sync(_do)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def revisions() -> list[str]:
    """Every schema revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head() or ""
