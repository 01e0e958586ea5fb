"""Bytes → text for feed documents: gzip bodies, BOMs, declared and guessed
encodings, and repair of double-encoded UTF-8 ("mojibake").

Decision order (see docs/parsing.md, "Encodings"):
1. a BOM wins; then UTF-16/32 sniffed from the first bytes;
2. bytes that are valid UTF-8 and contain non-ASCII are UTF-8, whatever the
   HTTP header or the XML declaration claims (legacy text is almost never
   valid UTF-8 by accident);
3. otherwise the HTTP charset, then the XML declaration, if it decodes;
4. otherwise UTF-8 with a few stray bytes read as windows-1252, or a
   single-byte guess (windows-1251 / KOI8-R for Cyrillic, else windows-1252).
ISO-8859-1 and US-ASCII are read as windows-1252, as browsers do.

Nothing here parses XML and nothing does I/O.
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata
import zlib
from dataclasses import dataclass

import charset_normalizer

__all__ = [
    "MAX_DECOMPRESSED",
    "Decoded",
    "decode_document",
    "gunzip_bounded",
    "c1_to_cp1252",
    "quick_encoding_check",
    "repair_mojibake",
]

MAX_DECOMPRESSED = 64 * 1024 * 1024      # a gzip body may expand to this, no more

_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
_SNIFF = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
_DECL_BYTES = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']\s*([A-Za-z0-9._:-]+)""")
_DECL_TEXT = re.compile(r"""^[\s\ufeff]*<\?xml[^>]*\?>""")
_DECL_ANYWHERE = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']\s*([A-Za-z0-9._:-]+)")
_HTTP_CHARSET = re.compile(r"""charset\s*[=:]\s*["']?\s*([^"';,\s]+)""", re.IGNORECASE)
_UTF8_NAMES = frozenset({"utf-8", "utf8"})
# Labels that browsers read as a Windows code page (WHATWG Encoding Standard).
_WINDOWS_FOR = {"iso8859-1": "cp1252", "ascii": "cp1252", "cp1252": "cp1252",
                "iso8859-9": "cp1254", "cp1254": "cp1254", "iso8859-11": "cp874",
                "tis-620": "cp874", "cp874": "cp874"}
# Legacy encodings a document without a usable declaration is tested against.
_LEGACY_CANDIDATES = ["cp1251", "koi8_r", "euc_jp", "shift_jis", "euc_kr", "gb18030", "big5",
                      "tis_620", "cp1255", "cp1253", "cp1256", "cp1250"]
_UTF8_DECL = '<?xml version="1.0" encoding="utf-8"?>'
_HIGH_PAIR = re.compile(rb"[\x80-\xff]{2}")
_MULTIBYTE_UTF8 = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


# ----------------------------------------------------------------- windows-1252 tables

def _c1_table(codec: str) -> dict[int, str]:
    """C1 control (U+0080–U+009F) → what byte 0x80–0x9F means in a Windows code page;
    bytes the code page leaves undefined keep their C1 control."""
    table = {}
    for byte in range(0x80, 0xA0):
        try:
            table[byte] = bytes([byte]).decode(codec)
        except UnicodeDecodeError:
            table[byte] = chr(byte)
    return table


_CP1252_DECODE = _c1_table("cp1252")                          # latin-1 char → cp1252 char
_CP1252_ENCODE = {ord(ch): byte for byte, ch in _CP1252_DECODE.items()}   # back again
_C1_TABLES = {name: _c1_table(name) for name in set(_WINDOWS_FOR.values())}
_ISO_BASE = {"cp1252": "latin-1", "cp1254": "iso8859-9", "cp874": "iso8859-11"}


def _decode_windows(data: bytes, codec: str = "cp1252") -> str:
    """A Windows code page that never fails: undefined bytes stay C1 controls."""
    return data.decode(_ISO_BASE[codec], "replace").translate(_C1_TABLES[codec])


def _decode_cp1252(data: bytes) -> str:
    return _decode_windows(data, "cp1252")


_C1 = re.compile("[\x80-\x9f]")


def c1_to_cp1252(text: str) -> str:
    """Map C1 controls to the windows-1252 characters they almost always meant
    (U+0092 → ’), as HTML5 does for numeric references."""
    return text.translate(_CP1252_DECODE) if _C1.search(text) else text


# ----------------------------------------------------------------- gzip

