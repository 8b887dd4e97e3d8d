"""Futures: what becomes of the result of each ``executor.submit()`` and ``executor.map()``.

An exception raised in an executor task travels in what the call returns:
the ``Future`` of ``submit`` raises it again from ``result()`` (and hands it
to ``add_done_callback``'s callbacks), the lazy iterator of ``map`` raises it
again when iteration reaches the failing item. Drop that value and the
exception is gone.

Fed the replay, this provider records every ``submit``/``map`` call on an
object known to be a ``concurrent.futures`` executor (:meth:`Values.made_by`
with :meth:`Values.executor_constructor`: a constructor call, a name or
``self`` attribute every binding of which is one, ``with ... as``, aliases of
the classes, local subclasses) and the values of the module's expression
statements. Finished, it follows each call's result through :mod:`flow`'s
roles, up through displays, comprehensions and ``x if c else y``, to where it
ends (:class:`Submission`):

- ``DROPPED``: it is the value of an expression statement;
- ``UNUSED``: it is assigned to local names of the function that assigns it,
  and no use of any of them is reached by that assignment
  (:meth:`Flow.uses_of`; uses in nested functions count);
- ``KEPT``: anything else: returned, yielded, passed to a call, iterated, a
  method called on it, stored in an attribute, a container or a global,
  used as a dict key, or in a place this module does not understand.

It also tells whether the task catches its own exceptions: the function
submitted (directly, through ``functools.partial``, or the function a lambda's
body calls) is a ``def`` of this module (:meth:`Values.local_function`) whose
work is all inside one ``try`` with a handler for ``Exception`` or
``BaseException`` (or a bare ``except:``) that does not raise again at its top
level. One-line set-up statements may come before that ``try`` and it may sit
in a ``while``/``for`` loop or a ``with`` block (a worker loop); after it
only ``pass``/``continue``/``break``/``return`` (see :meth:`Futures._handles`).
And it tells whether the executor's local class overrides the method called
(a wrapper that may handle the result itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Set, Tuple

import libcst as cst

from threadlint.api import BROAD_EXCEPTIONS, EXECUTOR_METHODS, PARTIAL
from threadlint.model.classes import Classes
from threadlint.model.core import Model, Provider
from threadlint.model.flow import ASSIGNED, ELEM, SAME, Def, Flow
from threadlint.model.names import FunctionInfo, Names
from threadlint.model.syntax import is_constant, keyword_or_positional
from threadlint.model.values import Values

DROPPED = "dropped"
UNUSED = "unused"
KEPT = "kept"

#: Values that hold their elements: a result that is one of their elements
#: goes where they go. (A generator expression runs nothing until iterated.)
_HOLDERS = (cst.List, cst.Tuple, cst.Set, cst.Dict, cst.ListComp, cst.SetComp, cst.DictComp)
_MAX_NESTING = 5  # of loops and with blocks around the try that catches everything


@dataclass(eq=False)
class Submission:
    """One ``executor.submit(...)`` or ``executor.map(...)`` and what becomes of its result."""

    call: cst.Call
    method: str  # submit or map
    task: Optional[cst.BaseExpression]  # the ``fn`` argument
    fate: str = KEPT  # DROPPED, UNUSED or KEPT
    #: For UNUSED: the bindings holding the result (or the container holding it).
    holders: List[Def] = field(default_factory=list)
    #: For UNUSED: a binding of the same name that always follows the first
    #: holder before any read (``f = pool.submit(a); f = pool.submit(b)``).
    rebinding: Optional[Def] = None
    #: The outermost display or comprehension the result is an element of.
    container: Optional[cst.CSTNode] = None
    #: The task is a local ``def`` that catches every exception and does not raise again.
    task_catches_all: bool = False
    #: The executor's local class overrides ``method``: what it returns is not known.
    overridden: bool = False


class Futures(Provider):
    """The result of every ``submit``/``map`` on a known executor (fed)."""

    requires = (Names, Classes, Values, Flow)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self.classes = model[Classes]
        self.values = model[Values]
        self.flow = model[Flow]
        self.submissions: List[Submission] = []
        self._statements: Set[cst.BaseExpression] = set()

    # -- feeding -------------------------------------------------------------------
    def visit_Expr(self, node: cst.Expr) -> None:
        self._statements.add(node.value)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in EXECUTOR_METHODS:
            return
        method = func.attr.value
        executors = self.values.made_by(func.value, self._executor_class)
        if executors is None:
            return
        task = keyword_or_positional(node, "fn", 0)
        self.submissions.append(Submission(
            node, method, task.value if task is not None else None,
            overridden=any(cls is not None and self.classes.lookup(cls, method) is not None
                           for _, cls in executors)))

    def _executor_class(self, call: cst.Call) -> Optional[Tuple[str, Optional[cst.ClassDef]]]:
        """The kind of executor ``call`` makes and its local class, if one."""
        kind = self.values.executor_constructor(call)
        if kind is None:
            return None
        definition = self.names.local_definition(call.func)
        return kind, definition if isinstance(definition, cst.ClassDef) else None

    def finish(self) -> None:
        for submission in self.submissions:
            self._follow(submission)
            submission.task_catches_all = self._catches_all(submission.task)

    # -- where the result goes -------------------------------------------------------
    def _follow(self, submission: Submission) -> None:
        node: cst.CSTNode = submission.call
        while node not in self._statements:
            role = self.flow.role_of(node)
            if role is None:
                return  # KEPT: returned, yielded, or somewhere not understood
            if role.kind == SAME or (role.kind == ELEM and isinstance(role.node, _HOLDERS)):
                assert role.node is not None  # flow.py sets it for both kinds
                node = role.node
                if role.kind == ELEM:
                    submission.container = node
                continue
            if role.kind == ASSIGNED:
                holders = self._unused_locals(role.targets)
                if holders:
                    submission.fate, submission.holders = UNUSED, holders
                    submission.rebinding = self._rebinding(holders[0])
            return  # KEPT: passed, iterated, a method called on it, stored elsewhere...
        submission.fate = DROPPED

    def _unused_locals(self, targets: Sequence[cst.BaseExpression]) -> Optional[List[Def]]:
        """The bindings of ``targets`` when every one is a plain name local to the
        function assigning it and none of them reaches a use; otherwise None."""
        if not self.flow.fed:
            return None
        found = []
        for target in targets:
            definition = self.flow.defs_by_target.get(target) if isinstance(target, cst.Name) else None
            if definition is None:
                return None
            scope = definition.scope
            if scope.kind != "function" or definition.site.unit is not scope.node \
                    or self.flow.uses_of(definition):
                return None
            found.append(definition)
        return found

    def _rebinding(self, definition: Def) -> Optional[Def]:
        """The first later binding of the name that runs whenever ``definition`` does."""
        later = [other for other in self.flow.defs.get((definition.scope, definition.name), ())
                 if definition.site.dominates(other.site)]
        return min(later, key=lambda other: other.site.index) if later else None

    # -- what the task does with its exceptions -------------------------------------------
    def task_function(self, task: Optional[cst.BaseExpression]) -> Optional[FunctionInfo]:
        """The ``def`` of this module ``task`` runs: the function itself,
        ``functools.partial(f, ...)``, or ``lambda: f(...)``."""
        if isinstance(task, cst.Call) and task.args and self.names.resolves_to(task.func, PARTIAL):
            task = task.args[0].value
        elif isinstance(task, cst.Lambda) and isinstance(task.body, cst.Call):
            task = task.body.func
        return self.values.local_function(task) if task is not None else None

    def _catches_all(self, task: Optional[cst.BaseExpression]) -> bool:
        info = self.task_function(task)
        return info is not None and self._handles(info.node.body, 0)

    def _handles(self, body: cst.BaseSuite, depth: int) -> bool:
        """The block's work is all inside one ``try`` that catches everything:
        one-line set-up statements (a docstring, ``self._set_running(job)``,
        ``idx = 0``; no ``raise``), then that ``try``, or a ``while``/``for``
        loop or ``with`` block whose body is such a block, then nothing but
        ``pass``, ``continue``, ``break`` or ``return`` of a name or constant."""
        if not isinstance(body, cst.IndentedBlock) or depth > _MAX_NESTING:
            return False
        statements = list(body.body)
        position = next((i for i, statement in enumerate(statements)
                         if isinstance(statement, cst.BaseCompoundStatement)), None)
        if position is None or any(_raising_line(statement) for statement in statements[:position]) \
                or not all(_idle_line(statement) for statement in statements[position + 1:]):
            return False
        block = statements[position]
        if isinstance(block, cst.Try):
            return any(self._broad(handler) and not _raises(handler) for handler in block.handlers)
        if (isinstance(block, (cst.While, cst.For)) and block.orelse is None) or isinstance(block, cst.With):
            return self._handles(block.body, depth + 1)
        return False

    def _broad(self, handler: cst.ExceptHandler) -> bool:
        """``except:``, ``except Exception`` or ``BaseException`` (alone or in a tuple)."""
        if handler.type is None:
            return True
        kinds = [element.value for element in handler.type.elements] \
            if isinstance(handler.type, cst.Tuple) else [handler.type]
        return any(self.names.resolves_to(kind, BROAD_EXCEPTIONS) is not None for kind in kinds)


def _raising_line(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) \
        and any(isinstance(small, cst.Raise) for small in statement.body)


def _idle_line(statement: cst.BaseStatement) -> bool:
    """``pass``, ``continue``, ``break``, or ``return`` of nothing, a name or a constant."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    for small in statement.body:
        if isinstance(small, cst.Return):
            if small.value is not None and not isinstance(small.value, cst.Name) \
                    and not is_constant(small.value):
                return False
        elif not isinstance(small, (cst.Pass, cst.Continue, cst.Break)):
            return False
    return True


def _raises(handler: cst.ExceptHandler) -> bool:
    """The handler raises again (or raises something else) at its top level."""
    body = handler.body
    if isinstance(body, cst.IndentedBlock):
        return any(_raising_line(statement) for statement in body.body)
    return isinstance(body, cst.SimpleStatementSuite) \
        and any(isinstance(small, cst.Raise) for small in body.body)  # except Exception: raise
