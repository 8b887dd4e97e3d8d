"""Which files are worth parsing: a conservative test on the raw bytes.

Every rule declares what a file must contain for the rule to have anything to
look at, as ``needs``: a tuple of *alternatives*, each a tuple of tests on the
bytes (regular expressions that must occur somewhere, or predicates) that
must all pass. A file is parsed only when some alternative of some enabled
rule is met; any other file cannot hold a finding, so it only gets CPython's
syntax check.

The tests are derived from the same tables name resolution uses. The key
fact: a call can only resolve to ``threading.Thread`` if the identifier
``Thread`` is written in the file (as the call's attribute, or as the name an
import binds), so a whole-word search for the last part of each qualified name
a rule resolves is a sound test, and much tighter than "imports threading".
``bench/check_prefilter.py`` checks, file by file on whole trees, that every
finding of a full parse comes from a file its rule's ``needs`` admit. Every
test is linear in the size of the file (a test feeds them adversarial bytes).
"""

from __future__ import annotations

import functools
import re
from typing import Callable, Dict, FrozenSet, Iterable, Sequence, Tuple, Union

#: A test a file's bytes must pass: a byte regular expression that must occur
#: somewhere, or a predicate for what a regular expression cannot do in
#: linear time.
Test = Union[bytes, Callable[[bytes], bool]]
#: One alternative: tests that must all pass.
Requirement = Tuple[Test, ...]
#: A rule's needs: the file is worth parsing if any alternative is met.
Needs = Tuple[Requirement, ...]

#: Needs that every file meets (``b""`` occurs in any byte string): for tests
#: and tools that want to compare with an unfiltered run.
EVERY_FILE: Needs = ((b"",),)

_MODULES = (b"threading", b"multiprocessing", b"concurrent", b"_thread", b"asyncio", b"socketserver",
            b"http")
_MODULE_WORD = re.compile(rb"(?<![.\w])(?:" + b"|".join(_MODULES) + rb")\b")
# No leading \b: a literal first lets the search skip ahead fast; a word that
# merely ends in "import" only makes the test more permissive.
_IMPORT_KEYWORD = re.compile(rb"(?:import|from)\b")


def imports_threading_module(source: bytes) -> bool:
    """Whether an import statement may name a module whose API the rules
    resolve: ``import threading``, ``from concurrent.futures import ...``,
    ``import os, _thread``, ``import socketserver`` (threading servers), also
    after a backslash continuation. The module
    must be top-level: ``from tornado.concurrent import Future`` is not
    concurrent.futures. Words in strings and comments count (conservative).

    Each logical line is scanned at most once, from its first ``import`` or
    ``from`` to its end: one regular expression for "keyword, anything on the
    line, module" rescans the line from every keyword, which is quadratic on a
    file of many imports joined by continuations.
    """
    # Plain substring searches first: most files name no such module at all,
    # and they run far faster than any pattern with a word boundary.
    if not any(module in source for module in _MODULES):
        return False
    scanned_to = -1
    for keyword in _IMPORT_KEYWORD.finditer(source):
        start = keyword.end()
        if start <= scanned_to:
            continue  # a later keyword of a logical line already scanned
        scanned_to = _logical_line_end(source, start)
        if _MODULE_WORD.search(source, start, scanned_to):
            return True
    return False


def _logical_line_end(source: bytes, start: int) -> int:
    """Where the line holding ``start`` ends, following backslash continuations
    (CR LF line ends too; a backslash ending a line in a string may extend it,
    which only makes the test more permissive)."""
    end = source.find(b"\n", start)
    while end != -1 and source[max(end - 2, 0):end].endswith((b"\\", b"\\\r")):
        end = source.find(b"\n", end + 1)
    return len(source) if end == -1 else end


def identifiers(qualified_names: Iterable[str]) -> bytes:
    """A pattern matching the last part of any of ``qualified_names`` as a
    whole word: the identifier a resolvable reference must spell out."""
    words = sorted({name.rsplit(".", 1)[-1] for name in qualified_names})
    return rb"\b(?:" + b"|".join(re.escape(word.encode()) for word in words) + rb")\b"


def resolving(*qualified_names: Iterable[str]) -> Needs:
    """Needs of a rule that only fires on names resolving to ``qualified_names``
    through an import of a threading module."""
    names = [name for group in qualified_names for name in group]
    return ((imports_threading_module, identifiers(names)),)


class Prefilter:
    """The combined needs of a set of rules, evaluated lazily per file: each
    distinct test runs at most once."""

    def __init__(self, needs: Sequence[Needs]) -> None:
        alternatives = list(dict.fromkeys(req for rule_needs in needs for req in rule_needs))
        # Shorter alternatives first: a single cheap test often settles it.
        self.alternatives = sorted(alternatives, key=len)
        self.checks: Dict[Test, Callable[[bytes], bool]] = {}
        for requirement in self.alternatives:
            for test in requirement:
                self.checks[test] = _searcher(test) if isinstance(test, bytes) else test

    def admits(self, source: bytes) -> bool:
        passed: Dict[Test, bool] = {}
        for requirement in self.alternatives:
            for test in requirement:
                ok = passed.get(test)
                if ok is None:
                    ok = passed[test] = self.checks[test](source)
                if not ok:
                    break
            else:
                return True
        return False


def _searcher(pattern: bytes) -> Callable[[bytes], bool]:
    search = re.compile(pattern).search
    return lambda source: search(source) is not None


@functools.lru_cache(maxsize=64)
def prefilter_for(needs: FrozenSet[Needs]) -> Prefilter:
    return Prefilter(sorted(needs, key=repr))  # a fixed order for a set
