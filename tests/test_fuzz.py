"""Property tests: threadlint on generated programs and on mutations of real
threading modules.

Each property runs a few examples by default (seconds in all); set
``THREADLINT_FUZZ=<examples>`` for a long run of the per-file properties and
``THREADLINT_FUZZ_RUNS=<examples>`` for the whole-run one (each example is four
CLI runs), for example
``THREADLINT_FUZZ=3000 python -m pytest tests/test_fuzz.py -p no:cacheprovider``.
Hypothesis keeps failing examples in ``.hypothesis/`` and replays them first.

Properties, for every input:

- nothing escapes :func:`lint_source` and nothing inside it fails: no
  ``internal error`` (a per-file *skipped* message for a known limit is fine);
- every finding and related location is inside the file;
- the result is the same when linted again (deterministic);
- ``--fix`` output compiles and changes nothing outside the lines of the
  findings it fixed;
- over a directory of such files, ``-j 1`` and ``-j 2``, and a cold and a warm
  cache, print the same.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import List, Sequence, Tuple

import pytest

hypothesis = pytest.importorskip("hypothesis")
hypothesmith = pytest.importorskip("hypothesmith")

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from threadlint.engine import lint_source  # noqa: E402
from threadlint.findings import LintResult  # noqa: E402
from threadlint.settings import Settings  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning", "ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("THREADLINT_FUZZ", "0")) or None
FUZZ = settings(max_examples=EXAMPLES or 15, deadline=None, derandomize=EXAMPLES is None,
                suppress_health_check=list(HealthCheck), database=None if EXAMPLES is None else
                settings.default.database)
SETTINGS = Settings(root="/")

#: Real threading code to mutate: every fixture, and the standard library's
#: own threading modules.
_STDLIB = Path(os.__file__).parent
SEEDS: List[bytes] = [path.read_bytes() for path in sorted((ROOT / "fixtures").glob("*.py"))] + [
    (_STDLIB / name).read_bytes()
    for name in ("threading.py", "queue.py", "concurrent/futures/thread.py", "socketserver.py")
    if (_STDLIB / name).exists()]

#: Bits of threading code spliced into the seeds.
FRAGMENTS = [
    b"threading.Thread(target=work, args=(x))", b"with lock:\n", b"lock.acquire()\n",
    b"    self.count += 1\n", b"cond.wait()\n", b"pool.submit(f)\n", b"t.setDaemon(True)\n",
    b"if k in d:\n    del d[k]\n", b"(", b")", b":", b"\\", b"'", b'"""', b"\t", b"\r", b"\x00",
    b"\xff", b"\xc3\xa9", b"# threadlint: thread-safe", b"# noqa: TL101", b"\n\n", b"    ",
    b"lambda: ", b"not not not ", b"async ", b"await ", b"global x\n", b"del self.x\n",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed with a few random edits: lines dropped, duplicated or swapped,
    fragments spliced in, bytes flipped, the tail cut off."""
    source = draw(st.sampled_from(SEEDS))
    lines = source.splitlines(keepends=True) or [b""]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["drop", "dup", "swap", "splice", "flip", "cut"]))
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(j, lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "splice":
            line = lines[i]
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.sampled_from(FRAGMENTS)) + line[at:]
        elif op == "flip" and lines[i]:
            at = draw(st.integers(0, len(lines[i]) - 1))
            byte = draw(st.integers(0, 255))
            lines[i] = lines[i][:at] + bytes([byte]) + lines[i][at + 1:]
        elif op == "cut":
            lines = lines[: i + 1]
    return b"".join(lines)


def generated() -> st.SearchStrategy[bytes]:
    """Programs from Python's grammar, with a threading prelude so the
    prefilter hands them to every rule."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grammar = hypothesmith.from_grammar()
    prelude = "import threading\nlock = threading.Lock()\n"
    return grammar.map(lambda code: (prelude + code).encode("utf-8", "surrogatepass"))


SOURCES = st.one_of(mutated(), generated())


def _lines(source: bytes) -> List[bytes]:
    return source.splitlines() or [b""]


def check_result(source: bytes, result: LintResult) -> None:
    for error in result.errors:
        assert "internal error" not in error.message, error.message
    lines = _lines(source)
    count = max(len(lines), 1)
    for finding in result.findings:
        assert 1 <= finding.line <= count + 1, finding
        assert finding.col >= 1, finding
        for line, col, _ in finding.related:
            assert 1 <= line <= count + 1 and col >= 1, finding


def changed_lines(before: bytes, after: bytes) -> List[int]:
    """1-based numbers of the lines of ``before`` that ``after`` changes."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    found: List[int] = []
    for tag, i1, i2, _, _ in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag != "equal":
            found.extend(range(i1 + 1, max(i2, i1 + 1) + 1))
    return found


def fixed_spans(result: LintResult) -> List[Tuple[int, int]]:
    return [(f.line, f.end_line or f.line) for f in result.fixed]


#: Inputs the long run found once, replayed on every run.
FOUND = [
    # a NUL byte in a docstring, in a file with a prose lock contract: libcst's
    # get_docstring() raised SyntaxError in Contracts
    b'import threading\nlock = threading.Lock()\ndef f():\n    """a\x00b"""\n'
    b'def g_locked():\n    """Must be called with lock held."""\n',
]


@FUZZ
@given(SOURCES)
@example(FOUND[0])
def test_any_input_is_linted_without_failing_and_positions_stay_in_the_file(source: bytes) -> None:
    result = lint_source("fuzz.py", source, SETTINGS)
    check_result(source, result)
    again = lint_source("fuzz.py", source, SETTINGS)
    assert again.findings == result.findings
    assert [str(e) for e in again.errors] == [str(e) for e in result.errors]


@FUZZ
@given(SOURCES)
def test_fix_output_compiles_and_touches_only_fixed_lines(source: bytes) -> None:
    result = lint_source("fuzz.py", source, SETTINGS, fix=True)
    check_result(source, result)
    if result.fixed_source is None or result.fixed_source == source:
        return
    compile(result.fixed_source, "fuzz.py", "exec", dont_inherit=True)
    spans = fixed_spans(result)
    assert spans, "the source changed, but nothing is reported fixed"
    for line in changed_lines(source, result.fixed_source):
        assert any(start <= line <= end for start, end in spans), (line, spans)


def _run(paths: Sequence[str], *options: str, cwd: Path) -> Tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "threadlint", "--isolated", "--output-format", "concise",
         *options, *paths],
        capture_output=True, cwd=cwd, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


@settings(max_examples=int(os.environ.get("THREADLINT_FUZZ_RUNS", "0")) or 1, deadline=None,
          derandomize=EXAMPLES is None, suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(mutated(), min_size=4, max_size=8))
def test_parallel_runs_and_the_cache_agree_with_a_plain_run(tmp_path_factory: pytest.TempPathFactory,
                                                             sources: List[bytes]) -> None:
    tree = tmp_path_factory.mktemp("fuzz")
    names = []
    for index, source in enumerate(sources):
        name = f"m{index}.py"
        (tree / name).write_bytes(source)
        names.append(name)
    plain = _run(names, "-j", "1", "--no-cache", cwd=tree)
    assert _run(names, "-j", "2", "--no-cache", cwd=tree) == plain
    cache = ["--cache-dir", str(tree / ".cache")]
    assert _run(names, "-j", "1", *cache, cwd=tree) == plain  # cold: fills the cache
    assert _run(names, "-j", "2", *cache, cwd=tree) == plain  # warm
