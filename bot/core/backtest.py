"""Backtest: what a watchlist matches over past items, and what a draft would change.

What it does: :func:`compare` runs the live matcher and a draft matcher over
the same items and reports the draft's matches (with explanations), how many
items each rule (watchlist term) and each alias matched, and which items the
draft would add or drop compared with live. :func:`backtest` is the same
without a draft. ``newsbot backtest`` (bot/cli.py) feeds it stored items or a
feed and prints the report (``to_json`` for ``--json``).

What it does not do: fetch or store items, print, or show progress (the CLI
wraps the item iterable for that).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Hashable, Iterable

from bot.core.match import Matcher
from bot.types import Match

BacktestItem = tuple[Hashable, str, str, "str | None"]    # (key, title, summary, language)


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One item the tested matcher matched."""

    key: Hashable
    title: str
    matches: tuple[Match, ...]


@dataclass(frozen=True, slots=True)
class BacktestReport:
    """Counts are numbers of items (an item counts once per rule and once per alias)."""

    items: int
    matched: tuple[ItemResult, ...]
    rule_counts: dict[str, int] = field(default_factory=dict)       # tested matcher, per rule id
    term_counts: dict[str, int] = field(default_factory=dict)       # tested matcher, per alias as written
    live_rule_counts: dict[str, int] = field(default_factory=dict)
    added: tuple[Hashable, ...] = ()          # matched by the draft, not by live
    dropped: tuple[Hashable, ...] = ()        # matched by live, not by the draft
    changed: tuple[Hashable, ...] = ()        # matched by both, by different rules

    def to_json(self) -> dict:
        """Plain data for ``--json``."""
        return {
            "items": self.items,
            "matched": [
                {"key": str(r.key), "title": r.title,
                 "matches": [{"rule_id": m.rule_id, "watchlist": m.watchlist, "query": m.query,
                              "priority": m.priority, "explanation": m.explain(),
                              "hits": [{"term": h.term, "field": h.field, "text": h.text,
                                        "start": h.start, "end": h.end} for h in m.hits]}
                             for m in r.matches]}
                for r in self.matched],
            "rule_counts": self.rule_counts,
            "term_counts": self.term_counts,
            "live_rule_counts": self.live_rule_counts,
            "added": [str(k) for k in self.added],
            "dropped": [str(k) for k in self.dropped],
            "changed": [str(k) for k in self.changed],
        }


def _counts(results: list[ItemResult]) -> tuple[dict[str, int], dict[str, int]]:
    rules: Counter[str] = Counter()
    terms: Counter[str] = Counter()
    for result in results:
        rules.update({m.rule_id for m in result.matches})
        terms.update({h.term for m in result.matches for h in m.hits})
    return dict(rules.most_common()), dict(terms.most_common())


def compare(live: Matcher, draft: Matcher, items: Iterable[BacktestItem]) -> BacktestReport:
    """Run both matchers over ``items``; the report describes the draft and its differences."""
    total = 0
    tested: list[ItemResult] = []
    live_results: list[ItemResult] = []
    added, dropped, changed = [], [], []
    for key, title, summary, language in items:
        total += 1
        now = tuple(live.match(title, summary, language=language)) if live is not draft else None
        new = tuple(draft.match(title, summary, language=language))
        now = new if now is None else now
        if new:
            tested.append(ItemResult(key, title, new))
        if now:
            live_results.append(ItemResult(key, title, now))
        if new and not now:
            added.append(key)
        elif now and not new:
            dropped.append(key)
        elif new and {m.rule_id for m in new} != {m.rule_id for m in now}:
            changed.append(key)
    rule_counts, term_counts = _counts(tested)
    return BacktestReport(total, tuple(tested), rule_counts, term_counts, _counts(live_results)[0],
                          tuple(added), tuple(dropped), tuple(changed))


def backtest(matcher: Matcher, items: Iterable[BacktestItem]) -> BacktestReport:
    """Run one matcher (no draft): matches and counts; nothing added or dropped."""
    return compare(matcher, matcher, items)
