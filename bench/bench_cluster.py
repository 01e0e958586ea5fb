"""Benchmark: story clustering per matched item (signature + candidates + assign_story).

Builds what the pipeline holds after 72 hours of matched items: a StoryIndex
of `--entries` items (default 15,000) of generated reports of events, English
and Russian, with a Zipf-like vocabulary, a few very common names (Taliban,
Tajikistan, Kabul… in thousands of items, as in a real window) and a long tail
of rarer ones, numbers and dates. Then, for `--items` new reports (some tell
an event already in the index, some a new one), times what the pipeline does
for each matched item:

    sig = story_signature(title, text)
    story = assign_story(sig, published, index.candidates(sig))
    index.add(...)                                   (not timed)

for today's code (bot.core.cluster) and for the BASELINE, the algorithm before
the rework (bot/core/cluster.py at commit PREVIOUS, read with `git show` by
bench/previous.py; without git only today's figures are printed), each on its own
index built from the same reports, alternately, `--rounds` times; it prints the
median over rounds of the mean cost per item (and each step's share), the
ratio, and how many new reports joined their own event's story (a sanity
check on generated text, not a quality measure).

`--quality` also prints, for both, pairwise precision / recall on the
labelled set tests/fixtures/cluster_pairs.yaml at a few thresholds (overall,
same language, across languages) and the time-ordered replay the pipeline
does — the figures of docs/briefs.md.

Run: `.venv/bin/python bench/bench_cluster.py [--entries 15000] [--items 2000] [--rounds 3] [--quality]`.
Prints figures; it does not assert.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bench.previous import module_at  # noqa: E402
from bot.core import cluster  # noqa: E402

PREVIOUS = "36d527d"      # before the rework: MinHash + keys + name skeletons, 50 candidates
cluster_baseline = module_at(PREVIOUS, "bot/core/cluster.py", "previous_cluster")

FIXTURE = ROOT / "tests" / "fixtures" / "cluster_pairs.yaml"
T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
WINDOW = timedelta(hours=72)

EN = """said government security forces police border military minister officials attack killed people
country region city district province capital president talks meeting agreement week report group troops
army village water market prices trade power gas oil road bridge railway airport court law ban decision
women children school hospital health fire flood earthquake storm rain damage houses residents protest
election vote parliament party opposition leader spokesman statement ministry foreign defence interior
economy bank rate inflation budget exports imports grain wheat flour fuel electricity dam river lake
mountain valley pass crossing checkpoint convoy patrol drills exercise base weapons drones missile
fighters militants gunmen explosion blast bomb mosque church prayers injured wounded dead toll rescue
evacuated emergency committee service agency company workers jobs migrants labour visa refugees camp
aid food supplies prices rose fell percent million billion dollars tonnes project construction plant
station unit line pipeline deal signed visit delegation envoy consulate embassy sanctions investigation
arrested suspects charged sentenced prison release hostages kidnapped smuggling drugs heroin seized
cross river bank shore near north south east west central local national international joint first new
former senior acting deputy head chief commander general officer soldiers guards border-guard service
""".split()
RU = """заявил правительство безопасность силы полиция граница военные министр представители нападение
погибли люди страна регион город район область столица президент переговоры встреча соглашение неделя
доклад группа войска армия село вода рынок цены торговля энергия газ нефть дорога мост железная аэропорт
суд закон запрет решение женщины дети школа больница пожар наводнение землетрясение шторм дождь ущерб
дома жители протест выборы парламент партия оппозиция лидер представитель министерство иностранных
обороны экономика банк ставка инфляция бюджет экспорт импорт зерно пшеница мука топливо электроэнергия
плотина река озеро горы долина перевал пункт колонна патруль учения база оружие беспилотники ракета
боевики взрыв мечеть ранены погибших пострадавших спасатели эвакуированы комитет служба агентство
компания рабочие мигранты виза беженцы лагерь помощь продовольствие выросли снизились процентов миллионов
долларов тонн проект строительство станция линия трубопровод сделка подписали визит делегация посол
консульство санкции расследование задержаны подозреваемые приговорен тюрьма заложники контрабанда
наркотики героин изъяли берег севере юге востоке западе центральной местных национальной совместные
первый новый бывший глава командующий генерал офицер солдаты пограничники
""".split()
COMMON = [("Taliban", "Талибан"), ("Tajikistan", "Таджикистан"), ("Afghanistan", "Афганистан"),
          ("Russia", "Россия"), ("Kabul", "Кабул"), ("Dushanbe", "Душанбе"), ("CSTO", "ОДКБ"),
          ("Uzbekistan", "Узбекистан"), ("Kyrgyzstan", "Киргизия"), ("Moscow", "Москва"), ("UN", "ООН"),
          ("Pakistan", "Пакистан"), ("China", "Китай"), ("Iran", "Иран"), ("Kazakhstan", "Казахстан"),
          ("Tajik", "Таджикский"), ("Afghan", "Афганский"), ("Russian", "Российский")]
SYL = [("kar", "кар"), ("dun", "дун"), ("sha", "ша"), ("kho", "хо"), ("rin", "рин"), ("bad", "бад"),
       ("mir", "мир"), ("zor", "зор"), ("tal", "тал"), ("vakh", "вах"), ("ob", "об"), ("gul", "гул"),
       ("sar", "сар"), ("dzhan", "джан"), ("nur", "нур"), ("as", "ас"), ("lan", "лан"), ("pay", "пай"),
       ("yor", "ёр"), ("ish", "иш"), ("ku", "ку"), ("tep", "теп"), ("ruz", "руз"), ("fa", "фа")]
TAIL = 20000
MONTHS_EN = "January February March April May June July August September October November December".split()
MONTHS_RU = "января февраля марта апреля мая июня июля августа сентября октября ноября декабря".split()


@dataclass
class Report:
    event: int
    title: str
    text: str
    at: datetime


class Generator:
    """Events and their reports; deterministic for a seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        names, seen = [], set()
        while len(names) < 4000:
            parts = rng.sample(SYL, rng.randint(2, 3))
            lat = "".join(p[0] for p in parts).capitalize()
            if lat not in seen:
                seen.add(lat)
                names.append((lat, "".join(p[1] for p in parts).capitalize()))
        self.names = COMMON + names
        # the long tail of a news vocabulary: invented words after the common ones
        cv = [(c + v, c2 + v2) for c, c2 in zip("bdfgklmnprstvzh", "бдфгклмнпрствзх") for v, v2 in zip("aeiou", "аеиоу")]
        words = [rng.sample(cv, 3) for _ in range(TAIL)]
        self.en = EN + sorted({"".join(p[0] for p in w) + rng.choice(("", "s", "ed", "ing")) for w in words})
        self.ru = RU + sorted({"".join(p[1] for p in w) + rng.choice(("", "а", "ов", "ами")) for w in words})
        # Zipf-Mandelbrot weights 1 / (rank + q): the head is flatter than plain Zipf, as for content words
        zipf = lambda n, q: list(itertools.accumulate(1 / (r + q) for r in range(n)))  # noqa: E731
        self.name_cum = zipf(len(self.names), 3)
        self.en_cum, self.ru_cum = zipf(len(self.en), 10), zipf(len(self.ru), 10)
        self.events = 0

    def _pick(self, words: list, cum: list[float], k: int) -> list:
        return self.rng.choices(words, cum_weights=cum, k=k)

    def event(self, at: datetime) -> list[Report]:
        rng = self.rng
        self.events += 1
        names = self._pick(self.names, self.name_cum, 2) + rng.sample(self.names[len(COMMON):], 2)
        en_topic, ru_topic = self._pick(self.en, self.en_cum, 6), self._pick(self.ru, self.ru_cum, 6)
        numbers = [str(rng.randint(2, 60)), f"{rng.randint(100, 9000):,}"]
        month, day = rng.randrange(12), rng.randint(1, 28)
        out = []
        for _ in range(1 + min(5, int(rng.expovariate(0.8)))):
            ru = rng.random() < 0.3
            ns = [n[1] if ru else n[0] for n in names]
            topic, words, cum = (ru_topic, self.ru, self.ru_cum) if ru else (en_topic, self.en, self.en_cum)
            date = f"{day} {MONTHS_RU[month]}" if ru else rng.choice([f"{MONTHS_EN[month]} {day}",
                                                                      f"{day} {MONTHS_EN[month]}"])
            title = " ".join(rng.sample(topic, 3) + [ns[0]] + self._pick(words, cum, rng.randint(3, 6)))
            sentences = []
            while sum(len(s) + 1 for s in sentences) < rng.randint(350, 700):
                w = rng.sample(topic, 2) + self._pick(words, cum, rng.randint(2, 5)) + rng.sample(ns, 2)
                if rng.random() < 0.5:
                    w.append(rng.choice(numbers + [date]))
                rng.shuffle(w)
                sentences.append(w[0].capitalize() + " " + " ".join(w[1:]) + ".")
            out.append(Report(self.events, title[0].upper() + title[1:], " ".join(sentences),
                              at + timedelta(minutes=rng.randint(0, 12 * 60))))
        return out

    def stream(self, start: datetime, hours: float, count: int) -> list[Report]:
        """About `count` reports published between `start` and `start + hours`, in time order."""
        out: list[Report] = []
        while len(out) < count:
            at = start + timedelta(seconds=self.rng.uniform(0, hours * 3600))
            out.extend(self.event(at))
        out = sorted(out[:count], key=lambda r: r.at)
        return out


