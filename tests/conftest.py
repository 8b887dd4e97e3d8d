"""Shared helpers for the test-suite."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Sequence, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
EXPECT_RE = re.compile(r"#\s*error:\s*(?P<codes>TL\d+(?:\s*,\s*TL\d+)*)")


def expected_findings(path: Path) -> Set[Tuple[int, str]]:
    """(line, code) pairs written as ``# error: TL101`` comments in a fixture."""
    expected = set()
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        match = EXPECT_RE.search(line)
        if match:
            for code in re.split(r"\s*,\s*", match.group("codes")):
                expected.add((number, code))
    return expected


def fixture_files() -> List[Path]:
    return sorted(FIXTURES.glob("*.py"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-snapshots", action="store_true", default=False,
                     help="rewrite tests/snapshots/*.txt from the current findings")


@pytest.fixture
def update_snapshots(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-snapshots"))


def run_cli(args: Sequence[str], cwd: os.PathLike = ROOT, stdin: str = "",
            summary: bool = False) -> subprocess.CompletedProcess:
    """Run threadlint the way a user does, in a subprocess. Without
    ``summary``, with ``--quiet``: the line a run ends with on stderr (``Found
    N findings.``) is the subject of its own tests, and the others keep
    asserting exactly what else reaches stderr."""
    quiet = [] if summary else ["--quiet"]
    return subprocess.run(
        [sys.executable, "-m", "threadlint", *quiet, *args],
        cwd=str(cwd), input=stdin.encode(), capture_output=True, timeout=120,
    )


@pytest.fixture
def cli():
    return run_cli


class LintedFiles:
    """The paths ``runner.lint_source`` was called with, recorded in a file
    (linting runs in a child process, whose memory the test cannot see);
    compares equal to the list of them."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def paths(self) -> List[str]:
        return self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []

    def __eq__(self, other: object) -> bool:
        return self.paths() == other

    def __repr__(self) -> str:
        return repr(self.paths())


def record_linted(patch: pytest.MonkeyPatch, log: Path) -> LintedFiles:
    """Record every file linted from now on (so a test can tell a cache miss from a hit)."""
    from threadlint import runner

    real = runner.lint_source

    def recording(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(path + "\n")
        return real(path, *args, **kwargs)

    patch.setattr(runner, "lint_source", recording)
    return LintedFiles(log)


def readme_console(heading: str) -> Tuple[str, List[str]]:
    """The first ``console`` block of the README section under ``heading``
    (``## Whole-project analysis``): its command and the lines it shows."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    level = heading.split(" ", 1)[0]
    section = readme.split(f"\n{heading}\n", 1)[1].split(f"\n{level} ", 1)[0]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    command, *shown = block.splitlines()
    return command, shown
