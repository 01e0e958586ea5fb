"""Load a module of newsbot as it was at an earlier commit, to measure today's code against it.

Benchmarks keep their baseline this way instead of a copy of the old code: `git
show <ref>:<path>` into a throwaway module. Returns None where git or the commit
is not available (a source archive), and the benchmark then prints its own
figures only.
"""

from __future__ import annotations

import subprocess
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_at(ref: str, path: str, name: str) -> types.ModuleType | None:
    """`path` (e.g. "bot/core/cluster.py") as of commit `ref`, as a module named `name`. The old
    code must import only what still exists (the standard library, or modules it does not share)."""
    try:
        source = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, check=True, capture_output=True,
                                text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType(name)
    module.__file__ = f"{ref}:{path}"
    import sys
    sys.modules[name] = module            # dataclasses look their module up while the class is made
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    except ImportError:
        del sys.modules[name]
        return None
    return module
