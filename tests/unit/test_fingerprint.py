"""document_fingerprint: equal exactly when only volatile head elements or trailing comments changed.

Each case is a base document and a variant: the same fingerprint means the poller
may skip parsing the variant, so every "same" case is also checked against the
real parser (same items, title, link, language, ttl).
"""

from __future__ import annotations

import gzip

import pytest

from bot.core.fingerprint import document_fingerprint
from bot.core.parse import parse_feed

URL = "https://news.example/feed.xml"


def rss(*, decl: str = '<?xml version="1.0" encoding="utf-8"?>', channel_attrs: str = "",
        head: str = "<lastBuildDate>Mon, 02 Mar 2026 10:00:00 GMT</lastBuildDate>",
        items: tuple[tuple[str, str], ...] = (("a", "Dam inspected"), ("b", "Road reopened")),
        tail: str = "", extra_item: str = "") -> bytes:
    body = "".join(f"<item><guid>{g}</guid><title>{t}</title><link>/story/{g}</link>"
                   f"<pubDate>Mon, 02 Mar 2026 0{i}:00:00 GMT</pubDate>"
                   f"<description>{t} in the valley.</description></item>"
                   for i, (g, t) in enumerate(items))
    return (f'{decl}\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<channel{channel_attrs}><title>Valley News</title><link>https://news.example/</link>"
            f"<language>en</language>{head}{body}{extra_item}</channel></rss>{tail}").encode()


def atom(*, updated: str = "2026-03-02T10:00:00Z", entry_title: str = "Pass closed by snow",
         base: str = "https://news.example/") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
            f'xml:base="{base}"><title>Valley</title><updated>{updated}</updated>'
            f'<generator uri="https://gen.example/" version="2.1">Gen</generator>'
            f'<entry><id>urn:e1</id><title>{entry_title}</title><link href="/e1"/>'
            f"<updated>2026-03-01T08:00:00Z</updated><summary>Snow.</summary></entry></feed>").encode()


def rdf(*, date: str = "2026-03-02T10:00:00Z", item_title: str = "Bridge repaired") -> bytes:
    return (f'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            f'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<channel rdf:about="https://news.example/"><title>Valley</title><link>https://news.example/</link>'
            f"<dc:date>{date}</dc:date><items><rdf:Seq><rdf:li rdf:resource=\"https://news.example/1\"/>"
            f'</rdf:Seq></items></channel><item rdf:about="https://news.example/1"><title>{item_title}</title>'
            f"<link>https://news.example/1</link><dc:date>2026-03-01T09:00:00Z</dc:date></item></rdf:RDF>").encode()


SAME = {
    "lastBuildDate changed": (rss(), rss(head="<lastBuildDate>Tue, 03 Mar 2026 08:15:00 GMT</lastBuildDate>")),
    "lastBuildDate added": (rss(head=""), rss()),
    "channel pubDate and generator changed": (
        rss(head="<pubDate>Mon, 02 Mar 2026</pubDate><generator>CMS 1.0 at 10:00</generator>"),
        rss(head="<pubDate>Tue, 03 Mar 2026</pubDate>\n  <generator>CMS 1.0 at 11:42</generator>")),
    "trailing cache comments changed": (
        rss(tail="\n<!-- Served from cache @ 2026-03-02 10:00:01 -->"),
        rss(tail="\n<!-- Served from cache @ 2026-03-02 10:05:17 -->\n<!-- 0.12 s -->\n")),
    "atom feed updated and generator changed": (
        atom(), atom(updated="2026-03-02T11:30:00Z").replace(b'version="2.1">Gen', b'version="2.2">Gen')),
    "rss 1.0 channel dc:date changed": (rdf(), rdf(date="2026-03-02T12:45:00Z")),
}

