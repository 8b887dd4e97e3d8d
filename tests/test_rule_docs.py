"""Each rule's documentation is tested like code: its ``Example`` triggers the
rule and its ``Use instead`` does not (pylint's good.py/bad.py, Fixit's
VALID/INVALID), so the docs cannot drift from what the rule does."""

from __future__ import annotations

import re
import textwrap
from typing import List

import pytest

from threadlint.engine import lint_source
from threadlint.rules import ALL_RULES, SYNTAX_ERROR_CODE
from threadlint.settings import Settings

_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def code_blocks(rule: type, section: str) -> List[str]:
    """The ```python blocks of one ``## section`` of a rule's docstring."""
    doc = textwrap.dedent("    " + (rule.__doc__ or "").lstrip())
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", doc, re.DOTALL | re.MULTILINE)
    assert match, f"{rule.code} has no '## {section}'"
    blocks = _BLOCK.findall(match.group(1))
    assert blocks, f"{rule.code}: '## {section}' has no python block"
    return blocks


def codes(rule: type, source: str) -> List[str]:
    # TL900 judges only the codes of rules enabled with it: all of them.
    settings = Settings(root="/", select=("ALL",) if rule.code == "TL900" else (rule.code,))
    result = lint_source("example.py", source.encode(), settings)
    assert result.errors == []
    return [finding.code for finding in result.findings]


DOCUMENTED = [rule for rule in ALL_RULES if rule.code != SYNTAX_ERROR_CODE]


@pytest.mark.parametrize("rule", DOCUMENTED, ids=lambda r: r.code)
def test_the_example_triggers_the_rule(rule: type) -> None:
    for block in code_blocks(rule, "Example"):
        assert rule.code in codes(rule, block), f"{rule.code}'s Example is not reported:\n{block}"


@pytest.mark.parametrize("rule", DOCUMENTED, ids=lambda r: r.code)
def test_use_instead_does_not_trigger_the_rule(rule: type) -> None:
    for block in code_blocks(rule, "Use instead"):
        assert rule.code not in codes(rule, block), f"{rule.code}'s Use instead is reported:\n{block}"


def test_the_syntax_error_example_is_a_syntax_error() -> None:
    rule = next(r for r in ALL_RULES if r.code == SYNTAX_ERROR_CODE)
    assert codes(rule, code_blocks(rule, "Example")[0]) == [SYNTAX_ERROR_CODE]
    assert codes(rule, code_blocks(rule, "Use instead")[0]) == []
