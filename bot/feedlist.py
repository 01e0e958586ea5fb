"""Feed lists: the operator's YAML feed files and OPML import/export.

A feed list is a YAML file holding a list of feeds (or a mapping with a
`feeds:` key). Each entry is a URL string or a mapping:

    - url: https://example.org/rss
      title: Example
      allow_private: false    # true lets a feed live on a private / loopback address
      full_text: false        # fetch the article page for briefs
      min_interval: 10m
      max_interval: 6h
      language: ru

A URL without a scheme is a local file relative to the list (`samples/a.xml`)
and becomes a `file://` URL. Bad entries raise ConfigError with the file, line
and a fix; `load_feed_lists` collects them so one bad entry skips only itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

import yaml
from lxml import etree

from bot.errors import ConfigError
from bot.settings import parse_duration
from bot.types import Feed, FeedConfig

_KEYS = {"url", "title", "allow_private", "full_text", "min_interval", "max_interval", "language", "tags"}


def load_feed_list(path: Path) -> tuple[list[FeedConfig], list[ConfigError]]:
    """Read one YAML feed list (or an .opml file). Returns (feeds, problems)."""
    if path.suffix.lower() in (".opml", ".xml"):
        try:
            return parse_opml(path.read_bytes(), source=str(path)), []
        except ConfigError as exc:
            return [], [exc]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [], [ConfigError(f"cannot read feed list: {exc.strerror}", file=str(path),
                                hint="fix feeds.lists in the settings")]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                                line=mark.line + 1 if mark else None)]
    if node is None:
        return [], []
    if isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if k.value == "feeds"), None)
    if not isinstance(node, yaml.SequenceNode):
        return [], [ConfigError("expected a list of feeds (or a mapping with a `feeds:` list)", file=str(path), line=1)]
    feeds, problems, seen = [], [], set()
    for entry in node.value:
        try:
            fc = _entry(entry, path)
        except ConfigError as exc:
            problems.append(exc)
            continue
        if fc.url in seen:
            problems.append(ConfigError(f"duplicate feed {fc.url}", file=str(path), line=entry.start_mark.line + 1,
                                        hint="remove one of the two entries"))
            continue
        seen.add(fc.url)
        feeds.append(fc)
    return feeds, problems


def _entry(node: yaml.Node, path: Path) -> FeedConfig:
    line = node.start_mark.line + 1
    value: Any = yaml.safe_load(yaml.serialize(node))
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, dict) or "url" not in value:
        raise ConfigError("a feed needs a url", file=str(path), line=line,
                          hint="write `- url: https://…` or just `- https://…`")
    unknown = set(value) - _KEYS
    if unknown:
        raise ConfigError(f"unknown feed key {sorted(unknown)[0]!r}", file=str(path), line=line,
                          hint=f"valid keys: {', '.join(sorted(_KEYS))}")
    try:
        url = normalise_feed_url(str(value["url"]), base=path.parent)
        return FeedConfig(
            url=url, title=_opt_str(value.get("title")),
            allow_private=_bool(value.get("allow_private", False), "allow_private"),
            full_text=_bool(value.get("full_text", False), "full_text"),
            min_interval_s=_opt_dur(value.get("min_interval")), max_interval_s=_opt_dur(value.get("max_interval")),
            language=_opt_str(value.get("language")), tags=tuple(str(t) for t in value.get("tags") or ()),
        )
    except ValueError as exc:
        raise ConfigError(str(exc), file=str(path), line=line) from exc


def normalise_feed_url(url: str, *, base: Path | None = None) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        if not parts.netloc:
            raise ValueError(f"{url!r} has no host; write a full URL like https://example.org/feed")
        return url
    if parts.scheme == "file":
        return url
    if parts.scheme and len(parts.scheme) > 1:
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} in {url!r}: use http, https or a file path")
    p = Path(url)
    if not p.is_absolute():
        p = (base or Path.cwd()) / p
    return p.resolve().as_uri()


def _opt_str(v: Any) -> str | None:
    return None if v is None else str(v)


def _bool(v: Any, name: str) -> bool:
    if isinstance(v, bool):
        return v
    raise ValueError(f"{name} must be true or false, not {v!r}")


def _opt_dur(v: Any) -> int | None:
    return None if v is None else int(parse_duration(v))


def load_feed_lists(paths: list[Path]) -> tuple[list[FeedConfig], list[ConfigError]]:
    feeds: dict[str, FeedConfig] = {}
    problems: list[ConfigError] = []
    for p in paths:
        if not p.exists():
            problems.append(ConfigError("feed list not found", file=str(p), hint="fix feeds.lists in the settings"))
            continue
        got, bad = load_feed_list(p)
        problems.extend(bad)
        for fc in got:
            feeds.setdefault(fc.url, fc)
    return list(feeds.values()), problems


# --------------------------------------------------------------------------- OPML

_OPML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)


def parse_opml(data: bytes, *, source: str = "OPML") -> list[FeedConfig]:
    """Every outline with an xmlUrl, at any depth. Raises ConfigError if it is not OPML."""
    try:
        root = etree.fromstring(data, _OPML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ConfigError(f"not a valid OPML file: {exc}", file=source,
                          hint="export the feed list again from your reader, or fix the XML") from exc
    if root.tag.lower() != "opml":
        raise ConfigError(f"not an OPML file (root element <{root.tag}>)", file=source)
    out, seen = [], set()
    for el in root.iter("outline"):
        url = (el.get("xmlUrl") or el.get("xmlurl") or "").strip()
        if not url or url in seen:
            continue
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            continue          # an imported list never brings file:// or other schemes in
        seen.add(url)
        out.append(FeedConfig(url=url, title=el.get("title") or el.get("text")))
    return out


def render_opml(feeds: list[Feed], *, title: str = "newsbot feeds") -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<opml version="2.0">',
             f"  <head><title>{escape(title)}</title></head>", "  <body>"]
    for f in feeds:
        name = f.title or f.url
        lines.append(f'    <outline type="rss" text={quoteattr(name)} title={quoteattr(name)} '
                     f'xmlUrl={quoteattr(f.url)}' + (f' htmlUrl={quoteattr(f.site_url)}' if f.site_url else "") + "/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)
