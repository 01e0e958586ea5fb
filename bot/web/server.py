"""The small web server: /healthz, /metrics, and the platforms' webhooks.

Off by default (`web.enabled`); needed for Telegram webhook mode and Slack HTTP
mode, which mount their handlers here. /metrics speaks the Prometheus text format.
"""

from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest


async def start_web(app, host: str, port: int) -> web.AppRunner:
    registry = CollectorRegistry()
    feeds_total = Gauge("newsbot_feeds", "configured feeds", ["health"], registry=registry)
    outbox_rows = Gauge("newsbot_outbox_rows", "outbox rows by status", ["status"], registry=registry)

    async def healthz(_request: web.Request) -> web.Response:
        try:
            await app.storage.count_due_feeds(datetime.now(timezone.utc))
        except Exception as exc:  # the database is the one dependency that matters
            return web.json_response({"ok": False, "error": str(exc)}, status=503)
        return web.json_response({"ok": True, "instance": app.owner})

    async def metrics(_request: web.Request) -> web.Response:
        feeds = await app.storage.list_feeds()
        feeds_total.labels("ok").set(sum(1 for f in feeds if f.enabled and not f.error_count))
        feeds_total.labels("failing").set(sum(1 for f in feeds if f.error_count))
        feeds_total.labels("disabled").set(sum(1 for f in feeds if not f.enabled))
        async with app.storage.read() as tx:
            for status, n in (await tx.outbox_counts()).items():
                outbox_rows.labels(status).set(n)
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    webapp = web.Application(client_max_size=1024 * 1024)
    webapp.router.add_get("/healthz", healthz)
    webapp.router.add_get("/metrics", metrics)
    for ch in getattr(app, "inbound", []):
        for method, path, handler in getattr(ch, "web_routes", lambda: [])():
            webapp.router.add_route(method, path, handler)
        if getattr(ch, "_mode", None) == "http" and hasattr(ch, "handle_http"):
            webapp.router.add_route("POST", "/slack/events", ch.handle_http)   # Slack HTTP mode
    runner = web.AppRunner(webapp, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
