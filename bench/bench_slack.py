"""Bench: one story to N Slack channels through SlackSender, against the fake Slack
server running in its own process and enforcing Slack's budgets (1 post/s per
channel with a burst of 2; a workspace budget of `--workspace-rate` posts/s with
a burst of `--workspace-burst`).

Prints the elapsed time, the minimum time those budgets allow
((N − burst) / rate), their ratio (target ≤ 1.10) and the 429 replies the
sender got (target 0). As a baseline measured in the same run, the same batch
is sent once more with pacing off, to a fresh server, and its 429s counted.

    .venv/bin/python bench/bench_slack.py                # 500 channels, ~50 s
    .venv/bin/python bench/bench_slack.py --channels 50  # quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.adapters.slack_send import SlackBudget, SlackSender  # noqa: E402
from bot.log import configure_logging  # noqa: E402
from bot.types import Brief, Delivered, Destination, OutboxMessage, RetryLater, SourceRef  # noqa: E402

TOKEN = "xoxb-test-token"
BRIEF = Brief(
    headline="Drill near the Afghan border as CSTO troops rehearse a response",
    lede="Troops from the 201st base joined a two-day drill near the border on Tuesday, the ministry said.",
    why_it_matters=("It is the largest exercise on the border this year and follows weeks of clashes.",),
    go_deeper=("Three battalions and two air units took part.", "Observers from four states attended."),
    zoom_out=(("Earlier: border talks stall", "https://news.example/earlier"),),
    sources=(SourceRef("Example Wire", "Drill", "https://wire.example/drill", None),),
    link="https://news.example/drill?id=7", matched_terms=("201st", "CSTO"), watchlist="central-asia",
)


@contextmanager
def fake_server(rate: float, burst: int):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_slack", "--port", "0", "--workspace-rate", str(rate),
         "--workspace-burst", str(burst), "--channel-interval", "1", "--channel-burst", "2"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().split()[1])
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_fake/stats") as r:
        return json.load(r)


def messages(n: int) -> list[OutboxMessage]:
    return [OutboxMessage(id=i, dedupe_key=f"story-7:C{i:05d}", destination=Destination("slack", f"C{i:05d}"),
                          story_id=7, subscription_id=i, kind="alert", brief=BRIEF) for i in range(n)]


async def send_all(url: str, budget: SlackBudget, n: int) -> tuple[float, list]:
    sender = SlackSender(TOKEN, base_url=f"{url}/api/", budget=budget)
    try:
        start = time.monotonic()
        results = await asyncio.gather(*(sender.send(m) for m in messages(n)))
        return time.monotonic() - start, results
    finally:
        await sender.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--channels", type=int, default=500)
    p.add_argument("--workspace-rate", type=float, default=10.0, help="posts/s the fake allows (default 10)")
    p.add_argument("--workspace-burst", type=int, default=10)
    args = p.parse_args()
    configure_logging(level="error")
    n, rate, burst = args.channels, args.workspace_rate, args.workspace_burst
    paced = SlackBudget(workspace_per_minute=rate * 60)          # newsbot's budget = the server's rate

    with fake_server(rate, burst) as url:
        elapsed, results = asyncio.run(send_all(url, paced, n))
        paced_stats = stats(url)
    with fake_server(rate, burst) as url:
        greedy = SlackBudget(per_channel_interval_s=0, workspace_per_minute=10**9)
        base_elapsed, base_results = asyncio.run(send_all(url, greedy, n))
        base_stats = stats(url)

    delivered = sum(isinstance(r, Delivered) for r in results)
    minimum = max(0, n - burst) / rate
    ratio = elapsed / minimum if minimum else float("nan")
    print(f"channels                  {n}")
    print(f"server budgets            1/s per channel (burst 2); workspace {rate:g}/s (burst {burst})")
    print(f"delivered                 {delivered}/{n}   posted by server: {paced_stats['posted']}")
    print(f"elapsed                   {elapsed:.2f} s")
    print(f"minimum the budgets allow {minimum:.2f} s")
    print(f"ratio                     {ratio:.3f}   (target <= 1.10: {'PASS' if ratio <= 1.10 else 'FAIL'})")
    print(f"429 replies               {paced_stats['rate_limited']}   (target 0: "
          f"{'PASS' if paced_stats['rate_limited'] == 0 else 'FAIL'})")
    refused = sum(isinstance(r, RetryLater) for r in base_results)
    print(f"baseline, pacing off      {base_stats['rate_limited']} × 429, {refused}/{n} sends deferred, "
          f"{base_stats['posted']} posted in {base_elapsed:.2f} s")
    ok = delivered == n and paced_stats["rate_limited"] == 0 and (minimum == 0 or ratio <= 1.10)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
