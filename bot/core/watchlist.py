"""Watchlists: load one operator YAML file into rules, or say exactly where it is wrong.

What it does: :func:`load_watchlist` parses a watchlist file's text (the path is
only for messages) and validates every key and every query; problems are
:class:`bot.errors.ConfigError` with the file, the line of the offending entry,
the key path and a hint. :meth:`Watchlist.rules` gives one
:class:`bot.core.match.Rule` per term (its aliases OR-ed, its exclusions
subtracted). :func:`load_watchlists` loads many files and returns the good
ones beside the errors, so one broken file never blocks the others.

Schema (docs/watchlists.md has the full reference)::

    name: central-asia            # optional, defaults to the file name; [a-z0-9-]
    title: Central Asia security  # required
    description: ...              # optional
    priority: 2                   # optional int, default 0 (higher first)
    languages: [en, ru, tg]       # optional: which word forms apply
    why: [...]                    # optional context lines quoted in briefs
    terms:                        # required, at least one
      - term: Tajikistan          # required: the name shown in explanations
        match: [Tajikistan, Dushanbe, Таджикистан]   # queries, any one matches
        exclude: [football]       # optional queries: items matching any are left out
        why: [...]                # optional, quoted before the watchlist's lines
        priority: 3               # optional, defaults to the watchlist's
        languages: [ru]           # optional, defaults to the watchlist's

What it does not do: read files, watch them for changes or keep the previous
version on error (the caller does), or match anything (``match.py``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Mapping

import yaml

from bot.core.match import Rule
from bot.core.query import OPERATOR_LIMITS, parse_query
from bot.core.stem import KNOWN_LANGUAGES
from bot.errors import ConfigError, QueryError

WATCHLIST_KEYS = ("name", "title", "description", "priority", "languages", "why", "terms")
TERM_KEYS = ("term", "match", "exclude", "why", "priority", "languages")
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*$")
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
# Country codes often written where a language code belongs.
_COUNTRY_NOT_LANGUAGE = {"tj": "tg", "ua": "uk", "cn": "zh", "jp": "ja", "kz": "kk", "kg": "ky", "gr": "el",
                         "ir": "fa", "dk": "da", "se": "sv", "cz": "cs", "il": "he", "af": "ps"}


@dataclass(frozen=True, slots=True)
class WatchTerm:
    """One watched subject with its aliases (queries)."""

    name: str
    id: str
    match: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    why: tuple[str, ...] = ()
    priority: int = 0
    languages: tuple[str, ...] = ()
    line: int | None = None

    def query(self) -> str:
        """The term as one query: ``(a) OR (b)``, then ``AND NOT ((x) OR (y))`` for exclusions."""
        found = " OR ".join(f"({q})" for q in self.match)
        if not self.exclude:
            return found
        return f"({found}) AND NOT ({' OR '.join(f'({q})' for q in self.exclude)})"


@dataclass(frozen=True, slots=True)
class Watchlist:
    """A loaded, validated watchlist."""

    name: str
    title: str
    path: str
    terms: tuple[WatchTerm, ...]
    description: str = ""
    why: tuple[str, ...] = ()
    priority: int = 0
    languages: tuple[str, ...] = ()

    def rules(self) -> list[Rule]:
        """One rule per term; ``why`` is the term's lines, then the watchlist's."""
        return [Rule(id=t.id, query=t.query(), watchlist=self.name, why=t.why + self.why,
                     priority=t.priority, languages=t.languages) for t in self.terms]


class _Reader:
    """Walks the composed YAML node tree, so every error knows its line."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, node: yaml.Node | None, key: str | None, message: str, hint: str | None = None) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else None
        return ConfigError(message, file=self.path, line=line, key=key or None, hint=hint)

    def mapping(self, node: yaml.Node, key: str, allowed: tuple[str, ...]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, key, "expected a mapping (key: value lines)")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            name = str(k.value)
            where = f"{key}.{name}" if key else name
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f'did you mean "{close[0]}"?' if close else "allowed: " + ", ".join(allowed)
                raise self.error(k, where, f'unknown key "{name}"', hint)
            if name in out:
                raise self.error(k, where, f'"{name}" appears twice')
            out[name] = (k, v)
        return out

    def scalar(self, node: yaml.Node, key: str) -> object:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, key, "expected a single value, not a list or mapping")
        return _CONSTRUCTOR.construct_object(node, deep=True)

    def text(self, node: yaml.Node, key: str) -> str:
        value = self.scalar(node, key)
        if not isinstance(value, str) or not value.strip():
            raise self.error(node, key, "expected non-empty text", 'quote it if YAML reads it as a number or yes/no')
        return value.strip()

    def integer(self, node: yaml.Node, key: str) -> int:
        value = self.scalar(node, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(node, key, "expected a whole number", "e.g. priority: 2")
        return value

    def texts(self, node: yaml.Node, key: str) -> list[tuple[yaml.Node, str]]:
        """A list of texts; a single text is accepted as a list of one."""
        if isinstance(node, yaml.ScalarNode):
            return [(node, self.text(node, key))]
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, key, "expected a list of texts")
        return [(item, self.text(item, f"{key}[{i}]")) for i, item in enumerate(node.value)]

    def languages(self, node: yaml.Node, key: str) -> tuple[str, ...]:
        out = []
        for item, code in self.texts(node, key):
            if code not in KNOWN_LANGUAGES:
                close = [_COUNTRY_NOT_LANGUAGE[code]] if code in _COUNTRY_NOT_LANGUAGE else \
                    difflib.get_close_matches(code, sorted(KNOWN_LANGUAGES), n=1)
                hint = f'did you mean "{close[0]}"?' if close else "use two-letter ISO 639-1 codes (en, ru, tg)"
                raise self.error(item, key, f'unknown language "{code}"', hint)
            out.append(code)
        return tuple(out)

    def query(self, node: yaml.Node, key: str, query: str) -> str:
        try:
            parse_query(query, OPERATOR_LIMITS)
        except QueryError as exc:
            token = query[exc.position:exc.position + exc.length]
            raise self.error(node, key, f'{exc.message}, at "{token}" (column {exc.position + 1}) of: {query}',
                             "see the query language in docs/watchlists.md") from exc
        return query


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "term"


