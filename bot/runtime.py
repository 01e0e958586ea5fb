"""`newsbot run`: the long-running process.

One asyncio loop holds everything: an APScheduler AsyncIOScheduler triggers
polls, watchlist reloads, digests and operator notices (`max_instances=1`,
`coalesce=True`); the dispatcher drains the outbox; the Telegram and Slack
inbound adapters and the web server share the loop. SIGINT/SIGTERM stop it
gracefully: the current poll and the current sends finish, unsent claimed rows
go back to the outbox.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime, timedelta, timezone

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App
from bot.settings import Config

log = structlog.get_logger(__name__)


async def run_forever(config: Config, *, exit_after: float | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            pass
    async with App(config) as app:
        await app.start_runtime()
        scheduler = _scheduler(app, config)
        scheduler.start()
        dispatcher_task = asyncio.create_task(app.dispatcher.run(), name="dispatcher")
        await app.start_channels()
        log.info("newsbot_started", instance=app.owner, feeds_lists=list(config.settings.feeds.lists),
                 channels=sorted(app.senders))
        # the first poll right away, then on the scheduler's interval
        scheduler.add_job(app.poll_tick, id="poll-now", max_instances=1)
        try:
            if exit_after:
                await asyncio.wait_for(stop.wait(), timeout=exit_after)
            else:
                await stop.wait()
        except asyncio.TimeoutError:
            pass
        log.info("newsbot_stopping")
        # pause, not shutdown: APScheduler's asyncio executor cancels running jobs on shutdown,
        # which would cut the current poll short instead of letting it finish
        scheduler.pause()
        await app.stop_channels()
        await app.wait_idle()
        scheduler.shutdown(wait=False)
        app.dispatcher.stop()
        await dispatcher_task
    log.info("newsbot_stopped")
    return 0


def _scheduler(app: App, config: Config) -> AsyncIOScheduler:
    s = config.settings
    sched = AsyncIOScheduler(timezone=timezone.utc, job_defaults={"max_instances": 1, "coalesce": True,
                                                                  "misfire_grace_time": 30})
    start = datetime.now(timezone.utc) + timedelta(seconds=1)
    sched.add_job(app.poll_tick, "interval", seconds=app.poll_every(), id="poll", next_run_time=start)
    sched.add_job(app.reload_tick, "interval", seconds=max(1.0, s.watchlists.reload_interval), id="reload")
    sched.add_job(app.digest_tick, "interval", seconds=30, id="digests", next_run_time=start)
    sched.add_job(app.notice_tick, "interval", seconds=10, id="notices", next_run_time=start)
    return sched
