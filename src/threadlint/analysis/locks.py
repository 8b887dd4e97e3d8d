"""Lock-like objects and the regions of code that hold them.

Two questions the shared-state rules ask over and over:

- *Is this expression a lock?* Either its type is known (every value it is
  bound to in the module is a lock constructor call), or, when the type is
  unknown, its name says so (``lock``, ``_mutex``, ``self._state_cond``...).
  The name heuristic exists because locks usually arrive as parameters or
  from other modules, where no constructor is visible.
- *Which statements run while a lock is held?* The body of ``with L:`` and
  the statements between ``L.acquire()`` and ``L.release()`` in one block
  (the release may be in a ``finally:``). :func:`acquire_regions` answers the
  second part for one block, looking only at the statements' headers, so a
  traversal can call it once per block at no extra walking cost.
"""

from __future__ import annotations

import re
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Set

import libcst as cst

from threadlint.analysis.model import ModuleAnalysis

#: Constructors of thread (and process) locks, conditions and semaphores.
THREAD_LOCK_CONSTRUCTORS: Dict[str, str] = {
    "threading.Lock": "lock",
    "threading.RLock": "rlock",
    "threading.Condition": "condition",
    "threading.Semaphore": "semaphore",
    "threading.BoundedSemaphore": "semaphore",
    "_thread.allocate_lock": "lock",
    "multiprocessing.Lock": "lock",
    "multiprocessing.RLock": "rlock",
    "multiprocessing.Condition": "condition",
    "multiprocessing.Semaphore": "semaphore",
    "multiprocessing.BoundedSemaphore": "semaphore",
    "threading._allocate_lock": "lock",
    "threading._RLock": "rlock",
    "threading._PyRLock": "rlock",
    "threading._CRLock": "rlock",
    "_thread.allocate": "lock",
    "_thread.RLock": "rlock",
    "multiprocessing.synchronize.Lock": "lock",
    "multiprocessing.synchronize.RLock": "rlock",
    "multiprocessing.synchronize.Condition": "condition",
    "multiprocessing.synchronize.Semaphore": "semaphore",
    "multiprocessing.synchronize.BoundedSemaphore": "semaphore",
}

#: asyncio's locks: only meaningful with ``async with`` / ``await``.
ASYNC_LOCK_CONSTRUCTORS: Dict[str, str] = {
    "asyncio.Lock": "lock",
    "asyncio.Condition": "condition",
    "asyncio.Semaphore": "semaphore",
    "asyncio.BoundedSemaphore": "semaphore",
    "asyncio.locks.Lock": "lock",
    "asyncio.locks.Condition": "condition",
    "asyncio.locks.Semaphore": "semaphore",
    "asyncio.locks.BoundedSemaphore": "semaphore",
}

ALL_LOCK_CONSTRUCTORS: Dict[str, str] = {**THREAD_LOCK_CONSTRUCTORS, **ASYNC_LOCK_CONSTRUCTORS}

# Words that, as a whole part of an identifier, name a lock. "cond" and "cv"
# are condition variables, "sem" semaphores. Parts merely *ending* in "lock"
# (``rlock``, ``wlock``, ``iolock``) count too, except ordinary English words.
_LOCK_WORDS = frozenset({
    "lock", "locks", "rlock", "rlocks", "mutex", "mutexes", "mtx", "cond", "condition",
    "conditions", "cv", "cvar", "sem", "sema", "semaphore", "semaphores", "guard",
})
_NOT_LOCK_WORDS = frozenset({
    "block", "blocks", "clock", "clocks", "unlock", "deadlock", "unblock", "gridlock",
    "hemlock", "warlock", "wedlock", "headlock", "livelock", "sherlock",
})
_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

# Words in a context manager's name that say it takes a lock.
_HOLDING_WORDS = frozenset({"acquire", "acquired", "locked", "locking", "synchronized",
                            "synchronised", "exclusive"})

# Methods of a lock a local lock may be used through without escaping.
LOCK_METHODS = frozenset({"acquire", "release", "locked", "notify", "notify_all", "notifyAll",
                          "wait", "wait_for", "__enter__", "__exit__"})


