"""The engine as a pure function: name resolution, robustness, fixes, prefilter."""

from __future__ import annotations

import ast
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import List, Tuple

import pytest

from threadlint import engine, triage
from threadlint.engine import lint_source
from threadlint.prefilter import EVERY_FILE, Prefilter
from threadlint.rules import ALL_RULES, ENGINE_CODES
from threadlint.rules.base import Rule
from threadlint.settings import Settings

# These tests are about the engine: keep to the TL1 rules, whose behaviour is simple.
SETTINGS = Settings(root="/", select=("TL1", "TL999"))


def codes(source: str, settings: Settings = SETTINGS) -> List[Tuple[int, int, str]]:
    result = lint_source("example.py", source.encode(), settings)
    assert result.errors == []
    return [(f.line, f.col, f.code) for f in result.findings]


@pytest.mark.parametrize("header, ctor", [
    ("import threading", "threading.Thread"),
    ("import threading as th", "th.Thread"),
    ("from threading import Thread", "Thread"),
    ("from threading import Thread as T", "T"),
    ("from threading import Timer as Later", "Later"),
    ("import multiprocessing.dummy as md", "md.Process"),
    ("import threading\nThread = threading.Thread", "Thread"),
    ("import threading as th\n_T = th.Thread\nWorker = _T", "Worker"),
])
def test_thread_constructors_resolve_through_aliases(header: str, ctor: str) -> None:
    source = f"{header}\n\ndef go(x, f):\n    {ctor}(target=f, args=(x)).start()\n"
    if "Timer" in header:
        source = f"{header}\n\ndef go(x, f):\n    {ctor}(1.0, f, args=(x)).start()\n"
    assert [c for _, _, c in codes(source)] == ["TL101"]


def test_shadowed_and_unrelated_names_are_not_threads() -> None:
    source = (
        "import threading\n"
        "from mylib import Thread\n"
        "def go(x, f):\n"
        "    Thread(target=f, args=(x))\n"  # imported from elsewhere
        "    threading = None\n"
        "    threading.Thread(target=f, args=(x))\n"  # local shadows the module
    )
    assert codes(source) == []


def test_aliases_resolve_only_when_every_binding_is_one() -> None:
    source = (
        "import threading\n"
        "Thread = threading.Thread\n"
        "if DEBUG:\n"
        "    Thread = make_tracing_thread()\n"  # another value: unknown
        "def go(x, f):\n"
        "    Thread(target=f, args=(x))\n"
        "    loop = loop2 = None\n"
        "    loop = loop2\n"
        "    loop2 = loop\n"  # aliases of each other: no answer, no endless loop
        "    loop(target=f, args=(x))\n"
    )
    assert codes(source) == []


def test_local_subclass_of_a_local_subclass_is_a_thread() -> None:
    source = (
        "import threading\n"
        "class Base(threading.Thread):\n    pass\n"
        "class Worker(Base):\n    pass\n"
        "def go(x, f):\n"
        "    Worker(target=f, args=(x)).start()\n"
    )
    assert codes(source) == [(7, 28, "TL101")]


def test_bom_and_coding_cookie_are_honoured() -> None:
    latin1 = ("# -*- coding: latin-1 -*-\nimport threading\nname = 'café'\n"
              "threading.Thread(target=print, args=(name)).start()\n")
    result = lint_source("l1.py", latin1.encode("latin-1"), SETTINGS)
    assert [(f.line, f.code) for f in result.findings] == [(4, "TL101")]
    bom = b"\xef\xbb\xbfimport threading\nthreading.Thread(target=print, args=(1)).start()\n"
    result = lint_source("bom.py", bom, SETTINGS)
    assert [(f.line, f.col, f.code) for f in result.findings] == [(2, 38, "TL101")]


@pytest.mark.parametrize("source", [
    b"", b"\xef\xbb\xbf", b"\x00", b"import threading\x00\n", b"\r\n\r\n", b"\f\n\tx = 1\n",
    b"import threading\nthreading.Thread(target=f, args=(x)",  # unclosed
    b"# coding: nonsense\nx = 1\n", b"\xff\xfe\x00\x00",
    b"import threading\n" + b"x = " + b"(" * 150 + b"1" + b")" * 150 + b"\n",
    b"import threading\n" + b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    b"import threading\n" + b"x = 1 + " * 3000 + b"1\n",
    (b"import threading\nif x:\n" + b"".join(b" " * i + b"if x:\n" for i in range(1, 90))
     + b" " * 90 + b"pass\n"),
])
def test_any_input_gives_findings_or_errors_never_an_exception(source: bytes) -> None:
    result = lint_source("weird.py", source, SETTINGS)
    for finding in result.findings:
        assert finding.line >= 1 and finding.col >= 1
    for error in result.errors:
        assert "weird.py" in str(error)


