"""TL501 deprecated-threading-alias: its fixes, applied by the CLI and the engine."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Dict, List

from threadlint.engine import lint_source
from threadlint.settings import Settings

from conftest import FIXTURES, expected_findings, run_cli

SETTINGS = Settings(root="/", select=("TL501",))

#: A small legacy package that uses every deprecated alias, each where a safe
#: fix exists: statements, expressions, multi-line calls with comments, an alias
#: of the module, a Timer, `current_thread()` results, `self` attributes.
LEGACY_TREE: Dict[str, str] = {
    "legacy/__init__.py": '"""A package from the Python 2.6 days."""\n',
    "legacy/workers.py": '''\
        """Workers, Python 2 style."""
        import threading


        class Pool:
            def __init__(self, size):
                self._done = threading.Event()
                self._idle = threading.Condition()
                self._threads = []
                for index in range(size):
                    worker = threading.Thread(target=self._work, args=(index,))
                    worker.setName("pool-%d" % index)  # shows up in logs
                    worker.setDaemon(True); worker.start()
                    self._threads.append(worker)

            def _work(self, index):
                while not self._done.isSet():
                    with self._idle:
                        self._idle.notifyAll()
                        self._idle.wait(0.1)

            def stop(self):
                self._done.set()
        ''',
    "legacy/status.py": '''\
        import threading as th
        from threading import Timer


        def report():
            """One line about the current thread."""
            current = th.currentThread()
            return "%s (daemon=%s) of %d" % (
                current.getName(),
                current.isDaemon(),  # a daemon thread dies with the process
                th.activeCount(),
            )


        def heartbeat(interval):
            timer = Timer(interval, report)
            timer.setDaemon(
                # never keep the process alive for a heartbeat
                True
            )
            timer.start()
            if not timer.isAlive():
                raise RuntimeError("heartbeat did not start: %s" % th.currentThread().getName())
            return timer
        ''',
}

ALIASES = ("setDaemon", "isDaemon", "getName", "setName", "currentThread", "activeCount",
           "notifyAll", "isSet", "isAlive")


def write_tree(root: Path, files: Dict[str, str]) -> List[Path]:
    paths = []
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        paths.append(path)
    return paths


def test_fix_over_a_tree_using_every_alias_leaves_no_finding_and_only_compiling_files(
        tmp_path: Path) -> None:
    paths = write_tree(tmp_path, LEGACY_TREE)
    before = "".join(path.read_text(encoding="utf-8") for path in paths)
    assert all(alias + "(" in before for alias in ALIASES), "the tree must use every alias"

    fixed = run_cli(["--isolated", "--no-cache", "--select", "TL501", "--fix", "legacy"], tmp_path,
                    summary=True)
    assert fixed.returncode == 0, fixed.stdout.decode() + fixed.stderr.decode()
    assert fixed.stdout == b""
    assert fixed.stderr.decode().splitlines() == ["Found 12 findings (12 fixed, 0 remaining)."]

    again = run_cli(["--isolated", "--no-cache", "--select", "TL501", "legacy"], tmp_path)
    assert (again.returncode, again.stdout, again.stderr) == (0, b"", b"")
    for path in paths:
        source = path.read_text(encoding="utf-8")
        compile(source, str(path), "exec")
        assert not any(alias + "(" in source for alias in ALIASES), path


def test_fix_keeps_comments_and_layout_of_multi_line_code() -> None:
    paths = LEGACY_TREE["legacy/status.py"]
    result = lint_source("status.py", textwrap.dedent(paths).encode(), SETTINGS, fix=True)
    assert result.findings == []
    assert result.fixed_source is not None
    assert result.fixed_source.decode() == textwrap.dedent('''\
        import threading as th
        from threading import Timer


        def report():
            """One line about the current thread."""
            current = th.current_thread()
            return "%s (daemon=%s) of %d" % (
                current.name,
                current.daemon,  # a daemon thread dies with the process
                th.active_count(),
            )


        def heartbeat(interval):
            timer = Timer(interval, report)
            timer.daemon = (
                # never keep the process alive for a heartbeat
                True
            )
            timer.start()
            if not timer.is_alive():
                raise RuntimeError("heartbeat did not start: %s" % th.current_thread().name)
            return timer
        ''')


#: Lib/test/test_threading.py of CPython 3.11, ``test_old_threading_api``
#: (which checks that the aliases still warn), verbatim.
STDLIB_REGION = '''\
    def test_old_threading_api(self):
        # Just a quick sanity check to make sure the old method names are
        # still present
        t = threading.Thread()
        with self.assertWarnsRegex(DeprecationWarning,
                                   r'get the daemon attribute'):
            t.isDaemon()
        with self.assertWarnsRegex(DeprecationWarning,
                                   r'set the daemon attribute'):
            t.setDaemon(True)
        with self.assertWarnsRegex(DeprecationWarning,
                                   r'get the name attribute'):
            t.getName()
        with self.assertWarnsRegex(DeprecationWarning,
                                   r'set the name attribute'):
            t.setName("name")

        e = threading.Event()
        with self.assertWarnsRegex(DeprecationWarning, 'use is_set()'):
            e.isSet()

        cond = threading.Condition()
        cond.acquire()
        with self.assertWarnsRegex(DeprecationWarning, 'use notify_all()'):
            cond.notifyAll()

        with self.assertWarnsRegex(DeprecationWarning, 'use active_count()'):
            threading.activeCount()
        with self.assertWarnsRegex(DeprecationWarning, 'use current_thread()'):
            threading.currentThread()
'''


def test_fix_on_a_region_of_the_standard_library_changes_only_the_calls() -> None:
    source = "import threading\nimport unittest\n\n\nclass ThreadTests(unittest.TestCase):\n\n" \
        + STDLIB_REGION
    result = lint_source("test_threading.py", source.encode(), SETTINGS, fix=True)
    assert sorted(f.line for f in result.fixed) == [13, 16, 19, 22, 26, 31, 34, 36]
    assert result.findings == [] and result.fixed_source is not None
    fixed = result.fixed_source.decode()
    compile(fixed, "test_threading.py", "exec")
    changes = {"t.isDaemon()": "t.daemon", "t.setDaemon(True)": "t.daemon = True",
               "t.getName()": "t.name", 't.setName("name")': 't.name = "name"',
               "e.isSet()": "e.is_set()", "cond.notifyAll()": "cond.notify_all()",
               "threading.activeCount()": "threading.active_count()",
               "threading.currentThread()": "threading.current_thread()"}
    expected = source
    for old, new in changes.items():
        expected = expected.replace(f"    {old}\n", f"    {new}\n")
    assert fixed == expected  # the comments, the strings and every other line as they were


def test_the_fixture_is_fixed_except_where_no_fix_is_safe(tmp_path: Path) -> None:
    fixture = FIXTURES / "TL501.py"
    shutil.copy(fixture, tmp_path / "monitor.py")
    before = run_cli(["--isolated", "--no-cache", "--select", "TL501", "monitor.py"], tmp_path)
    assert {int(line.split(":")[1]) for line in before.stdout.decode().splitlines()} == \
        {line for line, _ in expected_findings(fixture)}
    proc = run_cli(["--isolated", "--no-cache", "--select", "TL501", "--fix", "monitor.py"],
                   tmp_path, summary=True)
    compile((tmp_path / "monitor.py").read_text(encoding="utf-8"), "monitor.py", "exec")
    remaining = proc.stdout.decode().splitlines()
    # `from threading import activeCount` (an import edit) and a setter in a lambda
    assert [line.split(":")[1] for line in remaining] == ["96", "115"]
    total = len(before.stdout.decode().splitlines())
    assert proc.stderr.decode().splitlines() == [
        f"Found {total} findings ({total - 2} fixed, 2 remaining)."]


def fixed(source: str) -> str:
    result = lint_source("m.py", textwrap.dedent(source).encode(), SETTINGS, fix=True)
    return (result.fixed_source or textwrap.dedent(source).encode()).decode()


def test_calls_with_no_safe_fix_are_reported_and_left_alone() -> None:
    source = textwrap.dedent('''\
        import threading
        from threading import currentThread

        t = threading.Thread(target=print)
        ok = t.setDaemon(True)
        handlers = [lambda: t.setName("x")]
        t.setDaemon(daemonic=True)
        t.setDaemon(*flags)
        t.setName()
        t.getName(  # why
        )
        threading.Thread(target=print).setName(make_name())
        me = currentThread()
        ''')
    result = lint_source("m.py", source.encode(), SETTINGS, fix=True)
    assert result.fixed_source is None
    assert [(f.line, f.fixable) for f in result.findings] == [
        (5, False), (6, False), (7, False), (8, False), (9, False), (10, False), (12, False),
        (13, False)]


def test_setter_fixes_keep_semicolons_parentheses_and_trailing_commas() -> None:
    # A walrus or a generator expression cannot stand bare after `=`: parenthesised.
    assert fixed('''\
        import threading
        t = threading.Thread(target=print)
        t.setDaemon(True,); t.setName(name)  # both
        t.setDaemon((a or
                     b))
        threading.current_thread().setName("main")
        print((t.getName()), t.isDaemon())
        t.setName(n := "x")
        t.setName(s for s in parts)
    ''') == textwrap.dedent('''\
        import threading
        t = threading.Thread(target=print)
        t.daemon = True; t.name = name  # both
        t.daemon = ((a or
                     b))
        threading.current_thread().name = "main"
        print((t.name), t.daemon)
        t.name = (n := "x")
        t.name = (s for s in parts)
    ''')


def test_noqa_keeps_a_call_and_a_second_run_changes_nothing() -> None:
    source = '''\
        import threading
        e = threading.Event()
        e.isSet()  # noqa: TL501
        e.isSet()
    '''
    once = fixed(source)
    assert once == textwrap.dedent(source).replace("e.isSet()\n", "e.is_set()\n")
    assert fixed(once) == once
