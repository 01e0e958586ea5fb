"""parse_feed against feedparser (the compatibility reference) on every corpus file.

For each file of the shared corpus (env NEWSBOT_CORPUS, default
<project>/../shared/corpus): parse_feed must return within a few seconds,
never raise, and yield items or a readable error; and the items must agree
with feedparser's on title, link, guid, published date (UTC) and summary
text. Every disagreement must fall into one of the CATEGORIES below, each
of which says why our answer is the right one (docs/parsing.md lists them
with counts). An unexplained difference fails the test.

Run it as a script for the per-category counts:
    .venv/bin/python tests/integration/test_corpus_parity.py
"""

from __future__ import annotations

import concurrent.futures
import html
import io
import os
import re
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import feedparser
import pytest

from bot.core.encoding import _LEGACY_CANDIDATES, _decode_utf8_with_strays
from bot.core.parse import parse_feed
from bot.core.parse_items import clean_text
from bot.types import ItemData, ParsedFeed

pytestmark = pytest.mark.corpus

PARSE_TIME_LIMIT_S = 5.0          # per file; the slowest (2.7 MB) takes ~0.1 s
_NOT_FILES = {"INDEX.tsv", "NEWS.md", "SOURCES.md"}
_HEADER = re.compile(rb"Header:\s*([A-Za-z-]+):\s*([^\r\n]*)")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MEDIA_TEXT = re.compile(
    r"<(media:description|itunes:summary)\b[^>]*(?<!/)>(?:\s*<!\[CDATA\[)?(.*?)(?:\]\]>\s*)?</\1>",
    re.DOTALL)


def corpus_dir() -> Path:
    default = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
    return Path(os.environ.get("NEWSBOT_CORPUS", default)).resolve()


def corpus_files(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.name not in _NOT_FILES)


CORPUS = corpus_dir()
FILES = corpus_files(CORPUS)


def _source_urls(root: Path) -> dict[str, str]:
    index = root / "INDEX.tsv"
    if not index.is_file():
        return {}
    rows = (line.split("\t") for line in index.read_text(encoding="utf-8").splitlines()[1:])
    return {cols[0]: cols[11] for cols in rows if len(cols) > 11 and cols[11].strip()}


SOURCE_URLS = _source_urls(CORPUS)


def request_for(rel: str, body: bytes) -> tuple[str, str | None]:
    """(url, content type) as if fetched: feedparser's own test files carry their
    HTTP headers in a leading comment; real snapshots have their source URL."""
    headers = {}
    if b"<!--" in body[:600]:
        headers = {m.group(1).decode().lower(): m.group(2).decode().strip()
                   for m in _HEADER.finditer(body[:600])}
    url = headers.get("content-location") or SOURCE_URLS.get(rel) or f"http://corpus.invalid/{rel}"
    return url, headers.get("content-type")


# --------------------------------------------------------------------------- comparison

@dataclass
class Diff:
    rel: str
    field: str                       # title | summary | link | guid | published | items
    index: int
    theirs: Any                      # feedparser's value, normalised like ours
    ours: Any
    fp_entry: Any = None
    item: ItemData | None = None
    doc: str = ""
    category: str | None = None
    warning: str | None = None       # what parse_feed reported repairing
    utf8: bool = True                # the document's bytes are valid UTF-8


def _utc(st: Any) -> datetime | None:
    return datetime(*st[:6], tzinfo=timezone.utc) if st else None


def _fp_is_html(detail: Any) -> bool:
    return (detail or {}).get("type", "text/html") != "text/plain"


def _fp_summary(entry: Any) -> tuple[str, bool]:
    detail = entry.get("summary_detail") or (entry.get("content") or [{}])[0]
    return entry.get("summary") or "", _fp_is_html(detail)


def _plain(value: str, is_html: bool) -> str:
    """feedparser's string as text, with no repair of any kind."""
    from bot.core.text import html_to_text
    return html_to_text(value) if is_html else " ".join(value.split())