class Impl:
    """One implementation (today's or the baseline) with its own index."""

    def __init__(self, label: str, module) -> None:
        self.label, self.m = label, module
        self.index = module.StoryIndex()
        self.seconds = {"signature": [], "candidates": [], "assign": []}
        self.joined = self.wrong = 0

    def build(self, history: list[Report]) -> float:
        t = time.perf_counter()
        for n, r in enumerate(history):
            self.index.add(n, r.event, self.m.story_signature(r.title, r.text), r.at)
        return time.perf_counter() - t

    def run(self, items: list[Report], first_id: int) -> None:
        m, index = self.m, self.index
        s_sig, s_cand, s_assign = 0.0, 0.0, 0.0
        joined = wrong = 0
        clock = time.perf_counter
        for n, r in enumerate(items):
            t0 = clock()
            sig = m.story_signature(r.title, r.text)
            t1 = clock()
            cands = index.candidates(sig)
            t2 = clock()
            story = m.assign_story(sig, r.at, cands)
            t3 = clock()
            s_sig, s_cand, s_assign = s_sig + t1 - t0, s_cand + t2 - t1, s_assign + t3 - t2
            if story is not None:
                joined += 1
                wrong += story != r.event
            index.add(first_id + n, r.event, sig, r.at)
        for item in range(first_id, first_id + len(items)):
            index.remove(item)
        k = len(items)
        self.seconds["signature"].append(s_sig / k)
        self.seconds["candidates"].append(s_cand / k)
        self.seconds["assign"].append(s_assign / k)
        self.joined, self.wrong = joined, wrong

    def per_item(self) -> dict[str, float]:
        return {k: statistics.median(v) * 1e6 for k, v in self.seconds.items()}


