"""What Slack sends to an app, built and signed the way Slack does it.

Payload builders for the three inbound kinds newsbot handles (a `/newsbot`
slash command, a `block_actions` button click, an `app_home_opened` event),
usable as Socket Mode envelope payloads or as HTTP bodies, and `post_signed`,
which POSTs a body to an app's HTTP endpoint with `X-Slack-Signature`
(`v0=` + HMAC-SHA256 of `v0:{timestamp}:{raw body}`) and
`X-Slack-Request-Timestamp`, including deliberately expired, future-dated,
forged, unsigned and re-serialised variants. It measures time to reply so a
test can hold the app to Slack's 3-second acknowledgement deadline.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp

TEAM_ID = "T0FAKE"
APP_ID = "A0FAKE"


def slash_command(text: str, *, user_id: str = "U0MEMBER", channel_id: str = "C0GENERAL",
                  channel_name: str = "general", command: str = "/newsbot",
                  response_url: str = "https://hooks.slack.invalid/commands/none",
                  user_name: str = "member") -> dict[str, str]:
    """The form fields of a slash command (Socket Mode sends them as the payload dict)."""
    return {
        "token": "deprecated-verification-token", "team_id": TEAM_ID, "team_domain": "fake",
        "channel_id": channel_id, "channel_name": channel_name, "user_id": user_id,
        "user_name": user_name, "command": command, "text": text, "api_app_id": APP_ID,
        "is_enterprise_install": "false", "response_url": response_url,
        "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**6}.fake",
    }


def block_action(action_id: str, value: str, *, user_id: str = "U0MEMBER",
                 channel_id: str = "C0GENERAL", message_ts: str = "1700000000.000100",
                 response_url: str = "https://hooks.slack.invalid/actions/none") -> dict:
    """A `block_actions` payload: a button under one of our messages was clicked."""
    return {
        "type": "block_actions", "api_app_id": APP_ID, "token": "deprecated-verification-token",
        "team": {"id": TEAM_ID, "domain": "fake"},
        "user": {"id": user_id, "username": "member", "name": "member", "team_id": TEAM_ID},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                      "is_ephemeral": False},
        "channel": {"id": channel_id, "name": "general"},
        "message": {"type": "message", "ts": message_ts, "text": "alert"},
        "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**6}.fake",
        "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "block_id": "newsbot_actions",
                     "value": value, "text": {"type": "plain_text", "text": action_id},
                     "action_ts": f"{time.time():.6f}"}],
    }


def app_home_opened(user_id: str = "U0MEMBER", *, tab: str = "home") -> dict:
    """An Events API `event_callback` carrying `app_home_opened`."""
    return {
        "token": "deprecated-verification-token", "team_id": TEAM_ID, "api_app_id": APP_ID,
        "type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()), "authorizations": [
            {"team_id": TEAM_ID, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}],
        "event": {"type": "app_home_opened", "user": user_id, "channel": "D0HOME", "tab": tab,
                  "event_ts": f"{time.time():.6f}"},
    }


def url_verification(challenge: str = "fake-challenge") -> dict:
    return {"token": "deprecated-verification-token", "challenge": challenge, "type": "url_verification"}


def form_body(fields: dict[str, str]) -> str:
    return urlencode(fields)


def interactive_body(payload: dict) -> str:
    return urlencode({"payload": json.dumps(payload)})


def event_body(payload: dict) -> str:
    return json.dumps(payload)


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def signature(body: str, secret: str, timestamp: int | str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedReply:
    status: int
    body: str
    elapsed_s: float


async def post_signed(url: str, body: str, *, secret: str, content_type: str = FORM,
                      timestamp: int | str | None = None, skew_s: int = 0,
                      signed_body: str | None = None, sign_with: str | None = None,
                      unsigned: bool = False, headers: dict[str, str] | None = None,
                      timeout_s: float = 10.0) -> SignedReply:
    """POST `body` as Slack would. Variants for the refusals an app must make:

    - `skew_s=-301` / `+301`: timestamp outside Slack's 5-minute window;
    - `sign_with="wrong"`: a forged signature (another secret);
    - `signed_body=original` with a different `body`: a re-serialised payload;
    - `unsigned=True`: no signature headers at all.
    """
    ts = str(timestamp if timestamp is not None else int(time.time()) + skew_s)
    sent_headers = {"Content-Type": content_type}
    if not unsigned:
        sent_headers["X-Slack-Request-Timestamp"] = ts
        sent_headers["X-Slack-Signature"] = signature(signed_body if signed_body is not None else body,
                                                      sign_with or secret, ts)
    sent_headers.update(headers or {})
    start = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        async with session.post(url, data=body.encode(), headers=sent_headers) as resp:
            text = await resp.text()
            return SignedReply(resp.status, text, time.monotonic() - start)
