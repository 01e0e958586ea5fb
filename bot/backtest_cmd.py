"""`newsbot backtest`: run a watchlist (or a draft of it) over stored items or a feed, explained.

Items come from the database (`--since 7d`, the default) or from one feed
(`--feed FILE_OR_URL`, fetched with the usual safety limits; an operator's
command may read local files and private addresses). The pure comparison is
`bot.core.backtest`; this module only gathers items, shows progress and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from bot.app import App
from bot.core.backtest import BacktestReport, backtest, compare
from bot.core.match import compile_rules
from bot.errors import ConfigError
from bot.feedlist import normalise_feed_url
from bot.pipeline.rules import load_watchlist_dir
from bot.settings import Config, parse_duration

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


async def run_backtest(args: argparse.Namespace, config: Config) -> int:
    live, draft = _watchlists(args, config)
    if live is None and draft is None:
        return EXIT_USAGE
    live_m = compile_rules(live.rules()) if live else compile_rules([])
    draft_m = compile_rules(draft.rules()) if draft else None
    for m in (live_m, draft_m):
        for err in (m.errors if m else ()):
            print(f"error: {err}", file=sys.stderr)
    async with App(config) as app:
        if args.feed:
            items = await _feed_items(app, args.feed)
            if items is None:
                return EXIT_RUNTIME
        else:
            try:
                since = timedelta(seconds=parse_duration(args.since))
            except ValueError as exc:
                print(f"newsbot: --since: {exc}", file=sys.stderr)
                return EXIT_USAGE
            async with app.storage.read() as tx:
                stored = await tx.recent_items(since=datetime.now(timezone.utc) - since)
            items = [(f"item {i.id}", i.title, i.summary, i.language) for i in stored]
    progress = _progress(items)
    report = compare(live_m, draft_m, progress) if draft_m else backtest(live_m, progress)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        titles = {key: title for key, title, _, _ in items}
        _print(report, args, live_name=(live or draft).name, draft=draft is not None, titles=titles)
    return EXIT_OK


def _watchlists(args, config: Config):
    found, problems = load_watchlist_dir(config.resolve(config.settings.watchlists.dir))
    live = found.get(args.watchlist)
    draft = None
    if args.draft:
        from bot.core.watchlist import load_watchlist
        try:
            draft = load_watchlist(Path(args.draft).read_text(encoding="utf-8"), str(args.draft))
        except (OSError, ConfigError) as exc:
            print(f"newsbot: draft: {exc}", file=sys.stderr)
            return None, None
    if live is None and draft is None:
        broken = [p for p in problems if p.file and Path(p.file).stem == args.watchlist]
        hint = str(broken[0]) if broken else f"known watchlists: {', '.join(sorted(found)) or 'none'}"
        print(f"newsbot: no watchlist named {args.watchlist!r} ({hint})", file=sys.stderr)
    return live, draft


async def _feed_items(app: App, where: str):
    from bot.core.parse import parse_feed
    from bot.types import Feed, Fetched
    url = normalise_feed_url(where, base=Path.cwd())
    app.build_poller()
    res = await app.fetcher.fetch(Feed(id=0, url=url, allow_private=True))
    if not isinstance(res, Fetched):
        print(f"newsbot: cannot read {where}: {getattr(res, 'reason', 'not modified')}", file=sys.stderr)
        return None
    parsed = parse_feed(res.body, url=res.final_url, content_type=res.content_type)
    if parsed.error:
        print(f"newsbot: {where} is not a readable feed: {parsed.error}", file=sys.stderr)
        return None
    return [(i.link or i.key, i.title, i.summary, i.language or parsed.language) for i in parsed.items]


def _progress(items: list) -> Iterator:
    from tqdm import tqdm
    return iter(tqdm(items, desc="matching", unit="item", file=sys.stderr, leave=False,
                     disable=not sys.stderr.isatty() or len(items) < 500))


def _print(report: BacktestReport, args, *, live_name: str, draft: bool, titles: dict) -> None:
    print(f"{report.items} items, {len(report.matched)} matched by {'the draft of ' if draft else ''}{live_name}")
    for r in report.matched[:args.limit]:
        print(f"\n• {r.title}  [{r.key}]")
        for m in r.matches:
            print(f"    {m.explain()}")
    if len(report.matched) > args.limit:
        print(f"\n… and {len(report.matched) - args.limit} more (--limit N to see them)")
    if report.term_counts:
        print("\nitems per term:")
        for term, n in report.term_counts.items():
            print(f"  {n:>6}  {term}")
    if draft:
        print(f"\ncompared with the live version: +{len(report.added)} added, -{len(report.dropped)} dropped, "
              f"{len(report.changed)} matched by other terms")
        for k in report.added[:args.limit]:
            print(f"  + {titles.get(k, k)}  [{k}]")
        for k in report.dropped[:args.limit]:
            print(f"  - {titles.get(k, k)}  [{k}]")
