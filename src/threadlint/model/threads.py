"""Which code runs in threads: entry points, direct calls and reachability.

A *thread entry* is a function (or lambda) some thread starts in:

- the target of ``threading.Thread`` / ``threading.Timer`` (and local
  subclasses that keep ``Thread``'s parameters) and of
  ``_thread.start_new_thread``;
- the ``run()`` of a local ``Thread`` subclass;
- a callable handed to a thread-pool executor (``submit``, ``map``), to a
  ``multiprocessing.pool.ThreadPool`` (``apply_async``, ``map``...), to
  ``loop.run_in_executor`` or to ``asyncio.to_thread``;
- a done callback added to a future that a thread pool's ``submit()`` made
  (``fut.add_done_callback(cb)``: the worker thread that finishes the task
  runs it; a process pool's callbacks are not counted, though they run on a
  thread of this process too).

``multiprocessing.Process`` targets and process-pool tasks are not entries: a
process does not share this module's memory.

Every function of the module reachable from an entry by direct calls
(``f()``, ``self.m()``, ``cls.m()``, ``super().m()``, ``Class.m()``,
``Class()`` -> ``__init__``) also runs in that thread. Each call site
remembers whether a lock was held there, so a rule can ask for reachability
along paths that never hold a lock.

:class:`Threads` is fed ``Call`` events; the results (entries, the call
graph, reachability) are whole-module facts once it is finished.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple, cast

import libcst as cst

from threadlint.api import (
    EXECUTOR_METHODS,
    PARTIAL,
    POOL_METHODS,
    START_NEW_THREAD,
    THREAD_CONSTRUCTORS,
    THREAD_POOLS,
    THREADING_SERVERS,
    TO_THREAD,
)
from threadlint.model.classes import Classes
from threadlint.model.core import Model, Provider, Unit
from threadlint.model.locks import Locks, strong
from threadlint.model.names import Names
from threadlint.model.syntax import core_identifier, is_super_call, keyword_or_positional
from threadlint.model.values import Values

# Last parts of the dotted names a call registering a thread entry can have.
_START_NEW_THREAD_NAMES = frozenset(name.rsplit(".", 1)[1] for name in START_NEW_THREAD)
_ENTRY_CALL_NAMES = frozenset(name.rsplit(".", 1)[1] for name in
                              tuple(THREAD_CONSTRUCTORS) + TO_THREAD + THREADING_SERVERS) \
    | _START_NEW_THREAD_NAMES
_ENTRY_METHODS = EXECUTOR_METHODS | POOL_METHODS | {"run_in_executor", "add_done_callback"}
#: The kind of entry a request handler's methods are: a new handler object
#: per request, so its ``self`` is not shared between threads.
REQUEST_HANDLER = "request handler"


@dataclass(frozen=True)
class ThreadEntry:
    """A function or lambda a thread starts in, and how it was handed over."""

    unit: Unit
    kind: str  # "thread target", "timer function", "thread run()", "executor task"...
    label: str  # 'worker', 'Poller.run', 'lambda'
    #: For an entry made in another module (``threadlint.project``): where it
    #: is handed to a thread and the calls that lead here,
    #: `` at app/main.py:40 -> app.worker.loop -> app.cache.put``.
    via: str = ""

    def describe(self) -> str:
        return f"{self.kind} '{self.label}'{self.via}"


@dataclass(frozen=True)
class ForeignCall:
    """A call, in a function, of something imported (``cache.put(k, v)``):
    what it may name, resolved in the project index."""

    names: Tuple[str, ...]  # qualified names, as imports spell them (``.cache.put``)
    held: bool  # a lock was held at the call
    keys: Tuple[str, ...] = ()  # the locks held by a `with` or a released acquire there
    call: Optional[cst.Call] = None


@dataclass(frozen=True)
class ForeignEntry:
    """A callable of another module handed to a thread here
    (``Thread(target=worker.loop)``), or a request handler class of another
    module given to a threading server (``kind == REQUEST_HANDLER``)."""

    names: Tuple[str, ...]
    kind: str
    label: str  # the target as written: 'worker.loop'
    call: cst.Call


@dataclass(frozen=True)
class CallSite:
    caller: Unit
    callee: cst.FunctionDef
    node: cst.Call
    held: bool  # a lock was held at the call
    guarded: bool = False  # ... by a `with` or a released acquire region (not a gate)



class Threads(Provider):
    """Thread entries, the direct-call graph and held locks at calls (fed ``Call``)."""

    requires = (Names, Classes, Values, Locks)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self.classes = model[Classes]
        self.values = model[Values]
        self._locks = model[Locks]
        self._cursor = model.cursor
        self.entries: List[ThreadEntry] = []
        self._entry_units: Set[cst.CSTNode] = set()
        #: Calls each unit makes to functions of this module.
        self.calls: Dict[Unit, List[CallSite]] = {}
        #: For each entry unit, every call that hands it to a thread, with the
        #: unit making that call (None at module level).
        self.handovers: Dict[Unit, List[Tuple[cst.Call, Optional[Unit]]]] = {}
        self._handing: Optional[cst.Call] = None
        #: Calls each unit makes of imported functions (whole-project analysis).
        self.foreign_calls: Dict[Unit, List[ForeignCall]] = {}
        #: Callables of other modules handed to threads here.
        self.foreign_entries: List[ForeignEntry] = []
        #: The ``start()`` of each local Thread subclass that overrides it, and
        #: its call that starts the thread (``super().start()``).
        self.starts: Dict[cst.FunctionDef, cst.Call] = {}
        self._reach: Dict[bool, Dict[cst.CSTNode, ThreadEntry]] = {}
        self._name_sets = self._names()

    # -- feeding -------------------------------------------------------------------
    def visit_Call(self, call: cst.Call) -> None:
        self._register_entry(call)
        caller = self._cursor.unit
        if caller is None:
            return
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "start":
            self._register_start_override(call)
        keys = self._locks.held_keys()
        held, guarded = bool(keys), bool(strong(keys))
        callees = self.callees(call.func)
        for callee in callees:
            self.calls.setdefault(caller, []).append(CallSite(caller, callee, call, held, guarded))
        if not callees and isinstance(call.func, (cst.Name, cst.Attribute)):
            names = self._foreign_names(call.func)
            if names:
                self.foreign_calls.setdefault(caller, []).append(
                    ForeignCall(names, held, tuple(strong(keys)), call))

    def _foreign_names(self, expr: cst.BaseExpression, handed: bool = False) -> Tuple[str, ...]:
        """What ``expr`` names through an import (never a builtin): a dotted
        name (``cache.put``), or a method of an object every value of which
        an imported class made (``store.add``, with ``store = cache.Store()``):
        when the object is handed to a thread (``handed``), or is a module
        global; an object a function makes and calls is that function's own,
        and calling it makes its class no one else's business."""
        found = {name for name in self.names.qualified_names(expr) if not name.startswith("builtins.")}
        receiver = expr.value if isinstance(expr, cst.Attribute) else None
        shared = handed or (isinstance(receiver, cst.Name) and bool(self.names.bindings(receiver))
                            and all(binding.scope is self.names.module_scope
                                    for binding in self.names.bindings(receiver)))
        if not found and shared and isinstance(expr, cst.Attribute) \
                and isinstance(receiver, (cst.Name, cst.Attribute)):
            values = self.names.assigned_values(receiver)
            if values and all(isinstance(value, cst.Call) for value in values):
                made = {frozenset(self.names.qualified_names(cast(cst.Call, value).func))
                        for value in values}
                if len(made) == 1:
                    classes = next(iter(made))
                    if len(classes) == 1 and not next(iter(classes)).startswith("builtins."):
                        found = {f"{next(iter(classes))}.{expr.attr.value}"}
        return tuple(sorted(found))

    def _register_start_override(self, call: cst.Call) -> None:
        """``super().start()`` (or ``threading.Thread.start(self)``) inside the
        ``start()`` of a local Thread subclass hands its ``run()`` to the new
        thread: what ``start()`` does before that call happens before it."""
        method = self._cursor.function
        if method is None or method.name.value != "start":
            return
        cls = self.names.method_class(method)
        if cls is None or self.classes.thread_classes.get(cls) not in ("thread", "timer"):
            return
        receiver = cast(cst.Attribute, call.func).value
        info = self.names.function_info(method)
        passes_self = bool(call.args) and isinstance(call.args[0].value, cst.Name) \
            and info is not None and call.args[0].value.value == info.self_name
        if not (is_super_call(receiver) or (passes_self and self.classes.is_thread_class(receiver))):
            return
        self.starts.setdefault(method, call)
        for member in [cls, *self.classes.subclasses(cls)]:
            run = self.classes.lookup(member, "run")
            if run is not None:
                self.handovers.setdefault(run, []).append((call, self._cursor.unit))

    def finish(self) -> None:
        """Add the ``run()`` of local Thread subclasses to the entries, and the
        functions other modules hand to threads (``Options.entries``)."""
        for cls, kind in self.classes.thread_classes.items():
            if kind == "process":
                continue
            run = self.names.method(cls, "run")
            if run is not None and run not in self._entry_units:
                self._entry_units.add(run)
                self.entries.append(ThreadEntry(run, "thread run()", self.names.unit_label(run)))
        given = self.model.options.entries
        if given:
            units = {name: unit for unit, name in self.names.unit_ids().items()}
            for unit_id, kind, label, via in given:
                unit = units.get(unit_id)
                if unit is not None and unit not in self._entry_units:
                    self._entry_units.add(unit)
                    self.entries.append(ThreadEntry(unit, kind, label, via))

    def _names(self) -> Tuple[Set[str], Set[str], Set[str]]:
        """Cheap filters computed once per module: names of local functions and
        classes, names of local methods, and the names a thread constructor or
        thread helper can be called by (``Thread``, an alias, a local subclass)."""
        names = self.names
        defs: Set[str] = set()
        entry_names: Set[str] = set(_ENTRY_CALL_NAMES)
        scopes = [names.module_scope] + [info.scope for info in names.functions.values()]
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
        methods = {name for table in names.methods.values() for name in table}
        entry_names.update(cls.name.value for cls in self.classes.thread_classes)
        entry_names.update(cls.name.value for cls in self.classes.threading_servers)
        return defs, methods, entry_names

    # -- the call graph --------------------------------------------------------------
    def callees(self, func: cst.BaseExpression) -> List[cst.FunctionDef]:
        """Functions of this module a call of ``func`` at the current position
        runs directly (``super().m()`` needs the enclosing method)."""
        names, classes = self.names, self.classes
        defs, methods, _ = self._name_sets
        if isinstance(func, cst.Name):
            if func.value not in defs:
                return []
            definition = names.local_definition(func)
            if isinstance(definition, cst.FunctionDef):
                return [definition]
            if isinstance(definition, cst.ClassDef):
                init = classes.lookup(definition, "__init__")
                return [init] if init is not None else []
            return []
        if not isinstance(func, cst.Attribute) or func.attr.value not in methods:
            return []
        name = func.attr.value
        receiver = func.value
        owner = names.self_attribute(func)
        cls: Optional[cst.ClassDef]
        if owner is not None:
            cls = owner[0]
            # An instance attribute of the same name would shadow the method.
            if name in names.self_attr_values.get(cls, {}):
                return []
            return classes.methods_with_overrides(cls, name)
        if is_super_call(receiver):
            cls = names.method_class(self._cursor.function)
            if cls is None:
                return []
            for base in classes.local_bases(cls):
                found = classes.lookup(base, name)
                if found is not None:
                    return [found]
            return []
        cls = classes.class_ref(receiver) or self._instance_class(receiver)
        if cls is not None:
            found = classes.lookup(cls, name)
            return [found] if found is not None else []
        return []

    def _instance_class(self, expr: cst.BaseExpression) -> Optional[cst.ClassDef]:
        """The local class every value of ``expr`` (a name or ``self.x``) is an instance of."""
        if not isinstance(expr, (cst.Name, cst.Attribute)):
            return None
        values = self.names.assigned_values(expr)
        if not values:
            return None
        found = set()
        for value in values:
            if not isinstance(value, cst.Call):
                return None
            definition = self.names.local_definition(value.func)
            if not isinstance(definition, cst.ClassDef):
                return None
            found.add(definition)
        return found.pop() if len(found) == 1 else None

    # -- entries -------------------------------------------------------------------------
    def _register_entry(self, call: cst.Call) -> None:
        names, values = self.names, self.values
        self._handing = call
        func = call.func
        if isinstance(func, cst.Attribute):
            name = func.attr.value
            if name not in _ENTRY_METHODS and name not in self._name_sets[2]:
                return
        elif not isinstance(func, cst.Name) or func.value not in self._name_sets[2]:
            return
        if self._register_handler(call):
            return
        ctor = values.thread_constructor(call)
        if ctor is not None:
            if ctor.kind == "process":
                return
            cls = ctor.local_class
            if cls is not None and (self.classes.lookup(cls, "__init__") is not None
                                    or self.classes.lookup(cls, "run") is not None):
                return  # its own __init__ or run(): `target` may mean something else
            arg = keyword_or_positional(call, ctor.target_keyword, 1)
            kind = "timer function" if ctor.kind == "timer" else "thread target"
            if arg is not None:
                self._add_entries(arg.value, kind)
            return
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method == "add_done_callback":
                if self._thread_future(func.value):
                    arg = keyword_or_positional(call, "fn", 0)
                    if arg is not None:
                        self._add_entries(arg.value, "done callback")
                return
            if method in EXECUTOR_METHODS:
                kinds = values.made_by(func.value, values.executor_constructor)
                if kinds and all(k == "thread" for k in kinds):
                    arg = keyword_or_positional(call, "fn", 0)
                    if arg is not None:
                        self._add_entries(arg.value, "executor task")
                    return
            if method in POOL_METHODS and values.made_by(func.value, self._thread_pool):
                arg = keyword_or_positional(call, "func", 0)
                if arg is not None:
                    self._add_entries(arg.value, "thread pool task")
                return
            if method == "run_in_executor":
                executor = keyword_or_positional(call, "executor", 0)
                if executor is not None and not (isinstance(executor.value, cst.Name)
                                                 and executor.value.value == "None"):
                    kinds = values.made_by(executor.value, values.executor_constructor)
                    if kinds and any(k != "thread" for k in kinds):
                        return
                arg = keyword_or_positional(call, "func", 1)
                if arg is not None:
                    self._add_entries(arg.value, "executor task")
                return
        if names.resolves_to(func, TO_THREAD):
            arg = keyword_or_positional(call, "func", 0)
            if arg is not None:
                self._add_entries(arg.value, "to_thread function")
        elif names.resolves_to(func, START_NEW_THREAD):  # aliases included
            arg = keyword_or_positional(call, "function", 0)
            if arg is not None:
                self._add_entries(arg.value, "thread target")

    def _register_handler(self, call: cst.Call) -> bool:
        """``ThreadingTCPServer(address, Handler)``: each request runs
        ``Handler.handle`` (and ``setup``/``finish``, and the ``do_GET``-style
        methods ``http.server`` handlers dispatch to) in a thread of its own."""
        func = call.func
        definition = self.names.local_definition(func)
        if not (self.names.resolves_to(func, THREADING_SERVERS) or (
                isinstance(definition, cst.ClassDef)
                and definition in self.classes.threading_servers)):
            return False
        arg = keyword_or_positional(call, "RequestHandlerClass", 1)
        handler = self.names.local_definition(arg.value) if arg is not None else None
        if arg is not None and handler is None and isinstance(arg.value, (cst.Name, cst.Attribute)):
            names = self._foreign_names(arg.value)
            if names:
                label = self.names.module.code_for_node(arg.value)
                self.foreign_entries.append(ForeignEntry(names, REQUEST_HANDLER, label, call))
        if isinstance(handler, cst.ClassDef):
            verbs = {name for cls in self.classes.mro(handler)
                     for name in self.names.methods.get(cls, {}) if name.startswith("do_")}
            for name in ("setup", "handle", "finish", *sorted(verbs)):
                method = self.classes.lookup(handler, name)
                if method is not None:
                    self.handovers.setdefault(method, []).append((call, self._cursor.unit))
                    if method not in self._entry_units:
                        self._entry_units.add(method)
                        self.entries.append(ThreadEntry(method, REQUEST_HANDLER,
                                                        self.names.unit_label(method)))
        return True

    def _thread_future(self, expr: cst.BaseExpression) -> bool:
        """``expr`` is a future a thread-pool executor's ``submit()`` made
        (directly, or every value it is bound to): its done callbacks run in
        the worker thread that finishes the task (or at once in the caller's,
        when it is already done)."""
        kinds = self.values.made_by(expr, self._submitted)
        return kinds is not None and bool(kinds) and all(kind == "thread" for kind in kinds)

    def _submitted(self, call: cst.Call) -> Optional[str]:
        func = call.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "submit"):
            return None
        kinds = self.values.made_by(func.value, self.values.executor_constructor)
        return "thread" if kinds and all(kind == "thread" for kind in kinds) else None

    def _thread_pool(self, call: cst.Call) -> Optional[str]:
        return "thread" if self.names.resolves_to(call.func, THREAD_POOLS) else None

    def _add_entries(self, target: cst.BaseExpression, kind: str) -> None:
        units = self.callables(target)
        if not units and self._handing is not None:
            self._add_foreign_entry(target, kind)
        for unit in units:
            if self._handing is not None:
                self.handovers.setdefault(unit, []).append((self._handing, self._cursor.unit))
            if unit not in self._entry_units:
                self._entry_units.add(unit)
                self.entries.append(ThreadEntry(unit, kind, self.names.unit_label(unit)))

    def _add_foreign_entry(self, target: cst.BaseExpression, kind: str) -> None:
        if isinstance(target, cst.Call) and target.args and self.names.resolves_to(target.func, PARTIAL):
            target = target.args[0].value
        if not isinstance(target, (cst.Name, cst.Attribute)) or self._handing is None:
            return
        names = self._foreign_names(target, handed=True)
        if names:
            label = self.names.module.code_for_node(target) if isinstance(target, cst.Attribute) \
                else target.value
            self.foreign_entries.append(ForeignEntry(names, kind, label, self._handing))

    def callables(self, target: cst.BaseExpression) -> List[Unit]:
        """The functions or lambdas of this module ``target`` evaluates to."""
        if isinstance(target, cst.Lambda):
            return [target]
        if isinstance(target, cst.Call) and target.args \
                and self.names.resolves_to(target.func, PARTIAL):
            return self.callables(target.args[0].value)
        if isinstance(target, cst.Name):
            values = self.names.assigned_values(target)
            if values and len(values) == 1 and isinstance(values[0], cst.Lambda):
                return [values[0]]
        return list(self.callees(target))

    # -- results ---------------------------------------------------------------------------
    def reached(self, unlocked_only: bool) -> Dict[cst.CSTNode, ThreadEntry]:
        """Every unit threads run, mapped to the first entry reaching it.

        With ``unlocked_only``, call edges taken while a lock is held are not
        followed: a helper only ever called under a lock is protected by it.
        """
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
                for site in self.calls.get(unit, ()):
                    if unlocked_only and site.held:
                        continue
                    if site.callee not in reached:
                        reached[site.callee] = entry
                        todo.append(site.callee)
        self._reach[unlocked_only] = reached
        return reached

    def where(self, unit: Unit, entry: ThreadEntry) -> str:
        """``thread target 'worker'`` or ``'helper' (reached from thread target 'worker')``."""
        if entry.unit is unit and (not entry.via or entry.label == self.names.unit_label(unit)):
            return entry.describe()
        return f"'{self.names.unit_label(unit)}' (reached from {entry.describe()})"
