"""The matching engine: every rule compiled into one matcher, each match explained.

What it does: :func:`compile_rules` turns rules (watchlist terms and member
queries) into one :class:`Matcher`. For each item, :meth:`Matcher.match`

1. normalises title and summary in one pass (``normalize.fold_fields``) into
   one space-separated string, the fields joined by a separator token;
2. runs ONE Aho-Corasick pass over it. The automaton holds, for every rule,
   only the words that *must* appear for it to match (its "triggers"; one
   word per phrase, the most distinctive). Patterns are space-padded
   (" csto " for a whole word, " tajik" for a prefix or a stem), so word
   boundaries cost nothing;
3. evaluates only the rules whose triggers occurred: phrases, gaps, NEAR,
   AND/OR/NOT, fields, letter case and word forms are checked around the
   occurrences, with C-speed string searches;
4. returns a :class:`bot.types.Match` per rule that holds, with one
   :class:`bot.types.Hit` per term occurrence: the term as written, the field,
   the original text and its character offsets in that field.

Cost is linear in the text for any query: no regular expression built from
user input exists anywhere. A bad query does not stop the others: it is left
out and reported in :attr:`Matcher.errors`.

Changes: :meth:`Matcher.with_rules` rebuilds the automaton from cached
compiled rules (a full rebuild; 10,000 rules compile in well under 2 s, see
bench/bench_match.py), so watchlist reloads and new subscriptions are cheap.

What it does not do: load watchlists (``watchlist.py``), decide where matches
go, or remember anything between calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import ahocorasick

from bot.core.normalize import EN_ORDINALS, FIELD_SEP, case_key, fold_fields, tokenize
from bot.core.query import MEMBER_LIMITS, OPERATOR_LIMITS, And, Near, Node, Not, Term, parse_query
from bot.core.stem import is_form, listed_forms, word_forms
from bot.errors import QueryError
from bot.types import Hit, Match

EXACT, PREFIX, STEM = 0, 1, 2
TITLE, SUMMARY = 1, 2
_FIELDS = ("title", "summary")
MAX_OCCURRENCES = 20        # per term and item, for evaluation
MAX_HITS = 12               # per match, in the explanation
_STOPWORDS = frozenset("the a an of in on at to for by and or with from as is was be are it that this "
                       "и в во на с со о об по к у за из не что это как от для".split())


@dataclass(frozen=True, slots=True)
class Rule:
    """One query to match. Watchlist rules get the wider operator limits."""

    id: str
    query: str
    watchlist: str | None = None
    why: tuple[str, ...] = ()
    priority: int = 0
    languages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleError:
    """A rule that was left out of the matcher, and why."""

    rule_id: str
    error: QueryError

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.error}"


class _Word:
    """One compiled query token.

    EXACT: the text token is one of ``variants`` (the word, its English plural,
    "201" and "201st", ...): whole-token patterns " w ". PREFIX: the token
    starts with ``norm``. STEM: the token starts with the common prefix of the
    word and its stems, and ``stem.is_form`` confirms it.
    """

    __slots__ = ("kind", "norm", "patterns", "variants", "forms", "cased", "gap")

    def __init__(self, kind: int, norm: str, patterns: tuple[str, ...], *, variants: frozenset[str] = frozenset(),
                 forms: tuple = (), cased: str | None = None, gap: int = 0):
        self.kind, self.norm, self.patterns, self.variants = kind, norm, patterns, variants
        self.forms, self.cased, self.gap = forms, cased, gap


class _Atom:
    """One compiled term (word or phrase). Identity-hashed: used as a cache key per item."""

    __slots__ = ("words", "fields", "anchor", "term", "order")

    def __init__(self, words: tuple[_Word, ...], fields: int, term: str, order: int):
        self.words, self.fields, self.term, self.order = words, fields, term, order
        self.anchor = max(range(len(words)), key=lambda i: _specificity(words[i]))


def _specificity(word: _Word) -> float:
    """How rare a word is likely to be: longer, exact and non-stopword is better."""
    score = min(map(len, word.patterns)) - 1 + (2 if word.kind == EXACT else 0)
    return score - 20 if word.norm in _STOPWORDS else score


def _number(norm: str) -> str | None:
    """"201" for "201" and "201st": numbers match their English ordinal and back."""
    digits = norm[:-2] if norm[-2:] in EN_ORDINALS else norm
    return digits if digits.isdigit() and digits.isascii() else None


def _exact(norm: str, variants: Iterable[str], cased: str | None, gap: int) -> _Word:
    found = frozenset(variants)
    return _Word(EXACT, norm, tuple(f" {v} " for v in sorted(found)), variants=found, cased=cased, gap=gap)


def _compile_word(qw, term: Term, languages: tuple[str, ...], in_phrase: bool) -> _Word:
    cased = qw.raw if term.case else None
    if qw.prefix:
        return _Word(PREFIX, qw.norm, (" " + qw.norm,), cased=cased, gap=qw.gap)
    if term.case:
        return _exact(qw.norm, (qw.norm,), cased, qw.gap)
    number = _number(qw.norm)
    if number is not None:
        return _exact(qw.norm, [number] + [number + e for e in EN_ORDINALS], None, qw.gap)
    prefix, forms = word_forms(qw.norm, languages, in_phrase=in_phrase)
    if not forms:
        return _exact(qw.norm, (qw.norm,), None, qw.gap)
    variants = listed_forms(qw.norm, forms)
    if variants is not None:            # few forms (English plurals): whole-word patterns, no checks
        return _exact(qw.norm, variants, None, qw.gap)
    return _Word(STEM, qw.norm, (" " + prefix,), forms=forms, gap=qw.gap)


def _compile_node(node: Node, languages: tuple[str, ...]) -> tuple:
    """The tree as tuples: ("t", atom) ("&", kids) ("|", kids) ("!", kid) ("~", l, r, n)."""
    if isinstance(node, Term):
        in_phrase = len(node.words) > 1
        words = tuple(_compile_word(w, node, languages, in_phrase) for w in node.words)
        fields = {None: TITLE | SUMMARY, "title": TITLE, "summary": SUMMARY}[node.field]
        return ("t", _Atom(words, fields, node.text, node.pos))
    if isinstance(node, Not):
        return ("!", _compile_node(node.child, languages))
    if isinstance(node, Near):
        return ("~", _compile_node(node.left, languages), _compile_node(node.right, languages), node.distance)
    kind = "&" if isinstance(node, And) else "|"
    return (kind, tuple(_compile_node(c, languages) for c in node.children))


def _triggers(tree: tuple) -> list[_Atom] | None:
    """Atoms of which at least one must occur for the tree to hold (None: no such set)."""
    kind = tree[0]
    if kind == "t":
        return [tree[1]]
    if kind == "!":
        return None
    if kind == "|":
        parts = [_triggers(c) for c in tree[1]]
        return None if any(p is None for p in parts) else [a for p in parts for a in p]  # type: ignore[union-attr]
    options = [_triggers(c) for c in (tree[1] if kind == "&" else tree[1:3])]
    usable = [o for o in options if o is not None]
    return min(usable, key=_cost) if usable else None


def _cost(atoms: list[_Atom]) -> float:
    """Expected share of items a trigger set selects: word frequency falls steeply with length."""
    return sum(2.0 ** -_specificity(a.words[a.anchor]) for a in atoms)


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    tree: tuple
    triggers: tuple[_Atom, ...]


@lru_cache(maxsize=50_000)
def _compile_query(query: str, languages: tuple[str, ...], operator: bool) -> tuple[tuple, tuple[_Atom, ...]]:
    tree = _compile_node(parse_query(query, OPERATOR_LIMITS if operator else MEMBER_LIMITS), languages)
    return tree, tuple(_triggers(tree) or ())


def _compile_rule(rule: Rule) -> _Compiled:
    """Compile one rule (cached by query and languages); raises QueryError."""
    tree, triggers = _compile_query(rule.query, tuple(rule.languages), rule.watchlist is not None)
    return _Compiled(rule, tree, triggers)


def compile_rules(rules: Iterable[Rule]) -> "Matcher":
    """One matcher for all rules. Rules that fail to parse are left out and listed in ``errors``."""
    return Matcher._build({}, list(rules), ())


# --------------------------------------------------------------------------- evaluation
# An occurrence is (start, end, parts): a span of the folded text and the
# ((atom, start, end), ...) that make it up, for the explanation.


class Context:
    """One item being matched: the folded text and per-item caches."""

    __slots__ = ("s", "boundary", "originals", "aligned", "language", "_positions", "_scanned", "_atoms",
                 "_tokens")
    _atoms: dict[_Atom, list]
    _tokens: dict[int, list]

    def __init__(self, s: str, boundary: int, originals: tuple[str, str], aligned: bool,
                 language: str | None, positions: dict[str, list[int]], scanned: frozenset[str]):
        self.s, self.boundary, self.originals, self.aligned, self.language = (
            s, boundary, originals, aligned, language)
        self._positions, self._scanned, self._atoms, self._tokens = positions, scanned, {}, {}

    def positions(self, pattern: str) -> list[int]:
        """Where ``pattern`` starts in the folded text (overlapping occurrences included).

        Patterns of the automaton are known from its pass; others are searched for.
        """
        found = self._positions.get(pattern)
        if found is None:
            if pattern in self._scanned:
                return []
            found, find = [], self.s.find
            i = find(pattern)
            while i != -1:
                found.append(i)
                i = find(pattern, i + 1)
            self._positions[pattern] = found
        return found

    def original(self, a: int, b: int) -> tuple[int, int, int]:
        """(field, start, end) in the original field text for the folded span [a, b)."""
        field = 0 if a < self.boundary else 1
        base = 0 if field == 0 else self.boundary + 1
        if self.aligned:
            return field, a - base - 1, b - base - 1
        tokens = self._tokens.get(field)
        if tokens is None:
            tokens = self._tokens[field] = tokenize(self.originals[field])
        first, last = len(self.s[base:a].split()), len(self.s[base:b].split()) - 1
        return field, tokens[first].start, tokens[last].end


def _word_ok(ctx: Context, word: _Word, a: int, b: int) -> bool:
    s = ctx.s
    if word.kind == EXACT:
        ok = s[a:b] in word.variants
    elif word.kind == PREFIX:
        ok = s.startswith(word.norm, a)
    else:
        ok = is_form(s[a:b], word.norm, word.forms, ctx.language)
    if ok and word.cased is not None:
        field, start, end = ctx.original(a, b)
        written = case_key(ctx.originals[field][start:end])
        ok = written.startswith(word.cased) if word.kind == PREFIX else written == word.cased
    return ok


def _next_token(s: str, pos: int) -> tuple[int, int] | None:
    n = len(s)
    while pos < n and s[pos] == " ":
        pos += 1
    if pos >= n or s[pos] == FIELD_SEP:
        return None
    return pos, s.find(" ", pos)


def _prev_token(s: str, pos: int) -> tuple[int, int] | None:
    j = pos - 1
    while j >= 0 and s[j] == " ":
        j -= 1
    if j < 0 or s[j] == FIELD_SEP:
        return None
    return s.rfind(" ", 0, j) + 1, j + 1


def _phrase_span(ctx: Context, atom: _Atom, a: int, b: int) -> tuple[int, int] | None:
    """Extend the anchor word at [a, b) to the whole phrase, nearest words first."""
    words, s = atom.words, ctx.s
    end = b
    for k in range(atom.anchor + 1, len(words)):
        for _ in range(words[k].gap + 1):
            tok = _next_token(s, end)
            if tok is None:
                return None
            end = tok[1]
            if _word_ok(ctx, words[k], *tok):
                break
        else:
            return None
    start = a
    for k in range(atom.anchor - 1, -1, -1):
        for _ in range(words[k + 1].gap + 1):
            tok = _prev_token(s, start)
            if tok is None:
                return None
            start = tok[0]
            if _word_ok(ctx, words[k], *tok):
                break
        else:
            return None
    return start, end


def _atom_occurrences(ctx: Context, atom: _Atom) -> list:
    cached = ctx._atoms.get(atom)
    if cached is not None:
        return cached
    out: list = []
    anchor, s = atom.words[atom.anchor], ctx.s
    check = anchor.kind != EXACT or anchor.cased is not None
    for pattern in anchor.patterns:
        size = len(pattern)
        for p in ctx.positions(pattern):
            a = p + 1
            b = p + size - 1 if anchor.kind == EXACT else s.find(" ", p + size)
            if not atom.fields & (TITLE if a < ctx.boundary else SUMMARY):
                continue
            if check and not _word_ok(ctx, anchor, a, b):
                continue
            span = (a, b) if len(atom.words) == 1 else _phrase_span(ctx, atom, a, b)
            if span is not None:
                out.append((span[0], span[1], ((atom, span[0], span[1]),)))
                if len(out) >= MAX_OCCURRENCES:
                    break
    ctx._atoms[atom] = out
    return out


def _near(ctx: Context, left: list, right: list, distance: int) -> list:
    out, s, boundary = [], ctx.s, ctx.boundary
    for la, lb, lparts in left:
        for ra, rb, rparts in right:
            if (la < boundary) != (ra < boundary):
                continue                    # different fields
            if lb <= ra:
                between = s[lb:ra]
            elif rb <= la:
                between = s[rb:la]
            else:
                continue                    # overlapping: the same words, not two mentions
            if len(between.split()) <= distance:
                out.append((min(la, ra), max(lb, rb), lparts + rparts))
                if len(out) >= MAX_OCCURRENCES:
                    return out
    return out


def evaluate(ctx: Context, tree: tuple) -> list | None:
    """The occurrences that make ``tree`` true, or None if it is false ([] for a bare NOT)."""
    kind = tree[0]
    if kind == "t":
        return _atom_occurrences(ctx, tree[1]) or None
    if kind == "&":
        out: list = []
        for child in tree[1]:
            part = evaluate(ctx, child)
            if part is None:
                return None
            out += part
        return out
    if kind == "|":
        found = None
        for child in tree[1]:
            part = evaluate(ctx, child)
            if part is not None:
                found = (found or []) + part
        return found
    if kind == "!":
        return [] if evaluate(ctx, tree[1]) is None else None
    left = evaluate(ctx, tree[1])
    right = evaluate(ctx, tree[2]) if left else None
    return (_near(ctx, left, right, tree[3]) or None) if left and right else None


def explain(ctx: Context, occurrences: list, limit: int) -> tuple[Hit, ...]:
    """One Hit per matched span, in text order (title first); the query's first term names it."""
    if len(occurrences) == 1 and len(occurrences[0][2]) == 1:      # the common case: one word, once
        atom, a, b = occurrences[0][2][0]
        field, start, end = ctx.original(a, b)
        return (Hit(atom.term, _FIELDS[field], ctx.originals[field][start:end], start, end),)
    best: dict[tuple[int, int], _Atom] = {}
    for _, _, parts in occurrences:
        for atom, a, b in parts:
            if (a, b) not in best or atom.order < best[(a, b)].order:
                best[(a, b)] = atom
    hits = []
    for (a, b), atom in sorted(best.items(), key=lambda kv: kv[0])[:limit]:
        term = atom.term
        field, start, end = ctx.original(a, b)
        hits.append(Hit(term, _FIELDS[field], ctx.originals[field][start:end], start, end))
    return tuple(hits)


