"""A strict re-implementation of the Bot API's HTML `parse_mode` parser, for tests.

It follows TDLib's `parse_html` (td/telegram/MessageEntity.cpp, see
../shared/reference/platform-limits.md §1.3) byte for byte where it matters:
the tag whitelist, lower-cased tag names, attribute parsing, the decoded
entities (`&lt; &gt; &amp; &quot;`, `&#NN;`, `&#xNN;`, `;` optional), and the
exact error details with UTF-8 *byte* offsets into the raw text. Entity
offsets and lengths come out in UTF-16 code units, as the Bot API returns them.

`strict=True` goes beyond Telegram: a bare `&` that is not a valid entity, or a
bare `>` outside a tag, is an error too. Our renderer must pass strict mode.

What it does not do: nesting repairs (TDLib silently fixes or drops bad
nesting; we only record entities), the 100-entity cap, Markdown, and link
validation beyond a simple scheme check (invalid links lose their entity, as in
TDLib, never raise).

Used by the fake Bot API server and by the renderer's property tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TAGS = frozenset({
    "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler",
    "tg-emoji", "tg-time", "span", "pre", "code", "blockquote",
})
_SPACES = b" \t\r\n\v\x00"          # TDLib is_space(); NUL stands for the C string's end
_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "code": "code", "pre": "pre",
    "tg-emoji": "custom_emoji", "tg-time": "date_time",
}
_LINK_RE = re.compile(r"^(?:(?:https?|tg|ton|ftp)://\S+|[\w.-]+\.[a-z]{2,}(?:/\S*)?)$", re.IGNORECASE)
_TRIM = " \t\r\n\v\f"


class HtmlParseError(ValueError):
    """The text does not parse; `detail` is TDLib's sentence (without the API prefix)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class Entity:
    type: str
    offset: int          # UTF-16 code units
    length: int          # UTF-16 code units
    url: str | None = None
    language: str | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"type": self.type, "offset": self.offset, "length": self.length}
        if self.url is not None:
            data["url"] = self.url
        if self.language is not None:
            data["language"] = self.language
        return data


@dataclass(frozen=True, slots=True)
class Parsed:
    text: str                      # the visible text, trimmed as the Bot API trims it
    entities: tuple[Entity, ...]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str, *, strict: bool = False) -> Parsed:
    """Parse Bot API HTML; raise HtmlParseError with Telegram's detail text."""
    data = text.encode("utf-8", "surrogatepass")
    parser = _Parser(data, strict)
    raw, entities = parser.run()
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HtmlParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units") from None
    return _trim(decoded, entities)


def visible_text(text: str) -> str:
    """The text a reader sees for valid HTML (raises HtmlParseError otherwise)."""
    return parse_html(text).text