def gunzip_bounded(body: bytes, limit: int = MAX_DECOMPRESSED) -> tuple[bytes, str | None]:
    """(decompressed body, None) for a gzip body; (b"", reason) if it is corrupt,
    truncated before any content, or too big. A stream cut short after some
    content returns that content (the XML parse reports what is missing)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit)
    except zlib.error as exc:
        return b"", f"the body is gzip-compressed but corrupt ({exc}); check the server's compression"
    if inflater.unconsumed_tail:
        return b"", (f"the gzip body expands past {limit / (1024 * 1024):g} MiB; "
                     "refusing it (possible decompression bomb)")
    if not out and not inflater.eof:
        return b"", "the body is gzip-compressed but corrupt (truncated stream); check the server's compression"
    return out, None


# ----------------------------------------------------------------- document decoding

@dataclass(frozen=True, slots=True)
class Decoded:
    """XML bytes ready for a parser. `data` is UTF-8 unless `transcoded` is False,
    in which case it is the input, whose own declaration (or UTF-8 default) is right."""

    data: bytes
    encoding: str                 # what we decoded with (a Python codec name)
    transcoded: bool
    note: str | None = None       # what was wrong with the declared encoding, if anything


def _codec(name: str | None) -> str | None:
    """Python's canonical codec name, or None for an unknown/absent name."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None


def http_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _HTTP_CHARSET.search(content_type)
    return match.group(1) if match else None


def declared_encoding(body: bytes) -> str | None:
    match = _DECL_BYTES.match(body, 0, 1024) or _DECL_ANYWHERE.search(body, 0, 1024)
    return match.group(1).decode("ascii") if match else None


def quick_encoding_check(body: bytes, content_type: str | None) -> bool:
    """True when the bytes can go to the XML parser untouched: no BOM other than
    UTF-8's, no UTF-16/32 shape, and every declared charset is UTF-8 (or none).
    The parser's own UTF-8 check then catches invalid bytes."""
    head = body[:4]
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00")) or head[1:2] == b"\x00":
        return False
    for name in (http_charset(content_type), declared_encoding(body)):
        if name is not None and _codec(name) not in _UTF8_NAMES:
            return False
    return True


