"""Conditions: every call of a condition variable's methods, and where it runs.

Fed, for files that name ``Condition``. For each ``c.wait()``,
``c.wait_for()``, ``c.notify()``, ``c.notify_all()`` (``notifyAll``) on an
expression :meth:`~threadlint.model.values.Values.conditions` knows to be a
condition variable (``threading``, ``multiprocessing`` or ``asyncio``; a
parameter or a value from elsewhere is unknown and not recorded), a
:class:`ConditionCall` says:

- the locks held there (:meth:`Locks.held_keys`, weak holds with their ``~``);
- the lock the condition is built on, named as the call's own code would
  name it: ``self.mutex`` for ``self.not_empty.notify()`` when ``__init__``
  says ``self.not_empty = threading.Condition(self.mutex)`` (the *shared
  lock*, as ``queue.Queue`` has);
- the innermost loop of its function around it (a ``while`` test or body, a
  ``for`` body), and the innermost ``if`` inside that loop (or the function)
  whose body or ``else`` holds it: the test the call is *guarded* by;
- whether its result is used (``if cond.wait(5):``, ``ok = cond.wait(t)``),
  and whether it runs where an error is expected (``with
  self.assertRaises(RuntimeError):``, ``with pytest.raises(...):``).

:meth:`Conditions.called_in_loops` says whether every call of a function in
the module is made inside a loop (a helper that waits once, or a closure
defined and awaited in the loop that tests again).

:meth:`Conditions.holds` then says whether a call holds the condition's lock:
the condition itself, its shared lock, or another condition built on the same
lock (``with self.not_full: self.not_empty.notify()``). For that, every lock a
function takes (``with``, ``acquire()``) is classified where it is taken: a
condition and its lock, a lock of known type, or unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple, Union

import libcst as cst

from threadlint.api import CONDITION_HELD_METHODS, RAISES_CONTEXTS, TEST_CASE_RAISES
from threadlint.model.core import Model, Provider, Unit
from threadlint.model.locks import WEAK, Locks
from threadlint.model.names import Names
from threadlint.model.syntax import expr_key
from threadlint.model.threads import CallSite, Threads
from threadlint.model.values import ConditionConstructor, Values
from threadlint.walk import children


class _Unknown:
    """The lock a condition is built on, when it cannot be named."""

    def __repr__(self) -> str:
        return "UNKNOWN"


#: A condition's lock that cannot be named from the call's code.
UNKNOWN = _Unknown()
#: The key of a condition's lock: a key, None for a lock of its own, or UNKNOWN.
LockKey = Union[str, None, _Unknown]


@dataclass(frozen=True)
class ConditionCall:
    node: cst.Call
    method: str  # wait, wait_for, notify, notify_all or notifyAll
    receiver: cst.BaseExpression  # the condition, ``self._cond``
    key: str  # its key, as Locks spells the keys it holds
    kind: str  # whose waiters: thread, process or async
    unit: Optional[Unit]
    held: Tuple[str, ...]  # the locks held at the call, outermost first
    lock: LockKey  # the lock the condition is built on, as the call's code names it
    loop: Optional[cst.CSTNode]  # innermost While/For of the unit around the call
    guard: Optional[cst.If]  # innermost ``if`` inside that loop whose body or else holds the call
    in_else: bool  # the call is in the guard's ``else:``, not its body
    result_used: bool  # the call is not a statement of its own (``await`` aside)
    expects_error: bool  # inside ``with self.assertRaises(...):`` or ``pytest.raises``


#: What a lock taken in a function is: ("condition", its lock) or ("lock", None).
_Identity = Tuple[str, LockKey]
_LOOP, _GUARD, _ELSE = "loop", "guard", "else"


class Conditions(Provider):
    """Calls of condition variables' methods, with their locks and loops (fed)."""

    requires = (Names, Values, Locks, Threads)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self.values = model[Values]
        self._locks = model[Locks]
        self._threads = model[Threads]
        self._cursor = model.cursor
        self.fed = b"Condition" in model.source
        #: Every call of a condition's methods, in source order.
        self.calls: List[ConditionCall] = []
        # What each lock key a unit takes is; None where two places disagree.
        self._identities: Dict[Tuple[Optional[Unit], str], Optional[_Identity]] = {}
        # Per unit: the loops and guarding ifs around the current node.
        self._frames: List[List[Tuple[str, cst.CSTNode]]] = [[]]
        self._opens: Dict[cst.CSTNode, Tuple[str, cst.CSTNode]] = {}  # block -> what it opens
        self._pushed: List[bool] = []
        self._loop_tests: Dict[cst.CSTNode, cst.While] = {}  # a call in a while test -> the loop
        self._statements: Set[cst.CSTNode] = set()  # values of expression statements
        # The ``with`` blocks around that expect an error, and their units.
        self._raising: List[Tuple[cst.With, Optional[Unit]]] = []
        self._looped: Set[cst.Call] = set()  # every call made inside a loop of its unit
        self._callers: Optional[Dict[cst.CSTNode, List[CallSite]]] = None
        self._in_loops: Dict[cst.CSTNode, bool] = {}

    # -- queries ---------------------------------------------------------------------
    def holds(self, call: ConditionCall) -> Optional[bool]:
        """Whether ``call`` holds its condition's lock: True, False (no lock is
        held, or only locks known to be others), or None when a lock of
        unknown kind or identity is held (it may be the one)."""
        held = [key.lstrip(WEAK) for key in call.held]
        if not held:
            return False
        if call.lock is UNKNOWN:
            return None
        wanted: Set[str] = {call.key}
        if isinstance(call.lock, str):
            wanted.add(call.lock)
        verdict: Optional[bool] = False
        for key in held:
            if key in wanted:
                return True
            identity = self._identities.get((call.unit, key))
            if identity is None:
                verdict = None  # a lock of unknown kind: maybe this one
            elif identity[0] == "condition":
                lock = identity[1]
                if lock is UNKNOWN:
                    verdict = None
                elif isinstance(lock, str) and lock in wanted:
                    return True  # another condition on the same lock
        return verdict

    def called_in_loops(self, unit: Optional[Unit]) -> bool:
        """Every call of ``unit`` in the module is inside a loop of its caller,
        or in a function itself always called in loops; False for a function
        nobody in the module calls."""
        if unit is None:
            return False
        known = self._in_loops.get(unit)
        if known is None:
            self._in_loops[unit] = False  # a cycle of calls proves nothing
            if self._callers is None:
                self._callers = {}
                for sites in self._threads.calls.values():
                    for site in sites:
                        self._callers.setdefault(site.callee, []).append(site)
            sites = self._callers.get(unit, [])
            known = bool(sites) and all(site.node in self._looped or self.called_in_loops(site.caller)
                                        for site in sites)
            self._in_loops[unit] = known
        return known

    def lock_key(self, receiver: cst.BaseExpression,
                 made: List[ConditionConstructor]) -> LockKey:
        """The lock the condition ``receiver`` (made by ``made``) is built on, as
        the code around ``receiver`` names it: ``self._mutex`` for a condition
        built on ``self._mutex`` reached through ``self``, a module-level name,
        a local of the function that uses it; None when every construction
        makes its own lock (no argument, or a fresh ``Lock()``); else UNKNOWN."""
        keys = {self._construction_lock(receiver, construction) for construction in made}
        return keys.pop() if len(keys) == 1 else UNKNOWN

    def _construction_lock(self, receiver: cst.BaseExpression,
                           construction: ConditionConstructor) -> LockKey:
        lock = construction.lock
        if not construction.lock_known:
            return UNKNOWN
        if lock is None:
            return None
        if isinstance(lock, cst.Call):
            return None if self.values.is_any_lock(lock) else UNKNOWN
        owner = self.names.self_attribute(lock)
        if owner is not None:
            if isinstance(receiver, cst.Attribute):
                return f"{expr_key(receiver.value)}.{owner[1]}"
            return UNKNOWN
        if isinstance(lock, cst.Name):
            scope = self.names.scope_of(lock)
            binder = scope.owner_of(lock.value) if scope is not None else None
            if binder is not None and binder.kind == "module":
                return lock.value
            if isinstance(receiver, cst.Name) and binder is not None:
                here = self.names.scope_of(receiver)
                if here is not None and here.owner_of(receiver.value) is binder:
                    return lock.value  # both locals of one function
        return UNKNOWN

    # -- feeding: where a call runs -------------------------------------------------------
    def _new_frame(self, node: cst.CSTNode) -> None:
        self._frames.append([])

    def _drop_frame(self, node: cst.CSTNode) -> None:
        self._frames.pop()

    visit_FunctionDef = visit_Lambda = visit_ClassDef = _new_frame
    leave_FunctionDef = leave_Lambda = leave_ClassDef = _drop_frame

    def visit_If(self, node: cst.If) -> None:
        self._opens[node.body] = (_GUARD, node)
        if isinstance(node.orelse, cst.Else):
            self._opens[node.orelse.body] = (_ELSE, node)

    def visit_For(self, node: cst.For) -> None:
        self._opens[node.body] = (_LOOP, node)

    def visit_While(self, node: cst.While) -> None:
        self._opens[node.body] = (_LOOP, node)
        todo: List[cst.CSTNode] = [node.test]  # the test runs on every turn too
        while todo:
            current = todo.pop()
            if isinstance(current, cst.Lambda):
                continue
            if isinstance(current, cst.Call):
                self._loop_tests[current] = node
            todo.extend(children(current))

    def _enter_block(self, node: cst.CSTNode) -> None:
        opened = self._opens.pop(node, None)
        if opened is not None:
            self._frames[-1].append(opened)
        self._pushed.append(opened is not None)

    def _leave_block(self, node: cst.CSTNode) -> None:
        if self._pushed.pop():
            self._frames[-1].pop()

    visit_IndentedBlock = visit_SimpleStatementSuite = _enter_block
    leave_IndentedBlock = leave_SimpleStatementSuite = _leave_block

    # -- feeding: the locks taken and the calls ----------------------------------------
    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        self._statements.add(value.expression if isinstance(value, cst.Await) else value)

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            self._identify(item.item)
        if any(self._expects_error(item.item) for item in node.items):
            self._raising.append((node, self._cursor.unit))

    def leave_With(self, original_node: cst.With) -> None:
        if self._raising and self._raising[-1][0] is original_node:
            self._raising.pop()

    def _expects_error(self, expr: cst.BaseExpression) -> bool:
        """``pytest.raises(E)``, or ``self.assertRaises(E)`` in a test case."""
        if not isinstance(expr, cst.Call):
            return False
        if self.names.resolves_to(expr.func, RAISES_CONTEXTS) is not None:
            return True
        owner = self.names.self_attribute(expr.func)
        return owner is not None and owner[1] in TEST_CASE_RAISES \
            and owner[0] in self.values.classes.test_cases

    def _identify(self, expr: cst.BaseExpression) -> None:
        """Note what the lock ``expr`` taken here is (by its key in this unit)."""
        if not isinstance(expr, (cst.Name, cst.Attribute)):
            return
        made = self.values.conditions(expr)
        identity: Optional[_Identity] = None
        if made is not None:
            identity = ("condition", self.lock_key(expr, made))
        elif self.values.is_any_lock(expr):
            identity = ("lock", None)
        else:
            return
        where = (self._cursor.unit, expr_key(expr))
        if where in self._identities and self._identities[where] != identity:
            identity = None
        self._identities[where] = identity

    def visit_Call(self, node: cst.Call) -> None:
        frame = self._frames[-1]
        if node in self._loop_tests or any(role == _LOOP for role, _ in frame):
            self._looped.add(node)
        func = node.func
        if not isinstance(func, cst.Attribute):
            return
        method = func.attr.value
        if method == "acquire":
            self._identify(func.value)
            return
        if method not in CONDITION_HELD_METHODS:
            return
        made = self.values.conditions(func.value)
        if not made or len({c.kind for c in made}) != 1:
            return
        loop: Optional[cst.CSTNode] = self._loop_tests.get(node)
        guard: Optional[cst.If] = None
        in_else = False
        if loop is None:
            for role, owner in reversed(frame):
                if role == _LOOP:
                    loop = owner
                    break
                if guard is None and isinstance(owner, cst.If):
                    guard, in_else = owner, role == _ELSE
        raising = any(unit is self._cursor.unit for _, unit in self._raising)
        self.calls.append(ConditionCall(
            node, method, func.value, expr_key(func.value), made[0].kind, self._cursor.unit,
            tuple(self._locks.held_keys()), self.lock_key(func.value, made), loop, guard,
            in_else, node not in self._statements, raising))

    def finish(self) -> None:
        self._opens.clear()
        self._loop_tests.clear()
        self._statements.clear()
