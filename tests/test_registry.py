"""Every rule is documented, named, fixtured and registered exactly once."""

from __future__ import annotations

import re

import pytest

from threadlint.rules import ALL_RULES, RULES_BY_CODE

from conftest import FIXTURES, expected_findings

SECTIONS = ("## What it does", "## Why is this bad?", "## Example", "## Use instead",
            "## Known limitations")


def test_codes_and_names_are_unique() -> None:
    codes = [rule.code for rule in ALL_RULES]
    names = [rule.name for rule in ALL_RULES]
    assert len(codes) == len(set(codes))
    assert len(names) == len(set(names))
    assert codes == sorted(codes), "the registry lists rules in code order"
    assert set(RULES_BY_CODE) == set(codes)


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_rule_is_fully_described(rule) -> None:
    assert re.fullmatch(r"TL\d{3}", rule.code)
    assert re.fullmatch(r"[a-z]+(-[a-z]+)+", rule.name), rule.name
    assert rule.summary and not rule.summary.endswith(".")
    doc = rule.__doc__ or ""
    positions = [doc.find(section) for section in SECTIONS]
    assert all(p >= 0 for p in positions), f"{rule.code} docstring lacks a section"
    assert positions == sorted(positions), f"{rule.code} docstring sections out of order"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_rule_has_a_fixture_that_expects_it(rule) -> None:
    files = sorted(FIXTURES.glob(f"{rule.code}*.py"))
    assert files, f"no fixtures/{rule.code}*.py"
    assert any(code == rule.code for path in files for _, code in expected_findings(path))


def test_rules_module_names_match_codes() -> None:
    for rule in ALL_RULES:
        module = rule.__module__.rsplit(".", 1)[-1]
        assert module.startswith(rule.code.lower() + "_"), module
        assert module == f"{rule.code.lower()}_{rule.name.replace('-', '_')}", module


def test_readme_lists_every_rule() -> None:
    readme = (FIXTURES.parent / "README.md").read_text(encoding="utf-8")
    for rule in ALL_RULES:
        assert f"| {rule.code} | `{rule.name}` |" in readme, rule.code


def test_catalog_read_from_file_names_matches_the_registry() -> None:
    from threadlint.catalog import rule_codes

    assert rule_codes() == tuple(rule.code for rule in ALL_RULES)
