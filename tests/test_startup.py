"""Start-up cost: a run in which no file needs a parse imports neither libcst
nor any rule, and starts no child process; the front of the pipeline gives the
same result in the parent as in the engine."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from threadlint.engine import lint_source
from threadlint.settings import Settings
from threadlint.triage import triage

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

#: Runs main() in a fresh interpreter and prints what it imported and whether
#: it started a process.
_PROBE = textwrap.dedent("""
    import json, multiprocessing.process, sys
    started = []
    original = multiprocessing.process.BaseProcess.start
    def start(self):
        started.append(self.name)
        return original(self)
    multiprocessing.process.BaseProcess.start = start
    from threadlint.cli import main
    code = main(sys.argv[1:])
    sys.stdout.flush()
    print(json.dumps({"code": code, "libcst": "libcst" in sys.modules,
                      "rules": any(m.startswith("threadlint.rules") for m in sys.modules),
                      "started": started}))
""")


def _probe(tmp_path: Path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _PROBE, "--isolated", "--no-cache", *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    *out, last = proc.stdout.strip().splitlines()
    report = json.loads(last)
    report["out"] = "\n".join(out)
    return report


def test_no_parse_needed_imports_no_libcst_and_starts_no_process(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("import os\n\nprint(os.getcwd())\n")
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    (tmp_path / "noqa.py").write_text("x = 1  # noqa: TL101\n")
    report = _probe(tmp_path, "plain.py", "broken.py", "noqa.py")
    assert report["libcst"] is False and report["rules"] is False
    assert report["started"] == []
    assert report["out"].splitlines() == [
        "broken.py:1:7: TL999 SyntaxError: invalid syntax",
        "noqa.py:1:8: TL900 `# noqa` code TL101 suppresses nothing: no TL101 finding on this "
        "statement; remove it",
    ]
    assert report["code"] == 1


def test_a_file_that_needs_a_parse_is_linted_in_a_child(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("x = 1\n")
    (tmp_path / "jobs.py").write_text("import threading\nt = threading.Thread(target=print, args=(1))\n")
    report = _probe(tmp_path, "--no-project", "plain.py", "jobs.py")
    assert report["libcst"] is False  # the parent never imports it
    assert len(report["started"]) == 1
    assert "jobs.py:2:42: TL101" in report["out"]
    # The later passes of whole-project analysis (here: summarising
    # plain.py, which jobs.py calls into) fork their children from a parent
    # that imported the engine once, so none imports it again.
    (tmp_path / "jobs.py").write_text("import threading\nimport plain\n"
                                      "t = threading.Thread(target=plain.main, args=(1))\n")
    (tmp_path / "plain.py").write_text("def main(n):\n    return n\n")
    report = _probe(tmp_path, "--project-root", ".", "plain.py", "jobs.py")
    assert report["libcst"] is (multiprocessing.get_start_method() == "fork")
    # the first pass and plain.py's summary (plain.main touches no shared
    # state: no rule about thread code can say more, so it is not linted again)
    assert len(report["started"]) == 2
    assert "jobs.py:3:47: TL101" in report["out"]


def _sources() -> list:
    stdlib = Path(os.__file__).parent
    files = sorted(FIXTURES.glob("*.py")) + [stdlib / name for name in
                                           ("textwrap.py", "queue.py", "shlex.py", "threading.py")]
    return files


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.name)
def test_triage_agrees_with_the_engine(path: Path) -> None:
    source = path.read_bytes()
    settings = Settings()
    for fix in (False, True):
        early = triage(str(path), source, settings, fix)
        if early is not None:
            assert early == lint_source(str(path), source, settings, fix=fix)


@pytest.mark.parametrize("source", [
    b"def f(:\n",                                  # TL999
    b"x = 1  # noqa: TL301\n",                     # TL900
    b"x = 1  # noqa: TL301\nimport threading\n",   # admitted: the engine's
    b"# threadlint: noqa\nx = (\n",                # TL999 is never silenced
    b"x = '\\N{NO SUCH NAME}'\n",                 # CPython's verdict
])
def test_triage_agrees_with_the_engine_on_small_files(source: bytes) -> None:
    for fix in (False, True):
        early = triage("t.py", source, Settings(), fix)
        if early is not None:
            assert early == lint_source("t.py", source, Settings(), fix=fix)


def test_triage_leaves_removing_unused_noqa_to_the_engine() -> None:
    source = b"x = 1  # noqa: TL301\n"
    assert triage("t.py", source, Settings(), fix=False) is not None
    assert triage("t.py", source, Settings(), fix=True) is None
    assert lint_source("t.py", source, Settings(), fix=True).fixed_source == b"x = 1\n"
