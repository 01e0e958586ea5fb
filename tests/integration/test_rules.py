"""The RuleBook: watchlist files reloaded live, broken files reported, member queries compiled in."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

from bot.pipeline.rules import RuleBook

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)

BORDER = """\
name: border
title: Border watch
priority: 1
terms:
  - term: Pamir
    why: [The Pamir highway is the main supply road of the eastern border.]
    match: [Pamir]
"""


def write(path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    later = time.time() + 1                     # a new mtime even on coarse file systems
    os.utime(path, (later, later))


async def test_changed_file_takes_effect_on_the_next_check(tmp_path):
    (tmp_path / "border.yaml").write_text(BORDER)
    rules = RuleBook(tmp_path)
    assert rules.load() == []
    assert rules.matcher.match("Landslide on the Pamir highway", "")
    assert not rules.matcher.match("Flooding near Ishkashim", "")
    assert rules.reload_if_changed() is False

    write(tmp_path / "border.yaml", BORDER.replace("match: [Pamir]", "match: [Pamir, Ishkashim]"))
    assert rules.reload_if_changed() is True
    found = rules.matcher.match("Flooding near Ishkashim", "")
    assert [h.text for m in found for h in m.hits] == ["Ishkashim"]


async def test_broken_file_is_reported_and_the_previous_version_keeps_working(tmp_path):
    path = tmp_path / "border.yaml"
    path.write_text(BORDER)
    rules = RuleBook(tmp_path)
    rules.load()
    write(path, BORDER.replace("match: [Pamir]", "match:\n      - Pamir AND (unclosed"))
    assert rules.reload_if_changed() is True
    assert len(rules.problems) == 1
    problem = str(rules.problems[0])
    assert str(path) in problem and ":8" in problem          # file and line of the bad query
    assert rules.matcher.match("Landslide on the Pamir highway", "")   # the old version still matches
    assert "border" in rules.watchlists


async def test_new_and_removed_files(tmp_path):
    rules = RuleBook(tmp_path)
    rules.load()
    assert rules.watchlists == {}
    write(tmp_path / "border.yaml", BORDER)
    assert rules.reload_if_changed() and "border" in rules.watchlists
    (tmp_path / "border.yaml").unlink()
    assert rules.reload_if_changed() and rules.watchlists == {}
    assert not rules.matcher.match("Landslide on the Pamir highway", "")


async def test_member_queries_join_the_same_matcher(storage, tmp_path):
    (tmp_path / "border.yaml").write_text(BORDER)
    rules = RuleBook(tmp_path, storage)
    rules.load()
    async with storage.begin() as tx:
        sid = await tx.add_subscription(platform="telegram", address="42", watchlist=None,
                                        query='"gold mine" NEAR/5 Zarafshan', now=NOW)
    await rules.subscriptions_changed()
    found = rules.matcher.match("Gold mine accident", "Workers were hurt at the Zarafshan gold mine.")
    assert [m.rule_id for m in found] == [f"sub:{sid}"]
    assert rules.matcher.match("Landslide on the Pamir highway", "")
    async with storage.begin() as tx:
        await tx.delete_subscriptions([sid])
    await rules.subscriptions_changed()
    assert not rules.matcher.match("Gold mine accident", "Workers were hurt at the Zarafshan gold mine.")


async def test_context_lines_come_from_the_matched_terms(tmp_path):
    (tmp_path / "border.yaml").write_text(BORDER)
    rules = RuleBook(tmp_path)
    rules.load()
    found = rules.matcher.match("Landslide on the Pamir highway", "")
    assert rules.context_for(found) == ["The Pamir highway is the main supply road of the eastern border."]


async def test_why_it_matters_starts_with_what_the_headline_is_about(watchlist_dir):
    rules = RuleBook(watchlist_dir)
    rules.load()
    found = rules.matcher.match("CSTO begins command drills near the Afghan border",
                                "Troops from five member states gathered in Tajikistan, where the Taliban "
                                "hold the other bank of the river.")
    assert {m.rule_id.split("#")[0] for m in found} == {"watchlist:central-asia"} and len(found) >= 3
    lines = rules.context_for(found)
    assert lines[0].startswith("The CSTO is the Russia-led defence pact")
    found = rules.matcher.match("Taliban and Tajik border guards trade fire",
                                "The CSTO said it was watching the incident in Tajikistan.")
    assert rules.context_for(found)[0].startswith("The Taliban have ruled Afghanistan")
