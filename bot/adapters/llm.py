"""Optional LLM summarizer behind the Summarizer port (any OpenAI-compatible API).

`LlmSummarizer` POSTs one chat-completions request per brief to
``{base_url}/chat/completions`` with ``response_format={"type": "json_object"}``
and asks for the brief's sections as JSON: ``lede`` (one sentence),
``why_it_matters`` (≤ 2) and ``go_deeper`` (≤ 3). The answer is validated
(pydantic); the headline, the operator's context lines, zoom out, sources,
link, time and matched terms never come from the model.

On any failure — connection error, timeout, non-200 status, an answer that is
not JSON or misses a section — it logs ``llm_summary_failed`` with the reason
and returns the deterministic extractive brief (`fallback`), so an alert is
never held up or lost by the model. The API key is sent as a Bearer token and
never logged. It does not retry: the fallback is the retry.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any, Callable, Sequence

import aiohttp
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.summarize import clean_title, summarize
from bot.types import Brief, SourceRef

log = structlog.get_logger(__name__)

MAX_INPUT_CHARS = 12_000
MAX_RESPONSE_BYTES = 1_000_000
MAX_SENTENCE_CHARS = 600
SYSTEM_PROMPT = (
    "You condense one news article into a Smart Brevity brief. Answer with a JSON object "
    'only: {"lede": "<one sentence: what happened>", "why_it_matters": ["<at most 2 '
    'sentences: why it matters>"], "go_deeper": ["<at most 3 further key facts>"]}. '
    "Use only facts stated in the article, write in the article's language, no markup.")


class LlmSections(BaseModel):
    """The part of a brief the model writes; anything else it sends is ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    lede: str = Field(min_length=1, max_length=MAX_SENTENCE_CHARS)
    why_it_matters: list[str] = Field(max_length=5)
    go_deeper: list[str] = Field(max_length=8)

    @field_validator("why_it_matters", "go_deeper")
    @classmethod
    def _clean_bullets(cls, items: list[str]) -> list[str]:
        out = [" ".join(str(i).split()) for i in items if isinstance(i, str) and i.strip()]
        if any(len(i) > MAX_SENTENCE_CHARS for i in out):
            raise ValueError(f"a bullet is longer than {MAX_SENTENCE_CHARS} characters")
        return out


class LlmFailed(Exception):
    """Why the model's brief was not used (logged, then the fallback runs)."""


class LlmSummarizer:
    """Summarizer using an OpenAI-compatible chat-completions endpoint, with fallback."""

    def __init__(self, *, base_url: str, model: str, api_key: str | None,
                 timeout_s: float = 20, fallback: Callable[..., Brief] = summarize) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._fallback = fallback
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def summarize(self, *, title: str, text: str, context: Sequence[str] = (),
                        matched_terms: Sequence[str] = (), language: str | None = None,
                        zoom_out: Sequence[tuple[str, str | None]] = (),
                        sources: Sequence[SourceRef] = (), link: str | None = None,
                        published: datetime | None = None, watchlist: str | None = None) -> Brief:
        args: dict[str, Any] = dict(
            title=title, text=text, context=context, matched_terms=matched_terms,
            language=language, zoom_out=zoom_out, sources=sources, link=link,
            published=published, watchlist=watchlist)
        base = self._fallback(**args)
        if not (text or "").strip():
            return base                                  # nothing for a model to condense
        try:
            sections = await self._ask(title, text, matched_terms, language)
        except LlmFailed as exc:
            log.warning("llm_summary_failed", reason=str(exc), model=self._model, url=self._url,
                        link=link)
            return base
        why = list(dict.fromkeys([c.strip() for c in context if c and c.strip()]
                                 + sections.why_it_matters[:2]))
        return Brief(headline=clean_title(title), lede=sections.lede, why_it_matters=tuple(why),
                     go_deeper=tuple(sections.go_deeper[:3]), zoom_out=base.zoom_out,
                     sources=base.sources, link=link, published=published,
                     matched_terms=base.matched_terms, watchlist=watchlist)

    async def _ask(self, title: str, text: str, terms: Sequence[str],
                   language: str | None) -> LlmSections:
        body = {
            "model": self._model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": _user_prompt(title, text, terms, language)},
            ],
        }
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            session = self._session_for_loop()
            async with session.post(self._url, json=body, headers=headers) as resp:
                raw = await resp.content.read(MAX_RESPONSE_BYTES + 1)
                if resp.status != 200:
                    raise LlmFailed(f"HTTP {resp.status} from the endpoint: {raw[:200]!r}")
        except asyncio.TimeoutError as exc:      # before OSError: TimeoutError is one
            raise LlmFailed(f"no answer within {self._timeout.total} s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise LlmFailed(f"could not reach the endpoint: {exc!r}") from exc
        if len(raw) > MAX_RESPONSE_BYTES:
            raise LlmFailed("answer larger than 1 MB")
        return _parse(raw)

    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session


def _user_prompt(title: str, text: str, terms: Sequence[str], language: str | None) -> str:
    parts = [f"Title: {title.strip()}"]
    if language:
        parts.append(f"Language: {language}")
    if terms:
        parts.append("Watched terms: " + ", ".join(terms))
    parts.append("Article:\n" + text.strip()[:MAX_INPUT_CHARS])
    return "\n".join(parts)


def _parse(raw: bytes) -> LlmSections:
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LlmFailed(f"not a chat-completions answer: {exc!r}") from exc
    if not isinstance(content, str):
        raise LlmFailed("the message content is not text")
    try:
        return LlmSections.model_validate_json(content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "answer"
        raise LlmFailed(f"invalid brief JSON at {where}: {first.get('msg')}") from exc
