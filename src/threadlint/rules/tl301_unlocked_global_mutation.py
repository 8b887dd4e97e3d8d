"""TL301 unlocked-global-mutation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, FrozenSet, List, Optional, Set, Tuple

import libcst as cst

from threadlint.analysis.scopes import Binding, Scope
from threadlint.analysis.thread_entry import ThreadFactsFeed, Unit, class_ref, local_bases, \
    unit_label
from threadlint.rules.base import THREAD_ENTRY_NEEDS, Rule
from threadlint.walk import walk

if TYPE_CHECKING:  # pragma: no cover
    from threadlint.engine import LintContext

# What a module-level (or class-level) value is, judged from its assignments.
_FACTORIES: Dict[str, str] = {
    "builtins.list": "list",
    "builtins.dict": "dict",
    "builtins.set": "set",
    "builtins.bytearray": "bytearray",
    "collections.Counter": "counter",
    "collections.defaultdict": "dict",
    "collections.OrderedDict": "ordereddict",
    "collections.ChainMap": "dict",
    "weakref.WeakValueDictionary": "dict",
    "weakref.WeakKeyDictionary": "dict",
    "weakref.WeakSet": "set",
    "types.SimpleNamespace": "namespace",
    "argparse.Namespace": "namespace",
}

_LIST_METHODS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"})
_DICT_METHODS = frozenset({"update", "setdefault", "pop", "popitem", "clear"})
_SET_METHODS = frozenset({"add", "discard", "remove", "pop", "clear", "update", "difference_update",
                          "intersection_update", "symmetric_difference_update"})
_MUTATING_METHODS: Dict[str, FrozenSet[str]] = {
    "list": _LIST_METHODS,
    "bytearray": _LIST_METHODS - {"sort"},
    "dict": _DICT_METHODS,
    "counter": _DICT_METHODS | {"subtract"},
    "ordereddict": _DICT_METHODS | {"move_to_end"},
    "set": _SET_METHODS,
}
_ITEM_KINDS = frozenset({"list", "bytearray", "dict", "counter", "ordereddict"})
# Objects whose attributes may be set freely: a plain instance or namespace.
_ATTRIBUTE_KINDS = frozenset({"namespace", "instance"})
_THREAD_LOCAL = ("threading.local", "_thread._local", "_threading_local.local")


@dataclass(frozen=True)
class _Mutation:
    unit: Unit
    node: cst.CSTNode
    label: str  # "global 'hits'", "class attribute 'Counter.total'"
    order: int  # position among the unit's mutations and `.set()` calls
    rebound: Optional[str] = None  # the global name, for a plain `name = value`
    constant: bool = False  # ... whose value is a literal constant


class _NameReads:
    """Counts loads of one name in a subtree (targets of plain assignments and
    names in `global`/`nonlocal` statements are not loads)."""

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

    def visit_Global(self, node: cst.Global) -> None:
        self.stores.update(id(item.name) for item in node.names)

    visit_Nonlocal = visit_Global  # type: ignore[assignment]

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == self.name and id(node) not in self.stores:
            self.reads += 1


def _is_constant(value: Optional[cst.BaseExpression]) -> bool:
    """A literal of an immutable type: a number, a string, True, False, None."""
    if isinstance(value, cst.UnaryOperation) and isinstance(value.operator, (cst.Minus, cst.Plus)):
        value = value.expression
    if isinstance(value, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString)):
        return True
    if isinstance(value, cst.ConcatenatedString):
        return _is_constant(value.left) and _is_constant(value.right)
    return isinstance(value, cst.Name) and value.value in ("True", "False", "None")


class UnlockedGlobalMutation(ThreadFactsFeed, Rule):
    """## What it does
    Checks for shared state mutated, outside a held lock, by code that runs in
    a thread: module-level names and class attributes changed from a thread
    target, a `Thread` subclass's `run()`, a task handed to a thread pool
    (`executor.submit`/`map`, `loop.run_in_executor`, `asyncio.to_thread`,
    `multiprocessing.pool.ThreadPool`), or any function of the same module
    those reach by direct calls. The message names the variable and the thread
    entry point the code is reached from.

    Mutations are: rebinding a `global` name (assignment, augmented assignment,
    `del`, `for` target, `with ... as`, walrus); item or attribute assignment or
    deletion on a module-level object (`cache[key] = value`, `state.n += 1`,
    `Counter.total += 1`, `cls.total += 1`); and mutating methods (`append`,
    `pop`, `update`, `setdefault`, `add`, `discard`, `sort`...) on a module-level
    list, dict, set, bytearray, `Counter`, `defaultdict` or `OrderedDict`.

    ## Why is this bad?
    Threads interleave between bytecodes: `hits += 1` is a read, an add and a
    write, and two threads doing it at once lose an update. Compound actions
    (check-then-insert, iterate-while-another-thread-appends) break even where
    single operations are atomic, and with free-threaded Python nothing is.

    ## Example
    ```python
    hits = 0
    seen = {}

    def handle_request(request):
        global hits
        hits += 1
        seen[request.path] = seen.get(request.path, 0) + 1

    threading.Thread(target=handle_request, args=(request,)).start()
    ```

    ## Use instead
    ```python
    hits = 0
    seen = {}
    stats_lock = threading.Lock()

    def handle_request(request):
        global hits
        with stats_lock:
            hits += 1
            seen[request.path] = seen.get(request.path, 0) + 1
    ```

    ## Known limitations
    - A lock is held inside `with L:` (any of its items), between
      `L.acquire()` and `L.release()` in one block (also when the release is
      in a `finally:`, and in the body of `if L.acquire(...):`), between
      helpers named for it (`logging._acquireLock()` ...
      `logging._releaseLock()`), inside a context manager given a lock or
      named for taking one (`with acquire_timeout(lock, 5):`), and for the
      whole body of a function decorated `@synchronized`, `@locked`,
      `@with_lock` and the like.
    - `L` is a lock when every value it is bound to in the module is a
      `threading`, `multiprocessing` or `asyncio` lock, condition or
      semaphore, or, when its type is unknown, when its name says so: a part
      of the name is `lock`, `mutex`, `cond`, `cv`, `sem`, `semaphore` or
      `guard`, or ends in `lock` (`rlock`, `_io_lock`, `stateLock`; not
      `block` or `clock`). When unsure, the rule assumes a lock: `with x:` on
      a plain name or attribute of unknown type, without `as` (a lock passed
      in as a parameter called `l`), counts as holding one. Any lock counts,
      even one the rest of the program does not use for the same data, and a
      fresh or function-local lock too (TL302 and TL304 report those).
    - A function only reached, from threads, through calls made while a lock
      is held is treated as protected by that lock; locks taken by callers in
      other modules are not seen.
    - Only calls the module makes directly are followed: `f()`, `self.m()`
      (including overrides in local subclasses), `cls.m()`, `super().m()`,
      `Class.m()`, `Class()` and methods of a name bound to a local class.
      Callbacks, properties, decorators that call later and functions started
      from other modules are not seen. A nested function or lambda runs in a
      thread only when it is itself handed to one or called directly.
    - Method calls are only judged on objects whose type is known from every
      assignment in the module: a list, dict or set display or comprehension,
      `list()`, `dict()`, `set()`, `bytearray()`, `collections.Counter`,
      `defaultdict`, `OrderedDict`, `ChainMap` and the `weakref` containers.
      `collections.deque`, queues, events, locks and objects of unknown type
      are never reported; nor are objects nested inside shared ones
      (`registry[name].append(x)`).
    - Attribute assignment on a module-level object is reported only for
      classes, `SimpleNamespace` objects and instances of local classes with no
      `__setattr__`, no property or method of that name, no foreign base and
      no metaclass (so never for `threading.local` subclasses). Imported
      modules and objects (`os.environ`, `config.DEBUG`) are not judged.
    - Classes defined inside a function are new objects on every call, as
      private as a local variable; their attributes are not shared state
      here. Instance attributes (`self.count += 1`) and closure variables
      are out of scope too.
    - Two plain rebindings of a global (`name = value`) are not reported:
      a literal constant (`exit_now = True`, `port = None`, `-1`, `"done"`)
      stored by a function that never reads that name, a one-way flag whose
      single store cannot lose an update (a function that reads the flag and
      then sets it, check-then-set, is reported); and a value followed, in the
      same function, by a call `.set()` with no arguments (taken to be an
      `Event`'s), which publishes it to threads that wait for the event.
      Other happens-before edges (a `join()` before the read, a queue) are not
      recognised, and item, attribute and method mutations are always judged.
    """

    code = "TL301"
    name = "unlocked-global-mutation"
    summary = "shared state mutated in code run by a thread without holding a lock"
    needs = THREAD_ENTRY_NEEDS

    def __init__(self, ctx: "LintContext") -> None:
        super().__init__(ctx)
        self.mutations: List[_Mutation] = []
        self._kinds: Dict[Tuple[int, str], Optional[str]] = {}
        self._global_rebinds: Optional[Dict[str, List[Binding]]] = None
        self._order = 0
        self._last_set: Dict[Unit, int] = {}  # the order of a unit's last `.set()`
        self._value: Optional[cst.BaseExpression] = None  # of the plain assignment at hand

    # -- collecting ------------------------------------------------------------
    def _record(self, node: cst.CSTNode, label: Optional[str], rebound: Optional[str] = None) -> None:
        unit = self.facts.current_unit
        if label is None or unit is None or self.facts.lock_held():
            return
        self._order += 1
        constant = rebound is not None and _is_constant(self._value)
        self.mutations.append(_Mutation(unit, node, label, self._order, rebound, constant))

    def visit_Assign(self, node: cst.Assign) -> None:
        simple = len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name)
        self._value = node.value if simple else None
        for target in node.targets:
            self._target(target.target, plain=True)
        self._value = None

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._value = node.value
            self._target(node.target, plain=True)
            self._value = None

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._target(node.target)

    def visit_Del(self, node: cst.Del) -> None:
        self._target(node.target)

    def visit_For(self, node: cst.For) -> None:
        super().visit_For(node)  # type: ignore[misc]
        self._target(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._target(node.asname.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._target(node.target)

    def visit_Call(self, node: cst.Call) -> None:
        super().visit_Call(node)  # type: ignore[misc]
        func = node.func
        unit = self.facts.current_unit
        if not isinstance(func, cst.Attribute) or unit is None:
            return
        if func.attr.value == "set" and not node.args:  # `ready.set()`: an Event, most likely
            self._order += 1
            self._last_set[unit] = self._order
            return
        shared = self._shared(func.value)
        if shared is not None and func.attr.value in _MUTATING_METHODS.get(shared[1] or "", ()):
            self._record(node, shared[0])

    def _target(self, target: cst.BaseExpression, plain: bool = False) -> None:
        """``plain``: the target of `=` (not `+=`, `del`, `for`...)."""
        if self.facts.current_unit is None:
            return  # module-level code runs at import, before any thread
        if isinstance(target, cst.Name):
            if self._declared_global(target):
                self._record(target, f"global '{target.value}'", target.value if plain else None)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._target(element.value, plain)
        elif isinstance(target, cst.StarredElement):
            self._target(target.value, plain)
        elif isinstance(target, cst.Subscript):
            shared = self._shared(target.value)
            if shared is not None and shared[1] in _ITEM_KINDS:
                self._record(target, shared[0])
        elif isinstance(target, cst.Attribute):
            cls = class_ref(self.analysis, target.value)
            if cls is not None:
                if self._shared_class(cls):
                    self._record(target, f"class attribute '{cls.name.value}.{target.attr.value}'")
                return
            if isinstance(target.value, cst.Name):
                shared = self._module_level(target.value)
                if shared is not None and shared[1] in _ATTRIBUTE_KINDS \
                        and not self._attribute_is_managed(target.value, target.attr.value):
                    self._record(target, shared[0])

    def _declared_global(self, name: cst.Name) -> bool:
        scope = self.analysis.scope_of(name)
        while scope is not None and scope.kind == "comprehension":
            scope = scope.parent  # a walrus in a comprehension binds outside it
        return scope is not None and name.value in scope.global_names

    # -- what is shared, and what it is ----------------------------------------
    def _shared(self, expr: cst.BaseExpression) -> Optional[Tuple[str, Optional[str]]]:
        """``(label, kind)`` when ``expr`` is a module-level name or a class attribute."""
        if isinstance(expr, cst.Name):
            return self._module_level(expr)
        if isinstance(expr, cst.Attribute):
            cls = class_ref(self.analysis, expr.value)
            if cls is not None and self._shared_class(cls):
                kind = self._class_attribute_kind(cls, expr.attr.value)
                return f"class attribute '{cls.name.value}.{expr.attr.value}'", kind
        return None

    def _shared_class(self, cls: cst.ClassDef) -> bool:
        """A class defined at module level (or in one): a class made inside a
        function is a new object on every call, as private as a local."""
        scope = self.analysis.scope_of_node.get(cls)
        scope = scope.parent if scope is not None else None
        while scope is not None:
            if scope.kind not in ("module", "class"):
                return False
            scope = scope.parent
        return True

    def _module_level(self, name: cst.Name) -> Optional[Tuple[str, Optional[str]]]:
        scope = self.analysis.scope_of(name)
        if scope is None:
            return None
        owner = scope.owner_of(name.value)
        module = self.analysis.module_scope
        if owner is not module:
            if owner is not None or name.value not in self._global_rebind_table():
                return None
        return f"global '{name.value}'", self._module_kind(name.value)

    def _global_rebind_table(self) -> Dict[str, List[Binding]]:
        """Bindings made in functions through a ``global`` declaration, by name."""
        if self._global_rebinds is None:
            table: Dict[str, List[Binding]] = {}
            for info in self.analysis.functions.values():
                for name in info.scope.global_names:
                    table.setdefault(name, []).extend(info.scope.bindings.get(name, ()))
            self._global_rebinds = table
        return self._global_rebinds

    def _module_kind(self, name: str) -> Optional[str]:
        key = (0, name)
        if key not in self._kinds:
            bindings = list(self.analysis.module_scope.bindings.get(name, ()))
            bindings += self._global_rebind_table().get(name, [])
            self._kinds[key] = self._kind_of_bindings(bindings)
        return self._kinds[key]

    def _class_attribute_kind(self, cls: cst.ClassDef, attr: str) -> Optional[str]:
        key = (id(cls), attr)
        if key not in self._kinds:
            scope = self.analysis.scope_of_node.get(cls)
            bindings = scope.bindings.get(attr, []) if scope is not None else []
            self._kinds[key] = self._kind_of_bindings(bindings)
        return self._kinds[key]

    def _kind_of_bindings(self, bindings: List[Binding]) -> Optional[str]:
        """The one kind every binding agrees on; None when any is unknown."""
        kinds = set()
        for binding in bindings:
            if binding.kind == "augassign" or (binding.kind == "assign" and binding.value is None):
                continue  # `x += [...]` and bare annotations keep the type
            if binding.kind == "class":
                kinds.add("class")
                continue
            if binding.kind != "assign":
                return None
            kinds.add(self._kind_of_value(binding.value))  # type: ignore[arg-type]
        if len(kinds) != 1:
            return None
        return kinds.pop()

    def _kind_of_value(self, value: cst.BaseExpression) -> Optional[str]:
        if isinstance(value, (cst.List, cst.ListComp)):
            return "list"
        if isinstance(value, (cst.Dict, cst.DictComp)):
            return "dict"
        if isinstance(value, (cst.Set, cst.SetComp)):
            return "set"
        if not isinstance(value, cst.Call):
            return None
        name = self.analysis.resolves_to(value.func, _FACTORIES)
        if name is not None:
            return _FACTORIES[name]
        func = value.func
        if isinstance(func, cst.Attribute) and func.attr.value == "fromkeys" \
                and self.analysis.resolves_to(func.value, ("builtins.dict",)):
            return "dict"
        definition = self.analysis.local_definition(func)
        if isinstance(definition, cst.ClassDef) and self._plain_class(definition):
            return "instance"
        return None

    def _plain_class(self, cls: cst.ClassDef, depth: int = 0) -> bool:
        """A local class whose attribute writes are plain writes: no ``__setattr__``,
        no foreign base (it might be ``threading.local`` or do its own locking)."""
        if depth > 10 or self.analysis.method(cls, "__setattr__") is not None:
            return False
        locals_ = local_bases(self.analysis, cls)
        for base in cls.bases:
            if base.keyword is not None:
                if base.keyword.value == "metaclass":
                    return False
                continue
            if isinstance(base.value, cst.Name) and base.value.value == "object":
                continue
            definition = self.analysis.local_definition(base.value)
            if not (isinstance(definition, cst.ClassDef) and definition in locals_):
                return False
        return all(self._plain_class(base, depth + 1) for base in locals_)

    def _attribute_is_managed(self, name: cst.Name, attr: str) -> bool:
        """True when ``name.attr = ...`` may run code of the class: a property,
        a method or a descriptor of that name in the class body."""
        values = self.analysis.assigned_values(name) if self.analysis.bindings(name) else None
        if not values:
            return False
        for value in values:
            if not isinstance(value, cst.Call):
                continue
            cls = self.analysis.local_definition(value.func)
            if isinstance(cls, cst.ClassDef):
                scope: Optional[Scope] = self.analysis.scope_of_node.get(cls)
                bindings = scope.bindings.get(attr, []) if scope is not None else []
                if any(b.kind in ("def", "import", "class") or
                       (b.kind == "assign" and isinstance(b.value, cst.Call)) for b in bindings):
                    return True
        return False

    # -- judging ---------------------------------------------------------------
    def _published(self, mutation: _Mutation) -> bool:
        """A plain rebinding of a global that cannot lose an update or that is
        handed over safely: a constant stored by a function that never reads
        the name (a one-way flag), or a value followed, in the same function,
        by an event's `set()`, after which readers that waited may read it."""
        if mutation.rebound is None:
            return False
        if mutation.order < self._last_set.get(mutation.unit, 0):
            return True
        if not mutation.constant:
            return False
        reads = _NameReads(mutation.rebound)
        walk(mutation.unit, [reads])
        return reads.reads == 0

    def leave_Module(self, original_node: cst.Module) -> None:
        super().leave_Module(original_node)  # type: ignore[misc]
        if not self.mutations:
            return
        reached = self.facts.reached(unlocked_only=True)
        for mutation in self.mutations:
            entry = reached.get(mutation.unit)
            if entry is None or self._published(mutation):
                continue
            if entry.unit is mutation.unit:
                where = entry.describe()
            else:
                where = f"'{unit_label(self.analysis, mutation.unit)}' (reached from {entry.describe()})"
            self.report(mutation.node, f"{mutation.label} mutated in {where} without a lock")