def identifier_words(name: str) -> List[str]:
    """``_stateLock`` -> ``["state", "lock"]``; ``IO_LOCK`` -> ``["io", "lock"]``."""
    words: List[str] = []
    for part in name.split("_"):
        words.extend(w.lower() for w in _WORD_RE.findall(part))
    return words


def is_lockish_name(name: str) -> bool:
    """Whether an identifier says it holds a lock (the unknown-type heuristic)."""
    for word in identifier_words(name):
        if word in _LOCK_WORDS:
            return True
        if word.endswith("lock") and word not in _NOT_LOCK_WORDS:
            return True
    return False


def core_identifier(expr: cst.BaseExpression) -> Optional[str]:
    """The identifier an expression is named by: ``self._locks[key]`` -> ``_locks``,
    ``get_lock(x)`` -> ``get_lock``, ``state.mutex`` -> ``mutex``."""
    while True:
        if isinstance(expr, cst.Name):
            return expr.value
        if isinstance(expr, cst.Attribute):
            return expr.attr.value
        if isinstance(expr, cst.Subscript):
            expr = expr.value
        elif isinstance(expr, cst.Call):
            expr = expr.func
        else:
            return None


def expr_key(expr: cst.BaseExpression) -> str:
    """A textual identity for a lock expression: ``self._lock``, ``lock``."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return f"{expr_key(expr.value)}.{expr.attr.value}"
    return "".join(cst.Module(body=[]).code_for_node(expr).split())


def lock_kind(analysis: ModuleAnalysis, expr: cst.BaseExpression,
              constructors: Dict[str, str] = THREAD_LOCK_CONSTRUCTORS) -> Optional[str]:
    """``lock``/``rlock``/``condition``/``semaphore`` when every value ``expr`` is
    bound to in this module is a lock constructor call (or ``expr`` is one)."""

    def kind_of(call: cst.Call) -> Optional[str]:
        name = analysis.resolves_to(call.func, constructors)
        return constructors[name] if name is not None else None

    kinds = analysis.made_by(expr, kind_of)
    return kinds[0] if kinds else None


def is_lock_like(analysis: ModuleAnalysis, expr: cst.BaseExpression) -> bool:
    """A lock by type (threading, multiprocessing or asyncio), or by name when
    the type is unknown."""
    if lock_kind(analysis, expr, ALL_LOCK_CONSTRUCTORS) is not None:
        return True
    name = core_identifier(expr)
    return name is not None and is_lockish_name(name)


def may_hold_lock(analysis: ModuleAnalysis, item: cst.WithItem) -> bool:
    """Whether ``with item:`` may hold a lock, for judging code inside it.

    Lock-like objects do; so does a plain name or attribute of unknown type
    used without ``as`` (typically a lock passed in as a parameter under a
    name such as ``l`` or ``guard``): when unsure, assume the lock is held.
    """
    expr = item.item
    if is_lock_like(analysis, expr):
        return True
    if isinstance(expr, cst.Call):
        # `with acquire_timeout(self._lock, 5):`, `with locked(mutex):`
        name = core_identifier(expr.func)
        if name is not None and _HOLDING_WORDS & set(identifier_words(name)):
            return True
        return any(arg.keyword is None and is_lock_like(analysis, arg.value) for arg in expr.args)
    if item.asname is not None or not isinstance(expr, (cst.Name, cst.Attribute)):
        return False
    return analysis.assigned_values(expr) is None


def lock_method_call(expr: Optional[cst.BaseExpression], method: str) -> Optional[cst.Call]:
    """``expr`` itself when it is ``<something>.<method>(...)``, also under ``await``."""
    if isinstance(expr, cst.Await):
        expr = expr.expression
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
            and expr.func.attr.value == method:
        return expr
    return None


def _acquires_in_test(expr: cst.BaseExpression) -> Iterator[cst.Call]:
    """Calls an ``if``/``while`` test or an assigned value is made of:
    ``L.acquire(False)``, ``not L.acquire(timeout=1)``, ``a and L.acquire()``."""
    if isinstance(expr, cst.Await):
        expr = expr.expression
    if isinstance(expr, cst.Call):
        yield expr
    elif isinstance(expr, cst.UnaryOperation):
        yield from _acquires_in_test(expr.expression)
    elif isinstance(expr, cst.BooleanOperation):
        yield from _acquires_in_test(expr.left)
        yield from _acquires_in_test(expr.right)
    elif isinstance(expr, cst.Comparison):
        yield from _acquires_in_test(expr.left)


def _helper_key(call: cst.Call, verb: str) -> Optional[str]:
    """``logging._acquireLock()`` / ``release_lock()``: a helper that takes or drops
    a lock, keyed by its name without the verb so the two halves pair up."""
    name = core_identifier(call.func)
    if name is None or verb not in name.lower() or isinstance(call.func, cst.Call):
        return None
    words = identifier_words(name)
    if verb not in words or not is_lockish_name(name):
        return None
    rest = [w for w in words if w != verb]
    return "call:" + "_".join(rest)


def acquire_key(analysis: ModuleAnalysis, call: cst.Call) -> Optional[str]:
    """The lock ``call`` acquires: ``L.acquire(...)`` on a lock-like ``L``, or a
    helper named for it (``_acquireLock()``)."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "acquire":
        return expr_key(func.value) if is_lock_like(analysis, func.value) else None
    return _helper_key(call, "acquire")


