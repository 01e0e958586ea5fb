"""When a message may go out: quiet hours, digest times, retry backoff. Pure.

Quiet hours and digest times are wall-clock times in the subscriber's IANA time
zone, so they follow daylight-saving changes: "daily 08:00" in Europe/Berlin is
07:00 UTC in winter and 06:00 UTC in summer. A wall time that does not exist on
a DST spring-forward day (02:30 in Berlin) moves later by the gap (03:30 CEST);
an ambiguous one (autumn) resolves to its first occurrence.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HHMM = re.compile(r"^([01]?\d|2[0-3])[:.h]?([0-5]\d)$")


class TimingError(ValueError):
    """A quiet-hours, digest or time-zone value that cannot be understood (message says what is valid)."""


def parse_hhmm(text: str) -> time:
    m = _HHMM.match(text.strip())
    if not m:
        raise TimingError(f"{text!r} is not a time; write 24-hour HH:MM, e.g. 08:00 or 22:30")
    return time(int(m.group(1)), int(m.group(2)))


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimingError(f"unknown time zone {name!r}; write an IANA name like Asia/Dushanbe or "
                          "Europe/Berlin") from exc


@dataclass(frozen=True, slots=True)
class Quiet:
    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_quiet(text: str) -> Quiet:
    parts = re.split(r"\s*[-–—]\s*", text.strip())
    if len(parts) != 2:
        raise TimingError(f"{text!r} is not a quiet period; write START-END in 24-hour time, e.g. 22:00-07:00")
    q = Quiet(parse_hhmm(parts[0]), parse_hhmm(parts[1]))
    if q.start == q.end:
        raise TimingError("quiet hours must not start and end at the same time")
    return q


def _local(day, t: time, tz: ZoneInfo) -> datetime:
    """The instant of wall time `t` on `day` in `tz`.

    fold=0 gives the first occurrence of an ambiguous time, and moves a time in a
    spring-forward gap later by the gap's length (02:30 → 03:30), as cron does.
    """
    return datetime.combine(day, t).replace(tzinfo=tz, fold=0).astimezone(timezone.utc)


def quiet_until(now: datetime, quiet: Quiet | None, tz: ZoneInfo) -> datetime | None:
    """If `now` falls in the quiet period, the UTC instant it ends; otherwise None."""
    if quiet is None:
        return None
    local_day = now.astimezone(tz).date()
    for day in (local_day - timedelta(days=1), local_day):
        start = _local(day, quiet.start, tz)
        end_day = day if quiet.end > quiet.start else day + timedelta(days=1)
        end = _local(end_day, quiet.end, tz)
        if start <= now < end:
            return end
    return None


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    kind: str                 # hourly | daily
    at: time | None = None

    def __str__(self) -> str:
        return "hourly" if self.kind == "hourly" else f"daily {self.at:%H:%M}"


def parse_digest(text: str) -> DigestSchedule:
    words = text.strip().lower().split()
    if words == ["hourly"]:
        return DigestSchedule("hourly")
    if len(words) == 2 and words[0] == "daily":
        return DigestSchedule("daily", parse_hhmm(words[1]))
    if words == ["daily"]:
        return DigestSchedule("daily", time(8, 0))
    raise TimingError(f"{text!r} is not a digest schedule; write `hourly` or `daily HH:MM` (e.g. daily 08:00)")


def next_digest_at(now: datetime, schedule: DigestSchedule, tz: ZoneInfo) -> datetime:
    """The first digest time strictly after `now`."""
    if schedule.kind == "hourly":
        top = now.replace(minute=0, second=0, microsecond=0)
        return top + timedelta(hours=1)
    local_day = now.astimezone(tz).date()
    for day in (local_day, local_day + timedelta(days=1), local_day + timedelta(days=2)):
        at = _local(day, schedule.at, tz)
        if at > now:
            return at
    raise AssertionError("unreachable")  # pragma: no cover


def retry_delay(attempts: int, *, key: str, base_s: float = 5.0, cap_s: float = 3600.0,
                retry_after_s: float | None = None) -> float:
    """Exponential backoff with deterministic jitter (±20%, from `key`), never below the platform's retry_after."""
    raw = min(cap_s, base_s * (2 ** max(0, attempts - 1)))
    frac = int(hashlib.blake2b(f"{key}:{attempts}".encode(), digest_size=2).hexdigest(), 16) / 0xFFFF
    delay = raw * (0.8 + 0.4 * frac)
    if retry_after_s is not None:
        delay = max(delay if attempts > 3 else 0.0, retry_after_s)
    return delay
