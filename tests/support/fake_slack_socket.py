"""A Socket Mode stand-in: the WebSocket end of Slack's Socket Mode, on aiohttp.

`apps.connections.open` (served by tests.support.fake_slack) issues a one-time
`ws://127.0.0.1:<port>/socket?ticket=…` URL from `issue_url`. A client that
connects gets a `hello`, then every envelope a test pushes (`slash_commands`,
`interactive`, `events_api`). Acks (`{"envelope_id": …, "payload"?: …}`) are
recorded; an envelope not acked within `ack_timeout_s` is sent again with
`retry_attempt` + 1 and `retry_reason: "timeout"`, up to `max_retries` times,
as Slack does. Envelopes pushed while no client is connected wait for the next
connection. `request_refresh()` sends a `disconnect` message (reason
`refresh_requested`), which a correct client answers by reconnecting.

It does not check payload contents (tests build them with
tests.support.slack_requests) and it serves one app.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web


@dataclass
class Envelope:
    envelope_id: str
    type: str
    payload: dict
    accepts_response_payload: bool
    deliveries: int = 0
    sent_at: list[float] = field(default_factory=list)

    def message(self) -> dict:
        msg = {"envelope_id": self.envelope_id, "type": self.type, "payload": self.payload,
               "accepts_response_payload": self.accepts_response_payload}
        if self.deliveries:
            msg["retry_attempt"] = self.deliveries
            msg["retry_reason"] = "timeout"
        elif self.type == "events_api":
            msg["retry_attempt"] = 0
            msg["retry_reason"] = ""
        return msg


@dataclass(frozen=True)
class Ack:
    envelope_id: str
    payload: dict | None
    at: float
    after_s: float          # from the first delivery of the envelope


class SocketModeStandIn:
    def __init__(self, *, ack_timeout_s: float = 3.0, max_retries: int = 3) -> None:
        self.ack_timeout_s = ack_timeout_s
        self.max_retries = max_retries
        self.envelopes: dict[str, Envelope] = {}
        self.acks: dict[str, Ack] = {}
        self.connections_opened = 0
        self.unknown_acks: list[dict] = []
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._waiting: list[str] = []
        self._ack_events: dict[str, asyncio.Event] = {}
        self._connected = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._base_ws = ""

    # ----------------------------------------------------------------- wiring

    def bind(self, base_http_url: str) -> None:
        self._base_ws = base_http_url.replace("http://", "ws://", 1)

    def issue_url(self) -> str:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return f"{self._base_ws}/socket?ticket={ticket}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid or used ticket: call apps.connections.open first")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections_opened += 1
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": len(self._sockets),
                            "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                            "connection_info": {"app_id": "A0FAKE"}})
        self._connected.set()
        await self._flush_waiting()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(msg.data)
        finally:
            self._sockets.remove(ws)
            if not self._sockets:
                self._connected.clear()
        return ws

    # ----------------------------------------------------------------- test API

    async def wait_connected(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def push(self, type_: str, payload: dict, *, accepts_response_payload: bool = False) -> str:
        """Send an envelope to the connected client (or queue it); returns its envelope_id."""
        env = Envelope(str(uuid.uuid4()), type_, payload, accepts_response_payload)
        self.envelopes[env.envelope_id] = env
        self._ack_events[env.envelope_id] = asyncio.Event()
        await self._deliver(env)
        task = asyncio.create_task(self._redeliver(env))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return env.envelope_id

    async def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> Ack:
        await asyncio.wait_for(self._ack_events[envelope_id].wait(), timeout)
        return self.acks[envelope_id]

    async def request_refresh(self) -> None:
        """Tell connected clients to reconnect, as Slack does every few hours."""
        for ws in list(self._sockets):
            await ws.send_json({"type": "disconnect", "reason": "refresh_requested",
                                "debug_info": {"host": "fake-slack"}})

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for ws in list(self._sockets):
            await ws.close()

    # ----------------------------------------------------------------- internals

    def _on_text(self, data: str) -> None:
        try:
            msg = json.loads(data)
        except ValueError:
            self.unknown_acks.append({"raw": data})
            return
        envelope_id = msg.get("envelope_id") if isinstance(msg, dict) else None
        env = self.envelopes.get(envelope_id or "")
        if env is None:
            self.unknown_acks.append(msg if isinstance(msg, dict) else {"raw": data})
            return
        if envelope_id not in self.acks:
            now = time.monotonic()
            self.acks[envelope_id] = Ack(envelope_id, msg.get("payload"), now, now - env.sent_at[0])
            self._ack_events[envelope_id].set()

    async def _deliver(self, env: Envelope) -> None:
        live = [ws for ws in self._sockets if not ws.closed]
        if not live:
            if env.envelope_id not in self._waiting:
                self._waiting.append(env.envelope_id)
            return
        env.sent_at.append(time.monotonic())
        await live[-1].send_json(env.message())

    async def _flush_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for envelope_id in waiting:
            await self._deliver(self.envelopes[envelope_id])

    async def _redeliver(self, env: Envelope) -> None:
        while env.envelope_id not in self.acks and env.deliveries < self.max_retries:
            try:
                await asyncio.wait_for(self._ack_events[env.envelope_id].wait(), self.ack_timeout_s)
                return
            except asyncio.TimeoutError:
                env.deliveries += 1
                await self._deliver(env)
