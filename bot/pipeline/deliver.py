"""Dispatch: claim due outbox rows, send them, record what happened.

    storage.claim_outbox(now) | sender.send(msg) -> Delivered | RetryLater(after) | Rejected(reason)
    | tx.record_*(...)

- Delivered: the row is marked sent with the platform's message id (updates edit or reply to it).
- RetryLater: backoff with jitter, never sooner than the platform's retry_after; the rest of
  that destination's rows wait too (per-destination order is kept); other destinations go on.
- Rejected: the row is dead-lettered with the reason and the operator is told. If the platform
  says the destination is gone, its subscriptions are paused (not deleted); if a Telegram group
  became a supergroup, its subscriptions move to the new id and the message is sent there.
- A row that keeps failing past `delivery.max_attempts` is dead-lettered too.

Crash safety: a row is marked sent only after the platform accepted it, so a crash
between the two sends it again on restart (at most one duplicate per crash). Claimed
rows carry a lease; a restarted instance with the same id releases its old leases at
start, others wait for the lease to expire.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Callable, Mapping, Sequence

import structlog

from bot.core.codec import brief_from_dict
from bot.core.timing import retry_delay
from bot.ports import Sender
from bot.settings import DeliverySettings
from bot.storage.sql import SqlStorage
from bot.types import Delivered, Destination, OutboxMessage, Rejected, RetryLater, SendResult

log = structlog.get_logger(__name__)


class Dispatcher:
    def __init__(self, storage: SqlStorage, senders: Mapping[str, Sender], *, settings: DeliverySettings,
                 owner: str, clock: Callable[[], datetime]) -> None:
        self.storage = storage
        self.senders = dict(senders)
        self.settings = settings
        self.owner = owner
        self.clock = clock
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New rows were queued: don't wait for the next poll interval."""
        self._wake.set()

    async def run(self) -> None:
        """Drain until stop(); the current batch finishes before it returns."""
        while not self._stopping.is_set():
            try:
                sent = await self.drain_once()
            except Exception:
                log.exception("dispatch_failed")
                sent = 0
            if sent:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval)
            except asyncio.TimeoutError:
                pass
        async with self.storage.begin() as tx:
            await tx.release_leases(self.owner)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def drain_once(self) -> int:
        now = self.clock()
        async with self.storage.begin() as tx:
            rows = await tx.claim_outbox(now=now, owner=self.owner, lease_s=self.settings.lease,
                                         limit=self.settings.batch_size, platforms=tuple(self.senders))
        if not rows:
            return 0
        groups: dict[tuple[str, str], list[Mapping]] = defaultdict(list)
        for r in rows:
            groups[(r["platform"], r["address"])].append(r)
        await asyncio.gather(*(self._send_group(g) for g in groups.values()))
        return len(rows)

    async def _send_group(self, rows: Sequence[Mapping]) -> None:
        """One destination's rows, in order. A retry or a gone destination holds the rest back."""
        for i, row in enumerate(rows):
            outcome = await self._send_one(row)
            if outcome is not None:
                rest = [r["id"] for r in rows[i + 1:]]
                if rest:
                    async with self.storage.begin() as tx:
                        await tx.postpone(rest, not_before=outcome)
                return

    async def _send_one(self, row: Mapping) -> datetime | None:
        """Sends one row; returns a time before which the destination's later rows must wait, if any."""
        bound = log.bind(outbox_id=row["id"], platform=row["platform"], address=row["address"])
        msg = await self._message(row)
        sender = self.senders[row["platform"]]
        try:
            result: SendResult = await sender.send(msg)
        except Exception as exc:   # a sender bug must not lose the message
            bound.exception("sender_crashed")
            result = RetryLater(after_s=60, reason=f"internal error: {exc.__class__.__name__}: {exc}")
        now = self.clock()
        if isinstance(result, Delivered):
            async with self.storage.begin() as tx:
                await tx.record_sent(row["id"], now=now, message_id=result.platform_message_id)
            bound.info("message_delivered", kind=row["kind"], story_id=row["story_id"])
            return None
        if isinstance(result, RetryLater):
            return await self._retry(row, result, now, bound)
        return await self._rejected(row, result, now, bound)

    async def _retry(self, row: Mapping, result: RetryLater, now: datetime, bound) -> datetime | None:
        attempts = row["attempts"] + 1
        if attempts >= self.settings.max_attempts:
            await self._dead(row, f"gave up after {attempts} attempts: {result.reason}", now)
            bound.error("message_dead_lettered", attempts=attempts, error=result.reason)
            return None
        delay = retry_delay(attempts, key=row["dedupe_key"], retry_after_s=result.after_s)
        not_before = now + timedelta(seconds=delay)
        async with self.storage.begin() as tx:
            await tx.record_retry(row["id"], not_before=not_before, error=result.reason)
        bound.warning("delivery_retry_scheduled", attempts=attempts, delay_s=round(delay, 1), error=result.reason)
        return not_before

    async def _rejected(self, row: Mapping, result: Rejected, now: datetime, bound) -> datetime | None:
        if result.migrate_to:
            async with self.storage.begin() as tx:
                await tx.move_destination(row["platform"], row["address"], result.migrate_to)
                await tx.reroute(row["id"], result.migrate_to)
                await tx.record_event(kind="destination_moved", subject=f"{row['platform']}:{row['address']}",
                                      message=f"moved to {result.migrate_to} (group upgraded to supergroup)", now=now)
            bound.warning("destination_migrated", new_address=result.migrate_to)
            return now                                  # the rest follow on the next drain, to the new id
        if result.destination_gone:
            async with self.storage.begin() as tx:
                paused = await tx.pause_destination(row["platform"], row["address"], result.reason)
                await tx.record_event(kind="destination_gone", subject=f"{row['platform']}:{row['address']}",
                                      message=f"{result.reason}; {paused} subscription(s) paused — "
                                              "re-add the bot and /resume", now=now)
                await tx.record_dead(row["id"], error=result.reason)
                await tx.hold_destination(row["platform"], row["address"])
            bound.error("destination_gone", error=result.reason, paused=paused)
            return None
        await self._dead(row, result.reason, now)
        bound.error("message_rejected", error=result.reason)
        return None

    async def _dead(self, row: Mapping, reason: str, now: datetime) -> None:
        async with self.storage.begin() as tx:
            await tx.record_dead(row["id"], error=reason)
            await tx.record_event(kind="dead_letter", subject=f"outbox:{row['id']}", now=now,
                                  message=f"{row['platform']}:{row['address']}: {reason}")

    async def _message(self, row: Mapping) -> OutboxMessage:
        payload = row["payload"] or {}
        reply_to = row["reply_to"]
        if row["kind"] == "update" and reply_to is None and row["story_id"] is not None:
            async with self.storage.read() as tx:
                reply_to = await tx.first_message_id(row["story_id"], row["platform"], row["address"])
        brief = brief_from_dict(payload["brief"]) if payload.get("brief") else None
        briefs = tuple(brief_from_dict(b) for b in payload.get("briefs") or ())
        return OutboxMessage(
            id=row["id"], dedupe_key=row["dedupe_key"], destination=Destination(row["platform"], row["address"]),
            story_id=row["story_id"], subscription_id=row["subscription_id"], kind=row["kind"], brief=brief,
            briefs=briefs, extra_count=int(payload.get("extra_count") or 0), attempts=row["attempts"],
            reply_to=reply_to, text=payload.get("text"))
