"""Contracts: what the code says about which lock guards what.

A small comment language, read from the source (and, with
``contracts-from-prose``, from names and docstrings):

- ``self._items = []  # guarded-by: self._lock`` on an assignment (in a
  method, in a class body, or at module level naming a module lock) declares
  that every access to that attribute or name outside construction holds
  that lock;
- ``def _flush(self):  # requires: self._lock`` declares that callers hold
  the lock; inside the function it counts as held;
- prose, when enabled: a method whose name ends in ``_locked`` requires a lock
  (which one is not said, so any lock satisfies it), and a docstring that says
  "must be called with X held", "caller must hold X" or "call with X held"
  (X a name such as ``self._lock``, ``_lock`` or ``the lock``) requires X.

Fed only for files that contain a contract (the comment words, or, with
prose, ``_locked`` or ``held``); elsewhere its tables stay empty. While fed it
records every access of a ``self`` attribute or module-level name, and every
call of a function of the module, with the locks held there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

import libcst as cst

from threadlint.compat import docstring as compat_docstring
from threadlint.model.core import Model, Provider, Unit
from threadlint.model.locks import WEAK, Locks
from threadlint.model.names import Names, SelfAttr
from threadlint.model.threads import Threads
from threadlint.needs import GUARDED_WORDS, REQUIRES_WORDS, has_prose_contract

ANY_LOCK = "*"
_GUARDED_BY = re.compile(r"guarded[-_ ]by:\s*([\w.]+)")
_REQUIRES = re.compile(r"requires:\s*([\w.]+)")
# Docstring phrases; only a sentence's first letter may be a capital.
_PROSE_PATTERN = (
    r"(?:[Mm]ust|[Ss]hould|[Hh]as to) be called (?:while holding|holding) (?:the )?`*([\w.]+)`*"
    r"|(?:[Mm]ust|[Ss]hould|[Hh]as to) be called with (?:the )?`*([\w.]+)`* (?:held|acquired|locked)"
    r"|[Cc]allers? (?:must|should) hold (?:the )?`*([\w.]+)`*"
    r"|[Cc]all(?:ed)? with (?:the )?`*([\w.]+)`* (?:held|acquired|locked)")
_PROSE = re.compile(_PROSE_PATTERN)
#: What a contract is about: a ``self`` attribute, or a module-level name.
Target = Union[SelfAttr, str]


@dataclass(frozen=True)
class GuardedBy:
    target: Target
    lock: str  # ``self._lock`` or a module-level name
    declaration: cst.CSTNode  # the assignment line that says so


@dataclass(frozen=True)
class Requires:
    function: cst.FunctionDef
    lock: str  # ANY_LOCK when the contract does not name one
    said_by: str  # "comment", "name" or "docstring"


@dataclass(frozen=True)
class Use:
    target: Target
    node: cst.CSTNode
    unit: Unit
    held: Tuple[str, ...]


@dataclass(frozen=True)
class Call:
    node: cst.Call
    callee: cst.FunctionDef
    unit: Optional[Unit]
    held: Tuple[str, ...]


class Contracts(Provider):
    """The module's lock contracts, and every use they constrain (fed)."""

    requires = (Names, Locks, Threads)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self._locks = model[Locks]
        self._threads = model[Threads]
        self._cursor = model.cursor
        self.prose = model.options.prose_contracts
        source = model.source
        self.fed = re.search(GUARDED_WORDS + b"|" + REQUIRES_WORDS, source) is not None or (
            self.prose and has_prose_contract(source))
        self.guarded: Dict[Target, GuardedBy] = {}
        self.required: Dict[cst.FunctionDef, Requires] = {}
        self.uses: List[Use] = []
        self.calls: List[Call] = []
        if self.fed:
            for info in self.names.functions.values():
                contract = self._requires(info.node)
                if contract is not None:
                    self.required[info.node] = contract

    # -- contracts ----------------------------------------------------------------
    def _requires(self, node: cst.FunctionDef) -> Optional[Requires]:
        body = node.body
        comment = body.header.comment if isinstance(body, cst.IndentedBlock) else None
        match = _REQUIRES.search(comment.value) if comment is not None else None
        if match:
            return Requires(node, match.group(1), "comment")
        if not self.prose:
            return None
        if node.name.value.endswith("_locked"):
            return Requires(node, ANY_LOCK, "name")
        docstring = compat_docstring(node)
        found = _PROSE.search(docstring) if docstring else None
        if found is None:
            return None
        said = next(group for group in found.groups() if group)
        return Requires(node, self._lock_name(node, said), "docstring")

    def _lock_name(self, node: cst.FunctionDef, said: str) -> str:
        """``_lock`` in a method's docstring means ``self._lock``; ``lock`` and
        ``mutex`` alone mean any lock."""
        info = self.names.functions.get(node)
        if said.lower() in ("lock", "mutex", "it"):
            return ANY_LOCK
        if info is not None and info.self_name is not None and "." not in said \
                and said not in self.names.module_scope.bindings:
            return f"{info.self_name}.{said}"
        return said

    def requirement(self, unit: Optional[Unit]) -> Optional[Requires]:
        return self.required.get(unit) if isinstance(unit, cst.FunctionDef) else None

    # -- feeding -------------------------------------------------------------------
    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        comment = node.trailing_whitespace.comment
        match = _GUARDED_BY.search(comment.value) if comment is not None else None
        if match is None:
            return
        for small in node.body:
            targets: List[cst.BaseExpression] = []
            if isinstance(small, cst.Assign):
                targets = [t.target for t in small.targets]
            elif isinstance(small, cst.AnnAssign):
                targets = [small.target]
            for target in targets:
                found = self._target(target)
                if found is not None:
                    self.guarded.setdefault(found, GuardedBy(found, match.group(1), node))

    def _target(self, expr: cst.BaseExpression) -> Optional[Target]:
        if isinstance(expr, cst.Attribute):
            return self.names.self_attribute(expr)
        if isinstance(expr, cst.Name):
            scope = self.names.scope_of(expr)
            owner = scope.owner_of(expr.value) if scope is not None else None
            if owner is None:
                return None
            if owner.kind == "module":
                return expr.value
            if owner.kind == "class" and isinstance(owner.node, cst.ClassDef):
                return (owner.node, expr.value)  # a class attribute, reached as self.x
        return None

    def _held(self) -> Tuple[str, ...]:
        held = tuple(key.lstrip(WEAK) for key in self._locks.held_keys())
        contract = self.requirement(self._cursor.function)
        return held + (contract.lock,) if contract is not None else held

    def visit_Attribute(self, node: cst.Attribute) -> None:
        unit = self._cursor.unit
        owner = self.names.self_attribute(node) if unit is not None else None
        if owner is not None and unit is not None:
            self.uses.append(Use(owner, node, unit, self._held()))

    def visit_Name(self, node: cst.Name) -> None:
        unit = self._cursor.unit
        if unit is None:
            return
        scope = self.names.scope_of(node)
        owner = scope.owner_of(node.value) if scope is not None else None
        if owner is not None and owner.kind == "module" and owner is not scope:
            self.uses.append(Use(node.value, node, unit, self._held()))

    def visit_Call(self, node: cst.Call) -> None:
        for callee in self._threads.callees(node.func):
            self.calls.append(Call(node, callee, self._cursor.unit, self._held()))

    # -- queries --------------------------------------------------------------------
    def lock_exists(self, contract: GuardedBy) -> bool:
        """The lock a contract names is something of this module: an attribute
        the class assigns (``self._lock``) or a module-level name."""
        lock = contract.lock
        if isinstance(contract.target, tuple) and "." in lock:
            base, _, attr = lock.partition(".")
            if base not in ("self", "cls") or "." in attr:
                return True  # another object's lock: not checked
            cls = contract.target[0]
            scope = self.names.scope_of_node.get(cls)
            return attr in self.names.self_attr_values.get(cls, {}) or (
                scope is not None and attr in scope.bindings)
        return lock in self.names.module_scope.bindings


def satisfied(lock: str, held: Tuple[str, ...]) -> bool:
    """Whether ``lock`` (or, for ANY_LOCK, some lock) is among ``held``."""
    if lock == ANY_LOCK:
        return bool(held)
    return lock in held or ANY_LOCK in held
