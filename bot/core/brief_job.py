"""The CPU work a matched item needs before its transaction, as one job for a worker process.

`brief_and_sign(jobs)` makes, for each of a feed's matched items, its extractive
brief (bot.core.summarize) and its story signature (bot.core.cluster).
`bot.pipeline.process.StoryProcessor.prepare` hands it to the worker pool that
also parses feeds, so that this work runs on another core than the event loop
and the database's thread. Pure: a module-level function of picklable values.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from bot.core.cluster import Signature, story_signature
from bot.core.summarize import summarize
from bot.types import Brief


def brief_and_sign(jobs: Sequence[tuple[Mapping[str, Any], str]]) -> list[tuple[Brief, Signature]]:
    """(summarize's keyword arguments, the text to sign) → (brief, signature), for each job."""
    return [(summarize(**kwargs), story_signature(kwargs["title"], sign_text)) for kwargs, sign_text in jobs]
