"""The console channel: briefs as readable plain text on stdout (or appended to a file).

The default channel when no platform token is set. Each message ends with a
marker line naming the outbox row, so a reader (or a test) can tell alerts apart.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TextIO

from bot.core.render_console import render_console, render_console_digest
from bot.types import Delivered, OutboxMessage, Rejected, SendResult


class ConsoleSender:
    platform = "console"

    def __init__(self, *, path: str | None = None, stream: TextIO | None = None, width: int = 100) -> None:
        self.path = path
        self.stream = stream
        self.width = width
        self._lock = threading.Lock()

    def render(self, msg: OutboxMessage) -> str:
        if msg.kind == "digest":
            body = render_console_digest(msg.briefs, msg.extra_count, "Digest")
        elif msg.brief is not None:
            body = render_console(msg.brief, width=self.width)
        else:
            body = msg.text or ""
        label = {"alert": "ALERT", "update": "UPDATE", "digest": "DIGEST", "notice": "NOTICE"}.get(msg.kind, "ALERT")
        head = f"━━ {label} ━━ story {msg.story_id} · subscription {msg.subscription_id}"
        return f"{head}\n{body.rstrip()}\n── end {msg.dedupe_key} ──\n"

    async def send(self, msg: OutboxMessage) -> SendResult:
        text = self.render(msg)
        try:
            if self.path:
                with self._lock, open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(text + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            else:
                out = self.stream or sys.stdout
                out.write(text + "\n")
                out.flush()
        except OSError as exc:
            return Rejected(reason=f"cannot write alerts to {self.path or 'stdout'}: {exc.strerror}")
        return Delivered(platform_message_id=None)
