"""Transaction queries for the outbox: enqueue, claim, record outcomes, digests' rows.

Mixed into SqlTx through DeliveryQueries. The outbox row's `dedupe_key` is
unique: writing the same alert twice (a retried transaction, two instances
racing) leaves one row. Leases (`lease_owner`, `lease_until`) keep two
dispatchers from sending the same row; PostgreSQL claims with SKIP LOCKED.
"""

from __future__ import annotations

import json
from operator import itemgetter
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

from sqlalchemy import BigInteger, DateTime, Integer, Text, and_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.storage.models import briefs, outbox, stories


class JsonText(str):
    """A payload already serialized to JSON text (json.dumps output), stored as it is."""

    __slots__ = ()


class OutboxQueries:
    conn: Any
    dialect: str

    async def enqueue(self, rows: Sequence[dict]) -> int:
        """Insert outbox rows; a row whose dedupe_key exists already is skipped. Returns rows inserted.

        A row is a dict, or a tuple of the OUTBOX_COLUMNS values in their order (what routing
        makes: a story gives a hundred rows). A payload is a JSON-able dict, or `JsonText`
        (already serialized). Rows with other columns go in with one statement per set of
        columns; rows with exactly the usual columns with one statement: an executemany
        in driver SQL on SQLite, one INSERT … SELECT FROM unnest(arrays) on PostgreSQL.
        SQLAlchemy's per-row parameter handling and JSON encoding cost more than the
        database's own work for the hundred rows a story gives. Datetimes pass through
        SQLAlchemy's bind processor, so they are stored as SQLAlchemy stores them.
        """
        usual: list[tuple] = []
        other: dict[frozenset, list[dict]] = {}
        for r in rows:
            if isinstance(r, tuple):
                usual.append(r)
            elif r.keys() == _OUTBOX_KEYS:
                usual.append(_as_tuple(r))
            else:                                   # one statement per set of columns
                other.setdefault(frozenset(r), []).append(_json_payload(r))
        inserted = 0
        if usual:
            inserted += await (self._enqueue_sqlite(usual) if self.dialect == "sqlite" else self._enqueue_pg(usual))
        for group in other.values():
            res = await self.conn.execute(self._insert_stmt(outbox).on_conflict_do_nothing(
                index_elements=["dedupe_key"]).returning(outbox.c.id), group)
            inserted += len(res.all())
        return inserted

    async def _enqueue_sqlite(self, rows: Sequence[tuple]) -> int:
        dialect = self.conn.dialect
        stamp = outbox.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        stamps: dict[datetime, str] = {}

        def ts(v: datetime) -> str:
            return stamps.get(v) or stamps.setdefault(v, stamp(_as_utc(v)))
        # a story's hundred rows share their times and payload: convert each once, the rest in C
        params = [(*r[:7], p if isinstance(p := r[7], JsonText) else json.dumps(p), r[8], ts(r[9]), r[10],
                   ts(r[11])) for r in rows]
        result = await self.conn.exec_driver_sql(_OUTBOX_SQLITE, params)     # one executemany
        return result.rowcount

    async def _enqueue_pg(self, rows: Sequence[tuple]) -> int:
        params = {col: list(values) for col, values in zip(OUTBOX_COLUMNS, zip(*rows))}
        params["payload"] = [p if isinstance(p, JsonText) else json.dumps(p) for p in params["payload"]]
        params["not_before"] = [_aware(v) for v in params["not_before"]]
        params["created_at"] = [_aware(v) for v in params["created_at"]]
        return (await self.conn.execute(_OUTBOX_PG, params)).rowcount

    async def claim_outbox(self, *, now: datetime, owner: str, lease_s: float, limit: int,
                           platforms: Sequence[str] = ("console", "telegram", "slack")) -> list[Mapping]:
        due = and_(outbox.c.status == "pending", outbox.c.not_before <= now, outbox.c.platform.in_(list(platforms)),
                   or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now))
        q = select(outbox.c.id).where(due).order_by(outbox.c.not_before, outbox.c.id).limit(limit)
        if self.dialect != "sqlite":
            q = q.with_for_update(skip_locked=True)
        ids = (await self.conn.execute(q)).scalars().all()
        if not ids:
            return []
        await self.conn.execute(update(outbox).where(outbox.c.id.in_(ids))
                                .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_s)))
        return await self._with_briefs(outbox.c.id.in_(ids))

    async def _with_briefs(self, where) -> list[Mapping]:
        """Outbox rows, each payload with the brief its row points at (`brief_id`) put in as "brief".

        The brief lists the outlets of its story as they are now: a story that other outlets
        joined while its alert waited (quiet hours, a retry, a digest) shows all of them."""
        q = (select(outbox, briefs.c.brief.label("_brief"), stories.c.sources.label("_sources"))
             .select_from(outbox.outerjoin(briefs, briefs.c.id == outbox.c.brief_id)
                          .outerjoin(stories, stories.c.id == briefs.c.story_id))
             .where(where).order_by(outbox.c.id))
        out = []
        for r in (await self.conn.execute(q)).mappings():
            row = {k: v for k, v in r.items() if k not in ("_brief", "_sources")}
            brief = r["_brief"]
            if brief is not None:
                now_known = r["_sources"] or []
                if len(now_known) > len(brief.get("sources") or ()):
                    brief = {**brief, "sources": now_known}
                row["payload"] = {**(row["payload"] or {}), "brief": brief}
            out.append(row)
        return out

    async def record_sent(self, outbox_id: int, *, now: datetime, message_id: str | None) -> None:
        await self.conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(
            status="sent", sent_at=now, platform_message_id=message_id, lease_owner=None, lease_until=None,
            attempts=outbox.c.attempts + 1))

    async def record_retry(self, outbox_id: int, *, not_before: datetime, error: str) -> None:
        await self.conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(
            not_before=not_before, last_error=error, lease_owner=None, lease_until=None,
            attempts=outbox.c.attempts + 1))

    async def record_dead(self, outbox_id: int, *, error: str) -> None:
        await self.conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(
            status="dead", last_error=error, lease_owner=None, lease_until=None, attempts=outbox.c.attempts + 1))

    async def postpone(self, ids: Sequence[int], *, not_before: datetime) -> None:
        """Keep a destination's later rows behind its first: release them, not before `not_before`."""
        await self.conn.execute(update(outbox).where(outbox.c.id.in_(list(ids))).values(
            not_before=not_before, lease_owner=None, lease_until=None))

    async def hold_destination(self, platform: str, address: str) -> int:
        """A gone destination's queued rows wait (status paused) until its subscriptions resume."""
        res = await self.conn.execute(update(outbox).where(
            outbox.c.platform == platform, outbox.c.address == address, outbox.c.status == "pending")
            .values(status="paused", lease_owner=None, lease_until=None))
        return res.rowcount or 0

    async def release_leases(self, owner: str) -> None:
        """Graceful shutdown: what this instance claimed but did not send goes back to the queue."""
        await self.conn.execute(update(outbox).where(outbox.c.lease_owner == owner, outbox.c.status == "pending")
                                .values(lease_owner=None, lease_until=None))

    async def reroute(self, outbox_id: int, address: str) -> None:
        await self.conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(
            address=address, lease_owner=None, lease_until=None))

    async def first_message_id(self, story_id: int, platform: str, address: str) -> str | None:
        """The platform's id of the story's alert sent to this destination, which updates reply to.
        Found by the alert's dedupe key (`outbox_key`): one index lookup."""
        q = select(outbox.c.platform_message_id).where(
            outbox.c.dedupe_key == outbox_key("alert", story_id, platform, address), outbox.c.status == "sent")
        return (await self.conn.execute(q)).scalar_one_or_none()    # a moved chat's old messages: none

    async def outbox_counts(self) -> dict[str, int]:
        rows = await self.conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
        return {s: int(n) for s, n in rows}

    async def take_digest_rows(self, subscription_id: int) -> list[Mapping]:
        rows = await self._with_briefs(and_(outbox.c.subscription_id == subscription_id,
                                            outbox.c.status == "digest"))
        if rows:
            await self.conn.execute(update(outbox).where(outbox.c.id.in_([r["id"] for r in rows]))
                                    .values(status="digested"))
        return list(rows)

    def _insert_stmt(self, table):
        return (sqlite_insert if self.dialect == "sqlite" else pg_insert)(table)


