"""``--add-noqa``: a ``# noqa: CODE`` for every finding, where threadlint reads
it back, without breaking the code; a second run changes nothing."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import List, Tuple

import pytest

from threadlint import engine
from threadlint.engine import add_noqa, lint_source
from threadlint.settings import Settings

from conftest import run_cli

SETTINGS = Settings(root="/")
HEAD = "import threading\n"


def added(source: str) -> Tuple[str, List[Tuple[int, str, str]]]:
    """The new source (checked to report nothing and to be a fixed point) and what was skipped."""
    change = add_noqa("jobs.py", source.encode(), SETTINGS)
    assert change.errors == []
    assert change.source is not None
    ast.parse(change.source)
    result = lint_source("jobs.py", change.source, SETTINGS)
    assert [(f.line, f.code) for f in result.findings] == \
        sorted((f.line, f.code) for f, _ in change.skipped)
    again = add_noqa("jobs.py", change.source, SETTINGS)
    assert again.source is None and again.added == []
    return change.source.decode(), [(f.line, f.code, why) for f, why in change.skipped]


@pytest.mark.parametrize("before, after", [
    # a plain line: both codes, sorted
    ("threading.Thread(target=print, args=(1)).start()\n",
     "threading.Thread(target=print, args=(1)).start()  # noqa: TL101, TL201\n"),
    # after a comment; trailing blanks dropped
    ("threading.Thread(target=print, args=(1)).start()   # fetch  \n",
     "threading.Thread(target=print, args=(1)).start()   # fetch  # noqa: TL101, TL201\n"),
    # merged into another tool's noqa
    ("threading.Thread(target=print, args=(1)).start()  # noqa: E501 long\n",
     "threading.Thread(target=print, args=(1)).start()  # noqa: E501, TL101, TL201 long\n"),
    # merged into a noqa on another line of the statement
    ("threading.Thread(  # noqa: TL201\n    target=print,\n    args=(1),\n).start()\n",
     "threading.Thread(  # noqa: TL201, TL101\n    target=print,\n    args=(1),\n).start()\n"),
    # the finding's line ends inside a string: the statement's last line
    ('t = threading.Thread(target=print, args=("""a\nb"""))\n',
     't = threading.Thread(target=print, args=("""a\nb"""))  # noqa: TL101\n'),
    # the finding's line ends with a backslash: the statement's last line
    ("t = threading.Thread(target=print, args=(1)) if True \\\n    else None\n",
     "t = threading.Thread(target=print, args=(1)) if True \\\n    else None  # noqa: TL101\n"),
    # no newline at the end of the file; CRLF line ends kept
    ("x = 1\r\nt = threading.Thread(target=print, args=(1))",
     "x = 1\r\nt = threading.Thread(target=print, args=(1))  # noqa: TL101"),
    ("t = threading.Thread(target=print, args=(1))\r\n",
     "t = threading.Thread(target=print, args=(1))  # noqa: TL101\r\n"),
], ids=["plain", "after-comment", "merge-other-tool", "merge-statement", "string", "backslash",
        "no-final-newline", "crlf"])
def test_where_the_comment_goes(before: str, after: str) -> None:
    assert added(HEAD + before) == (HEAD + after, [])


def test_encoding_cookie_is_kept() -> None:
    source = "# -*- coding: latin-1 -*-\nimport threading\nthreading.Thread(args=('é')).start()\n"
    change = add_noqa("jobs.py", source.encode("latin-1"), SETTINGS)
    assert change.source == source.replace(".start()", ".start()  # noqa: TL101, TL201") \
        .encode("latin-1")


def test_unused_noqa_and_syntax_errors_are_left_with_a_reason() -> None:
    new, skipped = added(HEAD + "t = threading.Thread(target=print, args=(1))  # noqa: TL102\n")
    assert new == HEAD + "t = threading.Thread(target=print, args=(1))  # noqa: TL102, TL101\n"
    assert skipped == [(2, "TL900", "an unused noqa is removed with --fix, not silenced")]
    broken = add_noqa("jobs.py", b"def f(:\n", SETTINGS)
    assert broken.source is None
    assert [(f.code, why) for f, why in broken.skipped] == \
        [("TL999", "a file that does not parse cannot take a noqa comment")]


def test_lone_carriage_returns_are_not_rewritten() -> None:
    source = b"import threading\rthreading.Thread(target=print, args=(1)).start()\n"
    change = add_noqa("jobs.py", source, SETTINGS)
    assert change.source is None
    assert {why for _, why in change.skipped} == {"the file has lone carriage returns"}


def test_a_rewrite_that_would_change_the_findings_is_not_made(monkeypatch) -> None:
    def wrong(source: bytes, targets: object) -> Tuple[bytes, list]:
        return source + b"threading.Thread(target=print, args=(2))\n", []

    monkeypatch.setattr(engine, "add_noqa_comments", wrong)
    change = add_noqa("jobs.py", (HEAD + "threading.Thread(args=(1))\n").encode(), SETTINGS)
    assert change.source is None and change.added == []
    assert {why for _, why in change.skipped} == \
        {"the comments would change what threadlint reports; file left unchanged"}


# --------------------------------------------------------------------------- #
# The command
# --------------------------------------------------------------------------- #

def test_cli_adds_noqa_then_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "jobs.py").write_text(HEAD + "threading.Thread(target=print, args=(1)).start()\n")
    (tmp_path / "clean.py").write_text(HEAD + "x = 1\n")
    proc = run_cli(["--isolated", "--no-cache", "--add-noqa", "."], cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, b"")
    assert proc.stderr == b"threadlint: added noqa for 2 findings in 1 file\n"
    assert (tmp_path / "jobs.py").read_text() == \
        HEAD + "threading.Thread(target=print, args=(1)).start()  # noqa: TL101, TL201\n"
    assert (tmp_path / "clean.py").read_text() == HEAD + "x = 1\n"
    again = run_cli(["--isolated", "--no-cache", "--add-noqa", "."], cwd=tmp_path)
    assert (again.returncode, again.stderr) == (0, b"threadlint: added noqa for 0 findings in 0 files\n")
    assert run_cli(["--isolated", "--no-cache", "."], cwd=tmp_path).returncode == 0


def test_cli_reports_what_it_could_not_silence(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def f(:\n")
    proc = run_cli(["--isolated", "--no-cache", "--add-noqa", "bad.py"], cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "bad.py:1:7: TL999 not silenced: a file that does not parse cannot take a noqa comment",
        "threadlint: added noqa for 0 findings in 0 files",
    ]


@pytest.mark.parametrize("args, other", [(["--fix", "."], "--fix"), (["-"], "'-' (stdin)")])
def test_cli_add_noqa_refuses_fix_and_stdin(tmp_path: Path, args: List[str], other: str) -> None:
    proc = run_cli(["--isolated", "--add-noqa", *args], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.decode() == ("threadlint: error: --add-noqa edits files in place: it cannot "
                                    f"be combined with {other}\n")
