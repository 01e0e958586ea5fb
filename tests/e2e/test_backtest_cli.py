"""`newsbot backtest`: over a feed file, over stored items, with a draft, as JSON."""

from __future__ import annotations

import json

from tests.e2e.test_cli import ROOT, newsbot, write_config

SAMPLE = ROOT / "config" / "samples" / "regional-wire.xml"


async def test_backtest_over_a_feed_explains_each_match(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url, [], watchlists=True)
    code, out, err = await newsbot("--config", str(cfg), "backtest", "central-asia", "--feed", str(SAMPLE))
    assert code == 0, err
    assert "5 items, 3 matched by central-asia" in out
    assert 'title:"Taliban"' in out and "watchlist:central-asia#taliban" in out
    assert "items per term:" in out
    assert "Cotton harvest" not in out                       # not security news


async def test_backtest_json_and_draft_comparison(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url, [], watchlists=True)
    draft = tmp_path / "draft.yaml"
    text = (tmp_path / "watchlists" / "central-asia.yaml").read_text(encoding="utf-8")
    draft.write_text(text.replace("      - Taliban\n", "      - Taliban\n      - cotton\n", 1), encoding="utf-8")
    code, out, err = await newsbot("--config", str(cfg), "backtest", "central-asia", "--feed", str(SAMPLE),
                                   "--draft", str(draft), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["items"] == 5 and len(report["added"]) == 1 and report["dropped"] == []
    assert any("cotton" in r["title"].lower() for r in report["matched"])
    code, out, _ = await newsbot("--config", str(cfg), "backtest", "central-asia", "--feed", str(SAMPLE),
                                 "--draft", str(draft))
    assert "+1 added, -0 dropped" in out and "+ Cotton harvest" in out


async def test_backtest_over_stored_items(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url, [SAMPLE.as_uri()], watchlists=True)
    assert (await newsbot("--config", str(cfg), "poll", "--once"))[0] == 0
    code, out, _ = await newsbot("--config", str(cfg), "backtest", "central-asia", "--since", "3650d")
    assert code == 0 and "5 items, 3 matched" in out


async def test_backtest_unknown_watchlist_is_a_usage_error(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url, [], watchlists=True)
    code, _, err = await newsbot("--config", str(cfg), "backtest", "nope", "--feed", str(SAMPLE))
    assert code == 2 and "no watchlist named 'nope'" in err and "central-asia" in err
