"""Which code runs in threads: entry points, direct calls and reachability.

A *thread entry* is a function (or lambda) some thread starts in:

- the target of ``threading.Thread`` / ``threading.Timer`` (and local
  subclasses that keep ``Thread``'s parameters) and of
  ``_thread.start_new_thread``;
- the ``run()`` of a local ``Thread`` subclass;
- a callable handed to a thread-pool executor (``submit``, ``map``), to a
  ``multiprocessing.pool.ThreadPool`` (``apply_async``, ``map``...), to
  ``loop.run_in_executor`` or to ``asyncio.to_thread``.

``multiprocessing.Process`` targets and process-pool tasks are not entries: a
process does not share this module's memory.

Every function of the module reachable from an entry by direct calls
(``f()``, ``self.m()``, ``cls.m()``, ``super().m()``, ``Class.m()``,
``Class()`` -> ``__init__``) also runs in that thread. Each call site
remembers whether a lock was held there, so a rule can ask for reachability
along paths that never hold a lock.

:class:`ThreadFacts` collects all of this during the engine's one batched
traversal. Rules that need it inherit :class:`ThreadFactsFeed`, which forwards
the traversal's events to the one ``ThreadFacts`` shared by every such rule of
the module; rules read the facts at ``visit_*`` time (the current function,
whether a lock is held) and the results in ``leave_Module``.
"""

from __future__ import annotations

import weakref
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Set, Tuple, Union

import libcst as cst

from threadlint.analysis.locks import acquire_regions, core_identifier, expr_key, \
    identifier_words, is_lockish_name, may_hold_lock
from threadlint.analysis.model import EXECUTOR_CONSTRUCTORS, THREAD_CONSTRUCTORS, FunctionInfo, \
    ModuleAnalysis, keyword_or_positional

if TYPE_CHECKING:  # pragma: no cover
    from threadlint.engine import LintContext

Unit = Union[cst.FunctionDef, cst.Lambda]

_PARTIAL = ("functools.partial",)
# multiprocessing's thread pools: same API as the process Pool, but threads.
_THREAD_POOLS = ("multiprocessing.pool.ThreadPool", "multiprocessing.dummy.Pool",
                 "multiprocessing.dummy.ThreadPool")
_POOL_METHODS = frozenset({"apply", "apply_async", "map", "map_async", "imap", "imap_unordered",
                           "starmap", "starmap_async"})
_TO_THREAD = ("asyncio.to_thread", "asyncio.threads.to_thread")
_START_NEW_THREAD = ("_thread.start_new_thread", "_thread.start_new")
# Decorators that run the whole function under a lock.
_SYNCHRONIZED_WORDS = frozenset({"synchronized", "synchronised", "locked"})
_START_NEW_THREAD_NAMES = ("start_new_thread", "start_new")
# Last parts of the dotted names a call registering a thread entry can have.
_ENTRY_CALL_NAMES = frozenset({"Thread", "Timer", "Process", "to_thread"}) \
    | set(_START_NEW_THREAD_NAMES)
_ENTRY_METHODS = frozenset({"submit", "map", "run_in_executor"}) | _POOL_METHODS
#: Every qualified name whose call (or method call on whose result) can make a
#: thread entry; ``run_in_executor`` is the one entry reached without them.
ENTRY_QUALIFIED_NAMES: Tuple[str, ...] = (
    tuple(THREAD_CONSTRUCTORS) + tuple(EXECUTOR_CONSTRUCTORS) + _THREAD_POOLS + _TO_THREAD
    + _START_NEW_THREAD)


_UNIT_TYPES = (cst.FunctionDef, cst.Lambda)
_SCOPE_TYPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)


@dataclass(frozen=True)
class ThreadEntry:
    """A function or lambda a thread starts in, and how it was handed over."""

    unit: Unit
    kind: str  # "thread target", "timer function", "thread run()", "executor task"...
    label: str  # 'worker', 'Poller.run', 'lambda'

    def describe(self) -> str:
        return f"{self.kind} '{self.label}'"


