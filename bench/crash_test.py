"""Crash test, long form: SIGKILL `newsbot run` at random moments (default 60 times) while new
items keep appearing, restart it, and check that every expected alert was delivered with at
most one duplicate per kill.

    .venv/bin/python bench/crash_test.py [--kills 60] [--database-url URL] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.crashloop import run_crash_loop  # noqa: E402


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kills", type=int, default=60)
    ap.add_argument("--feeds", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--database-url", help="default: a fresh SQLite file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        url = args.database_url or f"sqlite+aiosqlite:///{d}/crash.db"
        report = await run_crash_loop(Path(d), url, kills=args.kills, feeds=args.feeds, seed=args.seed)
    print(report)
    for m in report.missing[:20]:
        print("  missing:", m)
    print("PASS" if report.ok() else "FAIL",
          f"- {report.alerts_seen}/{report.alerts_expected} alerts delivered, {report.duplicates} duplicates "
          f"for {report.kills} kills")
    return 0 if report.ok() else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
