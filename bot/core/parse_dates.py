"""Feed dates → UTC-aware datetimes.

RFC 822 (`Tue, 07 Jan 2017 18:20:03 +0300`) and ISO 8601 / W3C-DTF
(`2017-01-23T21:54:55+01:00`) are parsed here directly (a few µs). Anything
else goes to feedparser's date parser (pure; the compatibility reference), so
odd formats — asctime, Korean, Greek, Hungarian, two-digit years, missing
zones — come out exactly as feedparser reads them. A date without a zone is
taken as UTC (feedparser does the same). Unparsable → None.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from feedparser.datetimes import _parse_date as _feedparser_date

__all__ = ["parse_date"]

UTC = timezone.utc
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_ZONES = {"gmt": 0, "ut": 0, "utc": 0, "z": 0, "est": -5, "edt": -4, "cst": -6, "cdt": -5,
          "mst": -7, "mdt": -6, "pst": -8, "pdt": -7}
_RFC822 = re.compile(
    r"(?:[A-Za-z]{3,9},?\s*)?(\d{1,2})\s+([A-Za-z]{3})[A-Za-z]*\s+(\d{4})\s+"
    r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:([+-])(\d{2}):?(\d{2})|([A-Za-z]{1,3}))\s*$"
)
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}:\d{2})?$"
)


def parse_date(value: str | None) -> datetime | None:
    """A UTC-aware datetime, or None when the value is missing or unreadable."""
    if not value:
        return None
    value = value.strip()
    if not value:
        return None
    parsed = _rfc822(value) if value[0].isalpha() or value[1:2] == " " or value[2:3] == " " \
        else _iso(value)
    if parsed is not None:
        return parsed
    return _fallback(value)


def _rfc822(value: str) -> datetime | None:
    m = _RFC822.match(value)
    if not m:
        return None
    day, mon, year, hh, mm, ss, sign, zh, zm, zone = m.groups()
    month = _MONTHS.get(mon.lower())
    if month is None:
        return None
    if zone is not None:
        hours = _ZONES.get(zone.lower())
        if hours is None:
            return None
        offset = timedelta(hours=hours)
    else:
        offset = timedelta(hours=int(zh), minutes=int(zm))
        if sign == "-":
            offset = -offset
    try:
        local = datetime(int(year), month, int(day), int(hh), int(mm), int(ss or 0))
    except ValueError:
        return None
    return (local - offset).replace(tzinfo=UTC)


def _iso(value: str) -> datetime | None:
    if not _ISO.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Sub-second precision means nothing for a news item (and feedparser drops it).
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC, microsecond=0)
    return parsed.astimezone(UTC).replace(microsecond=0)


def _fallback(value: str) -> datetime | None:
    try:
        st = _feedparser_date(value)
    except Exception:       # feedparser's handlers are lenient but not hardened
        return None
    if st is None:
        return None
    try:
        return datetime(*st[:6], tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
