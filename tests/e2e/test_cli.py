"""The real `newsbot` process: poll --once, feeds, check-config, db, exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp: Path, db_url: str, feed_urls: list[str], *, extra: str = "", watchlists: bool = False) -> Path:
    feeds = tmp / "feeds.yaml"
    feeds.write_text("feeds:\n" + "".join(f"  - url: {u}\n    allow_private: true\n" for u in feed_urls))
    wl_dir = tmp / "watchlists"
    wl_dir.mkdir(exist_ok=True)
    if watchlists:
        (wl_dir / "central-asia.yaml").write_text((ROOT / "config/watchlists/central-asia.yaml").read_text())
    cfg = tmp / "newsbot.yaml"
    cfg.write_text(f"database:\n  url: {db_url}\nfeeds:\n  lists: [feeds.yaml]\nwatchlists:\n  dir: watchlists\n"
                   + extra)
    return cfg


def newsbot_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_", "SLACK_"))}
    env.update(NEWSBOT_LOG_FORMAT="json", NEWSBOT_LOG_LEVEL="warning", PYTHONPATH=str(ROOT), **extra)
    return env


async def newsbot(*args: str, env: dict | None = None, timeout: float = 180) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env or newsbot_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def test_poll_once_shows_every_new_item_once_then_sends_conditional_requests(tmp_path, db_url):
    async with FeedServer(feeds=1000, items=5) as srv:
        cfg = write_config(tmp_path, db_url, [srv.url(n) for n in range(1000)])
        code, out, err = await newsbot("--config", str(cfg), "poll", "--once")
        assert code == 0, err[-2000:]
        new = [line for line in out.splitlines() if line.startswith("NEW ")]
        assert len(new) == 5000 and len(set(new)) == 5000
        assert "polled 1000 feeds: 1000 updated" in out
        assert srv.requests == 1000

        srv.reset_stats()
        code, out, err = await newsbot("--config", str(cfg), "poll", "--once", "--all")
        assert code == 0, err[-2000:]
        assert not [line for line in out.splitlines() if line.startswith("NEW ")]
        assert "1000 not modified (304)" in out and "0 new items" in out
        assert srv.requests == 1000
        assert "If-None-Match" in srv.last_headers or "If-Modified-Since" in srv.last_headers

        srv.advance(7, count=2)
        code, out, _ = await newsbot("--config", str(cfg), "poll", "--once", "--all")
        assert len([line for line in out.splitlines() if line.startswith("NEW ")]) == 2


async def test_poll_once_respects_schedule(tmp_path, db_url):
    async with FeedServer(feeds=3, items=2) as srv:
        cfg = write_config(tmp_path, db_url, [srv.url(n) for n in range(3)])
        assert (await newsbot("--config", str(cfg), "poll", "--once"))[0] == 0
        srv.reset_stats()
        code, out, _ = await newsbot("--config", str(cfg), "poll", "--once")
        assert code == 0 and "polled 0 feeds" in out and srv.requests == 0


async def test_feeds_list_shows_health_and_errors(tmp_path, db_url):
    async with FeedServer(feeds=1, items=2) as srv:
        cfg = write_config(tmp_path, db_url, [srv.url(0), srv.status_url(500), srv.status_url(404)])
        code, out, _ = await newsbot("--config", str(cfg), "poll", "--once")
        assert code == 0 and "2 failed" in out and "FAIL" in out
        code, out, _ = await newsbot("--config", str(cfg), "feeds", "list")
        assert code == 0
        assert re.search(r"ok\s+200\s+2", out)
        assert out.count("failing x1 since") == 2 and "last error:" in out
        code, out, _ = await newsbot("--config", str(cfg), "feeds", "list", "--json")
        rows = json.loads(out)
        assert {r["health"].split()[0] for r in rows} == {"ok", "failing"}
        assert all(r["next_check_at"] for r in rows)


async def test_opml_import_and_export_round_trip(tmp_path, db_url):
    cfg = write_config(tmp_path, db_url, [])
    opml = tmp_path / "in.opml"
    opml.write_text('<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>'
                    '<outline text="Group"><outline type="rss" text="A &amp; B" xmlUrl="https://a.example/rss"/>'
                    '<outline type="rss" text="C" xmlUrl="https://c.example/feed"/>'
                    '<outline type="rss" text="local" xmlUrl="file:///etc/passwd"/></outline></body></opml>')
    code, out, err = await newsbot("--config", str(cfg), "feeds", "import", str(opml))
    assert code == 0, err
    assert "imported 2 feeds" in out
    code, out, _ = await newsbot("--config", str(cfg), "feeds", "import", str(opml))
    assert "imported 0 feeds" in out and "2 already present" in out
    code, out, _ = await newsbot("--config", str(cfg), "feeds", "export")
    assert code == 0 and 'xmlUrl="https://a.example/rss"' in out and "A &amp; B" in out and "passwd" not in out
    bad = tmp_path / "bad.opml"
    bad.write_text("<html><body>not opml")
    code, _, err = await newsbot("--config", str(cfg), "feeds", "import", str(bad))
    assert code == 2 and "OPML" in err


@pytest.mark.parametrize("args", [[], ["poll"], ["db"], ["feeds"], ["feeds", "import"], ["nope"]])
def test_bad_usage_exits_2(args):
    r = subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=newsbot_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "usage:" in r.stderr


@pytest.mark.parametrize("args", [[], ["poll"], ["check-config"], ["db"], ["db", "upgrade"], ["feeds"],
                                  ["feeds", "list"], ["feeds", "import"], ["feeds", "export"], ["backtest"]])
def test_help_everywhere(args):
    r = subprocess.run([sys.executable, "-m", "bot", *args, "--help"], cwd=ROOT, env=newsbot_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "usage: newsbot" in r.stdout


def test_check_config_names_file_line_key_and_fix(tmp_path):
    cfg = tmp_path / "newsbot.yaml"
    cfg.write_text("database:\n  url: mysql://x\nfetch:\n  concurency: 3\n  max_redirects: 99\n")
    r = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "check-config"], cwd=ROOT,
                       env=newsbot_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert f"{cfg}:2 [database.url]" in r.stdout and "sqlite+aiosqlite" in r.stdout
    assert f"{cfg}:4 [fetch.concurency]: unknown setting" in r.stdout and "concurrency" in r.stdout
    assert f"{cfg}:5 [fetch.max_redirects]" in r.stdout and "20" in r.stdout
    assert "3 problems found" in r.stdout
    # the same error stops start-up
    r = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "poll", "--once"], cwd=ROOT,
                       env=newsbot_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "[database.url]" in r.stderr


def test_check_config_refuses_secrets_in_the_file(tmp_path):
    cfg = tmp_path / "newsbot.yaml"
    cfg.write_text("telegram:\n  token: 123:abc\n")
    r = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "check-config"], cwd=ROOT,
                       env=newsbot_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "environment only" in r.stdout and "TELEGRAM_BOT_TOKEN" in r.stdout


def test_environment_overrides_the_file(tmp_path):
    cfg = tmp_path / "newsbot.yaml"
    cfg.write_text("fetch:\n  concurrency: 3\n")
    r = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "check-config"], cwd=ROOT,
                       env=newsbot_env(NEWSBOT_FETCH__CONCURRENCY="not-a-number"), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "[fetch.concurrency]" in r.stdout


def test_check_config_of_the_shipped_settings_passes():
    r = subprocess.run([sys.executable, "-m", "bot", "check-config"], cwd=ROOT, env=newsbot_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "settings OK" in r.stdout and "3 feeds" in r.stdout


async def test_db_upgrade_creates_the_sqlite_file(tmp_path):
    db = tmp_path / "sub" / "dir" / "n.db"
    env = newsbot_env(NEWSBOT_DATABASE__URL=f"sqlite+aiosqlite:///{db}")
    code, out, err = await newsbot("db", "upgrade", env=env)
    assert code == 0, err and db.exists() and "database at" in out
    code, out, _ = await newsbot("db", "current", env=env)
    assert code == 0 and out.strip() != "empty"


async def test_db_downgrade_goes_back_and_upgrade_returns(tmp_path):
    env = newsbot_env(NEWSBOT_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    assert (await newsbot("db", "upgrade", env=env))[0] == 0
    head = (await newsbot("db", "current", env=env))[1].strip()
    code, _, err = await newsbot("db", "downgrade", "0099", env=env)
    assert code == 2 and "no schema revision '0099'" in err and "0001" in err
    code, out, err = await newsbot("db", "downgrade", "0001", env=env)
    assert code == 0, err
    assert out.strip() == f"database at 0001 (was {head})"
    assert (await newsbot("db", "current", env=env))[1].strip() == "0001"
    code, out, _ = await newsbot("db", "upgrade", env=env)
    assert code == 0 and out.strip() == f"database at {head} (was 0001)"


async def test_unreachable_database_is_a_runtime_error():
    env = newsbot_env(NEWSBOT_DATABASE__URL="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    code, _, err = await newsbot("feeds", "list", env=env)
    assert code == 1 and "check database.url" in err
