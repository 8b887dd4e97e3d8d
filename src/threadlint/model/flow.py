"""Flow: def-use, the role of every expression in its parent, sites in source order.

Fed by the engine's replay. For every expression it records the *role* it
plays in its parent (called as ``.join()``, passed to a call, assigned,
iterated...), for every binding and use of a name a :class:`Site` (rank in
source order, the chain of enclosing blocks, the unit that runs it), and
``self.<attr>`` uses per class. :meth:`Flow.reaching` then says which
bindings of a name may hold at a use: a binding in a block that encloses the
use hides every earlier one, and a later binding reaches an earlier use only
around a loop.

Only modules that import a threading API are fed (``threading``,
``multiprocessing``, ``concurrent``): elsewhere the tables stay empty, since
the only consumer so far follows threads and executors (:mod:`fates`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from threadlint.model.classes import Classes
from threadlint.model.core import Model, Provider
from threadlint.model.names import Names, SelfAttr
from threadlint.model.scopes import Scope
from threadlint.model.syntax import target_names

# -- roles: what the parent does with an expression's value -------------------
NEUTRAL = "neutral"  # looked at, compared, tested: the value goes nowhere
SAME = "same"  # the parent expression (node) has the same value (x if c else y, a or b)
ELEM = "elem"  # an element of a display or comprehension (node)
ITER = "iter"  # iterated by a for loop or comprehension (node)
METHOD = "method"  # receiver of a method call: name, call
ATTR = "attr"  # receiver of an attribute load: name
ATTR_STORE = "attr-store"  # receiver of an attribute store: name, value, node (the target)
SUBSCRIPT = "subscript"  # x[k] load: node (the subscript)
ARG = "arg"  # argument of a call: call, arg
ASSIGNED = "assigned"  # value of an assignment: targets
WALRUS = "walrus"  # value of (name := value): node (the named expression)
WITH = "with"  # item of a with statement: node (the with item)
EXTEND = "extend"  # right-hand side of ``container += value``: node (the container)
TARGET = "target"  # an attribute or subscript being assigned: value (None in tuples)
CALLEE = "callee"  # the function of a call: call


class Role(NamedTuple):
    """What a parent does with one expression; which fields are set depends on
    ``kind`` (see the constants above)."""

    kind: str
    node: Optional[cst.CSTNode] = None
    name: Optional[str] = None
    call: Optional[cst.Call] = None
    value: Optional[cst.BaseExpression] = None
    arg: Optional[cst.Arg] = None
    targets: Sequence[cst.BaseExpression] = ()


_NEUTRAL = Role(NEUTRAL)

#: Method calls whose site (rank) the rules ask for.
_INTERESTING_CALLS = frozenset({"start", "setDaemon", "is_alive", "isAlive"})
_ROOTS = ("threading", "multiprocessing", "concurrent")


class Site:
    """Where an event is: its rank in source order, the blocks around it (the
    unit's own node first, innermost block last) and its unit (the function,
    lambda or module whose code runs it)."""

    __slots__ = ("blocks", "index", "unit")

    def __init__(self, index: int, blocks: Tuple[cst.CSTNode, ...], unit: cst.CSTNode) -> None:
        self.index = index
        self.blocks = blocks
        self.unit = unit

    def dominates(self, other: Site) -> bool:
        """Runs before ``other`` on every path of the same unit that reaches it
        (ignoring exceptions): earlier, in a block that encloses ``other``."""
        return (self.unit is other.unit and self.index < other.index
                and self.blocks[-1] in other.blocks)


@dataclass(eq=False)
class Def:
    """One binding of a name, in our own order-aware form."""

    name: str
    scope: Scope
    kind: str  # assign, for, with, param, other
    value: Optional[cst.BaseExpression]
    site: Site
    target: Optional[cst.CSTNode]
    loop: Optional[cst.CSTNode] = None  # the For/CompFor of a loop variable


@dataclass(eq=False)
class Use:
    node: cst.Name
    scope: Scope
    site: Site


@dataclass(eq=False)
class AttrUse:
    node: cst.Attribute
    site: Site


class Flow(Provider):
    """Def-use and roles of one module (fed; see the module docstring)."""

    requires = (Names, Classes)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self.classes = model[Classes]
        self.module = model.module
        #: Whether this module imports a threading API; only then is it fed.
        self.fed = self.names.imports_any(_ROOTS)
        self.index = 0
        self.roles: Dict[cst.CSTNode, Role] = {}
        self._nonload: Set[cst.CSTNode] = set()
        self._in_import = 0
        self._cursor = model.cursor
        # The blocks around the current position, innermost last, from the
        # current unit's own node; saved for each enclosing unit.
        self._outer_blocks: List[Tuple[cst.CSTNode, ...]] = []
        self._blocks: Tuple[cst.CSTNode, ...] = (self.module,)
        self._transparent: Set[cst.CSTNode] = set()
        self._pending_defs: Dict[cst.CSTNode, List[Tuple[cst.Name, str, Optional[cst.CSTNode]]]] = {}
        self.loop_of_block: Dict[cst.CSTNode, cst.CSTNode] = {}
        self.block_span: Dict[cst.CSTNode, List[int]] = {}
        self.while_test_span: Dict[cst.CSTNode, Tuple[int, int]] = {}
        self.jumps: List[Tuple[str, Site]] = []
        self.defs: Dict[Tuple[Scope, str], List[Def]] = {}
        self.defs_by_target: Dict[cst.CSTNode, Def] = {}
        self.self_defs: Dict[cst.FunctionDef, Def] = {}
        self.uses: Dict[Tuple[Scope, str], List[Use]] = {}
        self.use_of_node: Dict[cst.Name, Use] = {}
        self.attr_uses: Dict[SelfAttr, List[AttrUse]] = {}
        self.attr_stores: Dict[SelfAttr, List[Site]] = {}
        self.foreign_attr_uses: Dict[str, List[cst.Attribute]] = {}
        self.self_calls: Dict[cst.ClassDef, List[Tuple[str, Site]]] = {}  # self.m(...)
        self.call_sites: Dict[cst.Call, Site] = {}
        self._reaching: Dict[Tuple[Scope, str], Dict[Def, List[Use]]] = {}

    # =========================================================================
    # Recording. Parents run before children, so a parent sets the role of its
    # children and a child reads the role its parent gave it.
    # =========================================================================
    def site(self) -> Site:
        """A new site at the current position (each call ranks after the last)."""
        self.index += 1
        return Site(self.index, self._blocks, self._cursor.code_unit or self.module)

    def _role(self, node: Optional[cst.CSTNode], role: Role) -> None:
        if node is not None:
            self.roles[node] = role

    # -- units and blocks ----------------------------------------------------
    def _enter_unit(self, node: cst.CSTNode) -> None:
        self._outer_blocks.append(self._blocks)
        self._blocks = (node,)

    def _leave_unit(self) -> None:
        self._blocks = self._outer_blocks.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._nonload.add(node.name)
        self._enter_unit(node)
        self._add_params(node.params, node)
        info = self.names.functions.get(node)
        if info is not None and info.self_name is not None:
            for definition in self.defs.get((info.scope, info.self_name), ()):
                if definition.kind == "param":
                    self.self_defs[node] = definition

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._leave_unit()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._enter_unit(node)
        self._add_params(node.params, node)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self._leave_unit()

    def _add_params(self, params: cst.Parameters, node: cst.CSTNode) -> None:
        scope = self.names.scope_of_node.get(node)
        if scope is None:
            return
        everything = list(params.posonly_params) + list(params.params) + list(params.kwonly_params)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                everything.append(star)
        site = self.site()
        for param in everything:
            self._nonload.add(param.name)
            self._record_def(param.name.value, scope, "param", None, site, param)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._nonload.add(node.name)

    def _visit_block(self, node: cst.CSTNode) -> None:
        if node not in self._transparent:
            self._blocks = self._blocks + (node,)
        self.block_span[node] = [self.index + 1, self.index + 1]
        pending = self._pending_defs.pop(node, None)
        if pending is not None:
            # A loop variable is bound at the top of every iteration, an
            # ``except ... as`` name only when its handler runs.
            site = self.site()
            for name, kind, loop in pending:
                self._add_def(name, kind, None, site, loop)
        self.index += 1

    def _leave_block(self, node: cst.CSTNode) -> None:
        if self._blocks[-1] is node:
            self._blocks = self._blocks[:-1]
        self.block_span[node][1] = self.index

    visit_IndentedBlock = visit_SimpleStatementSuite = _visit_block
    leave_IndentedBlock = leave_SimpleStatementSuite = _leave_block

    def visit_With(self, node: cst.With) -> None:
        # A with body always runs once the items are entered: no branch there.
        self._transparent.add(node.body)

    def visit_For(self, node: cst.For) -> None:
        self.loop_of_block[node.body] = node
        self._pending_defs[node.body] = [(name, "for", node) for name in target_names(node.target)]
        self._role(node.iter, Role(ITER, node))
        for name in target_names(node.target):
            self._nonload.add(name)

    def visit_While(self, node: cst.While) -> None:
        self.loop_of_block[node.body] = node
        self._role(node.test, _NEUTRAL)
        self.while_test_span[node] = (self.index, 0)

    def leave_While(self, original_node: cst.While) -> None:
        start, _ = self.while_test_span[original_node]
        body_start = self.block_span.get(original_node.body, [self.index])[0]
        self.while_test_span[original_node] = (start, body_start)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._role(node.iter, Role(ITER, node))
        site = self.site()
        for name in target_names(node.target):
            self._nonload.add(name)
            self._add_def(name, "for", None, site, node)
        for condition in node.ifs:
            self._role(condition.test, _NEUTRAL)

    def _jump(self, kind: str) -> None:
        self.jumps.append((kind, self.site()))

    def visit_Break(self, node: cst.Break) -> None:
        self._jump("break")

    def visit_Continue(self, node: cst.Continue) -> None:
        self._jump("continue")

    def visit_Return(self, node: cst.Return) -> None:
        self._jump("return")

    # -- imports and other names that are not loads --------------------------
    def visit_Import(self, node: Union[cst.Import, cst.ImportFrom]) -> None:
        self._in_import += 1

    def leave_Import(self, original_node: Union[cst.Import, cst.ImportFrom]) -> None:
        self._in_import -= 1

    visit_ImportFrom = visit_Import
    leave_ImportFrom = leave_Import

    def visit_NameItem(self, node: cst.NameItem) -> None:
        self._nonload.add(node.name)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._nonload.add(node.keyword)

    def visit_AsName(self, node: cst.AsName) -> None:
        if isinstance(node.name, cst.Name):
            self._nonload.add(node.name)

    def visit_ExceptHandler(self, node: Union[cst.ExceptHandler, cst.ExceptStarHandler]) -> None:
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self._pending_defs[node.body] = [(node.name.name, "other", None)]

    visit_ExceptStarHandler = visit_ExceptHandler

    # -- bindings ------------------------------------------------------------
    def _record_def(self, name: str, scope: Scope, kind: str,
                    value: Optional[cst.BaseExpression], site: Site,
                    target: Optional[cst.CSTNode], loop: Optional[cst.CSTNode] = None) -> Def:
        definition = Def(name, scope, kind, value, site, target, loop)
        self.defs.setdefault((scope, name), []).append(definition)
        if target is not None:
            self.defs_by_target[target] = definition
        return definition

    def _add_def(self, target: cst.Name, kind: str, value: Optional[cst.BaseExpression],
                 site: Site, loop: Optional[cst.CSTNode] = None) -> None:
        scope = self.names.scope_of(target)
        owner = scope.owner_of(target.value) if scope is not None else None
        if owner is not None:
            self._record_def(target.value, owner, kind, value, site, target, loop)

    def _mark_target(self, target: cst.BaseExpression, value: Optional[cst.BaseExpression]) -> None:
        """Mark an assignment target; ``value`` is None inside tuple targets."""
        if isinstance(target, cst.Name):
            self._nonload.add(target)
        elif isinstance(target, (cst.Attribute, cst.Subscript)):
            self._role(target, Role(TARGET, value=value))
        elif isinstance(target, (cst.Tuple, cst.List)):
            self._role(target, Role(TARGET))
            for element in target.elements:
                self._mark_target(element.value, None)
        elif isinstance(target, cst.StarredElement):
            self._role(target, Role(TARGET))
            self._mark_target(target.value, None)

    def _bind_targets(self, targets: List[cst.BaseExpression], value: Optional[cst.BaseExpression]) -> None:
        site = self.site()
        for target in targets:
            if isinstance(target, cst.Name):
                self._add_def(target, "assign", value, site)
            else:
                for name in target_names(target):
                    self._add_def(name, "other", None, site)

    def visit_Assign(self, node: cst.Assign) -> None:
        targets = [t.target for t in node.targets]
        self._role(node.value, Role(ASSIGNED, targets=targets))
        for target in targets:
            self._mark_target(target, node.value)

    def leave_Assign(self, original_node: cst.Assign) -> None:
        self._bind_targets([t.target for t in original_node.targets], original_node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is None:
            self._mark_target(node.target, None)
            self._role(node.target, _NEUTRAL)
            return
        self._role(node.value, Role(ASSIGNED, targets=[node.target]))
        self._mark_target(node.target, node.value)

    def leave_AnnAssign(self, original_node: cst.AnnAssign) -> None:
        if original_node.value is not None:
            self._bind_targets([original_node.target], original_node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        # ``x += y`` mutates a list in place: it is not a new binding of ``x``.
        self._role(node.target, _NEUTRAL)
        self._role(node.value, Role(EXTEND, node.target))

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._role(node.value, Role(WALRUS, node))
        if isinstance(node.target, cst.Name):
            self._nonload.add(node.target)

    def leave_NamedExpr(self, original_node: cst.NamedExpr) -> None:
        if isinstance(original_node.target, cst.Name):
            self._add_def(original_node.target, "assign", original_node.value, self.site())

    def visit_WithItem(self, node: cst.WithItem) -> None:
        self._role(node.item, Role(WITH, node))
        if node.asname is not None:
            self._mark_target(node.asname.name, None)

    def leave_WithItem(self, original_node: cst.WithItem) -> None:
        if original_node.asname is not None:
            target = original_node.asname.name
            if isinstance(target, cst.Name):
                self._add_def(target, "with", original_node.item, self.site())

    def visit_Del(self, node: cst.Del) -> None:
        self._role(node.target, _NEUTRAL)
        site = self.site()
        for name in target_names(node.target):
            self._nonload.add(name)
            self._add_def(name, "other", None, site)

    # -- expressions: roles of the children -----------------------------------
    def visit_If(self, node: cst.If) -> None:
        self._role(node.test, _NEUTRAL)

    def visit_Assert(self, node: cst.Assert) -> None:
        self._role(node.test, _NEUTRAL)
        self._role(node.msg, _NEUTRAL)

    def visit_Expr(self, node: cst.Expr) -> None:
        self._role(node.value, _NEUTRAL)

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._role(node.test, _NEUTRAL)
        self._role(node.body, Role(SAME, node))
        self._role(node.orelse, Role(SAME, node))

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> None:
        self._role(node.left, Role(SAME, node))
        self._role(node.right, Role(SAME, node))

    def visit_Comparison(self, node: cst.Comparison) -> None:
        self._role(node.left, _NEUTRAL)
        for comparison in node.comparisons:
            self._role(comparison.comparator, _NEUTRAL)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.Modulo) and isinstance(
                node.left, (cst.SimpleString, cst.ConcatenatedString)):
            self._role(node.right, _NEUTRAL)  # "%s" % t only formats it

    def visit_UnaryOperation(self, node: cst.UnaryOperation) -> None:
        self._role(node.expression, _NEUTRAL)

    def visit_FormattedStringExpression(self, node: cst.FormattedStringExpression) -> None:
        self._role(node.expression, _NEUTRAL)

    def visit_Index(self, node: cst.Index) -> None:
        self._role(node.value, _NEUTRAL)

    def visit_Slice(self, node: cst.Slice) -> None:
        for part in (node.lower, node.upper, node.step):
            self._role(part, _NEUTRAL)

    def _elements(self, node: Union[cst.List, cst.Tuple, cst.Set]) -> None:
        role = self.roles.get(node)
        if role is not None and role.kind == TARGET:
            return
        for element in node.elements:
            self._role(element.value, Role(ELEM, node))

    visit_List = visit_Tuple = visit_Set = _elements

    def visit_Dict(self, node: cst.Dict) -> None:
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                self._role(element.key, _NEUTRAL)
                self._role(element.value, Role(ELEM, node))

    def _comprehension(self, node: Union[cst.ListComp, cst.SetComp, cst.GeneratorExp]) -> None:
        self._role(node.elt, Role(ELEM, node))

    visit_ListComp = visit_SetComp = visit_GeneratorExp = _comprehension

    def visit_DictComp(self, node: cst.DictComp) -> None:
        self._role(node.key, _NEUTRAL)
        self._role(node.value, Role(ELEM, node))

    def visit_Subscript(self, node: cst.Subscript) -> None:
        role = self.roles.get(node)
        if role is not None and role.kind == TARGET:
            # ``c[k] = v``: what goes into ``c`` is followed from ``v``.
            self._role(node.value, _NEUTRAL)
            return
        if role is not None and role.kind == NEUTRAL:
            self._role(node.value, _NEUTRAL)
        elif any(isinstance(element.slice, cst.Slice) for element in node.slice):
            self._role(node.value, Role(SAME, node))  # x[:] copies the container
        else:
            self._role(node.value, Role(SUBSCRIPT, node))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._nonload.add(node.attr)
        attr = node.attr.value
        role = self.roles.get(node)
        kind = role.kind if role is not None else None
        if kind == CALLEE:
            assert role is not None
            self._role(node.value, Role(METHOD, name=attr, call=role.call))
        elif kind == TARGET:
            assert role is not None
            self._role(node.value, Role(ATTR_STORE, node, attr, value=role.value))
        else:
            self._role(node.value, Role(ATTR, name=attr))
        if not isinstance(node.value, cst.Name):
            return
        owner = self.names.self_attribute(node)
        if owner is None:
            self.foreign_attr_uses.setdefault(attr, []).append(node)
        elif kind == TARGET:
            self.attr_stores.setdefault(owner, []).append(self.site())
        else:
            site = self.site()
            self.attr_uses.setdefault(owner, []).append(AttrUse(node, site))
            if kind == CALLEE:
                self.self_calls.setdefault(owner[0], []).append((attr, site))

    def visit_Call(self, node: cst.Call) -> None:
        self._role(node.func, Role(CALLEE, call=node))
        for arg in node.args:
            self._role(arg.value, Role(ARG, call=node, arg=arg))
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _INTERESTING_CALLS:
            self.call_sites[node] = self.site()

    def visit_Name(self, node: cst.Name) -> None:
        if self._in_import or node in self._nonload:
            return
        scope = self.names.scope_of(node)
        owner = scope.owner_of(node.value) if scope is not None else None
        if owner is None:
            return
        use = Use(node, owner, self.site())
        self.uses.setdefault((owner, node.value), []).append(use)
        self.use_of_node[node] = use

    # -- reaching bindings -----------------------------------------------------
    def reaching(self, use: Use) -> List[Def]:
        """The bindings of the used name that may hold when ``use`` runs."""
        defs = self.defs.get((use.scope, use.node.value), [])
        site = use.site
        if use.scope.kind not in ("function", "module") or site.unit is not use.scope.node:
            return list(defs)  # comprehensions, closures, names used from other functions
        local = [d for d in defs if d.site.unit is site.unit]  # in source order
        result = [d for d in defs if d.site.unit is not site.unit]
        # Walking back from the use, a binding in a block that encloses the use
        # runs on every path to it: it reaches, and hides every earlier one.
        earlier = [d for d in local if d.site.index < site.index]
        for definition in reversed(earlier):
            result.append(definition)
            if definition.site.blocks[-1] in site.blocks:
                break
        for definition in local[len(earlier):]:
            if self._loops_back(definition, site, local):
                result.append(definition)
        return result

    def _loops_back(self, definition: Def, site: Site, killers: List[Def]) -> bool:
        """A binding later in the source reaches an earlier use only around a loop
        enclosing both, unless the loop rebinds the name before the use."""
        loop = None
        for block in reversed(site.blocks):
            if block in self.loop_of_block and block in definition.site.blocks:
                loop = block
                break
        if loop is None:
            return False
        top = self.block_span[loop][0]
        return not any(top <= k.site.index < site.index and k.site.blocks[-1] in site.blocks
                       and loop in k.site.blocks for k in killers)

    def uses_of(self, definition: Def) -> List[Use]:
        key = (definition.scope, definition.name)
        table = self._reaching.get(key)
        if table is None:
            table = {}
            for use in self.uses.get(key, ()):
                for reaching in self.reaching(use):
                    table.setdefault(reaching, []).append(use)
            self._reaching[key] = table
        return table.get(definition, [])

    # -- queries ---------------------------------------------------------------
    def role_of(self, node: cst.CSTNode) -> Optional[Role]:
        """What the parent does with ``node``'s value; None where unknown."""
        return self.roles.get(node)

    def attr_uses_of(self, handle: SelfAttr) -> List[AttrUse]:
        cls, attr = handle
        found: List[AttrUse] = []
        for member in self.classes.family(cls):
            found.extend(self.attr_uses.get((member, attr), ()))
        return found

    def attr_may_change(self, handle: SelfAttr, unit: cst.CSTNode,
                        first: int, last: int) -> bool:
        """Whether ``self.<attr>`` may be rebound between two ranks of one unit: it is
        assigned there, or a method of the class (which might assign it) is called."""
        cls, attr = handle
        for member in self.classes.family(cls):
            for site in self.attr_stores.get((member, attr), ()):
                if site.unit is unit and first < site.index < last:
                    return True
            for name, site in self.self_calls.get(member, ()):
                if site.unit is unit and first < site.index < last \
                        and self.classes.lookup(cls, name) is not None:
                    return True
        return False

    def defs_between(self, definition: Def, first: int, last: int) -> bool:
        """Whether the name of ``definition`` is rebound between two source ranks."""
        return any(first < d.site.index < last
                   for d in self.defs.get((definition.scope, definition.name), ()))
