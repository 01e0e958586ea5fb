"""Crash safety, short form: SIGKILL `newsbot run` repeatedly while news keeps arriving.

The long form (50+ kills) is `bench/crash_test.py`.
"""

from __future__ import annotations

from tests.support.crashloop import run_crash_loop


async def test_no_alert_lost_and_at_most_one_duplicate_per_kill(tmp_path, db_url):
    report = await run_crash_loop(tmp_path, db_url, kills=8, feeds=8, seed=11)
    assert report.stored == report.published, report
    assert report.alerts_expected > 0 and report.stories > 0, report
    assert not report.missing, report
    assert report.duplicates <= report.kills, report
