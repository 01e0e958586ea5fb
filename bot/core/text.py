"""Pure text helpers run for every item: HTML → clean text, whitespace folding,
link resolution and normalisation, content hashes.

They are regex-based on purpose: a real HTML parser costs 20–50 µs per
snippet, these cost a few µs, and feed snippets are small and mostly
well-behaved. They do not sanitise HTML for display (that is the renderer's
job) and they do not repair mojibake (see `bot.core.encoding`).
"""

from __future__ import annotations

import functools
import hashlib
import html
import html.entities
import re
from urllib.parse import urljoin, urlsplit, urlunsplit

__all__ = [
    "content_hash",
    "fold_ws",
    "html_to_text",
    "looks_like_html",
    "normalise_link",
    "resolve_link",
    "text_to_text",
    "unescape",
]

# Whole elements whose text is never prose a reader sees (the ones feedparser's
# sanitiser drops too; iframe/object fallback text and <noscript> are kept).
_HIDDEN_OPEN = re.compile(r"<(script|style|applet)\b|<!--", re.IGNORECASE)
_HIDDEN_CLOSE = {name: re.compile(f"</{name}\\s*>", re.IGNORECASE) for name in ("script", "style", "applet")}
_HIDDEN_CLOSE["!--"] = re.compile("-->")
_HIDDEN_HINT = re.compile("<(?:!--|script|style|applet)")      # searched in the lower-cased text
_BLOCK_NAMES = (
    "p|div|section|article|header|footer|aside|main|nav|h[1-6]|ul|ol|li|dl|dt|dd"
    "|table|thead|tbody|tfoot|tr|blockquote|pre|figure|figcaption|hr|address|details"
    "|summary|caption"
)
_UPPER_TAG = re.compile(r"</?[A-Z]")
# Tag bodies never contain "<": every scan stops at the next "<", so even hostile
# input ("<a<a<a…" without any ">") costs linear time.
_TAG_BODY = r"""(?:[^<>"']++|"[^"<]*+"|'[^'<]*+')*+"""      # possessive: no backtracking


def _patterns(flags: int) -> tuple[re.Pattern[str], ...]:
    """(paragraph, line break, cell). Case-sensitive ones run twice as fast."""
    return (
        re.compile(f"</?(?:{_BLOCK_NAMES})\\b{_TAG_BODY}>", flags),
        re.compile(f"<br\\b{_TAG_BODY}>", flags),
        re.compile(f"</?t[dh]\\b{_TAG_BODY}>", flags),
    )


_LOWER_TAGS = _patterns(0)
_ANY_CASE_TAGS = _patterns(re.IGNORECASE)
# Any other tag. A "<" followed by a space or digit is text ("3 < 5"), not a tag.
# (a broken quote, as in <source src="x.mp3="audio/mpeg" />, falls back to the next ">").
_TAG = re.compile(f"</?[A-Za-z]{_TAG_BODY}>|</?[A-Za-z][^<>]*+>|<![^<>]*+>|<\\?[^<>]*+>")
# Entity references as html.unescape reads them when each ends in ";".
_ENTITY_REF = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});")
# Marks that survive str.split() (they are not whitespace) until the final fold.
_P, _L = "\x00", "\x01"
_P_RUN = re.compile("\x00[\x00\x01]*")
_L_RUN = re.compile("\x01+")
# Elements that make a nominally plain-text field count as HTML (see looks_like_html).
_HTML_ELEMENTS = frozenset("""
    a abbr acronym address area article aside audio b bdi bdo big blink blockquote body br
    button canvas caption center cite code col colgroup data datalist dd del details dfn dialog
    dir div dl dt em fieldset figcaption figure font footer form h1 h2 h3 h4 h5 h6 header hgroup
    hr i img input ins kbd label legend li main map mark menu meter nav noscript ol optgroup
    option output p picture pre progress q rp rt ruby s samp section select small source span
    strike strong sub summary sup table tbody td textarea tfoot th thead time tr track tt u ul
    var video wbr
""".split())
_CLOSE_TAG_OR_ENTITY = re.compile(r"</\w+>|&#?\w+;")
_TAG_NAME = re.compile(r"</?(\w+)")
_ENTITY_NAME = re.compile(r"&(\w+);")
_TRACKING_PREFIXES = ("utm_",)
_TRACKING_NAMES = frozenset({
    "fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
    "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id", "wt.mc_id",
})
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def fold_ws(text: str | None) -> str:
    """Collapse every run of whitespace (Unicode-aware, incl. NBSP) to one space; strip."""
    if not text:
        return ""
    return " ".join(text.split())


def html_to_text(markup: str | None) -> str:
    """Readable plain text from an HTML fragment.

    Drops script/style/comments, turns block tags into paragraph breaks
    ("\\n\\n") and <br> into line breaks ("\\n"), strips the other tags,
    decodes entities (all HTML5 names) and folds whitespace. A bare "<" that
    starts no tag ("3 < 5") is kept as text.
    """
    if not markup:
        return ""
    if "<" not in markup:
        if "&" in markup:
            markup = unescape(markup)
        return " ".join(markup.split())
    text = markup
    if _P in text or _L in text:     # our marks must not occur in the input
        text = text.replace(_P, "").replace(_L, "")
    para, line, cell = _ANY_CASE_TAGS if _UPPER_TAG.search(text) else _LOWER_TAGS
    low = text.lower()
    if _HIDDEN_HINT.search(low):
        text = _drop_hidden(text)
    text = para.sub(_P, text)
    if "<br" in low:
        text = line.sub(_L, text)
    if "<t" in low:
        text = cell.sub(" ", text)
    text = _TAG.sub("", text)
    if "&" in text:
        text = unescape(text)
    return _fold_marks(text)



