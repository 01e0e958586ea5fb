"""The query language: parse a query into a small tree, or say exactly what is wrong.

Syntax (full reference with examples in docs/watchlists.md)::

    Taliban                 a word (whole word; its word forms in inflected languages)
    Tajik*                  a prefix: any word starting with "tajik" (3+ letters before *)
    "201st base"            a phrase: words in this order, up to 3 other words between
                            each ("the 201st military base")
    "201st base"~0          strict phrase (adjacent);  "a b"~5: up to 5 words between
    a b   /  a AND b        both (a space means AND)
    a OR b                  either
    a NOT b  /  a -b        a, unless b appears
    a NEAR/5 b              a and b, in either order, at most 5 words apart, same field
    ( ... )                 grouping. Precedence: NOT, then NEAR, then AND, then OR
    title:Taliban           only in the title (also summary:); title:( ... ) for a group
    case:CSTO               letter case must match too ("CSTO", not "csto")

Operators are written in capitals. Lowercase "and"/"or"/"not" are refused with
a hint, because "Tajikistan and Russia" would otherwise silently require the
word "and". Curly quotes (“ ” „ « ») work like straight ones.

A query must contain something that has to appear: "NOT recipe" alone, or an
OR branch that is only a NOT, is refused (it would match almost every item).

What it does not do: regular expressions (there is no raw-pattern form at all:
matching stays linear in the text whatever the query), fuzzy matching, or
evaluation (see ``match.py``). Errors are :class:`bot.errors.QueryError` with
the position and length of the offending token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from bot.core.normalize import case_key, tokenize
from bot.errors import QueryError

DEFAULT_GAP = 3
FIELDS = ("title", "summary")
OPEN_QUOTES = '"\u201c\u201d\u201e\u00ab\u00bb'
CLOSE_QUOTES = '"\u201c\u201d\u00ab\u00bb'


@dataclass(frozen=True, slots=True)
class Limits:
    """How big a query may be. Members type queries in chat; operators write YAML."""

    max_chars: int = 500
    max_terms: int = 30
    max_depth: int = 8
    max_distance: int = 20
    max_phrase_words: int = 10


MEMBER_LIMITS = Limits()
OPERATOR_LIMITS = Limits(max_chars=8000, max_terms=400, max_depth=12, max_distance=30, max_phrase_words=12)


@dataclass(frozen=True, slots=True)
class QWord:
    """One token of a term: folded form, case-kept form, prefix flag, allowed gap before it."""

    norm: str
    raw: str
    prefix: bool = False
    gap: int = 0


@dataclass(frozen=True, slots=True)
class Term:
    """A word or phrase. ``text`` is how it was written (shown in explanations)."""

    words: tuple[QWord, ...]
    text: str
    pos: int
    phrase_gap: int | None = None      # set for quoted phrases
    case: bool = False
    field: str | None = None


@dataclass(frozen=True, slots=True)
class And:
    children: tuple["Node", ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple["Node", ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: "Node"
    pos: int


@dataclass(frozen=True, slots=True)
class Near:
    left: "Node"
    right: "Node"
    distance: int
    pos: int


Node = Union[Term, And, Or, Not, Near]


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str          # ( ) AND OR NOT NEAR TERM FIELD
    pos: int
    length: int
    value: object = None


_PREFIX_RE = re.compile(r"([A-Za-z]+):")
_NEAR_RE = re.compile(r"NEAR(?:/(\d+))?$")
_GAP_RE = re.compile(r"~(\d*)")
_WORD_END = set(" \t\r\n()") | set(OPEN_QUOTES)


class _Lexer:
    def __init__(self, query: str, limits: Limits) -> None:
        self.q, self.limits, self.i = query, limits, 0
        self.tokens: list[_Tok] = []

    def error(self, message: str, pos: int, length: int = 1) -> QueryError:
        return QueryError(message, query=self.q, position=pos, length=length)

    def run(self) -> list[_Tok]:
        while self.i < len(self.q):
            c = self.q[self.i]
            if c.isspace():
                self.i += 1
            elif c in "()":
                self.tokens.append(_Tok(c, self.i, 1))
                self.i += 1
            elif c in OPEN_QUOTES:
                self.tokens.append(self.phrase(self.i, field=None, case=False))
            else:
                self.word()
        return self.tokens

    def word(self) -> None:
        start = self.i
        while self.i < len(self.q) and self.q[self.i] not in _WORD_END:
            self.i += 1
        text = self.q[start:self.i]
        if text in ("AND", "OR", "NOT"):
            self.tokens.append(_Tok(text, start, len(text)))
            return
        if text.lower() in ("and", "or", "not"):
            raise self.error(f'write {text.upper()} in capitals to use it as an operator, or put '
                             f'the words in quotes to search for "{text}"', start, len(text))
        near = _NEAR_RE.match(text)
        if near:
            self.near(near, start, text)
            return
        if text == "-" and self.attached():          # -"plov recipe", -(a OR b)
            self.tokens.append(_Tok("NOT", start, 1))
            return
        if text.startswith("-") and len(text) > 1 and not text[1].isdigit() and text[1] != "-":
            self.tokens.append(_Tok("NOT", start, 1))
            start, text = start + 1, text[1:]
        self.prefixed(start, text)

    def near(self, m: re.Match[str], start: int, text: str) -> None:
        if m.group(1) is None:
            raise self.error("NEAR needs a distance in words, e.g. NEAR/3", start, len(text))
        distance = int(m.group(1))
        if distance > self.limits.max_distance:
            raise self.error(f"NEAR distance is at most {self.limits.max_distance}", start, len(text))
        self.tokens.append(_Tok("NEAR", start, len(text), distance))

    def prefixed(self, start: int, text: str) -> None:
        field, case, pos = None, False, start
        while (m := _PREFIX_RE.match(text)) and (len(text) > m.end() or self.attached()):
            name = m.group(1).lower()
            if name in FIELDS and field is None:
                field = name
            elif name == "case" and not case:
                case = True
            else:
                raise self.error(f'unknown or repeated prefix "{m.group()}" — use title: or summary: '
                                 f'for a field, case: for exact letter case', pos, m.end())
            pos, text = pos + m.end(), text[m.end():]
        m = _PREFIX_RE.match(text)
        if m and len(text) == m.end() and m.group(1).lower() in FIELDS + ("case",):
            raise self.error(f'put the word right after "{m.group()}", without a space', pos, len(text))
        if text:
            self.tokens.append(self.term(text, pos, start, field=field, case=case))
        elif self.i < len(self.q) and self.q[self.i] in OPEN_QUOTES:
            self.tokens.append(self.phrase(self.i, field=field, case=case, written_from=start))
        elif field is not None or case:
            self.tokens.append(_Tok("FIELD", start, pos - start, (field, case)))

    def attached(self) -> bool:
        return self.i < len(self.q) and (self.q[self.i] in OPEN_QUOTES or self.q[self.i] == "(")

    def term(self, text: str, pos: int, written_from: int, *, field: str | None, case: bool) -> _Tok:
        words = self.split_word(text, pos, gap=0)
        written = self.q[written_from:self.i]          # with its prefixes: "case:CSTO"
        return _Tok("TERM", pos, len(text), Term(tuple(words), written, pos, None, case, field))

    def split_word(self, text: str, pos: int, *, gap: int) -> list[QWord]:
        """The tokens of one written word; a trailing * makes the last one a prefix."""
        star = text.find("*")
        if star != -1 and star != len(text) - 1:
            raise self.error("* works only at the end of a word (Tajik*)", pos + star)
        prefix = star != -1
        core = text[:-1] if prefix else text
        tokens = tokenize(core)
        if not tokens:
            raise self.error(f'"{text}" has no letters or digits to search for', pos, len(text))
        if prefix and sum(len(t.norm) for t in tokens) < 3:
            raise self.error("a wildcard needs at least 3 letters before the *", pos, len(text))
        last = len(tokens) - 1
        return [QWord(t.norm, case_key(core[t.start:t.end]), prefix and i == last, gap if i == 0 else 0)
                for i, t in enumerate(tokens)]

    def phrase(self, start: int, *, field: str | None, case: bool, written_from: int | None = None) -> _Tok:
        end = next((j for j in range(start + 1, len(self.q)) if self.q[j] in CLOSE_QUOTES), -1)
        if end == -1:
            raise self.error("this quote is never closed", start)
        self.i = end + 1
        gap = DEFAULT_GAP
        m = _GAP_RE.match(self.q, self.i)
        if m:
            if not m.group(1):
                raise self.error('~ needs a number after the closing quote, e.g. "201st base"~0', self.i)
            gap = int(m.group(1))
            if gap > self.limits.max_distance:
                raise self.error(f"a phrase allows at most {self.limits.max_distance} words between its words",
                                 self.i, len(m.group()))
            self.i = m.end()
        words: list[QWord] = []
        for w in re.finditer(r"\S+", self.q[start + 1:end]):
            words += self.split_word(w.group(), start + 1 + w.start(), gap=gap if words else 0)
        if not words:
            raise self.error("empty phrase: put words between the quotes", start, end - start + 1)
        if len(words) > self.limits.max_phrase_words:
            raise self.error(f"a phrase has at most {self.limits.max_phrase_words} words", start, end - start + 1)
        text = self.q[start if written_from is None else written_from:self.i]
        return _Tok("TERM", start, self.i - start, Term(tuple(words), text, start, gap, case, field))


class _Parser:
    """Recursive descent over the tokens: or → and → near → unary → primary."""

    def __init__(self, query: str, tokens: list[_Tok], limits: Limits) -> None:
        self.q, self.toks, self.limits, self.k, self.depth, self.terms = query, tokens, limits, 0, 0, 0

    def error(self, message: str, tok: _Tok) -> QueryError:
        return QueryError(message, query=self.q, position=tok.pos, length=tok.length)

    def peek(self) -> _Tok | None:
        return self.toks[self.k] if self.k < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.k]
        self.k += 1
        return tok

    def parse(self) -> Node:
        node = self.or_expr()
        tok = self.peek()
        if tok is not None:
            raise self.error("this ) has no matching (" if tok.kind == ")" else "unexpected here", tok)
        return node

    def operand(self, after: _Tok) -> Node:
        self.expect_operand(after)
        return self.unary()

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            self.expect_operand(tok)
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def expect_operand(self, op: _Tok) -> None:
        tok = self.peek()
        if tok is None or tok.kind in (")", "AND", "OR", "NEAR"):
            raise self.error(f"{op.kind} needs a term after it", op)

    def and_expr(self) -> Node:
        first = self.peek()
        if first is not None and first.kind in ("AND", "OR", "NEAR"):
            raise self.error(f"{first.kind} needs a term before it", first)
        children = [self.near_expr()]
        while (tok := self.peek()) is not None and tok.kind in ("AND", "NOT", "(", "TERM", "FIELD"):
            if tok.kind == "AND":
                self.take()
                self.expect_operand(tok)
            children.append(self.near_expr())
        return children[0] if len(children) == 1 else And(tuple(children))

    def near_expr(self) -> Node:
        left = self.unary()
        while (tok := self.peek()) is not None and tok.kind == "NEAR":
            self.take()
            right = self.operand(tok)
            for side in (left, right):
                if not _near_operand(side):
                    raise self.error("NEAR joins words, phrases or (a OR b) groups, not AND/NOT", tok)
            left = Near(left, right, int(tok.value), tok.pos)  # type: ignore[arg-type]
        return left

    def unary(self) -> Node:
        tok = self.peek()
        if tok is not None and tok.kind == "NOT":
            self.take()
            return Not(self.operand(tok), tok.pos)
        return self.primary()

    def primary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise QueryError("the query ends too early", query=self.q, position=max(0, len(self.q) - 1))
        self.take()
        if tok.kind == "TERM":
            self.terms += 1
            if self.terms > self.limits.max_terms:
                raise self.error(f"too many terms: {self.limits.max_terms} at most", tok)
            return tok.value  # type: ignore[return-value]
        if tok.kind == "(":
            return self.group(tok)
        if tok.kind == "FIELD":
            return self.scoped(tok)
        raise self.error("this ) has no matching (" if tok.kind == ")" else f"{tok.kind} needs a term before it", tok)

    def group(self, tok: _Tok) -> Node:
        nxt = self.peek()
        if nxt is not None and nxt.kind == ")":
            raise self.error("empty parentheses", tok)
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise self.error(f"parentheses nest at most {self.limits.max_depth} deep", tok)
        node = self.or_expr()
        nxt = self.peek()
        if nxt is None or nxt.kind != ")":
            raise self.error("this ( is never closed", tok)
        self.take()
        self.depth -= 1
        return node

    def scoped(self, tok: _Tok) -> Node:
        field, case = tok.value  # type: ignore[misc]
        nxt = self.peek()
        if case or nxt is None or nxt.kind != "(":
            raise self.error("case: applies to one word or phrase, e.g. case:CSTO", tok)
        self.take()
        return _with_field(self.group(nxt), field, self, tok)


def _near_operand(node: Node) -> bool:
    if isinstance(node, (Term, Near)):
        return True
    return isinstance(node, Or) and all(_near_operand(c) for c in node.children)


def _with_field(node: Node, field: str, parser: _Parser, tok: _Tok) -> Node:
    if isinstance(node, Term):
        if node.field not in (None, field):
            raise parser.error(f"{node.field}: inside {field}:( ... ) — use one field", tok)
        return Term(node.words, node.text, node.pos, node.phrase_gap, node.case, field)
    if isinstance(node, (And, Or)):
        return type(node)(tuple(_with_field(c, field, parser, tok) for c in node.children))
    if isinstance(node, Not):
        return Not(_with_field(node.child, field, parser, tok), node.pos)
    return Near(_with_field(node.left, field, parser, tok), _with_field(node.right, field, parser, tok),
                node.distance, node.pos)


def _unanchored(node: Node) -> int | None:
    """Position of a NOT that leaves (part of) the query with nothing that must appear."""
    if isinstance(node, Not):
        return node.pos
    if isinstance(node, Or):
        return next((p for c in node.children if (p := _unanchored(c)) is not None), None)
    if isinstance(node, And):
        positions = [_unanchored(c) for c in node.children]
        return positions[0] if all(p is not None for p in positions) else None
    return None


def parse_query(query: str, limits: Limits = MEMBER_LIMITS) -> Node:
    """Parse ``query`` or raise :class:`QueryError` pointing at the offending token."""
    if len(query) > limits.max_chars:
        raise QueryError(f"query too long: {limits.max_chars} characters at most", query=query,
                         position=limits.max_chars, length=len(query) - limits.max_chars)
    if not query.strip():
        raise QueryError("empty query: type a word, a \"phrase\" or an expression", query=query, position=0)
    node = _Parser(query, _Lexer(query, limits).run(), limits).parse()
    bad = _unanchored(node)
    if bad is not None:
        raise QueryError("NOT needs something that must appear, e.g. Taliban NOT recipe "
                         "(alone it would match almost every item)", query=query, position=bad, length=3)
    return node


def terms(node: Node) -> list[Term]:
    """Every term of the tree, left to right (NOT branches included)."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return terms(node.child)
    if isinstance(node, Near):
        return terms(node.left) + terms(node.right)
    return [t for c in node.children for t in terms(c)]


