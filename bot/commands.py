"""What each CLI command does. Thin: builds the App, calls the pipeline, prints."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

import structlog

from bot.app import App
from bot.errors import ConfigError
from bot.settings import Config

log = structlog.get_logger(__name__)
EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


def _progress(total: int | None, desc: str):
    """A progress bar on a terminal, nothing otherwise (logs carry the figures)."""
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="feed", file=sys.stderr, disable=not sys.stderr.isatty(),
                leave=False, dynamic_ncols=True)


# ---------------------------------------------------------------------- poll


async def poll_once(args: argparse.Namespace, config: Config) -> int:
    async with App(config) as app:
        await app.sync_config_feeds()
        poller = app.build_poller()
        total = None if args.all else await app.storage.count_due_feeds(datetime.now(timezone.utc))
        bar = _progress(total, "polling")

        def shown(outcome) -> None:
            bar.update(1)
            if args.quiet:
                return
            for item in outcome.new:
                bar.clear()
                name = outcome.feed.title or outcome.feed.url
                print(f"NEW  {name} | {item.title}" + (f" <{item.link}>" if item.link else ""), flush=True)
            if outcome.error:
                bar.clear()
                print(f"FAIL {outcome.feed.url}: {outcome.error}", flush=True)

        stats = await poller.poll_due(ignore_schedule=args.all, on_outcome=shown)
        bar.close()
    print(f"polled {stats.feeds} feeds: {stats.ok} updated, {stats.unchanged} unchanged, "
          f"{stats.not_modified} not modified (304), {stats.failed} failed; "
          f"{stats.new_items} new items, {stats.updated_items} edited")
    return EXIT_OK


# ---------------------------------------------------------------------- run


async def run(args: argparse.Namespace, config: Config) -> int:
    from bot.runtime import run_forever
    return await run_forever(config, exit_after=args.exit_after)


# ---------------------------------------------------------------------- db


async def db(args: argparse.Namespace, config: Config) -> int:
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.storage import migrate
    url = config.settings.database.url
    migrate.ensure_sqlite_dir(url)
    engine = create_async_engine(url)
    try:
        if args.db_command == "upgrade":
            before, after = await migrate.upgrade(engine)
            print(f"database at {after}" + (f" (was {before or 'empty'})" if before != after else " (up to date)"))
        elif args.db_command == "downgrade":
            known = migrate.revisions()
            if args.revision not in known:
                raise ConfigError(f"no schema revision {args.revision!r}: the revisions are {', '.join(known)} "
                                  "(`newsbot db current` prints the database's)")
            before, after = await migrate.downgrade(engine, args.revision)
            print(f"database at {after or 'empty'} (was {before or 'empty'})")
        else:
            print(await migrate.current_revision(engine) or "empty")
    except ConfigError:
        raise
    except Exception as exc:
        from bot.errors import StorageError
        raise StorageError(f"{engine.url.render_as_string()}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
                           " — check database.url and that the server is running") from exc
    finally:
        await engine.dispose()
    return EXIT_OK


# ---------------------------------------------------------------------- feeds


async def feeds(args: argparse.Namespace, config: Config) -> int:
    async with App(config) as app:
        if args.feeds_command == "list":
            return await _feeds_list(app, as_json=args.json)
        if args.feeds_command == "import":
            return await _feeds_import(app, args.file)
        return await _feeds_export(app, args.output)


def feed_health(f, now: datetime) -> str:
    if not f.enabled:
        return "disabled"
    if f.error_count:
        since = f.error_since.strftime("%Y-%m-%d %H:%M") if f.error_since else "?"
        return f"failing x{f.error_count} since {since}"
    if f.last_checked_at is None:
        return "new"
    return "ok"


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "-"
    secs = (when - now).total_seconds()
    word = "in " if secs >= 0 else ""
    secs = abs(secs)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{word}{secs / size:.0f}{unit}" + ("" if word else " ago")
    return f"{word}{secs:.0f}s" + ("" if word else " ago")


async def _feeds_list(app: App, *, as_json: bool) -> int:
    now = datetime.now(timezone.utc)
    rows = await app.storage.list_feeds()
    counts = await app.storage.item_counts_by_feed()
    if as_json:
        out = [dict(id=f.id, url=f.url, title=f.title, enabled=f.enabled, health=feed_health(f, now),
                    items=counts.get(f.id, 0), last_status=f.last_status, error_count=f.error_count,
                    last_error=f.last_error, error_since=_iso(f.error_since), next_check_at=_iso(f.next_check_at),
                    last_checked_at=_iso(f.last_checked_at), interval_s=f.interval_s) for f in rows]
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        print("no feeds yet: add them to a feed list (feeds.lists in the settings) or `newsbot feeds import FILE.opml`")
        return EXIT_OK
    print(f"{'id':>4}  {'health':<28} {'status':>6} {'items':>6} {'next':>8}  url")
    for f in rows:
        print(f"{f.id:>4}  {feed_health(f, now):<28} {f.last_status or '-':>6} {counts.get(f.id, 0):>6} "
              f"{_ago(f.next_check_at, now):>8}  {f.url}")
        if f.last_error:
            print(f"{'':>6}last error: {f.last_error}")
    failing = sum(1 for f in rows if f.error_count)
    print(f"{len(rows)} feeds, {failing} failing")
    return EXIT_OK


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


async def _feeds_import(app: App, path) -> int:
    from bot.feedlist import parse_opml
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"newsbot: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        configs = parse_opml(data, source=str(path))
    except ConfigError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    existing = {f.url for f in await app.storage.list_feeds()}
    fresh = [c for c in configs if c.url not in existing]
    bar = _progress(len(fresh), "importing")
    added = 0
    for start in range(0, len(fresh), 200):
        chunk = fresh[start:start + 200]
        a, _, _ = await app.storage.sync_feeds(chunk, source="import", now=datetime.now(timezone.utc))
        added += a
        bar.update(len(chunk))
    bar.close()
    print(f"imported {added} feeds from {path} ({len(configs) - len(fresh)} already present)")
    return EXIT_OK


async def _feeds_export(app: App, output) -> int:
    from bot.feedlist import render_opml
    text = render_opml(await app.storage.list_feeds())
    if output:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


# ---------------------------------------------------------------------- check-config


def check_config(args: argparse.Namespace) -> int:
    from bot.feedlist import load_feed_lists
    from bot.settings import all_problems, load_config
    problems = all_problems(args.config)
    config = None
    if not problems:
        config = load_config(args.config)
        feeds, bad = load_feed_lists([config.resolve(p) for p in config.settings.feeds.lists])
        problems += [str(b) for b in bad]
        problems += _watchlist_problems(config)
    for p in problems:
        print(f"error: {p}")
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) > 1 else ''} found")
        return EXIT_USAGE
    src = config.path or "defaults (no settings file)"
    print(f"settings OK: {src}; {len(feeds)} feeds; database {config.settings.database.url}")
    return EXIT_OK


def _watchlist_problems(config: Config) -> list[str]:
    from bot.pipeline.rules import load_watchlist_dir
    _, problems = load_watchlist_dir(config.resolve(config.settings.watchlists.dir))
    return [str(p) for p in problems]


# ---------------------------------------------------------------------- backtest


async def backtest(args: argparse.Namespace, config: Config) -> int:
    from bot.backtest_cmd import run_backtest
    return await run_backtest(args, config)
