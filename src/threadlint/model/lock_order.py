"""LockOrder: which lock is taken while which other is held, directly or
through calls, and whether a lock may be taken twice by one thread.

Derived from :class:`~threadlint.model.locks.Locks`' acquisitions. A lock is
identified by its binding, not its spelling:

- ``self._a`` in a method is ``(class, "_a")``, one identity for the whole
  class family (two instances of one class share it);
- a module-level name is ``(None, "a_lock")`` (a local of the same name
  shadows it: locals are not identified);
- anything else (a parameter, ``other._lock``, a helper's key) has no
  identity and takes no part.

An *edge* says that ``inner`` is acquired while ``outer`` is held: at a
``with``/``acquire()`` nested in another one's region, or at a call made with
``outer`` held of a function that takes ``inner`` (transitively, through
calls on ``self``, ``super()`` and plain names of this module, so the callee
runs on the same object). Only strong holds count as ``outer`` (a gate taken
and never released is not a nesting anyone wrote on purpose), and only
blocking acquisitions as ``inner`` (``acquire(False)`` and ``timeout=`` cannot
deadlock).
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Set, Tuple

import libcst as cst

from threadlint.model.core import Model, Provider, Unit
from threadlint.model.locks import SYNCHRONIZED, WEAK, Acquisition, Locks
from threadlint.model.names import Names
from threadlint.model.syntax import is_super_call
from threadlint.model.threads import Threads
from threadlint.model.values import Values

#: A lock's identity: (owning class or None for a module global, name).
LockId = Tuple[Optional[cst.ClassDef], str]
_MAX_CHAIN = 20  # calls followed from one call site


class Step(NamedTuple):
    """A call on the way from a held region to an acquisition."""

    call: cst.Call
    callee: cst.FunctionDef


class Edge(NamedTuple):
    """``inner`` acquired while ``outer`` is held."""

    outer: LockId
    inner: LockId
    outer_key: str  # as written where it is held: ``self._a``
    inner_key: str  # as written where it is acquired
    unit: Optional[Unit]  # where the nesting starts (holds ``outer``)
    site: cst.CSTNode  # the inner acquisition, or the call that leads to it
    acquisition: Acquisition  # the inner acquisition itself (maybe in a callee)
    chain: Tuple[Step, ...]  # calls from ``site`` to the acquisition; () when direct


class LockOrder(Provider):
    """Nestings of identified locks, and which locks are not re-entrant (derived)."""

    requires = (Names, Values, Locks, Threads)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self.values = model[Values]
        self.locks = model[Locks]
        self.threads = model[Threads]
        self._ids: Dict[Tuple[Optional[Unit], str], Optional[LockId]] = {}
        self._by_unit: Dict[Optional[Unit], List[Acquisition]] = {}
        for acquisition in self.locks.acquisitions:
            self._by_unit.setdefault(acquisition.unit, []).append(acquisition)
        self._reach: Dict[Unit, List[Tuple[Acquisition, Tuple[Step, ...]]]] = {}
        self._reentrant: Dict[LockId, Optional[bool]] = {}
        #: Every nesting, in source order of the unit that holds the outer lock.
        self.edges: List[Edge] = self._edges()

    # -- identity ------------------------------------------------------------------
    def identity(self, unit: Optional[Unit], key: str) -> Optional[LockId]:
        """The lock ``key`` names in ``unit`` (see the module docstring)."""
        memo = (unit, key)
        if memo not in self._ids:
            self._ids[memo] = self._identity(unit, key)
        return self._ids[memo]

    def _identity(self, unit: Optional[Unit], key: str) -> Optional[LockId]:
        if key.startswith(WEAK) or key == SYNCHRONIZED or key.startswith("call:"):
            return None
        base, _, attr = key.partition(".")
        if not base.isidentifier() or (attr and not attr.isidentifier()):
            return None  # `with self._locked():` - a call's result, not a binding
        if attr:
            if "." in attr or not isinstance(unit, cst.FunctionDef):
                return None
            method = self.names.method_of(unit)
            info = self.names.function_info(method) if method is not None else None
            if info is None or info.cls is None or info.self_name != base:
                return None
            family = self.values.classes.family(info.cls)
            return (min(family, key=self.names.classes.index), attr)
        scope = self.names.scope_of_node.get(unit) if unit is not None else self.names.module_scope
        owner = scope.owner_of(base) if scope is not None else None
        if owner is None or owner.kind != "module":
            return None
        return (None, base)

    # -- re-entrancy -----------------------------------------------------------------
    def reentrant(self, acquisition: Acquisition) -> Optional[bool]:
        """True for an ``RLock`` (or a ``Condition()`` on its default RLock),
        False for a ``Lock``, a ``Semaphore(1)``/``BoundedSemaphore(1)`` or a
        ``Condition`` on a Lock, None when the constructor is not known (or
        differs between assignments)."""
        kinds = self.values.made_by(acquisition.node, self._constructor_reentrant)
        if not kinds or len(set(kinds)) != 1:
            return None
        return kinds[0]

    def _constructor_reentrant(self, call: cst.Call) -> Optional[bool]:
        kind = self.values.lock_constructor(call)
        if kind == "lock":
            return False
        if kind == "rlock":
            return True
        if kind == "semaphore":
            args = [a for a in call.args if a.keyword is None or a.keyword.value == "value"]
            if not args:
                return False  # the default value is 1
            value = args[0].value
            return False if isinstance(value, cst.Integer) and value.value == "1" else None
        if kind == "condition":
            args = [a for a in call.args if a.keyword is None or a.keyword.value == "lock"]
            if not args:
                return True  # its default lock is an RLock
            inner = args[0].value
            if isinstance(inner, cst.Call):
                return self._constructor_reentrant(inner)
            found = self.values.made_by(inner, self._constructor_reentrant)
            return found[0] if found and len(set(found)) == 1 else None
        return None

    # -- nestings ----------------------------------------------------------------------
    def _edges(self) -> List[Edge]:
        edges: List[Edge] = []
        for unit, acquisitions in self._by_unit.items():
            for acquisition in acquisitions:
                if not acquisition.blocking:
                    continue
                inner = self.identity(unit, acquisition.key)
                if inner is None:
                    continue
                for held in acquisition.held:
                    outer_lock = self.identity(unit, held)
                    if outer_lock is not None:
                        edges.append(Edge(outer_lock, inner, held, acquisition.key, unit,
                                          acquisition.node, acquisition, ()))
        for unit, sites in self.threads.calls.items():
            for site in sites:
                if not site.held or not _same_object(self.names, site.node):
                    continue
                held_ids: List[Tuple[str, LockId]] = []
                for key in self.locks.held_at(site.node):
                    lock = self.identity(unit, key)
                    if lock is not None:
                        held_ids.append((key, lock))
                if not held_ids:
                    continue
                for acquisition, chain in self.reached(site.callee):
                    inner = self.identity(acquisition.unit, acquisition.key)
                    if inner is None:
                        continue
                    for outer_key, outer in held_ids:
                        edges.append(Edge(outer, inner, outer_key, acquisition.key, unit, site.node,
                                          acquisition, (Step(site.node, site.callee), *chain)))
        return edges

    def reached(self, unit: Unit) -> List[Tuple[Acquisition, Tuple[Step, ...]]]:
        """The blocking acquisitions ``unit`` makes when called, itself or
        through calls on the same object, each with the calls that lead to it
        (the first found per lock and place)."""
        found = self._reach.get(unit)
        if found is not None:
            return found
        self._reach[unit] = []  # a cycle of calls adds nothing new
        result: List[Tuple[Acquisition, Tuple[Step, ...]]] = []
        seen: Set[int] = set()
        for acquisition in self._by_unit.get(unit, ()):
            if acquisition.blocking and id(acquisition.node) not in seen:
                seen.add(id(acquisition.node))
                result.append((acquisition, ()))
        for site in self.threads.calls.get(unit, ()):
            if not _same_object(self.names, site.node):
                continue
            for acquisition, chain in self.reached(site.callee):
                if id(acquisition.node) not in seen and len(chain) < _MAX_CHAIN:
                    seen.add(id(acquisition.node))
                    result.append((acquisition, (Step(site.node, site.callee), *chain)))
        self._reach[unit] = result
        return result


def _same_object(names: Names, call: cst.Call) -> bool:
    """A call that runs on the caller's own object, or a plain function:
    ``self.m()``, ``super().m()``, ``f()``."""
    func = call.func
    if isinstance(func, cst.Name):
        return True
    if isinstance(func, cst.Attribute):
        return names.self_attribute(func) is not None or is_super_call(func.value)
    return False
