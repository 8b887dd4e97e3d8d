"""The per-module analysis every rule asks its name and scope questions of.

Rules never look at libcst metadata providers or walk the tree for facts of
their own: they call the methods here. That keeps the implementation (today a
single hand-written traversal, see ``scopes.py``) free to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Optional

import libcst as cst

from threadlint.analysis.scopes import BUILTIN_NAMES, Binding, Scope, ScopeBuilder
from threadlint.walk import Recording, walk

#: Constructors of thread-like objects and the kind of object they make.
THREAD_CONSTRUCTORS: Dict[str, str] = {
    "threading.Thread": "thread",
    "threading.Timer": "timer",
    "multiprocessing.dummy.Process": "thread",
    "multiprocessing.Process": "process",
    "multiprocessing.context.Process": "process",
}

#: Calls returning a multiprocessing context, whose ``Process`` is a process.
MULTIPROCESSING_CONTEXTS = ("multiprocessing.get_context", "multiprocessing.context.get_context")

EXECUTOR_CONSTRUCTORS: Dict[str, str] = {
    "concurrent.futures.ThreadPoolExecutor": "thread",
    "concurrent.futures.thread.ThreadPoolExecutor": "thread",
    "concurrent.futures.ProcessPoolExecutor": "process",
    "concurrent.futures.process.ProcessPoolExecutor": "process",
}


_MAX_ALIAS_DEPTH = 8  # `a = b`, `b = a` resolves to nothing instead of looping


@dataclass(frozen=True)
class ThreadConstructor:
    """What a call that makes a thread-like object makes."""

    kind: str  # thread, timer or process
    local_class: Optional[cst.ClassDef] = None

    @property
    def positional_args_index(self) -> int:
        """Index of ``args`` among the positional parameters."""
        return 2 if self.kind == "timer" else 3

    @property
    def target_keyword(self) -> str:
        return "function" if self.kind == "timer" else "target"


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

    def __init__(self, module: cst.Module) -> None:
        super().__init__(module)
        self.functions: Dict[cst.FunctionDef, FunctionInfo] = {}
        self.function_stack: List[Optional[FunctionInfo]] = []
        self.class_stack: List[cst.ClassDef] = []
        self.classes: List[cst.ClassDef] = []
        self.methods: Dict[cst.ClassDef, Dict[str, cst.FunctionDef]] = {}
        # self.<attr> = value inside methods; None marks an assignment we can't read.
        self.self_attr_values: Dict[cst.ClassDef, Dict[str, List[Optional[cst.BaseExpression]]]] = {}

    # Scope push/pop is in ScopeBuilder; extend the def/class hooks.
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        parent_scope = self.scope
        super().visit_FunctionDef(node)
        cls = None
        if parent_scope.kind == "class":
            cls = parent_scope.node  # type: ignore[assignment]
            self.methods.setdefault(cls, {})[node.name.value] = node  # type: ignore[index]
        info = FunctionInfo(node, self.scope, cls)  # type: ignore[arg-type]
        if cls is not None:
            params = list(node.params.posonly_params) + list(node.params.params)
            if params and not any(n in ("staticmethod",) for n in info.decorator_names):
                info.self_name = params[0].name.value
        self.functions[node] = info
        self.function_stack.append(info)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        super().leave_FunctionDef(original_node)
        self.function_stack.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        super().visit_Lambda(node)
        self.function_stack.append(None)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        super().leave_Lambda(original_node)
        self.function_stack.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        super().visit_ClassDef(node)
        self.classes.append(node)
        self.class_stack.append(node)
        self.methods.setdefault(node, {})
        self.self_attr_values.setdefault(node, {})

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        super().leave_ClassDef(original_node)
        self.class_stack.pop()

    def visit_Return(self, node: cst.Return) -> None:
        if self.function_stack and self.function_stack[-1] is not None:
            self.function_stack[-1].returns.append(node)

    def _yield(self, node: cst.CSTNode) -> None:
        if self.function_stack and self.function_stack[-1] is not None:
            self.function_stack[-1].has_yield = True

    visit_Yield = _yield  # type: ignore[assignment]

    def _record_self_attr(self, target: cst.BaseExpression,
                          value: Optional[cst.BaseExpression]) -> None:
        info = self._current_method()
        if info is None or info.cls is None or info.self_name is None:
            return
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) \
                and target.value.value == info.self_name:
            self.self_attr_values[info.cls].setdefault(target.attr.value, []).append(value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._record_self_attr(element.value, None)

    def _current_method(self) -> Optional[FunctionInfo]:
        if not self.function_stack:
            return None
        info = self.function_stack[-1]
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


class ModuleAnalysis:
    """Name resolution and shared facts about one parsed module."""

    def __init__(self, module: cst.Module, record: Optional[Recording] = None) -> None:
        """``record``: where to keep the events of this walk, for the engine
        to replay to the rules."""
        builder = _Builder(module)
        walk(module, [builder], record=record)
        self.module = module
        self.module_scope = builder.module_scope
        self._scope_of_name = builder.scope_of_name
        self.scope_of_node = builder.scope_of_node
        self.functions = builder.functions
        self.classes = builder.classes
        self.methods = builder.methods
        self.self_attr_values = builder.self_attr_values
        self.thread_classes = self._find_subclasses(THREAD_CONSTRUCTORS)

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
    def _find_subclasses(self, roots: Dict[str, str]) -> Dict[cst.ClassDef, str]:
        found: Dict[cst.ClassDef, str] = {}
        changed = True
        while changed:
            changed = False
            for cls in self.classes:
                if cls in found:
                    continue
                for base in cls.bases:
                    if base.keyword is not None:
                        continue
                    kind = self._class_kind(base.value, roots, found)
                    if kind is not None:
                        found[cls] = kind
                        changed = True
                        break
        return found

    def _class_kind(self, expr: cst.BaseExpression, roots: Dict[str, str],
                    local: Dict[cst.ClassDef, str]) -> Optional[str]:
        name = self.resolves_to(expr, roots)
        if name is not None:
            return roots[name]
        definition = self.local_definition(expr)
        if isinstance(definition, cst.ClassDef):
            return local.get(definition)
        return None

    def method(self, cls: cst.ClassDef, name: str) -> Optional[cst.FunctionDef]:
        return self.methods.get(cls, {}).get(name)

    def method_class(self, func: Optional[cst.FunctionDef]) -> Optional[cst.ClassDef]:
        info = self.functions.get(func) if func is not None else None
        return info.cls if info is not None else None

    # -- constructors --------------------------------------------------------
    def thread_constructor(self, call: cst.Call) -> Optional[ThreadConstructor]:
        """What thread-like object ``call`` makes, or None."""
        name = self.resolves_to(call.func, THREAD_CONSTRUCTORS)
        if name is not None:
            return ThreadConstructor(THREAD_CONSTRUCTORS[name])
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "Process" \
                and self._is_multiprocessing_context(func.value):
            return ThreadConstructor("process")  # `multiprocessing.get_context("spawn").Process`
        definition = self.local_definition(call.func)
        if isinstance(definition, cst.ClassDef) and definition in self.thread_classes:
            return ThreadConstructor(self.thread_classes[definition], definition)
        return None

    def _is_multiprocessing_context(self, expr: cst.BaseExpression) -> bool:
        """``multiprocessing.get_context(...)``, or a name or ``self`` attribute
        every assignment of which is one."""
        if isinstance(expr, cst.Call):
            return self.resolves_to(expr.func, MULTIPROCESSING_CONTEXTS) is not None
        values = self.assigned_values(expr) if isinstance(expr, (cst.Name, cst.Attribute)) else None
        return bool(values) and all(
            isinstance(value, cst.Call) and self.resolves_to(value.func, MULTIPROCESSING_CONTEXTS)
            is not None for value in values)  # type: ignore[union-attr]

    def executor_constructor(self, call: cst.Call) -> Optional[str]:
        name = self.resolves_to(call.func, EXECUTOR_CONSTRUCTORS)
        return EXECUTOR_CONSTRUCTORS[name] if name is not None else None

    # -- values --------------------------------------------------------------
    def self_attribute(self, expr: cst.BaseExpression) -> Optional[tuple]:
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
            return list(recorded)  # type: ignore[arg-type]
        return None

    def made_by(self, expr: cst.BaseExpression, kind_of) -> Optional[List[str]]:
        """Kinds of object ``expr`` is built as, when every value it holds is a call
        that ``kind_of`` classifies; otherwise None."""
        if isinstance(expr, cst.Call):
            kind = kind_of(expr)
            return [kind] if kind is not None else None
        values = self.assigned_values(expr)
        if not values:
            return None
        kinds = []
        for value in values:
            kind = kind_of(value) if isinstance(value, cst.Call) else None
            if kind is None:
                return None
            kinds.append(kind)
        return kinds

    def is_thread(self, expr: cst.BaseExpression) -> bool:
        return self.made_by(expr, self.thread_constructor) is not None

    def is_executor(self, expr: cst.BaseExpression) -> bool:
        return self.made_by(expr, self.executor_constructor) is not None


def keyword_or_positional(call: cst.Call, keyword: str, index: int) -> Optional[cst.Arg]:
    """The argument bound to parameter ``keyword`` at position ``index``."""
    position = 0
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value == keyword:
                return arg
            continue
        if arg.star:
            return None  # positions after *args are unknowable
        if position == index:
            return arg
        position += 1
    return None


def thread_class_defines_init(analysis: ModuleAnalysis, cls: Optional[cst.ClassDef]) -> bool:
    """Whether a local thread subclass (or a local base of it) has its own ``__init__``,
    so the standard ``Thread`` parameters may mean something else."""
    seen = set()
    while cls is not None and cls not in seen:
        seen.add(cls)
        if analysis.method(cls, "__init__") is not None:
            return True
        parent = None
        for base in cls.bases:
            definition = analysis.local_definition(base.value)
            if isinstance(definition, cst.ClassDef) and definition in analysis.thread_classes:
                parent = definition
                break
        cls = parent
    return False


LITERAL_TYPES = (
    cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString,
    cst.FormattedString, cst.Tuple, cst.List, cst.Dict, cst.Set, cst.ListComp, cst.SetComp,
    cst.DictComp, cst.Comparison,
)


def is_plain_literal(expr: Optional[cst.BaseExpression]) -> bool:
    """A value that is clearly not callable: literals, None/True/False, comparisons."""
    if expr is None:
        return True
    if isinstance(expr, LITERAL_TYPES):
        return True
    if isinstance(expr, cst.Name) and expr.value in ("None", "True", "False"):
        return True
    if isinstance(expr, cst.UnaryOperation):
        return is_plain_literal(expr.expression)
    return False


def returns_no_callable(info: FunctionInfo) -> bool:
    """True when calling the function clearly gives back something not callable.

    Generators, coroutines and decorated functions are never judged: what the
    call returns is not what the ``def`` says.
    """
    if info.has_yield or info.is_async:
        return False
    if any(name not in ("staticmethod", "classmethod") for name in info.decorator_names):
        return False
    return all(is_plain_literal(ret.value) for ret in info.returns)
