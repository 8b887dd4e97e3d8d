"""Whatever a file holds: CPython's verdict (TL999), and bounded time and memory.

Shapes that crash libcst's native parser or run it for minutes are only ever
linted through the CLI, in a subprocess: a regression fails a test, it cannot
kill or hang the test run.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from threadlint.engine import lint_source
from threadlint.findings import LintResult
from threadlint.settings import Settings
from threadlint.verdict import check, detect_encoding

from conftest import run_cli

SETTINGS = Settings(root="/")
#: Enough for the prefilter to send the file to libcst.
THREADS = b"import threading\nworker = threading.Thread(target=print)\nworker.start()\nworker.join()\n"
HEADER_LINES = THREADS.count(b"\n")


def lint(source: bytes, settings: Settings = SETTINGS) -> LintResult:
    return lint_source("hostile.py", source, settings)


def cpython(source: bytes) -> Optional[Tuple[int, int]]:
    """Where ``compile()`` of the decoded text puts the syntax error (its
    columns are characters there), or None when CPython accepts it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(source, "hostile.py", "exec", dont_inherit=True)
        except SyntaxError:
            pass
        else:
            return None
        try:
            compile(source.decode("utf-8"), "hostile.py", "exec", dont_inherit=True)
        except SyntaxError as exc:
            return exc.lineno or 1, exc.offset or 1
    raise AssertionError("the bytes and the text disagree")


def tl999(result: LintResult) -> List[Tuple[int, int]]:
    return [(f.line, f.col) for f in result.findings if f.code == "TL999"]


# --------------------------------------------------------------------------- #
# TL999 is CPython's verdict, with or without threading code
# --------------------------------------------------------------------------- #

REFUSED = {
    "unknown-character-name": b'x = "\\N{NO SUCH NAME}"\n',
    "nul-in-comment": b"# a\x00b\n",
    "non-ascii-bytes": "x = b'\u00e9'\n".encode(),
    "newer-syntax": b"type X = int\n" if sys.version_info < (3, 12) else b"x = (yield) = 1\n",
    "invalid-escape-in-bytes": b"x = b'\\x'\n",
    "truncated-escape": "\u00e9 = '\\x4'\n".encode(),
    "unindent-on-non-ascii-line": "if x:\n        a = 1\n    \u00e9\u00e9\u00e9\u00e9 = 2\n".encode(),
    "unexpected-indent": "if x:\n    \u00e9\u00e9\u00e9 = 1\n      \u00e9\u00e9 = 2\n".encode(),
    "pegen-error-after-non-ascii": "x = '\u00e9\u00e9' 1\n".encode(),
    "eol-after-non-ascii": "\u00e9\u00e9\u00e9 = 1 +\n".encode(),
    "too-many-parentheses": b"x = " + b"(" * 250 + b")" * 250 + b"\n",
}


