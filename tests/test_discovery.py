"""Which files a run lints: .gitignore/.ignore files, the default excludes,
the platform's case rules; which configuration applies to each file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older Pythons only
    import tomli as tomllib

from threadlint import settings as settings_module
from threadlint.discovery import discover
from threadlint.settings import Settings, matches_any

from test_cli import JOBS, err_lines, rows, tl, write


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



# --------------------------------------------------------------------------- #
# Configuration files: which one applies to each file
# --------------------------------------------------------------------------- #

def codes_by_path(proc: subprocess.CompletedProcess) -> Dict[str, List[str]]:
    found: Dict[str, List[str]] = {}
    for path, _line, _col, code in rows(proc.stdout):
        found.setdefault(path, []).append(code)
    return found


@pytest.mark.parametrize("present, winner", [
    ((".threadlint.toml", "threadlint.toml", "pyproject.toml"), "TL101"),
    (("threadlint.toml", "pyproject.toml"), "TL102"),
    (("pyproject.toml",), "TL103"),
], ids=["dot-file-first", "threadlint-toml-before-pyproject", "pyproject"])
def test_config_file_precedence_in_one_directory(tmp_path: Path, present: Tuple[str, ...],
                                                 winner: str) -> None:
    bodies = {".threadlint.toml": 'select = ["TL101"]\n', "threadlint.toml": 'select = ["TL102"]\n',
              "pyproject.toml": '[tool.threadlint]\nselect = ["TL103"]\n'}
    write(tmp_path, {name: bodies[name] for name in present})
    write(tmp_path, {"pkg/jobs.py": JOBS})
    proc = tl([], tmp_path / "pkg")
    assert (proc.returncode, proc.stderr) == (1, b"")
    assert codes_by_path(proc) == {"./jobs.py": [winner]}


SUBPROJECTS = {
    "pyproject.toml": '[tool.threadlint]\nselect = ["TL101"]\n',
    "jobs.py": JOBS,
    "sub/threadlint.toml": 'select = ["TL103"]\nextend-exclude = ["gen"]\n',
    "sub/jobs.py": JOBS,
    "sub/gen/out.py": JOBS,           # excluded by sub's pattern, relative to sub
    "gen/out.py": JOBS,               # the root's settings do not exclude it
    "sub/deeper/jobs.py": JOBS,
    "other/pyproject.toml": '[tool.threadlint]\nselect = ["TL102"]\n',
    "other/jobs.py": JOBS,
}


def test_each_file_uses_its_nearest_configuration(tmp_path: Path) -> None:
    write(tmp_path, SUBPROJECTS)
    proc = tl([], tmp_path)
    assert (proc.returncode, proc.stderr) == (1, b"")
    assert codes_by_path(proc) == {"./gen/out.py": ["TL101"], "./jobs.py": ["TL101"],
                                   "./other/jobs.py": ["TL102"], "./sub/deeper/jobs.py": ["TL103"],
                                   "./sub/jobs.py": ["TL103"]}
    # Named files too, and from any directory.
    proc = tl(["../sub/jobs.py", "../jobs.py"], tmp_path / "other")
    assert codes_by_path(proc) == {"../jobs.py": ["TL101"], "../sub/jobs.py": ["TL103"]}


def test_command_line_overrides_every_configuration(tmp_path: Path) -> None:
    write(tmp_path, SUBPROJECTS)
    proc = tl(["--select", "TL102", "--extend-exclude", "other"], tmp_path)
    assert (proc.returncode, proc.stderr) == (1, b"")
    assert codes_by_path(proc) == {"./gen/out.py": ["TL102"], "./jobs.py": ["TL102"],
                                   "./sub/deeper/jobs.py": ["TL102"], "./sub/jobs.py": ["TL102"]}
    proc = tl(["--config", "other/pyproject.toml", "jobs.py", "sub/jobs.py"], tmp_path)
    assert codes_by_path(proc) == {"jobs.py": ["TL102"], "sub/jobs.py": ["TL102"]}


def test_bad_subproject_configuration_is_one_line_and_exit_2(tmp_path: Path) -> None:
    write(tmp_path, {"jobs.py": JOBS, "sub/jobs.py": JOBS, "sub/threadlint.toml": 'selec = ["TL1"]\n'})
    proc = tl([], tmp_path)
    assert (proc.returncode, proc.stdout) == (2, b"")
    config = os.path.join(os.path.realpath(tmp_path), "sub", "threadlint.toml")
    lines = err_lines(proc)
    assert len(lines) == 1 and lines[0].startswith(
        f"threadlint: error: {config}: unknown key 'selec' (expected one of: select,"), lines


def test_show_settings_prints_the_resolved_settings_as_toml(tmp_path: Path) -> None:
    write(tmp_path, SUBPROJECTS)
    write(tmp_path, {"sub/threadlint.toml": 'select = ["TL103"]\nextend-exclude = ["gen"]\n'
                                            'per-file-ignores = { "deeper/*" = ["TL103"] }\n'})
    proc = tl(["--show-settings", "sub/deeper/jobs.py", "--extend-select", "TL102"], tmp_path)
    assert (proc.returncode, proc.stderr) == (0, b"")
    shown = tomllib.loads(proc.stdout.decode("utf-8"))
    root = os.path.realpath(tmp_path / "sub")
    assert shown["config-file"] == os.path.join(root, "threadlint.toml")
    assert (shown["root"], shown["select"], shown["extend-select"]) == (root, [], ["TL102"])
    assert shown["extend-exclude"] == ["gen"] and "site-packages" in shown["exclude"]
    assert shown["per-file-ignores"] == {"deeper/*": ["TL103"]}
    assert (shown["respect-gitignore"], shown["contracts-from-prose"]) == (True, True)
    assert (shown["excluded"], shown["enabled-codes"]) == (False, ["TL102"])
    assert set(shown) == {"config-file", "root", "select", "ignore", "extend-select", "exclude",
                          "extend-exclude", "per-file-ignores", "contracts-from-prose",
                          "guarded-ratio", "respect-gitignore", "force-exclude", "project",
                          "thread-entry", "excluded",
                              "enabled-codes"}
    proc = tl(["--isolated", "--show-settings", "jobs.py"], tmp_path)
    assert tomllib.loads(proc.stdout.decode("utf-8"))["config-file"] == ""
    proc = tl(["--show-settings", "nope.py"], tmp_path)
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert err_lines(proc) == ["threadlint: error: --show-settings: nope.py: no such file or directory"]


def test_show_files_lists_what_would_be_linted(tmp_path: Path) -> None:
    write(tmp_path, SUBPROJECTS)
    write(tmp_path, {".gitignore": "other/\n"})
    proc = tl(["--show-files"], tmp_path)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert proc.stdout.decode().splitlines() == ["./jobs.py", "./gen/out.py", "./sub/jobs.py",
                                                 "./sub/deeper/jobs.py"]
    proc = tl(["--show-files", "jobs.py", "missing.py"], tmp_path)
    assert (proc.returncode, proc.stdout) == (2, b"jobs.py\n")
    assert err_lines(proc) == ["threadlint: error: missing.py: no such file or directory"]


def test_stdin_uses_the_configuration_of_its_stdin_filename(tmp_path: Path) -> None:
    write(tmp_path, SUBPROJECTS)
    proc = tl(["--no-cache", "--stdin-filename", "sub/x.py", "-"], tmp_path, stdin=JOBS)
    assert (proc.returncode, proc.stderr) == (1, b"")
    assert codes_by_path(proc) == {"sub/x.py": ["TL103"]}
    proc = tl(["--no-cache", "-"], tmp_path / "sub", stdin=JOBS)  # no name: the current directory's
    assert codes_by_path(proc) == {"<stdin>": ["TL103"]}


def test_a_directory_named_on_the_command_line_is_linted_even_when_ignored(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("/vendor/\n*_pb2.py\n", encoding="utf-8")
    vendor = tmp_path / "vendor" / "pkg"
    vendor.mkdir(parents=True)
    (vendor / "jobs.py").write_text("x = 1\n", encoding="utf-8")
    (vendor / "api_pb2.py").write_text("x = 1\n", encoding="utf-8")
    (vendor / ".gitignore").write_text("skip.py\n", encoding="utf-8")
    (vendor / "skip.py").write_text("x = 1\n", encoding="utf-8")
    named = discover([str(tmp_path / "vendor")], Settings(root=str(tmp_path))).files
    # the ignore files below the named directory still apply; the one above it does not
    assert named == [str(vendor / "api_pb2.py"), str(vendor / "jobs.py")]
    assert discover([str(tmp_path)], Settings(root=str(tmp_path))).files == []
