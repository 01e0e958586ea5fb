"""Bench: one story to N subscribed Telegram chats through TelegramSender.

Starts the strict fake Bot API (flood limits on) in a separate process, sends
one alert to N private chats concurrently (as the dispatcher would), and
prints: sustained messages/s, 429 replies (target 0), time from "commit" to
the first message, p50/p99 request latency, and the ratio to Telegram's
30 msg/s (target ≥ 0.93, i.e. ≥ 28 msg/s).

Baseline, measured in the same run: the same sender with pacing switched off,
against a second fake with flood limits off — what the HTTP path alone can
carry, so you can see that pacing, not the client, sets the rate.

    python bench/bench_telegram.py [--chats 3000] [--concurrency 256] [--baseline 600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import structlog

from bot.adapters.telegram import TelegramPacer, TelegramSettings
from bot.adapters.telegram_send import TelegramSender
from bot.types import Brief, Delivered, Destination, OutboxMessage, SourceRef

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
TELEGRAM_RATE = 30.0
BRIEF = Brief(
    headline="Joint drills begin 20 km from the Afghan border",
    lede="Two armies started a week of mountain exercises; more than 300 troops take part.",
    why_it_matters=("Border states worry about armed groups and weapons crossing.",),
    go_deeper=("The base is the largest of its kind abroad.", "The exercise ends on Friday."),
    zoom_out=(("A consulate reopens in the north", "https://news.example/consulate"),),
    sources=(SourceRef("Example Wire", "t", "https://news.example/drills", None),),
    link="https://news.example/drills",
    matched_terms=("201st base", "Tajikistan"),
)


class TimedPacer(TelegramPacer):
    """Records when each chat was let through, to split queueing from request time."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.granted: dict[str, float] = {}

    async def acquire(self, chat_id: str) -> float | None:
        wait = await super().acquire(chat_id)
        self.granted[chat_id] = time.monotonic()
        return wait


def start_fake(*extra: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.fake_telegram", "--port", "0",
                             *extra], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"the fake Bot API did not start: {line!r}")
    return proc, int(line.split()[1])


def stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_fake/stats", timeout=5) as resp:
        return json.load(resp)


async def run(port: int, chats: int, concurrency: int, pacer: TimedPacer) -> dict:
    settings = TelegramSettings(token=TOKEN, base_url=f"http://127.0.0.1:{port}/bot",
                                connection_pool_size=concurrency)
    messages = [OutboxMessage(id=i, dedupe_key=f"s1:{i}", story_id=1, subscription_id=i,
                              destination=Destination("telegram", str(100_000 + i)),
                              kind="alert", brief=BRIEF) for i in range(chats)]
    done: dict[str, float] = {}
    failures = 0
    gate = asyncio.Semaphore(concurrency)

    async def one(sender: TelegramSender, message: OutboxMessage) -> None:
        nonlocal failures
        async with gate:
            result = await sender.send(message)
        if isinstance(result, Delivered):
            done[message.destination.address] = time.monotonic()
        else:
            failures += 1

    async with TelegramSender(settings, pacer=pacer) as sender:
        committed = time.monotonic()
        await asyncio.gather(*(one(sender, m) for m in messages))
    ends = sorted(done.values())
    latencies = sorted(done[c] - pacer.granted[c] for c in done)
    span = (ends[-1] - ends[0]) if len(ends) > 1 else float("nan")
    return {
        "delivered": len(done), "failed": failures,
        "rate": (len(ends) - 1) / span if len(ends) > 1 else float("nan"),
        "first_s": ends[0] - committed if ends else float("nan"),
        "total_s": ends[-1] - committed if ends else float("nan"),
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--baseline", type=int, default=600, help="messages for the unpaced baseline")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("httpx").setLevel(logging.WARNING)

    strict, strict_port = start_fake()
    loose, loose_port = start_fake("--no-rate-limits")
    try:
        base = asyncio.run(run(loose_port, args.baseline, args.concurrency,
                               TimedPacer(messages_per_second=1e9, chat_interval_s=0)))
        paced = asyncio.run(run(strict_port, args.chats, args.concurrency, TimedPacer()))
        flood = stats(strict_port)["count_429"]
    finally:
        for proc in (strict, loose):
            proc.terminate()
            proc.wait(timeout=10)

    print(f"Telegram bench: one story to {args.chats} chats, concurrency {args.concurrency}")
    print(f"  delivered            {paced['delivered']} ({paced['failed']} not delivered)")
    print(f"  sustained            {paced['rate']:.2f} msg/s  "
          f"(ratio to Telegram's 30/s: {paced['rate'] / TELEGRAM_RATE:.3f}; target ≥ 0.93)")
    print(f"  429 replies          {flood}  (target 0)")
    print(f"  commit → first sent  {paced['first_s'] * 1000:.0f} ms  (target ≤ 1000 ms)")
    print(f"  commit → last sent   {paced['total_s']:.1f} s")
    print(f"  request latency      p50 {paced['p50_ms']:.1f} ms, p99 {paced['p99_ms']:.1f} ms")
    print(f"  baseline (unpaced, no flood limits, {args.baseline} msgs): {base['rate']:.0f} msg/s, "
          f"p99 {base['p99_ms']:.1f} ms; paced/baseline = {paced['rate'] / base['rate']:.3f}")


if __name__ == "__main__":
    main()
