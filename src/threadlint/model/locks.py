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

from typing import Dict, FrozenSet, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Set, Tuple, cast

import libcst as cst

from threadlint.api import LOCKING_CLASSES
from threadlint.model.core import Model, Provider, Unit
from threadlint.model.syntax import core_identifier, expr_key, identifier_words
from threadlint.model.values import Values
from threadlint.walk import children

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
# Words in a context manager's name that say it takes a lock.
_HOLDING_WORDS = frozenset({"acquire", "acquired", "locked", "locking", "synchronized",
                            "synchronised", "exclusive"})

def is_lockish_name(name: str) -> bool:
    """Whether an identifier says it holds a lock (the unknown-type heuristic)."""
    for word in identifier_words(name):
        if word in _LOCK_WORDS:
            return True
        if word.endswith("lock") and word not in _NOT_LOCK_WORDS:
            return True
    return False


def is_lock_like(values: Values, expr: cst.BaseExpression) -> bool:
    """A lock by type (threading, multiprocessing or asyncio, or an object whose
    ``acquire()`` takes a lock, such as a ``logging.Handler``: see
    :meth:`Values.instance_of`), or by name when the type is unknown."""
    if values.is_any_lock(expr) or values.instance_of(expr, LOCKING_CLASSES):
        return True
    name = core_identifier(expr)
    return name is not None and is_lockish_name(name)


def may_hold_lock(values: Values, item: cst.WithItem) -> bool:
    """Whether ``with item:`` may hold a lock, for judging code inside it.

    Lock-like objects do; so does a plain name or attribute of unknown type
    used without ``as`` (typically a lock passed in as a parameter under a
    name such as ``l`` or ``guard``): when unsure, assume the lock is held.
    """
    expr = item.item
    if is_lock_like(values, expr):
        return True
    if isinstance(expr, cst.Call):
        # `with acquire_timeout(self._lock, 5):`, `with locked(mutex):`
        name = core_identifier(expr.func)
        if name is not None and _HOLDING_WORDS & set(identifier_words(name)):
            return True
        return any(arg.keyword is None and is_lock_like(values, arg.value) for arg in expr.args)
    if item.asname is not None or not isinstance(expr, (cst.Name, cst.Attribute)):
        return False
    return values.names.assigned_values(expr) is None


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


def acquire_key(values: Values, call: cst.Call) -> Optional[str]:
    """The lock ``call`` acquires: ``L.acquire(...)`` on a lock-like ``L``, a
    helper named for it (``_acquireLock()``), or ``self.acquire()`` where the
    class's own ``acquire`` method takes a lock (``logging.Handler``)."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "acquire":
        if is_lock_like(values, func.value) or _locking_self(values, func.value):
            return expr_key(func.value)
        return None
    return _helper_key(call, "acquire")


def _locking_self(values: Values, receiver: cst.BaseExpression) -> bool:
    """``receiver`` is a method's ``self`` whose class (or a local base) has
    an ``acquire`` method that acquires a lock-like object (``self.lock``) and
    a ``release`` method."""
    cls = values.classes.self_class(receiver)
    if cls is None:
        return False
    method = values.classes.lookup(cls, "acquire")
    if method is None or values.classes.lookup(cls, "release") is None:
        return False
    todo: List[cst.CSTNode] = [method.body]
    while todo:  # the method's own code, nested definitions left out
        node = todo.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and node.func.attr.value == "acquire" and is_lock_like(values, node.func.value):
            return True
        todo.extend(children(node))
    return False


def release_key(call: cst.Call) -> Optional[str]:
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "release":
        return expr_key(func.value)
    return _helper_key(call, "release")


_VALUE_STATEMENTS = (cst.Expr, cst.Assign, cst.AnnAssign)
_TEST_STATEMENTS = (cst.If, cst.While)


def _header_acquires(values: Values, stmt: cst.CSTNode) -> Iterator[Tuple[cst.Call, str]]:
    """The acquiring calls of a statement's header (not its body), with their keys."""
    # Called for every statement of every block: exact type tests, since
    # isinstance() against libcst's abstract node classes is slow.
    stmt_type = type(stmt)
    if stmt_type is cst.SimpleStatementLine:
        exprs = []
        for small in stmt.body:  # type: ignore[attr-defined]
            small_type = type(small)
            if small_type in _VALUE_STATEMENTS and small.value is not None:
                exprs.append(_asserted(small.value) if small_type is cst.Expr else small.value)
            elif small_type is cst.Assert:
                exprs.append(small.test)  # `assert lock.acquire(timeout=1)`: held after it
    elif stmt_type in _TEST_STATEMENTS:
        exprs = [stmt.test]  # type: ignore[attr-defined]
    else:
        return
    for value in exprs:
        for call in _acquires_in_test(value):
            key = acquire_key(values, call)
            if key is not None:
                yield call, key