def _fp_fields(entry: Any) -> dict[str, Any]:
    summary, summary_html = _fp_summary(entry)
    return {
        "title": " ".join(_plain(entry.get("title") or "", _fp_is_html(entry.get("title_detail"))).split()),
        "summary": _plain(summary, summary_html),
        "link": entry.get("link") or None,
        "guid": entry.get("id") or None,
        "published": _utc(entry.get("published_parsed")),
    }


def compare(rel: str, doc: bytes, ours: ParsedFeed, ref: Any) -> list[Diff]:
    text = doc.decode("utf-8", "replace")
    entries = list(ref.get("entries", []))
    if not entries and ours.items:
        return [Diff(rel, "items", -1, 0, len(ours.items), doc=text)]
    diffs: list[Diff] = []
    kept, seen = [], set()
    for index, entry in enumerate(entries):
        identity = _identity(entry)
        if identity in seen:          # a repeat of an earlier entry: we drop those
            diffs.append(Diff(rel, "items", index, entry, None, entry, None, text))
            continue
        seen.add(identity)
        kept.append((index, entry))
    if len(kept) != len(ours.items):
        return diffs + [Diff(rel, "items", -2, len(kept), len(ours.items), doc=text)]
    for (index, entry), item in zip(kept, ours.items):
        theirs = _fp_fields(entry)
        for field in ("title", "summary", "link", "guid", "published"):
            if theirs[field] != getattr(item, field):
                diffs.append(Diff(rel, field, index, theirs[field], getattr(item, field), entry, item, text))
    return diffs


def _identity(entry: Any) -> tuple:
    fields = _fp_fields(entry)
    return fields["guid"] or fields["link"], fields["title"], fields["summary"]


# --------------------------------------------------------------------------- categories

def _ours_from(d: Diff, raw: str, is_html: bool | None) -> bool:
    """Does our cleaning of this raw string give exactly our value?"""
    value = clean_text(raw, is_html)
    if d.field == "title":
        value = " ".join(value.split())
    return value == d.ours


def _fp_raw(d: Diff) -> tuple[str, bool]:
    if d.field == "title":
        return d.fp_entry.get("title") or "", _fp_is_html(d.fp_entry.get("title_detail"))
    return _fp_summary(d.fp_entry)


def _mojibake(d: Diff) -> bool:
    """Valid UTF-8 whose text was double-encoded: our repair of feedparser's string, or
    undoing the double encoding of the whole field, gives our value."""
    raw, is_html = _fp_raw(d)
    # feedparser strips a trailing NBSP, which breaks the mojibake pair "Â\xa0" apart.
    candidates = [raw, raw[:-1] + "Â\xa0"] if raw.endswith("Â") else [raw]
    candidates += [_decode_utf8_with_strays(data)[0] for data in _original_bytes(raw)]
    return d.utf8 and any(_ours_from(d, c, is_html) for c in candidates)


def _script_dropped(d: Diff) -> bool:
    low = d.doc.lower()
    return ("<script" in low or "&lt;script" in low) and \
        set(str(d.ours).split()) <= set(str(d.theirs).split())


def _stray_lt(d: Diff) -> bool:
    """The texts agree up to a literal "<" in ours that starts no complete tag."""
    theirs, ours = str(d.theirs), str(d.ours)
    at = next((i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b), min(len(theirs), len(ours)))
    return "<" in ours[max(0, at - 1):at + 2]


_UNDO_CP1252 = {ord(ch): byte for ch, byte in zip(
    bytes(range(0x80, 0xA0)).decode("cp1252", "replace"), range(0x80, 0xA0)) if ch != "\ufffd"}


def _original_bytes(text: str) -> list[bytes]:
    """The bytes feedparser may have read `text` from: it tries windows-1252, then
    ISO-8859-2, and maps C1 controls to windows-1252 characters afterwards (so a
    character such as 'ž' may stand for either byte: both readings are tried)."""
    found = []
    for codec in ("latin-1", "iso8859-2"):
        for c1_first in (True, False):
            out = bytearray()
            for ch in text:
                try:
                    out += bytes([_UNDO_CP1252[ord(ch)]]) if c1_first and ord(ch) in _UNDO_CP1252 \
                        else ch.encode(codec)
                except UnicodeEncodeError:
                    if ord(ch) not in _UNDO_CP1252:
                        break
                    out.append(_UNDO_CP1252[ord(ch)])
            else:
                found.append(bytes(out))
    return found