@dataclass(frozen=True)
class CallSite:
    caller: Unit
    callee: cst.FunctionDef
    node: cst.Call
    held: bool  # a lock was held at the call


def unit_label(analysis: ModuleAnalysis, unit: Unit) -> str:
    if isinstance(unit, cst.Lambda):
        return "lambda"
    info = analysis.functions.get(unit)
    if info is not None and info.cls is not None:
        return f"{info.cls.name.value}.{unit.name.value}"
    return unit.name.value


def local_bases(analysis: ModuleAnalysis, cls: cst.ClassDef) -> List[cst.ClassDef]:
    found = []
    for base in cls.bases:
        if base.keyword is None:
            definition = analysis.local_definition(base.value)
            if isinstance(definition, cst.ClassDef):
                found.append(definition)
    return found


def method_in_mro(analysis: ModuleAnalysis, cls: cst.ClassDef, name: str,
                  _seen: Optional[Set[cst.ClassDef]] = None) -> Optional[cst.FunctionDef]:
    """``name`` looked up in ``cls`` and its bases defined in this module."""
    seen = _seen if _seen is not None else set()
    if cls in seen:
        return None
    seen.add(cls)
    method = analysis.method(cls, name)
    if method is not None:
        return method
    for base in local_bases(analysis, cls):
        found = method_in_mro(analysis, base, name, seen)
        if found is not None:
            return found
    return None


def class_ref(analysis: ModuleAnalysis, expr: cst.BaseExpression) -> Optional[cst.ClassDef]:
    """The local class ``expr`` names: ``Counter``, ``cls`` in a classmethod,
    ``type(self)`` and ``self.__class__``."""
    if isinstance(expr, cst.Name):
        definition = analysis.local_definition(expr)
        if isinstance(definition, cst.ClassDef):
            return definition
        bindings = analysis.bindings(expr)
        if len(bindings) == 1 and bindings[0].kind == "param":
            info = analysis.functions.get(bindings[0].scope.node)  # type: ignore[arg-type]
            if info is not None and info.cls is not None and info.self_name == expr.value \
                    and "classmethod" in info.decorator_names:
                return info.cls
        return None
    if isinstance(expr, cst.Call) and len(expr.args) == 1 \
            and analysis.resolves_to(expr.func, ("builtins.type",)):
        return _self_class(analysis, expr.args[0].value)
    if isinstance(expr, cst.Attribute) and expr.attr.value == "__class__":
        return _self_class(analysis, expr.value)
    return None


def _self_class(analysis: ModuleAnalysis, expr: cst.BaseExpression) -> Optional[cst.ClassDef]:
    """The class of the method whose ``self`` parameter ``expr`` is."""
    if not isinstance(expr, cst.Name):
        return None
    bindings = analysis.bindings(expr)
    if len(bindings) != 1 or bindings[0].kind != "param":
        return None
    info = analysis.functions.get(bindings[0].scope.node)  # type: ignore[arg-type]
    if info is None or info.cls is None or info.self_name != expr.value \
            or "classmethod" in info.decorator_names:
        return None
    return info.cls