def decode_document(body: bytes, content_type: str | None = None) -> Decoded:
    """Decide the document's encoding and return UTF-8 bytes with a matching declaration."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            text, note = _decode_with(body[len(bom):], name)
            return _transcoded(text, name, note)
    for shape, name in _SNIFF:
        if body.startswith(shape):
            text, note = _decode_with(body, name)
            return _transcoded(text, name, note)
    declared = declared_encoding(body)
    candidates = [c for c in (http_charset(content_type), declared) if c]
    text, name, note = _decode_guessing(body, candidates)
    return _transcoded(text, name, note)


def _decode_with(data: bytes, name: str) -> tuple[str, str | None]:
    try:
        return data.decode(name), None
    except UnicodeDecodeError:
        return data.decode(name, "replace"), f"invalid {name} bytes were replaced"


def _decode_guessing(body: bytes, candidates: list[str]) -> tuple[str, str, str | None]:
    codecs_ = [c for c in map(_codec, candidates) if c]
    unknown = [c for c in candidates if not _codec(c)]
    note = f"unknown encoding {unknown[0]!r} ignored" if unknown else None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        claimed = [c for c in codecs_ if c not in _UTF8_NAMES and not text.isascii()]
        if claimed and not any(c in _UTF8_NAMES for c in codecs_):
            note = f"declared {claimed[0]}, but the bytes are UTF-8; read as UTF-8"
        return text, "utf-8", note
    for name in codecs_:
        if name in _UTF8_NAMES or name.startswith(("utf-16", "utf-32")):
            continue
        if name in _WINDOWS_FOR:
            return _decode_windows(body, _WINDOWS_FOR[name]), _WINDOWS_FOR[name], note
        try:
            return body.decode(name), name, note
        except UnicodeDecodeError:
            continue
    return _guess_undeclared(body, codecs_)


def _guess_undeclared(body: bytes, declared: list[str]) -> tuple[str, str, str | None]:
    said = declared[0] if declared else "UTF-8 (the default)"
    valid = sum(map(len, _MULTIBYTE_UTF8.findall(body)))
    if valid:
        text, bad = _decode_utf8_with_strays(body)
        if bad <= max(4, valid):    # UTF-8 with a few stray bytes
            return text, "utf-8", f"{bad} invalid UTF-8 byte(s) read as windows-1252"
    name = _guess_legacy(body)
    text = _decode_cp1252(body) if name == "cp1252" else body.decode(name, "replace")
    return text, name, f"declared {said}, but the bytes are not; read as {name} (a guess)"


def _decode_utf8_with_strays(body: bytes) -> tuple[str, int]:
    """Decode UTF-8, reading each invalid byte as windows-1252. Returns (text, bad count)."""
    parts: list[str] = []
    pos, bad = 0, 0
    while True:
        try:
            parts.append(body[pos:].decode("utf-8"))
            return "".join(parts), bad
        except UnicodeDecodeError as exc:
            end = pos + exc.start
            parts.append(body[pos:end].decode("utf-8"))
            stop = pos + exc.end
            parts.append(_decode_cp1252(body[end:stop]))
            bad += stop - end
            pos = stop
            if bad > 4096:
                parts.append(_decode_cp1252(body[pos:]))
                return "".join(parts), bad


def _guess_legacy(body: bytes) -> str:
    """windows-1252 when non-ASCII bytes are sparse (accents in Latin text); when they
    come in runs (Cyrillic, Greek, Hebrew, CJK words) ask charset_normalizer."""
    high = len(body) - len(body.translate(None, bytes(range(0x80, 0x100))))
    if high < 4 or len(_HIGH_PAIR.findall(body)) * 4 < high:     # under half in pairs
        return "cp1252"
    best = charset_normalizer.from_bytes(body, cp_isolation=_LEGACY_CANDIDATES).best()
    return codecs.lookup(best.encoding).name if best is not None else "cp1252"


def _transcoded(text: str, name: str, note: str | None) -> Decoded:
    text = _DECL_TEXT.sub("", text, count=1).lstrip("\ufeff")
    return Decoded((_UTF8_DECL + text).encode("utf-8", "surrogatepass"), name, True, note)


# ----------------------------------------------------------------- mojibake

_CONT = "".join(sorted(
    {chr(c) for c in range(0x80, 0xC0)} | {_CP1252_DECODE[b] for b in range(0x80, 0xA0)}
))
_CONT_CLASS = "[" + re.escape(_CONT) + "]"
_MOJIBAKE_LEAD = re.compile(f"[\u00c2-\u00f4]{_CONT_CLASS}")
_MOJIBAKE = re.compile(
    f"(?:[\u00c2-\u00df]{_CONT_CLASS}|[\u00e0-\u00ef]{_CONT_CLASS}{{2}}"
    f"|[\u00f0-\u00f4]{_CONT_CLASS}{{3}})+"
)


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 that was decoded as windows-1252/latin-1 and encoded again
    ("CafÃ©" → "Café", "ÐœÐ¾ÑÐºÐ²Ð°" → "Москва").

    A run is repaired only if its bytes are valid UTF-8 that decodes to
    assigned, printable characters, and only if such runs cover most of the
    field's non-ASCII text: genuine accented text ("doué\u00a0»") has
    non-ASCII characters outside any run and is left alone."""
    if text.isascii():
        return text
    first = _MOJIBAKE_LEAD.search(text)          # one cheap scan; CJK/Cyrillic text stops here
    if first is None:
        return text
    runs = [(m.start(), m.end(), fixed) for m in _MOJIBAKE.finditer(text, first.start())
            if (fixed := _repair_run(m.group(0))) is not None and _fits(text, m.start(), fixed)]
    if not runs:
        return text
    covered = sum(end - start for start, end, _ in runs)
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    if covered * 10 < non_ascii * 7:
        return text
    parts, pos = [], 0
    for start, end, fixed in runs:
        parts.append(text[pos:start])
        parts.append(fixed)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


_BAD_CATEGORIES = frozenset({"Cc", "Cn", "Co", "Cs"})


def _fits(text: str, start: int, fixed: str) -> bool:
    """A repair that yields a letter of another script (CJK, Cyrillic, …) glued to the
    end of a Latin word ("doué\u00a0»" → "dou頻") is a coincidence, not mojibake."""
    first = fixed[0]
    if first < "\u0250" or not first.isalpha() or start == 0:
        return True
    before = text[start - 1]
    return not (before.isalpha() and before < "\u0250")


@functools.lru_cache(maxsize=4096)         # the same few runs ("Ã©", "â€™") repeat endlessly
def _repair_run(run: str) -> str | None:
    try:
        fixed = run.translate(_CP1252_ENCODE).encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    if any(unicodedata.category(ch) in _BAD_CATEGORIES for ch in fixed):
        return None
    return fixed
