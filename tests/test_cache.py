"""The cache's key, place, layout and upkeep (hostile entries: test_cache_hostile.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from threadlint import cache as cache_module
from threadlint import runner
from threadlint.cache import DEFAULT_DIRNAME, LAYOUT, MAX_AGE_DAYS, Cache
from threadlint.settings import Settings

from conftest import record_linted, run_cli

SETTINGS = Settings(root="/", select=("TL1",))
SOURCE = b"import threading\n\nthreading.Thread(target=print, args=(1)).start()\n"


@pytest.fixture(autouse=True)
def fresh_environment() -> Iterator[None]:
    cache_module.environment.cache_clear()
    yield
    cache_module.environment.cache_clear()


def _linted(tmp_path: Path, cache: Cache, monkeypatch) -> List[str]:
    """Run over jobs.py; the files actually linted (not answered by the cache)."""
    with monkeypatch.context() as patch:
        linted = record_linted(patch, tmp_path / f"linted-{len(list(tmp_path.glob('linted-*')))}.log")
        [(result, _)] = runner.run([str(tmp_path / "jobs.py")], SETTINGS, False, "-", jobs=1, cache=cache)
    assert [f.code for f in result.findings] == ["TL101"]
    return linted.paths()


@pytest.mark.parametrize("change", ["python", "implementation", "libcst"])
def test_an_entry_is_only_served_to_the_python_and_libcst_that_computed_it(
        tmp_path: Path, monkeypatch, change: str) -> None:
    (tmp_path / "jobs.py").write_bytes(SOURCE)
    cache = Cache(str(tmp_path / "cache"))
    assert _linted(tmp_path, cache, monkeypatch) == [str(tmp_path / "jobs.py")]
    assert _linted(tmp_path, cache, monkeypatch) == []  # a hit
    if change == "python":  # e.g. a TL999 under 3.11 for code valid in 3.12
        monkeypatch.setattr(sys, "version_info", (*sys.version_info[:1], sys.version_info[1] + 1, 0))
        monkeypatch.setattr(sys, "version", "3.99.0 (simulated)")
    elif change == "implementation":
        monkeypatch.setattr(sys.implementation, "name", "pypy")
    else:
        monkeypatch.setattr(cache_module, "_libcst_version", lambda: "0.0.1")
    cache_module.environment.cache_clear()
    assert _linted(tmp_path, cache, monkeypatch) == [str(tmp_path / "jobs.py")]


# --------------------------------------------------------------------------- #
# Where the cache lives, its layout, pruning, clearing
# --------------------------------------------------------------------------- #

JOBS = SOURCE.decode()


def _tl(args: List[str], cwd: Path) -> subprocess.CompletedProcess:
    proc = run_cli(args, cwd=cwd)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def _entries(cache_dir: Path) -> List[Path]:
    return sorted(cache_dir.glob(f"{LAYOUT}/*/*.json"))


@pytest.mark.parametrize("marker", ["pyproject.toml", "setup.cfg", ".git"])
def test_without_a_config_the_cache_is_at_the_project_root_not_the_cwd(tmp_path: Path, marker: str) -> None:
    home, project = tmp_path / "home", tmp_path / "home" / "proj"
    (project / "src" / "pkg").mkdir(parents=True)
    (project / "src" / "pkg" / "jobs.py").write_text(JOBS, encoding="utf-8")
    if marker == ".git":
        (project / marker).mkdir()
    else:
        (project / marker).write_text("", encoding="utf-8")  # no [tool.threadlint]
    proc = _tl(["--select", "TL1", "proj/src/pkg"], home)
    assert proc.returncode == 1
    assert not (home / DEFAULT_DIRNAME).exists()
    assert _entries(project / DEFAULT_DIRNAME)


def test_with_a_config_the_cache_is_beside_it_and_with_nothing_in_the_cwd(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.threadlint]\nselect = ["TL1"]\n', encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "jobs.py").write_text(JOBS, encoding="utf-8")
    assert _tl(["jobs.py"], tmp_path / "sub").returncode == 1
    assert _entries(tmp_path / DEFAULT_DIRNAME) and not (tmp_path / "sub" / DEFAULT_DIRNAME).exists()

    bare = tmp_path / "bare"  # no marker above (tmp_path's own pyproject is not an ancestor)
    loose = tmp_path.parent / f"{tmp_path.name}-loose"
    loose.mkdir()
    (loose / "jobs.py").write_text(JOBS, encoding="utf-8")
    bare.mkdir()
    assert _tl(["--isolated", str(loose / "jobs.py")], bare).returncode == 1
    assert _entries(bare / DEFAULT_DIRNAME)  # nothing marks a root: the cwd


def test_the_cache_is_tagged_ignored_and_versioned(tmp_path: Path) -> None:
    (tmp_path / "jobs.py").write_text(JOBS, encoding="utf-8")
    cache_dir = tmp_path / "cache"
    assert _tl(["--select", "TL1", "--cache-dir", str(cache_dir), "jobs.py"], tmp_path).returncode == 1
    assert (cache_dir / "CACHEDIR.TAG").read_bytes().startswith(
        b"Signature: 8a477f597d28d172789f06886806bc55")
    assert (cache_dir / ".gitignore").read_text().splitlines()[-1] == "*"
    assert {p.name for p in cache_dir.iterdir()} == {"CACHEDIR.TAG", ".gitignore", LAYOUT, ".pruned"}
    assert len(_entries(cache_dir)) == 1


def _age(path: Path, days: float) -> None:
    then = time.time() - days * 86400
    os.utime(path, (then, then))


def test_entries_not_used_for_a_month_are_pruned_at_the_end_of_a_run(tmp_path: Path) -> None:
    (tmp_path / "jobs.py").write_text(JOBS, encoding="utf-8")
    cache_dir = tmp_path / "cache"
    command = ["--select", "TL1", "--cache-dir", str(cache_dir), "jobs.py"]
    _tl(command, tmp_path)
    [first] = _entries(cache_dir)
    (tmp_path / "jobs.py").write_text(JOBS + "\n", encoding="utf-8")  # an edit: a new entry
    _tl(command, tmp_path)
    assert len(_entries(cache_dir)) == 2  # pruned at most once a day
    for entry in _entries(cache_dir):
        _age(entry, MAX_AGE_DAYS + 1)
    _age(cache_dir / ".pruned", 2)
    _tl(command, tmp_path)  # a hit: its entry is used, the edited-away one is not
    [kept] = _entries(cache_dir)
    assert kept != first and kept.stat().st_mtime > time.time() - 3600


def test_pruning_removes_old_entries_of_every_layout_and_nothing_else(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    hexname = "ab" * 32 + ".json"
    old = [cache_dir / LAYOUT / "ab" / hexname, cache_dir / "v1" / "cd" / hexname,
           cache_dir / "ef" / hexname, cache_dir / LAYOUT / "ab" / ".threadlint-12-00ff.tmp"]
    fresh = cache_dir / LAYOUT / "ab" / ("cd" * 32 + ".json")
    foreign = [cache_dir / "notes.txt", cache_dir / LAYOUT / "ab" / "notes.json",
               cache_dir / "v1" / "keep" / hexname]
    for path in [*old, fresh, *foreign]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}", encoding="utf-8")
    for path in [*old, *foreign]:
        _age(path, MAX_AGE_DAYS + 1)
    assert Cache(str(cache_dir)).prune() == 3
    assert [p for p in [*old, fresh, *foreign] if p.exists()] == [fresh, *foreign]
    assert not (cache_dir / "ef").exists()  # emptied: removed
    fresh.parent.mkdir(parents=True, exist_ok=True)
    _age(fresh, MAX_AGE_DAYS + 1)
    assert Cache(str(cache_dir)).prune() == 0 and fresh.exists()  # not again within a day
    assert Cache(str(cache_dir)).prune(now=time.time() + 2 * 86400) == 1 and not fresh.exists()


def test_clear_cache_removes_only_threadlints_files(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "jobs.py").write_text(JOBS, encoding="utf-8")
    assert _tl(["--select", "TL1", "jobs.py"], tmp_path).returncode == 1
    assert _entries(tmp_path / DEFAULT_DIRNAME)
    proc = _tl(["--clear-cache", "jobs.py"], tmp_path)
    assert (proc.returncode, proc.stdout) == (0, b"")
    assert proc.stderr.decode() == (f"threadlint: cleared the cache in "
                                    f"{tmp_path / DEFAULT_DIRNAME} (1 entry removed)\n")
    assert not (tmp_path / DEFAULT_DIRNAME).exists()
    again = _tl(["--clear-cache"], tmp_path)
    assert (again.returncode, again.stdout) == (0, b"")

    # A --cache-dir pointed at a directory that holds other things keeps them.
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "precious.txt").write_text("keep me\n", encoding="utf-8")
    _tl(["--select", "TL1", "--cache-dir", str(shared), "jobs.py"], tmp_path)
    assert _tl(["--clear-cache", "--cache-dir", str(shared)], tmp_path).returncode == 0
    assert [p.name for p in shared.iterdir()] == ["precious.txt"]

    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("", encoding="utf-8")
    bad = _tl(["--clear-cache", "--cache-dir", str(not_a_dir)], tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
