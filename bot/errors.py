"""One error tree for newsbot.

BotError
├── ConfigError          bad settings, watchlist or feed list; carries file/line/key
├── QueryError           a query that does not parse; carries the offending position
├── FetchError           a feed could not be fetched (usually returned as FetchFailed)
├── ParseError           a document could not be parsed at all
├── StorageError         the database refused or is unreachable
└── DeliveryError        a message could not be sent
    ├── TransientDeliveryError(retry_after)   try again later
    └── PermanentDeliveryError(reason)        never retry this payload / destination

Failures of one feed or one message are normally *values* (FetchFailed,
RetryLater, Rejected); exceptions are for bugs and for start-up errors.
Always chain the cause (`raise X(...) from exc`).
"""

from __future__ import annotations


class BotError(Exception):
    """Root of every error newsbot raises on purpose."""


class ConfigError(BotError):
    """A configuration problem, located as precisely as we can."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        if self.key:
            where = f"{where} [{self.key}]" if where else f"[{self.key}]"
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" — {self.hint}"
        return text


class QueryError(BotError):
    """A query that does not parse. `position` is a 0-based offset into `query`."""

    def __init__(self, message: str, *, query: str, position: int, length: int = 1) -> None:
        self.message = message
        self.query = query
        self.position = position
        self.length = max(1, length)
        super().__init__(self.__str__())

    def pointer(self) -> str:
        """Two lines: the query and a caret line under the offending token."""
        return f"{self.query}\n{' ' * self.position}{'^' * self.length}"

    def __str__(self) -> str:
        return f"{self.message} at position {self.position + 1}\n{self.pointer()}"


class FetchError(BotError):
    """A feed could not be fetched."""


class ParseError(BotError):
    """A document could not be parsed at all."""


class StorageError(BotError):
    """The database refused an operation or could not be reached."""


class DeliveryError(BotError):
    """A message could not be delivered."""


class TransientDeliveryError(DeliveryError):
    """Try again later; `retry_after` seconds if the platform said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PermanentDeliveryError(DeliveryError):
    """Never retry this payload (or, with `destination_gone`, this destination)."""

    def __init__(self, reason: str, *, destination_gone: bool = False) -> None:
        self.reason = reason
        self.destination_gone = destination_gone
        super().__init__(reason)