def _legacy_encoding(d: Diff) -> bool:
    if d.utf8:
        return False
    raw, is_html = _fp_raw(d)
    for data in _original_bytes(raw):
        for codec in _LEGACY_CANDIDATES:
            try:
                if _ours_from(d, data.decode(codec), is_html):
                    return True
            except UnicodeDecodeError:
                continue
    return False


def _stray_bytes(d: Diff) -> bool:
    raw, is_html = _fp_raw(d)
    return not d.utf8 and any(_ours_from(d, _decode_utf8_with_strays(data)[0], is_html) for data in _original_bytes(raw))


def _html_in_plain_text(d: Diff) -> bool:
    raw, is_html = _fp_raw(d)
    return not is_html and _ours_from(d, raw, True)


def _control_chars(d: Diff) -> bool:
    raw, is_html = _fp_raw(d)
    return bool(_CONTROLS.search(raw)) and _ours_from(d, _CONTROLS.sub("", raw), is_html)


def _empty_description(d: Diff) -> bool:
    content = (d.fp_entry.get("content") or [{}])[0]
    return not d.theirs and bool(content.get("value")) and \
        _ours_from(d, content["value"], _fp_is_html(content) or None)


def _media_description(d: Diff) -> bool:
    texts = {" ".join(_plain(html.unescape(m.group(2)), True).split()) for m in _MEDIA_TEXT.finditer(d.doc)}
    return " ".join((d.theirs or "").split()) in texts and d.ours not in texts


def _relative_id(d: Diff) -> bool:
    ours, theirs = d.ours or "", d.theirs or ""
    return bool(ours) and "://" not in ours and "://" in theirs and theirs.endswith(ours.lstrip("./"))


def _id_not_a_link(d: Diff) -> bool:
    guid = (d.item.guid or "") if d.item else ""
    return d.ours is None and d.theirs == d.fp_entry.get("id") and \
        not guid.lower().startswith(("http://", "https://"))


def _published_from_updated(d: Diff) -> bool:
    return d.theirs is None and d.ours is not None and d.ours == _utc(d.fp_entry.get("updated_parsed"))


def _created_as_published(d: Diff) -> bool:
    return d.theirs is None and d.ours == _utc(d.fp_entry.get("created_parsed"))


def _repeat_dropped(d: Diff) -> bool:
    return d.ours is None and d.fp_entry is not None


def _json_feed(d: Diff) -> bool:
    return d.index == -1 and d.doc.lstrip("\ufeff \t\r\n").startswith("{")


def _repaired_document(d: Diff) -> bool:
    return d.index == -1 and any(word in (d.warning or "") for word in ("prolog", "prefix", "salvaged"))


def _gzip_body(d: Diff) -> bool:
    return d.index == -1 and d.doc.startswith("\x1f\ufffd")


FEEDPARSER_QUIRKS = {
    "feedparser/encoding/bozo_linenoise.xml":
        "its sanitiser drops a literal '<>' and its whole-document windows-1252 reading turns "
        "the stray byte into 'Š'; we keep '’<>”' and read only the stray byte (as '©')",
    "feedparser/wellformed/atom10/entry_link_no_href_link_priority.xml":
        "its Expect line says both entries link to the alternate URL, but feedparser takes the "
        "enclosure's text as the first entry's link; we give both the alternate link, which "
        "makes them identical, so the repeat is dropped",
    "feedparser/wellformed/atom10/entry_link_rel_enclosure_no_href.xml":
        "same as entry_link_no_href_link_priority.xml, entries in the other order",
}


@dataclass(frozen=True)
class Category:
    name: str
    fields: tuple[str, ...]
    why: str
    applies: Callable[[Diff], bool]