OUTBOX_COLUMNS = ("dedupe_key", "subscription_id", "story_id", "brief_id", "platform", "address", "kind",
                  "payload", "status", "not_before", "attempts", "created_at")
_OUTBOX_KEYS = frozenset(OUTBOX_COLUMNS)
_as_tuple = itemgetter(*OUTBOX_COLUMNS)
_OUTBOX_SQLITE = (f"INSERT INTO outbox ({', '.join(OUTBOX_COLUMNS)}) VALUES ({', '.join('?' * len(OUTBOX_COLUMNS))}) "
                  "ON CONFLICT (dedupe_key) DO NOTHING")
_PG_ARRAYS = dict(dedupe_key=Text, subscription_id=BigInteger, story_id=BigInteger, brief_id=BigInteger,
                  platform=Text, address=Text,
                  kind=Text, payload=Text, status=Text, not_before=DateTime(timezone=True), attempts=Integer,
                  created_at=DateTime(timezone=True))
_OUTBOX_PG = text(
    f"INSERT INTO outbox ({', '.join(OUTBOX_COLUMNS)}) "
    f"SELECT {', '.join('r.payload::json' if c == 'payload' else 'r.' + c for c in OUTBOX_COLUMNS)} "
    f"FROM unnest({', '.join(':' + c for c in OUTBOX_COLUMNS)}) AS r({', '.join(OUTBOX_COLUMNS)}) "
    "ON CONFLICT (dedupe_key) DO NOTHING"
).bindparams(*(bindparam(c, type_=ARRAY(t)) for c, t in _PG_ARRAYS.items()))


def outbox_key(kind: str, story_id: int, platform: str, address: str, version: int = 1) -> str:
    """The dedupe key of a story's alert or update to one destination: `alert:<story>:<platform>:<address>`,
    `update:<story>:<platform>:<address>:v<version>`. The story id first: a story's rows sit together
    in the unique index, and new keys append to it."""
    key = f"{kind}:{int(story_id)}:{platform}:{address}"
    return key if kind == "alert" else f"{key}:v{version}"


def _json_payload(row: dict) -> dict:
    payload = row.get("payload")
    return {**row, "payload": json.loads(payload)} if isinstance(payload, JsonText) else row


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc) if value.tzinfo else value


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
