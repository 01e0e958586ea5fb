"""The `newsbot` command line (also `python -m bot`).

Exit codes: 0 ok, 2 bad usage or configuration, 1 runtime failure.
Command output goes to stdout; logs and progress bars go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Sequence

from bot import __version__
from bot.errors import BotError, ConfigError, StorageError

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="newsbot", description="Self-hosted news alerts: feeds in, watchlists "
                                "matched, Smart Brevity briefs out to Telegram, Slack and the console.")
    p.add_argument("--version", action="version", version=f"newsbot {__version__}")
    p.add_argument("-c", "--config", metavar="PATH", help="settings file (default config/newsbot.yaml, or NEWSBOT_CONFIG)")
    p.add_argument("--log-format", choices=["console", "plain", "json"], help="log format (or NEWSBOT_LOG_FORMAT)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="log level (or NEWSBOT_LOG_LEVEL)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    r = sub.add_parser("run", help="run the bot: poll feeds, match, deliver alerts (until Ctrl-C)",
                       description="Run newsbot until interrupted: polls due feeds, matches watchlists, "
                       "delivers briefs to the console, Telegram and Slack.")
    r.add_argument("--exit-after", type=float, metavar="SECONDS", help=argparse.SUPPRESS)

    pl = sub.add_parser("poll", help="poll feeds once and exit", description="One pass over the due feeds.")
    pl.add_argument("--once", action="store_true", required=True, help="one full pass, then exit (required)")
    pl.add_argument("--all", action="store_true", help="ignore schedules: poll every enabled feed")
    pl.add_argument("--quiet", "-q", action="store_true", help="print only the summary line")

    sub.add_parser("check-config", help="validate settings, feed lists and watchlists without starting",
                   description="Validate the settings file, the feed lists and the watchlists; print every "
                   "problem with its file, line and a fix. Exit 0 when all is well, 2 otherwise.")

    db = sub.add_parser("db", help="database schema", description="Database schema commands.")
    dbs = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)
    dbs.add_parser("upgrade", help="create or upgrade the schema to this version", description="Apply migrations.")
    dbs.add_parser("current", help="print the schema revision", description="Print the current schema revision.")
    down = dbs.add_parser("downgrade", help="go back to an older schema revision",
                          description="Undo migrations down to REVISION (e.g. 0001), to run an older newsbot. "
                                      "Stop newsbot first; queued alerts are kept.")
    down.add_argument("revision", help="the revision to go back to, as `newsbot db current` prints them")

    fd = sub.add_parser("feeds", help="list, import or export feeds", description="Feed list commands.")
    fds = fd.add_subparsers(dest="feeds_command", metavar="SUBCOMMAND", required=True)
    fl = fds.add_parser("list", help="feeds with their health and schedule", description="Show every feed's health.")
    fl.add_argument("--json", action="store_true", help="machine-readable output")
    fi = fds.add_parser("import", help="add the feeds of an OPML file", description="Add feeds from an OPML file.")
    fi.add_argument("file", type=Path, metavar="FILE.opml")
    fe = fds.add_parser("export", help="write the feed list as OPML", description="Export feeds as OPML.")
    fe.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout")

    bt = sub.add_parser("backtest", help="run a watchlist over stored items or a feed and explain the matches",
                        description="Tune a watchlist: run it (or a draft) over stored items or a feed and print "
                        "the matches with explanations and counts per term.")
    bt.add_argument("watchlist", help="watchlist name (file name under config/watchlists without .yaml)")
    bt.add_argument("--since", default="7d", help="how far back in stored items (default 7d)")
    bt.add_argument("--feed", metavar="FILE_OR_URL", help="run over this feed instead of stored items")
    bt.add_argument("--draft", type=Path, metavar="PATH", help="compare a draft watchlist file with the live one")
    bt.add_argument("--json", action="store_true", help="machine-readable output")
    bt.add_argument("--limit", type=int, default=50, help="matches to print (default 50)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from bot.log import configure_logging
    configure_logging(level=args.log_level, fmt=args.log_format)
    if args.command == "check-config":
        from bot.commands import check_config
        return check_config(args)
    try:
        from bot.settings import load_config
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"newsbot: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_dispatch(args, config))
    except KeyboardInterrupt:
        return EXIT_OK
    except ConfigError as exc:
        print(f"newsbot: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as exc:
        print(f"newsbot: database error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except BotError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return EXIT_RUNTIME


async def _dispatch(args: argparse.Namespace, config) -> int:
    from bot import commands
    handlers = {
        "run": commands.run,
        "poll": commands.poll_once,
        "db": commands.db,
        "feeds": commands.feeds,
        "backtest": commands.backtest,
    }
    return await handlers[args.command](args, config)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
