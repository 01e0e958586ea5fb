"""Benchmark: the compiled matcher vs a naive `term in text` loop, same run, same data.

Generates deterministic synthetic news (~600 characters: a title and a
summary; 80% English with curly quotes, possessives, hyphens and ordinals,
10% Russian-like Cyrillic, 10% accented Latin) and rule sets of 1,000 and
10,000 queries mixing whole words, phrases with gaps, strict phrases, prefix
wildcards, AND/OR/NOT, NEAR/n, field scope, case-sensitive acronyms and
Russian word forms; at 10,000 rules about a third of the items match
something (a heavy case: every match builds its explanation). Prints items/s
of `Matcher.match` (title + summary in, explained matches out), compile and
rebuild times, the naive baseline (lower-case the item, `term in text` for
every term: no word boundaries, no logic; timed on a subset) and the ratio.
Matcher and baseline run in interleaved rounds and medians are reported, so a
busy machine slows both alike. Targets: ≥ 50,000 items/s at 10,000 terms,
compile ≤ 2 s, ≥ 100× the naive loop.

    python bench/bench_match.py [--texts 100000] [--naive 1000] [--rounds 10] [--seed 7]
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core import match as match_module  # noqa: E402
from bot.core.match import Rule, compile_rules  # noqa: E402

SYLLABLES = "ba be bi bo bu da de di do ka ke ki ko la le li lo ma me mi mo na ne ni no ra re ri ro " \
            "sa se si so ta te ti to va ve vi za zo sha kho tra dor ian ost ek"
CYR_SYLLABLES = "ба бе би бо да де ди до ка ке ки ко ла ле ли ло ма ме ми мо на не ни но ра ре ри ро " \
                "са се си со та те ти то ва ве ви за зо ша хо тра дор ян ост ек"
FUNCTION = "the a of in to and for on with at by from as is was that it said has after over".split()
RU_ENDINGS = ["", "а", "е", "у", "ом", "ы", "ов", "ами"]


def _words(rng: random.Random, syllables: list[str], count: int, low: int, high: int) -> list[str]:
    seen: set[str] = set()
    out = []
    while len(out) < count:
        w = "".join(rng.choice(syllables) for _ in range(rng.randint(low, high)))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


class Corpus:
    """Vocabularies shared by texts and rules, so rules hit texts at a realistic rate."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        # Shorter words are more frequent (Zipf's law of abbreviation), as in real text.
        self.common = FUNCTION + sorted(_words(rng, SYLLABLES.split(), 4000, 1, 3), key=len)
        self.names = [w.capitalize() for w in _words(rng, SYLLABLES.split(), 200_000, 3, 4)]
        self.acronyms = ["".join(rng.choice("ABCDEFGHIKLMNOPRSTUVZ") for _ in range(4)) for _ in range(5000)]
        self.cyr = _words(rng, CYR_SYLLABLES.split(), 20000, 3, 4)
        self.common_w = list(itertools.accumulate(1 / (i + 1) for i in range(len(self.common))))
        self.names_w = list(itertools.accumulate(1 / (i + 1) ** 0.8 for i in range(len(self.names))))
        self.cyr_w = list(itertools.accumulate(1 / (i + 1) ** 0.7 for i in range(len(self.cyr))))


def _english_word(rng: random.Random, c: Corpus) -> str:
    r = rng.random()
    if r < 0.07:
        return rng.choices(c.names, cum_weights=c.names_w)[0] + ("\u2019s" if rng.random() < 0.2 else "")
    if r < 0.073:
        return rng.choice(c.acronyms)
    if r < 0.09:
        return f"{rng.randint(1, 300)}{rng.choice(['st', 'nd', 'th', ''])}"
    if r < 0.10:
        return rng.choice(c.names) + "-" + rng.choice(c.common)
    return rng.choices(c.common, cum_weights=c.common_w)[0]


def _cyrillic_word(rng: random.Random, c: Corpus) -> str:
    if rng.random() < 0.07:
        return rng.choices(c.cyr, cum_weights=c.cyr_w)[0].capitalize() + rng.choice(RU_ENDINGS)
    return rng.choice(c.cyr[:2000])


def _accented_word(rng: random.Random, c: Corpus) -> str:
    w = _english_word(rng, c)
    return w.replace("e", "é", 1) if rng.random() < 0.3 else w


def _sentence_text(rng: random.Random, c: Corpus, size: int, word) -> str:
    out, length = [], 0
    while length < size:
        w = word(rng, c)
        if rng.random() < 0.08:
            w += rng.choice([",", ".", ";", " \u2014", ":"])
        if rng.random() < 0.03:
            w = "\u201c" + w + "\u201d"
        out.append(w)
        length += len(w) + 1
    return " ".join(out)[:size]