@pytest.mark.parametrize("source", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize("threads", [False, True], ids=["plain", "threading"])
def test_what_cpython_refuses_is_tl999_where_cpython_says(source: bytes, threads: bool) -> None:
    where = cpython(source)
    assert where is not None
    shift = HEADER_LINES if threads else 0
    result = lint(THREADS + source if threads else source)
    assert result.errors == []
    line, col = where
    if b"\0" in source:
        line, col = 1, source.index(b"\0") + 1  # CPython gives none: the NUL's own
    assert tl999(result) == [(line + shift, col)]


@pytest.mark.parametrize("source", [
    b"return 1\n",  # only the bytecode compiler refuses it
    b"with " + b", ".join([b"a"] * 30) + b":\n    pass\n",
    b"x = 1\r\ny = 2\rz = 3\n",  # every line ending CPython knows
    "# -*- coding: latin-1 -*-\r\u00e9 = '\u00e9'\r".encode("latin-1"),  # a cookie after a CR
    b"#!/usr/bin/env python\n# vim: set fileencoding=utf-8 :\nx = 1\n",
    b"\xef\xbb\xbfx = 1\n",
])
@pytest.mark.parametrize("threads", [False, True], ids=["plain", "threading"])
def test_what_cpython_accepts_is_no_tl999(source: bytes, threads: bool) -> None:
    if threads and source.startswith(b"\xef\xbb\xbf"):
        source = source + THREADS
    elif threads and b"coding" in source:
        source = source + THREADS.replace(b"\n", b"\r")
    elif threads:
        source = THREADS + source
    result = lint(source)
    assert tl999(result) == [] and result.errors == []


def test_every_column_and_line_exists() -> None:
    """CPython's offsets are bytes for some errors and characters for others;
    whatever it says, the position reported is inside the file."""
    broken = [
        "\u00e9\u00e9\u00e9 = 1 \u20ac\n", "\u00e9\u00e9\u00e9 = '\n", "\u00e9\u00e9\u00e9 = 1abc\n",
        "\u00e9\u00e9\u00e9 = )\n", "\u00e9\u00e9\u00e9 = f'{\u00e9!z}'\n", "\u00e9\u00e9\u00e9 = f'{}'\n",
        "\u00e9 = 0777\n", "\u00e9\u00e9 = 1 if\n", "\u00e9\u00e9 = \\ \n", "\u00e9\u00e9 = 1\\",
        "\u00e9\u00e9\u00e9 \u00e9\u00e9\n", "if x:\n", "x = (\n", "\u00e9 = '''\n\n", "class A:\npass\n",
        "def f():\n\tx = 1\n        \u00e9 = 2\n", "x = 1\x0c\ny = (\n", "\u00e9" * 40 + " 1\n",
    ]
    for text in broken:
        for source in (text.encode(), THREADS + text.encode()):
            found = tl999(lint(source))
            assert len(found) == 1, text
            line, col = found[0]
            lines = re.split(r"\r\n?|\n", source.decode())
            assert 1 <= line <= len(lines), text
            assert 1 <= col <= len(lines[line - 1]) + 1, (text, line, col)


@pytest.mark.parametrize("source, line", [
    (b"x = 1\n# caf\xe9\n", 2),
    (b"x = 1\ry = 2\r# \xff\rz = 3\r", 3),  # lines end with CR alone
    (b"x = 1\r\n\r\n# \xff\r\n", 3),
    (b"# coding: latin-1\nx = 1\n# \xff\n", None),
])
def test_undecodable_bytes_are_where_cpython_running_the_file_says(tmp_path: Path, source: bytes,
                                                                  line: Optional[int]) -> None:
    script = tmp_path / "script.py"
    script.write_bytes(source)
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60)
    said = re.search(rb"on line (\d+)", ran.stderr)
    assert (int(said.group(1)) if said else None) == line
    for threads in (False, True):
        # the threading code after the source, so that line numbers stay
        body = source + (THREADS.replace(b"\n", b"\r") if b"\r" in source else THREADS) if threads else source
        found = lint(body).findings
        assert [f.line for f in found] == ([] if line is None else [line])
        for finding in found:
            assert finding.message.startswith("SyntaxError: Non-UTF-8 code starting with")


def test_undecodable_bytes_that_cpython_accepts_are_a_warning_not_tl999() -> None:
    """After a cookie (or a BOM) `python file.py` skips a comment undecoded;
    libcst cannot read the file."""
    for source, line in ((b"# coding: utf-8\n" + THREADS + b"# caf\xe9\n", 6),
                         (b"\xef\xbb\xbf" + THREADS + b"# caf\xe9\n", 5)):
        result = lint(source)
        assert result.findings == []
        assert [(e.warning, f"libcst cannot decode this file (line {line}, column 6" in e.message)
                for e in result.errors] == [(True, True)]


def test_valid_code_libcst_cannot_parse_is_a_warning_not_tl999() -> None:
    """libcst gives up on long implicit string concatenations that CPython
    takes: a warning naming the file, no finding, exit status unaffected."""
    source = THREADS + b"x = " + b" ".join([b"'a'"] * 6000) + b"\n"
    assert cpython(source) is None
    result = lint(source)
    assert result.findings == []
    assert [e.warning for e in result.errors] == [True]
    assert "libcst cannot parse this file" in result.errors[0].message
    assert "although CPython accepts it" in result.errors[0].message


def test_detect_encoding_reads_the_cookie_as_cpython_does() -> None:
    assert detect_encoding(b"x = 1\n") == ("utf-8", 0)
    assert detect_encoding(b"\xef\xbb\xbfx = 1\n") == ("utf-8-sig", 0)
    assert detect_encoding(b"#!/bin/python\r# coding: latin-1\rx = 1\r") == ("iso-8859-1", 2)
    assert detect_encoding(b"# \xff\n# coding: cp1252\n") == ("cp1252", 2)
    assert detect_encoding(b"x = 1\n# coding: latin-1\n") == ("utf-8", 0)  # line 1 is code
    for refused in (b"# coding: nonesuch\n", b"\xef\xbb\xbf# coding: latin-1\n"):
        with pytest.raises(SyntaxError):
            detect_encoding(refused)
        with pytest.raises(SyntaxError):
            compile(refused, "x.py", "exec")
        assert lint(refused).findings[0].line == 1


# --------------------------------------------------------------------------- #
# Nesting: what CPython refuses never reaches libcst; what it takes is analysed
# --------------------------------------------------------------------------- #