def timing(a: argparse.Namespace) -> None:
    gen = Generator(a.seed)
    history = gen.stream(T0 - WINDOW, 72, a.entries)
    # new items: a third retell events already in the index, the rest are new events
    recent = {r.event: r for r in history if r.at > T0 - timedelta(hours=24)}
    items: list[Report] = []
    fresh = gen.stream(T0, 2, a.items)
    olds = list(recent.values())
    for r in fresh:
        if gen.rng.random() < 0.33:
            old = gen.rng.choice(olds)
            again = _retell(gen, old)       # another outlet's words around the same facts
            items.append(Report(old.event, again[0], again[1], r.at))
        else:
            items.append(r)
    impls = [Impl("newsbot", cluster)] + ([Impl("baseline", cluster_baseline)] if cluster_baseline else [])
    for impl in impls:
        built = impl.build(history)
        print(f"{impl.label}: index of {len(impl.index)} items built in {built:.1f} s")
    for _ in range(a.rounds):
        for impl in impls:
            impl.run(items, len(history))
    pers = [i.per_item() for i in impls]
    print(f"\n{len(items)} new items against {a.entries} indexed (72 h), median of {a.rounds} rounds; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'µs per matched item':<22}{'signature':>11}{'candidates':>12}{'assign':>9}{'total':>9}"
          f"{'joined':>8}{'wrong':>7}")
    for impl, per in zip(impls, pers):
        print(f"{impl.label:<22}{per['signature']:>11.0f}{per['candidates']:>12.0f}{per['assign']:>9.0f}"
              f"{sum(per.values()):>9.0f}{impl.joined:>8}{impl.wrong:>7}")
    if len(pers) < 2:
        print(f"(baseline: commit {PREVIOUS} not available, no ratio)")
    else:
        ours, base = pers
        print(f"ratio (baseline / newsbot): {sum(base.values()) / sum(ours.values()):.1f}x per matched item "
              f"(signature {base['signature'] / ours['signature']:.1f}x, candidates "
              f"{base['candidates'] / ours['candidates']:.1f}x, assign {base['assign'] / ours['assign']:.1f}x)")
    print(f"(of {len(items)} new items, {sum(1 for i in items if i.event in recent)} retell an indexed event)")


