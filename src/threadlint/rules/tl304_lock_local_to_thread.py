"""TL304 lock-local-to-thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Set, Tuple

import libcst as cst

from threadlint.analysis.locks import LOCK_METHODS, THREAD_LOCK_CONSTRUCTORS
from threadlint.analysis.scopes import Binding, Scope
from threadlint.analysis.thread_entry import ThreadFactsFeed, unit_label
from threadlint.rules.base import THREAD_ENTRY_NEEDS, Rule, snippet

if TYPE_CHECKING:  # pragma: no cover
    from threadlint.engine import LintContext

_GUARD_METHODS = frozenset({"acquire", "__enter__"})
_WAIT_METHODS = frozenset({"wait", "wait_for"})
_KIND_WORDS = {"lock": "lock", "rlock": "lock", "condition": "condition", "semaphore": "semaphore"}


@dataclass(eq=False)
class _LocalLock:
    scope: Scope
    name: str
    bindings: List[Binding]
    guarded: bool = False  # used as `with lock:` or `lock.acquire()`
    waited: bool = False  # `cond.wait(...)`: a sleep, not a guard
    escapes: bool = False  # referenced in any other way


class LockLocalToThread(ThreadFactsFeed, Rule):
    """## What it does
    Checks for a lock created as a local variable of a function that threads
    run (a thread target, a `Thread` subclass's `run()`, a pool task, or a
    function they call) and used only there, as `with lock:` or
    `lock.acquire()`.

    ## Why is this bad?
    Each call of the function makes its own lock, so every thread acquires a
    different one and none ever waits: the critical section is not protected.
    The code looks synchronised, which hides the race it was meant to prevent.

    ## Example
    ```python
    def worker(jobs):
        lock = threading.Lock()
        for job in jobs:
            with lock:
                results.append(run(job))

    for chunk in chunks:
        threading.Thread(target=worker, args=(chunk,)).start()
    ```

    ## Use instead
    ```python
    results_lock = threading.Lock()

    def worker(jobs):
        for job in jobs:
            with results_lock:
                results.append(run(job))
    ```

    ## Known limitations
    - Silent as soon as the lock is used in any other way than `with lock:`
      and its own methods in that function: passed to a call or a thread,
      stored in an attribute or container, returned, yielded, or used from a
      nested function or lambda (which may run in other threads and share it).
    - A local `Condition` that is waited on (a timed sleep) and a `Condition`
      built around another lock are not reported.
    - Only functions this module hands to threads, and the functions they
      call directly, are judged (see TL301); every binding of the name in the
      function must be a lock constructor.
    """

    code = "TL304"
    name = "lock-local-to-thread"
    summary = "a lock created locally in a function threads run, so every call gets its own"
    needs = THREAD_ENTRY_NEEDS

    def __init__(self, ctx: "LintContext") -> None:
        super().__init__(ctx)
        self.locks: Dict[Tuple[int, str], _LocalLock] = {}
        self.names: Set[str] = set()
        self._not_references: Set[cst.Name] = set()
        self._targets: Set[cst.Name] = set()
        self._guards: Set[cst.Name] = set()
        self._methods: Dict[cst.Name, str] = {}

    def visit_Module(self, node: cst.Module) -> None:
        super().visit_Module(node)  # type: ignore[misc]
        for info in self.analysis.functions.values():
            scope = info.scope
            for name, bindings in scope.bindings.items():
                if name in scope.global_names or name in scope.nonlocal_names:
                    continue
                if all(self._is_constructor(b) for b in bindings):
                    self.locks[(id(scope), name)] = _LocalLock(scope, name, list(bindings))
                    self.names.add(name)

    def _is_constructor(self, binding: Binding) -> bool:
        value = binding.value
        if binding.kind != "assign" or not isinstance(value, cst.Call) \
                or not isinstance(binding.node, (cst.Assign, cst.AnnAssign)):
            return False
        name = self.analysis.resolves_to(value.func, THREAD_LOCK_CONSTRUCTORS)
        if name is None:
            return False
        if THREAD_LOCK_CONSTRUCTORS[name] == "condition" and value.args:
            return False  # Condition(shared_lock) acquires a lock that may be shared
        return True

    # -- how each name is used: recorded on the parent before the Name is seen --
    def visit_Assign(self, node: cst.Assign) -> None:
        if self.names:
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self._targets.add(target.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if self.names and isinstance(node.target, cst.Name):
            self._targets.add(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if self.names and isinstance(node.item, cst.Name):
            self._guards.add(node.item)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if self.names:
            self._not_references.add(node.attr)

    def visit_Call(self, node: cst.Call) -> None:
        super().visit_Call(node)  # type: ignore[misc]
        func = node.func
        if self.names and isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and func.attr.value in LOCK_METHODS:
            self._methods[func.value] = func.attr.value

    def visit_Arg(self, node: cst.Arg) -> None:
        if self.names and node.keyword is not None:
            self._not_references.add(node.keyword)

    def visit_Param(self, node: cst.Param) -> None:
        if self.names:
            self._not_references.add(node.name)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value not in self.names or node in self._not_references:
            return
        scope = self.analysis.scope_of(node)
        owner = scope.owner_of(node.value) if scope is not None else None
        lock = self.locks.get((id(owner), node.value)) if owner is not None else None
        if lock is None:
            return
        if node in self._targets:
            return
        if scope is not owner:
            lock.escapes = True  # a nested function or lambda shares it
        elif node in self._guards:
            lock.guarded = True
        elif node in self._methods:
            method = self._methods[node]
            lock.guarded |= method in _GUARD_METHODS
            lock.waited |= method in _WAIT_METHODS
        else:
            lock.escapes = True

    # -- judging ---------------------------------------------------------------
    def leave_Module(self, original_node: cst.Module) -> None:
        super().leave_Module(original_node)  # type: ignore[misc]
        candidates = [lock for lock in self.locks.values()
                      if lock.guarded and not lock.escapes and not lock.waited]
        if not candidates:
            return
        reached = self.facts.reached(unlocked_only=False)
        for lock in candidates:
            entry = reached.get(lock.scope.node)
            if entry is None:
                continue
            function = unit_label(self.analysis, lock.scope.node)  # type: ignore[arg-type]
            where = entry.describe() if entry.unit is lock.scope.node else \
                f"'{function}' (reached from {entry.describe()})"
            for binding in lock.bindings:
                value = binding.value
                if not isinstance(value, cst.Call):
                    continue
                name = self.analysis.resolves_to(value.func, THREAD_LOCK_CONSTRUCTORS)
                kind = _KIND_WORDS.get(THREAD_LOCK_CONSTRUCTORS.get(name or "", ""), "lock")
                self.report(
                    value,
                    f"`{lock.name} = {snippet(value)}` makes a new {kind} on every call of "
                    f"{where}, so each thread acquires its own and none waits; create it once "
                    f"(at module level or in `__init__`) and share it",
                )
