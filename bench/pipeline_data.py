"""Generated inputs for bench/bench_pipeline.py: watchlists, subscriptions and parsed items.

All names are invented (syllable soup), except the bundled central-asia
watchlist, which is copied in as it is. Deterministic for a given seed.
Not part of newsbot: nothing in `bot/` imports this.

- `write_watchlists(dir, n)`: n - 1 generated YAML watchlists (a place with a
  variant spelling, an organisation with its acronym, a person, and a place
  that only counts near security words) plus config/watchlists/central-asia.yaml.
- `subscription_rows(watchlists, n, now)`: rows for the subscriptions table:
  destinations (Telegram chats, Slack channels, a console) that each follow a
  few watchlists; mostly instant, some digests, some quiet hours in several
  time zones, and 1% members' own queries.
- `ItemStream`: parsed items (ItemData) of 600–1,500 characters; a share of
  the events mention a watched name, and some events are reported again by
  other outlets in other words (near duplicates that should join one story).
"""

from __future__ import annotations

import hashlib
import random
import shutil
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.types import ItemData

ROOT = Path(__file__).resolve().parents[1]
CENTRAL_ASIA = ROOT / "config" / "watchlists" / "central-asia.yaml"
SYLLABLES = ("var nesk ol da mir ko tal ben rush ga lor vel tor men sav ris kal dun bor ezh "
             "ul nar fen gor lis tam ur ost av kel dro pan sel vik zar hom bel tir").split()
UNITS = "troops officers families tonnes of grain trucks protesters workers vehicles migrants".split(" ")
ACTIONS = ["held drills", "closed the border crossing", "detained suspects", "signed a supply agreement",
           "reported clashes", "opened an investigation", "deployed extra patrols", "cut power supplies",
           "announced new tariffs", "evacuated villages"]
NOUNS = ("ministry council convoy checkpoint pipeline harbour market district court reservoir garrison "
         "railway depot customs office parliament airfield clinic warehouse").split()
VERBS = "said confirmed denied warned expected reported estimated announced promised questioned".split()
ADJS = "regional local provincial northern southern temporary disputed new former senior".split()
CUES = ["The move raises concern about security along the frontier.",
        "It is the first time such measures have been taken since the agreement.",
        "Analysts warned the tension could escalate before the winter."]
ORG_KINDS = ["Grain Authority", "Border Service", "Power Company", "Union", "Water Board", "Rail Agency",
             "Mining Trust", "Bank", "Customs Office", "Militia", "Party", "Front", "Guard", "Council",
             "Port Authority", "Airlines", "Cooperative", "Relief Fund", "Police", "Assembly"]
QUOTES = ["“We are following the situation closely,” said {who}, speaking in {where}.",
          "{who} told reporters in {where} that the decision was final.",
          "In {where}, {who} called for calm and promised an inquiry.",
          "{who}, who visited {where} on Monday, declined to comment.",
          "“This cannot go on,” {who} said at a briefing in {where}."]
LEADS = ["The {org} {action} near {p} on {day} in a dispute over {t0} {t1}, involving about {n} {unit}.",
         "Officials in {p} said the {org} {action} this week over {t0} {t2}; some {n} {unit} were involved.",
         "About {n} {unit} were involved after the {org} {action} close to {p}, where {t0} {t1} had been {verb}.",
         "{p} woke up to news that the {org} {action}, a step linked to the {t0} {t2} that affects {n} {unit}.",
         "In a move over {t1} {t0}, the {org} {action} outside {p} on {day}; {n} {unit} are affected.",
         "The {org} {action} in {p} late on {day}, a week after {t0} {t2} talks stalled ({n} {unit} involved).",
         "{n} {unit} near {p} are affected after the {org} {action} over {t0}, local media {verb}.",
         "Tension over {t0} {t1} rose in {p} as the {org} {action}, with {n} {unit} caught up."]
MONTHS = "January February March April May June July August September October November December".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
AGENCIES = ["Wire", "Reuters", "AFP", "AP", "Interfax", "Xinhua"]
OUTCOMES = ["reopen", "stay shut", "be reviewed", "get funds", "be delayed", "move north", "end", "resume"]
TIMEZONES = ["UTC", "Asia/Dushanbe", "Europe/Berlin", "America/New_York", "Asia/Almaty", "Europe/Moscow"]
CENTRAL_ASIA_NAMES = [("place", "Tajikistan"), ("org", "CSTO"), ("org", "Taliban"), ("person", "Emomali Rahmon")]


