"""The fast path: a strict lxml parse (the guard) and the dispatch to the
RSS/RDF and Atom extractors; plus the recovering parse used as a last resort.

`strict_parse` accepts only well-formed XML. A document it refuses goes to
`parse_repair.repair_xml` or, failing that, to feedparser. The
extractors (`parse_rss`, `parse_atom`) only ever see a tree libxml2
accepted whole. Nothing here reads JSON, recovers broken markup or guesses.
"""

from __future__ import annotations

import threading

from lxml import etree

from bot.core.parse_atom import ATOM03, ATOM10, parse_atom
from bot.core.parse_rss import RDF, FastFeed, parse_rdf, parse_rss

__all__ = ["FastFeed", "extract", "recover_parse", "strict_parse"]

_local = threading.local()


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        # Internal entities only, no network, no DTD loading; libxml2's default
        # limits (huge_tree=False) stop entity-expansion bombs and absurd depth.
        parser = etree.XMLParser(resolve_entities="internal", no_network=True, load_dtd=False,
                                 remove_comments=True, remove_pis=True, collect_ids=False)
        _local.parser = parser
    return parser


def strict_parse(data: bytes, base_url: str | None) -> tuple[etree._Element | None, str | None]:
    """(root, None) for well-formed XML, else (None, libxml2's first error)."""
    try:
        return etree.fromstring(data, _parser(), base_url=base_url), None
    except etree.XMLSyntaxError as exc:
        return None, str(exc)
    except (ValueError, etree.LxmlError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def recover_parse(data: bytes, base_url: str | None) -> etree._Element | None:
    """libxml2's recovering parser, the last resort when feedparser found nothing.
    It silently skips what it cannot read, so its result is always reported as
    damaged. Undeclared prefixes ("rss:item") are dropped from tag names."""
    parser = etree.XMLParser(recover=True, resolve_entities="internal", no_network=True,
                             load_dtd=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(data, parser, base_url=base_url)
    except (etree.LxmlError, ValueError):
        return None
    if root is None:
        return None
    for el in root.iter():
        tag = el.tag
        if isinstance(tag, str) and ":" in tag and not tag.startswith("{"):
            el.tag = tag.split(":", 1)[1]
    return root


def extract(root: etree._Element, base_url: str | None) -> FastFeed | None:
    """Read a parsed tree; None if its root is not RSS, RDF or Atom."""
    tag = root.tag if isinstance(root.tag, str) else ""
    ns, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if local == "rss":
        return parse_rss(root, ns, base_url)
    if local == "RDF" and ns == RDF:
        return parse_rdf(root, base_url)
    if local == "feed" and ns in (ATOM10, ATOM03, ""):
        return parse_atom(root, ns)
    return None