def test_syntax_error_is_located_where_cpython_reports_it() -> None:
    source = b"import threading\n\ndef f(:\n    pass\n"
    result = lint_source("bad.py", source, SETTINGS)
    with pytest.raises(SyntaxError) as info:
        compile(source, "bad.py", "exec")
    assert [(f.line, f.col, f.code) for f in result.findings] == [
        (info.value.lineno, info.value.offset, "TL999")]
    assert result.findings[0].message.startswith("SyntaxError: ")


def test_a_failing_rule_is_reported_by_name_and_other_rules_still_report(monkeypatch) -> None:
    class Exploding(Rule):
        code = "TL103"
        name = "thread-run-called"
        summary = "boom"

        def visit_Call(self, node) -> None:
            raise ValueError("kaboom")

    rules = [Exploding if rule.code == "TL103" else rule for rule in ALL_RULES]
    monkeypatch.setattr(engine, "ALL_RULES", rules)
    source = b"import threading\nthreading.Thread(target=print, args=(1)).start()\n"
    result = lint_source("x.py", source, SETTINGS)
    assert [(f.line, f.code) for f in result.findings] == [(2, "TL101")]
    assert len(result.errors) == 1
    message = str(result.errors[0])
    assert message.startswith("x.py: internal error in rule TL103 (thread-run-called): ValueError: kaboom")


def test_fix_keeps_comments_and_layout_and_is_idempotent() -> None:
    source = (
        b"import threading\n"
        b"def go(url, f):\n"
        b"    threading.Thread(target=f, args=(url)).start()  # fetch\n"
        b"    threading.Thread(target=f, args=(  # the one argument\n"
        b"        url  # keep me\n"
        b"    )).start()\n"
        b"    threading.Thread(target=f, args=(url)).start()  # noqa: TL101\n"
        b"    threading.Thread(target=f, args='abc').start()\n"
    )
    result = lint_source("f.py", source, SETTINGS, fix=True)
    assert result.fixed_source == (
        b"import threading\n"
        b"def go(url, f):\n"
        b"    threading.Thread(target=f, args=(url,)).start()  # fetch\n"
        b"    threading.Thread(target=f, args=(  # the one argument\n"
        b"        url,  # keep me\n"
        b"    )).start()\n"
        b"    threading.Thread(target=f, args=(url)).start()  # noqa: TL101\n"
        b"    threading.Thread(target=f, args=('abc',)).start()\n"
    )
    assert sorted((f.line, f.code) for f in result.fixed) == [(3, "TL101"), (5, "TL101"), (8, "TL101")]
    assert result.findings == []
    again = lint_source("f.py", result.fixed_source, SETTINGS, fix=True)
    assert again.fixed_source is None and again.findings == []
    ast.parse(result.fixed_source)


def test_noqa_covers_every_line_of_a_multiline_statement() -> None:
    source = (
        "import threading\n"
        "threading.Thread(\n"
        "    target=print,\n"
        "    args=(1),\n"
        ")  # noqa: TL1\n"
        "threading.Thread(target=print, args=(2))  # noqa: TL2\n"
        "threading.Thread(target=print, args=(3))  # NOQA\n"
    )
    assert codes(source) == [(6, 38, "TL101")]


