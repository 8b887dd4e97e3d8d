"""Names: scopes, bindings, imports and qualified names; functions and classes.

The first phase of the model, and the only provider that walks the tree: one
iterative walk (``threadlint.walk``) builds the scope table and records the
events every later replay uses. Everything else about names is a query here,
so ``import threading as th``, ``from threading import Thread as T``, plain
aliases (``Thread = threading.Thread``) and shadowing resolve the same way for
every provider and rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple, Union, cast

import libcst as cst

from threadlint.model.core import Cursor, Model, Provider, Unit
from threadlint.model.scopes import BUILTIN_NAMES, Binding, Scope, ScopeBuilder
from threadlint.walk import Recording, children, walk

_MAX_ALIAS_DEPTH = 8  # `a = b`, `b = a` resolves to nothing instead of looping

#: A ``self.<attr>`` of a class: the class and the attribute name.
SelfAttr = Tuple[cst.ClassDef, str]


@dataclass(eq=False)
class FunctionInfo:
    node: cst.FunctionDef
    scope: Scope
    cls: Optional[cst.ClassDef]  # set when the function is a method of this class
    returns: List[cst.Return] = field(default_factory=list)
    has_yield: bool = False
    self_name: Optional[str] = None  # first parameter of a method

    @property
    def is_async(self) -> bool:
        return self.node.asynchronous is not None

    @property
    def decorator_names(self) -> List[str]:
        names = []
        for decorator in self.node.decorators:
            expr = decorator.decorator
            if isinstance(expr, cst.Call):
                expr = expr.func
            if isinstance(expr, cst.Name):
                names.append(expr.value)
            elif isinstance(expr, cst.Attribute):
                names.append(expr.attr.value)
            else:
                names.append("?")
        return names


class _Builder(ScopeBuilder):
    """Scopes plus the few per-function and per-class facts the rules share."""

    def __init__(self, module: cst.Module, record: Optional[Recording], cursor: Cursor) -> None:
        super().__init__(module)
        self.record = record
        self.cursor = cursor
        # Each def's and lambda's events in the recording: [first, last).
        self.unit_spans: Dict[cst.CSTNode, List[int]] = {}
        self.functions: Dict[cst.FunctionDef, FunctionInfo] = {}
        self.classes: List[cst.ClassDef] = []
        self.methods: Dict[cst.ClassDef, Dict[str, cst.FunctionDef]] = {}
        # self.<attr> = value inside methods; None marks an assignment we can't read.
        self.self_attr_values: Dict[cst.ClassDef, Dict[str, List[Optional[cst.BaseExpression]]]] = {}
        # (an `if` body, a name, class expressions): `if isinstance(name, C):`.
        self.narrowings: List[Tuple[cst.BaseSuite, str, Tuple[cst.BaseExpression, ...]]] = []

    # Scope push/pop is in ScopeBuilder; extend the def/class hooks.
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        parent_scope = self.scope
        super().visit_FunctionDef(node)
        cls: Optional[cst.ClassDef] = None
        if parent_scope.kind == "class":
            cls = cast(cst.ClassDef, parent_scope.node)  # a class scope's node is its ClassDef
            self.methods.setdefault(cls, {})[node.name.value] = node
        info = FunctionInfo(node, self.scope, cls)
        if cls is not None:
            params = list(node.params.posonly_params) + list(node.params.params)
            if params and not any(n in ("staticmethod",) for n in info.decorator_names):
                info.self_name = params[0].name.value
        self.functions[node] = info
        self._open_span(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        super().leave_FunctionDef(original_node)
        self._close_span(original_node)

    def visit_Lambda(self, node: cst.Lambda) -> None:
        super().visit_Lambda(node)
        self._open_span(node)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        super().leave_Lambda(original_node)
        self._close_span(original_node)

    def _open_span(self, node: cst.CSTNode) -> None:
        if self.record is not None:  # the walk notes an event before its hooks
            self.unit_spans[node] = [len(self.record.nodes) - 1, -1]

    def _close_span(self, node: cst.CSTNode) -> None:
        if self.record is not None:
            self.unit_spans[node][1] = len(self.record.nodes)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        super().visit_ClassDef(node)
        self.classes.append(node)
        self.methods.setdefault(node, {})
        self.self_attr_values.setdefault(node, {})

    def _current_function(self) -> Optional[FunctionInfo]:
        """The ``def`` whose code runs here (class bodies looked through); None
        at module level and in a lambda."""
        unit = self.cursor.code_unit
        return self.functions.get(unit) if type(unit) is cst.FunctionDef else None

    def visit_If(self, node: cst.If) -> None:
        # `if isinstance(h, logging.Handler):` narrows `h` in the body.
        for name, classes in _isinstance_tests(node.test):
            self.narrowings.append((node.body, name, classes))

    def visit_Return(self, node: cst.Return) -> None:
        info = self._current_function()
        if info is not None:
            info.returns.append(node)

    def _yield(self, node: cst.CSTNode) -> None:
        info = self._current_function()
        if info is not None:
            info.has_yield = True

    visit_Yield = _yield

    def _record_self_attr(self, target: cst.BaseExpression,
                          value: Optional[cst.BaseExpression]) -> None:
        info = self._current_method()
        if info is None or info.cls is None or info.self_name is None:
            return
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) \
                and target.value.value == info.self_name:
            self.self_attr_values[info.cls].setdefault(target.attr.value, []).append(value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            values = _unpacked(target, value)
            for position, element in enumerate(target.elements):
                self._record_self_attr(element.value, values[position] if values else None)

    def _current_method(self) -> Optional[FunctionInfo]:
        info = self._current_function()
        return info if info is not None and info.cls is not None else None

    def visit_Assign(self, node: cst.Assign) -> None:
        super().visit_Assign(node)
        for target in node.targets:
            self._record_self_attr(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        super().visit_AnnAssign(node)
        if node.value is not None:
            self._record_self_attr(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        super().visit_AugAssign(node)
        self._record_self_attr(node.target, None)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        super().visit_WithItem(node)
        if node.asname is not None:
            self._record_self_attr(node.asname.name, node.item)


def _isinstance_tests(test: cst.BaseExpression) -> List[Tuple[str, Tuple[cst.BaseExpression, ...]]]:
    """``isinstance(name, C)`` (``C`` or a tuple of classes), alone or joined by
    ``and``: what must hold for the body of an ``if`` with this test to run."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _isinstance_tests(test.left) + _isinstance_tests(test.right)
    if not (isinstance(test, cst.Call) and isinstance(test.func, cst.Name)
            and test.func.value == "isinstance" and len(test.args) == 2
            and not any(arg.star or arg.keyword for arg in test.args)
            and isinstance(test.args[0].value, cst.Name)):
        return []
    classes = test.args[1].value
    if isinstance(classes, cst.Tuple):
        if any(isinstance(element, cst.StarredElement) for element in classes.elements):
            return []
        return [(test.args[0].value.value, tuple(e.value for e in classes.elements))]
    return [(test.args[0].value.value, (classes,))]