def _chain(kind: str, n: int) -> bytes:
    return {
        "unary": b"x = " + b"-" * n + b"1\n",
        "not": b"x = " + b"not " * n + b"1\n",
        "lambda": b"f = " + b"lambda: " * n + b"1\n",
        "elif": b"if x:\n    pass\n" + b"elif x:\n    pass\n" * n,
        "plus": b"x = " + b" + ".join([b"a"] * n) + b"\n",
        "subscript": b"x = a" + b"[0]" * n + b"\n",
        "attribute": b"x = a" + b".b" * n + b"\n",
        "and": b"x = " + b" and ".join([b"a"] * n) + b"\n",
        "brackets": b"x = " + b"[" * n + b"]" * n + b"\n",
    }[kind]


def _script_refuses(path: Path) -> bool:
    """Whether ``python path`` refuses the file (compiling it, not running it)."""
    code = ("import sys\n"
            "try:\n"
            "    compile(open(sys.argv[1], 'rb').read(), sys.argv[1], 'exec')\n"
            "except (SyntaxError, RecursionError, MemoryError):\n"
            "    sys.exit(3)\n")
    return subprocess.run([sys.executable, "-c", code, str(path)], timeout=60).returncode == 3


@pytest.mark.parametrize("kind, n", [
    ("unary", 8000), ("not", 3000), ("not", 8000), ("lambda", 3000), ("elif", 3000),
    ("plus", 4000), ("brackets", 3000), ("subscript", 4000), ("unary", 3000),
])
def test_nesting_cpython_refuses_is_tl999_and_never_crashes(tmp_path: Path, kind: str, n: int) -> None:
    """These crashed libcst's native parser (SIGSEGV, exit 139 with -j 1) or
    ran it for minutes; CPython refuses them, so libcst never sees them."""
    source = THREADS + _chain(kind, n)
    (tmp_path / "deep.py").write_bytes(source)
    assert _script_refuses(tmp_path / "deep.py")
    proc = run_cli(["--no-cache", "-j", "1", "deep.py"], cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (1, b""), proc.stderr.decode(errors="replace")
    assert re.fullmatch(rb"deep\.py:\d+:\d+: TL999 (SyntaxError|RecursionError|MemoryError|"
                        rb"IndentationError): .*\n", proc.stdout), proc.stdout


@pytest.mark.parametrize("kind, n", [
    ("attribute", 1000), ("subscript", 1000), ("not", 2000), ("plus", 2000),
    ("lambda", 1000), ("elif", 1000), ("unary", 2900), ("and", 10000),
])
def test_deep_valid_code_is_analysed_without_errors(tmp_path: Path, kind: str, n: int) -> None:
    """A 1,000-deep attribute chain used to exit 2 (a walk of the model ran
    out of recursion); 10,000 `and` crashed libcst's native parser."""
    lock_bug = b"def work():\n    threading.Thread(target=print, args=(1)).start()\n"
    source = THREADS + _chain(kind, n) + lock_bug
    (tmp_path / "deep.py").write_bytes(source)
    assert not _script_refuses(tmp_path / "deep.py")
    proc = run_cli(["--no-cache", "-j", "1", "deep.py"], cwd=tmp_path)
    assert proc.stderr == b"", proc.stderr.decode(errors="replace")
    assert proc.returncode == 1
    assert b" TL101 " in proc.stdout and b"TL999" not in proc.stdout


@pytest.mark.parametrize("n", [2900, 2990, 3010, 5000])
def test_the_depth_cpython_takes_is_the_depth_of_a_script(tmp_path: Path, n: int) -> None:
    """On 3.11 how deep CPython's parser may nest depends on the recursion
    limit and the depth of the caller: the verdict is that of `python file.py`,
    whatever threadlint's own limit."""
    path = tmp_path / "deep.py"
    path.write_bytes(_chain("unary", n))
    refused = _script_refuses(path)
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)
    try:
        assert (check("deep.py", path.read_bytes()).error is not None) == refused
    finally:
        sys.setrecursionlimit(saved)


def test_lint_source_restores_the_recursion_limit_and_works_from_any_thread() -> None:
    saved = sys.getrecursionlimit()
    source = THREADS + _chain("attribute", 1000)
    assert lint(source).errors == []
    assert sys.getrecursionlimit() == saved
    out: List[LintResult] = []
    worker = threading.Thread(target=lambda: out.append(lint(source)))
    worker.start()
    worker.join()
    assert out[0].errors == []


# --------------------------------------------------------------------------- #
# Time, size and memory limits
# --------------------------------------------------------------------------- #

GOOD = THREADS + b"def work():\n    threading.Thread(target=print, args=(1)).start()\n"


def _project(tmp_path: Path, config: str, files: Dict[str, bytes]) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.threadlint]\n{config}\n", encoding="utf-8")
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)