CATEGORIES = (
    Category("feedparser_test_quirk", ("title", "summary", "items"),
             "feedparser's own test files where feedparser 6.0.14 shows a quirk; per file: "
             + "; ".join(f"{name}: {why}" for name, why in FEEDPARSER_QUIRKS.items()),
             lambda d: d.rel in FEEDPARSER_QUIRKS),
    Category("published_from_updated", ("published",),
             "No published date but an updated one (Atom <updated>, RSS dc:date): we use it; "
             "feedparser leaves `published` empty and the poller would fall back to first-seen time.",
             _published_from_updated),
    Category("dcterms_created_as_published", ("published",),
             "dcterms:created is the item's creation date; feedparser files it under `created` only.",
             _created_as_published),
    Category("mojibake_repaired", ("title", "summary"),
             "Double-encoded UTF-8 repaired run by run (incl. cp1252 punctuation ’ “ — …); "
             "feedparser's repair works only on a field that is Latin-1 as a whole.",
             _mojibake),
    Category("legacy_encoding_detected", ("title", "summary"),
             "Undeclared legacy encoding (EUC-JP, Shift_JIS, KOI8-R, …) detected; feedparser "
             "without chardet reads the bytes as windows-1252 and gets nonsense.",
             _legacy_encoding),
    Category("stray_bytes_in_utf8", ("title", "summary"),
             "A few invalid bytes in a UTF-8 document: we keep the UTF-8 and read only those "
             "bytes as windows-1252; feedparser re-reads the whole document as windows-1252.",
             _stray_bytes),
    Category("html_in_plain_text", ("title", "summary"),
             "HTML sent as Atom type=\"text\" (or untyped): we strip it when it looks like HTML "
             "(feedparser's own test); feedparser only guesses for RSS and keeps the tags.",
             _html_in_plain_text),
    Category("script_text_dropped", ("title", "summary"),
             "Text inside <script> (even one broken across lines or left unclosed) is dropped; "
             "feedparser's SGML sanitiser lets fragments of the code through.",
             _script_dropped),
    Category("stray_lt_kept_as_text", ("title", "summary"),
             "A literal \"<\" that starts no complete tag (code such as <<EOF, a tag cut off "
             "by truncation): we keep the text; feedparser's sanitiser drops or mangles what follows.",
             _stray_lt),
    Category("control_characters_removed", ("title", "summary"),
             "Control characters are not allowed in XML; we drop them, feedparser keeps them.",
             _control_chars),
    Category("empty_description_uses_content", ("summary",),
             "An empty <description> beside a full content:encoded: we summarise the content; "
             "feedparser returns an empty summary.",
             _empty_description),
    Category("media_description_not_summary", ("summary",),
             "feedparser lets a later media:description (usually a photo caption) or "
             "itunes:summary replace the item's description; we keep the description.",
             _media_description),
    Category("relative_id_kept_as_written", ("guid",),
             "feedparser resolves a relative id/guid against the base URL; we keep the id as "
             "written, so the key does not change when the feed moves.",
             _relative_id),
    Category("non_url_id_not_a_link", ("link",),
             "feedparser uses an id that is not an http(s) URL (urn:uuid:…, a relative path) as "
             "the entry's link; we leave the link empty rather than invent one.",
             _id_not_a_link),
    Category("repeated_entry_dropped", ("items",),
             "An entry identical to an earlier one (id, link, title, text) is dropped: one story, "
             "one item. feedparser returns both.",
             _repeat_dropped),
    Category("feedparser_reads_no_json", ("items",),
             "JSON Feed: feedparser 6 has no JSON reader; ours is tested by golden fixtures.",
             _json_feed),
    Category("repaired_where_feedparser_reads_nothing", ("items",),
             "A broken prolog (<?xml?xml … ??>) and RSS elements under an undeclared rss: prefix: "
             "we repair the bytes (reported in the warning) and read the items; feedparser reads none.",
             _repaired_document),
    Category("feedparser_reads_no_gzip", ("items",),
             "A gzip-compressed body without Content-Encoding: we decompress it (bounded); "
             "feedparser only decompresses what it fetched itself.",
             _gzip_body),
)


