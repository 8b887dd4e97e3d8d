"""``docs/rules.md``: generated from the rules' docstrings, never stale, and
holding the section every finding's documentation URL points at."""

from __future__ import annotations

import re

from threadlint.docs import DOCS_PATH, anchor, rules_markdown, url
from threadlint.rules import ALL_RULES

from conftest import ROOT

DOCS = ROOT / DOCS_PATH


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation other
    than ``-`` and ``_`` dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_rules_md_is_generated_from_the_docstrings(update_snapshots: bool) -> None:
    """Regenerate with ``python3 -m pytest tests/test_docs.py --update-snapshots``."""
    if update_snapshots:
        DOCS.write_text(rules_markdown(), encoding="utf-8")
    assert DOCS.read_text(encoding="utf-8") == rules_markdown(), \
        "docs/rules.md is stale: run pytest tests/test_docs.py --update-snapshots"


def test_every_rule_url_names_a_heading_of_rules_md() -> None:
    text = DOCS.read_text(encoding="utf-8")
    anchors = {github_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}
    for rule in ALL_RULES:
        path, _, fragment = url(rule.code, rule.name).partition("#")
        assert (ROOT / path).is_file()
        assert fragment == anchor(rule.code, rule.name) == github_anchor(f"{rule.code} {rule.name}")
        assert fragment in anchors, rule.code
