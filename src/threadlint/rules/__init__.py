"""The rule registry: every rule threadlint knows, in code order."""

from typing import List, Type

from threadlint.rules.base import Rule
from threadlint.rules.tl101_thread_args_not_tuple import ThreadArgsNotTuple
from threadlint.rules.tl102_thread_target_called import ThreadTargetCalled
from threadlint.rules.tl103_thread_run_called import ThreadRunCalled
from threadlint.rules.tl999_syntax_error import SyntaxErrorRule

SYNTAX_ERROR_CODE = "TL999"

ALL_RULES: List[Type[Rule]] = [
    ThreadArgsNotTuple,
    ThreadTargetCalled,
    ThreadRunCalled,
    SyntaxErrorRule,
]

RULES_BY_CODE = {rule.code: rule for rule in ALL_RULES}
