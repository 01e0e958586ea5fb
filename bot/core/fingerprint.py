"""Item fingerprints of raw feed documents: "would a parse give the same items as last time?"
answered without parsing.

    document_fingerprint(body, url=..., content_type=...) -> bytes | None

Many feeds change their bytes on every request while their items stay the
same: a fresh `<lastBuildDate>`, `<pubDate>` or `<updated>` in the channel
head, a `<generator>` stamp, a "page cached at …" comment after the root. A
byte hash (feeds.body_hash) sees a new document each time, and a parse of a
50-item document costs ~0.75 ms. The fingerprint is a hash of everything that
can change what the parser reads, which is every byte of the document except:

- **volatile head elements**: `lastBuildDate`, `pubDate`, `updated`,
  `generator` and (when the head declares the Dublin Core namespace)
  `dc:date`, found only in the head (the bytes before the first `<item` or
  `<entry` start tag), between tags (not inside text), outside CDATA sections
  and comments, and only when they are plain ASCII text (no markup, no
  entity, at most 200 characters; `generator` may carry plain attributes). The parser reads none of them:
  items carry their own dates, and the schedule uses item dates and `<ttl>`;
- **trailing comments and whitespace** after the root's end tag (`</rss>`,
  `</feed>`, `</rdf:RDF>`), comments in plain ASCII without `--`: the parser
  drops comments.

The final URL (base of relative links) and the HTTP Content-Type (its
charset counts) go into the hash too, as does a version tag, so a change of
these rules changes every fingerprint (one full parse per feed, never a wrong
skip). Equal fingerprints therefore mean "the same bytes wherever the parser
looks": the same items, title, link, language and `<ttl>`.

No fingerprint (None: the caller parses as usual) when the rule cannot be
applied safely: gzip bytes, JSON or anything not starting with `<`, NUL bytes
(UTF-16/32), bytes that are not valid UTF-8 (a legacy encoding is guessed
from statistics of the whole document), no `<item`/`<entry` start tag, a
prefixed or upper-case item tag before the first one (`<rss:item>`,
`<atom:entry>`, `<ITEM>`: the head would be ambiguous), an internal DTD
subset (`<!ENTITY`), an XML declaration other than the leading one within the
first 4 KB, or an HTML marker there (the parser looks at those windows by
position).

What it does not do: parse XML, decide anything about storage, or do I/O.
Pure and cheap: a few `bytes.find`/regex scans of the head and one SHA-1 over
the body (~20 µs for a 25 KB document).
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["FINGERPRINT_VERSION", "KEY_PREFIX", "document_fingerprint", "document_key", "same_document",
           "stored_key", "stored_ttl"]

FINGERPRINT_VERSION = b"newsbot-fingerprint-1"

# The first entry start tag; any prefix and case, so that an odd one makes us give up.
_ENTRY = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]", re.IGNORECASE)
_SAFE_TEXT = rb"[\t\n\r\x20-\x25\x27-\x3b\x3d\x3f-\x7e]"          # printable ASCII but < & >
_ATTR = rb"""\s+[A-Za-z_][\w.-]*\s*=\s*(?:"[\t\n\r\x20\x21\x23-\x25\x27-\x3b\x3d-\x7e]*"|'[\t\n\r\x20-\x25\x28-\x3b\x3d-\x7e]*')"""
_VOLATILE = re.compile(
    rb"<(lastBuildDate|pubDate|updated|dc:date)\s*>" + _SAFE_TEXT + rb"{0,200}</\1\s*>"
    rb"|<(generator)(?:" + _ATTR + rb")*\s*>" + _SAFE_TEXT + rb"{0,200}</generator\s*>")
_DC_NS = b'xmlns:dc="http://purl.org/dc/elements/1.1/"'
_DECLARATION = re.compile(rb"<\?xml[^>]*?encoding", re.IGNORECASE)
_HTML = re.compile(rb"<(?:html|!doctype\s+html)", re.IGNORECASE)
_TRAILING_COMMENT = re.compile(rb"<!--((?:(?!--)" + _SAFE_TEXT + rb")*)-->\s*\Z")
_ROOT_ENDS = (b"</rss>", b"</feed>", b"</rdf:RDF>")
_LEAD = re.compile(rb"(?:\xef\xbb\xbf)?\s*<")
_WINDOW = 4096                     # covers the parser's positional looks (1 KB, 2 KB)


def document_fingerprint(body: bytes, *, url: str = "", content_type: str | None = None) -> bytes | None:
    """A 20-byte digest equal for two documents exactly when they differ at most in
    volatile head elements and trailing comments (module docstring); None when the
    document cannot be fingerprinted safely."""
    lead = _lead(body)
    if lead is None:
        return None
    entry = _ENTRY.search(body, lead)
    if entry is None or body[entry.start() + 1:entry.end() - 1] not in (b"item", b"entry"):
        return None
    head_end = entry.start()
    if not _head_is_plain(body, lead, head_end):
        return None
    h = hashlib.sha1(FINGERPRINT_VERSION)
    h.update(b"\0" + url.encode("utf-8", "surrogatepass") + b"\0"
             + (content_type or "").encode("utf-8", "surrogatepass") + b"\0")
    view = memoryview(body)
    at = 0
    for start, end in _volatile_spans(body, head_end):
        h.update(view[at:start])
        at = end
    h.update(view[at:_trailer_start(body, head_end)])
    return h.digest()


def _lead(body: bytes) -> int | None:
    """Offset of the first `<` if the bytes are a UTF-8 XML document, else None."""
    if body[:2] == b"\x1f\x8b" or b"\0" in body:
        return None
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    m = _LEAD.match(body)
    return m.end() - 1 if m else None


def _head_is_plain(body: bytes, lead: int, head_end: int) -> bool:
    """No internal DTD subset in the head; nothing the parser finds by position
    (a second encoding declaration, an HTML marker) in the first 4 KB."""
    if body.find(b"<!ENTITY", 0, head_end) != -1:
        return False
    if any(m.start() != lead for m in _DECLARATION.finditer(body, 0, _WINDOW)):
        return False
    return _HTML.search(body, 0, _WINDOW) is None


def _volatile_spans(body: bytes, head_end: int) -> list[tuple[int, int]]:
    """(start, end) of the volatile elements of the head that are outside CDATA and comments."""
    spans = []
    dc_declared = body.find(_DC_NS, 0, head_end) != -1
    for m in _VOLATILE.finditer(body, 0, head_end):
        if m.group(1) == b"dc:date" and not dc_declared:
            continue                  # an undeclared prefix: the parser would repair it, and say so
        after = _next_tag(body, m.start(), m.end())
        if after is None or _inside(body, m.start(), b"<![CDATA[", b"]]>") \
                or _inside(body, m.start(), b"<!--", b"-->"):
            continue
        spans.append((m.start(), after))          # with the whitespace after it
    return spans


def _next_tag(body: bytes, start: int, end: int) -> int | None:
    """Where the next tag starts, if only whitespace separates the element from the tags
    on either side (it is not inside text); else None."""
    before = body.rfind(b">", 0, start)
    after = body.find(b"<", end)
    if before == -1 or after == -1 or body[before + 1:start].strip() or body[end:after].strip():
        return None
    return after


def _inside(body: bytes, at: int, opener: bytes, closer: bytes) -> bool:
    return body.rfind(opener, 0, at) > body.rfind(closer, 0, at)


def _trailer_start(body: bytes, head_end: int) -> int:
    """Where the whitespace and comments after the root's end tag begin (len(body) if none)."""
    end = len(body.rstrip())
    while (m := _TRAILING_COMMENT.search(body, max(head_end, end - 4096), end)) is not None:
        if _inside(body, m.start(), b"<![CDATA[", b"]]>") or _inside(body, m.start(), b"<!--", b"-->"):
            return len(body)
        end = len(body[:m.start()].rstrip())
    return end if body.endswith(_ROOT_ENDS, 0, end) else len(body)


