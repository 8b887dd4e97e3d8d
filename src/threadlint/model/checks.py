"""Checks: a test on a container or attribute followed by the act it allows.

Fed by the engine's replay. For every ``if`` whose test looks at a ``self``
attribute or a module-level name, and for ``d[k] = d.get(k, 0) + 1``, it
records a :class:`CheckThenAct`:

- ``member``: ``if k in d:`` then ``del d[k]``, ``d.pop(k)`` or ``d.remove(k)``;
- ``absent``: ``if k not in d:`` then ``d[k] = v``, ``d.add(k)`` or ``d.append(k)``;
- ``nonempty``: ``if d:`` (or ``if len(d):``) then ``d.pop()``, ``d.popleft()``
  or ``d[0]``;
- ``unset``: ``if x is None:`` (or ``if not x:``) then ``x = ...``, the lazy
  initialisation;
- ``increment``: ``d[k] = d.get(k, 0) + 1`` (or ``d[k] + 1``).

The act is any statement in the ``if`` body (nested blocks included, nested
functions not) acting on the same expression (``self._cache``, ``cache``).
An act inside an inner ``if`` that tests the same thing again counts as
*re-checked* (double-checked initialisation under a lock).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, Iterator, List, Optional, Tuple

import libcst as cst

from threadlint.model.core import Model, Provider, Unit
from threadlint.model.names import Names
from threadlint.model.syntax import expr_key
from threadlint.walk import children

MEMBER, ABSENT, NONEMPTY, UNSET, INCREMENT = "member", "absent", "nonempty", "unset", "increment"
_REMOVING = frozenset({"pop", "remove", "discard"})
_ADDING = frozenset({"add", "append"})
_TAKING = frozenset({"pop", "popleft"})
_SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)


@dataclass(frozen=True)
class CheckThenAct:
    unit: Unit
    pattern: str  # member, absent, nonempty, unset or increment
    subject: cst.BaseExpression  # the container or attribute tested
    test: cst.CSTNode  # the `if` statement (the assignment, for increment)
    act: cst.CSTNode  # the acting call, target or subscript
    statement: cst.CSTNode  # the simple statement line that acts
    rechecked: bool  # an inner `if` tests the same again around the act
    value: Optional[cst.BaseExpression] = None  # for `unset`: the value assigned

    @property
    def key(self) -> str:
        return expr_key(self.subject)


class Checks(Provider):
    """Every check-then-act on a ``self`` attribute or module-level name (fed)."""

    requires = (Names,)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self._cursor = model.cursor
        self.found: List[CheckThenAct] = []
        self._line: Optional[cst.SimpleStatementLine] = None

    # -- feeding -------------------------------------------------------------------
    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._line = node

    def visit_If(self, node: cst.If) -> None:
        unit = self._cursor.unit
        if unit is None:
            return
        test = _test(node.test)
        if test is None or not self._shared(test[1]):
            return
        pattern, subject, key = test
        for act, statement, rechecked, value in _acts(node.body, pattern, subject, key):
            self.found.append(CheckThenAct(unit, pattern, subject, node, act, statement,
                                           rechecked, value))

    def visit_Assign(self, node: cst.Assign) -> None:
        unit = self._cursor.unit
        if unit is None or len(node.targets) != 1 or self._line is None:
            return
        target = node.targets[0].target
        if not isinstance(target, cst.Subscript) or not self._shared(target.value):
            return
        key = expr_key(target.value)
        if _reads_same_item(node.value, key):
            self.found.append(CheckThenAct(unit, INCREMENT, target.value, node, target,
                                           self._line, False))

    def _shared(self, expr: cst.BaseExpression) -> bool:
        """``self.<attr>`` in a method, or a module-level name."""
        if isinstance(expr, cst.Attribute):
            return self.names.self_attribute(expr) is not None
        if isinstance(expr, cst.Name):
            scope = self.names.scope_of(expr)
            owner = scope.owner_of(expr.value) if scope is not None else None
            return owner is not None and owner.kind == "module"
        return False


def _test(test: cst.BaseExpression) -> Optional[Tuple[str, cst.BaseExpression, str]]:
    """(pattern, subject, key) of an ``if`` test that allows an act."""
    negated = False
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test, negated = test.expression, True
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        comparison = test.comparisons[0]
        operator, right = comparison.operator, comparison.comparator
        if isinstance(operator, (cst.In, cst.NotIn)) and isinstance(right, (cst.Name, cst.Attribute)):
            absent = isinstance(operator, cst.NotIn) != negated
            return (ABSENT if absent else MEMBER), right, expr_key(right)
        if isinstance(operator, cst.Is) and not negated and isinstance(right, cst.Name) \
                and right.value == "None" and isinstance(test.left, (cst.Name, cst.Attribute)):
            return UNSET, test.left, expr_key(test.left)
        return None
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "len" \
            and len(test.args) == 1:
        test = test.args[0].value
    if isinstance(test, (cst.Name, cst.Attribute)):
        return (UNSET if negated else NONEMPTY), test, expr_key(test)
    return None


def _acts(block: cst.BaseSuite, pattern: str, subject: cst.BaseExpression,
          key: str) -> Iterator[Tuple[cst.CSTNode, cst.CSTNode, bool,
                                      Optional[cst.BaseExpression]]]:
    """The acts on ``key`` in ``block`` that ``pattern`` made look safe, with
    their statement, whether the test is made again first, and the value an
    assignment stores.

    A test is made again by an inner ``if`` with the same test around the act,
    or by an earlier statement of the same block that leaves when the opposite
    holds (``if self._conn is not None: return self._conn``); when that guard
    opens a ``try`` body, the ``except`` and ``else`` blocks come after it too.
    """
    todo: List[Tuple[cst.CSTNode, bool, Optional[cst.SimpleStatementLine]]] = [
        (block, False, None)]
    while todo:
        node, rechecked, line = todo.pop()
        if isinstance(node, _SCOPES):
            continue  # a nested def or class runs later, or elsewhere
        if isinstance(node, cst.SimpleStatementLine):
            line = node
        if isinstance(node, cst.If):
            inner = _test(node.test)
            if inner is not None and inner[0] == pattern and inner[2] == key:
                rechecked = True
        act = _act(node, pattern, key) if line is not None else None
        if act is not None and line is not None:
            value = None
            for small in line.body:
                if isinstance(small, cst.Assign) and any(t is node for t in small.targets):
                    value = small.value
            yield act, line, rechecked, value
        todo.extend(reversed(_children_in_order(node, rechecked, line, pattern, key)))


def _children_in_order(node: cst.CSTNode, rechecked: bool,
                       line: Optional[cst.SimpleStatementLine], pattern: str,
                       key: str) -> List[Tuple[cst.CSTNode, bool,
                                               Optional[cst.SimpleStatementLine]]]:
    """``node``'s children, each with whether the test has been made again
    before it runs (see :func:`_acts`)."""
    if isinstance(node, cst.IndentedBlock):
        found: List[Tuple[cst.CSTNode, bool, Optional[cst.SimpleStatementLine]]] = []
        for statement in node.body:
            found.append((statement, rechecked, line))
            rechecked = rechecked or _leaves_unless(statement, pattern, key)
        return found
    if isinstance(node, cst.Try) and isinstance(node.body, cst.IndentedBlock) \
            and node.body.body and _leaves_unless(node.body.body[0], pattern, key):
        after = [*node.handlers, *([node.orelse] if node.orelse is not None else [])]
        return [(child, rechecked or child in after, line) for child in children(node)]
    return [(child, rechecked, line) for child in children(node)]


#: The test that forbids each act: ``if x is not None: return`` before ``x = ...``.
_OPPOSITE = {UNSET: NONEMPTY, NONEMPTY: UNSET, MEMBER: ABSENT, ABSENT: MEMBER}


def _leaves_unless(statement: cst.BaseStatement, pattern: str, key: str) -> bool:
    """``statement`` is an ``if`` (without ``else``) that tests the opposite
    of ``pattern`` on ``key`` and then leaves the block (``return``,
    ``raise``, ``continue``, ``break``)."""
    if not isinstance(statement, cst.If) or statement.orelse is not None:
        return False
    test = statement.test
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 \
            and isinstance(test.comparisons[0].operator, cst.IsNot) \
            and isinstance(test.comparisons[0].comparator, cst.Name) \
            and test.comparisons[0].comparator.value == "None":
        found: Optional[Tuple[str, str]] = (NONEMPTY, expr_key(test.left))
    else:
        parsed = _test(test)
        found = (parsed[0], parsed[2]) if parsed is not None else None
    if found is None or found != (_OPPOSITE.get(pattern), key):
        return False
    body = statement.body
    last = body.body[-1] if body.body else None
    if isinstance(last, cst.SimpleStatementLine) and last.body:
        last = last.body[-1]
    return isinstance(last, (cst.Return, cst.Raise, cst.Continue, cst.Break))


def _act(node: cst.CSTNode, pattern: str, key: str) -> Optional[cst.CSTNode]:
    if pattern == MEMBER:
        if isinstance(node, cst.Del) and isinstance(node.target, cst.Subscript) \
                and expr_key(node.target.value) == key:
            return node.target
        return _method_on(node, key, _REMOVING)
    if pattern == ABSENT:
        if isinstance(node, cst.AssignTarget) and isinstance(node.target, cst.Subscript) \
                and expr_key(node.target.value) == key:
            return node.target
        return _method_on(node, key, _ADDING)
    if pattern == NONEMPTY:
        return _method_on(node, key, _TAKING, no_args=True)
    if pattern == UNSET and isinstance(node, cst.AssignTarget) \
            and isinstance(node.target, (cst.Name, cst.Attribute)) and expr_key(node.target) == key:
        return node.target
    return None


def _method_on(node: cst.CSTNode, key: str, methods: FrozenSet[str],
               no_args: bool = False) -> Optional[cst.CSTNode]:
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
            and node.func.attr.value in methods and expr_key(node.func.value) == key \
            and (not no_args or not node.args or node.func.attr.value != "pop"
                 or _is_zero(node.args[0].value)):
        return node
    return None


def _is_zero(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Integer) and expr.value == "0"


def _reads_same_item(value: cst.BaseExpression, key: str) -> bool:
    """``d.get(k, 0) + 1`` or ``d[k] + 1`` (the count read, then written)."""
    if not isinstance(value, cst.BinaryOperation):
        return False
    for side in (value.left, value.right):
        if isinstance(side, cst.Call) and isinstance(side.func, cst.Attribute) \
                and side.func.attr.value == "get" and expr_key(side.func.value) == key:
            return True
        if isinstance(side, cst.Subscript) and expr_key(side.value) == key:
            return True
    return False
