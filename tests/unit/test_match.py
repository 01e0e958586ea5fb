"""The matcher: one automaton for all rules, explanations with original offsets, rebuilds."""

from __future__ import annotations

import pytest

from bot.core.match import Rule, compile_rules
from bot.types import Hit


def _hits(query: str, title: str, summary: str, languages: tuple[str, ...] = ()) -> list[Hit]:
    (match,) = compile_rules([Rule("r", query, languages=languages)]).match(title, summary)
    return list(match.hits)


EXPLAINED = [
    # query, title, summary, [(term, field, text, start)]
    ("Taliban", "Taliban advance", "", [("Taliban", "title", "Taliban", 0)]),
    ("Taliban", "", "As the “Taliban’s” envoy", [("Taliban", "summary", "Taliban", 8)]),
    ('"201st base"', "", "Russia’s 201st military base", [('"201st base"', "summary", "201st military base", 9)]),
    ("Таджикистан", "", "учения в Таджикистане", [("Таджикистан", "summary", "Таджикистане", 9)]),
    ('"201-я военная база"', "", "бойцы 201-й военной базы", [('"201-я военная база"', "summary", "201-й военной базы", 6)]),
    ("Taliban", "ＴＡＬＩＢＡＮ", "", [("Taliban", "title", "ＴＡＬＩＢＡＮ", 0)]),
    ("café", "", "ﬁne Cafe\u0301 Taliban", [("café", "summary", "Cafe\u0301", 4)]),
    ("政府", "中国政府", "", [("政府", "title", "政府", 2)]),
    ("Tajik* NEAR/3 forces", "", "Russian and Tajik forces",
     [("Tajik*", "summary", "Tajik", 12), ("forces", "summary", "forces", 18)]),
    ("Taliban OR CSTO", "CSTO meets", "the Taliban said", [("CSTO", "title", "CSTO", 0), ("Taliban", "summary", "Taliban", 4)]),
    ("Taliban", "", "Taliban, Taliban", [("Taliban", "summary", "Taliban", 0), ("Taliban", "summary", "Taliban", 9)]),
]


@pytest.mark.parametrize(("query", "title", "summary", "expected"), EXPLAINED)
def test_each_hit_names_term_field_original_text_and_offset(query, title, summary, expected) -> None:
    hits = _hits(query, title, summary, ("ru",))
    assert [(h.term, h.field, h.text, h.start) for h in hits] == expected
    for h in hits:
        assert (title if h.field == "title" else summary)[h.start:h.end] == h.text


def test_a_match_carries_rule_watchlist_query_why_and_priority() -> None:
    rule = Rule("watchlist:ca#csto", "case:CSTO", watchlist="ca", why=("pact", "region"), priority=3)
    (match,) = compile_rules([rule]).match("", "The CSTO’s chief")
    assert (match.rule_id, match.watchlist, match.query, match.why, match.priority) == (
        "watchlist:ca#csto", "ca", "case:CSTO", ("pact", "region"), 3)
    assert match.explain() == 'watchlist:ca#csto [case:CSTO] summary:"CSTO"@4 (case:CSTO)'


def test_all_rules_share_one_matcher_and_come_back_highest_priority_first() -> None:
    matcher = compile_rules([
        Rule("low", "Taliban", priority=0),
        Rule("high", "Tajikistan", priority=5),
        Rule("none", "CSTO"),
        Rule("mid", '"border guards"', priority=2),
    ])
    found = matcher.match("Taliban fighters", "Tajikistan border guards on alert")
    assert [m.rule_id for m in found] == ["high", "mid", "low"]


def test_a_bad_rule_is_reported_and_the_others_still_match() -> None:
    matcher = compile_rules([Rule("good", "Taliban"), Rule("bad", "Taliban AND"), Rule("good2", "CSTO")])
    assert [e.rule_id for e in matcher.errors] == ["bad"]
    assert matcher.errors[0].error.position == 8
    assert "bad: AND needs a term after it" in str(matcher.errors[0])
    assert [m.rule_id for m in matcher.match("Taliban and CSTO", "")] == ["good", "good2"]


def test_duplicate_rule_ids_are_errors() -> None:
    matcher = compile_rules([Rule("r", "Taliban"), Rule("r", "CSTO")])
    assert [e.rule_id for e in matcher.errors] == ["r"]
    assert [m.query for m in matcher.match("Taliban CSTO", "")] == ["Taliban"]


def test_with_rules_adds_replaces_and_removes() -> None:
    matcher = compile_rules([Rule("a", "Taliban"), Rule("b", "CSTO"), Rule("c", "bad AND")])
    changed = matcher.with_rules([Rule("a", "Dushanbe"), Rule("d", "Tajikistan")], ["b", "c"])
    assert sorted(r.id for r in changed.rules) == ["a", "d"]
    assert changed.errors == ()
    assert [m.rule_id for m in changed.match("Taliban CSTO Dushanbe Tajikistan", "")] == ["a", "d"]
    assert [m.rule_id for m in matcher.match("Taliban CSTO", "")] == ["a", "b"], "the old matcher is unchanged"


def test_no_rules_and_empty_text_match_nothing() -> None:
    assert compile_rules([]).match("Taliban", "CSTO") == []
    assert compile_rules([Rule("r", "Taliban")]).match("", "") == []


def test_item_language_picks_the_stemmer_among_the_declared_ones() -> None:
    # "-ро" (accusative) is a Tajik ending: the Tajik stemmer strips it, the Russian one does not.
    matcher = compile_rules([Rule("r", "Тоҷикистон", languages=("ru", "tg"))])
    assert matcher.match("", "Тоҷикистонро дастгирӣ кард", language="tg")
    assert not matcher.match("", "Тоҷикистонро дастгирӣ кард", language="ru")
    assert matcher.match("", "Тоҷикистонро дастгирӣ кард"), "unknown language: any declared one"


def test_work_stays_linear_on_adversarial_text() -> None:
    # Thousands of repeats of a phrase's words: bounded work per occurrence, no blow-up.
    matcher = compile_rules([Rule("r", '"alpha alpha alpha beta"~20 NEAR/20 (alpha OR gamma)'),
                             Rule("s", "alph* NOT beta")])
    found = matcher.match("", "alpha " * 5000 + "gamma")
    assert [m.rule_id for m in found] == ["s"]