def _errors(proc: subprocess.CompletedProcess) -> List[str]:
    return [line for line in proc.stderr.decode(errors="replace").splitlines()
            if line.startswith("threadlint: ")]


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_over_its_time_budget_is_named_and_the_others_keep_their_findings(
        tmp_path: Path, jobs: str) -> None:
    """libcst's parse of a long subscript chain is superlinear (seconds for
    2,000 levels, which CPython accepts): the budget ends it."""
    files = {f"good{i:02}.py": GOOD for i in range(20 if jobs == "2" else 2)}
    files["slow.py"] = THREADS + _chain("subscript", 2900)
    _project(tmp_path, "file-timeout = 2", files)
    proc = run_cli(["--no-cache", "-j", jobs, "."], cwd=tmp_path)
    assert proc.returncode == 2
    assert _errors(proc) == ["threadlint: error: ./slow.py: skipped: linting took longer than 2 s "
                             "(file-timeout)"]
    assert proc.stdout.count(b" TL101 ") == len(files) - 1


def test_a_file_over_the_size_limit_is_skipped_by_name(tmp_path: Path) -> None:
    _project(tmp_path, "max-file-size = 1000", {"big.py": GOOD + b"# padding\n" * 100, "good.py": GOOD})
    proc = run_cli(["--no-cache", "."], cwd=tmp_path)
    assert proc.returncode == 2
    size = (len(GOOD) + 1000) / 1000
    assert _errors(proc) == [f"threadlint: error: ./big.py: skipped: the file is {size:.3g} KB, over the "
                             "1 KB max-file-size limit (raise it in [tool.threadlint] to lint "
                             "the file)"]
    assert proc.stdout.count(b" TL101 ") == 1


def test_the_default_size_limit_skips_a_huge_file_quickly(tmp_path: Path) -> None:
    """A 50 MB file once took a run past 24 GB; over 2 MB nothing is parsed."""
    (tmp_path / "huge.py").write_bytes(GOOD * (2_100_000 // len(GOOD)))
    proc = run_cli(["--no-cache", "--isolated", "huge.py"], cwd=tmp_path)
    assert proc.returncode == 2
    assert b"huge.py: skipped: the file is 2.1 MB, over the 2 MB max-file-size limit" in proc.stderr


def test_the_size_limit_leaves_alone_a_file_nothing_would_read(tmp_path: Path) -> None:
    """No TL999, and none of the words the enabled rules need: the file is
    neither compiled nor parsed, whatever its size."""
    _project(tmp_path, 'max-file-size = 1000\nselect = ["TL1"]', {"data.py": b"x = 1\n" * 1000})
    proc = run_cli(["--no-cache", "."], cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (0, b"")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_a_file_over_the_memory_limit_is_named_and_the_others_keep_their_findings(tmp_path: Path) -> None:
    """2,900 nested lambdas (CPython takes them) make libcst allocate 1.6 GB."""
    _project(tmp_path, "max-memory = 700", {"good.py": GOOD, "hungry.py": THREADS + _chain("lambda", 2900),
                                           "more.py": GOOD})
    proc = run_cli(["--no-cache", "-j", "1", "."], cwd=tmp_path)
    assert proc.returncode == 2
    assert _errors(proc) == ["threadlint: error: ./hungry.py: skipped: the parser crashed its process "
                             "(signal 6) on this file; it may have run out of memory (max-memory is "
                             "700 MB)"]
    assert proc.stdout.count(b" TL101 ") == 2


def test_limits_are_validated_and_zero_means_none(tmp_path: Path) -> None:
    _project(tmp_path, "max-file-size = 0\nfile-timeout = 0\nmax-memory = 0", {"good.py": GOOD})
    proc = run_cli(["--no-cache", "."], cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (1, b"")


def test_the_parse_stack_does_not_depend_on_the_callers() -> None:
    """The engine's deep stack is a thread of its own: a caller deep in its
    own recursion still gets the file analysed."""
    source = THREADS + _chain("attribute", 1000)

    def nested(depth: int) -> LintResult:
        return lint(source) if depth == 0 else nested(depth - 1)

    assert nested(500).errors == []


def test_compile_of_the_cpython_text_agrees_with_the_bytes() -> None:
    """The column is taken from compiling the decoded text: same verdict."""
    for text in ("x = (\n", "\u00e9\u00e9 = 1 +\n", "def f(:\n    pass\n", "x = 1\n"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcomes = []
            for source in (text.encode(), text):
                try:
                    ast.parse(source)
                    outcomes.append(None)
                except SyntaxError as exc:
                    outcomes.append((exc.lineno, exc.msg))
        assert outcomes[0] == outcomes[1]


if os.name == "nt":  # pragma: no cover
    pytestmark = pytest.mark.skip("the limits are POSIX")