class Names:
    """Invented names: unique watched ones first (`word`), then a pool of others that never
    collides with them (`other`, after `freeze`)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.used = rng, set()
        self.pool: list[str] = []

    def word(self, low: int = 2, high: int = 3) -> str:
        while True:
            w = "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(low, high))).capitalize()
            if w.lower() not in self.used and len(w) >= 5:
                self.used.add(w.lower())
                return w

    def freeze(self, size: int = 6000) -> None:
        self.pool = [self.word(2, 4) for _ in range(size)]
        self.lower = [self.word(2, 3).lower() for _ in range(2000)]

    def topic(self) -> str:
        """A lower-case word of an event's own subject (the grain, the dam, the tariff…)."""
        return self.rng.choice(self.lower)

    def other(self) -> str:
        return self.rng.choice(self.pool) if self.pool else self.word()

    def org(self, first: str | None = None) -> str:
        kind = self.rng.choice(ORG_KINDS)
        return f"{first or self.word()} {kind}"

    def person(self, first: str | None = None, last: str | None = None) -> str:
        return f"{first or self.word(2, 2)} {last or self.word(2, 3)}"


@dataclass
class WatchlistSpec:
    name: str
    entities: list[tuple[str, str]]          # (kind, name as written in texts)


def _acronym(org: str) -> str:
    return "".join(w[0] for w in org.split()).upper()


def write_watchlists(directory: Path, n: int, names: Names) -> list[WatchlistSpec]:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(CENTRAL_ASIA, directory / "central-asia.yaml")
    specs = [WatchlistSpec("central-asia", CENTRAL_ASIA_NAMES)]
    for i in range(1, n):
        place, place2, org, person = names.word(), names.word(), names.org(), names.person()
        wl = WatchlistSpec(f"region-{i:03d}", [("place", place), ("org", org), ("person", person),
                                               ("near", place2)])
        specs.append(wl)
        variant = place[:-1] + ("y" if place[-1] != "y" else "i")
        names.used.add(variant.lower())
        surname = person.split()[1]
        (directory / f"{wl.name}.yaml").write_text(f"""\
name: {wl.name}
title: {place} region watch
priority: {i % 3}
languages: [en]
why:
  - {place} sits on the main supply road of the region; what happens there moves prices and people.
terms:
  - term: {place}
    match: [{place}, {variant}]
    exclude: ['football OR concert']
  - term: {org}
    why:
      - The {org} controls most of the region's trade.
    match: ['"{org}"', 'case:{_acronym(org)}']
  - term: {person}
    match: ['"{person}"', '{surname} NEAR/3 (minister OR governor OR commander)']
  - term: {place2} security
    match: ['{place2} NEAR/8 (troops OR border OR patrols OR clashes OR drills OR suspects)']
""", encoding="utf-8")
    names.freeze()
    return specs


def subscription_rows(specs: list[WatchlistSpec], n: int, now: datetime, rng: random.Random) -> list[dict]:
    """`n` subscription rows: destinations following 1–5 watchlists each (1% members' queries)."""
    rows: list[dict] = []
    dest = 0
    while len(rows) < n:
        dest += 1
        r = rng.random()
        platform, address = (("telegram", str(-100_000_000 - dest)) if r < 0.6 else
                             ("slack", f"C{dest:08d}") if r < 0.995 else ("console", f"stdout-{dest}"))
        tz = rng.choice(TIMEZONES)
        for spec in rng.sample(specs, rng.randint(1, 5)):
            if len(rows) == n:
                break
            mode = "digest" if rng.random() < 0.1 else "instant"
            row = dict(platform=platform, address=address, watchlist=spec.name, query=None, mode=mode,
                       digest=rng.choice(["hourly", "daily 08:00"]) if mode == "digest" else None,
                       timezone=tz, quiet="22:00-07:00" if rng.random() < 0.15 else None, paused=False,
                       source="chat", created_by=None, created_at=now,
                       next_digest_at=now + timedelta(hours=1) if mode == "digest" else None)
            if rng.random() < 0.01 and spec.name != "central-asia":
                row.update(watchlist=None, query=f'"{dict(spec.entities)["person"]}"')
            rows.append(row)
    return rows


@dataclass
class Event:
    id: int
    title: str
    topic: list[str]
    places: list[str]
    org: str
    person: str
    numbers: list[int]
    action: str
    unit: str
    matched: bool
    reports: int = 0


