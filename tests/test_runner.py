"""Parallel runs, crash and hang containment, and the cache."""

from __future__ import annotations

import faulthandler
import io
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from threadlint import runner
from threadlint.cache import Cache
from threadlint.settings import Settings

from conftest import FIXTURES, ROOT

needs_fork = pytest.mark.skipif(multiprocessing.get_start_method() != "fork",
                                reason="the fault injection relies on fork inheriting a patch")


@pytest.fixture
def project(tmp_path: Path) -> List[str]:
    """Enough files for the pool to be used: every fixture, four times."""
    files = []
    for copy in range(4):
        for fixture in sorted(FIXTURES.glob("*.py")):
            target = tmp_path / f"c{copy}_{fixture.name}"
            shutil.copy(fixture, target)
            files.append(str(target))
    assert len(files) >= runner.MIN_FILES_FOR_POOL
    return files


def summary(results) -> list:
    return [(r.path, [(f.line, f.col, f.code, f.message) for f in r.findings],
             [str(e) for e in r.errors], unreadable) for r, unreadable in results]


def test_parallel_output_is_identical_to_serial(project: List[str]) -> None:
    settings = Settings(root="/")
    serial = runner.run(project, settings, False, "<stdin>", jobs=1)
    parallel = runner.run(project, settings, False, "<stdin>", jobs=2)
    assert summary(serial) == summary(parallel)
    assert sum(len(r.findings) for r, _ in serial) > 20


def test_a_kept_pool_serves_the_next_pass(project: List[str]) -> None:
    """Whole-project analysis lints in passes: the pool of the first is kept
    (its workers have libcst imported) and serves the next, even for fewer
    files than a pool is started for; a failed pass never keeps one."""
    settings = Settings(root="/")
    workers = runner.Workers()
    try:
        first = runner.run(project, settings, False, "<stdin>", jobs=2, workers=workers)
        pool = workers.take()
        assert pool is not None
        workers.keep(pool)
        few = project[:3]
        second = runner.run(few, settings, False, "<stdin>", jobs=2, workers=workers)
        assert workers.take() is pool
        workers.keep(pool)
        assert summary(second) == summary(first)[:3]
        assert summary(first) == summary(runner.run(project, settings, False, "<stdin>", jobs=1))
    finally:
        workers.close()
    assert workers.take() is None


@pytest.mark.slow
def test_standard_input_among_pooled_files_is_read_once(project: List[str], monkeypatch,
                                                         tmp_path: Path) -> None:
    """A pooled run reads files twice (the workers are forked in between) but
    standard input only once; with the cache too, keys follow what is linted."""
    stdin_text = (FIXTURES / "TL101.py").read_bytes()
    files = project + [runner.STDIN]

    def run(jobs: int, cache) -> list:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin_text)))
        return summary(runner.run(files, Settings(root="/"), False, "TL101.py", jobs=jobs, cache=cache))

    serial = run(1, None)
    assert serial[-1][0] == "TL101.py" and serial[-1][1]
    assert run(2, None) == serial
    cache = Cache(str(tmp_path / "cache"))
    assert run(2, cache) == serial  # cold, filling the cache
    assert run(2, cache) == serial  # warm


def _faulty(original):
    parent = os.getpid()

    def lint(path, source, settings, fix=False, context=None):
        if os.getpid() != parent:
            if b"CRASH_ME" in source:
                faulthandler.disable()  # keep pytest's crash dump out of the output
                os.kill(os.getpid(), signal.SIGSEGV)
            if b"HANG_ME" in source:
                time.sleep(60)
        return original(path, source, settings, fix=fix, context=context)

    return lint


@needs_fork
@pytest.mark.slow
def test_a_worker_crash_names_the_file_and_keeps_every_other_result(project, monkeypatch) -> None:
    settings = Settings(root="/")
    expected = summary(runner.run(project, settings, False, "<stdin>", jobs=1))
    bad = Path(project[5])
    bad.write_bytes(bad.read_bytes() + b"\n# CRASH_ME\n")
    monkeypatch.setattr(runner, "lint_source", _faulty(runner.lint_source))
    got = summary(runner.run(project, settings, False, "<stdin>", jobs=2))
    assert got[5][1] == [] and len(got[5][2]) == 1
    assert "crashed its process (signal 11)" in got[5][2][0]
    assert got[:5] + got[6:] == expected[:5] + expected[6:]


@needs_fork
@pytest.mark.slow
def test_a_hung_worker_is_reported_and_the_run_goes_on(project, monkeypatch) -> None:
    settings = Settings(root="/", file_timeout=1.0)
    expected = summary(runner.run(project, settings, False, "<stdin>", jobs=1))
    bad = Path(project[3])
    bad.write_bytes(bad.read_bytes() + b"\n# HANG_ME\n")
    monkeypatch.setattr(runner, "lint_source", _faulty(runner.lint_source))
    monkeypatch.setattr(runner, "BATCH_SIZE", 2)
    got = summary(runner.run(project, settings, False, "<stdin>", jobs=2))
    assert "took longer than 1 s" in got[3][2][0]
    assert got[:3] + got[4:] == expected[:3] + expected[4:]