def unescape(text: str) -> str:
    """Exactly html.unescape, but with one str.replace per distinct entity instead of
    a Python callback per occurrence (feeds repeat the same few: &amp; &#8217; …)."""
    refs = _ENTITY_REF.findall(text)
    if len(refs) != text.count("&"):
        return html.unescape(text)        # bare "&", "&copy" without ";", …: the full rules
    has_amp = False
    for ref in set(refs):
        if ref == "&amp;":
            has_amp = True
            continue
        value = _entity_value(ref)
        if "&" in value:                  # unknown name or "&#38;": replacing could decode twice
            return html.unescape(text)
        text = text.replace(ref, value)
    return text.replace("&amp;", "&") if has_amp else text   # last: nothing is decoded twice


@functools.lru_cache(maxsize=4096)
def _entity_value(ref: str) -> str:
    return html.unescape(ref)


def _drop_hidden(text: str) -> str:
    """Remove script/style/applet elements and comments (an unclosed one runs to the end)."""
    parts, pos = [], 0
    while (opening := _HIDDEN_OPEN.search(text, pos)) is not None:
        parts.append(text[pos:opening.start()])
        parts.append(" ")
        name = (opening.group(1) or "!--").lower()
        closing = _HIDDEN_CLOSE[name].search(text, opening.end())
        if closing is None:
            return "".join(parts)
        pos = closing.end()
    parts.append(text[pos:])
    return "".join(parts)


def _needs_fold(text: str) -> bool:
    # Five C-speed substring scans cost a fifth of split()+join() on clean text.
    return ("  " in text or "\n" in text or "\t" in text or "\xa0" in text or "\r" in text
            or text[:1] == " " or text[-1:] == " ")


def _fold_marks(text: str) -> str:
    """Fold whitespace; paragraph marks become a blank line, line marks a line break."""
    if _needs_fold(text):
        text = " ".join(text.split())
    if _P not in text and _L not in text:
        return text
    text = text.replace(" " + _P, _P).replace(_P + " ", _P)
    text = _P_RUN.sub("\n\n", text)
    if _L in text:
        text = text.replace(" " + _L, _L).replace(_L + " ", _L)
        text = _L_RUN.sub("\n", text).replace("\n\n\n", "\n\n")
    return text.strip()


def looks_like_html(text: str) -> bool:
    """Whether a nominally plain-text field (RSS title, Atom type="text") holds HTML.

    feedparser's conservative rule: it needs a close tag or an entity, every
    tag must be a known HTML element and every entity a known one. So
    "#include </etc/shadow>" and "x < y" stay text, "<b>Big</b> news" is HTML.
    """
    if not _CLOSE_TAG_OR_ENTITY.search(text):
        return False
    if any(name.lower() not in _HTML_ELEMENTS for name in _TAG_NAME.findall(text)):
        return False
    return all(name + ";" in html.entities.html5 for name in _ENTITY_NAME.findall(text))


def text_to_text(value: str | None) -> str:
    """Clean text of a nominally plain-text field: HTML-cleaned only if it looks like HTML."""
    if not value:
        return ""
    if ("<" in value or "&" in value) and looks_like_html(value):
        return html_to_text(value)
    return " ".join(value.split())


def resolve_link(link: str | None, base: str | None) -> str | None:
    """`link` made absolute against `base`; None for an empty link. No other change."""
    if not link:
        return None
    link = link.strip()
    if not link:
        return None
    if link[:8].lower().startswith(("http://", "https://")) or not base:
        return link
    try:
        return urljoin(base, link)
    except ValueError:           # e.g. an invalid IPv6 host in base
        return link


def normalise_link(url: str | None, base: str | None = None) -> str:
    """A comparable form of a link: absolute, scheme and host lower-cased,
    default port, fragment and tracking parameters (utm_*, fbclid, …) dropped.

    Returns "" for an empty link. Used for item keys and for spotting the
    same article in several places; show users the link itself, not this.
    """
    absolute = resolve_link(url, base)
    if not absolute:
        return ""
    try:
        parts = urlsplit(absolute)
    except ValueError:
        return absolute
    scheme = parts.scheme.lower()
    netloc = parts.netloc.lower()
    port = _DEFAULT_PORTS.get(scheme)
    if port and netloc.endswith(port):
        netloc = netloc[: -len(port)]
    query = _drop_tracking(parts.query) if parts.query else ""
    path = parts.path or ("/" if netloc else "")
    return urlunsplit((scheme, netloc, path, query, ""))


def _drop_tracking(query: str) -> str:
    kept = []
    for pair in query.split("&"):
        name = pair.split("=", 1)[0].lower()
        if not pair or name.startswith(_TRACKING_PREFIXES) or name in _TRACKING_NAMES:
            continue
        kept.append(pair)
    return "&".join(kept)


def content_hash(*parts: str | None) -> str:
    """sha1 hex of the parts joined by a unit separator (None counts as "")."""
    joined = "\x1f".join(p or "" for p in parts)
    return hashlib.sha1(joined.encode("utf-8", "surrogatepass")).hexdigest()
