"""Benchmark: extractive briefs and story signatures, per item.

Generates articles of 600–3,000 characters (English and Russian word pools,
datelines, abbreviations, boilerplate), then measures median and p99 time of
`summarize()` and `story_signature()`, beside a naive baseline measured in
the same run (first three regex-split sentences; a plain set of lower-cased
words). Run: `.venv/bin/python bench/bench_summarize.py [--n 2000]`.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
import zlib
from pathlib import Path

import yaml

from bot.core.cluster import similarity, story_signature
from bot.core.summarize import summarize

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "cluster_pairs.yaml"
EN = ("troops border drills officials ministry security exercise base militants river district "
      "region talks agreement weapons forces government capital village police market water "
      "president envoy consulate operation airport bridge").split()
RU = ("военные граница учения министерство безопасность база боевики район область переговоры "
      "соглашение оружие силы правительство столица село полиция рынок вода президент").split()
NAMES = "Dushanbe Kabul Tajikistan Afghanistan Kharb-Maidon CSTO Taliban Душанбе Кабул ОДКБ".split()
ABBR = ["U.S.", "Gen.", "Mr.", "т.е.", "2012 г.", "3.5", "J. R. Smith"]


def article(rng: random.Random) -> tuple[str, str]:
    pool = EN if rng.random() < 0.6 else RU
    target = rng.randint(600, 3000)
    parts = ["DUSHANBE, March 27 (Wire) -"] if rng.random() < 0.5 else []
    while sum(len(p) + 1 for p in parts) < target:
        words = [rng.choice(pool) for _ in range(rng.randint(8, 28))]
        for _ in range(rng.randint(0, 3)):
            words.insert(rng.randrange(len(words)), rng.choice(NAMES + ABBR))
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), str(rng.randint(2, 5000)))
        parts.append(words[0].capitalize() + " " + " ".join(words[1:]) + ".")
        if rng.random() < 0.05:
            parts.append("Read more: subscribe to our newsletter.")
    title = " ".join(rng.choice(pool) for _ in range(8)).capitalize()
    return title, " ".join(parts)


def naive_brief(title: str, text: str) -> tuple[str, ...]:
    return (title, *re.split(r"(?<=[.!?])\s+", text)[:3])


def naive_signature(title: str, text: str) -> frozenset[int]:
    return frozenset(zlib.crc32(w.encode()) for w in (title + " " + text[:400]).lower().split())


def timed(fn, inputs) -> list[float]:
    out = []
    for args in inputs:
        t = time.perf_counter()
        fn(*args)
        out.append((time.perf_counter() - t) * 1000)
    return out


def report(label: str, ours: list[float], base: list[float]) -> None:
    p99 = lambda xs: sorted(xs)[int(len(xs) * 0.99) - 1]  # noqa: E731
    m, b = statistics.median(ours), statistics.median(base)
    print(f"{label:<22} median {m:7.3f} ms  p99 {p99(ours):7.3f} ms  | baseline median "
          f"{b:7.4f} ms  p99 {p99(base):7.4f} ms  | ratio {m / b:6.1f}x slower")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    n = ap.parse_args().n
    rng = random.Random(4)
    arts = [article(rng) for _ in range(n)]
    print(f"{n} articles, {statistics.mean(len(t) for _, t in arts):.0f} chars on average")
    brief = lambda t, x: summarize(title=t, text=x, matched_terms=("Taliban",))  # noqa: E731
    for _ in range(2):                  # interleaved rounds; the second is reported
        ours_b, base_b = timed(brief, arts), timed(naive_brief, arts)
        ours_s, base_s = timed(story_signature, arts), timed(naive_signature, arts)
    report("summarize (brief)", ours_b, base_b)
    report("story_signature", ours_s, base_s)
    labelled = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))["events"]
    sigs = [story_signature(r["title"], r["text"]) for e in labelled for r in e["reports"]]
    t0 = time.perf_counter()
    pairs = sum(1 for a in sigs for b in sigs if similarity(a, b) >= 0)
    per = (time.perf_counter() - t0) / pairs * 1e6
    print(f"similarity             {per:7.2f} µs per pair ({pairs} pairs of the labelled set)")


if __name__ == "__main__":
    main()
