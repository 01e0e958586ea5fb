"""Quiet hours and digests across time zones and DST; retry backoff."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.core.timing import (
    TimingError, next_digest_at, parse_digest, parse_quiet, parse_zone, quiet_until, retry_delay,
)

UTC = timezone.utc


def u(*a) -> datetime:
    return datetime(*a, tzinfo=UTC)


@pytest.mark.parametrize("now, quiet, zone, expected", [
    # Dushanbe is UTC+5 all year: 22:00-07:00 local = 17:00-02:00 UTC
    (u(2026, 11, 24, 18, 0), "22:00-07:00", "Asia/Dushanbe", u(2026, 11, 25, 2, 0)),
    (u(2026, 11, 24, 1, 59), "22:00-07:00", "Asia/Dushanbe", u(2026, 11, 24, 2, 0)),
    (u(2026, 11, 24, 2, 0), "22:00-07:00", "Asia/Dushanbe", None),
    (u(2026, 11, 24, 16, 59), "22:00-07:00", "Asia/Dushanbe", None),
    # a same-day window
    (u(2026, 11, 24, 12, 30), "12:00-13:00", "UTC", u(2026, 11, 24, 13, 0)),
    (u(2026, 11, 24, 13, 0), "12:00-13:00", "UTC", None),
    # New York, the night DST ends (1 Nov 2026): 22:00 EDT (02:00Z) to 07:00 EST (12:00Z)
    (u(2026, 11, 1, 3, 0), "22:00-07:00", "America/New_York", u(2026, 11, 1, 12, 0)),
    # Berlin, the night DST starts (29 Mar 2026): 22:00 CET (21:00Z) to 07:00 CEST (05:00Z)
    (u(2026, 3, 28, 21, 30), "22:00-07:00", "Europe/Berlin", u(2026, 3, 29, 5, 0)),
    (u(2026, 3, 29, 5, 0), "22:00-07:00", "Europe/Berlin", None),
    # a quiet end inside the spring gap (02:30 does not exist) moves later by the gap: 03:30 CEST
    (u(2026, 3, 29, 0, 30), "01:00-02:30", "Europe/Berlin", u(2026, 3, 29, 1, 30)),
])
def test_quiet_until(now, quiet, zone, expected):
    assert quiet_until(now, parse_quiet(quiet), parse_zone(zone)) == expected


def test_no_quiet_hours_means_no_wait():
    assert quiet_until(u(2026, 1, 1), None, parse_zone("UTC")) is None


@pytest.mark.parametrize("now, digest, zone, expected", [
    (u(2026, 11, 24, 10, 15), "hourly", "UTC", u(2026, 11, 24, 11, 0)),
    (u(2026, 11, 24, 10, 0), "hourly", "UTC", u(2026, 11, 24, 11, 0)),
    (u(2026, 11, 24, 2, 0), "daily 08:00", "Asia/Dushanbe", u(2026, 11, 24, 3, 0)),
    (u(2026, 11, 24, 3, 0), "daily 08:00", "Asia/Dushanbe", u(2026, 11, 25, 3, 0)),
    # Berlin 08:00 is 07:00Z in winter and 06:00Z in summer
    (u(2026, 3, 28, 12, 0), "daily 08:00", "Europe/Berlin", u(2026, 3, 29, 6, 0)),
    (u(2026, 10, 24, 12, 0), "daily 08:00", "Europe/Berlin", u(2026, 10, 25, 7, 0)),
    (u(2026, 11, 24, 2, 0), "daily", "UTC", u(2026, 11, 24, 8, 0)),
])
def test_next_digest_at(now, digest, zone, expected):
    assert next_digest_at(now, parse_digest(digest), parse_zone(zone)) == expected


@pytest.mark.parametrize("bad, fn", [
    ("25:00-07:00", parse_quiet), ("22:00", parse_quiet), ("07:00-07:00", parse_quiet),
    ("weekly", parse_digest), ("daily 8pm", parse_digest), ("Mars/Olympus", parse_zone),
])
def test_bad_values_say_what_is_valid(bad, fn):
    with pytest.raises(TimingError, match=r"write|must"):
        fn(bad)


def test_retry_delay_grows_is_capped_and_honours_retry_after():
    d = [retry_delay(n, key="x") for n in range(1, 15)]
    assert d[1] > d[0] and d[5] > d[3]
    assert max(d) <= 3600 * 1.2
    assert retry_delay(1, key="x", retry_after_s=30) == 30
    assert retry_delay(1, key="x") == retry_delay(1, key="x")
    assert retry_delay(1, key="a") != retry_delay(1, key="b")
