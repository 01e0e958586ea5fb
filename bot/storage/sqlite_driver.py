"""SQLAlchemy's aiosqlite dialect, with one trip to the database thread per statement.

aiosqlite runs each sqlite3 call in the connection's own thread; SQLAlchemy's
adapter makes four such calls per statement (create a cursor, execute, fetch
the rows, close the cursor), each a hand-over to the thread and back through
the event loop. Measured on the 2-core machine: ~430 µs of CPU for a
`SELECT 1`, more than most of our statements cost SQLite itself; the story
processor runs about sixteen statements per feed. This cursor does all four
in one call in the thread (~130 µs).

Registered as the SQLAlchemy dialect ``sqlite+newsbot``; `bot.storage.sql`
uses it for every ``sqlite+aiosqlite`` URL, so users keep writing the usual
URL. Everything else is SQLAlchemy's own aiosqlite dialect. It relies on
`aiosqlite.Connection._execute` (run a function in the connection's thread),
which pyproject.toml's version range of aiosqlite pins.

Not here: server-side cursors (newsbot never streams results; they keep
SQLAlchemy's behaviour).
"""

from __future__ import annotations

import collections
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor, AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util.concurrency import await_

DRIVER = "newsbot"


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """Runs execute + fetchall + close of a sqlite3 cursor as one call in the database thread."""

    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # no aiosqlite cursor: a sqlite3 cursor lives only for one call in the thread
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None
        self._soft_closed_memoized = {}
        self._rows = collections.deque()
        self._description = None
        self._rowcount = -1
        self._lastrowid = None

    @property
    def description(self):
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self):
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    def close(self) -> None:
        self._rows.clear()

    async def _async_soft_close(self) -> None:
        return None

    def _run(self, call: str, operation: Any, parameters: Any) -> None:
        raw = self._connection._conn                 # the sqlite3 connection, used in its thread only

        def in_thread():
            cur = raw.cursor()
            try:
                if call == "executemany":
                    cur.executemany(operation, parameters)
                elif parameters is None:
                    cur.execute(operation)
                else:
                    cur.execute(operation, parameters)
                rows = cur.fetchall() if cur.description else []
                return cur.description, cur.rowcount, cur.lastrowid, rows
            finally:
                cur.close()
        try:
            self._description, self._rowcount, self._lastrowid, rows = await_(self._connection._execute(in_thread))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._rows = collections.deque(rows)

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._run("execute", operation, parameters)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._run("executemany", operation, seq_of_parameters)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        plain = super().connect(*arg, **kw)
        return OneTripConnection(self, plain._connection)


class OneTripDialect(SQLiteDialect_aiosqlite):
    driver = DRIVER
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> OneTripDBAPI:
        return OneTripDBAPI(__import__("aiosqlite"), __import__("sqlite3"))


def usable() -> bool:
    """Whether the installed aiosqlite has what this driver relies on (else: SQLAlchemy's own)."""
    import aiosqlite
    return callable(getattr(aiosqlite.Connection, "_execute", None))


registry.register(f"sqlite.{DRIVER}", __name__, "OneTripDialect")
