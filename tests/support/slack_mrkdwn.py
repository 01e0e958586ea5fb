"""Slack message rules, checked the way the fake Slack server checks them.

`lint_mrkdwn` flags raw `&`, `<`, `>` that are not part of valid Slack markup
(`<url|text>`, `<@U…>`, `<#C…>`, `<!here>`, `<!date^…|…>`, `&amp;` `&lt;`
`&gt;`). `validate_blocks` enforces Block Kit limits (slack_sdk's model
limits: 50 blocks per message, 100 in a Home view, section text 3,000,
header 150 plain_text, fields 10, context 10 elements, actions 25, button
label 75, value 2,000, block_id 255 and unique). `blocks_text_length` is the
aggregate that Slack compares against its ~13k `msg_blocks_too_long` limit.

Shared by tests/support/fake_slack.py and the renderer's property tests, so
both hold Slack output to one definition. It is a test aid, not a full Block
Kit schema: it checks only the block types newsbot uses (section, header,
context, actions, divider) and refuses others.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_LABEL = r"(?:\|[^<>|]*)?"
TOKEN = re.compile(
    r"<(?:"
    r"(?P<link>(?:https?://|mailto:)[^\s<>|]+)" + _LABEL +
    r"|@[UW][A-Z0-9]+" + _LABEL +
    r"|#[CG][A-Z0-9]+" + _LABEL +
    r"|!(?:here|channel|everyone)" + _LABEL +
    r"|!subteam\^S[A-Z0-9]+" + _LABEL +
    r"|!date\^\d+\^[^<>|]+(?:\^[^\s<>|]+)?\|[^<>|]*"
    r")>"
)
ENTITY = re.compile(r"&(?:amp|lt|gt);")
BLOCK_TYPES = {"section", "header", "context", "actions", "divider"}


@dataclass(frozen=True)
class Token:
    kind: str       # "link" | "user" | "channel" | "special" | "date"
    text: str


def _kind(token: str) -> str:
    if token.startswith("<@"):
        return "user"
    if token.startswith("<#"):
        return "channel"
    if token.startswith("<!date^"):
        return "date"
    if token.startswith("<!"):
        return "special"
    return "link"


def lint_mrkdwn(text: str) -> list[str]:
    """Problems in one mrkdwn string; [] when every control character is markup or escaped."""
    problems: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = TOKEN.match(text, i)
            if m is None:
                problems.append(f"raw '<' at {i}: {text[i:i + 30]!r}")
                i += 1
                continue
            problems += [f"raw '&' inside token at {i + j}" for j in _bare_amps(m.group())]
            i = m.end()
            continue
        if ch == ">":
            problems.append(f"raw '>' at {i}: {text[max(0, i - 20):i + 10]!r}")
        elif ch == "&" and not ENTITY.match(text, i):
            problems.append(f"raw '&' at {i}: {text[i:i + 12]!r}")
        i += 1
    return problems


def _bare_amps(token: str) -> Iterator[int]:
    for m in re.finditer("&", token):
        if not ENTITY.match(token, m.start()):
            yield m.start()


def tokens(text: str) -> list[Token]:
    """The markup tokens in a mrkdwn string (links, mentions, dates), in order."""
    return [Token(_kind(m.group()), m.group()) for m in TOKEN.finditer(text)]


# --------------------------------------------------------------------------- blocks


def text_objects(blocks: list) -> Iterator[tuple[str, str, str]]:
    """(pointer, type, text) for every text object in the blocks."""
    for n, block in enumerate(blocks if isinstance(blocks, list) else []):
        if not isinstance(block, dict):
            continue
        for key in ("text",):
            obj = block.get(key)
            if isinstance(obj, dict):
                yield f"/blocks/{n}/text", str(obj.get("type")), str(obj.get("text", ""))
        for k, field in enumerate(block.get("fields") or []):
            if isinstance(field, dict):
                yield f"/blocks/{n}/fields/{k}", str(field.get("type")), str(field.get("text", ""))
        for k, element in enumerate(block.get("elements") or []):
            if not isinstance(element, dict):
                continue
            t = element.get("text")
            if isinstance(t, dict):
                yield f"/blocks/{n}/elements/{k}/text", str(t.get("type")), str(t.get("text", ""))
            elif isinstance(t, str):
                yield f"/blocks/{n}/elements/{k}", str(element.get("type")), t


def blocks_text_length(blocks: list) -> int:
    return sum(len(text) for _, _, text in text_objects(blocks))


def validate_blocks(blocks: object, *, max_blocks: int = 50) -> list[str]:
    """Block Kit limit violations as 'pointer: problem'; [] when valid."""
    if not isinstance(blocks, list):
        return ["/blocks: must be an array"]
    errors: list[str] = []
    if not blocks:
        errors.append("/blocks: empty")
    if len(blocks) > max_blocks:
        errors.append(f"/blocks: {len(blocks)} blocks, more than {max_blocks}")
    seen_ids: set[str] = set()
    for n, block in enumerate(blocks):
        where = f"/blocks/{n}"
        if not isinstance(block, dict):
            errors.append(f"{where}: not an object")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > 255:
                errors.append(f"{where}/block_id: must be 1-255 characters")
            elif block_id in seen_ids:
                errors.append(f"{where}/block_id: duplicate {block_id!r}")
            else:
                seen_ids.add(block_id)
        errors += _validate_block(where, block)
    return errors


def _text_obj(where: str, obj: object, *, max_len: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"{where}: must be a text object (plain_text or mrkdwn)"]
    if plain_only and obj["type"] != "plain_text":
        return [f"{where}: must be plain_text"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}/text: must be a non-empty string"]
    if len(text) > max_len:
        return [f"{where}/text: {len(text)} characters, more than {max_len}"]
    return []


def _validate_block(where: str, block: dict) -> list[str]:
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        return [f"{where}/type: unsupported block type {kind!r}"]
    if kind == "header":
        return _text_obj(f"{where}/text", block.get("text"), max_len=150, plain_only=True)
    if kind == "section":
        return _validate_section(where, block)
    if kind == "context":
        return _validate_context(where, block)
    if kind == "actions":
        return _validate_actions(where, block)
    return []


def _validate_section(where: str, block: dict) -> list[str]:
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        return [f"{where}: a section needs text or fields"]
    errors = _text_obj(f"{where}/text", text, max_len=3000) if text is not None else []
    if fields is not None:
        if not isinstance(fields, list) or len(fields) > 10:
            errors.append(f"{where}/fields: at most 10 items")
        else:
            for k, f in enumerate(fields):
                errors += _text_obj(f"{where}/fields/{k}", f, max_len=2000)
    return errors


def _validate_context(where: str, block: dict) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
        return [f"{where}/elements: 1 to 10 elements"]
    errors = []
    for k, e in enumerate(elements):
        errors += _text_obj(f"{where}/elements/{k}", e, max_len=3000)
    return errors


def _validate_actions(where: str, block: dict) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
        return [f"{where}/elements: 1 to 25 elements"]
    errors, ids = [], set()
    for k, e in enumerate(elements):
        at = f"{where}/elements/{k}"
        if not isinstance(e, dict) or e.get("type") != "button":
            errors.append(f"{at}: only buttons are supported here")
            continue
        errors += _text_obj(f"{at}/text", e.get("text"), max_len=75, plain_only=True)
        action_id = e.get("action_id")
        if not isinstance(action_id, str) or not 1 <= len(action_id) <= 255:
            errors.append(f"{at}/action_id: must be 1-255 characters")
        elif action_id in ids:
            errors.append(f"{at}/action_id: duplicate {action_id!r} in one block")
        ids.add(action_id)
        value = e.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > 2000):
            errors.append(f"{at}/value: at most 2000 characters")
    return errors
