"""What a file must contain for each rule to find anything in it: the
prefilter's table, one entry per rule code.

It lives here, not on the rule classes, so that the prefilter can decide
which files need a parse before any rule module (and so libcst) is imported:
a run where no file needs a parse never imports libcst. ``Rule.needs`` is read
from this table (see :class:`threadlint.rules.base.Rule`), and
``tests/test_registry.py`` holds every rule to an entry.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Mapping

from threadlint.api import (
    CONDITION_NEEDS,
    DEPRECATED_ALIAS_NEEDS,
    EXECUTOR_NEEDS,
    EXECUTOR_RESULT_NEEDS,
    LOCK_NEEDS,
    THREAD_ENTRY_NEEDS,
    THREAD_NEEDS,
)
from threadlint.prefilter import Needs

#: What a file must contain to hold a contract (the prefilter's test, and
#: whether the Contracts provider is fed at all).
GUARDED_WORDS = rb"guarded[-_ ]by:"
REQUIRES_WORDS = rb"requires:"
#: An opt-out comment that TL305 and TL306 read.
THREAD_SAFE_WORDS = rb"threadlint: thread-safe"

#: For the prefilter: a superset of the prose contracts (see
#: ``threadlint.model.contracts``), as patterns that each start with a literal
#: (so the regular expression engine skips ahead fast), each behind a plain
#: substring test.
_PROSE_TESTS = tuple((key, re.compile(pattern)) for key, pattern in (
    (b"_locked", rb"_locked\b"),
    (b"be called ", rb"be called (?:while holding|holding) "),
    (b"be called with ", rb"be called with (?:the )?`*[\w.]+`* (?:held|acquired|locked)"),
    (b" hold ", rb"allers? (?:must|should) hold "),
    (b"d with ", rb"alled with (?:the )?`*[\w.]+`* (?:held|acquired|locked)"),
    (b"l with ", rb"all with (?:the )?`*[\w.]+`* (?:held|acquired|locked)"),
))


def has_prose_contract(source: bytes) -> bool:
    """Whether ``source`` may hold a prose contract (a name ending in
    ``_locked``, or one of the docstring phrases): the prefilter's test."""
    return any(key in source and pattern.search(source) is not None
               for key, pattern in _PROSE_TESTS)


#: Each rule's needs, by code (TL999 and TL900 are the engine's: TL999 is
#: CPython's verdict on every file, TL900 reads every file's comments).
RULE_NEEDS: Mapping[str, Needs] = MappingProxyType({
    "TL101": THREAD_NEEDS,
    "TL102": THREAD_NEEDS,
    "TL103": THREAD_NEEDS,
    "TL201": THREAD_NEEDS,
    "TL202": EXECUTOR_NEEDS,
    "TL203": THREAD_NEEDS,
    "TL204": THREAD_NEEDS,
    "TL205": EXECUTOR_RESULT_NEEDS,
    "TL301": THREAD_ENTRY_NEEDS,
    "TL302": LOCK_NEEDS,
    # Any ``.acquire`` call (a lock-like object may come from anywhere).
    "TL303": ((rb"\.(?:\s|\\)*acquire\b",),),
    "TL304": THREAD_ENTRY_NEEDS,
    "TL305": THREAD_ENTRY_NEEDS + LOCK_NEEDS + ((THREAD_SAFE_WORDS,),),
    "TL306": THREAD_ENTRY_NEEDS + LOCK_NEEDS + ((THREAD_SAFE_WORDS,),),
    "TL311": ((GUARDED_WORDS,),),
    "TL312": ((REQUIRES_WORDS,), (has_prose_contract,)),
    "TL401": LOCK_NEEDS,
    "TL402": LOCK_NEEDS,
    "TL403": CONDITION_NEEDS,
    "TL404": CONDITION_NEEDS,
    "TL501": DEPRECATED_ALIAS_NEEDS,
    "TL900": (),
    "TL999": (),
})