#: Assertions that the call after them only passes when their argument is
#: true: ``self.assertTrue(lock.acquire(False))`` holds the lock after it.
_ASSERT_TRUE = frozenset({"assertTrue", "assert_", "failUnless"})


def _asserted(value: cst.BaseExpression) -> cst.BaseExpression:
    """``self.assertTrue(x)`` (also awaited inside): ``x``; else ``value``."""
    call = value.expression if isinstance(value, cst.Await) else value
    if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) \
            and call.func.attr.value in _ASSERT_TRUE and call.args \
            and call.args[0].keyword is None:
        return call.args[0].value
    return value


def statement_acquires(values: Values, stmt: cst.CSTNode) -> List[str]:
    """Keys of the locks a statement's header (not its body) acquires."""
    return [key for _, key in _header_acquires(values, stmt)]


def statement_releases(stmt: cst.CSTNode) -> List[str]:
    """Keys of the locks released by calls that are a simple statement of their own
    (or of a one-line block, ``if use_lock: L.release()``)."""
    found: List[str] = []
    if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
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


def acquire_regions(values: Values, statements: Sequence[cst.CSTNode],
                    released_after: Iterable[str] = ()) -> Dict[cst.CSTNode, FrozenSet[str]]:
    """For one block: the statements that run after ``L.acquire()`` and before
    ``L.release()``, mapped to the keys of the locks they hold.

    A statement whose header acquires (``L.acquire()``, ``if L.acquire(False):``,
    ``ok = L.acquire(timeout=1)``) holds the lock itself and so do the rest of
    the block's statements, up to a ``L.release()`` statement or a ``try`` whose
    ``finally:`` releases it (that ``try`` still holds it), or to the end of an
    ``if L.acquire(False):`` whose own body releases it. A lock that is never
    released in the block stays held to its end, as a *weak* hold (its key
    prefixed with :data:`WEAK`): erring towards "held" only ever silences the
    rules that look for unlocked code, but a gate or a hand-off is no
    evidence that the code there is guarded (see :func:`strong`). A lock the
    ``finally:`` of the ``try`` around the block releases (``released_after``),
    or that a statement of its region releases inside (``if L.acquire(False):
    try: ... finally: L.release()``), is not weak.
    """
    regions: Dict[cst.CSTNode, FrozenSet[str]] = {}
    held: Set[str] = set()
    unreleased: Dict[str, List[cst.CSTNode]] = {}  # key -> its statements so far
    for stmt in statements:
        own = statement_acquires(values, stmt)
        for key in own:
            held.add(key)
            unreleased.setdefault(key, [])
        if not held:
            continue
        released = set(statement_releases(stmt))
        if held - released:
            regions[stmt] = frozenset(held - released)
            for key in held - released:
                unreleased[key].append(stmt)
        ended = (released | try_releases(stmt) | _released_in_own_body(stmt, own)) & held
        for key in ended:
            unreleased.pop(key, None)
        held -= ended
    closed = set(released_after)
    for key, stmts in unreleased.items():
        if key in closed or any(_releases_inside(stmt, key) for stmt in stmts):
            continue
        for stmt in stmts:
            regions[stmt] = frozenset(WEAK + k if k == key else k for k in regions[stmt])
    return regions


