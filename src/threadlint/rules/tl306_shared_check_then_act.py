"""TL306 shared-check-then-act."""

from __future__ import annotations

from typing import Optional, Set

import libcst as cst

from threadlint.model.attributes import Attributes
from threadlint.model.checks import ABSENT, INCREMENT, MEMBER, NONEMPTY, UNSET, Checks, CheckThenAct
from threadlint.model.locks import Locks
from threadlint.model.mutations import Mutations
from threadlint.model.objects import Objects
from threadlint.model.syntax import is_constant
from threadlint.rules.base import Rule, snippet


class SharedCheckThenAct(Rule):
    """## What it does
    Checks for a test on shared state followed by the act the test made look
    safe, with no lock held over both: `if k in d: del d[k]`, `if k not in d:
    d[k] = v`, `if items: items.pop()`, `if self._conn is None: self._conn =
    connect()` (lazy initialisation), and `d[k] = d.get(k, 0) + 1`. Shared
    state is an attribute of `self` in code that runs concurrently (see
    TL305: a class used from several threads, in a method a thread runs or a
    public one) or a module-level name in code a thread runs (see TL301),
    when other code changes it too.

    ## Why is this bad?
    Another thread can act between the test and the act: the key is gone by
    the time `del d[k]` runs (`KeyError`), two threads both see the key
    missing and one insert is lost, both see `None` and both connect, both
    read the same count and one increment is lost. Each operation alone is
    atomic; the pair is not.

    ## Example
    ```python
    import threading

    class Sessions:
        def __init__(self):
            self._lock = threading.Lock()
            self._active = {}

        def open(self, sid, session):
            with self._lock:
                self._active[sid] = session

        def close(self, sid):
            if sid in self._active:
                del self._active[sid]
    ```

    ## Use instead
    ```python
    import threading

    class Sessions:
        def __init__(self):
            self._lock = threading.Lock()
            self._active = {}

        def open(self, sid, session):
            with self._lock:
                self._active[sid] = session

        def close(self, sid):
            self._active.pop(sid, None)
    ```

    ## Fix safety
    `--fix` rewrites `if key in d: del d[key]` and `if key in d: d.pop(key)`
    to `d.pop(key, None)`, and only when that is the whole `if` (no `else`,
    nothing else in the body, no comment inside) and `key` is a name, an
    attribute of a name or a literal, so evaluating it once instead of twice
    changes nothing. The fix is safe. Other patterns have no atomic
    equivalent in general (`setdefault` evaluates its default every time) and
    are not fixed.

    ## Known limitations
    - Silent when a lock is held at the test (any lock: whether it is the one
      the other threads take is not checked), in a function every caller of
      which holds a lock, and when the act holds a lock and the test is made
      again first (double-checked initialisation): by an inner `if` with the
      same test, or by an earlier `if` that tests the opposite and leaves
      (`if self._conn is not None: return self._conn`, also at the top of a
      `try` whose `except` block acts).
    - Locks taken through a method of the object (`self.acquire()` in
      `logging.Handler.handle`) are not recognised yet, so a `FileHandler.emit`
      that the handler's own lock protects can be reported.
    - Public coroutines (`async def`) run on their event loop and are not
      judged unless a thread runs them.
    - Only `if` statements are followed (not `while`, conditional
      expressions or `and`/`or` chains), and only acts in the `if` body on
      the very expression tested (`self._cache`, `cache`); an act through an
      alias (`c = self._cache; del c[k]`) is not seen.
    - Shared means: for `self` attributes of a concurrent class (TL305's
      definition), code that runs concurrently: a method a thread runs (and
      what it calls), or a public method of a class that owns a thread lock
      or is marked thread-safe (and the private methods they call), never
      construction; and the attribute is changed in some other method too,
      or the class owns a lock or is marked. Public methods of test cases and
      of classes with coroutine methods are not called from other threads
      (the test runner and the event loop call them). For module-level names: a
      function a thread runs, with the name changed in some other function
      too, and a lock held at the act but not at the test (an act without
      any lock is already TL301's finding, on the same line). State confined
      to one thread is therefore not reported, and thread-safe types
      (queues, events...) are never shared state here.
    - A line TL305 reports (inconsistent guarding of the same attribute) can
      be reported by this rule too, from the check-then-act side.
    - `if x is None: x = <constant>` and `if not x: x = <constant>` are
      one-way flags or idempotent caches and are not reported.
    - `if k in d: return d[k]` (a read after the test) is not reported.
    """

    code = "TL306"
    name = "shared-check-then-act"
    summary = "a test on shared state and the act it allows are not under one lock"
    fixable = True
    requires = (Checks, Objects, Mutations)

    def finish(self) -> None:
        locks = self.model[Locks]
        reported: Set[cst.CSTNode] = set()
        for check in self.model[Checks].found:
            if check.act in reported or locks.held_at(check.test if check.pattern != INCREMENT
                                                      else check.statement):
                continue
            if self.model[Objects].always_locked(check.unit):
                continue  # every caller holds a lock over the whole function
            if check.pattern == UNSET and check.value is not None and is_constant(check.value):
                continue  # `if not self._closed: self._closed = True`: a one-way flag
            if locks.held_at(check.statement) and check.rechecked:
                continue  # double-checked: the test is repeated under the lock
            where = self._shared(check)
            if where is None:
                continue
            reported.add(check.act)
            fix = _pop_fix(check)
            self.report(check.act, _message(check, where), fix,
                        fix_node=check.test if fix is not None else None)

    def _shared(self, check: CheckThenAct) -> Optional[str]:
        """Where the check runs concurrently, or None when it is not shared."""
        objects = self.model[Objects]
        subject = check.subject
        owner = self.names.self_attribute(subject) if isinstance(subject, cst.Attribute) else None
        unit = check.unit
        if owner is not None:
            if owner[0] not in objects.concurrent or not objects.runs_concurrently(unit) \
                    or objects.thread_safe_attribute(owner, None) \
                    or not objects.shared_attribute(owner):
                return None
            entry = objects.thread_entry(unit)
            others = [a for a in self.model[Attributes].changes
                      if a.attr == owner[1] and a.unit is not unit
                      and objects.share_objects(a.owner[0], owner[0])
                      and not objects.in_construction(a.unit)]
            racing_itself = entry is not None and objects.many_at_once(entry)
            if not others and owner[0] not in objects.callable_from_threads \
                    and not racing_itself:
                return None  # confined: nothing else changes it
            label = self.names.unit_label(unit)
            return f"`{label}` ({entry.describe()})" if entry is not None else \
                f"`{label}`, which other threads may call"
        if isinstance(subject, cst.Name):
            entry = objects.thread_entry(unit)
            if entry is None or not self.model[Locks].held_at(check.statement):
                return None  # an unlocked act on a global in thread code: TL301
            label = f"global '{subject.value}'"
            if not any(m.label == label and m.unit is not unit
                       for m in self.model[Mutations].mutations):
                return None  # nothing else changes it
            return objects.threads.where(unit, entry)
        return None


