"""Which files a run lints: .gitignore/.ignore files, the default excludes,
the platform's case rules; which configuration applies to each file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from threadlint import settings as settings_module
from threadlint.discovery import discover
from threadlint.settings import Settings, matches_any

from test_cli import JOBS, rows, tl, write


def linted(proc: subprocess.CompletedProcess) -> List[str]:
    """The files a run reported findings in (every file here holds JOBS)."""
    return sorted({row[0] for row in rows(proc.stdout)})


# --------------------------------------------------------------------------- #
# .gitignore and .ignore
# --------------------------------------------------------------------------- #

IGNORED_PROJECT = {
    ".gitignore": "generated/\n*_pb2.py\n!keep_pb2.py\n/top_only.py\n",
    ".ignore": "scratch.py\n",
    "app/jobs.py": JOBS,
    "app/top_only.py": JOBS,          # '/top_only.py' is anchored to the root
    "top_only.py": JOBS,
    "app/api_pb2.py": JOBS,
    "app/keep_pb2.py": JOBS,          # re-included by '!'
    "app/scratch.py": JOBS,
    "app/generated/out.py": JOBS,
    "app/sub/.gitignore": "local.py\n!scratch.py\n",  # a deeper file overrides
    "app/sub/local.py": JOBS,
    "app/sub/scratch.py": JOBS,
    "app/local.py": JOBS,             # sub's .gitignore does not reach up here
}
RESPECTED = ["./app/jobs.py", "./app/keep_pb2.py", "./app/local.py", "./app/sub/scratch.py",
             "./app/top_only.py"]
EVERYTHING = sorted("./" + name for name in IGNORED_PROJECT if name.endswith(".py"))


@pytest.mark.parametrize("git", [True, False], ids=["git-work-tree", "no-git"])
def test_gitignore_and_ignore_files_are_respected(tmp_path: Path, git: bool) -> None:
    write(tmp_path, IGNORED_PROJECT)
    if git:
        (tmp_path / ".git").mkdir()
    proc = tl([], tmp_path)
    assert (proc.returncode, proc.stderr) == (1, b"")
    assert linted(proc) == RESPECTED


def test_no_respect_gitignore_flag_and_config_key(tmp_path: Path) -> None:
    write(tmp_path, IGNORED_PROJECT)
    proc = tl(["--no-respect-gitignore"], tmp_path)
    assert (proc.returncode, proc.stderr) == (1, b"")
    assert linted(proc) == EVERYTHING
    write(tmp_path, {"pyproject.toml": "[tool.threadlint]\nrespect-gitignore = false\n"})
    assert linted(tl([], tmp_path)) == EVERYTHING
    assert linted(tl(["--respect-gitignore"], tmp_path)) == RESPECTED


def test_parent_gitignore_applies_inside_the_work_tree(tmp_path: Path) -> None:
    write(tmp_path, IGNORED_PROJECT)
    (tmp_path / ".git").mkdir()
    proc = tl(["."], tmp_path / "app")
    assert (proc.returncode, proc.stderr) == (1, b"")
    assert linted(proc) == ["./jobs.py", "./keep_pb2.py", "./local.py", "./sub/scratch.py",
                            "./top_only.py"]


def test_named_files_are_linted_unless_force_exclude(tmp_path: Path) -> None:
    write(tmp_path, IGNORED_PROJECT)
    (tmp_path / ".git").mkdir()
    named = ["app/api_pb2.py", "app/generated/out.py", "app/jobs.py"]
    proc = tl(named, tmp_path)
    assert (proc.returncode, proc.stderr) == (1, b"")
    assert linted(proc) == named
    proc = tl(["--force-exclude", *named], tmp_path)
    assert (proc.returncode, proc.stderr) == (1, b"")
    assert linted(proc) == ["app/jobs.py"]


def test_pathspec_is_imported_only_when_an_ignore_file_exists(tmp_path: Path) -> None:
    write(tmp_path, {"plain/a.py": JOBS, "ignoring/.gitignore": "b.py\n", "ignoring/b.py": JOBS,
                     "ignoring/c.py": JOBS})
    script = ("import sys\nfrom threadlint.discovery import discover\n"
              "from threadlint.settings import Settings\n"
              "found = discover([sys.argv[1]], Settings())\n"
              "print(sorted(found.files), 'pathspec' in sys.modules)\n")
    outputs = [subprocess.run([sys.executable, "-c", script, name], cwd=str(tmp_path),
                              capture_output=True, text=True, check=True).stdout.strip()
               for name in ("plain", "ignoring")]
    assert outputs == [f"['plain{os.sep}a.py'] False", f"['ignoring{os.sep}c.py'] True"]


def test_default_excludes_cover_virtualenvs_builds_and_caches(tmp_path: Path) -> None:
    skipped = [".venv", "venv", ".direnv", "__pypackages__", "site-packages", ".tox", "_build",
               "buck-out", "build", "dist", ".pytype", ".hypothesis", ".ipynb_checkpoints"]
    write(tmp_path, {f"{name}/x.py": JOBS for name in skipped})
    write(tmp_path, {"pkg/jobs.py": JOBS})
    found = discover([str(tmp_path)], Settings(root=str(tmp_path)))
    assert found.files == [str(tmp_path / "pkg" / "jobs.py")]


@pytest.mark.parametrize("insensitive, expected", [(True, True), (False, False)])
def test_glob_matching_follows_the_platforms_case_rules(monkeypatch: pytest.MonkeyPatch,
                                                        insensitive: bool, expected: bool) -> None:
    monkeypatch.setattr(settings_module, "CASE_INSENSITIVE", insensitive)
    root = os.path.abspath("proj")
    assert matches_any(os.path.join(root, "Build", "x.py"), ("build",), root) is expected
    assert matches_any(os.path.join(root, "Gen", "X_PB2.py"), ("gen/*_pb2.py",), root) is expected
    assert matches_any(os.path.join(root, "gen", "x_pb2.py"), ("gen/*_pb2.py",), root)


def test_gitignore_follows_the_platforms_case_rules(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {".gitignore": "Generated/\n", "generated/a.py": JOBS, "b.py": JOBS})
    for insensitive, expected in ((True, ["b.py"]), (False, ["b.py", "generated/a.py"])):
        monkeypatch.setattr(settings_module, "CASE_INSENSITIVE", insensitive)
        found = discover([str(tmp_path)], Settings(root=str(tmp_path)))
        assert [os.path.relpath(f, tmp_path).replace(os.sep, "/") for f in found.files] == expected

