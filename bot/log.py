"""Structured logging with structlog.

Human-readable lines on a terminal, JSON lines when NEWSBOT_LOG_FORMAT=json
(or when stderr is not a terminal and NEWSBOT_LOG_FORMAT=auto is not set to
console). Level from NEWSBOT_LOG_LEVEL (default info). Log lines go to stderr;
stdout is kept for command output and console alerts.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog


def configure_logging(*, level: str | None = None, fmt: str | None = None) -> None:
    level_name = (level or os.environ.get("NEWSBOT_LOG_LEVEL") or "info").upper()
    fmt = (fmt or os.environ.get("NEWSBOT_LOG_FORMAT") or "auto").lower()
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "plain"
    numeric = getattr(logging, level_name, logging.INFO)
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        renderer: structlog.typing.Processor = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    elif fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=True)
    else:
        renderer = structlog.processors.LogfmtRenderer(key_order=["timestamp", "level", "event"])
        shared.append(structlog.processors.format_exc_info)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries using stdlib logging (aiohttp, telegram, slack, apscheduler) go to stderr too.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