def classify(diff: Diff) -> str | None:
    for category in CATEGORIES:
        if diff.field in category.fields and category.applies(diff):
            return category.name
    return None


# --------------------------------------------------------------------------- running

_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1)


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse_with_deadline(body: bytes, url: str, content_type: str | None) -> tuple[ParsedFeed, float]:
    start = time.perf_counter()
    future = _POOL.submit(parse_feed, body, url=url, content_type=content_type)
    result = future.result(timeout=PARSE_TIME_LIMIT_S * 4)   # a hang fails here, not forever
    return result, time.perf_counter() - start


def reference(body: bytes, url: str, content_type: str | None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return feedparser.parse(io.BytesIO(body), response_headers={
            "content-location": url, "content-type": content_type or "application/xml"})


def check_file(rel: str) -> tuple[ParsedFeed, list[Diff], float]:
    body = (CORPUS / rel).read_bytes()
    url, content_type = request_for(rel, body)
    ours, elapsed = parse_with_deadline(body, url, content_type)
    diffs = compare(rel, body, ours, reference(body, url, content_type))
    utf8 = _is_utf8(body)
    for diff in diffs:
        diff.warning, diff.utf8 = ours.warning, utf8
        diff.category = classify(diff)
    return ours, diffs, elapsed


def describe(diff: Diff) -> str:
    theirs, ours = str(diff.theirs), str(diff.ours)
    at = next((i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b), min(len(theirs), len(ours)))
    start = max(0, at - 80)
    return (f"{diff.rel} entry {diff.index} {diff.field} (first difference at {at}):\n"
            f"    feedparser: {theirs[start:at + 120]!r}\n    ours:       {ours[start:at + 120]!r}")


def test_corpus_is_present() -> None:
    if FILES:
        return
    if os.environ.get("CI"):
        pytest.fail(f"corpus not found at {CORPUS}: CI must have ../shared/corpus (or set NEWSBOT_CORPUS)")
    pytest.skip(f"corpus not found at {CORPUS}; set NEWSBOT_CORPUS to run the parity tests")


@pytest.mark.parametrize("rel", FILES)
def test_file_parses_like_feedparser(rel: str) -> None:
    ours, diffs, elapsed = check_file(rel)
    assert elapsed < PARSE_TIME_LIMIT_S, f"{rel}: parse took {elapsed:.1f} s"
    assert ours.items or ours.error or ours.warning, f"{rel}: no items and no reason given"
    if ours.error:
        assert len(ours.error) > 20 and not ours.items
    unexplained = [d for d in diffs if d.category is None]
    assert not unexplained, "unexplained differences:\n" + "\n".join(map(describe, unexplained[:5]))


def main() -> None:
    counts: Counter[str] = Counter()
    files: dict[str, set[str]] = {}
    outcome: Counter[str] = Counter()
    unexplained: list[Diff] = []
    ours_s = 0.0
    items = 0
    for rel in FILES:
        ours, diffs, elapsed = check_file(rel)
        ours_s += elapsed
        items += len(ours.items)
        outcome[f"parser={ours.parser} " + ("error" if ours.error else "items" if ours.items else "empty")] += 1
        for diff in diffs:
            counts[diff.category or "UNEXPLAINED"] += 1
            files.setdefault(diff.category or "UNEXPLAINED", set()).add(rel)
            if diff.category is None:
                unexplained.append(diff)
    print(f"{len(FILES)} files, {items} items, {items * 5} fields compared, "
          f"{sum(counts.values())} differences; parse_feed total {ours_s:.2f} s")
    for key, value in sorted(outcome.items()):
        print(f"  {key}: {value}")
    for name, value in counts.most_common():
        shown = ", ".join(sorted(files[name])[:3]) + (", …" if len(files[name]) > 3 else "")
        print(f"  {name}: {value} differences in {len(files[name])} files ({shown})")
    for diff in unexplained[: int(sys.argv[1]) if len(sys.argv) > 1 else 20]:
        print(describe(diff))


if __name__ == "__main__":
    main()
