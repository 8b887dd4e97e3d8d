"""Fates: what happens to each thread and executor the module creates.

TL201-TL204 all ask one question: where does the object made by a
``Thread(...)`` or ``ThreadPoolExecutor(...)`` call go, and what is done to it
there (started, joined, made a daemon, shut down, handed to someone else)?
While fed, this provider notes the creations (and the class-level daemon
settings); when finished it follows each creation through :mod:`flow`'s roles
and def-use, through its *locations* (a binding of a local name, a ``self``
attribute, or the elements of a container held in one of those), and sums
what it finds in a :class:`Fate`.

Precision comes first everywhere: an expression in a position this does not
understand counts as an *escape*, and an escaped object is never reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple, Union

import libcst as cst

from threadlint.api import (
    ADD_METHODS,
    CONTAINER_NEUTRAL,
    COPY_METHODS,
    ELEMENT_METHODS,
    EXECUTOR_CONSTRUCTORS,
    FRESH_CONTAINERS,
    HANDLING_METHODS,
    LOG_METHODS,
    NEUTRAL_BUILTINS,
    PROCESS_REAPERS,
    THREAD_CONSTRUCTORS,
    THREAD_COUNTS,
    THREAD_LISTINGS,
    TRANSPARENT_BUILTINS,
)
from threadlint.model.classes import Classes
from threadlint.model.core import Model, Provider
from threadlint.model.flow import (
    ARG,
    ASSIGNED,
    ATTR,
    ATTR_STORE,
    CALLEE,
    ELEM,
    EXTEND,
    ITER,
    METHOD,
    NEUTRAL,
    SAME,
    SUBSCRIPT,
    WALRUS,
    WITH,
    Def,
    Flow,
    Site,
)
from threadlint.model.names import Names, SelfAttr
from threadlint.model.syntax import literal_bool
from threadlint.model.values import ThreadConstructor, Values


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


class Fates(Provider):
    """The fate of every thread, process, timer and executor created here."""

    requires = (Names, Classes, Values, Flow)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self.classes = model[Classes]
        self.values = model[Values]
        self.flow = model[Flow]
        self.module = model.module
        self._cursor = model.cursor
        self.fed = self.flow.fed
        self._constructor_names = _constructor_names(self.names, self.classes) if self.fed else set()
        self.creations: List[Creation] = []
        self.class_daemon: Dict[cst.ClassDef, List[Optional[cst.BaseExpression]]] = {}
        self.thread_listings: List[cst.Call] = []  # threading.enumerate()
        # Where threading.enumerate() and threading.active_count() are called.
        self._listing_sites: List[Site] = []
        #: The module calls ``multiprocessing.active_children()``, which joins
        #: the children that have finished.
        self.reaps_processes = False
        #: The module joins every thread of ``threading.enumerate()``.
        self.joins_all_threads = False
        self.fates: List[Fate] = []
        self._seen_handles: Set[Tuple[object, int]] = set()

    # -- feeding -----------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        called = func.attr.value if isinstance(func, cst.Attribute) else None
        ctor = executor = None
        if (called in _CONSTRUCTOR_ATTRS if called is not None
                else isinstance(func, cst.Name) and func.value in self._constructor_names):
            ctor = self.values.thread_constructor(node)
            executor = self.values.executor_constructor(node) if ctor is None else None
        if ctor is not None:
            self.creations.append(Creation(node, ctor.kind, False, ctor, self.flow.site()))
        elif executor is not None:
            self.creations.append(Creation(node, executor, True, None, self.flow.site()))
        elif called == "__init__":
            self._class_daemon_init(node)
        elif called in _LISTING_ATTRS or isinstance(func, cst.Name):
            # `from threading import enumerate as all_threads` resolves too.
            qualified = self.names.qualified_names(func)
            if qualified.intersection(THREAD_LISTINGS):
                self.thread_listings.append(node)
                self._listing_sites.append(self.flow.site())
            elif qualified.intersection(THREAD_COUNTS):
                self._listing_sites.append(self.flow.site())
            elif qualified.intersection(PROCESS_REAPERS):
                self.reaps_processes = True

    def visit_Assign(self, node: cst.Assign) -> None:
        self._class_daemon_assign([t.target for t in node.targets], node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._class_daemon_assign([node.target], node.value)

    def _current_class(self) -> Optional[cst.ClassDef]:
        """The class whose body or method we are directly in."""
        info = self.names.function_info(self._cursor.code_unit)
        return info.cls if info is not None else None

    def _class_daemon_assign(self, targets: List[cst.BaseExpression],
                             value: cst.BaseExpression) -> None:
        """``daemon = True`` in a thread class body, or ``self.daemon = x`` in a method."""
        for target in targets:
            if isinstance(target, cst.Name) and target.value == "daemon":
                scope = self.names.scope_of(target)
                if scope is not None and scope.kind == "class" \
                        and isinstance(scope.node, cst.ClassDef):
                    self.class_daemon.setdefault(scope.node, []).append(value)
            elif isinstance(target, cst.Attribute) and target.attr.value == "daemon":
                owner = self.names.self_attribute(target)
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
        """Follow every creation."""
        if not self.fed:
            return
        if any(self._in_while_test_at(site) for site in self._listing_sites):
            # while threading.active_count() > 1: sleep(...), or len(enumerate()).
            self.joins_all_threads = True
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
                method = self.classes.lookup(creation.ctor.local_class, "__init__")
                init = self.flow.self_defs.get(method) if method is not None else None
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
        role = self.flow.roles.get(expr)
        if role is None:
            fate.escaped = True
            return
        kind = role.kind
        if kind in (NEUTRAL, CALLEE):
            return
        # The asserts state which fields flow.py sets for each kind.
        if kind == SAME:
            assert role.node is not None
            work.append((role.node, depth))
        elif kind == ELEM:
            assert role.node is not None
            target = self._unpacked_target(role.node, expr)
            if target is not None:
                self._store(target, depth, fate, work)  # a, b = x, y
                return
            if depth == 0:
                fate.in_container = True
            work.append((role.node, depth + 1))
        elif kind == ITER:
            assert isinstance(role.node, (cst.For, cst.CompFor))
            self._iterate(role.node, depth, fate, work)
        elif kind == METHOD:
            assert role.name is not None and role.call is not None
            self._method(role.name, role.call, depth, fate, work)
        elif kind == ATTR:
            assert role.name is not None
            if depth == 0:
                self._attribute(role.name, fate)
        elif kind == ATTR_STORE:
            if depth == 0 and role.name == "daemon":
                self._daemon_value(role.value, fate)
        elif kind == SUBSCRIPT:
            assert role.node is not None
            if depth >= 1:
                work.append((role.node, depth - 1))
        elif kind == ARG:
            assert role.call is not None and role.arg is not None
            self._argument(role.call, role.arg, depth, fate, work)
        elif kind == ASSIGNED:
            for target in role.targets:
                self._store(target, depth, fate, work)
        elif kind == WALRUS:
            assert isinstance(role.node, cst.NamedExpr)
            self._store(role.node.target, depth, fate, work)
            work.append((role.node, depth))
        elif kind == WITH:
            if depth == 0:
                fate.handled = True
        elif kind == EXTEND:
            assert isinstance(role.node, cst.BaseExpression)
            self._into_container(role.node, depth, fate, work)
        else:
            fate.escaped = True

    def _in_while_test(self, call: cst.Call) -> bool:
        site = self.flow.call_sites.get(call)
        return site is not None and self._in_while_test_at(site)

    def _in_while_test_at(self, site: Site) -> bool:
        return any(first < site.index < last for first, last in self.flow.while_test_span.values())

    def _unpacked_target(self, literal: cst.CSTNode, element: cst.CSTNode) -> Optional[cst.BaseExpression]:
        """For ``a, b = x, y``: the target that element ``x`` or ``y`` is bound to."""
        role = self.flow.roles.get(literal)
        if role is None or role.kind != ASSIGNED or len(role.targets) != 1 \
                or not isinstance(literal, (cst.Tuple, cst.List)):
            return None
        target = role.targets[0]
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
        elif name in HANDLING_METHODS:
            fate.handled = True

    def _method(self, name: str, call: cst.Call, depth: int, fate: Fate,
                work: List[Tuple[cst.CSTNode, int]]) -> None:
        if depth >= 1:
            if name in ELEMENT_METHODS:
                work.append((call, depth - 1))
            elif name in COPY_METHODS:
                work.append((call, depth))
            elif name not in CONTAINER_NEUTRAL:
                fate.escaped = True
            return
        if name == "start":
            fate.starts.append(call)
        elif name == "join":
            fate.joined = True
        elif name in ("is_alive", "isAlive") and self._in_while_test(call):
            fate.joined = True  # ``while t.is_alive(): ...`` waits for it
        elif name in HANDLING_METHODS:
            fate.handled = True
        elif name == "setDaemon":
            argument = call.args[0].value if call.args else None
            self._daemon_value(argument, fate)
        cls = fate.creation.ctor.local_class if fate.creation.ctor is not None else None
        if cls is not None and name not in ("join", "run"):
            # A method of our own thread class: follow what it does with ``self``.
            method = self.classes.lookup(cls, name)
            if method is not None:
                definition = self.flow.self_defs.get(method)
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
            if method in ADD_METHODS and position == ADD_METHODS[method]:
                self._into_container(func.value, depth + 1, fate, work)
                return
            if method == "extend" and position == 0:
                self._into_container(func.value, depth, fate, work)
                return
            if method in ("remove", "discard", "index", "count") or method in LOG_METHODS:
                return
            if method == "run_in_executor" and position == 0:
                return  # the loop borrows the executor; it does not own it
            if position == 0 and self._is_thread_class(func.value):
                # Thread.__init__(self), Thread.join(self): the unbound-method call style.
                if method != "__init__":
                    self._method(method, call, depth, fate, work)
                return
        for name in self.names.qualified_names(func):
            if not name.startswith("builtins."):
                continue
            builtin = name[len("builtins."):]
            if builtin in NEUTRAL_BUILTINS:
                return
            if builtin in TRANSPARENT_BUILTINS and position == 0:
                work.append((call, depth))
                return
            if builtin == "filter" and position == 1:
                work.append((call, depth))  # filter(pred, threads): some of the same elements
                return
        fate.escaped = True
        # Still an escape, but a local helper that joins its parameter
        # (`join_quietly(t)`) joins the object.
        parameter = self._parameter(call, arg, position)
        if parameter is not None:
            self._enter(parameter, depth, fate, work)

    def _parameter(self, call: cst.Call, arg: cst.Arg, position: int) -> Optional[Def]:
        """The binding of the parameter of a local function ``arg`` is passed to."""
        info = self.values.local_function(call.func)
        if info is None:
            return None
        params = info.node.params
        if arg.keyword is not None:
            wanted = arg.keyword.value
            candidates = [*params.posonly_params, *params.params, *params.kwonly_params]
            found = next((p for p in candidates if p.name.value == wanted), None)
        else:
            positional = [*params.posonly_params, *params.params]
            if isinstance(call.func, cst.Attribute) and info.self_name is not None:
                positional = positional[1:]  # self.helper(t): t is the second parameter
            found = positional[position] if 0 <= position < len(positional) else None
        return self.flow.defs_by_target.get(found) if found is not None else None

    def _is_thread_class(self, expr: cst.BaseExpression) -> bool:
        return self.classes.is_thread_class(expr)

    def _iterate(self, loop: Union[cst.For, cst.CompFor], depth: int, fate: Fate,
                 work: List[Tuple[cst.CSTNode, int]]) -> None:
        if depth == 0:
            return
        target = loop.target
        if isinstance(target, cst.Name):
            definition = self.flow.defs_by_target.get(target)
        elif isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2 \
                and _yields_pairs(loop.iter, self.names):
            definition = self.flow.defs_by_target.get(target.elements[1].value)
        else:
            definition = None
        if definition is None:
            fate.escaped = True
        else:
            self._enter(definition, depth - 1, fate, work)

    def _store(self, target: cst.BaseExpression, depth: int, fate: Fate,
               work: List[Tuple[cst.CSTNode, int]]) -> None:
        if isinstance(target, cst.Name):
            definition = self.flow.defs_by_target.get(target)
            if definition is None or not self._owned_here(definition):
                fate.escaped = True  # a global, nonlocal or class attribute
            else:
                self._enter(definition, depth, fate, work)
        elif isinstance(target, cst.Attribute):
            owner = self.names.self_attribute(target)
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
            use = self.flow.use_of_node.get(expr)
            if use is None:
                return None
            defs = self.flow.reaching(use)
            if not defs:
                return None
            for definition in defs:
                if not self._owned_here(definition) or not self._fresh_container(definition.value):
                    return None
                if definition.scope.kind == "module" and use.site.unit is not self.module:
                    return None
            return list(defs)
        owner = self.names.self_attribute(expr)
        return [owner] if owner is not None else None

    def _fresh_container(self, value: Optional[cst.BaseExpression]) -> bool:
        if isinstance(value, FRESH_DISPLAYS):
            return True
        if isinstance(value, cst.Call):
            return bool(self.names.qualified_names(value.func) & FRESH_CONTAINERS)
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
            for use in self.flow.uses_of(handle):
                work.append((use.node, depth))
            return
        if depth == 0:
            fate.attrs.append(handle)
        cls, attr = handle
        for member in self.classes.family(cls):
            for attr_use in self.flow.attr_uses.get((member, attr), ()):
                work.append((attr_use.node, depth))
        for node in self.flow.foreign_attr_uses.get(attr, ()):
            self._foreign(node, depth, fate)

    def _foreign(self, node: cst.Attribute, depth: int, fate: Fate) -> None:
        """``other.attr`` outside the class: may be the same object seen from outside.
        Only what ends its life counts; starts through it are not ours to report."""
        role = self.flow.roles.get(node)
        kind = role.kind if role is not None else None
        if kind in (NEUTRAL, CALLEE, ATTR_STORE):
            return
        if kind == ATTR:
            assert role is not None and role.name is not None
            if depth == 0:
                self._attribute(role.name, fate)
            return
        if kind == METHOD:
            assert role is not None
            name = role.name
            if depth == 0:
                if name == "join":
                    fate.joined = True
                elif name in HANDLING_METHODS:
                    fate.handled = True
            elif name not in CONTAINER_NEUTRAL:
                fate.escaped = True
            return
        fate.escaped = True

    # -- queries for the rules -------------------------------------------------
    def thread_holders(self) -> Dict[Def, List[Fate]]:
        """Bindings that hold a thread-like object itself (not in a container)."""
        holders: Dict[Def, List[Fate]] = {}
        for fate in self.fates:
            if not fate.creation.is_executor:
                for definition in fate.var_defs:
                    holders.setdefault(definition, []).append(fate)
        return holders

    def thread_attrs(self) -> Dict[SelfAttr, List[Fate]]:
        holders: Dict[SelfAttr, List[Fate]] = {}
        for fate in self.fates:
            if not fate.creation.is_executor:
                for attr in fate.attrs:
                    holders.setdefault(attr, []).append(fate)
        return holders

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
            queue.extend(self.classes.local_bases(current))
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


def _yields_pairs(expr: cst.BaseExpression, names: Names) -> bool:
    """``d.items()`` or ``enumerate(x)``: the second item of each pair is the element."""
    if not isinstance(expr, cst.Call):
        return False
    if isinstance(expr.func, cst.Attribute) and expr.func.attr.value == "items":
        return True
    return names.resolves_to(expr.func, ("builtins.enumerate",)) is not None


_CONSTRUCTORS = frozenset(THREAD_CONSTRUCTORS) | frozenset(EXECUTOR_CONSTRUCTORS)
#: Displays that make a new container.
FRESH_DISPLAYS = (cst.List, cst.Set, cst.Dict, cst.ListComp, cst.SetComp, cst.DictComp)
#: ``x.enumerate()``: the attribute names a listing or count call can end in.
_LISTING_ATTRS = frozenset(name.rsplit(".", 1)[1]
                           for name in (*THREAD_LISTINGS, *THREAD_COUNTS, *PROCESS_REAPERS))
#: ``x.Thread(...)``: the attribute names a constructor call through a module can end in.
_CONSTRUCTOR_ATTRS = frozenset(name.rsplit(".", 1)[1] for name in _CONSTRUCTORS)


def _constructor_names(names: Names, classes: Classes) -> Set[str]:
    """The plain names a constructor call may be spelled with: an imported
    constructor under any alias, an alias of one, or a local thread subclass."""
    found = {cls.name.value for cls in classes.thread_classes}
    for scope in set(names.scope_of_node.values()):
        for bindings in scope.bindings.values():
            for binding in bindings:
                if binding.kind == "assign" and isinstance(binding.value, (cst.Name, cst.Attribute)):
                    # `Thread = threading.Thread`: an alias, when it resolves
                    if names.resolves_to(binding.value, _CONSTRUCTORS) is not None:
                        found.add(binding.name)
                elif binding.kind == "import" and binding.qualified in _CONSTRUCTORS:
                    found.add(binding.name)
    return found
