"""What happens to each thread and executor a module creates.

TL201-TL204 all ask the same question: where does the object made by a
``Thread(...)`` or ``ThreadPoolExecutor(...)`` call go, and what is done to it
there (started, joined, made a daemon, shut down, handed to someone else)?
One :class:`LifecycleCollector` answers it for all four rules.

During the engine's single traversal the collector only *records*: the role
each expression plays in its parent (called as ``.join()``, passed to a call,
assigned, iterated...), every binding and every use of every name with its
position (source order plus the chain of enclosing blocks), ``self.<attr>``
uses per class, and a few class facts. Nothing is judged until the module has
been seen: :meth:`LifecycleCollector.finish` then follows each creation
through its *locations* (a binding of a local name, a ``self`` attribute, or
the elements of a container held in one of those) and sums what it finds in a
:class:`Fate`.

Precision comes first everywhere: an expression in a position the collector
does not understand counts as an *escape*, and an escaped object is never
reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple, Union

import libcst as cst

from threadlint.analysis.model import (
    EXECUTOR_CONSTRUCTORS,
    THREAD_CONSTRUCTORS,
    ModuleAnalysis,
    ThreadConstructor,
)
from threadlint.analysis.scopes import Scope

# -- roles: what the parent does with an expression's value -------------------
NEUTRAL = "neutral"  # looked at, compared, tested: the value goes nowhere
SAME = "same"  # the parent expression has the same value (x if c else y, a or b)
ELEM = "elem"  # an element of a list/tuple/set/dict display or comprehension
ITER = "iter"  # iterated by a for loop or comprehension
METHOD = "method"  # receiver of a method call: (METHOD, name, call)
ATTR = "attr"  # receiver of an attribute load: (ATTR, name)
ATTR_STORE = "attr-store"  # receiver of an attribute store: (ATTR_STORE, name, value, target)
SUBSCRIPT = "subscript"  # x[k] load: (SUBSCRIPT, subscript node)
ARG = "arg"  # argument of a call: (ARG, call, arg)
ASSIGNED = "assigned"  # value of an assignment: (ASSIGNED, [targets])
WALRUS = "walrus"  # value of (name := value): (WALRUS, named_expr)
WITH = "with"  # item of a with statement
EXTEND = "extend"  # right-hand side of ``container += value``: (EXTEND, container)
TARGET = "target"  # an attribute or subscript being assigned: (TARGET, value or None)
CALLEE = "callee"  # the function of a call

Role = Tuple  # (kind, *details)

#: Container methods that put their argument into the container: name -> position.
_ADD_METHODS = {"append": 0, "add": 0, "appendleft": 0, "insert": 1, "setdefault": 1}
#: Container methods returning one element.
_ELEMENT_METHODS = frozenset({"pop", "popleft", "get", "__getitem__"})
#: Container methods returning a container of the same elements.
_COPY_METHODS = frozenset({"copy", "values", "items"})
#: Container methods that neither leak nor return the elements.
_CONTAINER_NEUTRAL = frozenset({
    "append", "add", "appendleft", "insert", "extend", "remove", "discard", "clear", "index",
    "count", "sort", "reverse", "keys", "setdefault", "update", "__len__", "__contains__",
})
#: Builtins that only look at their argument.
_NEUTRAL_BUILTINS = frozenset({
    "print", "len", "repr", "str", "id", "isinstance", "hash", "type", "bool", "format",
    "callable", "hasattr", "getattr", "super", "vars", "dir",
})
#: Builtins returning a container holding the same elements as their first argument.
_TRANSPARENT_BUILTINS = frozenset({
    "list", "tuple", "set", "frozenset", "sorted", "reversed", "iter", "enumerate",
})
#: Logging calls only format their arguments.
_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical",
                          "log"})
#: Calls that make a fresh container nobody else holds.
_FRESH_CONTAINERS = frozenset({
    "builtins.list", "builtins.set", "builtins.dict", "collections.deque",
    "collections.OrderedDict", "collections.defaultdict", "weakref.WeakSet",
    "weakref.WeakValueDictionary",
})
_FRESH_DISPLAYS = (cst.List, cst.Set, cst.Dict, cst.ListComp, cst.SetComp, cst.DictComp)
#: Methods of a started thread, process or executor that end its life cleanly.
_HANDLING_METHODS = frozenset({"cancel", "terminate", "kill", "close", "shutdown", "__exit__"})

_INTERESTING_CALLS = frozenset({"start", "setDaemon", "is_alive", "isAlive"})


class Site:
    """Where an event is: its rank in source order, the blocks around it (the
    unit's own node first, innermost block last) and its unit (the function,
    lambda or module whose code runs it)."""

    __slots__ = ("index", "blocks", "unit")

    def __init__(self, index: int, blocks: Tuple[cst.CSTNode, ...], unit: cst.CSTNode) -> None:
        self.index = index
        self.blocks = blocks
        self.unit = unit

    def dominates(self, other: "Site") -> bool:
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


@dataclass(eq=False)
class Creation:
    """A call that makes a thread-like object or an executor."""

    node: cst.Call
    kind: str  # thread, timer, process (threads) or thread, process (executors)
    is_executor: bool
    ctor: Optional[ThreadConstructor]
    site: Optional[Site]


Handle = Union[Def, Tuple[cst.ClassDef, str]]


@dataclass(eq=False)
class Fate:
    """Everything that may happen to one created object."""

    creation: Creation
    starts: List[cst.Call] = field(default_factory=list)
    joined: bool = False
    handled: bool = False  # cancelled, terminated, shut down, used as a context manager
    daemon: bool = False  # made a daemon, or the flag is set to a value we cannot read
    escaped: bool = False
    var_defs: List[Def] = field(default_factory=list)  # bindings holding the object itself
    attrs: List[Tuple[cst.ClassDef, str]] = field(default_factory=list)
    in_container: bool = False

    @property
    def settled(self) -> bool:
        return self.joined or self.handled or self.daemon or self.escaped


def literal_bool(expr: Optional[cst.BaseExpression]) -> Optional[bool]:
    if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
        return expr.value == "True"
    if isinstance(expr, cst.Integer):
        return expr.value != "0"
    return None


def _target_names(target: cst.BaseExpression) -> Iterable[cst.Name]:
    if isinstance(target, cst.Name):
        yield target
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)


class LifecycleCollector:
    """Records during the traversal; judges in :meth:`finish`."""

    def __init__(self, analysis: ModuleAnalysis, module: cst.Module) -> None:
        self.analysis = analysis
        self.module = module
        self.index = 0
        self.active, self._constructor_names = _imports_concurrency(analysis)
        self.roles: Dict[cst.CSTNode, Role] = {}
        self._nonload: Set[cst.CSTNode] = set()
        self._in_import = 0
        self._unit_stack: List[Tuple[cst.CSTNode, Tuple[cst.CSTNode, ...]]] = []
        self._unit: cst.CSTNode = module
        self._blocks: Tuple[cst.CSTNode, ...] = (module,)
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
        self.attr_uses: Dict[Tuple[cst.ClassDef, str], List[AttrUse]] = {}
        self.attr_stores: Dict[Tuple[cst.ClassDef, str], List[Site]] = {}
        self.foreign_attr_uses: Dict[str, List[cst.Attribute]] = {}
        self.self_calls: Dict[cst.ClassDef, List[Tuple[str, Site]]] = {}  # self.m(...)
        self.call_sites: Dict[cst.Call, Site] = {}
        self.creations: List[Creation] = []
        self.class_daemon: Dict[cst.ClassDef, List[Optional[cst.BaseExpression]]] = {}
        self.thread_listings: List[cst.Call] = []  # threading.enumerate()
        self.reaps_processes = False  # multiprocessing.active_children() joins finished children
        self._reaching: Dict[Tuple[Scope, str], Dict[Def, List[Use]]] = {}
        self._families: Dict[cst.ClassDef, List[cst.ClassDef]] = {}
        self._finished = False
        self._seen_handles: Set[Tuple[object, int]] = set()
        self.walk_started = False
        self.fates: List[Fate] = []
        self.joins_all_threads = False

    # =========================================================================
    # Recording. Parents run before children, so a parent sets the role of its
    # children and a child reads the role its parent gave it.
    # =========================================================================
    def _site(self) -> Site:
        self.index += 1
        return Site(self.index, self._blocks, self._unit)

    def _role(self, node: Optional[cst.CSTNode], role: Role) -> None:
        if node is not None:
            self.roles[node] = role

    # -- units and blocks ----------------------------------------------------
    def _enter_unit(self, node: cst.CSTNode) -> None:
        self._unit_stack.append((self._unit, self._blocks))
        self._unit = node
        self._blocks = (node,)

    def _leave_unit(self) -> None:
        self._unit, self._blocks = self._unit_stack.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._nonload.add(node.name)
        self._enter_unit(node)
        self._add_params(node.params, node)
        info = self.analysis.functions.get(node)
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
        scope = self.analysis.scope_of_node.get(node)
        if scope is None:
            return
        everything = list(params.posonly_params) + list(params.params) + list(params.kwonly_params)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                everything.append(star)
        site = self._site()
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
            site = self._site()
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
        self._pending_defs[node.body] = [(name, "for", node) for name in _target_names(node.target)]
        self._role(node.iter, (ITER, node))
        for name in _target_names(node.target):
            self._nonload.add(name)

    def visit_While(self, node: cst.While) -> None:
        self.loop_of_block[node.body] = node
        self._role(node.test, (NEUTRAL,))
        self.while_test_span[node] = (self.index, 0)

    def leave_While(self, original_node: cst.While) -> None:
        start, _ = self.while_test_span[original_node]
        body_start = self.block_span.get(original_node.body, [self.index])[0]
        self.while_test_span[original_node] = (start, body_start)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._role(node.iter, (ITER, node))
        site = self._site()
        for name in _target_names(node.target):
            self._nonload.add(name)
            self._add_def(name, "for", None, site, node)
        for condition in node.ifs:
            self._role(condition.test, (NEUTRAL,))

    def _jump(self, kind: str) -> None:
        self.jumps.append((kind, self._site()))

    def visit_Break(self, node: cst.Break) -> None:
        self._jump("break")

    def visit_Continue(self, node: cst.Continue) -> None:
        self._jump("continue")

    def visit_Return(self, node: cst.Return) -> None:
        self._jump("return")

    # -- imports and other names that are not loads --------------------------
    def visit_Import(self, node: cst.Import) -> None:
        self._in_import += 1

    def leave_Import(self, original_node: cst.Import) -> None:
        self._in_import -= 1

    visit_ImportFrom = visit_Import  # type: ignore[assignment]
    leave_ImportFrom = leave_Import  # type: ignore[assignment]

    def visit_NameItem(self, node: cst.NameItem) -> None:
        self._nonload.add(node.name)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._nonload.add(node.keyword)

    def visit_AsName(self, node: cst.AsName) -> None:
        if isinstance(node.name, cst.Name):
            self._nonload.add(node.name)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self._pending_defs[node.body] = [(node.name.name, "other", None)]

    visit_ExceptStarHandler = visit_ExceptHandler  # type: ignore[assignment]

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
        scope = self.analysis.scope_of(target)
        owner = scope.owner_of(target.value) if scope is not None else None
        if owner is not None:
            self._record_def(target.value, owner, kind, value, site, target, loop)

    def _mark_target(self, target: cst.BaseExpression, value: Optional[cst.BaseExpression]) -> None:
        """Mark an assignment target; ``value`` is None inside tuple targets."""
        if isinstance(target, cst.Name):
            self._nonload.add(target)
        elif isinstance(target, (cst.Attribute, cst.Subscript)):
            self._role(target, (TARGET, value))
        elif isinstance(target, (cst.Tuple, cst.List)):
            self._role(target, (TARGET, None))
            for element in target.elements:
                self._mark_target(element.value, None)
        elif isinstance(target, cst.StarredElement):
            self._role(target, (TARGET, None))
            self._mark_target(target.value, None)

    def _bind_targets(self, targets: List[cst.BaseExpression], value: Optional[cst.BaseExpression]) -> None:
        site = self._site()
        for target in targets:
            if isinstance(target, cst.Name):
                self._add_def(target, "assign", value, site)
            else:
                for name in _target_names(target):
                    self._add_def(name, "other", None, site)

    def visit_Assign(self, node: cst.Assign) -> None:
        targets = [t.target for t in node.targets]
        self._role(node.value, (ASSIGNED, targets))
        for target in targets:
            self._mark_target(target, node.value)
        self._class_daemon_assign(targets, node.value)

    def leave_Assign(self, original_node: cst.Assign) -> None:
        self._bind_targets([t.target for t in original_node.targets], original_node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is None:
            self._mark_target(node.target, None)
            self._role(node.target, (NEUTRAL,))
            return
        self._role(node.value, (ASSIGNED, [node.target]))
        self._mark_target(node.target, node.value)
        self._class_daemon_assign([node.target], node.value)

    def leave_AnnAssign(self, original_node: cst.AnnAssign) -> None:
        if original_node.value is not None:
            self._bind_targets([original_node.target], original_node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        # ``x += y`` mutates a list in place: it is not a new binding of ``x``.
        self._role(node.target, (NEUTRAL,))
        self._role(node.value, (EXTEND, node.target))

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._role(node.value, (WALRUS, node))
        if isinstance(node.target, cst.Name):
            self._nonload.add(node.target)

    def leave_NamedExpr(self, original_node: cst.NamedExpr) -> None:
        if isinstance(original_node.target, cst.Name):
            self._add_def(original_node.target, "assign", original_node.value, self._site())

    def visit_WithItem(self, node: cst.WithItem) -> None:
        self._role(node.item, (WITH, node))
        if node.asname is not None:
            self._mark_target(node.asname.name, None)

    def leave_WithItem(self, original_node: cst.WithItem) -> None:
        if original_node.asname is not None:
            target = original_node.asname.name
            if isinstance(target, cst.Name):
                self._add_def(target, "with", original_node.item, self._site())

    def visit_Del(self, node: cst.Del) -> None:
        self._role(node.target, (NEUTRAL,))
        site = self._site()
        for name in _target_names(node.target):
            self._nonload.add(name)
            self._add_def(name, "other", None, site)

    # -- expressions: roles of the children -----------------------------------
    def visit_If(self, node: cst.If) -> None:
        self._role(node.test, (NEUTRAL,))

    def visit_Assert(self, node: cst.Assert) -> None:
        self._role(node.test, (NEUTRAL,))
        self._role(node.msg, (NEUTRAL,))

    def visit_Expr(self, node: cst.Expr) -> None:
        self._role(node.value, (NEUTRAL,))

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._role(node.test, (NEUTRAL,))
        self._role(node.body, (SAME, node))
        self._role(node.orelse, (SAME, node))

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> None:
        self._role(node.left, (SAME, node))
        self._role(node.right, (SAME, node))

    def visit_Comparison(self, node: cst.Comparison) -> None:
        self._role(node.left, (NEUTRAL,))
        for comparison in node.comparisons:
            self._role(comparison.comparator, (NEUTRAL,))

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.Modulo) and isinstance(
                node.left, (cst.SimpleString, cst.ConcatenatedString)):
            self._role(node.right, (NEUTRAL,))  # "%s" % t only formats it

    def visit_UnaryOperation(self, node: cst.UnaryOperation) -> None:
        self._role(node.expression, (NEUTRAL,))

    def visit_FormattedStringExpression(self, node: cst.FormattedStringExpression) -> None:
        self._role(node.expression, (NEUTRAL,))

    def visit_Index(self, node: cst.Index) -> None:
        self._role(node.value, (NEUTRAL,))

    def visit_Slice(self, node: cst.Slice) -> None:
        for part in (node.lower, node.upper, node.step):
            self._role(part, (NEUTRAL,))

    def _elements(self, node: Union[cst.List, cst.Tuple, cst.Set]) -> None:
        role = self.roles.get(node)
        if role is not None and role[0] == TARGET:
            return
        for element in node.elements:
            self._role(element.value, (ELEM, node))

    visit_List = visit_Tuple = visit_Set = _elements

    def visit_Dict(self, node: cst.Dict) -> None:
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                self._role(element.key, (NEUTRAL,))
                self._role(element.value, (ELEM, node))

    def _comprehension(self, node: Union[cst.ListComp, cst.SetComp, cst.GeneratorExp]) -> None:
        self._role(node.elt, (ELEM, node))

    visit_ListComp = visit_SetComp = visit_GeneratorExp = _comprehension

    def visit_DictComp(self, node: cst.DictComp) -> None:
        self._role(node.key, (NEUTRAL,))
        self._role(node.value, (ELEM, node))

    def visit_Subscript(self, node: cst.Subscript) -> None:
        role = self.roles.get(node)
        if role is not None and role[0] == TARGET:
            # ``c[k] = v``: what goes into ``c`` is followed from ``v``.
            self._role(node.value, (NEUTRAL,))
            return
        if role is not None and role[0] == NEUTRAL:
            self._role(node.value, (NEUTRAL,))
        elif any(isinstance(element.slice, cst.Slice) for element in node.slice):
            self._role(node.value, (SAME, node))  # x[:] copies the container
        else:
            self._role(node.value, (SUBSCRIPT, node))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._nonload.add(node.attr)
        attr = node.attr.value
        role = self.roles.get(node)
        kind = role[0] if role is not None else None
        if kind == CALLEE:
            self._role(node.value, (METHOD, attr, role[1]))
        elif kind == TARGET:
            self._role(node.value, (ATTR_STORE, attr, role[1], node))
        else:
            self._role(node.value, (ATTR, attr))
        if not isinstance(node.value, cst.Name):
            return
        owner = self.analysis.self_attribute(node)
        if owner is None:
            self.foreign_attr_uses.setdefault(attr, []).append(node)
        elif kind == TARGET:
            self.attr_stores.setdefault(owner, []).append(self._site())
        else:
            site = self._site()
            self.attr_uses.setdefault(owner, []).append(AttrUse(node, site))
            if kind == CALLEE:
                self.self_calls.setdefault(owner[0], []).append((attr, site))

    def visit_Call(self, node: cst.Call) -> None:
        self._role(node.func, (CALLEE, node))
        for arg in node.args:
            self._role(arg.value, (ARG, node, arg))
        func = node.func
        called = func.attr.value if isinstance(func, cst.Attribute) else None
        if called in _INTERESTING_CALLS:
            self.call_sites[node] = self._site()
        ctor = executor = None
        if (called in _CONSTRUCTOR_ATTRS if called is not None
                else isinstance(func, cst.Name) and func.value in self._constructor_names):
            ctor = self.analysis.thread_constructor(node)
            executor = self.analysis.executor_constructor(node) if ctor is None else None
        if ctor is not None:
            self.creations.append(Creation(node, ctor.kind, False, ctor, self._site()))
        elif executor is not None:
            self.creations.append(Creation(node, executor, True, None, self._site()))
        elif called == "__init__":
            self._class_daemon_init(node)
        elif called in ("enumerate", "active_children") or (
                isinstance(func, cst.Name) and func.value in ("enumerate", "active_children")):
            qualified = self.analysis.qualified_names(func)
            if "threading.enumerate" in qualified:
                self.thread_listings.append(node)
            elif "multiprocessing.active_children" in qualified:
                self.reaps_processes = True

    def visit_Name(self, node: cst.Name) -> None:
        if self._in_import or node in self._nonload:
            return
        scope = self.analysis.scope_of(node)
        owner = scope.owner_of(node.value) if scope is not None else None
        if owner is None:
            return
        use = Use(node, owner, self._site())
        self.uses.setdefault((owner, node.value), []).append(use)
        self.use_of_node[node] = use

    # -- class facts -----------------------------------------------------------
    def _current_class(self) -> Optional[cst.ClassDef]:
        """The class whose body or method we are directly in."""
        unit = self._unit
        if isinstance(unit, cst.FunctionDef):
            info = self.analysis.functions.get(unit)
            return info.cls if info is not None else None
        return None

    def _class_daemon_assign(self, targets: List[cst.BaseExpression],
                             value: cst.BaseExpression) -> None:
        """``daemon = True`` in a thread class body, or ``self.daemon = x`` in a method."""
        for target in targets:
            if isinstance(target, cst.Name) and target.value == "daemon":
                scope = self.analysis.scope_of(target)
                if scope is not None and scope.kind == "class" \
                        and isinstance(scope.node, cst.ClassDef):
                    self.class_daemon.setdefault(scope.node, []).append(value)
            elif isinstance(target, cst.Attribute) and target.attr.value == "daemon":
                owner = self.analysis.self_attribute(target)
                if owner is not None:
                    self.class_daemon.setdefault(owner[0], []).append(value)

    def _class_daemon_init(self, call: cst.Call) -> None:
        """``super().__init__(daemon=x)`` or ``Thread.__init__(self, daemon=x)`` in a method."""
        cls = self._current_class()
        if cls is None:
            return
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == "daemon":
                self.class_daemon.setdefault(cls, []).append(arg.value)
            elif arg.star == "**":
                self.class_daemon.setdefault(cls, []).append(None)

    # =========================================================================
    # Judging
    # =========================================================================
    def finish(self) -> None:
        """Follow every creation; idempotent, so any rule may call it."""
        if self._finished:
            return
        self._finished = True
        if not self.active:
            return
        for listing in self.thread_listings:
            # for t in threading.enumerate(): t.join() joins every thread there is.
            fate = Fate(Creation(listing, "list", False, None, None))
            self._follow_all(fate, [(listing, 1)])
            if fate.joined:
                self.joins_all_threads = True
        for creation in self.creations:
            fate = Fate(creation)
            init = None
            if creation.ctor is not None and creation.ctor.local_class is not None:
                # The constructor runs our own __init__: follow what it does with self.
                method = self.find_method(creation.ctor.local_class, "__init__")
                init = self.self_defs.get(method) if method is not None else None
            self._follow_all(fate, [(creation.node, 0)], init)
            self.fates.append(fate)

    def _follow_all(self, fate: Fate, work: List[Tuple[cst.CSTNode, int]],
                    start: Optional[Def] = None) -> None:
        seen: Set[Tuple[int, int]] = set()
        self._seen_handles = set()
        if start is not None:
            self._enter(start, 0, fate, work)
        while work:
            expr, depth = work.pop()
            key = (id(expr), depth)
            if key in seen:
                continue
            seen.add(key)
            if depth > 2:
                fate.escaped = True  # containers of containers of containers: give up
                continue
            self._follow(expr, depth, fate, work)

    def _follow(self, expr: cst.CSTNode, depth: int, fate: Fate,
                work: List[Tuple[cst.CSTNode, int]]) -> None:
        """What the parent of ``expr`` does with a value holding the object at ``depth``
        (0: the value is the object; 1: the object is one of its elements)."""
        role = self.roles.get(expr)
        if role is None:
            fate.escaped = True
            return
        kind = role[0]
        if kind in (NEUTRAL, CALLEE):
            return
        if kind == SAME:
            work.append((role[1], depth))
        elif kind == ELEM:
            target = self._unpacked_target(role[1], expr)
            if target is not None:
                self._store(target, depth, fate, work)  # a, b = x, y
                return
            if depth == 0:
                fate.in_container = True
            work.append((role[1], depth + 1))
        elif kind == ITER:
            self._iterate(role[1], depth, fate, work)
        elif kind == METHOD:
            self._method(role[1], role[2], depth, fate, work)
        elif kind == ATTR:
            if depth == 0:
                self._attribute(role[1], fate)
        elif kind == ATTR_STORE:
            if depth == 0 and role[1] == "daemon":
                self._daemon_value(role[2], fate)
        elif kind == SUBSCRIPT:
            if depth >= 1:
                work.append((role[1], depth - 1))
        elif kind == ARG:
            self._argument(role[1], role[2], depth, fate, work)
        elif kind == ASSIGNED:
            for target in role[1]:
                self._store(target, depth, fate, work)
        elif kind == WALRUS:
            self._store(role[1].target, depth, fate, work)
            work.append((role[1], depth))
        elif kind == WITH:
            if depth == 0:
                fate.handled = True
        elif kind == EXTEND:
            self._into_container(role[1], depth, fate, work)
        else:
            fate.escaped = True

    def _in_while_test(self, call: cst.Call) -> bool:
        site = self.call_sites.get(call)
        return site is not None and any(
            first < site.index < last for first, last in self.while_test_span.values())

    def _unpacked_target(self, literal: cst.CSTNode, element: cst.CSTNode) -> Optional[cst.BaseExpression]:
        """For ``a, b = x, y``: the target that element ``x`` or ``y`` is bound to."""
        role = self.roles.get(literal)
        if role is None or role[0] != ASSIGNED or len(role[1]) != 1 \
                or not isinstance(literal, (cst.Tuple, cst.List)):
            return None
        target = role[1][0]
        if not isinstance(target, (cst.Tuple, cst.List)) \
                or len(target.elements) != len(literal.elements):
            return None
        for value_element, target_element in zip(literal.elements, target.elements):
            if isinstance(value_element, cst.StarredElement) \
                    or isinstance(target_element, cst.StarredElement):
                return None
        for value_element, target_element in zip(literal.elements, target.elements):
            if value_element.value is element:
                return target_element.value
        return None

    def _daemon_value(self, value: Optional[cst.BaseExpression], fate: Fate) -> None:
        if literal_bool(value) is not False:
            fate.daemon = True  # True, or a value we cannot read: stay silent

    def _attribute(self, name: str, fate: Fate) -> None:
        if name == "join":
            fate.joined = True  # the bound method is passed on, e.g. atexit.register(t.join)
        elif name in _HANDLING_METHODS:
            fate.handled = True

    def _method(self, name: str, call: cst.Call, depth: int, fate: Fate,
                work: List[Tuple[cst.CSTNode, int]]) -> None:
        if depth >= 1:
            if name in _ELEMENT_METHODS:
                work.append((call, depth - 1))
            elif name in _COPY_METHODS:
                work.append((call, depth))
            elif name not in _CONTAINER_NEUTRAL:
                fate.escaped = True
            return
        if name == "start":
            fate.starts.append(call)
        elif name == "join":
            fate.joined = True
        elif name in ("is_alive", "isAlive") and self._in_while_test(call):
            fate.joined = True  # ``while t.is_alive(): ...`` waits for it
        elif name in _HANDLING_METHODS:
            fate.handled = True
        elif name == "setDaemon":
            argument = call.args[0].value if call.args else None
            self._daemon_value(argument, fate)
        cls = fate.creation.ctor.local_class if fate.creation.ctor is not None else None
        if cls is not None and name not in ("join", "run"):
            # A method of our own thread class: follow what it does with ``self``.
            method = self.find_method(cls, name)
            if method is not None:
                definition = self.self_defs.get(method)
                if definition is None:
                    fate.escaped = True
                else:
                    self._enter(definition, 0, fate, work)

    def _argument(self, call: cst.Call, arg: cst.Arg, depth: int, fate: Fate,
                  work: List[Tuple[cst.CSTNode, int]]) -> None:
        if arg.star:
            fate.escaped = True
            return
        position = _position(call, arg)
        func = call.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in _ADD_METHODS and position == _ADD_METHODS[method]:
                self._into_container(func.value, depth + 1, fate, work)
                return
            if method == "extend" and position == 0:
                self._into_container(func.value, depth, fate, work)
                return
            if method in ("remove", "discard", "index", "count") or method in _LOG_METHODS:
                return
            if method == "run_in_executor" and position == 0:
                return  # the loop borrows the executor; it does not own it
            if position == 0 and self._is_thread_class(func.value):
                # Thread.__init__(self), Thread.join(self): the unbound-method call style.
                if method != "__init__":
                    self._method(method, call, depth, fate, work)
                return
        for name in self.analysis.qualified_names(func):
            if not name.startswith("builtins."):
                continue
            builtin = name[len("builtins."):]
            if builtin in _NEUTRAL_BUILTINS:
                return
            if builtin in _TRANSPARENT_BUILTINS and position == 0:
                work.append((call, depth))
                return
        fate.escaped = True

    def _is_thread_class(self, expr: cst.BaseExpression) -> bool:
        if self.analysis.resolves_to(expr, THREAD_CONSTRUCTORS):
            return True
        return self.analysis.local_definition(expr) in self.analysis.thread_classes

    def _iterate(self, loop: cst.CSTNode, depth: int, fate: Fate,
                 work: List[Tuple[cst.CSTNode, int]]) -> None:
        if depth == 0:
            return
        target = loop.target  # type: ignore[attr-defined]
        if isinstance(target, cst.Name):
            definition = self.defs_by_target.get(target)
        elif isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2 \
                and _yields_pairs(loop.iter, self.analysis):  # type: ignore[attr-defined]
            definition = self.defs_by_target.get(target.elements[1].value)
        else:
            definition = None
        if definition is None:
            fate.escaped = True
        else:
            self._enter(definition, depth - 1, fate, work)

    def _store(self, target: cst.BaseExpression, depth: int, fate: Fate,
               work: List[Tuple[cst.CSTNode, int]]) -> None:
        if isinstance(target, cst.Name):
            definition = self.defs_by_target.get(target)
            if definition is None or not self._owned_here(definition):
                fate.escaped = True  # a global, nonlocal or class attribute
            else:
                self._enter(definition, depth, fate, work)
        elif isinstance(target, cst.Attribute):
            owner = self.analysis.self_attribute(target)
            if owner is None:
                fate.escaped = True  # stored on another object
            else:
                self._enter(owner, depth, fate, work)
        elif isinstance(target, cst.Subscript):
            if any(isinstance(element.slice, cst.Slice) for element in target.slice):
                fate.escaped = True
            else:
                self._into_container(target.value, depth + 1, fate, work)
        else:
            fate.escaped = True

    def _owned_here(self, definition: Def) -> bool:
        """A binding whose value stays with the code that made it: a local of the
        function that assigns it, or a module variable assigned at module level."""
        scope = definition.scope
        if scope.kind == "function":
            return definition.site.unit is scope.node
        if scope.kind == "module":
            return definition.site.unit is self.module
        return scope.kind == "comprehension"

    def _into_container(self, container: cst.BaseExpression, depth: int, fate: Fate,
                        work: List[Tuple[cst.CSTNode, int]]) -> None:
        handles = self._container_handles(container)
        if handles is None:
            fate.escaped = True  # a module-level, caller-owned or unknown container
            return
        for handle in handles:
            self._enter(handle, depth, fate, work)

    def _container_handles(self, expr: cst.BaseExpression) -> Optional[List[Handle]]:
        if isinstance(expr, cst.Name):
            use = self.use_of_node.get(expr)
            if use is None:
                return None
            defs = self.reaching(use)
            if not defs:
                return None
            for definition in defs:
                if not self._owned_here(definition) or not self._fresh_container(definition.value):
                    return None
                if definition.scope.kind == "module" and use.site.unit is not self.module:
                    return None
            return list(defs)
        owner = self.analysis.self_attribute(expr)
        return [owner] if owner is not None else None

    def _fresh_container(self, value: Optional[cst.BaseExpression]) -> bool:
        if isinstance(value, _FRESH_DISPLAYS):
            return True
        if isinstance(value, cst.Call):
            return bool(self.analysis.qualified_names(value.func) & _FRESH_CONTAINERS)
        return False

    def _enter(self, handle: Handle, depth: int, fate: Fate,
               work: List[Tuple[cst.CSTNode, int]]) -> None:
        key = (id(handle) if isinstance(handle, Def) else handle, depth)
        if key in self._seen_handles:
            return
        self._seen_handles.add(key)
        if depth >= 1:
            fate.in_container = True
        if isinstance(handle, Def):
            if depth == 0:
                fate.var_defs.append(handle)
            for use in self.uses_of(handle):
                work.append((use.node, depth))
            return
        if depth == 0:
            fate.attrs.append(handle)
        cls, attr = handle
        for member in self.family(cls):
            for attr_use in self.attr_uses.get((member, attr), ()):
                work.append((attr_use.node, depth))
        for node in self.foreign_attr_uses.get(attr, ()):
            self._foreign(node, depth, fate)

    def _foreign(self, node: cst.Attribute, depth: int, fate: Fate) -> None:
        """``other.attr`` outside the class: may be the same object seen from outside.
        Only what ends its life counts; starts through it are not ours to report."""
        role = self.roles.get(node)
        kind = role[0] if role is not None else None
        if kind in (NEUTRAL, CALLEE, ATTR_STORE):
            return
        if kind == ATTR:
            if depth == 0:
                self._attribute(role[1], fate)  # type: ignore[index]
            return
        if kind == METHOD:
            name = role[1]  # type: ignore[index]
            if depth == 0:
                if name == "join":
                    fate.joined = True
                elif name in _HANDLING_METHODS:
                    fate.handled = True
            elif name not in _CONTAINER_NEUTRAL:
                fate.escaped = True
            return
        fate.escaped = True

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

    # -- queries for the rules -------------------------------------------------
    def thread_holders(self) -> Dict[Def, List[Fate]]:
        """Bindings that hold a thread-like object itself (not in a container)."""
        holders: Dict[Def, List[Fate]] = {}
        for fate in self.fates:
            if not fate.creation.is_executor:
                for definition in fate.var_defs:
                    holders.setdefault(definition, []).append(fate)
        return holders

    def thread_attrs(self) -> Dict[Tuple[cst.ClassDef, str], List[Fate]]:
        holders: Dict[Tuple[cst.ClassDef, str], List[Fate]] = {}
        for fate in self.fates:
            if not fate.creation.is_executor:
                for attr in fate.attrs:
                    holders.setdefault(attr, []).append(fate)
        return holders

    def role_of(self, node: cst.CSTNode) -> Role:
        return self.roles.get(node, ())

    def attr_uses_of(self, handle: Tuple[cst.ClassDef, str]) -> List[AttrUse]:
        cls, attr = handle
        found: List[AttrUse] = []
        for member in self.family(cls):
            found.extend(self.attr_uses.get((member, attr), ()))
        return found

    def attr_may_change(self, handle: Tuple[cst.ClassDef, str], unit: cst.CSTNode,
                        first: int, last: int) -> bool:
        """Whether ``self.<attr>`` may be rebound between two ranks of one unit: it is
        assigned there, or a method of the class (which might assign it) is called."""
        cls, attr = handle
        for member in self.family(cls):
            for site in self.attr_stores.get((member, attr), ()):
                if site.unit is unit and first < site.index < last:
                    return True
            for name, site in self.self_calls.get(member, ()):
                if site.unit is unit and first < site.index < last \
                        and self.find_method(cls, name) is not None:
                    return True
        return False

    def defs_between(self, definition: Def, first: int, last: int) -> bool:
        """Whether the name of ``definition`` is rebound between two source ranks."""
        return any(first < d.site.index < last
                   for d in self.defs.get((definition.scope, definition.name), ()))

    # -- classes ---------------------------------------------------------------
    def local_bases(self, cls: cst.ClassDef) -> List[cst.ClassDef]:
        bases = []
        for base in cls.bases:
            definition = self.analysis.local_definition(base.value)
            if isinstance(definition, cst.ClassDef):
                bases.append(definition)
        return bases

    def family(self, cls: cst.ClassDef) -> List[cst.ClassDef]:
        """The class, its local ancestors and its local descendants: methods of any
        of them may touch the same ``self`` attribute."""
        cached = self._families.get(cls)
        if cached is not None:
            return cached
        related: List[cst.ClassDef] = [cls]
        changed = True
        while changed:
            changed = False
            for candidate in self.analysis.classes:
                if candidate in related:
                    continue
                is_descendant = any(b in related for b in self.local_bases(candidate))
                is_ancestor = any(candidate in self.local_bases(member) for member in related)
                if is_descendant or is_ancestor:
                    related.append(candidate)
                    changed = True
        self._families[cls] = related
        return related

    def find_method(self, cls: cst.ClassDef, name: str) -> Optional[cst.FunctionDef]:
        """``name`` as the instance would find it, among local classes only."""
        seen: List[cst.ClassDef] = []
        queue = [cls]
        while queue:
            current = queue.pop(0)
            if current in seen:
                continue
            seen.append(current)
            method = self.analysis.method(current, name)
            if method is not None:
                return method
            queue.extend(self.local_bases(current))
        return None

    def class_overrides(self, cls: Optional[cst.ClassDef], name: str) -> bool:
        return cls is not None and self.find_method(cls, name) is not None

    def class_is_daemon(self, cls: cst.ClassDef) -> bool:
        """The class (or a local base) sets the daemon flag to something not False."""
        queue, seen = [cls], set()
        while queue:
            current = queue.pop()
            if current in seen:
                continue
            seen.add(current)
            if any(literal_bool(value) is not False for value in self.class_daemon.get(current, ())):
                return True
            queue.extend(self.local_bases(current))
        return False

    def creation_is_daemon(self, creation: Creation) -> bool:
        """Made a daemon at construction (or possibly so: we stay silent)."""
        for arg in creation.node.args:
            if arg.star == "**":
                return True
            if arg.keyword is not None and arg.keyword.value == "daemon":
                return literal_bool(arg.value) is not False
        cls = creation.ctor.local_class if creation.ctor is not None else None
        return cls is not None and self.class_is_daemon(cls)


def _position(call: cst.Call, arg: cst.Arg) -> int:
    """Positional index of ``arg``; -1 for a keyword argument."""
    if arg.keyword is not None:
        return -1
    position = 0
    for candidate in call.args:
        if candidate is arg:
            return position
        if candidate.keyword is None:
            position += 1
    return -1


def _yields_pairs(expr: cst.BaseExpression, analysis: ModuleAnalysis) -> bool:
    """``d.items()`` or ``enumerate(x)``: the second item of each pair is the element."""
    if not isinstance(expr, cst.Call):
        return False
    if isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "items":
        return True
    return analysis.resolves_to(expr.func, ("builtins.enumerate",)) is not None


_CONSTRUCTORS = frozenset(THREAD_CONSTRUCTORS) | frozenset(EXECUTOR_CONSTRUCTORS)
#: ``x.Thread(...)``: the attribute names a constructor call through a module can end in.
_CONSTRUCTOR_ATTRS = frozenset(name.rsplit(".", 1)[1] for name in _CONSTRUCTORS)


def _imports_concurrency(analysis: ModuleAnalysis) -> Tuple[bool, Set[str]]:
    """Whether the module imports a threading API (only then can it create what
    we follow), and the plain names a constructor call may be spelled with: an
    imported constructor under any alias, or a local thread subclass."""
    roots = ("threading", "multiprocessing", "concurrent")
    active = False
    names = {cls.name.value for cls in analysis.thread_classes}
    for scope in set(analysis.scope_of_node.values()):
        for bindings in scope.bindings.values():
            for binding in bindings:
                if binding.kind == "assign" and isinstance(binding.value, (cst.Name, cst.Attribute)):
                    # `Thread = threading.Thread`: an alias, when it resolves
                    if analysis.resolves_to(binding.value, _CONSTRUCTORS) is not None:
                        names.add(binding.name)
                    continue
                if binding.kind != "import" or not binding.qualified:
                    continue
                if binding.qualified.split(".", 1)[0] in roots:
                    active = True
                if binding.qualified in _CONSTRUCTORS:
                    names.add(binding.name)
    return active, names


# -- wiring into the engine's one traversal ------------------------------------
_CONTEXT_ATTRIBUTE = "_threadlint_lifecycle"

_HOOKS = tuple(sorted(name for name in dir(LifecycleCollector)
                      if name.startswith(("visit_", "leave_"))))


def _no_op(node: cst.CSTNode) -> None:
    """Stands in for a hook a rule does not run; the walker skips it."""


_no_op._is_no_op = True  # type: ignore[attr-defined]


class LifecycleRuleMixin:
    """Mix into a :class:`~threadlint.rules.base.Rule` (before it) so that all
    lifecycle rules share one collector per module.

    The first lifecycle rule built for a traversal creates the collector and
    exposes the collector's own bound ``visit_*``/``leave_*`` methods as its
    hooks, so the walker calls them with no forwarding; the other rules expose
    no-op hooks (which the walker skips) and only read the collector in
    ``leave_Module``. A collector whose walk has already begun belongs to an
    earlier (failed) traversal and is replaced, so the engine's rule-by-rule
    retry starts clean.
    """

    ctx: object
    _lifecycle: LifecycleCollector

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)  # type: ignore[call-arg]
        collector = getattr(ctx, _CONTEXT_ATTRIBUTE, None)
        driver = collector is None or collector.module is not ctx.module or collector.walk_started
        if driver:
            collector = LifecycleCollector(ctx.analysis, ctx.module)
            setattr(ctx, _CONTEXT_ATTRIBUTE, collector)
        self._lifecycle = collector  # type: ignore[assignment]
        # A module that imports no threading API cannot create what we follow.
        feeding = driver and collector.active  # type: ignore[union-attr]
        for hook in _HOOKS:
            setattr(self, hook, getattr(collector, hook) if feeding else _no_op)

    def visit_Module(self, node: cst.Module) -> None:
        self._lifecycle.walk_started = True

    def leave_Module(self, original_node: cst.Module) -> None:
        self._lifecycle.finish()
        self.judge(self._lifecycle)

    def judge(self, lifecycle: LifecycleCollector) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


for _hook in _HOOKS:
    # Class-level stubs, so that the walker (which lists hooks on the class)
    # finds the names; each instance replaces them in __init__.
    setattr(LifecycleRuleMixin, _hook, _no_op)
