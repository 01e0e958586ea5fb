"""bot.core.text: HTML → text, whitespace, links, hashes."""

from __future__ import annotations

import hashlib
import time

import pytest

from bot.core.text import (
    content_hash,
    fold_ws,
    html_to_text,
    looks_like_html,
    normalise_link,
    resolve_link,
    text_to_text,
)


@pytest.mark.parametrize(("markup", "text"), [
    ("", ""),
    (None, ""),
    ("plain words", "plain words"),
    ("  lots \n of\t space  ", "lots of space"),
    ("Fish &amp; chips &#8211; &eacute;t&eacute; &hellip;", "Fish & chips – été …"),
    ("<p>One</p><p>Two</p>", "One\n\nTwo"),
    ("<div><p>One</p>\n\n<p> Two </p></div>", "One\n\nTwo"),
    ("line<br>next<br/>last", "line\nnext\nlast"),
    ("<P>Upper</P><BR>case", "Upper\n\ncase"),
    ("a <b>bold</b> <a href='/x'>link</a>.", "a bold link."),
    ("<td>1</td><td>2</td>", "1 2"),
    ("before<script>alert('x')</script>after", "before after"),
    ("before<STYLE>p { color: red }</STYLE>after", "before after"),
    ("shown<!-- hidden -->too", "shown too"),
    ("text<script>never closed", "text"),
    ("3 < 5 and 7 > 2", "3 < 5 and 7 > 2"),
    ("<img alt='a > b' src=x.png>caption", "caption"),
    ('<source src="x.mp3="audio/mpeg" />after', "after"),
    ("&lt;b&gt;escaped tags stay text&lt;/b&gt;", "<b>escaped tags stay text</b>"),
    ("non\xa0breaking\u2009spaces", "non breaking spaces"),
    ("<iframe src=x>fallback words</iframe>", "fallback words"),
    ("a\x00b\x01c<b>d</b>", "abcd"),
])
def test_html_to_text(markup: str | None, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize("hostile", [
    "<a" * 200_000,
    "<script>" * 100_000,
    "<!--" * 100_000,
    "<p " * 100_000,
    '<a href="' + "x" * 400_000,
    "&" * 400_000,
])
def test_html_to_text_stays_linear_on_hostile_input(hostile: str) -> None:
    start = time.perf_counter()
    html_to_text(hostile)
    assert time.perf_counter() - start < 2.0        # a quadratic regex would take minutes


@pytest.mark.parametrize(("value", "expected"), [
    ("#include </etc/shadow>", False),              # not an HTML element
    ("x < y", False),                               # no close tag, no entity
    ("<b>Big</b> news", True),
    ("AT&amp;T", True),
    ("&madeup;", False),
    ("History of the <blink> tag", False),          # no close tag
])
def test_looks_like_html(value: str, expected: bool) -> None:
    assert looks_like_html(value) is expected


@pytest.mark.parametrize(("value", "expected"), [
    ("#include </etc/shadow>", "#include </etc/shadow>"),
    ("<b>Big</b>   news", "Big news"),
    ("Tram line 2 <test> run", "Tram line 2 <test> run"),
])
def test_text_to_text_strips_only_real_html(value: str, expected: str) -> None:
    assert text_to_text(value) == expected


def test_fold_ws() -> None:
    assert fold_ws(" a\t\nb\xa0 c ") == "a b c"
    assert fold_ws(None) == ""


@pytest.mark.parametrize(("link", "base", "expected"), [
    ("posts/1.html", "https://h.example/blog/feed.xml", "https://h.example/blog/posts/1.html"),
    ("/about", "https://h.example/blog/", "https://h.example/about"),
    ("https://other.example/x", "https://h.example/", "https://other.example/x"),
    ("  https://h.example/x  ", None, "https://h.example/x"),
    ("relative", None, "relative"),
    ("", "https://h.example/", None),
    (None, "https://h.example/", None),
])
def test_resolve_link(link: str | None, base: str | None, expected: str | None) -> None:
    assert resolve_link(link, base) == expected


@pytest.mark.parametrize(("link", "base", "expected"), [
    ("HTTPS://News.Example.ORG/a/b?id=3#comments", None, "https://news.example.org/a/b?id=3"),
    ("https://n.example/a?utm_source=rss&id=7&utm_medium=feed&fbclid=x", None, "https://n.example/a?id=7"),
    ("http://n.example:80/a", None, "http://n.example/a"),
    ("https://n.example:443", None, "https://n.example/"),
    ("https://n.example:8443/a", None, "https://n.example:8443/a"),
    ("story/9", "https://n.example/news/", "https://n.example/news/story/9"),
    ("", None, ""),
])
def test_normalise_link(link: str, base: str | None, expected: str) -> None:
    assert normalise_link(link, base) == expected


def test_content_hash_is_sha1_of_parts_joined_by_a_unit_separator() -> None:
    expected = hashlib.sha1("Title\x1fSummary\x1fhttps://x.example/".encode()).hexdigest()
    assert content_hash("Title", "Summary", "https://x.example/") == expected
    assert content_hash("a", None) == content_hash("a", "")
    assert content_hash("ab", "c") != content_hash("a", "bc")    # the separator matters
