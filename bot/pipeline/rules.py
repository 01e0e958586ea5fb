"""The RuleBook: watchlist files and members' queries, compiled into one matcher, kept current.

- Watchlists are the YAML files of `watchlists.dir`, one per watchlist. `reload_if_changed()`
  (called every couple of seconds by `newsbot run`) re-reads changed, added and removed files.
  A file that does not load is reported with file, line and reason, and the previous version
  of that watchlist keeps working.
- Members' query subscriptions come from storage (`subscriptions_changed()` after /subscribe).
- Both compile into ONE matcher (`bot.core.match`), rebuilt when either changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import structlog

from bot.core.match import Rule, compile_rules
from bot.core.query import describe, parse_query
from bot.errors import ConfigError
from bot.types import Match

log = structlog.get_logger(__name__)


def load_watchlist_dir(directory: Path):
    """(watchlists by name, problems) for every *.yaml / *.yml file of a directory."""
    from bot.core.watchlist import load_watchlist
    found, problems = {}, []
    if not directory.is_dir():
        return found, [ConfigError("watchlist directory not found", file=str(directory),
                                   hint="create it or fix watchlists.dir in the settings")]
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            wl = load_watchlist(path.read_text(encoding="utf-8"), str(path))
        except ConfigError as exc:
            problems.append(exc)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(ConfigError(f"cannot read: {exc}", file=str(path)))
            continue
        if wl.name in found:
            problems.append(ConfigError(f"watchlist name {wl.name!r} is used by two files", file=str(path),
                                        hint="give each watchlist its own name"))
            continue
        found[wl.name] = wl
    return found, problems


class RuleBook:
    def __init__(self, directory: Path, storage=None) -> None:
        self.directory = directory
        self.storage = storage
        self.watchlists: dict = {}
        self._files: dict[Path, tuple[float, str | None]] = {}   # path → (mtime, watchlist name)
        self._query_rules: list[Rule] = []
        self._current: dict[str, Rule] = {}
        self.problems: list[ConfigError] = []
        self.matcher = compile_rules([])

    # ------------------------------------------------------------------ watchlists

    def load(self) -> list[str]:
        """Load every file; report problems. Returns the problems as strings."""
        self._files = {}
        self.watchlists = {}
        return self.reload()

    def reload(self) -> list[str]:
        """Re-read all files now (operator /reload); broken files keep their previous version."""
        found, problems = load_watchlist_dir(self.directory)
        broken = {p.file for p in problems if p.file}
        for name, wl in list(self.watchlists.items()):
            if name not in found and getattr(wl, "path", None) in broken:
                found[name] = wl                        # keep the last good version
        self.watchlists = found
        self._files = {p: (p.stat().st_mtime, None) for p in self._paths()}
        self.problems = problems
        for p in problems:
            log.error("watchlist_invalid", problem=str(p))
        self._rebuild()
        log.info("watchlists_loaded", count=len(found), names=sorted(found), problems=len(problems))
        return [str(p) for p in problems]

    def reload_if_changed(self) -> bool:
        current = {p: p.stat().st_mtime for p in self._paths()}
        if current.keys() == self._files.keys() and all(current[p] == self._files[p][0] for p in current):
            return False
        self.reload()
        return True

    def _paths(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted([*self.directory.glob("*.yaml"), *self.directory.glob("*.yml")])

    def priorities(self) -> dict[str, int]:
        return {name: getattr(wl, "priority", 0) for name, wl in self.watchlists.items()}

    # ------------------------------------------------------------------ member queries

    def check_query(self, text: str) -> str:
        """How a member's query was understood; raises QueryError pointing at the bad token."""
        return describe(parse_query(text))

    async def subscriptions_changed(self) -> None:
        if self.storage is None:
            return
        async with self.storage.read() as tx:
            subs = await tx.list_subscriptions()
        rules = []
        for s in subs:
            if s.query:
                rules.append(Rule(id=f"sub:{s.id}", query=s.query, watchlist=None))
        self._query_rules = rules
        self._rebuild()

    # ------------------------------------------------------------------ the matcher

    def _rebuild(self) -> None:
        """Swap in a matcher with the current rules; only added or changed rules are compiled."""
        rules: dict[str, Rule] = {}
        for wl in self.watchlists.values():
            rules.update((r.id, r) for r in wl.rules())
        rules.update((r.id, r) for r in self._query_rules)
        changed = [r for rid, r in rules.items() if self._current.get(rid) != r]
        removed = [rid for rid in self._current if rid not in rules]
        if changed or removed:
            self.matcher = self.matcher.with_rules(added=changed, removed_ids=removed)
            self._current = rules
            for err in self.matcher.errors:
                log.error("rule_invalid", rule=err.rule_id, error=str(err.error))

    def context_for(self, found: Sequence[Match], limit: int = 2) -> list[str]:
        """The operator's "why it matters" lines for what matched, at most `limit` (a brief is short;
        the text's own significance sentence follows them). What the story is about comes first:
        rules that matched in the headline, then by priority, then the one the text names first."""
        def rank(m: Match) -> tuple:
            in_title = [h.start for h in m.hits if h.field == "title"]
            first = min(in_title) if in_title else min((h.start for h in m.hits), default=0)
            return (not in_title, -m.priority, first)

        out: list[str] = []
        for m in sorted(found, key=rank):
            for line in m.why:
                if line not in out:
                    out.append(line)
        return out[:limit]
