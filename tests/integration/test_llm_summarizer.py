"""LlmSummarizer against a local stand-in for an OpenAI-compatible endpoint (real HTTP).

The stand-in serves /v1/chat/completions on 127.0.0.1 (port 0) and answers as
told by the test: a valid brief, broken JSON, a brief missing a section, an
HTTP 500, or nothing until after the client's timeout.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from bot.adapters.llm import LlmSummarizer
from bot.core.summarize import summarize
from bot.types import SourceRef

TITLE = "Russia, Tajikistan begin joint drills near Afghan border - Pamir Wire"
TEXT = ("Russian and Tajik troops began joint drills on Wednesday at the Kharb-Maidon training "
        "ground, about 20 km from the border with Afghanistan. The exercise will run until April 7. "
        "Most of the Russian contingent comes from the 201st military base. The exercise comes as "
        "Tajikistan remains concerned about militants crossing from Afghan soil.")
WHEN = datetime(2024, 3, 27, 6, tzinfo=timezone.utc)
KWARGS = dict(title=TITLE, text=TEXT, context=("Operator note: the 201st base is watched.",),
              matched_terms=("201st base",), language="en", link="https://example.org/a",
              zoom_out=(("Earlier drills", "https://example.org/old"),), published=WHEN,
              sources=(SourceRef("Pamir Wire", TITLE, "https://example.org/a", WHEN),),
              watchlist="central-asia")
GOOD = {"lede": "Russia and Tajikistan started drills 20 km from the Afghan border.",
        "why_it_matters": ["Dushanbe fears militants crossing from Afghanistan."],
        "go_deeper": ["The drills last until April 7.", "Troops of the 201st base take part."]}


def completion(content: str) -> dict:
    return {"id": "x", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}]}


@pytest.fixture
async def endpoint():
    state = {"mode": "good", "requests": []}

    async def handle(request: web.Request) -> web.Response:
        state["requests"].append((dict(request.headers), await request.json()))
        mode = state["mode"]
        if mode == "slow":
            await asyncio.sleep(1)
        if mode == "500":
            return web.Response(status=500, text="upstream exploded")
        content = {"good": json.dumps(GOOD), "slow": json.dumps(GOOD),
                   "not_json": "Sure! Here is your brief: lede = drills started",
                   "missing": json.dumps({"lede": "Drills started.", "go_deeper": []}),
                   "empty_lede": json.dumps({**GOOD, "lede": "   "})}.get(mode)
        if mode == "bad_envelope":
            return web.json_response({"error": {"message": "model overloaded"}})
        return web.json_response(completion(content))

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    state["base_url"] = f"http://127.0.0.1:{port}/v1"
    yield state
    await runner.cleanup()


async def test_valid_json_answer_becomes_the_brief(endpoint) -> None:
    llm = LlmSummarizer(base_url=endpoint["base_url"], model="tiny", api_key="sk-test",
                        timeout_s=5)
    try:
        brief = await llm.summarize(**KWARGS)
    finally:
        await llm.close()
    assert brief.lede == GOOD["lede"]
    assert brief.why_it_matters == ("Operator note: the 201st base is watched.",
                                    *GOOD["why_it_matters"])
    assert brief.go_deeper == tuple(GOOD["go_deeper"])
    # what the model never decides
    assert brief.headline == "Russia, Tajikistan begin joint drills near Afghan border"
    assert brief.zoom_out == KWARGS["zoom_out"] and brief.sources == KWARGS["sources"]
    assert brief.matched_terms == ("201st base",) and brief.published == WHEN
    headers, body = endpoint["requests"][0]
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "tiny" and body["response_format"] == {"type": "json_object"}
    assert "Kharb-Maidon" in body["messages"][-1]["content"]


@pytest.mark.parametrize("mode, reason", [
    ("not_json", "invalid brief JSON"),
    ("missing", "why_it_matters"),
    ("empty_lede", "lede"),
    ("500", "HTTP 500"),
    ("bad_envelope", "not a chat-completions answer"),
    ("slow", "no answer within"),
])
async def test_any_failure_falls_back_to_the_extractive_brief(endpoint, mode, reason) -> None:
    endpoint["mode"] = mode
    llm = LlmSummarizer(base_url=endpoint["base_url"], model="tiny", api_key=None, timeout_s=0.3)
    try:
        with capture_logs() as logs:
            brief = await llm.summarize(**KWARGS)
    finally:
        await llm.close()
    assert brief == summarize(**KWARGS)
    failures = [e for e in logs if e["event"] == "llm_summary_failed"]
    assert len(failures) == 1 and reason in failures[0]["reason"], failures
    assert "Authorization" not in endpoint["requests"][0][0]


async def test_unreachable_endpoint_falls_back(unused_tcp_port) -> None:
    llm = LlmSummarizer(base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", model="m",
                        api_key="k", timeout_s=2)
    try:
        with capture_logs() as logs:
            brief = await llm.summarize(**KWARGS)
    finally:
        await llm.close()
    assert brief == summarize(**KWARGS)
    assert "could not reach" in logs[0]["reason"] and "k" != logs[0].get("api_key")


async def test_thin_input_skips_the_model(endpoint) -> None:
    llm = LlmSummarizer(base_url=endpoint["base_url"], model="tiny", api_key=None)
    try:
        brief = await llm.summarize(title="Only a title", text="")
    finally:
        await llm.close()
    assert brief == summarize(title="Only a title", text="") and endpoint["requests"] == []