def _released_in_own_body(stmt: cst.CSTNode, own: List[str]) -> Set[str]:
    """``if L.acquire(False): ... L.release()``: the locks an ``if``/``while``
    test acquires and its own body releases are not held after it."""
    if not own or type(stmt) not in _TEST_STATEMENTS:
        return set()
    body = cast(cst.If, stmt).body
    return {key for key in own if _releases_inside(body, key)}


def _releases_inside(stmt: cst.CSTNode, key: str) -> bool:
    """Whether ``stmt`` releases the lock ``key`` anywhere in its own code."""
    todo: List[cst.CSTNode] = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, cst.Call) and release_key(node) == key:
            return True
        todo.extend(children(node))
    return False


#: Prefix of a held key whose lock is never released in its block.
WEAK = "~"


def strong(keys: Iterable[str]) -> List[str]:
    """The keys of locks held by a ``with`` or a released acquire region."""
    return [key for key in keys if not key.startswith(WEAK)]


# Decorators that run the whole function under a lock.
_SYNCHRONIZED_WORDS = frozenset({"synchronized", "synchronised", "locked"})
#: The held-keys entry of a function decorated ``@synchronized`` and the like.
SYNCHRONIZED = "@synchronized"


def is_synchronized(node: cst.CSTNode) -> bool:
    """``@synchronized``, ``@with_lock``, ``@lockutils.synchronized(...)``..."""
    if not isinstance(node, cst.FunctionDef):
        return False
    for decorator in node.decorators:
        name = core_identifier(decorator.decorator)
        if name is not None and (is_lockish_name(name)
                                 or _SYNCHRONIZED_WORDS & set(identifier_words(name))):
            return True
    return False


class Acquisition(NamedTuple):
    """One place a lock is taken: ``with L:`` (one per lock-like item) or an
    ``L.acquire()`` that starts an acquire region."""

    unit: Optional[Unit]  # the function (None: module-level code)
    node: cst.BaseExpression  # the lock expression, ``L``
    key: str  # its key, ``self._lock``
    held: Tuple[str, ...]  # keys of the locks already held there, outermost first
    blocking: bool  # False for ``acquire(False)``, ``blocking=False`` or a ``timeout``


def _blocking(call: cst.Call) -> bool:
    """``L.acquire()`` waits as long as it takes; ``acquire(False)``,
    ``acquire(blocking=False)`` and ``acquire(timeout=...)`` do not."""
    for index, arg in enumerate(call.args):
        name = arg.keyword.value if arg.keyword is not None else \
            ("blocking", "timeout")[index] if index < 2 else None
        if name == "timeout":
            return False
        if name == "blocking" and not (isinstance(arg.value, cst.Name)
                                       and arg.value.value == "True"):
            return False
    return True


