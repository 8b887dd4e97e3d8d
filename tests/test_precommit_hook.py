"""The pre-commit hook: its manifest, and its entry run the way pre-commit runs it."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import yaml

from conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GOOD = '''\
import threading


def fetch(url):
    print(url)


def start(url):
    worker = threading.Thread(target=fetch, args=(url,))
    worker.start()
    return worker
'''
BAD = GOOD.replace("args=(url,)", "args=(url)")


def _hook() -> Dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    matching = [hook for hook in hooks if hook.get("id") == "threadlint"]
    assert len(matching) == 1, hooks
    return matching[0]


def _entry_command(entry: str) -> List[str]:
    """The hook's entry as pre-commit would run it from the installed package."""
    words = shlex.split(entry)
    script = shutil.which(words[0])
    if script is None:  # not on PATH (e.g. a bare interpreter): same code, via -m
        assert words[0] == "threadlint"
        return [sys.executable, "-m", "threadlint", *words[1:]]
    return [script, *words[1:]]


def test_manifest_declares_the_threadlint_hook() -> None:
    hook = _hook()
    assert hook["entry"] == "threadlint --force-exclude"
    # One level of parallelism: pre-commit hands every file to one threadlint,
    # whose own pool uses the CPUs (not a pool per partition: CPUs squared).
    assert hook["require_serial"] is True
    assert hook["language"] == "python"
    assert hook["types"] == ["python"]
    assert hook.get("name")
    # language: python installs this package; the entry must be its console script.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"][shlex.split(hook["entry"])[0]] == "threadlint.cli:main"


def test_entry_runs_on_the_staged_file_names(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "jobs.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "pkg" / "ok.py").write_text(GOOD, encoding="utf-8")
    (tmp_path / "run_jobs").write_text("#!/usr/bin/env python3\n" + BAD, encoding="utf-8")
    command = _entry_command(_hook()["entry"])
    # pre-commit appends the staged files of the hook's types (a script with a
    # python shebang is one) and fails the commit on a non-zero exit status.
    proc = subprocess.run([*command, "pkg/ok.py", "pkg/jobs.py", "run_jobs"],
                          cwd=tmp_path, capture_output=True, timeout=120)
    assert proc.stderr == b"Found 2 findings (2 fixable with --fix).\n"
    assert proc.returncode == 1
    lines = proc.stdout.decode().splitlines()
    assert [line.split(" ", 2)[:2] for line in lines] == [
        ["pkg/jobs.py:9:51:", "TL101"],
        ["run_jobs:10:51:", "TL101"],
    ]

    clean = subprocess.run([*command, "pkg/ok.py"], cwd=tmp_path, capture_output=True, timeout=120)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, b"", b"All checks passed!\n")


def test_entry_obeys_the_configured_excludes_for_staged_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.threadlint]\nextend-exclude = ["vendored"]\n', encoding="utf-8")
    (tmp_path / "vendored").mkdir()
    (tmp_path / "vendored" / "jobs.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "jobs.py").write_text(BAD, encoding="utf-8")
    command = _entry_command(_hook()["entry"])
    proc = subprocess.run([*command, "vendored/jobs.py", "jobs.py"], cwd=tmp_path,
                          capture_output=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (1, b"Found 1 finding (1 fixable with --fix).\n")
    assert [line.split(" ", 2)[:2] for line in proc.stdout.decode().splitlines()] == [
        ["jobs.py:9:51:", "TL101"]]
    only_excluded = subprocess.run([*command, "vendored/jobs.py"], cwd=tmp_path,
                                   capture_output=True, timeout=120)
    assert (only_excluded.returncode, only_excluded.stdout) == (0, b"")
