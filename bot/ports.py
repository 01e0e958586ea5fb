"""Ports: the Protocols through which the pipeline calls the outside world.

Implementations name their technology (`AiohttpFetcher`, `SqlStorage`,
`TelegramSender`); the composition root in `bot.app` picks them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, Sequence

from bot.types import Brief, Feed, FetchResult, OutboxMessage, SendResult, SourceRef


class Fetcher(Protocol):
    """Fetches one feed. Never raises for a feed's own failure: returns FetchFailed."""

    async def fetch(self, feed: Feed) -> FetchResult: ...

    async def close(self) -> None: ...


class Sender(Protocol):
    """Sends one rendered outbox message to one platform.

    Never raises for a platform's answer: returns Delivered, RetryLater or
    Rejected. Rendering for the platform is the sender's job (it calls the
    pure renderers in `bot.core.render`).
    """

    platform: str

    async def send(self, message: OutboxMessage) -> SendResult: ...


class Summarizer(Protocol):
    """Turns a story's text into a Brief. The default is pure and offline
    (bot.core.summarize.summarize); bot.adapters.llm.LlmSummarizer falls back to it."""

    async def summarize(self, *, title: str, text: str, context: Sequence[str] = (),
                        matched_terms: Sequence[str] = (), language: str | None = None,
                        zoom_out: Sequence[tuple[str, str | None]] = (), sources: Sequence[SourceRef] = (),
                        link: str | None = None, published: datetime | None = None,
                        watchlist: str | None = None) -> Brief: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