class Locks(Provider):
    """Which locks are held where (fed).

    A lock is held inside ``with L:`` (any item that :func:`may_hold_lock`),
    in the statements of an acquire region (:func:`acquire_regions`), and in
    the whole body of a ``@synchronized``-style function. Each ``def``,
    lambda and class body starts with nothing held: a nested function does
    not run under the lock held where it is defined.

    Position state (valid while fed, for providers that require this one):
    :meth:`held_keys`. Finished facts: :meth:`held_at` for every statement and
    every call.
    """

    requires = (Values,)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.values = model[Values]
        self._frames: List[List[str]] = [[]]
        self._pushed: List[int] = []
        self._regions: Dict[cst.CSTNode, FrozenSet[str]] = {}
        self._held_at: Dict[cst.CSTNode, Tuple[str, ...]] = {}
        self._finally: Dict[cst.CSTNode, Set[str]] = {}
        self._cursor = model.cursor
        #: Keys of the locks each unit takes itself (``with``, acquire regions);
        #: None stands for module-level code.
        self.taken: Dict[Optional[Unit], Set[str]] = {}
        #: Every acquisition, in source order.
        self.acquisitions: List[Acquisition] = []

    # -- position state ------------------------------------------------------------
    def held_keys(self) -> List[str]:
        """Keys of the locks held at the node being visited (``self._lock``,
        ``lock``, ``@synchronized``), outermost first."""
        return self._frames[-1]

    # -- finished facts --------------------------------------------------------------
    def held_at(self, node: cst.CSTNode) -> Tuple[str, ...]:
        """Keys of the locks held where a statement (its header, for a compound
        statement) or a call runs, outermost first; ``()`` when none. The locks
        a statement takes itself count: ``held_at`` of ``with lock:`` and of the
        statement ``lock.acquire()`` (and of that call) include ``lock``."""
        return self._held_at.get(node, ())

    # -- feeding -----------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        frame = self._frames[-1]
        if frame:
            self._held_at[node] = tuple(frame)

    def visit_Module(self, node: cst.Module) -> None:
        self._regions.update(acquire_regions(self.values, node.body))

    def _enter(self, node: cst.CSTNode) -> None:
        frame = self._frames[-1]
        pushed = 0
        region = self._regions.get(node)
        if region:
            self._record_acquires(node, frame, region)
            frame.extend(region)
            pushed = len(region)
            self._taken(region)
        node_type = type(node)
        if node_type is cst.IndentedBlock:
            regions = acquire_regions(self.values, cast(cst.IndentedBlock, node).body,
                                      self._finally.pop(node, ()))
            if regions:
                self._regions.update(regions)
        elif node_type is cst.Try or node_type is cst.TryStar:
            # What the finally releases is released after the body's block.
            released = try_releases(node)
            if released:
                self._finally[cast(cst.Try, node).body] = released
        elif node_type is cst.With:
            for item in cast(cst.With, node).items:
                if may_hold_lock(self.values, item):
                    key = expr_key(item.item)
                    self.acquisitions.append(Acquisition(
                        self._cursor.unit, item.item, key, tuple(frame), True))
                    frame.append(key)
                    pushed += 1
                    self._taken((key,))
        if frame and node_type is not cst.IndentedBlock:
            self._held_at[node] = tuple(frame)
        self._pushed.append(pushed)
        if node_type is cst.FunctionDef or node_type is cst.Lambda:
            self._frames.append([SYNCHRONIZED] if is_synchronized(node) else [])
        elif node_type is cst.ClassDef:
            self._frames.append([])

    def _record_acquires(self, stmt: cst.CSTNode, frame: List[str],
                         region: FrozenSet[str]) -> None:
        """The ``L.acquire()`` calls of a statement's header that start its region."""
        for call, key in _header_acquires(self.values, stmt):
            if isinstance(call.func, cst.Attribute):
                before = [k for k in region if k.lstrip(WEAK) != key]
                self.acquisitions.append(Acquisition(
                    self._cursor.unit, call.func.value, key, (*frame, *sorted(before)),
                    _blocking(call)))

    def _taken(self, keys: Iterable[str]) -> None:
        self.taken.setdefault(self._cursor.unit, set()).update(key.lstrip(WEAK) for key in keys)

    def _leave(self, node: cst.CSTNode) -> None:
        node_type = type(node)
        if node_type is cst.FunctionDef or node_type is cst.Lambda or node_type is cst.ClassDef:
            self._frames.pop()
        pushed = self._pushed.pop()
        if pushed:
            del self._frames[-1][-pushed:]

    # Scopes, blocks and every statement that can sit in an acquire region.
    visit_FunctionDef = visit_Lambda = visit_ClassDef = visit_IndentedBlock = _enter
    visit_SimpleStatementLine = visit_If = visit_For = visit_While = _enter
    visit_Try = visit_TryStar = visit_With = visit_Match = _enter
    leave_FunctionDef = leave_Lambda = leave_ClassDef = leave_IndentedBlock = _leave
    leave_SimpleStatementLine = leave_If = leave_For = leave_While = _leave
    leave_Try = leave_TryStar = leave_With = leave_Match = _leave

    def finish(self) -> None:
        self._regions.clear()