def _retell(gen: Generator, old: Report) -> tuple[str, str]:
    """Another outlet's wording of `old`: its words shuffled, a few dropped, some new ones."""
    rng = gen.rng
    words = old.text.replace(".", "").split()
    keep = [w for w in words if rng.random() < 0.7]
    ru = any("а" <= c <= "я" for c in old.text.lower())
    extra = gen._pick(gen.ru, gen.ru_cum, len(words) // 4) if ru else gen._pick(gen.en, gen.en_cum, len(words) // 4)
    body = keep + extra
    rng.shuffle(body)
    title = old.title.split()
    rng.shuffle(title)
    chunks = [body[i:i + 10] for i in range(0, len(body), 10)]
    text = " ".join(c[0].capitalize() + " " + " ".join(c[1:]) + "." for c in chunks if c)
    return " ".join(title), text


# ------------------------------------------------------------------ quality on the labelled set


def quality(thresholds: list[float]) -> None:
    data = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    for label, m in (("newsbot", cluster), ("baseline", cluster_baseline)):
        if m is None:
            print(f"(baseline: commit {PREVIOUS} not available)")
            continue
        reports = []
        for event in data["events"]:
            at = event["at"]
            at = at if isinstance(at, datetime) else datetime.fromisoformat(at.replace("Z", "+00:00"))
            for r in event["reports"]:
                reports.append((event["id"], event["topic"], r["lang"], at + timedelta(hours=r["hours"]),
                                m.story_signature(r["title"], r["text"])))
        pairs = [(a, b, m.similarity(a[4], b[4])) for a, b in itertools.combinations(reports, 2)]
        positives = sum(1 for a, b, _ in pairs if a[0] == b[0])
        print(f"\n{label}: {len(data['events'])} events, {len(reports)} reports, {positives} same-story pairs, "
              f"default threshold {m.DEFAULT_THRESHOLD}")
        print(f"{'threshold':>9}{'P':>7}{'R':>7}{'same-lang P/R':>16}{'cross P/R':>13}{'traps':>7}"
              f"{'replay P/R':>13}{'stories':>9}")
        for th in thresholds:
            def pr(select):
                sel = [(a[0] == b[0], s >= th) for a, b, s in pairs if select(a, b)]
                return _pr(sel)
            p, r = pr(lambda a, b: True)
            sp, sr = pr(lambda a, b: a[2] == b[2])
            xp, xr = pr(lambda a, b: a[2] != b[2])
            traps = sum(1 for a, b, s in pairs if s >= th and a[1] == b[1] and a[0] != b[0])
            rp, rr, stories = _replay(m, reports, th)
            print(f"{th:>9.2f}{p:>7.2f}{r:>7.2f}{sp:>10.2f}/{sr:.2f}{xp:>8.2f}/{xr:.2f}{traps:>7}"
                  f"{rp:>8.2f}/{rr:.2f}{stories:>9}")


def _pr(pairs) -> tuple[float, float]:
    tp = sum(1 for same, pred in pairs if same and pred)
    fp = sum(1 for same, pred in pairs if pred and not same)
    fn = sum(1 for same, pred in pairs if same and not pred)
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def _replay(m, reports, threshold: float) -> tuple[float, float, int]:
    index, story_of, next_id = m.StoryIndex(), [], 1
    for n, (event, _, _, at, sig) in enumerate(sorted(reports, key=lambda r: r[3])):
        story = m.assign_story(sig, at, index.candidates(sig), threshold=threshold)
        if story is None:
            story, next_id = next_id, next_id + 1
        index.add(n, story, sig, at)
        story_of.append((event, story))
    p, r = _pr([(a[0] == b[0], a[1] == b[1]) for a, b in itertools.combinations(story_of, 2)])
    return p, r, next_id - 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=15000, help="items in the index (72 h of matched items)")
    ap.add_argument("--items", type=int, default=2000, help="new matched items timed per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--quality", action="store_true", help="also measure both on the labelled set")
    ap.add_argument("--thresholds", default="0.28,0.30,0.32,0.34,0.36")
    a = ap.parse_args()
    timing(a)
    if a.quality:
        quality([float(t) for t in a.thresholds.split(",")])


if __name__ == "__main__":
    main()