def _read_term(r: _Reader, node: yaml.Node, key: str, defaults: dict) -> WatchTerm:
    fields = r.mapping(node, key, TERM_KEYS)
    if "term" not in fields:
        raise r.error(node, key, 'a term needs "term: <name>"', "the name shown in explanations")
    name = r.text(fields["term"][1], f"{key}.term")
    queries = r.texts(fields["match"][1], f"{key}.match") if "match" in fields else [(fields["term"][1], name)]
    if not queries:
        raise r.error(fields["match"][1], f"{key}.match", "empty match list", "list at least one query")
    match = tuple(r.query(n, f"{key}.match[{i}]", q) for i, (n, q) in enumerate(queries))
    exclude = tuple(r.query(n, f"{key}.exclude[{i}]", q)
                    for i, (n, q) in enumerate(r.texts(fields["exclude"][1], f"{key}.exclude"))) \
        if "exclude" in fields else ()
    why = tuple(t for _, t in r.texts(fields["why"][1], f"{key}.why")) if "why" in fields else ()
    priority = r.integer(fields["priority"][1], f"{key}.priority") if "priority" in fields else defaults["priority"]
    languages = r.languages(fields["languages"][1], f"{key}.languages") if "languages" in fields \
        else defaults["languages"]
    term = WatchTerm(name, f"watchlist:{defaults['name']}#{_slug(name)}", match, exclude, why, priority,
                     languages, node.start_mark.line + 1)
    r.query(node, key, term.query())            # the combined query must fit the limits too
    return term


def _read_terms(r: _Reader, node: yaml.Node, defaults: dict) -> tuple[WatchTerm, ...]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise r.error(node, "terms", "expected a list of terms", '"- term: Tajikistan" entries')
    terms: list[WatchTerm] = []
    for i, item in enumerate(node.value):
        term = _read_term(r, item, f"terms[{i}]", defaults)
        if any(t.id == term.id for t in terms):
            raise r.error(item, f"terms[{i}].term", f'a term named "{term.name}" already exists',
                          "give each term its own name")
        terms.append(term)
    return tuple(terms)


def _compose(text: str, path: str) -> yaml.Node:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML: {problem}", file=path, line=mark.line + 1 if mark else None,
                          hint="check indentation, colons and quotes on this line or the one before") from exc
    if node is None:
        raise ConfigError("the file is empty", file=path, hint="a watchlist needs title: and terms:")
    return node


def load_watchlist(text: str, path: str) -> Watchlist:
    """Parse and validate one watchlist file; raises ConfigError at the first problem."""
    r = _Reader(path)
    fields = r.mapping(_compose(text, path), "", WATCHLIST_KEYS)
    name = path.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if "name" in fields:
        name = r.text(fields["name"][1], "name")
    if not _NAME_RE.match(name):
        raise r.error(fields["name"][1] if "name" in fields else None, "name", f'bad watchlist name "{name}"',
                      "use lowercase letters, digits and dashes, e.g. central-asia")
    if "title" not in fields:
        raise ConfigError('missing "title"', file=path, line=1, key="title", hint="title: Central Asia security")
    if "terms" not in fields:
        raise ConfigError('missing "terms"', file=path, line=1, key="terms", hint="list the subjects to watch")
    defaults = {
        "name": name,
        "priority": r.integer(fields["priority"][1], "priority") if "priority" in fields else 0,
        "languages": r.languages(fields["languages"][1], "languages") if "languages" in fields else (),
    }
    return Watchlist(
        name=name, title=r.text(fields["title"][1], "title"), path=path,
        terms=_read_terms(r, fields["terms"][1], defaults),
        description=r.text(fields["description"][1], "description") if "description" in fields else "",
        why=tuple(t for _, t in r.texts(fields["why"][1], "why")) if "why" in fields else (),
        priority=defaults["priority"], languages=defaults["languages"],
    )


def load_watchlists(dir_texts: Mapping[str, str]) -> tuple[list[Watchlist], list[ConfigError]]:
    """Load every file (path → text); broken files and duplicate names become errors, the rest load."""
    loaded: list[Watchlist] = []
    errors: list[ConfigError] = []
    for path in sorted(dir_texts):
        try:
            watchlist = load_watchlist(dir_texts[path], path)
        except ConfigError as exc:
            errors.append(exc)
            continue
        other = next((w for w in loaded if w.name == watchlist.name), None)
        if other is not None:
            errors.append(ConfigError(f'watchlist name "{watchlist.name}" is already used by {other.path}',
                                      file=path, key="name", hint="names must be unique"))
            continue
        loaded.append(watchlist)
    return loaded, errors