class Matcher:
    """All rules in one automaton. Immutable: :meth:`with_rules` returns a new one."""

    def __init__(self, compiled: dict[str, _Compiled], errors: tuple[RuleError, ...]):
        self._compiled = compiled
        self.errors = errors
        self.rules: tuple[Rule, ...] = tuple(c.rule for c in compiled.values())
        # Evaluation order is output order: highest priority first, then as given.
        self._entries = sorted(compiled.values(), key=lambda c: -c.rule.priority)
        patterns: dict[str, set[int]] = {}
        for index, entry in enumerate(self._entries):
            for atom in entry.triggers:
                for pattern in atom.words[atom.anchor].patterns:
                    patterns.setdefault(pattern, set()).add(index)
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
        for pattern, indexes in patterns.items():
            self._automaton.add_word(pattern, (pattern, frozenset(indexes)))
        if patterns:
            self._automaton.make_automaton()
        self._empty = not patterns
        self._scanned = frozenset(patterns)

    @classmethod
    def _build(cls, known: dict[str, _Compiled], rules: list[Rule], errors: tuple[RuleError, ...]) -> "Matcher":
        compiled = dict(known)
        found = list(errors)
        for rule in rules:
            if rule.id in compiled:
                found.append(RuleError(rule.id, QueryError("duplicate rule id", query=rule.query, position=0)))
                continue
            try:
                compiled[rule.id] = _compile_rule(rule)
            except QueryError as exc:
                found.append(RuleError(rule.id, exc))
        return cls(compiled, tuple(found))

    def __len__(self) -> int:
        return len(self._entries)

    def with_rules(self, added: Iterable[Rule] = (), removed_ids: Iterable[str] = ()) -> "Matcher":
        """A new matcher with ``added`` (replacing rules of the same id) and without ``removed_ids``."""
        added = list(added)
        gone = set(removed_ids) | {r.id for r in added}
        kept = {rid: c for rid, c in self._compiled.items() if rid not in gone}
        errors = tuple(e for e in self.errors if e.rule_id not in gone)
        return Matcher._build(kept, added, errors)

    def match(self, title: str, summary: str, *, language: str | None = None) -> list[Match]:
        """The rules this item satisfies, highest priority first, each with its hits.

        ``language`` (the item's, if known) narrows word forms to that language
        when a rule declares it; matching never depends on it otherwise.
        """
        text, boundary, aligned = fold_fields(title, summary)
        hits = [] if self._empty else list(self._automaton.iter(text))
        if not hits:
            return []
        positions: dict[str, list[int]] = {}
        candidates: set[int] = set()
        for end, (pattern, indexes) in hits:
            if pattern in positions:
                positions[pattern].append(end - len(pattern) + 1)
            else:
                positions[pattern] = [end - len(pattern) + 1]
                candidates |= indexes
        ctx = Context(text, boundary, (title, summary), aligned, language, positions, self._scanned)
        out = []
        for index in sorted(candidates):
            entry = self._entries[index]
            tree = entry.tree
            result = (_atom_occurrences(ctx, tree[1]) or None) if tree[0] == "t" else evaluate(ctx, tree)
            if result is not None:
                rule = entry.rule
                out.append(Match(rule.id, rule.watchlist, rule.query, explain(ctx, result, MAX_HITS),
                                 rule.why, rule.priority))
        return out
