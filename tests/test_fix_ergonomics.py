"""Fix ergonomics: fix applicability (safe / unsafe) and ``--unsafe-fixes``,
``--diff``, ``--show-fixes``, and the summary a run ends with on stderr
(``-q/--quiet`` drops it)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List

import pytest

from threadlint.engine import lint_source, model_for
from threadlint.rules.tl103_thread_run_called import ThreadRunCalled
from threadlint.settings import Settings

from conftest import run_cli

PIN = ["--isolated", "--no-cache"]

#: A safe fix (TL101, line 9) and an unsafe one (TL103, line 13).
SOURCE = """\
import threading


def work(name):
    print(name)


def main(name):
    worker = threading.Thread(target=work, args=(name))
    worker.start()
    worker.join()
    other = threading.Thread(target=work, args=(name,))
    other.run()
"""
SAFE = SOURCE.replace("args=(name))", "args=(name,))")
BOTH = SAFE.replace("other.run()", "other.start()")

#: The unchanged blank lines of the context are " " (a space) in a diff.
SAFE_HUNK = "".join(line + "\n" for line in [
    "@@ -6,7 +6,7 @@",
    " ",
    " ",
    " def main(name):",
    "-    worker = threading.Thread(target=work, args=(name))",
    "+    worker = threading.Thread(target=work, args=(name,))",
    "     worker.start()",
    "     worker.join()",
    "     other = threading.Thread(target=work, args=(name,))",
])
BOTH_HUNK = SAFE_HUNK.replace("@@ -6,7 +6,7 @@", "@@ -6,8 +6,8 @@") + "-    other.run()\n+    other.start()\n"

def tl(args: List[str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    proc = run_cli([*PIN, *args], cwd=cwd, stdin=stdin, summary=True)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def err(proc: subprocess.CompletedProcess) -> List[str]:
    return proc.stderr.decode().splitlines()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "jobs.py").write_text(SOURCE, encoding="utf-8")
    return tmp_path


# --------------------------------------------------------------------------- #
# Applicability
# --------------------------------------------------------------------------- #

def test_tl103_has_an_unsafe_fix_that_only_unsafe_fixes_apply() -> None:
    result = lint_source("jobs.py", SOURCE.encode(), Settings())
    fixes = {f.code: f.fix.applicability for f in result.findings if f.fix is not None}
    assert fixes == {"TL101": "safe", "TL103": "unsafe"}

    safe = lint_source("jobs.py", SOURCE.encode(), Settings(), fix=True)
    assert [f.code for f in safe.fixed] == ["TL101"]
    assert safe.fixed_source == SAFE.encode()
    assert [f.code for f in safe.findings] == ["TL103"]

    both = lint_source("jobs.py", SOURCE.encode(), Settings(unsafe_fixes=True), fix=True)
    assert sorted(f.code for f in both.fixed) == ["TL101", "TL103"]
    assert both.fixed_source == BOTH.encode()
    # Why it is unsafe: the work now runs concurrently, and nothing joins it.
    assert [f.code for f in both.findings] == ["TL201"]
    compile(both.fixed_source, "jobs.py", "exec")


def test_report_refuses_an_unknown_applicability() -> None:
    model = model_for("t.run()\n")
    rule = ThreadRunCalled(model)
    with pytest.raises(ValueError, match="applicability"):
        rule.report(model.module, "message", applicability="maybe")


def test_fix_applies_only_safe_fixes_unless_unsafe_fixes(project: Path) -> None:
    proc = tl(["--fix", "jobs.py"], project)
    assert (project / "jobs.py").read_text(encoding="utf-8") == SAFE
    assert proc.returncode == 1
    assert [line.split(" ")[1] for line in proc.stdout.decode().splitlines()] == ["TL103"]
    assert err(proc) == ["Found 2 findings (1 fixed, 1 remaining; "
                         "1 unsafe fix available with --unsafe-fixes)."]

    proc = tl(["--fix", "--unsafe-fixes", "jobs.py"], project)
    assert (project / "jobs.py").read_text(encoding="utf-8") == BOTH
    assert [line.split(" ")[1] for line in proc.stdout.decode().splitlines()] == ["TL201"]
    assert (proc.returncode, err(proc)) == (1, ["Found 2 findings (1 fixed, 1 remaining)."])


def test_full_output_says_which_option_applies_the_fix(project: Path) -> None:
    out = tl(["--output-format", "full", "jobs.py"], project).stdout.decode()
    assert out.count("| fixable with --fix") == 1
    assert out.count("| unsafe fix available with --unsafe-fixes") == 1


# --------------------------------------------------------------------------- #
# --diff
# --------------------------------------------------------------------------- #

def test_diff_prints_a_unified_diff_writes_nothing_and_exits_1(project: Path) -> None:
    proc = tl(["--diff", "jobs.py"], project)
    assert proc.stdout.decode() == "--- a/jobs.py\n+++ b/jobs.py\n" + SAFE_HUNK
    assert (project / "jobs.py").read_text(encoding="utf-8") == SOURCE
    assert proc.returncode == 1
    assert err(proc) == ["Would fix 1 finding (1 unsafe fix available with --unsafe-fixes)."]


def test_diff_with_unsafe_fixes_and_from_stdin(tmp_path: Path) -> None:
    proc = tl(["--diff", "--unsafe-fixes", "--stdin-filename", "pkg/jobs.py", "-"], tmp_path,
              stdin=SOURCE)
    assert proc.stdout.decode() == "--- a/pkg/jobs.py\n+++ b/pkg/jobs.py\n" + BOTH_HUNK
    assert (proc.returncode, err(proc)) == (1, ["Would fix 2 findings."])


def test_diff_is_exit_0_and_silent_on_stdout_when_nothing_would_change(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text(SAFE.replace("other.run()", "other.start()"), encoding="utf-8")
    (tmp_path / "unsafe.py").write_text(SAFE, encoding="utf-8")
    proc = tl(["--diff", "ok.py", "unsafe.py"], tmp_path)
    assert (proc.returncode, proc.stdout) == (0, b"")
    assert err(proc) == ["No fixes available (1 unsafe fix available with --unsafe-fixes)."]
    quiet = tl(["--diff", "--quiet", "ok.py"], tmp_path)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, b"", b"")


def test_diff_marks_a_last_line_without_a_line_break(tmp_path: Path) -> None:
    (tmp_path / "jobs.py").write_text(SOURCE.replace("other.run()\n", "other.run()"), encoding="utf-8")
    proc = tl(["--diff", "--unsafe-fixes", "jobs.py"], tmp_path)
    assert proc.stdout.decode().endswith(
        "-    other.run()\n\\ No newline at end of file\n"
        "+    other.start()\n\\ No newline at end of file\n")


def test_diff_and_add_noqa_cannot_be_combined(project: Path) -> None:
    proc = tl(["--diff", "--add-noqa", "jobs.py"], project)
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert err(proc) == ["threadlint: error: --add-noqa edits files in place: it cannot be "
                         "combined with --diff"]
    assert (project / "jobs.py").read_text(encoding="utf-8") == SOURCE


# --------------------------------------------------------------------------- #
# --show-fixes and the summary
# --------------------------------------------------------------------------- #

def test_show_fixes_lists_what_was_fixed_per_file_and_code(project: Path) -> None:
    (project / "more.py").write_text(SOURCE + "# noqa: TL302\n", encoding="utf-8")
    proc = tl(["--fix", "--unsafe-fixes", "--show-fixes", "jobs.py", "more.py"], project)
    assert err(proc) == [
        "Fixed 5 findings:",
        "- jobs.py:",
        "    1 \u00d7 TL101 (thread-args-not-tuple)",
        "    1 \u00d7 TL103 (thread-run-called)",
        "- more.py:",
        "    1 \u00d7 TL101 (thread-args-not-tuple)",
        "    1 \u00d7 TL103 (thread-run-called)",
        "    1 \u00d7 TL900 (unused-noqa)",
        "Found 7 findings (5 fixed, 2 remaining).",  # the two TL201 the unsafe fixes reveal
    ]
    assert proc.returncode == 1


def test_the_summary_is_on_stderr_and_quiet_drops_it(project: Path) -> None:
    proc = tl(["jobs.py"], project)
    assert len(proc.stdout.decode().splitlines()) == 2
    assert err(proc) == ["Found 2 findings (1 fixable with --fix; "
                         "1 unsafe fix available with --unsafe-fixes)."]
    assert err(tl(["--unsafe-fixes", "jobs.py"], project)) == ["Found 2 findings (2 fixable with --fix)."]
    assert err(tl(["--select", "TL103", "jobs.py"], project)) == [
        "Found 1 finding (1 unsafe fix available with --unsafe-fixes)."]
    assert err(tl(["--select", "TL2", "jobs.py"], project)) == ["All checks passed!"]
    quiet = tl(["-q", "jobs.py"], project)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (1, proc.stdout, b"")


def test_a_finding_without_a_fix_is_counted_but_not_fixable(tmp_path: Path) -> None:
    (tmp_path / "spin.py").write_text(
        "import threading\n\nt = threading.Thread(target=print)\nt.start()\nt.daemon = True\n",
        encoding="utf-8")
    proc = tl(["--select", "TL203", "spin.py"], tmp_path)
    assert (proc.returncode, err(proc)) == (1, ["Found 1 finding."])
