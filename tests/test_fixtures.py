"""Fixtures are the spec: each one's findings are exactly its ``# error:`` comments."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from threadlint.engine import lint_source
from threadlint.findings import LintResult
from threadlint.settings import Settings

from conftest import ROOT, expected_findings, fixture_files

FIXTURES = fixture_files()
SNAPSHOTS = ROOT / "tests" / "snapshots"


def lint_fixture(path: Path) -> LintResult:
    # A fixture specifies its own rule: fixtures/TL201_script.py is about TL201.
    # TL900 judges the noqa comments of the rules enabled with it: all of them.
    code = path.name[:5]
    settings = Settings(root=str(ROOT), select=("ALL",) if code == "TL900" else (code,))
    return lint_source(str(path.relative_to(ROOT)), path.read_bytes(), settings)


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture_findings_are_exactly_the_annotated_ones(path: Path) -> None:
    result = lint_fixture(path)
    assert result.errors == []
    actual = {(f.line, f.code) for f in result.findings}
    expected = expected_findings(path)
    missing = sorted(expected - actual)
    unexpected = sorted(actual - expected)
    details = "\n".join(f.concise() for f in result.findings)
    assert not missing and not unexpected, (
        f"missing {missing}, unexpected {unexpected}\nall findings:\n{details}"
    )


@pytest.mark.parametrize("path", [p for p in FIXTURES if not p.name.startswith("TL999")],
                         ids=lambda p: p.name)
def test_fixture_compiles(path: Path) -> None:
    ast.parse(path.read_bytes(), filename=str(path))


def test_every_fixture_has_at_least_as_many_negatives_as_positives() -> None:
    # Tricky negatives are marked "# ok: why this stays silent" on their line.
    for path in FIXTURES:
        if path.name.startswith("TL999"):
            continue
        text = path.read_text(encoding="utf-8")
        positives = len(expected_findings(path))
        negatives = text.count("# ok")
        assert positives, f"{path.name} expects no finding at all"
        assert negatives >= positives, f"{path.name}: {negatives} negatives < {positives} positives"


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture_snapshot_pins_columns_and_messages(path: Path, update_snapshots: bool) -> None:
    """``tests/snapshots/<fixture>.txt`` holds every finding as ``line:col: CODE message``.

    Regenerate with ``python -m pytest tests/test_fixtures.py --update-snapshots``
    and review the diff: a changed message or column shows there.
    """
    lines = [f"{f.line}:{f.col}: {f.code} {f.message}" for f in lint_fixture(path).findings]
    text = "".join(line + "\n" for line in lines)
    snapshot = SNAPSHOTS / f"{path.stem}.txt"
    if update_snapshots:
        SNAPSHOTS.mkdir(exist_ok=True)
        snapshot.write_text(text, encoding="utf-8")
    assert snapshot.exists(), f"no snapshot: run pytest {__file__} --update-snapshots"
    assert snapshot.read_text(encoding="utf-8").splitlines() == lines


def test_every_snapshot_belongs_to_a_fixture() -> None:
    stems = {path.stem for path in FIXTURES}
    assert {path.stem for path in SNAPSHOTS.glob("*.txt")} <= stems