class _Parser:
    def __init__(self, data: bytes, strict: bool) -> None:
        self.data = data
        self.strict = strict
        self.out = bytearray()
        self.utf16 = 0
        self.entities: list[Entity] = []
        self.stack: list[tuple[str, str, int, int]] = []   # tag, argument, utf16 offset, byte pos

    def at(self, i: int) -> int:
        return self.data[i] if i < len(self.data) else 0

    def run(self) -> tuple[bytes, list[Entity]]:
        i = 0
        while i < len(self.data):
            c = self.data[i]
            if c == 0x26:  # '&'
                decoded = _decode_entity(self.data, i)
                if decoded is not None:
                    ch, i = decoded
                    self._append_char(ch)
                    continue
                if self.strict:
                    raise HtmlParseError(f'Unescaped "&" at byte offset {i}')
            if c != 0x3C:  # not '<'
                if c == 0x3E and self.strict:
                    raise HtmlParseError(f'Unescaped ">" at byte offset {i}')
                self.out.append(c)
                self.utf16 += ((c & 0xC0) != 0x80) + (c >= 0xF0)
                i += 1
                continue
            i = self._end_tag(i) if self.at(i + 1) == 0x2F else self._start_tag(i)
        if self.stack:
            raise HtmlParseError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1][0]}"')
        return bytes(self.out), self.entities

    def _append_char(self, ch: int) -> None:
        self.out += chr(ch).encode("utf-8", "surrogatepass")
        self.utf16 += 1 + (ch > 0xFFFF)

    def _start_tag(self, begin: int) -> int:
        i = begin + 1
        while self.at(i) not in _SPACES and self.at(i) != 0x3E:
            i += 1
        if self.at(i) == 0:
            raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
        tag = self.data[begin + 1:i].decode("utf-8", "replace").lower()
        if tag not in TAGS:
            raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
        argument, i = self._attributes(tag, begin, i)
        if tag == "span" and argument != "spoiler":
            raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
        self.stack.append((tag, argument, self.utf16, len(self.out)))
        return i + 1

    def _attributes(self, tag: str, begin: int, i: int) -> tuple[str, int]:
        argument = ""
        while self.at(i) != 0x3E:
            while self.at(i) != 0 and self.at(i) in _SPACES:
                i += 1
            if self.at(i) == 0x3E:
                break
            name_start = i
            while self.at(i) not in _SPACES and self.at(i) not in (0x3D, 0x3E):
                i += 1
            name = self.data[name_start:i].decode("utf-8", "replace")
            if not name:
                raise HtmlParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
            while self.at(i) != 0 and self.at(i) in _SPACES:
                i += 1
            if self.at(i) != 0x3D:
                if tag == "blockquote" and name == "expandable":
                    argument = "expandable"
                    continue
                raise HtmlParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                    f"at byte offset {begin}")
            i += 1
            while self.at(i) != 0 and self.at(i) in _SPACES:
                i += 1
            if self.at(i) == 0:
                raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
            value, i = self._attribute_value(i)
            if self.at(i) == 0:
                raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
            argument = _tag_argument(tag, name, value, argument)
        return argument, i

    def _attribute_value(self, i: int) -> tuple[str, int]:
        quote = self.at(i)
        if quote not in (0x22, 0x27):
            start = i
            while chr(self.at(i)).isalnum() and self.at(i) < 0x80 or self.at(i) in (0x2E, 0x2D):
                i += 1
            if self.at(i) not in _SPACES and self.at(i) != 0x3E:
                raise HtmlParseError(f"Unexpected end of name token at byte offset {start}")
            return self.data[start:i].decode("ascii").lower(), i
        i += 1
        value = bytearray()
        while self.at(i) != quote and self.at(i) != 0:
            if self.at(i) == 0x26:
                decoded = _decode_entity(self.data, i)
                if decoded is not None:
                    value += chr(decoded[0]).encode("utf-8", "surrogatepass")
                    i = decoded[1]
                    continue
            value.append(self.at(i))
            i += 1
        if self.at(i) == quote:
            i += 1
        return value.decode("utf-8", "replace"), i

    def _end_tag(self, begin: int) -> int:
        if not self.stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {begin}")
        i = begin + 2
        while self.at(i) not in _SPACES and self.at(i) != 0x3E:
            i += 1
        end_name = self.data[begin + 2:i].decode("utf-8", "replace").lower()
        while self.at(i) != 0 and self.at(i) in _SPACES:
            i += 1
        if self.at(i) != 0x3E:
            raise HtmlParseError(f"Unclosed end tag at byte offset {begin}")
        tag, argument, offset, byte_pos = self.stack.pop()
        if end_name and end_name != tag:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", '
                f'found "</{end_name}>"')
        if self.utf16 > offset:
            self._add_entity(tag, argument, offset, self.utf16 - offset, byte_pos)
        return i + 1

    def _add_entity(self, tag: str, argument: str, offset: int, length: int, pos: int) -> None:
        if tag == "a":
            url = argument or self.out[pos:].decode("utf-8", "replace")
            if _LINK_RE.match(url):
                kind = "text_mention" if url.startswith("tg://user?id=") else "text_link"
                self.entities.append(Entity(kind, offset, length, url=url))
        elif tag == "blockquote":
            kind = "expandable_blockquote" if argument == "expandable" else "blockquote"
            self.entities.append(Entity(kind, offset, length))
        elif tag == "pre" and self.entities and self._wraps_code(offset, length):
            code = self.entities.pop()
            self.entities.append(Entity("pre", offset, length, language=code.language))
        elif tag == "code" and argument:
            self.entities.append(Entity("code", offset, length, language=argument))
        else:
            self.entities.append(Entity(_ENTITY_TYPES[tag], offset, length))

    def _wraps_code(self, offset: int, length: int) -> bool:
        last = self.entities[-1]
        return (last.type == "code" and last.offset == offset and last.length == length
                and last.language is not None)


def _tag_argument(tag: str, name: str, value: str, current: str) -> str:
    if tag == "a" and name == "href":
        return value
    if tag == "code" and name == "class" and value.startswith("language-"):
        return value[len("language-"):]
    if tag == "span" and name == "class" and value.startswith("tg-"):
        return value[len("tg-"):]
    if tag == "tg-emoji" and name == "emoji-id":
        return value
    return current


def _decode_entity(data: bytes, pos: int) -> tuple[int, int] | None:
    """TDLib's decode_html_entity: (code point, next position) or None (a literal '&')."""
    end = pos + 1
    at = (lambda k: data[k] if k < len(data) else 0)  # noqa: E731
    if at(end) == 0x23:  # '#'
        end += 1
        hexa = at(end) == 0x78  # lower-case 'x' only
        if hexa:
            end += 1
        digits = b"0123456789abcdefABCDEF" if hexa else b"0123456789"
        value = 0
        while at(end) and at(end) in digits:
            value = value * (16 if hexa else 10) + int(chr(at(end)), 16)
            end += 1
            if value >= 0x10FFFF:
                return None
        if value == 0 or end - pos >= 10:
            return None
    else:
        while chr(at(end)).isalpha() and at(end) < 0x80:
            end += 1
        name = data[pos + 1:end]
        value = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}.get(name, 0)
        if not value:
            return None
    return value, (end + 1 if at(end) == 0x3B else end)


def _trim(text: str, entities: list[Entity]) -> Parsed:
    """Strip surrounding whitespace as the Bot API does, shifting entities with it."""
    shift = len(text) - len(text.lstrip(_TRIM))    # ASCII whitespace: one UTF-16 unit each
    stripped = text.strip(_TRIM)
    total = utf16_len(stripped)
    kept = []
    for e in entities:
        start, end = max(0, e.offset - shift), min(total, e.offset + e.length - shift)
        if end > start:
            kept.append(Entity(e.type, start, end - start, e.url, e.language))
    kept.sort(key=lambda e: (e.offset, -e.length))
    return Parsed(stripped, tuple(kept))