DIFFERENT = {
    "an item edited": (rss(), rss(items=(("a", "Dam inspected again"), ("b", "Road reopened")))),
    "an item added": (rss(), rss(items=(("c", "Flights added"), ("a", "Dam inspected"), ("b", "Road reopened")))),
    "items reordered": (rss(), rss(items=(("b", "Road reopened"), ("a", "Dam inspected")))),
    "encoding declaration changed": (rss(), rss(decl='<?xml version="1.0" encoding="windows-1251"?>')),
    "xml:base changed": (rss(channel_attrs=' xml:base="https://a.example/"'),
                         rss(channel_attrs=' xml:base="https://b.example/"')),
    "ttl added": (rss(), rss(head="<lastBuildDate>Mon, 02 Mar 2026 10:00:00 GMT</lastBuildDate><ttl>60</ttl>")),
    "channel language changed": (rss(), rss().replace(b"<language>en</language>", b"<language>ru</language>")),
    "lastBuildDate with markup": (rss(head="<lastBuildDate>Mon</lastBuildDate>"),
                                  rss(head="<lastBuildDate>Mon &amp; Tue</lastBuildDate>")),
    "lastBuildDate inside CDATA of the description": (
        rss(head="<description><![CDATA[<lastBuildDate>Mon</lastBuildDate>]]></description>"),
        rss(head="<description><![CDATA[<lastBuildDate>Tue</lastBuildDate>]]></description>")),
    "lastBuildDate inside text": (rss(head="<description>Built <pubDate>Mon</pubDate> today</description>"),
                                  rss(head="<description>Built <pubDate>Tue</pubDate> today</description>")),
    "an item's own pubDate changed": (rss(), rss().replace(b"02 Mar 2026 01:00", b"02 Mar 2026 01:30")),
    "a comment inside the document changed": (rss(head="<!-- built 10:00 -->"), rss(head="<!-- built 11:00 -->")),
    "atom entry edited": (atom(), atom(entry_title="Pass reopened")),
    "atom xml:base changed": (atom(), atom(base="https://mirror.example/")),
    "rss 1.0 item edited": (rdf(), rdf(item_title="Bridge closed")),
    "text after the root end": (rss(tail="<!-- a -->"), rss(tail="<!-- a -->x")),
}

NONE = {
    "gzip bytes": gzip.compress(rss()),
    "JSON Feed": b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1"}]}',
    "garbage": b"\x89PNG\r\n\x1a\n not a feed <item>",
    "an HTML page": b"<!DOCTYPE html><html><body><div class='item'>x</div></body></html>",
    "no items": rss(items=()),
    "UTF-16": rss().decode().replace("utf-8", "utf-16").encode("utf-16"),
    "not UTF-8 (windows-1251)": rss(decl='<?xml version="1.0" encoding="windows-1251"?>',
                                    items=(("a", "Плотина"),)).decode().encode("cp1251"),
    "prefixed items": rss().replace(b"<item>", b"<rss:item>").replace(b"</item>", b"</rss:item>"),
    "upper-case items first": rss(head="<ITEM><title>odd</title></ITEM>"),
    "internal DTD subset": rss(decl='<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY d "Mon">]>'),
    "a second encoding declaration": rss(head='<description><![CDATA[<?xml version="1.0" encoding="koi8-r"?>]]>'
                                              "</description>"),
}


@pytest.mark.parametrize("base, variant", SAME.values(), ids=SAME.keys())
def test_only_volatile_changes_keep_the_fingerprint_and_the_parse(base, variant):
    assert base != variant
    fingerprint = document_fingerprint(base, url=URL)
    assert fingerprint is not None and document_fingerprint(variant, url=URL) == fingerprint
    a, b = parse_feed(base, url=URL), parse_feed(variant, url=URL)
    assert a.items and a.error is None
    assert (a.items, a.title, a.link, a.language, a.ttl_s) == (b.items, b.title, b.link, b.language, b.ttl_s)


@pytest.mark.parametrize("base, variant", DIFFERENT.values(), ids=DIFFERENT.keys())
def test_anything_else_changes_the_fingerprint(base, variant):
    before, after = document_fingerprint(base, url=URL), document_fingerprint(variant, url=URL)
    assert before is not None and before != after


@pytest.mark.parametrize("body", NONE.values(), ids=NONE.keys())
def test_documents_that_cannot_be_fingerprinted_safely_get_none(body):
    assert document_fingerprint(body, url=URL) is None


@pytest.mark.parametrize("other", [dict(url="https://news.example/other.xml"),
                                   dict(url=URL, content_type="application/rss+xml; charset=koi8-r")])
def test_the_url_and_the_http_charset_are_part_of_the_fingerprint(other):
    """Relative links resolve against the URL; the HTTP charset can change how bytes are read."""
    assert document_fingerprint(rss(), **other) != document_fingerprint(rss(), url=URL)


def test_a_cdata_section_holding_an_item_end_tag_is_hashed_whole():
    """Items are not sliced: a `</item>` inside CDATA cannot hide the text after it."""
    def doc(word: str) -> bytes:
        return rss(extra_item=f"<item><guid>c</guid><description><![CDATA[x </item> {word}]]></description></item>")
    assert document_fingerprint(doc("one"), url=URL) != document_fingerprint(doc("two"), url=URL)
    assert document_fingerprint(doc("one"), url=URL) is not None
