"""When to check a feed next: a pure function of the last fetch's outcome.

`next_check(now=..., feed=..., result=...)` returns a `Plan` that the pipeline
stores on the feed row (next_check_at, interval_s, error state) and, when
`notify_operator` is set, turns `notice` into a message for the operator.

Rules, in order (docs/fetching.md has a worked example):

1. Bounds: the feed's own `min_interval_s` / `max_interval_s` override the
   global ones; if the feed's minimum is above the maximum, the minimum wins.
2. Success (`Fetched` or `NotModified`): the error state is cleared. The
   interval adapts to how often the feed publishes: with two or more item
   dates, the typical gap is (now - oldest of the 20 newest dates) / count,
   and the interval is half of it, clamped to the bounds. A feed that goes
   quiet thus slows down by itself. Without dates the previous interval (or
   the default) is kept, clamped.
3. Failure (`FetchFailed`): error_count + 1; the delay is
   interval x 2^(error_count - 1), capped at `max_backoff_s` (but never
   shorter than the feed's normal interval). The interval itself is kept.
4. Jitter (optional): the delay grows by up to `jitter` x delay, by an amount
   derived from the feed id, so instances and feeds do not stampede.
5. Server hints push the check later, never earlier: `<ttl>` and
   Cache-Control max-age / Expires on success (capped at the maximum
   interval), Retry-After on failure (capped at max(maximum interval,
   max_backoff_s)).
6. The operator is told (never silently): when error_count reaches
   `notify_after_errors`, when a permanent error (404/410, refused address,
   missing file) has lasted `permanent_notify_after_s`, when a feed that had
   crossed the threshold recovers, and when a feed is disabled. A feed is
   disabled only if `disable_after_s` is given and a permanent error has
   lasted that long; by default nothing is ever disabled.

What it does not do: no I/O, no clock (`now` is a parameter), no randomness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.types import Feed, FetchFailed, FetchResult

RECENT_DATES = 20            # how many of the newest item dates inform the interval
_GOLDEN = 2654435761         # Knuth's multiplicative hash constant


@dataclass(frozen=True, slots=True)
class Plan:
    """What to store on the feed after one check, and whether to tell the operator."""

    next_check_at: datetime
    interval_s: int                      # the feed's normal interval (not the backoff delay)
    error_count: int = 0
    error_since: datetime | None = None
    last_error: str | None = None
    disable: bool = False
    notify_operator: bool = False
    notice: str | None = None            # the sentence for the operator when notify_operator


def next_check(
    *,
    now: datetime,
    feed: Feed,
    result: FetchResult,
    item_dates: Sequence[datetime] = (),
    ttl_s: int | None = None,
    default_interval_s: float = 900,
    min_interval_s: float = 300,
    max_interval_s: float = 86400,
    max_backoff_s: float = 6 * 3600,
    jitter: float = 0.0,
    notify_after_errors: int = 10,
    permanent_notify_after_s: float = 86400,
    disable_after_s: float | None = None,
) -> Plan:
    """Plan the next check of `feed` after `result` (see the module docstring)."""
    lo, hi = interval_bounds(feed, min_interval_s, max_interval_s)
    previous = clamp(feed.interval_s or default_interval_s, lo, hi)
    if isinstance(result, FetchFailed):
        return _after_failure(now, feed, result, previous, hi, max_backoff_s, jitter,
                              notify_after_errors, permanent_notify_after_s, disable_after_s)
    interval = adaptive_interval(now, item_dates, previous, lo, hi)
    hint = min(max(float(ttl_s or 0), result.max_age_s or 0.0), hi)
    delay = max(_jittered(interval, feed.id, jitter), hint)
    recovered = feed.error_count >= notify_after_errors
    notice = (f"Feed {feed.url} works again after {feed.error_count} failed checks."
              if recovered else None)
    return Plan(next_check_at=now + timedelta(seconds=delay), interval_s=int(interval),
                notify_operator=recovered, notice=notice)


def interval_bounds(feed: Feed, min_interval_s: float, max_interval_s: float) -> tuple[float, float]:
    """(lo, hi) for this feed: its own bounds override the global ones; lo wins a conflict."""
    lo = float(feed.min_interval_s if feed.min_interval_s is not None else min_interval_s)
    hi = float(feed.max_interval_s if feed.max_interval_s is not None else max_interval_s)
    lo = max(lo, 1.0)
    return lo, max(hi, lo)


def adaptive_interval(now: datetime, item_dates: Sequence[datetime], previous: float,
                      lo: float, hi: float) -> float:
    """Half the typical gap between the feed's recent items, clamped to [lo, hi].

    Dates in the future (clock skew, scheduled posts) are ignored. With fewer
    than two usable dates the previous interval is kept.
    """
    dates = sorted({d for d in item_dates if d <= now}, reverse=True)[:RECENT_DATES]
    if len(dates) < 2:
        return previous
    typical = (now - dates[-1]).total_seconds() / len(dates)
    return clamp(typical / 2, lo, hi)


def backoff_delay(interval: float, error_count: int, max_backoff_s: float) -> float:
    """interval x 2^(n-1), capped at max_backoff_s, never below the normal interval."""
    exponent = min(max(error_count - 1, 0), 32)      # 2^32 x any interval is past any cap
    return max(interval, min(interval * 2 ** exponent, max_backoff_s))


def clamp(value: float, lo: float, hi: float) -> float:
    return min(max(value, lo), hi)


def _after_failure(now: datetime, feed: Feed, result: FetchFailed, interval: float, hi: float,
                   max_backoff_s: float, jitter: float, notify_after_errors: int,
                   permanent_notify_after_s: float, disable_after_s: float | None) -> Plan:
    count = feed.error_count + 1
    since = feed.error_since or now
    delay = _jittered(backoff_delay(interval, count, max_backoff_s), feed.id, jitter)
    if result.retry_after_s:
        delay = max(delay, min(result.retry_after_s, max(hi, max_backoff_s)))
    next_at = now + timedelta(seconds=delay)
    lasted = (now - since).total_seconds()
    disable = (result.permanent and disable_after_s is not None and lasted >= disable_after_s)
    reasons = _notice_reasons(feed, result, count, since, now, notify_after_errors,
                              permanent_notify_after_s)
    if disable:
        reasons.append(f"it has been disabled after failing for {_human(lasted)}; "
                       f"fix the feed list entry and re-enable it")
    elif reasons:
        reasons.append(f"newsbot keeps retrying; next check in {_human(delay)}")
    notice = None
    if reasons:
        notice = (f"Feed {feed.url} is failing: {result.reason} (" + "; ".join(reasons) + ").")
    return Plan(next_check_at=next_at, interval_s=int(interval), error_count=count,
                error_since=since, last_error=result.reason, disable=disable,
                notify_operator=bool(reasons), notice=notice)


def _notice_reasons(feed: Feed, result: FetchFailed, count: int, since: datetime, now: datetime,
                    notify_after_errors: int, permanent_notify_after_s: float) -> list[str]:
    """Why the operator must hear about this failure now (empty: not yet, or already told)."""
    reasons = []
    if count == notify_after_errors:
        reasons.append(f"{count} failed checks in a row since {since:%Y-%m-%d %H:%M} UTC")
    if result.permanent:
        before = (feed.last_checked_at - since).total_seconds() if (
            feed.last_checked_at and feed.error_since) else -1.0
        lasted = (now - since).total_seconds()
        if before < permanent_notify_after_s <= lasted:
            reasons.append(f"a permanent error for {_human(lasted)}")
    return reasons


def _jittered(delay: float, feed_id: int, jitter: float) -> float:
    """delay x (1 + jitter x spread), spread in [0, 1) derived from the feed id."""
    if jitter <= 0:
        return delay
    spread = ((feed_id * _GOLDEN) & 0xFFFFFFFF) / 2**32
    return delay * (1.0 + jitter * spread)


def _human(seconds: float) -> str:
    """'45 s', '12 min', '6.0 h', '1.5 days': for notices."""
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds)} s"
