"""Attributes: every write and in-place change of ``self.<attr>`` in a method.

Fed by the engine's replay. An *access* is a change of an attribute of the
object a method runs on (``self`` is the method's first parameter, also seen
from functions and lambdas nested in the method):

- ``write``: ``self.x = value`` (also in tuple targets, ``with ... as``);
- ``rmw``: ``self.x += 1`` (a read-modify-write);
- ``delete``: ``del self.x``;
- ``mutate``: ``self.x[k] = v``, ``del self.x[k]``, ``self.x[k] += 1``, or a
  mutating method call (``append``, ``pop``, ``update``, ``setdefault``,
  ``clear``...) on ``self.x``.

Each access is recorded with the unit that runs it (the method, or the
nested function or lambda), the locks held there (from
:class:`~threadlint.model.locks.Locks`) and whether its line carries the
comment ``# threadlint: benign-race``.

A ``read`` is any other load of ``self.x`` (``self.x`` in an expression,
``self.x.get(k)``, ``for v in self.x``), except a method of the class being
looked up to be called (``self.flush()``). Reads are recorded so that the
share of guarded accesses can weigh them; rules that judge changes skip them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

import libcst as cst

from threadlint.api import MUTATING_METHODS
from threadlint.model.core import Model, Provider, Unit
from threadlint.model.locks import Locks
from threadlint.model.names import Names, SelfAttr

#: Methods that change a container in place, whatever its kind.
CHANGING_METHODS: FrozenSet[str] = frozenset().union(*MUTATING_METHODS.values()) | frozenset({
    "appendleft", "popleft", "extendleft", "rotate"})
BENIGN_RACE = "threadlint: benign-race"

WRITE, RMW, DELETE, MUTATE, READ = "write", "rmw", "delete", "mutate", "read"
#: The kinds that change the attribute or what it holds.
CHANGES = frozenset({WRITE, RMW, DELETE, MUTATE})


@dataclass(frozen=True)
class Access:
    """One change of ``self.<attr>``."""

    owner: SelfAttr  # (class of the method, attribute name)
    node: cst.CSTNode  # what to report: the target, or the mutating call
    unit: Unit  # the def or lambda whose code makes the change
    kind: str  # write, rmw, delete, mutate or read
    held: Tuple[str, ...]  # keys of the locks held there
    method: Optional[str] = None  # for a mutating call: its name
    value: Optional[cst.BaseExpression] = None  # for a plain write: the value
    benign: bool = False  # the line says `# threadlint: benign-race`
    op: Optional[str] = None  # for a read-modify-write: its operator, `+=`

    @property
    def attr(self) -> str:
        return self.owner[1]


class Attributes(Provider):
    """Every change of a ``self`` attribute in the module's methods (fed)."""

    requires = (Names, Locks)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self._locks = model[Locks]
        self._cursor = model.cursor
        #: Every access, reads included, in source order.
        self.accesses: List[Access] = []
        #: The changes (no reads), in source order.
        self.changes: List[Access] = []
        self.by_owner: Dict[SelfAttr, List[Access]] = {}
        self._seen: Set[cst.Attribute] = set()  # `self.x` nodes recorded as a change
        self._benign = False  # the statement being visited has the comment

    # -- feeding -------------------------------------------------------------------
    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        comment = node.trailing_whitespace.comment
        self._benign = comment is not None and BENIGN_RACE in comment.value

    def _compound(self, node: cst.CSTNode) -> None:
        self._benign = False

    visit_If = visit_For = visit_While = visit_With = visit_Try = visit_FunctionDef = _compound

    def visit_Assign(self, node: cst.Assign) -> None:
        single = len(node.targets) == 1
        for target in node.targets:
            self._store(target.target, WRITE, node.value if single else None)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._store(node.target, WRITE, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        op = cst.Module(body=[]).code_for_node(node.operator).strip()
        self._store(node.target, RMW, None, op)

    def visit_Del(self, node: cst.Del) -> None:
        self._store(node.target, DELETE, None)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._store(node.asname.name, WRITE, None)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute):
            return
        if func.attr.value in CHANGING_METHODS:
            owner = self.names.self_attribute(func.value)
            if owner is not None and isinstance(func.value, cst.Attribute):
                self._seen.add(func.value)
                self._add(owner, node, MUTATE, func.attr.value, None)
        owner = self.names.self_attribute(func)
        if owner is not None and self.names.method(owner[0], owner[1]) is not None:
            self._seen.add(func)  # `self.flush()`: a method, not state

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node in self._seen:
            return
        owner = self.names.self_attribute(node)
        if owner is not None:
            self._add(owner, node, READ, None, None)

    def _store(self, target: cst.BaseExpression, kind: str,
               value: Optional[cst.BaseExpression], op: Optional[str] = None) -> None:
        if isinstance(target, cst.Attribute):
            owner = self.names.self_attribute(target)
            if owner is not None:
                self._seen.add(target)
                self._add(owner, target, kind, None, value, op)
        elif isinstance(target, cst.Subscript):
            owner = self.names.self_attribute(target.value)
            if owner is not None and isinstance(target.value, cst.Attribute):
                self._seen.add(target.value)
                self._add(owner, target, MUTATE, None, None)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._store(element.value, kind, None)
        elif isinstance(target, cst.StarredElement):
            self._store(target.value, kind, None)

    def _add(self, owner: SelfAttr, node: cst.CSTNode, kind: str, method: Optional[str],
             value: Optional[cst.BaseExpression], op: Optional[str] = None) -> None:
        unit = self._cursor.unit
        if unit is None:
            return
        access = Access(owner, node, unit, kind, tuple(self._locks.held_keys()), method, value,
                        self._benign, op)
        self.accesses.append(access)
        if kind != READ:
            self.changes.append(access)
        self.by_owner.setdefault(owner, []).append(access)