def describe(node: Node) -> str:
    """How the query was understood, in canonical syntax with every default spelled out.

    ``Tajik* forces -recipe`` → ``tajik* AND forces AND NOT recipe``;
    ``"201st base"`` → ``"201 base"~3``.
    """
    if isinstance(node, Term):
        return _describe_term(node)
    if isinstance(node, Not):
        return "NOT " + _child(node.child, node)
    if isinstance(node, Near):
        return f"{_child(node.left, node)} NEAR/{node.distance} {_child(node.right, node)}"
    joiner = " OR " if isinstance(node, Or) else " AND "
    return joiner.join(_child(c, node) for c in node.children)


def _child(child: Node, parent: Node) -> str:
    """Parenthesises every compound child of a different kind, so precedence is visible."""
    text = describe(child)
    if isinstance(child, (Term, Not)) or (type(child) is type(parent) and not isinstance(child, Near)):
        return text
    return f"({text})"


def _describe_term(term: Term) -> str:
    words = [(w.raw if term.case else w.norm) + ("*" if w.prefix else "") for w in term.words]
    prefix = (f"{term.field}:" if term.field else "") + ("case:" if term.case else "")
    if len(words) == 1:
        return prefix + words[0]
    if term.phrase_gap is None:
        return f'{prefix}"{" ".join(words)}"~0'
    return f'{prefix}"{" ".join(words)}"~{term.phrase_gap}'