def _message(check: CheckThenAct, where: str) -> str:
    name = snippet(check.subject)
    act = snippet(check.act)
    key = _tested_key(check)
    if check.pattern == MEMBER:
        act = f"del {act}" if isinstance(check.act, cst.Subscript) else act
        return (f"`{act}` after testing `{key} in {name}` in {where}: another thread can remove "
                f"it in between (KeyError); use `{name}.pop({key}, None)`, or hold a lock over "
                f"the test and the act")
    if check.pattern == ABSENT:
        act = f"{act} = ..." if isinstance(check.act, cst.Subscript) else act
        return (f"`{act}` after testing `{key} not in {name}` in {where}: two threads can "
                f"both find it missing and one write is lost; use `{name}.setdefault({key}, ...)`,"
                f" or hold a lock over the test and the act")
    if check.pattern == NONEMPTY:
        return (f"`{act}` after testing that `{name}` is not empty in {where}: another thread "
                f"can empty it in between (IndexError); hold a lock over the test and the act")
    if check.pattern == INCREMENT:
        return (f"`{act} = ...` reads and writes the same item of `{name}` in {where}: two "
                f"threads can read the same value and one update is lost; hold a lock around it")
    return (f"`{act} = ...` after testing that `{name}` is unset in {where}: two threads can "
            f"both find it unset and both initialise it; hold a lock and test again inside it")


def _tested_key(check: CheckThenAct) -> str:
    """``key`` of the ``key in d`` test (``...`` when the act is a method call)."""
    test = check.test.test if isinstance(check.test, cst.If) else None
    if isinstance(test, cst.UnaryOperation):
        test = test.expression
    if isinstance(test, cst.Comparison):
        return snippet(test.left)
    return "..."


def _pop_fix(check: CheckThenAct) -> Optional[cst.SimpleStatementLine]:
    """``d.pop(key, None)`` for an ``if`` that is just ``if key in d: del d[key]``
    (or ``d.pop(key)``), when the rewrite is exactly equivalent."""
    test = check.test
    if check.pattern != MEMBER or not isinstance(test, cst.If) or test.orelse is not None:
        return None
    comparison = test.test
    body = test.body
    if not isinstance(comparison, cst.Comparison) or not isinstance(body, cst.IndentedBlock) \
            or len(body.body) != 1 or body.header.comment is not None or body.footer:
        return None
    key = comparison.left
    line = body.body[0]
    if not _plain(key) or not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1 \
            or line.trailing_whitespace.comment is not None \
            or any(empty.comment is not None for empty in line.leading_lines):
        return None
    small = line.body[0]
    code = cst.Module(body=[]).code_for_node
    if isinstance(small, cst.Del) and isinstance(small.target, cst.Subscript) \
            and len(small.target.slice) == 1 \
            and isinstance(small.target.slice[0].slice, cst.Index):
        acted = small.target.slice[0].slice.value
    elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) \
            and len(small.value.args) == 1 and not small.value.args[0].keyword \
            and not small.value.args[0].star:
        acted = small.value.args[0].value
    else:
        return None
    if code(acted) != code(key):
        return None
    call = cst.Call(
        func=cst.Attribute(value=check.subject, attr=cst.Name("pop")),
        args=[cst.Arg(key.with_changes(lpar=[], rpar=[]),
                      comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
              cst.Arg(cst.Name("None"))])
    return cst.SimpleStatementLine(body=[cst.Expr(call)], leading_lines=test.leading_lines)


def _plain(expr: cst.BaseExpression) -> bool:
    """Evaluating it twice or once is the same: a name, ``a.b``, a literal."""
    if isinstance(expr, (cst.Name, cst.Integer, cst.SimpleString)):
        return True
    return isinstance(expr, cst.Attribute) and _plain(expr.value)
