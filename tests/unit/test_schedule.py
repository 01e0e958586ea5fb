"""bot.core.schedule.next_check: adaptive intervals, clamps, hints, backoff, notices.

Expected values are worked out by hand from the rules in the module
docstring (and docs/fetching.md); the arithmetic is in the comments.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.schedule import Plan, next_check
from bot.types import Feed, FetchFailed, Fetched, NotModified

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FEED = Feed(id=7, url="https://news.example/rss.xml")
H, MIN, DAY = 3600, 60, 86400

NOT_MODIFIED = NotModified(url=FEED.url)
FETCHED = Fetched(url=FEED.url, final_url=FEED.url, status=200, body=b"<rss/>")
FAILED = FetchFailed(url=FEED.url, kind="http", reason="The server failed (HTTP 500).", status=500)
GONE = FetchFailed(url=FEED.url, kind="http", reason="The server says the feed is gone (HTTP 410).",
                   status=410, permanent=True)


def every(step_s: float, count: int, newest_ago_s: float = 0) -> list[datetime]:
    """`count` item dates, `step_s` apart, the newest `newest_ago_s` before NOW."""
    return [NOW - timedelta(seconds=newest_ago_s + k * step_s) for k in range(count)]


def delay_of(plan: Plan) -> float:
    return (plan.next_check_at - NOW).total_seconds()


# ---------------------------------------------------------------------- adaptive interval

ADAPTIVE = [
    # (name, feed changes, item dates, expected interval_s)
    # 20 hourly items, newest 30 min ago: span 19.5 h / 20 = 58.5 min, halved = 1755 s
    ("hourly", {}, every(H, 20, 30 * MIN), 1755),
    # 5 daily items, newest 2 h ago: (4 d + 2 h) / 5 = 19.6 h, halved = 35280 s
    ("daily", {}, every(DAY, 5, 2 * H), 35280),
    # a new item every minute: 20 min / 20 = 60 s, halved = 30 s, clamped to the 300 s minimum
    ("every minute", {}, every(MIN, 20), 300),
    # weekly: clamped to the 86400 s maximum
    ("weekly", {}, every(7 * DAY, 10), 86400),
    # hourly, but silent for the last 3 days: (3 d + 19 h) / 20 = 4.55 h, halved = 8190 s
    ("gone quiet", {}, every(H, 20, 3 * DAY), 8190),
    # only the 20 newest dates count: the year-old ones change nothing
    ("old history ignored", {}, every(H, 20, 30 * MIN) + every(H, 20, 365 * DAY), 1755),
    # duplicate dates count once
    ("duplicates", {}, every(H, 20, 30 * MIN) * 2, 1755),
    # no dates: the previous interval, else the default
    ("no dates, previous", {"interval_s": 1200}, [], 1200),
    ("no dates, default", {}, [], 900),
    ("one date keeps previous", {"interval_s": 1200}, every(H, 1), 1200),
    # future-dated items are ignored (clock skew, scheduled posts)
    ("future dates", {"interval_s": 1200}, [NOW + timedelta(hours=1), NOW + timedelta(hours=2)], 1200),
    # a stored interval outside the bounds is clamped
    ("previous below min", {"interval_s": 10}, [], 300),
    ("previous above max", {"interval_s": 10 * DAY}, [], 86400),
]


@pytest.mark.parametrize("result", [NOT_MODIFIED, FETCHED], ids=["304", "200"])
@pytest.mark.parametrize("name, changes, dates, expected", ADAPTIVE, ids=[c[0] for c in ADAPTIVE])
def test_adaptive_interval(name, changes, dates, expected, result):
    plan = next_check(now=NOW, feed=replace(FEED, **changes), result=result, item_dates=dates)
    assert plan.interval_s == expected
    assert delay_of(plan) == expected


# ---------------------------------------------------------------------- clamps

CLAMPS = [
    # (name, feed changes, next_check kwargs, item dates, expected interval_s)
    ("feed min raises hourly", {"min_interval_s": 3600}, {}, every(H, 20, 30 * MIN), 3600),
    ("feed max lowers daily", {"max_interval_s": 600}, {}, every(DAY, 5, 2 * H), 600),
    ("global min lowered", {}, {"min_interval_s": 60}, every(MIN, 20), 60),
    ("global max lowered", {}, {"max_interval_s": 7200}, every(DAY, 5, 2 * H), 7200),
    ("feed min beats global max", {"min_interval_s": 100_000}, {}, every(H, 20), 100_000),
    ("feed min above feed max: min wins", {"min_interval_s": 5000, "max_interval_s": 1000}, {},
     every(H, 20), 5000),
    ("feed bounds override global", {"min_interval_s": 60, "max_interval_s": 120},
     {"min_interval_s": 300, "max_interval_s": 900}, every(MIN, 20), 60),
]


@pytest.mark.parametrize("name, changes, kwargs, dates, expected", CLAMPS, ids=[c[0] for c in CLAMPS])
def test_interval_clamps(name, changes, kwargs, dates, expected):
    plan = next_check(now=NOW, feed=replace(FEED, **changes), result=NOT_MODIFIED,
                      item_dates=dates, **kwargs)
    assert plan.interval_s == expected


# ---------------------------------------------------------------------- server hints

HINTS = [
    # (name, feed changes, result, ttl_s, expected delay; interval stays 900)
    ("ttl pushes later", {}, NOT_MODIFIED, 3600, 3600),
    ("max-age pushes later", {}, replace(NOT_MODIFIED, max_age_s=7200.0), None, 7200),
    ("max-age on a 200", {}, replace(FETCHED, max_age_s=1800.0), None, 1800),
    ("larger of ttl and max-age", {}, replace(NOT_MODIFIED, max_age_s=1000.0), 2000, 2000),
    ("shorter hint changes nothing", {}, replace(NOT_MODIFIED, max_age_s=60.0), 120, 900),
    ("huge max-age capped at max interval", {}, replace(NOT_MODIFIED, max_age_s=30 * DAY), None,
     86400),
    ("feed max caps the hint", {"max_interval_s": 1800}, NOT_MODIFIED, 3600, 1800),
]


@pytest.mark.parametrize("name, changes, result, ttl, expected", HINTS, ids=[c[0] for c in HINTS])
def test_server_hints_push_the_next_check_later(name, changes, result, ttl, expected):
    plan = next_check(now=NOW, feed=replace(FEED, **changes), result=result, ttl_s=ttl)
    assert delay_of(plan) == expected
    assert plan.interval_s == min(900, replace(FEED, **changes).max_interval_s or 900)


# ---------------------------------------------------------------------- backoff

BACKOFF = [
    # (name, feed changes, result, expected delay) with interval 900 unless changed
    ("first failure waits one interval", {}, FAILED, 900),
    ("second doubles", {"error_count": 1}, FAILED, 1800),
    ("third", {"error_count": 2}, FAILED, 3600),
    ("fifth: 900 x 16", {"error_count": 4}, FAILED, 14400),
    ("sixth: 900 x 32 capped at 6 h", {"error_count": 5}, FAILED, 21600),
    ("twentieth stays capped", {"error_count": 19}, FAILED, 21600),
    ("thousandth stays capped", {"error_count": 999}, FAILED, 21600),
    ("slow feed never checked faster when failing", {"interval_s": 12 * H, "error_count": 2},
     FAILED, 12 * H),
    ("retry-after beyond backoff", {}, replace(FAILED, status=429, retry_after_s=7200.0), 7200),
    ("retry-after under backoff", {"error_count": 3}, replace(FAILED, status=429, retry_after_s=60.0),
     7200),
    ("huge retry-after capped at max interval", {},
     replace(FAILED, status=503, retry_after_s=3 * DAY), 86400),
]


@pytest.mark.parametrize("name, changes, result, expected", BACKOFF, ids=[c[0] for c in BACKOFF])
def test_backoff(name, changes, result, expected):
    feed = replace(FEED, **changes)
    plan = next_check(now=NOW, feed=feed, result=result)
    assert delay_of(plan) == expected
    assert plan.error_count == feed.error_count + 1
    assert plan.interval_s == (feed.interval_s or 900)     # the normal interval is kept
    assert plan.last_error == result.reason


def test_custom_backoff_cap():
    plan = next_check(now=NOW, feed=replace(FEED, error_count=9), result=FAILED, max_backoff_s=H)
    assert delay_of(plan) == H


def test_failure_records_since_when():
    first = next_check(now=NOW, feed=FEED, result=FAILED)
    assert first.error_since == NOW
    earlier = NOW - timedelta(hours=5)
    later = next_check(now=NOW, feed=replace(FEED, error_count=3, error_since=earlier), result=FAILED)
    assert later.error_since == earlier


@pytest.mark.parametrize("result", [NOT_MODIFIED, FETCHED], ids=["304", "200"])
def test_success_resets_the_error_state(result):
    failing = replace(FEED, error_count=4, error_since=NOW - timedelta(hours=3),
                      last_error="The server failed (HTTP 500).")
    plan = next_check(now=NOW, feed=failing, result=result)
    assert (plan.error_count, plan.error_since, plan.last_error) == (0, None, None)
    assert delay_of(plan) == 900 and not plan.notify_operator and not plan.disable


# ---------------------------------------------------------------------- telling the operator

NOTIFY = [
    # (name, feed changes, result, kwargs, notify, disable, words in the notice)
    ("9th failure: not yet", {"error_count": 8}, FAILED, {}, False, False, ()),
    ("10th failure: tell", {"error_count": 9, "error_since": NOW - timedelta(hours=20)}, FAILED, {},
     True, False, ("10 failed checks", FEED.url, "HTTP 500", "keeps retrying")),
    ("11th: already told", {"error_count": 10}, FAILED, {}, False, False, ()),
    ("custom threshold", {"error_count": 2}, FAILED, {"notify_after_errors": 3}, True, False,
     ("3 failed checks",)),
    ("permanent, 23 h: not yet",
     {"error_count": 2, "error_since": NOW - timedelta(hours=23),
      "last_checked_at": NOW - timedelta(hours=1)}, GONE, {}, False, False, ()),
    ("permanent crosses 24 h: tell",
     {"error_count": 3, "error_since": NOW - timedelta(hours=25),
      "last_checked_at": NOW - timedelta(hours=1, minutes=30)}, GONE, {}, True, False,
     ("permanent error", "HTTP 410")),
    ("permanent, crossed earlier: already told",
     {"error_count": 4, "error_since": NOW - timedelta(hours=30),
      "last_checked_at": NOW - timedelta(hours=1)}, GONE, {}, False, False, ()),
    ("transient for 30 h: only the count matters",
     {"error_count": 4, "error_since": NOW - timedelta(hours=30),
      "last_checked_at": NOW - timedelta(hours=6)}, FAILED, {}, False, False, ()),
    ("recovered after the threshold: tell", {"error_count": 12}, NOT_MODIFIED, {}, True, False,
     ("works again", "12 failed")),
    ("recovered early: quiet", {"error_count": 3}, FETCHED, {}, False, False, ()),
    ("never disabled by default",
     {"error_count": 40, "error_since": NOW - timedelta(days=30),
      "last_checked_at": NOW - timedelta(hours=6)}, GONE, {}, False, False, ()),
    ("disabled only when asked, and told",
     {"error_count": 40, "error_since": NOW - timedelta(days=8),
      "last_checked_at": NOW - timedelta(hours=6)}, GONE, {"disable_after_s": 7 * DAY}, True, True,
     ("disabled", "re-enable")),
    ("transient errors never disable",
     {"error_count": 40, "error_since": NOW - timedelta(days=8),
      "last_checked_at": NOW - timedelta(hours=6)}, FAILED, {"disable_after_s": 7 * DAY}, False,
     False, ()),
]


@pytest.mark.parametrize("name, changes, result, kwargs, notify, disable, words", NOTIFY,
                         ids=[c[0] for c in NOTIFY])
def test_operator_is_told(name, changes, result, kwargs, notify, disable, words):
    plan = next_check(now=NOW, feed=replace(FEED, **changes), result=result, **kwargs)
    assert (plan.notify_operator, plan.disable) == (notify, disable)
    assert (plan.notice is not None) == notify
    for word in words:
        assert word in plan.notice


def test_a_disabled_feed_is_always_announced():
    for days in range(7, 40):
        feed = replace(FEED, error_count=50, error_since=NOW - timedelta(days=days),
                       last_checked_at=NOW - timedelta(hours=6))
        plan = next_check(now=NOW, feed=feed, result=GONE, disable_after_s=7 * DAY)
        assert plan.disable and plan.notify_operator


# ---------------------------------------------------------------------- determinism and jitter


def test_same_inputs_same_plan():
    kwargs = dict(now=NOW, feed=replace(FEED, error_count=2), result=FAILED, jitter=0.2)
    assert next_check(**kwargs) == next_check(**kwargs)
    dates = every(H, 20, 30 * MIN)
    assert (next_check(now=NOW, feed=FEED, result=FETCHED, item_dates=dates, jitter=0.1)
            == next_check(now=NOW, feed=FEED, result=FETCHED, item_dates=list(reversed(dates)),
                          jitter=0.1))


@pytest.mark.parametrize("result", [NOT_MODIFIED, FAILED], ids=["success", "failure"])
def test_jitter_spreads_feeds_within_the_fraction(result):
    delays = [delay_of(next_check(now=NOW, feed=replace(FEED, id=i), result=result, jitter=0.1))
              for i in range(1, 201)]
    assert all(900 <= d < 990 for d in delays)
    assert max(delays) - min(delays) > 60            # spread over most of the 90 s window
    assert len(set(delays)) > 150                    # feeds do not bunch up


@pytest.mark.parametrize("result, ttl, floor", [
    (NOT_MODIFIED, 3600, 3600),
    (replace(FAILED, status=429, retry_after_s=5000.0), None, 5000),
])
def test_jitter_never_brings_a_hint_earlier(result, ttl, floor):
    for i in range(1, 100):
        plan = next_check(now=NOW, feed=replace(FEED, id=i), result=result, ttl_s=ttl, jitter=0.5)
        assert delay_of(plan) >= floor