@pytest.mark.slow
def test_warm_cache_parses_nothing_and_survives_corrupt_entries(project, tmp_path, monkeypatch) -> None:
    settings = Settings(root="/")
    cache = Cache(str(tmp_path / "cache"))
    cold = summary(runner.run(project, settings, False, "<stdin>", jobs=1, cache=cache))
    assert (tmp_path / "cache" / ".gitignore").read_text().strip().endswith("*")

    def must_not_lint(*args, **kwargs):
        raise AssertionError("a warm run linted a file")

    monkeypatch.setattr(runner, "lint_source", must_not_lint)
    warm = summary(runner.run(project, settings, False, "<stdin>", jobs=1, cache=cache))
    assert warm == cold
    monkeypatch.undo()

    entries = sorted((tmp_path / "cache").glob("v*/*/*.json"))
    assert entries
    for entry in entries:
        entry.write_text('{"key": "someone else', encoding="utf-8")  # torn or foreign
    again = summary(runner.run(project, settings, False, "<stdin>", jobs=1, cache=cache))
    assert again == cold
    assert all(entry.read_text(encoding="utf-8").startswith('{"key": "') and
               entry.stat().st_size > 30 for entry in entries)


def test_cache_key_depends_on_enabled_codes(project, tmp_path) -> None:
    cache = Cache(str(tmp_path / "cache"))
    everything = runner.run(project[:3], Settings(root="/"), False, "-", jobs=1, cache=cache)
    only_tl103 = runner.run(project[:3], Settings(root="/", select=("TL103",)), False, "-",
                            jobs=1, cache=cache)
    assert {f.code for r, _ in only_tl103 for f in r.findings} <= {"TL103"}
    assert {f.code for r, _ in everything for f in r.findings} != {"TL103"}


def test_two_runs_sharing_a_cache_at_once_agree(tmp_path: Path) -> None:
    target = tmp_path / "src"
    shutil.copytree(FIXTURES, target)
    command = [sys.executable, "-m", "threadlint", "--cache-dir", str(tmp_path / "cache"),
               "-j", "2", str(target)]
    procs = [subprocess.Popen(command, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert outputs[0][0] == outputs[1][0] and outputs[0][0].count(b"\n") > 20
    warm = subprocess.run(command, cwd=str(ROOT), capture_output=True, timeout=120)
    assert warm.stdout == outputs[0][0]
    assert not list((tmp_path / "cache").glob("*/*.tmp"))


def test_a_warm_run_does_not_import_libcst(tmp_path: Path) -> None:
    """Files are linted in child processes; a run the cache answers starts
    none, and the parent never imports libcst."""
    shutil.copytree(FIXTURES, tmp_path / "src")
    args = ["--cache-dir", str(tmp_path / "cache"), "-j", "1", str(tmp_path / "src")]
    script = ("import sys, threadlint.cli, threadlint.runner as runner\n"
              "contained = runner._run_contained\n"
              "def counted(tasks, *args):\n"
              "    sys.stderr.write('linted: %d\\n' % len(tasks))\n"
              "    return contained(tasks, *args)\n"
              "runner._run_contained = counted\n"
              "code = threadlint.cli.main(sys.argv[1:])\n"
              "sys.stderr.write('libcst imported: %s\\n' % ('libcst' in sys.modules))\n"
              "sys.exit(code)\n")
    cold = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, timeout=120)
    warm = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, timeout=120)
    assert b"linted: " in cold.stderr and b"linted: " not in warm.stderr
    # (A cold run imports the engine in the parent before forking its first
    # child, for the later passes of whole-project analysis: tests/test_startup.py.)
    assert b"libcst imported: False" in warm.stderr
    assert warm.stdout == cold.stdout and cold.stdout.count(b"\n") > 20
    assert warm.returncode == cold.returncode == 1


def _no_cdll(name, *args, **kwargs):
    raise TypeError("LoadLibrary() argument 1 must be str, not None")  # Windows' CDLL(None)


def _as_on_windows(monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(runner.ctypes, "CDLL", _no_cdll)


@needs_fork
def test_a_pooled_run_with_large_files_completes_on_windows(project: List[str], monkeypatch,
                                                           tmp_path: Path) -> None:
    """Simulated Windows (CI is Linux): the workers' platform calls (freeing
    memory after a large file, dying with the parent) must not fail the run.
    The pool forks, so the workers inherit the simulation."""
    large = tmp_path / "large.py"
    large.write_bytes((FIXTURES / "TL101.py").read_bytes() * 40)
    assert large.stat().st_size > runner._TRIM_AFTER_BYTES
    files = [str(large), *project]
    settings = Settings(root="/")
    expected = summary(runner.run(files, settings, False, "<stdin>", jobs=1))
    _as_on_windows(monkeypatch)
    assert summary(runner.run(files, settings, False, "<stdin>", jobs=2)) == expected
    assert expected[0][1] and not any(errors for _, _, errors, _ in expected)


def test_platform_calls_are_safe_on_windows(monkeypatch) -> None:
    _as_on_windows(monkeypatch)
    assert runner._libc() is None
    runner._release_memory()
    assert runner._alive(os.getpid())  # no ctypes.windll here: "cannot tell" is alive
    task = runner.Task(0, "large.py", (FIXTURES / "TL101.py").read_bytes() * 40)
    [result] = runner._lint_batch([task], Settings(root="/"), False)
    assert result.findings and not result.errors
