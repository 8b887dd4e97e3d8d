"""Rule codes and names without importing the rules (and so libcst).

A warm run answered entirely from the cache needs only the list of codes, to
select rules and build cache keys; importing libcst would be half its time.
Each rule module is named ``<code>_<name>.py`` (``tl101_thread_args_not_tuple``;
``tests/test_registry.py`` holds every rule to that), so the file names are
the catalog. The registry in ``threadlint.rules`` stays the one explicit list.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Tuple

_MODULE = re.compile(r"(tl\d{3})_([a-z0-9_]+)\.py")

SYNTAX_ERROR_CODE = "TL999"
#: Judged in the engine's noqa stage, after every other rule.
UNUSED_NOQA_CODE = "TL900"
#: Codes the engine reports itself: no rule class runs for them.
ENGINE_CODES = frozenset({SYNTAX_ERROR_CODE, UNUSED_NOQA_CODE})


@functools.lru_cache(maxsize=1)
def rule_codes() -> Tuple[str, ...]:
    """Every rule code, in code order."""
    directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rules")
    try:
        names = os.listdir(directory)
    except OSError:  # not on a file system (e.g. zipped): ask the registry
        from threadlint.rules import ALL_RULES

        return tuple(rule.code for rule in ALL_RULES)
    found = (_MODULE.fullmatch(name) for name in names)
    return tuple(sorted(match.group(1).upper() for match in found if match))
