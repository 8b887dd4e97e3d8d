"""Local locks: locks a function creates for itself, and how it uses them.

Fed by the engine's replay. A *local lock* is a name of a function scope
every binding of which is a ``threading`` lock constructor
(``lock = threading.Lock()``; not ``Condition(other_lock)``, which acquires
a lock that may be shared). For each one it records whether the function
guards with it (``with lock:``, ``lock.acquire()``), waits on it
(``cond.wait()``), or lets it go anywhere else (passed, stored, returned,
used from a nested function or lambda): an *escape*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Set, Tuple

import libcst as cst

from threadlint.api import LOCK_METHODS
from threadlint.model.core import Model, Provider
from threadlint.model.names import Names
from threadlint.model.scopes import Binding, Scope
from threadlint.model.values import Values

_GUARD_METHODS = frozenset({"acquire", "__enter__"})
_WAIT_METHODS = frozenset({"wait", "wait_for"})


@dataclass(eq=False)
class LocalLock:
    scope: Scope
    name: str
    bindings: List[Binding]
    guarded: bool = False  # used as `with lock:` or `lock.acquire()`
    waited: bool = False  # `cond.wait(...)`: a sleep, not a guard
    escapes: bool = False  # referenced in any other way


class LocalLocks(Provider):
    """Every local lock of the module's functions (fed)."""

    requires = (Names, Values)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self.values = model[Values]
        self.locks: Dict[Tuple[int, str], LocalLock] = {}
        self._lock_names: Set[str] = set()
        self._not_references: Set[cst.Name] = set()
        self._targets: Set[cst.Name] = set()
        self._guards: Set[cst.Name] = set()
        self._methods: Dict[cst.Name, str] = {}

    def visit_Module(self, node: cst.Module) -> None:
        for info in self.names.functions.values():
            scope = info.scope
            for name, bindings in scope.bindings.items():
                if name in scope.global_names or name in scope.nonlocal_names:
                    continue
                if all(self._is_constructor(b) for b in bindings):
                    self.locks[(id(scope), name)] = LocalLock(scope, name, list(bindings))
                    self._lock_names.add(name)

    def _is_constructor(self, binding: Binding) -> bool:
        value = binding.value
        if binding.kind != "assign" or not isinstance(value, cst.Call) \
                or not isinstance(binding.node, (cst.Assign, cst.AnnAssign)):
            return False
        kind = self.values.lock_constructor(value)
        if kind is None:
            return False
        if kind == "condition" and value.args:
            return False  # Condition(shared_lock) acquires a lock that may be shared
        return True

    # -- how each name is used: recorded on the parent before the Name is seen --
    def visit_Assign(self, node: cst.Assign) -> None:
        if self._lock_names:
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self._targets.add(target.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if self._lock_names and isinstance(node.target, cst.Name):
            self._targets.add(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if self._lock_names and isinstance(node.item, cst.Name):
            self._guards.add(node.item)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if self._lock_names:
            self._not_references.add(node.attr)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if self._lock_names and isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and func.attr.value in LOCK_METHODS:
            self._methods[func.value] = func.attr.value

    def visit_Arg(self, node: cst.Arg) -> None:
        if self._lock_names and node.keyword is not None:
            self._not_references.add(node.keyword)

    def visit_Param(self, node: cst.Param) -> None:
        if self._lock_names:
            self._not_references.add(node.name)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value not in self._lock_names or node in self._not_references:
            return
        scope = self.names.scope_of(node)
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