def _stdlib_sample() -> List[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py"))
    files += sorted((root / "concurrent" / "futures").glob("*.py"))
    return files[::4]


@pytest.mark.slow
def test_prefilter_changes_no_result(monkeypatch) -> None:
    """A file the byte prefilter skips would get no finding from a full parse
    either, and every finding comes from a file its own rule's needs admit (so
    one rule's needs never hide behind another's)."""
    fixtures = sorted((Path(__file__).parent.parent / "fixtures").glob("*.py"))
    sample = fixtures + _stdlib_sample()
    assert len(sample) > 40
    settings = Settings(root="/")
    fast = {p: lint_source(str(p), p.read_bytes(), settings).findings for p in sample}
    needs = {rule.code: rule.needs for rule in ALL_RULES}
    # The front reads the needs from this table (the prefilter runs before
    # any rule is imported): with every entry admitting every file, nothing
    # is filtered.
    monkeypatch.setattr(triage, "RULE_NEEDS", {code: EVERY_FILE for code in needs})
    assert triage.admits(b"x = 1\n", frozenset(needs))
    full = {p: lint_source(str(p), p.read_bytes(), settings).findings for p in sample}
    assert fast == full
    checked = 0
    for path, findings in full.items():
        for finding in findings:
            if finding.code not in ENGINE_CODES:
                assert Prefilter([needs[finding.code]]).admits(path.read_bytes()), finding
                checked += 1
    assert checked > 40


@pytest.mark.parametrize("source, admitted", [
    (b"import threading\nthreading.Thread(target=f).start()\n", True),
    (b"from threading import Thread as T\nT(target=f).start()\n", True),
    (b"import os, \\\n  threading\nthreading.Thread()\n", True),
    # a module of the same name inside another package is not the stdlib's
    (b"from kazoo.handlers.threading import SequentialThreadingHandler\n", False),
    (b"from tornado.concurrent import Future\nThread = 1\n", False),
    # imports threading but names nothing a rule resolves
    (b"import threading\nlocal = threading.local()\nthreading.current_thread()\n", False),
    (b"import threading\nThreadingHelper = 1\n", False),  # whole words only
    # TL303 needs no import (locks arrive as parameters), only an attribute call
    (b"def f(lock):\n    lock.acquire()\n", True),
    (b"def f(lock):\n    (lock.\n        acquire())\n", True),
    (b'"""Call acquire() before use."""\n', False),
])
def test_prefilter_admits(source: bytes, admitted: bool) -> None:
    assert Prefilter([rule.needs for rule in ALL_RULES if rule.code not in ENGINE_CODES]).admits(source) \
        is admitted


def test_prefilter_is_linear_on_adversarial_bytes() -> None:
    """A pattern that can backtrack exponentially hangs the run on one odd file
    (seen: a comment alternative overlapping itself on `.####...`). The check
    runs in a subprocess so that a regression fails instead of hanging."""
    script = (
        "from threadlint.prefilter import Prefilter\n"
        "from threadlint.rules import ALL_RULES\n"
        "filters = [Prefilter([rule.needs]) for rule in ALL_RULES]  # every pattern runs\n"
        "for chunk in (b'.#', b'#', b'. ', b'.\\\\', b'import \\\\\\n', b'from x', b'\\\\\\n'):\n"
        "    for prefilter in filters:\n"
        "        prefilter.admits(chunk * 20000)\n"
        "        prefilter.admits(b'.' + chunk * 20000 + b'acquir')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()


def test_noqa_reason_words_are_not_codes() -> None:
    source = (
        "import threading\n"
        "threading.Thread(target=print, args=(1))  # noqa: TL101 because the tuple is built later\n"
        "threading.Thread(target=print, args=(2))  # noqa: TL102 see ticket 12\n"
    )
    assert codes(source) == [(3, 38, "TL101")]


def test_the_names_walk_is_the_only_walk(monkeypatch) -> None:
    """Providers and rules replay the names walk's recorded events; nothing
    enumerates the tree a second time."""
    import threadlint.model.names as names_module

    settings = Settings(root="/")
    walks = []
    real_walk = names_module.walk

    def counting_walk(*args, **kwargs):
        walks.append(args[0])
        return real_walk(*args, **kwargs)

    monkeypatch.setattr(names_module, "walk", counting_walk)
    for fixture in sorted((Path(__file__).parent.parent / "fixtures").glob("TL[123]*.py")):
        walks.clear()
        findings = lint_source(fixture.name, fixture.read_bytes(), settings).findings
        assert findings and len(walks) == 1, fixture.name


def test_dispatch_refuses_owners_that_leave_unrecorded_types() -> None:
    import libcst as cst

    from threadlint.model import Cursor
    from threadlint.walk import Recording, dispatch, walk

    module = cst.parse_module("def f():\n    return g(1)\n")

    class Calls:
        def __init__(self) -> None:
            self.events: List[str] = []

        def visit_Call(self, node: cst.Call) -> None:
            self.events.append("visit")

        def leave_Call(self, node: cst.Call) -> None:
            self.events.append("leave")

    visitor = Calls()
    recording = Recording({"FunctionDef"})
    walk(module, [], record=recording)
    with pytest.raises(ValueError, match="Call"):
        dispatch(recording, [visitor], Cursor(), lambda owner, error: None)
    assert visitor.events == []
    recording = Recording({"Call", "FunctionDef", "Lambda", "ClassDef"})
    walk(module, [], record=recording)
    dispatch(recording, [visitor], Cursor(), lambda owner, error: None)
    assert visitor.events == ["visit", "leave"]
