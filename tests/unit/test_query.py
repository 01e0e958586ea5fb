"""The query language: how queries are understood, and errors that point at the token."""

from __future__ import annotations

import pytest

from bot.core.query import OPERATOR_LIMITS, Limits, describe, parse_query, terms
from bot.errors import QueryError

UNDERSTOOD = [
    ("Taliban", "taliban"),
    ("Tajik troops", "tajik AND troops"),
    ("Tajik AND troops", "tajik AND troops"),
    ("a OR b c", "a OR (b AND c)"),
    ("(a OR b) c", "(a OR b) AND c"),
    ("Taliban NOT recipe", "taliban AND NOT recipe"),
    ("Taliban -recipe", "taliban AND NOT recipe"),
    ("NOT a b", "NOT a AND b"),
    ('Tajik -"plov recipe"', 'tajik AND NOT "plov recipe"~3'),
    ("Taliban -(cricket OR recipe)", "taliban AND NOT (cricket OR recipe)"),
    ('"201st base"', '"201st base"~3'),
    ('"201st base"~0', '"201st base"~0'),
    ("“Taliban’s forces”~2", '"taliban forces"~2'),
    ("«Исламский эмират»", '"исламский эмират"~3'),
    ("Taliban-led", '"taliban led"~0'),
    ("Tajik*", "tajik*"),
    ('"Russia* base"~2', '"russia* base"~2'),
    ("Tajik* NEAR/3 (forces OR troops)", "tajik* NEAR/3 (forces OR troops)"),
    ("a NEAR/2 b NEAR/4 c", "(a NEAR/2 b) NEAR/4 c"),
    ("title:Taliban", "title:taliban"),
    ("title:(Taliban OR CSTO)", "title:taliban OR title:csto"),
    ('summary:"CSTO chief"', 'summary:"csto chief"~3'),
    ("case:CSTO", "case:CSTO"),
    ("title:case:CSTO", "title:case:CSTO"),
    ("Ｔａｌｉｂａｎ", "taliban"),
    ("Ёлка", "елка"),
]


@pytest.mark.parametrize(("query", "understood"), UNDERSTOOD)
def test_describe_shows_how_the_query_was_understood(query: str, understood: str) -> None:
    assert describe(parse_query(query)) == understood


ERRORS = [
    # query, position, length, words of the message
    ("Taliban AND", 8, 3, "AND needs a term after it"),
    ("AND Taliban", 0, 3, "AND needs a term before it"),
    ("Taliban OR", 8, 2, "OR needs a term after it"),
    ("a AND AND b", 2, 3, "AND needs a term after it"),
    ("(Taliban OR CSTO", 0, 1, "never closed"),
    ("Taliban)", 7, 1, "no matching ("),
    ("a (b OR c))", 10, 1, "no matching ("),
    ("()", 0, 1, "empty parentheses"),
    ('""', 0, 2, "empty phrase"),
    ('" "', 0, 3, "empty phrase"),
    ('Taliban "CSTO', 8, 1, "quote is never closed"),
    ('"201st base"~', 12, 1, "~ needs a number"),
    ("a NEAR b", 2, 4, "NEAR needs a distance"),
    ("a NEAR/99 b", 2, 7, "NEAR distance is at most 20"),
    ("a NEAR/3", 2, 6, "NEAR needs a term after it"),
    ("a NEAR/3 NOT b", 2, 6, "NEAR joins words"),
    ("a NEAR/3 (b AND c)", 2, 6, "NEAR joins words"),
    ("NOT Taliban", 0, 3, "NOT needs something that must appear"),
    ("-Taliban", 0, 3, "NOT needs something that must appear"),
    ("CSTO OR NOT Taliban", 8, 3, "NOT needs something that must appear"),
    ("Taliban and CSTO", 8, 3, "write AND in capitals"),
    ("Taliban or CSTO", 8, 2, "write OR in capitals"),
    ("Ta*", 0, 3, "at least 3 letters"),
    ("Taj*k", 3, 1, "only at the end"),
    ("*", 0, 1, "no letters or digits"),
    ("body:Taliban", 0, 5, "unknown or repeated prefix"),
    ("title:title:x", 6, 6, "unknown or repeated prefix"),
    ("title: Taliban", 0, 6, "without a space"),
    ("case:(a OR b)", 0, 5, "case: applies to one word"),
    ("title:(summary:x)", 0, 6, "use one field"),
    ("!!!", 0, 3, "no letters or digits"),
    ("   ", 0, 1, "empty query"),
]


@pytest.mark.parametrize(("query", "position", "length", "message"), ERRORS)
def test_errors_point_at_the_offending_token(query: str, position: int, length: int, message: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(query)
    error = info.value
    assert message in error.message
    assert (error.position, error.length) == (position, length)
    assert error.pointer().splitlines()[1] == " " * position + "^" * length


def test_member_queries_have_limits_operators_have_wider_ones() -> None:
    long_query = " OR ".join(f"word{i}" for i in range(40))
    with pytest.raises(QueryError, match="too many terms"):
        parse_query(long_query)
    assert len(terms(parse_query(long_query, OPERATOR_LIMITS))) == 40
    with pytest.raises(QueryError, match="query too long") as info:
        parse_query("x" * 501)
    assert info.value.position == 500
    nested = "(" * 9 + "a" + ")" * 9
    with pytest.raises(QueryError, match="nest at most 8"):
        parse_query(nested)
    with pytest.raises(QueryError, match="at most 2 words"):
        parse_query('"a b c"', Limits(max_phrase_words=2))


def test_terms_keep_how_they_were_written_and_where() -> None:
    query = 'title:Taliban OR "201st base"~6 -recipe'
    found = terms(parse_query(query))
    assert [(t.text, t.pos, t.field) for t in found] == [
        ("title:Taliban", 6, "title"), ('"201st base"~6', 17, None), ("recipe", 33, None)]
    assert [w.gap for w in found[1].words] == [0, 6]


def test_case_sensitive_words_keep_their_written_form() -> None:
    (term,) = terms(parse_query("case:ＣＳＴＯ’s"))
    assert term.case and [w.raw for w in term.words] == ["CSTO"]
