"""Benchmark parse_feed against a feedparser-only baseline, measured in the same run.

    .venv/bin/python bench/bench_parse.py [--docs 20] [--rounds 5] [--corpus DIR]

1. Generated documents: N RSS 2.0 and N Atom 1.0 feeds of 50 items each
   (~60–70 KB, HTML descriptions with links and entities, like a news feed),
   built here with invented text.
2. Real news feeds from the shared corpus (the outlets listed in NEWS.md that
   are in fastfeedparser/benchmark_data and codehollow-feedreader), if found.

For each set it prints ms/feed and feeds/s for parse_feed (everything: guard,
extraction, HTML → text, dates, keys) and for feedparser.parse alone, and the
ratio. Medians of interleaved rounds. fastfeedparser (no HTML → text, no
guard) is shown for reference when installed.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import feedparser  # noqa: E402

from bot.core.parse import parse_feed  # noqa: E402

WORDS = ("harbour council mayor festival bridge lantern orchard market valley ferry museum "
         "archive tram quarry meadow bakery library river storm pier lighthouse vineyard "
         "parade election budget school clinic station canal mill granary").split()
TOWNS = ("Eastmere", "Lowbridge", "Karrow", "Saltholm", "Veldin", "Ostrava Minor", "Pell")


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _description(rng: random.Random, i: int) -> str:
    paras = []
    for j in range(4):
        paras.append(f"<p>{_sentence(rng, 16)} <a href=\"/story/{i}/{j}\">{_sentence(rng, 3)}</a> "
                     f"&amp; {_sentence(rng, 12)} &#8220;{rng.choice(TOWNS)}&#8221;</p>")
    return "".join(paras)


def make_rss(seed: int, items: int = 50) -> bytes:
    rng = random.Random(seed)
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
           'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
           f"<title>{rng.choice(TOWNS)} Gazette</title><link>https://gazette.example.org/</link>"
           "<description>Local news</description><language>en</language><ttl>30</ttl>"]
    for i in range(items):
        out.append(
            f"<item><title>{_sentence(rng, 9)} &amp; {rng.choice(TOWNS)}</title>"
            f"<link>https://gazette.example.org/story/{seed}/{i}?utm_source=rss</link>"
            f'<guid isPermaLink="false">gazette-{seed}-{i}</guid>'
            f"<pubDate>Tue, {i % 28 + 1:02d} Mar 2025 {i % 24:02d}:{i % 60:02d}:00 +0300</pubDate>"
            f"<dc:creator>Desk {i % 7}</dc:creator><category>{rng.choice(TOWNS)}</category>"
            f"<description><![CDATA[{_description(rng, i)}]]></description></item>")
    out.append("</channel></rss>")
    return "".join(out).encode()


def make_atom(seed: int, items: int = 50) -> bytes:
    rng = random.Random(seed)
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
           'xml:lang="en" xml:base="https://courier.example.net/">'
           f"<title>{rng.choice(TOWNS)} Courier</title><id>urn:courier:{seed}</id>"
           '<link rel="alternate" href="/"/><updated>2025-03-01T00:00:00Z</updated>']
    for i in range(items):
        desc = _description(rng, i).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        out.append(
            f'<entry><title type="html">{_sentence(rng, 9)}</title>'
            f'<link rel="alternate" type="text/html" href="/story/{seed}/{i}"/>'
            f"<id>urn:courier:{seed}:{i}</id>"
            f"<published>2025-03-{i % 28 + 1:02d}T{i % 24:02d}:20:00+01:00</published>"
            f"<updated>2025-03-{i % 28 + 1:02d}T{i % 24:02d}:30:00Z</updated>"
            f"<author><name>Desk {i % 7}</name></author><category term=\"{rng.choice(TOWNS)}\"/>"
            f'<summary type="html">{desc}</summary></entry>')
    out.append("</feed>")
    return "".join(out).encode()


def _feedparser(body: bytes) -> object:
    return feedparser.parse(io.BytesIO(body), response_headers={"content-type": "application/xml"})


def _ours(body: bytes) -> object:
    return parse_feed(body, url="https://bench.example/feed", content_type="application/xml")


def _tolerant(fn: Callable[[bytes], object]) -> Callable[[bytes], object]:
    def call(body: bytes) -> object:
        try:
            return fn(body)
        except Exception:           # fastfeedparser raises on some corpus files (e.g. gzip)
            return None
    return call


def _time_per_doc(fn: Callable[[bytes], object], docs: list[bytes], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        for doc in docs:
            fn(doc)
    return (time.perf_counter() - start) / (repeat * len(docs))


def measure(name: str, docs: list[bytes], rounds: int) -> None:
    contenders: dict[str, tuple[Callable[[bytes], object], int]] = {
        "parse_feed": (_ours, 10), "feedparser": (_feedparser, 1)}
    try:
        import fastfeedparser
        contenders["fastfeedparser (no guard, no text)"] = (_tolerant(fastfeedparser.parse), 10)
    except ImportError:
        pass
    results: dict[str, list[float]] = {key: [] for key in contenders}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fn, _ in contenders.values():
            fn(docs[0])                                    # warm-up
        for _ in range(rounds):                            # interleaved rounds
            for key, (fn, repeat) in contenders.items():
                results[key].append(_time_per_doc(fn, docs, repeat))
    kb = sum(map(len, docs)) / len(docs) / 1024
    print(f"\n{name}: {len(docs)} docs, {kb:.0f} KB average")
    base = statistics.median(results["feedparser"])
    for key, values in results.items():
        median = statistics.median(values)
        print(f"  {key:36s} {median * 1000:8.3f} ms/feed {1 / median:9.0f} feeds/s/core "
              f"{base / median:7.1f}× feedparser")


def corpus_news(corpus: Path) -> list[bytes]:
    news = corpus / "NEWS.md"
    if not news.is_file():
        return []
    docs = []
    for line in news.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            rel = line.split("`")[1]
            path = corpus / rel
            if path.is_file() and path.stat().st_size < 400_000:
                docs.append(path.read_bytes())
    return docs


def main() -> None:
    default_corpus = Path(os.environ.get("NEWSBOT_CORPUS", ROOT / ".." / "shared" / "corpus"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20, help="generated documents per format")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=default_corpus)
    args = parser.parse_args()
    measure("generated RSS 2.0, 50 items", [make_rss(s) for s in range(args.docs)], args.rounds)
    measure("generated Atom 1.0, 50 items", [make_atom(s) for s in range(args.docs)], args.rounds)
    news = corpus_news(args.corpus.resolve())
    if news:
        measure("corpus news feeds (NEWS.md, < 400 KB)", news, args.rounds)
    else:
        print(f"\n(corpus not found at {args.corpus}; real-feed figures skipped)")


if __name__ == "__main__":
    main()