class ThreadFacts:
    """Thread entries, the direct-call graph and held locks of one module."""

    def __init__(self, analysis: ModuleAnalysis) -> None:
        self.analysis = analysis
        self.reset()
        self._subclasses: Optional[Dict[cst.ClassDef, List[cst.ClassDef]]] = None
        self._name_sets: Optional[Tuple[Set[str], Set[str], Set[str]]] = None

    def reset(self) -> None:
        self.entries: List[ThreadEntry] = []
        self._entry_units: Set[cst.CSTNode] = set()
        self.calls: Dict[Unit, List[CallSite]] = {}
        self.units: List[Optional[Unit]] = [None]
        # One stack of held lock keys per unit: a nested def's body does not
        # run under the lock held where it is defined.
        self._frames: List[List[str]] = [[]]
        self._pushed: List[int] = []
        self._regions: Dict[cst.CSTNode, frozenset] = {}
        self.owner: Optional[int] = None  # id() of the rule instance feeding the events
        self._module: Optional[cst.Module] = None
        self._fed = False
        self._finished = False
        self._reach: Dict[bool, Dict[cst.CSTNode, ThreadEntry]] = {}

    # -- traversal state, read by rules at visit time -------------------------
    @property
    def current_unit(self) -> Optional[Unit]:
        """The innermost ``def`` or lambda (None at module or class level)."""
        return self.units[-1]

    def lock_held(self) -> bool:
        return bool(self._frames[-1])

    def held_keys(self) -> List[str]:
        return list(self._frames[-1])

    # -- feeding ---------------------------------------------------------------
    def start(self, rule: object, module: cst.Module) -> None:
        """A rule's ``visit_Module``. The first rule to arrive feeds the events.

        In the engine's batched traversal every rule's ``visit_Module`` runs
        before any other event, so a second rule arriving finds nothing fed
        yet and leaves the feeding to the first. Anything else (the engine
        retrying rules one by one after an error) is a new traversal: start over.
        """
        if self.owner is not None and self._module is module and not self._fed:
            return
        self.reset()
        # An id, not the rule: the rule holds the context these facts are
        # filed under, and a reference back would keep both alive forever.
        self.owner = id(rule)
        self._module = module
        self._enter_block(module)

    def enter(self, node: cst.CSTNode) -> None:
        self._fed = True
        node_type = type(node)
        frame = self._frames[-1]
        pushed = 0
        region = self._regions.get(node)
        if region:
            frame.extend(region)
            pushed = len(region)
        if node_type is cst.Call:
            self._on_call(node)  # type: ignore[arg-type]
        elif node_type is cst.IndentedBlock:
            self._enter_block(node)  # type: ignore[arg-type]
        elif node_type is cst.With:
            for item in node.items:  # type: ignore[attr-defined]
                if may_hold_lock(self.analysis, item):
                    frame.append(expr_key(item.item))
                    pushed += 1
        self._pushed.append(pushed)
        if node_type in _UNIT_TYPES:
            self.units.append(node)  # type: ignore[arg-type]
            self._frames.append(["@synchronized"] if self._synchronized(node) else [])
        elif node_type is cst.ClassDef:
            self.units.append(None)
            self._frames.append([])

    def leave(self, node: cst.CSTNode) -> None:
        if type(node) in _SCOPE_TYPES:
            self.units.pop()
            self._frames.pop()
        pushed = self._pushed.pop() if self._pushed else 0
        if pushed:
            del self._frames[-1][-pushed:]

    def _enter_block(self, node: Union[cst.Module, cst.IndentedBlock]) -> None:
        regions = acquire_regions(self.analysis, node.body)
        if regions:
            self._regions.update(regions)

    @staticmethod
    def _synchronized(node: cst.CSTNode) -> bool:
        """``@synchronized``, ``@with_lock``, ``@lockutils.synchronized(...)``..."""
        if not isinstance(node, cst.FunctionDef):
            return False
        for decorator in node.decorators:
            name = core_identifier(decorator.decorator)
            if name is not None and (is_lockish_name(name)
                                     or _SYNCHRONIZED_WORDS & set(identifier_words(name))):
                return True
        return False

    # -- calls -----------------------------------------------------------------
    def _on_call(self, call: cst.Call) -> None:
        self._register_entry(call)
        caller = self.current_unit
        if caller is None:
            return
        held = self.lock_held()
        for callee in self.callees(call.func):
            self.calls.setdefault(caller, []).append(CallSite(caller, callee, call, held))

    def _names(self) -> Tuple[Set[str], Set[str], Set[str]]:
        """Cheap filters computed once per module: names of local functions and
        classes, names of local methods, and the names a thread constructor or
        thread helper can be called by (``Thread``, an alias, a local subclass)."""
        if self._name_sets is None:
            analysis = self.analysis
            defs: Set[str] = set()
            entry_names: Set[str] = set(_ENTRY_CALL_NAMES)
            scopes = [analysis.module_scope] + [info.scope for info in analysis.functions.values()]
            for scope in scopes:
                for name, bindings in scope.bindings.items():
                    for binding in bindings:
                        if binding.kind in ("def", "class"):
                            defs.add(name)
                        elif binding.kind == "import" and binding.qualified is not None \
                                and binding.qualified.rsplit(".", 1)[-1] in _ENTRY_CALL_NAMES:
                            entry_names.add(name)
                        elif binding.kind == "assign" and binding.value is not None \
                                and isinstance(binding.value, (cst.Name, cst.Attribute)) \
                                and core_identifier(binding.value) in _ENTRY_CALL_NAMES:
                            entry_names.add(name)  # `_start_new_thread = _thread.start_new_thread`
            methods = {name for table in analysis.methods.values() for name in table}
            entry_names.update(cls.name.value for cls in analysis.thread_classes)
            self._name_sets = (defs, methods, entry_names)
        return self._name_sets

    def callees(self, func: cst.BaseExpression) -> List[cst.FunctionDef]:
        """Functions of this module a call of ``func`` runs directly."""
        analysis = self.analysis
        defs, methods, _ = self._names()
        if isinstance(func, cst.Name):
            if func.value not in defs:
                return []
            definition = analysis.local_definition(func)
            if isinstance(definition, cst.FunctionDef):
                return [definition]
            if isinstance(definition, cst.ClassDef):
                init = method_in_mro(analysis, definition, "__init__")
                return [init] if init is not None else []
            return []
        if not isinstance(func, cst.Attribute) or func.attr.value not in methods:
            return []
        name = func.attr.value
        receiver = func.value
        owner = analysis.self_attribute(func)
        if owner is not None:
            cls = owner[0]
            # An instance attribute of the same name would shadow the method.
            if name in analysis.self_attr_values.get(cls, {}):
                return []
            return self._methods_with_overrides(cls, name)
        if isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Name) \
                and receiver.func.value == "super":
            cls = self._enclosing_class()
            if cls is None:
                return []
            for base in local_bases(analysis, cls):
                found = method_in_mro(analysis, base, name)
                if found is not None:
                    return [found]
            return []
        cls = class_ref(analysis, receiver)
        if cls is not None:
            found = method_in_mro(analysis, cls, name)
            return [found] if found is not None else []
        cls = self._instance_class(receiver)
        if cls is not None:
            found = method_in_mro(analysis, cls, name)
            return [found] if found is not None else []
        return []

    def _enclosing_class(self) -> Optional[cst.ClassDef]:
        for unit in reversed(self.units):
            if isinstance(unit, cst.FunctionDef):
                info = self.analysis.functions.get(unit)
                if info is not None and info.cls is not None:
                    return info.cls
        return None

    def _instance_class(self, expr: cst.BaseExpression) -> Optional[cst.ClassDef]:
        """The local class every value of ``expr`` (a name or ``self.x``) is an instance of."""
        if not isinstance(expr, (cst.Name, cst.Attribute)):
            return None
        values = self.analysis.assigned_values(expr)
        if not values:
            return None
        classes = set()
        for value in values:
            if not isinstance(value, cst.Call):
                return None
            definition = self.analysis.local_definition(value.func)
            if not isinstance(definition, cst.ClassDef):
                return None
            classes.add(definition)
        return classes.pop() if len(classes) == 1 else None

    def _methods_with_overrides(self, cls: cst.ClassDef, name: str) -> List[cst.FunctionDef]:
        """``self.name()`` in ``cls``: its own (or inherited) method, plus overrides in
        local subclasses, which is what runs when ``self`` is one of them."""
        found: List[cst.FunctionDef] = []
        method = method_in_mro(self.analysis, cls, name)
        if method is not None:
            found.append(method)
        for sub in self._subclasses_of(cls):
            override = self.analysis.method(sub, name)
            if override is not None and override not in found:
                found.append(override)
        return found

    def _subclasses_of(self, cls: cst.ClassDef) -> List[cst.ClassDef]:
        if self._subclasses is None:
            direct: Dict[cst.ClassDef, List[cst.ClassDef]] = {}
            for candidate in self.analysis.classes:
                for base in local_bases(self.analysis, candidate):
                    direct.setdefault(base, []).append(candidate)
            self._subclasses = direct
        result: List[cst.ClassDef] = []
        todo = list(self._subclasses.get(cls, ()))
        while todo:
            sub = todo.pop()
            if sub in result or sub is cls:
                continue
            result.append(sub)
            todo.extend(self._subclasses.get(sub, ()))
        return result

    # -- entries ---------------------------------------------------------------
    def _register_entry(self, call: cst.Call) -> None:
        analysis = self.analysis
        func = call.func
        if isinstance(func, cst.Attribute):
            name = func.attr.value
            if name not in _ENTRY_METHODS and name not in self._names()[2]:
                return
        elif not isinstance(func, cst.Name) or func.value not in self._names()[2]:
            return
        ctor = analysis.thread_constructor(call)
        if ctor is not None:
            if ctor.kind == "process":
                return
            cls = ctor.local_class
            if cls is not None and (method_in_mro(analysis, cls, "__init__") is not None
                                    or method_in_mro(analysis, cls, "run") is not None):
                return  # its own __init__ or run(): `target` may mean something else
            arg = keyword_or_positional(call, ctor.target_keyword, 1)
            kind = "timer function" if ctor.kind == "timer" else "thread target"
            if arg is not None:
                self._add_entries(arg.value, kind)
            return
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in ("submit", "map"):
                kinds = analysis.made_by(func.value, analysis.executor_constructor)
                if kinds and all(k == "thread" for k in kinds):
                    arg = keyword_or_positional(call, "fn", 0)
                    if arg is not None:
                        self._add_entries(arg.value, "executor task")
                    return
            if method in _POOL_METHODS and analysis.made_by(func.value, self._thread_pool):
                arg = keyword_or_positional(call, "func", 0)
                if arg is not None:
                    self._add_entries(arg.value, "thread pool task")
                return
            if method == "run_in_executor":
                executor = keyword_or_positional(call, "executor", 0)
                if executor is not None and not (isinstance(executor.value, cst.Name)
                                                 and executor.value.value == "None"):
                    kinds = analysis.made_by(executor.value, analysis.executor_constructor)
                    if kinds and any(k != "thread" for k in kinds):
                        return
                arg = keyword_or_positional(call, "func", 1)
                if arg is not None:
                    self._add_entries(arg.value, "executor task")
                return
        if analysis.resolves_to(func, _TO_THREAD):
            arg = keyword_or_positional(call, "func", 0)
            if arg is not None:
                self._add_entries(arg.value, "to_thread function")
        elif analysis.resolves_to(func, _START_NEW_THREAD):  # aliases included
            arg = keyword_or_positional(call, "function", 0)
            if arg is not None:
                self._add_entries(arg.value, "thread target")

    def _thread_pool(self, call: cst.Call) -> Optional[str]:
        return "thread" if self.analysis.resolves_to(call.func, _THREAD_POOLS) else None

    def _add_entries(self, target: cst.BaseExpression, kind: str) -> None:
        for unit in self.callables(target):
            if unit not in self._entry_units:
                self._entry_units.add(unit)
                self.entries.append(ThreadEntry(unit, kind, unit_label(self.analysis, unit)))

    def callables(self, target: cst.BaseExpression) -> List[Unit]:
        """The functions or lambdas of this module ``target`` evaluates to."""
        if isinstance(target, cst.Lambda):
            return [target]
        if isinstance(target, cst.Call) and target.args \
                and self.analysis.resolves_to(target.func, _PARTIAL):
            return self.callables(target.args[0].value)
        if isinstance(target, cst.Name):
            values = self.analysis.assigned_values(target)
            if values and len(values) == 1 and isinstance(values[0], cst.Lambda):
                return [values[0]]
        return list(self.callees(target))

    # -- results ---------------------------------------------------------------
    def finish(self) -> None:
        """Add the ``run()`` of local Thread subclasses to the entries."""
        if self._finished:
            return
        self._finished = True
        for cls, kind in self.analysis.thread_classes.items():
            if kind == "process":
                continue
            run = self.analysis.method(cls, "run")
            if run is not None and run not in self._entry_units:
                self._entry_units.add(run)
                self.entries.append(ThreadEntry(run, "thread run()",
                                                unit_label(self.analysis, run)))

    def reached(self, unlocked_only: bool) -> Dict[cst.CSTNode, ThreadEntry]:
        """Every unit threads run, mapped to the first entry reaching it.

        With ``unlocked_only``, call edges taken while a lock is held are not
        followed: a helper only ever called under a lock is protected by it.
        """
        self.finish()
        cached = self._reach.get(unlocked_only)
        if cached is not None:
            return cached
        reached: Dict[cst.CSTNode, ThreadEntry] = {}
        for entry in self.entries:
            if entry.unit in reached:
                continue
            reached[entry.unit] = entry
            todo = deque([entry.unit])
            while todo:
                unit = todo.popleft()
                for site in self.calls.get(unit, ()):  # type: ignore[arg-type]
                    if unlocked_only and site.held:
                        continue
                    if site.callee not in reached:
                        reached[site.callee] = entry
                        todo.append(site.callee)
        self._reach[unlocked_only] = reached
        return reached

    def function_info(self, unit: Optional[Unit]) -> Optional[FunctionInfo]:
        return self.analysis.functions.get(unit) if isinstance(unit, cst.FunctionDef) else None