def _unpacked(target: Union[cst.Tuple, cst.List],
              value: Optional[cst.BaseExpression]) -> Optional[List[cst.BaseExpression]]:
    """For ``a, b = x, y``: the value each target element gets, when the value
    is a display of as many elements and no side is starred."""
    if not isinstance(value, (cst.Tuple, cst.List)) or len(value.elements) != len(target.elements):
        return None
    if any(isinstance(element, cst.StarredElement)
           for element in (*target.elements, *value.elements)):
        return None
    return [element.value for element in value.elements]


class Names(Provider):
    """Name resolution and the per-function and per-class tables of a module."""

    def __init__(self, model: Model, record: Optional[Recording] = None) -> None:
        """Walks ``model.module``; ``record`` keeps the walk's events, for the
        engine to replay to the fed providers and the rules."""
        super().__init__(model)
        module = model.module
        builder = _Builder(module, record, model.cursor)
        walk(module, [builder], model.cursor.enter, model.cursor.exit, Cursor.TYPES, record=record)
        self.module = module
        self.recording = record
        self._order: Optional[Dict[int, int]] = None
        self.unit_spans = builder.unit_spans
        self.module_scope = builder.module_scope
        self._scope_of_name = builder.scope_of_name
        self.scope_of_node = builder.scope_of_node
        self.functions = builder.functions
        self.classes = builder.classes
        self.methods = builder.methods
        self.self_attr_values = builder.self_attr_values
        self._narrowings = builder.narrowings
        self._narrowed: Optional[Dict[cst.Name, Tuple[cst.BaseExpression, ...]]] = None
        self._unit_ids: Optional[Dict[cst.FunctionDef, str]] = None

    def dismantle(self) -> None:
        """Break the scope <-> binding cycles, which hold the whole tree: with
        them gone the tree is freed as soon as the engine drops it, instead of
        by a cyclic collection that must first traverse every node."""
        for scope in self.scope_of_node.values():
            scope.bindings.clear()
            scope.parent = None
        vars(self).clear()

    # -- names ---------------------------------------------------------------
    def scope_of(self, name: cst.Name) -> Optional[Scope]:
        return self._scope_of_name.get(name)

    def bindings(self, name: cst.Name) -> List[Binding]:
        scope = self._scope_of_name.get(name)
        if scope is None:
            return []
        return scope.lookup(name.value)

    def qualified_names(self, expr: cst.BaseExpression) -> FrozenSet[str]:
        """Dotted names ``expr`` may stand for, e.g. ``{"threading.Thread"}``.

        Imports are followed through aliases, and so are plain assignments of
        a dotted name (``Thread = threading.Thread``) when every binding of the
        name is one of those; a name bound by anything else (a local def,
        another value) contributes nothing, so a local function called
        ``Thread`` never resolves to ``threading.Thread``.
        """
        return self._qualified(expr, 0)

    def _qualified(self, expr: cst.BaseExpression, depth: int) -> FrozenSet[str]:
        if isinstance(expr, cst.Name):
            found = set()
            bindings = self.bindings(expr)
            if not bindings and expr.value in BUILTIN_NAMES:
                return frozenset({f"builtins.{expr.value}"})
            aliases = []
            only_imports_and_aliases = True
            for binding in bindings:
                if binding.kind == "import":
                    if binding.qualified:
                        found.add(binding.qualified)
                elif binding.kind == "assign" and isinstance(binding.value, (cst.Name, cst.Attribute)):
                    aliases.append(binding.value)
                else:
                    only_imports_and_aliases = False
            # `Thread = threading.Thread` stands for what its value stands for,
            # when every binding of the name is an import or such an alias.
            if aliases and only_imports_and_aliases and depth < _MAX_ALIAS_DEPTH:
                for value in aliases:
                    found.update(self._qualified(value, depth + 1))
            return frozenset(found)
        if isinstance(expr, cst.Attribute):
            return frozenset(f"{base}.{expr.attr.value}" for base in self._qualified(expr.value, depth))
        return frozenset()

    def narrowed(self, name: cst.Name) -> Tuple[cst.BaseExpression, ...]:
        """The classes an ``if isinstance(name, C):`` around this use of ``name``
        says it is an instance of (one of them, for a tuple); ``()`` when none.

        Only the ``if`` body counts, not code in a nested ``def``, class or
        lambda there, and not when the body binds the name again.
        """
        if self._narrowed is None:
            self._narrowed = {}
            for body, bound, classes in self._narrowings:
                uses: List[cst.Name] = []
                inside: Set[int] = set()
                todo: List[cst.CSTNode] = [body]
                while todo:
                    node = todo.pop()
                    if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                        continue
                    inside.add(id(node))
                    if isinstance(node, cst.Name) and node.value == bound:
                        uses.append(node)
                    todo.extend(children(node))
                if uses and not any(id(b.node) in inside for b in self.bindings(uses[0])):
                    for use in uses:
                        self._narrowed[use] = self._narrowed.get(use, ()) + classes
        return self._narrowed.get(name, ())

    def resolves_to(self, expr: cst.BaseExpression, names: Iterable[str]) -> Optional[str]:
        """The first of ``names`` that ``expr`` resolves to, if any."""
        qualified = self.qualified_names(expr)
        for name in names:
            if name in qualified:
                return name
        return None

    def local_definition(self, expr: cst.BaseExpression) -> Optional[cst.CSTNode]:
        """The single ``def``/``class`` in this module a name refers to."""
        if not isinstance(expr, cst.Name):
            return None
        bindings = self.bindings(expr)
        if len(bindings) != 1 or bindings[0].kind not in ("def", "class"):
            return None
        return bindings[0].node

    # -- classes and methods -------------------------------------------------
    def imports_any(self, roots: Iterable[str]) -> bool:
        """Whether the module imports one of the top-level modules ``roots``
        (or something in them), in any scope."""
        wanted = set(roots)
        for scope in set(self.scope_of_node.values()):
            for bindings in scope.bindings.values():
                for binding in bindings:
                    if binding.kind == "import" and binding.qualified \
                            and binding.qualified.split(".", 1)[0] in wanted:
                        return True
        return False

    def function_info(self, unit: Optional[cst.CSTNode]) -> Optional[FunctionInfo]:
        return self.functions.get(unit) if isinstance(unit, cst.FunctionDef) else None

    def unit_label(self, unit: Unit) -> str:
        """``worker``, ``Poller.run`` or ``lambda``, for messages."""
        if isinstance(unit, cst.Lambda):
            return "lambda"
        info = self.functions.get(unit)
        if info is not None and info.cls is not None:
            return f"{info.cls.name.value}.{unit.name.value}"
        return unit.name.value

    def unit_ids(self) -> Dict[cst.FunctionDef, str]:
        """The functions other modules can name, by the name they use after
        the module's: ``worker`` for a module-level ``def``, ``Poller.run`` for
        a method of a module-level class. A name defined twice (``if``/``else``
        branches, a redefinition) names neither: which one runs is unknown."""
        if self._unit_ids is None:
            found: Dict[str, List[cst.FunctionDef]] = {}
            module_scope = self.module_scope
            for node, info in self.functions.items():
                parent = info.scope.parent
                if parent is module_scope:
                    found.setdefault(node.name.value, []).append(node)
                elif info.cls is not None and parent is not None and parent.kind == "class" \
                        and parent.parent is module_scope:
                    found.setdefault(f"{info.cls.name.value}.{node.name.value}", []).append(node)
            self._unit_ids = {nodes[0]: name for name, nodes in found.items() if len(nodes) == 1}
        return self._unit_ids

    def method_of(self, unit: Optional[cst.CSTNode]) -> Optional[cst.FunctionDef]:
        """The method ``unit`` is, or is nested in (None outside classes)."""
        scope = self.scope_of_node.get(unit) if unit is not None else None
        while scope is not None:
            if scope.kind == "function":
                info = self.function_info(scope.node)
                if info is not None and info.cls is not None:
                    return info.node
            scope = scope.parent
        return None

    def order(self, node: cst.CSTNode) -> int:
        """The rank of ``node`` in source order (-1 when it was not walked)."""
        if self._order is None:
            recording = self.recording
            assert recording is not None  # the engine always records the names walk
            self._order = {id(n): i for i, (n, leaving)
                           in enumerate(zip(recording.nodes, recording.leaving)) if not leaving}
        return self._order.get(id(node), -1)

    def loads_in(self, unit: Unit, name: str) -> int:
        """How often ``name`` is read inside ``unit`` (nested code included):
        targets of plain assignments and names in ``global``/``nonlocal``
        statements are not reads. Counted over the unit's recorded events."""
        span = self.unit_spans.get(unit)
        counter = _NameReads(name)
        if span is None or self.recording is None or span[1] < 0:
            walk(unit, [counter])
            return counter.reads
        nodes, leaving = self.recording.nodes, self.recording.leaving
        hooks: Dict[str, Callable[..., None]] = {
            "Assign": counter.visit_Assign, "AnnAssign": counter.visit_AnnAssign,
            "Global": counter.visit_Global, "Nonlocal": counter.visit_Global,
            "Name": counter.visit_Name}
        for index in range(span[0], span[1]):
            if not leaving[index]:
                hook = hooks.get(type(nodes[index]).__name__)
                if hook is not None:
                    hook(nodes[index])
        return counter.reads

    def method(self, cls: cst.ClassDef, name: str) -> Optional[cst.FunctionDef]:
        return self.methods.get(cls, {}).get(name)

    def method_class(self, func: Optional[cst.FunctionDef]) -> Optional[cst.ClassDef]:
        info = self.functions.get(func) if func is not None else None
        return info.cls if info is not None else None

    # -- values --------------------------------------------------------------
    def self_attribute(self, expr: cst.BaseExpression) -> Optional[SelfAttr]:
        """``(class, attr)`` when ``expr`` is ``self.attr`` inside a method."""
        if not (isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name)):
            return None
        bindings = self.bindings(expr.value)
        if len(bindings) != 1 or bindings[0].kind != "param":
            return None
        func = bindings[0].scope.node
        info = self.functions.get(func) if isinstance(func, cst.FunctionDef) else None
        if info is None or info.cls is None or info.self_name != expr.value.value:
            return None
        return (info.cls, expr.attr.value)

    def assigned_values(self, expr: cst.BaseExpression) -> Optional[List[cst.BaseExpression]]:
        """Every value ``expr`` (a name or ``self.attr``) is ever bound to.

        None when any binding's value is unknown (a parameter, a tuple target,
        an import...), so callers can stay silent.
        """
        if isinstance(expr, cst.Name):
            bindings = self.bindings(expr)
            if not bindings:
                return None
            values = []
            for binding in bindings:
                if binding.kind not in ("assign", "with") or binding.value is None:
                    return None
                values.append(binding.value)
            return values
        owner = self.self_attribute(expr)
        if owner is not None:
            cls, attr = owner
            recorded = self.self_attr_values.get(cls, {}).get(attr)
            if not recorded or any(v is None for v in recorded):
                return None
            return cast(List[cst.BaseExpression], list(recorded))  # no None, checked above
        return None


class _NameReads:
    """Counts loads of one name (targets of plain assignments and names in
    ``global``/``nonlocal`` statements are not loads); parents come first."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stores: Set[int] = set()
        self.reads = 0

    def _store(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self.stores.add(id(target))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._store(element.value)
        elif isinstance(target, cst.StarredElement):
            self._store(target.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._store(target.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._store(node.target)

    def visit_Global(self, node: Union[cst.Global, cst.Nonlocal]) -> None:
        self.stores.update(id(item.name) for item in node.names)

    visit_Nonlocal = visit_Global

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == self.name and id(node) not in self.stores:
            self.reads += 1