def release_key(call: cst.Call) -> Optional[str]:
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "release":
        return expr_key(func.value)
    return _helper_key(call, "release")


_VALUE_STATEMENTS = (cst.Expr, cst.Assign, cst.AnnAssign)
_TEST_STATEMENTS = (cst.If, cst.While)


def statement_acquires(analysis: ModuleAnalysis, stmt: cst.CSTNode) -> List[str]:
    """Keys of the locks a statement's header (not its body) acquires."""
    # Called for every statement of every block: exact type tests, since
    # isinstance() against libcst's abstract node classes is slow.
    stmt_type = type(stmt)
    if stmt_type is cst.SimpleStatementLine:
        values = [small.value for small in stmt.body  # type: ignore[attr-defined]
                  if type(small) in _VALUE_STATEMENTS and small.value is not None]
    elif stmt_type in _TEST_STATEMENTS:
        values = [stmt.test]  # type: ignore[attr-defined]
    else:
        return []
    keys = []
    for value in values:
        for call in _acquires_in_test(value):
            key = acquire_key(analysis, call)
            if key is not None:
                keys.append(key)
    return keys


def statement_releases(stmt: cst.CSTNode) -> List[str]:
    """Keys of the locks released by calls that are a simple statement of their own."""
    found: List[str] = []
    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            if isinstance(small, cst.Expr):
                value = small.value
                if isinstance(value, cst.Await):
                    value = value.expression
                if isinstance(value, cst.Call):
                    key = release_key(value)
                    if key is not None:
                        found.append(key)
    return found


def block_releases(block: Optional[cst.BaseSuite]) -> Set[str]:
    """Keys of locks a ``finally:``/``except:`` body releases at its top level."""
    keys: Set[str] = set()
    if isinstance(block, cst.IndentedBlock):
        for stmt in block.body:
            keys.update(statement_releases(stmt))
    return keys


def try_releases(stmt: cst.CSTNode) -> Set[str]:
    """Locks a ``try`` statement releases in its ``finally:``."""
    if isinstance(stmt, (cst.Try, cst.TryStar)) and stmt.finalbody is not None:
        return block_releases(stmt.finalbody.body)
    return set()


def acquire_regions(analysis: ModuleAnalysis,
                    statements: Sequence[cst.CSTNode]) -> Dict[cst.CSTNode, FrozenSet[str]]:
    """For one block: the statements that run after ``L.acquire()`` and before
    ``L.release()``, mapped to the keys of the locks they hold.

    A statement whose header acquires (``L.acquire()``, ``if L.acquire(False):``,
    ``ok = L.acquire(timeout=1)``) holds the lock itself and so do the rest of
    the block's statements, up to a ``L.release()`` statement or a ``try`` whose
    ``finally:`` releases it (that ``try`` still holds it). A lock that is never
    released in the block stays held to its end: erring towards "held" only
    ever silences the unlocked-mutation rule, never makes it report.
    """
    regions: Dict[cst.CSTNode, FrozenSet[str]] = {}
    held: Set[str] = set()
    for stmt in statements:
        held.update(statement_acquires(analysis, stmt))
        if not held:
            continue
        released = set(statement_releases(stmt))
        if held - released:
            regions[stmt] = frozenset(held - released)
        held -= released
        held -= try_releases(stmt)
    return regions