@dataclass
class ItemStream:
    """Parsed items of feeds, in batches of one feed's new items."""

    specs: list[WatchlistSpec]
    names: Names
    rng: random.Random
    matched_share: float = 0.14          # of events; near-duplicate reports follow their event
    repeat_share: float = 0.25           # of items: another outlet's report of a recent event
    recent: deque = field(default_factory=lambda: deque(maxlen=400))
    serial: int = 0
    events: int = 0
    event_of: dict[str, int] = field(default_factory=dict)      # item key -> event id

    def event(self) -> Event:
        rng, nm = self.rng, self.names
        places, org, person = [nm.other(), nm.other()], nm.org(nm.other()), nm.person(nm.other(), nm.other())
        matched = rng.random() < self.matched_share
        if matched:
            spec = self.specs[0] if rng.random() < 0.08 else rng.choice(self.specs[1:])
            kind, name = rng.choice(spec.entities)
            if kind in ("place", "near"):
                places[0] = name
            elif kind == "org":
                org = name
            else:
                person = name
        self.events += 1
        ev = Event(self.events, "", [nm.topic() for _ in range(8)], places, org, person,
                   [rng.randint(12, 4000), rng.randint(2, 60)], rng.choice(ACTIONS), rng.choice(UNITS), matched)
        t = ev.topic
        ev.title = rng.choice([f"{org} {ev.action} near {places[0]} over {t[0]} {t[1]}",
                               f"{person} says {ev.numbers[0]} {ev.unit} hit by {t[0]} in {places[0]}",
                               f"{places[0]}: {ev.action} after {t[0]} talks with {org}"])
        return ev

    def item(self, feed_no: int, published: datetime) -> ItemData:
        rng = self.rng
        if self.recent and rng.random() < self.repeat_share:
            ev = rng.choice(list(self.recent)[-150:])
        else:
            ev = self.event()
            self.recent.append(ev)
        ev.reports += 1
        title, text = self._report(ev, rewrite=ev.reports > 1)
        self.serial += 1
        key = f"https://outlet{feed_no}.example/news/{self.serial}"
        self.event_of[key] = ev.id
        digest = hashlib.sha1(f"{title}\n{text}\n{key}".encode()).hexdigest()
        return ItemData(key=key, title=title, summary=text, link=key, guid=key, published=published,
                        language="en", content_hash=digest)

    def _report(self, ev: Event, *, rewrite: bool) -> tuple[str, str]:
        """One outlet's report: its own lead, quote and sentences around the event's facts."""
        rng = self.rng
        p, p2 = ev.places
        n1, n2 = ev.numbers
        t = ev.topic
        title = ev.title if not rewrite else rng.choice(
            [f"{p}: {ev.org} {ev.action} amid {t[0]} row", f"{n1} {ev.unit} caught up in {t[0]} {t[2]} as "
             f"{ev.org} {ev.action}", f"{ev.person}: {t[1]} dispute in {p} deepens", ev.title])
        dateline = (f"{p.upper()}, {rng.choice(MONTHS)} {rng.randint(1, 28)} ({rng.choice(AGENCIES)}) - "
                    if rng.random() < 0.3 else "")
        lead = rng.choice(LEADS).format(org=ev.org, action=ev.action, p=p, n=n1, unit=ev.unit, t0=t[0], t1=t[1],
                                        t2=t[2], day=rng.choice(DAYS), verb=rng.choice(VERBS))
        parts = [dateline + lead, rng.choice(QUOTES).format(who=ev.person, where=p2)]
        target = rng.randint(600, 1500)
        while sum(len(x) + 1 for x in parts) < target:
            parts.append(self._sentence(ev))
        if rng.random() < 0.4:
            parts.insert(rng.randint(2, len(parts)), rng.choice(CUES))
        if rng.random() < 0.5:
            parts.append(f"At least {n2} {rng.choice(NOUNS)} staff were moved, {rng.choice(VERBS)} a spokesman.")
        return title, " ".join(parts)

    def _sentence(self, ev: Event) -> str:
        """A sentence of the event's own vocabulary mixed with the general one."""
        rng = self.rng

        def w() -> str:
            return rng.choice(ev.topic) if rng.random() < 0.35 else self.names.topic()
        shape = rng.randrange(4)
        if shape == 0:
            return (f"The {rng.choice(ADJS)} {w()} in {rng.choice(ev.places)} {rng.choice(VERBS)} that {w()} "
                    f"{w()} would {rng.choice(OUTCOMES)} within {rng.randint(2, 30)} days.")
        if shape == 1:
            return f"{w().capitalize()} {w()} has {rng.choice(VERBS)} the {w()} since {rng.choice(MONTHS)}."
        if shape == 2:
            return (f"According to {rng.choice(ADJS)} {rng.choice(NOUNS)} records, {rng.randint(3, 900)} {w()} "
                    f"and {w()} {w()} were {rng.choice(VERBS)} last year.")
        return f"Residents of {rng.choice(ev.places)} said the {w()} {w()} {rng.choice(OUTCOMES)} soon."
