"""The hook as real pre-commit runs it: ``pre-commit try-repo`` installs this
repository's committed HEAD into pre-commit's own environment and runs the
``threadlint`` hook on a staged file (a pre-commit cache makes repeat runs
take seconds)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pre_commit")

from conftest import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                       reason="needs git and a git checkout of threadlint"),
]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_real_pre_commit_runs_the_hook_on_staged_files(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    (project / "pyproject.toml").write_text('[tool.threadlint]\nextend-exclude = ["vendored"]\n',
                                            encoding="utf-8")
    (project / "vendored").mkdir()
    bad = "import threading\nthreading.Thread(target=print, args=(1)).start()\n"
    (project / "jobs.py").write_text(bad, encoding="utf-8")
    (project / "vendored" / "lib.py").write_text(bad, encoding="utf-8")
    _git(project, "add", ".")
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "threadlint", "--all-files"],
        cwd=project, capture_output=True, timeout=600)
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 1, out
    assert "jobs.py:2:38: TL101" in out
    assert "vendored" not in out.split("hook id: threadlint", 1)[1]  # the config's excludes hold
