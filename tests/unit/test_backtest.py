"""Backtest: matches, counts per term, and what a draft adds or drops compared with live."""

from __future__ import annotations

import json

from bot.core.backtest import backtest, compare
from bot.core.match import compile_rules
from bot.core.watchlist import load_watchlist

LIVE = """\
title: Live
terms:
  - term: Taliban
  - term: CSTO
    match: [case:CSTO]
"""

DRAFT = """\
title: Draft
terms:
  - term: Taliban
    match: [Taliban, Akhundzada]
    exclude: [cricket]
  - term: CSTO
    match: [case:CSTO, '"Collective Security Treaty"']
"""

ITEMS = [
    ("k1", "Taliban take district", "", "en"),
    ("k2", "Akhundzada decree", "The supreme leader issued a decree.", "en"),
    ("k3", "Taliban cricket team wins", "", "en"),
    ("k4", "Collective Security Treaty summit", "Leaders met.", "en"),
    ("k5", "Weather", "Sunny.", "en"),
    ("k6", "CSTO drills", "The Collective Security Treaty allies train.", "en"),
]


def _matcher(text: str):
    return compile_rules(load_watchlist(text, "config/watchlists/ca.yaml").rules())


def test_compare_reports_what_the_draft_adds_drops_and_changes() -> None:
    report = compare(_matcher(LIVE), _matcher(DRAFT), ITEMS)
    assert report.items == 6
    assert [r.key for r in report.matched] == ["k1", "k2", "k4", "k6"]
    assert report.added == ("k2", "k4")
    assert report.dropped == ("k3",)
    assert report.changed == ()
    assert report.rule_counts == {"watchlist:ca#taliban": 2, "watchlist:ca#csto": 2}
    assert report.live_rule_counts == {"watchlist:ca#taliban": 2, "watchlist:ca#csto": 1}
    assert report.term_counts == {"Taliban": 1, "Akhundzada": 1, '"Collective Security Treaty"': 2, "case:CSTO": 1}


def test_changed_items_matched_by_different_terms() -> None:
    report = compare(_matcher(LIVE), _matcher(DRAFT.replace("term: CSTO", "term: Alliance")), ITEMS)
    assert report.changed == ("k6",)


def test_backtest_without_a_draft_only_reports_matches() -> None:
    report = backtest(_matcher(LIVE), ITEMS)
    assert [r.key for r in report.matched] == ["k1", "k3", "k6"]
    assert (report.added, report.dropped, report.changed) == ((), (), ())
    assert report.rule_counts == report.live_rule_counts


def test_json_report_carries_explanations() -> None:
    data = json.loads(json.dumps(compare(_matcher(LIVE), _matcher(DRAFT), ITEMS).to_json()))
    first = data["matched"][0]
    assert first["key"] == "k1"
    (match,) = first["matches"]
    assert match["rule_id"] == "watchlist:ca#taliban"
    assert match["hits"] == [{"term": "Taliban", "field": "title", "text": "Taliban", "start": 0, "end": 7}]
    assert match["explanation"].startswith("watchlist:ca#taliban")
    assert data["added"] == ["k2", "k4"] and data["dropped"] == ["k3"]