# ---------------------------------------------------------------------- the stored document key
# feeds.body_hash holds "f1:<fingerprint hex>" for a document that has a fingerprint, else the
# SHA-1 hex of its bytes (a byte-identical body only); either may end in ":<ttl seconds>", the
# feed's <ttl> as the last full parse read it, which a skipped parse still needs for the schedule.

KEY_PREFIX = "f1:"


def document_key(body: bytes, *, url: str, content_type: str | None, fingerprints: bool = True) -> str:
    """What the poller compares with feeds.body_hash to skip a parse."""
    fingerprint = document_fingerprint(body, url=url, content_type=content_type) if fingerprints else None
    if fingerprint is None:
        return hashlib.sha1(body).hexdigest()
    return KEY_PREFIX + fingerprint.hex()


def stored_key(key: str, ttl_s: int | None) -> str:
    """The value to store after a full parse: the key and the <ttl> that parse read."""
    return f"{key}:{ttl_s}" if ttl_s else key


def same_document(stored: str | None, key: str) -> bool:
    """Whether `key` is the key of the document stored last time (what `stored_key` wrote)."""
    return stored is not None and (stored == key or stored.startswith(key + ":"))


def stored_ttl(stored: str | None) -> int | None:
    """The <ttl> seconds kept in a stored key, if any."""
    if not stored or stored.count(":") != (2 if stored.startswith(KEY_PREFIX) else 1):
        return None
    ttl = stored.rpartition(":")[2]
    return int(ttl) if ttl.isdigit() else None
