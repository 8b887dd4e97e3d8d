"""Which files are worth parsing: a conservative test on the raw bytes.

Every rule declares what a file must contain for the rule to have anything to
look at, as ``needs``: a tuple of *alternatives*, each a tuple of byte regular
expressions that must all occur somewhere in the file. A file is parsed only
when some alternative of some enabled rule is met; any other file cannot hold
a finding, so it only gets CPython's syntax check.

The patterns are derived from the same tables name resolution uses. The key
fact: a call can only resolve to ``threading.Thread`` if the identifier
``Thread`` is written in the file (as the call's attribute, or as the name an
import binds), so a whole-word search for the last part of each qualified name
a rule resolves is a sound test, and much tighter than "imports threading".
``bench/check_prefilter.py`` checks, file by file on whole trees, that every
finding of a full parse comes from a file its rule's ``needs`` admit.
"""

from __future__ import annotations

import functools
import re
from typing import Dict, FrozenSet, Iterable, Sequence, Tuple

#: One alternative: byte patterns that must all occur in the file.
Requirement = Tuple[bytes, ...]
#: A rule's needs: the file is worth parsing if any alternative is met.
Needs = Tuple[Requirement, ...]

#: Needs that every file meets (``b""`` occurs in any byte string): for tests
#: and tools that want to compare with an unfiltered run.
EVERY_FILE: Needs = ((b"",),)

#: An import statement naming a module whose API the rules resolve: ``import
#: threading``, ``from concurrent.futures import ...``, ``import os, _thread``,
#: also after a backslash continuation. The module must be top-level:
#: ``from tornado.concurrent import Future`` is not concurrent.futures.
THREADING_IMPORT = (
    rb"\b(?:import|from)\b(?:[^\n]|\\\n)*?(?<![.\w])"
    rb"(?:threading|multiprocessing|concurrent|_thread|asyncio)\b"
)


def identifiers(qualified_names: Iterable[str]) -> bytes:
    """A pattern matching the last part of any of ``qualified_names`` as a
    whole word: the identifier a resolvable reference must spell out."""
    words = sorted({name.rsplit(".", 1)[-1] for name in qualified_names})
    return rb"\b(?:" + b"|".join(re.escape(word.encode()) for word in words) + rb")\b"


def resolving(*qualified_names: Iterable[str]) -> Needs:
    """Needs of a rule that only fires on names resolving to ``qualified_names``
    through an import of a threading module."""
    names = [name for group in qualified_names for name in group]
    return ((THREADING_IMPORT, identifiers(names)),)


class Prefilter:
    """The combined needs of a set of rules, evaluated lazily per file: each
    distinct pattern is searched for at most once."""

    def __init__(self, needs: Sequence[Needs]) -> None:
        alternatives = {requirement for rule_needs in needs for requirement in rule_needs}
        # Shorter alternatives first: a single cheap pattern often settles it.
        self.alternatives = sorted(alternatives, key=lambda req: (len(req), req))
        patterns = {pattern for requirement in self.alternatives for pattern in requirement}
        self.compiled: Dict[bytes, "re.Pattern[bytes]"] = {p: re.compile(p) for p in patterns}

    def admits(self, source: bytes) -> bool:
        found: Dict[bytes, bool] = {}
        for requirement in self.alternatives:
            for pattern in requirement:
                hit = found.get(pattern)
                if hit is None:
                    hit = found[pattern] = self.compiled[pattern].search(source) is not None
                if not hit:
                    break
            else:
                return True
        return False


@functools.lru_cache(maxsize=64)
def prefilter_for(needs: FrozenSet[Needs]) -> Prefilter:
    return Prefilter(sorted(needs))