def make_texts(c: Corpus, count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        r = rng.random()
        word = _english_word if r < 0.8 else _cyrillic_word if r < 0.9 else _accented_word
        texts.append((_sentence_text(rng, c, 80, word).capitalize(), _sentence_text(rng, c, 520, word)))
    return texts


def make_rules(c: Corpus, count: int, seed: int) -> tuple[list[Rule], list[str]]:
    """Rules, and the plain strings the naive loop searches for."""
    rng = random.Random(seed)
    rules, plain = [], []
    name = lambda: rng.choice(c.names[1_000:])  # noqa: E731
    common = lambda: rng.choice(c.common[20:400])  # noqa: E731
    for i in range(count):
        r = rng.random()
        if r < 0.35:
            q, p = name(), None
        elif r < 0.50:
            a, b = name(), common()
            q, p = f'"{a} {b}"', f"{a} {b}"
        elif r < 0.57:
            a, b = name(), name()
            q, p = f'"{a} {b}"~0', f"{a} {b}"
        elif r < 0.65:
            a = name()
            q, p = f"{a}*", a
        elif r < 0.72:
            a = name()
            q, p = f"{a} NOT {common()}", a
        elif r < 0.78:
            a, b = name(), name()
            q, p = f"({a} OR {b}) AND {common()}", a
        elif r < 0.85:
            a = name()
            q, p = f"{a} NEAR/5 ({common()} OR {common()})", a
        elif r < 0.88:
            a = name()
            q, p = f"title:{a}", a
        elif r < 0.92:
            a = rng.choice(c.acronyms)
            q, p = f"case:{a}", a
        else:
            a = rng.choice(c.cyr[2_000:]).capitalize()
            rules.append(Rule(f"r{i}", a, languages=("ru",)))
            plain.append(a.lower())
            continue
        rules.append(Rule(f"r{i}", q))
        plain.append((p or q).lower())
    return rules, plain


def naive_seconds(texts: list[tuple[str, str]], plain: list[str]) -> float:
    """The baseline: lower-case the item, then `term in text` for every term (no word boundaries)."""
    start = time.perf_counter()
    for title, summary in texts:
        text = (title + " " + summary).lower()
        for term in plain:
            if term in text:
                pass
    return time.perf_counter() - start


def matcher_seconds(matcher, texts: list[tuple[str, str]]) -> tuple[float, int, int]:
    matched = matches = 0
    start = time.perf_counter()
    for title, summary in texts:
        found = matcher.match(title, summary)
        if found:
            matched += 1
            matches += len(found)
    return time.perf_counter() - start, matched, matches


def run(c: Corpus, texts: list[tuple[str, str]], terms: int, naive_count: int, seed: int, rounds: int) -> dict:
    """Interleaved rounds (matcher chunk, then naive chunk); medians resist a busy machine."""
    rules, plain = make_rules(c, terms, seed + terms)
    match_module._compile_query.cache_clear()
    start = time.perf_counter()
    matcher = compile_rules(rules)
    compile_s = time.perf_counter() - start
    assert not matcher.errors, matcher.errors[:3]
    start = time.perf_counter()
    rebuilt = matcher.with_rules(rules[:10], [r.id for r in rules[-10:]])
    rebuild_s = time.perf_counter() - start
    assert len(rebuilt) == len(matcher) - 10
    chunk, naive_chunk = -(-len(texts) // rounds), max(1, naive_count // rounds)
    rates, naive_rates, matched, matches = [], [], 0, 0
    for r in range(rounds):
        part = texts[r * chunk:(r + 1) * chunk]
        seconds, m1, m2 = matcher_seconds(matcher, part)
        rates.append(len(part) / seconds)
        matched, matches = matched + m1, matches + m2
        naive_part = texts[r * naive_chunk:(r + 1) * naive_chunk]
        naive_rates.append(len(naive_part) / naive_seconds(naive_part, plain))
    return {"terms": terms, "compile_s": compile_s, "rebuild_s": rebuild_s,
            "rate": statistics.median(rates), "best": max(rates), "naive_rate": statistics.median(naive_rates),
            "matched": matched, "matches": matches, "texts": len(texts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=1_000, help="texts for the naive baseline")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--terms", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved measurement rounds")
    args = parser.parse_args()
    corpus = Corpus(args.seed)
    start = time.perf_counter()
    texts = make_texts(corpus, args.texts, args.seed)
    avg = sum(len(t) + len(s) for t, s in texts) / len(texts)
    print(f"generated {len(texts):,} texts (avg {avg:.0f} chars) in {time.perf_counter() - start:.1f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for terms in args.terms:
        r = run(corpus, texts, terms, min(args.naive, len(texts)), args.seed, args.rounds)
        ratio = r["rate"] / r["naive_rate"]
        print(f"\n{terms:,} terms")
        print(f"  compile          {r['compile_s'] * 1000:8.0f} ms   (target <= 2000 ms)")
        print(f"  with_rules       {r['rebuild_s'] * 1000:8.0f} ms   (10 added/replaced, 10 removed)")
        print(f"  matcher          {r['rate']:10,.0f} items/s  median of {args.rounds} rounds, best "
              f"{r['best']:,.0f}; {r['matched'] / r['texts']:.1%} of items matched, {r['matches']:,} matches")
        print(f"  naive term in    {r['naive_rate']:10,.0f} items/s  (median, {min(args.naive, len(texts)):,} items)")
        print(f"  ratio            {ratio:10,.0f}x")
    print("\ntargets (10,000 terms): >= 50,000 items/s, compile <= 2 s, >= 100x the naive loop; "
          f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