# One ThreadFacts per lint of a module, shared by the rules that feed it.
_FACTS: "weakref.WeakKeyDictionary[object, ThreadFacts]" = weakref.WeakKeyDictionary()


def thread_facts(ctx: "LintContext") -> ThreadFacts:
    facts = _FACTS.get(ctx)
    if facts is None or facts.analysis is not ctx.analysis:
        facts = ThreadFacts(ctx.analysis)
        _FACTS[ctx] = facts
    return facts


# Node types whose events ThreadFacts needs: scopes, blocks, statements that may
# sit in an acquire region, ``with`` and calls.
FED_TYPES: Tuple[str, ...] = (
    "FunctionDef", "Lambda", "ClassDef", "IndentedBlock", "SimpleStatementLine",
    "If", "For", "While", "Try", "TryStar", "With", "Match", "Call",
)


class ThreadFactsFeed:
    """Mixin for rules reading :class:`ThreadFacts`: forwards traversal events.

    All rules of a module share one ``ThreadFacts``; the first of them to
    reach ``visit_Module`` feeds it, the others only read. A rule that defines
    its own ``visit_X``/``leave_X`` for ``Module`` or one of :data:`FED_TYPES`
    must call ``super()`` first, so the facts are up to date when it reads them.
    """

    ctx: "LintContext"
    _facts: ThreadFacts

    @property
    def facts(self) -> ThreadFacts:
        facts = self.__dict__.get("_facts")
        if facts is None:
            facts = self._facts = thread_facts(self.ctx)
        return facts

    def visit_Module(self, node: cst.Module) -> None:
        self.facts.start(self, node)

    def leave_Module(self, original_node: cst.Module) -> None:
        self.facts.finish()


def _make_feed(node_type: str):
    def visit(self, node: cst.CSTNode) -> None:
        facts = self._facts
        if facts.owner == id(self):
            facts.enter(node)

    def leave(self, original_node: cst.CSTNode) -> None:
        facts = self._facts
        if facts.owner == id(self):
            facts.leave(original_node)

    # Both engines find visitor methods by name, libcst's through __name__.
    visit.__name__ = visit.__qualname__ = f"visit_{node_type}"
    leave.__name__ = leave.__qualname__ = f"leave_{node_type}"
    return visit, leave


for _type in FED_TYPES:
    _visit, _leave = _make_feed(_type)
    setattr(ThreadFactsFeed, f"visit_{_type}", _visit)
    setattr(ThreadFactsFeed, f"leave_{_type}", _leave)
del _type, _visit, _leave
