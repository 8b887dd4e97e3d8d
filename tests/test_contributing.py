"""The example rule in CONTRIBUTING.md is real: it runs, and does what its
own documentation says."""

from __future__ import annotations

import re

import threadlint.settings
from threadlint import engine
from threadlint.engine import lint_source
from threadlint.rules import ALL_RULES
from threadlint.settings import Settings

from conftest import ROOT
from test_rule_docs import code_blocks


def test_the_guide_example_rule_reports_its_example_and_not_its_alternative(monkeypatch) -> None:
    guide = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    source = re.search(r"^````python\n(.*?)^````$", guide, re.DOTALL | re.MULTILINE).group(1)
    namespace: dict = {}
    exec(compile(source, "CONTRIBUTING.md", "exec"), namespace)
    rule = namespace["SleepHoldingLock"]
    assert 30 <= len(source.splitlines()) <= 80
    monkeypatch.setattr(engine, "ALL_RULES", [*ALL_RULES, rule])
    monkeypatch.setattr(threadlint.settings, "rule_codes",
                        lambda: tuple(r.code for r in ALL_RULES) + (rule.code,))
    settings = Settings(root="/", select=(rule.code,))

    def findings(block: str) -> list:
        result = lint_source("example.py", block.encode(), settings)
        assert result.errors == []
        return [f.concise() for f in result.findings]

    (example,) = code_blocks(rule, "Example")
    assert findings(example) == [
        "example.py:5:9: TL901 `time.sleep()` holds `lock` in thread target 'poll', so every "
        "thread waiting for it sleeps too: release it first"]
    (alternative,) = code_blocks(rule, "Use instead")
    assert findings(alternative) == []
