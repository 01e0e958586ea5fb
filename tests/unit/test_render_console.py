"""Console rendering: readable plain text, only sections with content, no escapes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.core.render_console import render_console, render_console_digest
from bot.types import Brief, SourceRef

WHEN = datetime(2024, 3, 27, 6, 5, tzinfo=timezone.utc)
FULL = Brief(
    headline="Russia, Tajikistan begin joint drills near Afghan border",
    lede="Russian and Tajik troops began joint drills at the Kharb-Maidon training ground.",
    why_it_matters=("The 201st base is Russia's largest military facility abroad.",),
    go_deeper=("The drills run until April 7.", "Over 300 troops take part."),
    zoom_out=(("CSTO chief warns of threats", "https://example.org/csto"), ("No link here", None)),
    sources=(SourceRef("Pamir Wire", "t", "https://example.org/a", WHEN),
             SourceRef("Asia Daily", "t", "https://example.org/b", WHEN),
             SourceRef("Pamir Wire", "t", "https://example.org/c", WHEN)),
    link="https://example.org/a", published=WHEN, matched_terms=("201st base", "Tajikistan"),
    watchlist="central-asia")


def test_full_brief_reads_in_order_with_every_section() -> None:
    out = render_console(FULL)
    assert out == (
        "== Russia, Tajikistan begin joint drills near Afghan border\n\n"
        "Russian and Tajik troops began joint drills at the Kharb-Maidon training ground.\n\n"
        "Why it matters:\n  • The 201st base is Russia's largest military facility abroad.\n\n"
        "Go deeper:\n  • The drills run until April 7.\n  • Over 300 troops take part.\n\n"
        "Zoom out:\n  • CSTO chief warns of threats — https://example.org/csto\n  • No link here\n\n"
        "Pamir Wire, Asia Daily · 06:05 UTC, 27 Mar 2024 · matched: 201st base, Tajikistan\n"
        "watchlist: central-asia\n"
        "https://example.org/a\n")


def test_thin_brief_has_no_empty_sections() -> None:
    out = render_console(Brief(headline="CSTO chief arrives in Dushanbe", lede=""))
    assert out == "== CSTO chief arrives in Dushanbe\n"


def test_update_is_marked_and_time_is_shown_in_utc() -> None:
    tashkent = timezone(timedelta(hours=5))
    brief = Brief(headline="Toll rises", lede="Twelve dead.", is_update=True,
                  published=datetime(2024, 4, 2, 10, 30, tzinfo=tashkent))
    out = render_console(brief)
    assert out.startswith("== UPDATE: Toll rises\n")
    assert "05:30 UTC, 2 Apr 2024" in out


@pytest.mark.parametrize("width", [40, 60, 100])
def test_lines_wrap_at_width(width: int) -> None:
    long = Brief(headline="Headline " * 12, lede="word " * 80, go_deeper=("detail " * 40,))
    for line in render_console(long, width=width).splitlines():
        assert len(line) <= width


def test_feed_text_cannot_send_terminal_escapes_or_unsafe_links() -> None:
    evil = Brief(headline="Hi\x1b[2J\x1b]0;owned\x07 there", lede="line\rover\x00written\u202e",
                 link="javascript:alert(1)", zoom_out=(("Old", "file:///etc/passwd"),))
    out = render_console(evil)
    assert "\x1b" not in out and "\r" not in out and "\x00" not in out and "\u202e" not in out
    assert "javascript:" not in out and "file:" not in out
    assert out.startswith("== Hi there\n")


def test_digest_lists_stories_counts_the_rest_and_says_when_empty() -> None:
    thin = Brief(headline="Second story", lede="It happened.")
    out = render_console_digest([FULL, thin], extra_count=3, title="Daily digest")
    assert out == (
        "== Daily digest\n\n"
        "1. Russia, Tajikistan begin joint drills near Afghan border\n"
        "   The 201st base is Russia's largest military facility abroad.\n"
        "   Pamir Wire, Asia Daily · https://example.org/a\n\n"
        "2. Second story\n   It happened.\n\n"
        "…and 3 more stories.\n")
    assert render_console_digest([], 0, "Hourly") == "== Hourly\n\nNo new stories.\n"
    assert render_console_digest([], 1, "Hourly").endswith("…and 1 more story.\n")
