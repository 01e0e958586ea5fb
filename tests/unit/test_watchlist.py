"""Watchlist files: the schema, errors with file and line, and the shipped Central Asia list."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.core.match import compile_rules
from bot.core.watchlist import load_watchlist, load_watchlists
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CENTRAL_ASIA = ROOT / "config" / "watchlists" / "central-asia.yaml"

MINIMAL = """\
title: Test list
priority: 1
languages: [en, ru]
why: [Context for the whole list.]
terms:
  - term: Taliban
    why: Their border matters.
    match:
      - Taliban
      - талибы
    exclude: [recipe]
  - term: CSTO
    priority: 4
    match: case:CSTO
  - term: Dushanbe
"""


def test_a_watchlist_becomes_one_rule_per_term() -> None:
    watchlist = load_watchlist(MINIMAL, "config/watchlists/test-list.yaml")
    assert (watchlist.name, watchlist.title, watchlist.priority, watchlist.languages) == (
        "test-list", "Test list", 1, ("en", "ru"))
    rules = {r.id: r for r in watchlist.rules()}
    assert sorted(rules) == ["watchlist:test-list#csto", "watchlist:test-list#dushanbe", "watchlist:test-list#taliban"]
    taliban = rules["watchlist:test-list#taliban"]
    assert taliban.query == "((Taliban) OR (талибы)) AND NOT ((recipe))"
    assert taliban.why == ("Their border matters.", "Context for the whole list.")
    assert (taliban.priority, taliban.languages, taliban.watchlist) == (1, ("en", "ru"), "test-list")
    assert rules["watchlist:test-list#csto"].priority == 4
    assert rules["watchlist:test-list#dushanbe"].query == "(Dushanbe)"


def test_loaded_rules_match_with_their_why_lines() -> None:
    matcher = compile_rules(load_watchlist(MINIMAL, "w.yaml").rules())
    found = matcher.match("Действия талибов", "The CSTO is watching")
    assert [m.rule_id for m in found] == ["watchlist:w#csto", "watchlist:w#taliban"]
    assert found[1].why[0] == "Their border matters."
    assert not matcher.match("Taliban recipe", ""), "exclusions apply"


BROKEN = [
    # text, line, key, words of the message, words of the hint
    ("title: x\nterms:\n  - term: a\n    mach: [a]\n", 4, "terms[0].mach", 'unknown key "mach"', 'did you mean "match"'),
    ("title: x\nterms: [{term: a, match: ['a AND']}]\n", 2, "terms[0].match[0]",
     'AND needs a term after it, at "AND" (column 3) of: a AND', "docs/watchlists.md"),
    ("title: x\nterms:\n  - term: a\n    match:\n      - ok\n      - '\"unclosed'\n", 6, "terms[0].match[1]",
     "quote is never closed", None),
    ("terms: [{term: a}]\n", 1, "title", 'missing "title"', None),
    ("title: x\n", 1, "terms", 'missing "terms"', None),
    ("title: x\nterms: []\n", 2, "terms", "expected a list of terms", None),
    ("title: x\nlanguages: [en, tj]\nterms: [{term: a}]\n", 2, "languages", 'unknown language "tj"',
     'did you mean "tg"'),
    ("title: x\npriority: high\nterms: [{term: a}]\n", 2, "priority", "expected a whole number", None),
    ("title: x\npriority: true\nterms: [{term: a}]\n", 2, "priority", "expected a whole number", None),
    ("title: x\nterms:\n  - term: a\n  - term: A\n", 4, "terms[1].term", 'a term named "A" already exists', None),
    ("title: x\nterms:\n  - match: [a]\n", 3, "terms[0]", 'a term needs "term: <name>"', None),
    ("title: x\nterms:\n  - term: 12\n", 3, "terms[0].term", "expected non-empty text", "quote it"),
    ("title: [x\nterms: a\n", 2, None, "not valid YAML", "indentation"),
    ("", None, None, "the file is empty", None),
    ("name: Central Asia\ntitle: x\nterms: [{term: a}]\n", 1, "name", 'bad watchlist name "Central Asia"', None),
    ("title: x\ntitle: y\nterms: [{term: a}]\n", 2, "title", '"title" appears twice', None),
    ("- a\n- b\n", 1, None, "expected a mapping", None),
]


@pytest.mark.parametrize(("text", "line", "key", "message", "hint"), BROKEN)
def test_errors_name_file_line_key_and_a_fix(text, line, key, message, hint) -> None:
    with pytest.raises(ConfigError) as info:
        load_watchlist(text, "config/watchlists/x.yaml")
    error = info.value
    assert (error.file, error.line, error.key) == ("config/watchlists/x.yaml", line, key)
    assert message in error.message
    if hint:
        assert hint in (error.hint or "")
    assert str(error).startswith("config/watchlists/x.yaml")


def test_one_broken_file_does_not_block_the_others() -> None:
    good = "title: Good\nterms: [{term: Taliban}]\n"
    loaded, errors = load_watchlists({
        "w/b-broken.yaml": "title: Bad\nterms: [{term: a, match: ['NOT a']}]\n",
        "w/a-good.yaml": good,
        "w/c-same-name.yaml": "name: a-good\n" + good,
    })
    assert [w.name for w in loaded] == ["a-good"]
    assert [(e.file, e.key) for e in errors] == [("w/b-broken.yaml", "terms[0].match[0]"),
                                                  ("w/c-same-name.yaml", "name")]
    assert "already used by w/a-good.yaml" in errors[1].message


# --------------------------------------------------------------------------- the shipped watchlist


@pytest.fixture(scope="module")
def central_asia():
    watchlist = load_watchlist(CENTRAL_ASIA.read_text(encoding="utf-8"), str(CENTRAL_ASIA))
    matcher = compile_rules(watchlist.rules())
    assert matcher.errors == ()
    return watchlist, matcher


def test_central_asia_declares_its_subjects_and_languages(central_asia) -> None:
    watchlist, _ = central_asia
    assert watchlist.name == "central-asia"
    assert watchlist.languages == ("en", "ru", "tg")
    assert [t.name for t in watchlist.terms] == ["Tajikistan", "Taliban", "CSTO", "201st military base"]
    assert all(t.why for t in watchlist.terms) and watchlist.why


# Sentences written for these tests, modelled on the kinds of mention wire copy makes.
SENTENCES = [
    ("Russian and Tajik troops began joint exercises near the Afghan border.", {"tajikistan"}),
    ("Units of the 201st Russian military base took part in the drills.", {"201st-military-base"}),
    ("Moscow says its military base in Tajikistan will stay for decades.", {"tajikistan"}),
    ("Russia’s military base in Tajikistan will stay for decades.", {"tajikistan", "201st-military-base"}),
    ("The exercise is held at a range near Bokhtar.", {"tajikistan"}),
    ("The Taliban’s failure to contain ISIS-K worries Dushanbe.", {"taliban", "tajikistan"}),
    ("The CSTO’s secretary general warned of threats from Afghanistan.", {"csto"}),
    ("Leaders of the Collective Security Treaty Organisation met in Astana.", {"csto"}),
    ("Officials of the Islamic Emirate in Afghanistan met Chinese envoys.", {"taliban"}),
    ("Россия и Таджикистан начали совместные учения.", {"tajikistan"}),
    ("Военнослужащие 201-й российской военной базы провели стрельбы.", {"201st-military-base"}),
    ("Генсек ОДКБ заявил о рисках на таджикско-афганской границе.", {"csto", "tajikistan"}),
    ("Пограничники отметили активность талибов.", {"taliban"}),
    ("Нерӯҳои Тоҷикистон ва Русия машқ гузарониданд.", {"tajikistan"}),
    ("Намояндагони Толибон ба Душанбе омаданд.", {"taliban", "tajikistan"}),
    ("Пойгоҳи ҳарбии 201-уми Русия дар машқ ширкат дошт.", {"201st-military-base"}),
    # false-positive traps
    ("A Tajik plov recipe won the cooking award.", set()),
    # a capital's name alone is not security news: it needs a security or state context
    ("A food festival opened in Dushanbe on Sunday.", set()),
    ("В Душанбе открылся фестиваль национальной кухни.", set()),
    ("Troops were deployed in Khorog after the clashes.", {"tajikistan"}),
    ("Tajikistan beat Lebanon 2-1 in a World Cup qualifier.", set()),
    ("The Russian consulate in Mazar-e Sharif reopened.", set()),
    ("Read more at csto.example.org.", set()),
    ("The talib said the lesson was over.", set()),
]


@pytest.mark.parametrize(("sentence", "expected"), SENTENCES)
def test_central_asia_matches_the_mentions_an_analyst_wants(central_asia, sentence, expected) -> None:
    _, matcher = central_asia
    found = matcher.match("", sentence, language=None)
    assert {m.rule_id.split("#")[1] for m in found} == expected, [m.explain() for m in found]
    for match in found:
        assert match.why and match.watchlist == "central-asia"


# The example brief beside the project is read in place (never copied here):
# each paragraph is identified by a short phrase; the expected subjects follow.
EXAMPLE_PARAGRAPHS = [
    ("kicked off joint drills", {"tajikistan"}),
    ("Central Military District", {"tajikistan"}),
    ("numbering over 300", {"201st-military-base"}),
    ("largest military facility", {"201st-military-base", "tajikistan"}),
    ("cities of Dushanbe", {"tajikistan"}),
    ("signed in October 2012", {"201st-military-base", "tajikistan"}),
    ("Melon Meydan", {"tajikistan"}),
    ("Why it matters", {"tajikistan", "taliban"}),
    ("CSTO allies", {"csto"}),
    ("expanding presence", {"taliban"}),
    ("illegal armed group", {"taliban"}),
    ("Zamir Kabulov", set()),
    ("suspended its work", set()),
    ("Alexey Pereverzev", set()),
    ("thorough security analysis", set()),
]


def _example_brief() -> str:
    path = Path(os.environ.get("NEWSBOT_SHARED", ROOT.parent / "shared")) / "example-brief.md"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing in CI")
        pytest.skip(f"{path} not present: the example brief lives outside the repository")
    return path.read_text(encoding="utf-8")


def test_every_example_paragraph_about_a_watched_subject_matches_and_explains(central_asia) -> None:
    _, matcher = central_asia
    paragraphs = [p for p in _example_brief().splitlines() if p.strip() and len(p) > 30]
    assert len(paragraphs) == len(EXAMPLE_PARAGRAPHS)
    for phrase, expected in EXAMPLE_PARAGRAPHS:
        (paragraph,) = [p for p in paragraphs if phrase in p]
        found = matcher.match("", paragraph)
        assert {m.rule_id.split("#")[1] for m in found} == expected, (phrase, [m.explain() for m in found])
        for match in found:
            assert all(paragraph[h.start:h.end] == h.text for h in match.hits)
