"""Objects: which classes are used from several threads, and which code of
theirs runs concurrently (the RacerD idea: judge only where the code itself
signals concurrency).

A class is *concurrent* when it is a ``Thread`` subclass, when one of its
bound methods is a thread entry (``Thread(target=self.m)``, ``submit(self.m)``,
a ``Timer``...), when it owns a lock that one of its methods takes
(``self._lock = threading.Lock()`` and ``with self._lock:``), or when it is
marked ``# threadlint: thread-safe`` (on the ``class`` line or the line
above). A request handler class of a threading server is concurrent too, but each
request gets an object of its own: only its class-level state is shared
(:meth:`Objects.shared_attribute`). Local subclasses inherit the verdict; bases do not (their other
subclasses may never meet a thread). A lock here is a thread lock: an
``asyncio.Lock`` says nothing about threads.

Within a concurrent class, a unit (method, or function nested in one) is on
the *thread side* when a thread entry reaches it by direct calls, and
*public* when it is a method whose name has no leading underscore (dunder
methods count as public). Construction (``__init__``, ``__new__``,
``__post_init__``, ``__del__``, ``setUp``, and what only they call) is
neither: no other thread holds the object yet.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from threadlint.api import CONTAINER_FACTORIES, MUTATING_METHODS, THREAD_SAFE_TYPES
from threadlint.model.attributes import Access, Attributes
from threadlint.model.classes import Classes
from threadlint.model.core import Model, Provider, Unit
from threadlint.model.locks import Locks, strong
from threadlint.model.names import Names, SelfAttr
from threadlint.model.threads import REQUEST_HANDLER, CallSite, ThreadEntry, Threads
from threadlint.model.values import Values

CONSTRUCTION = frozenset({"__init__", "__new__", "__post_init__", "__del__", "setUp", "__setstate__",
                          "__init_subclass__", "__set_name__"})
THREAD_SAFE = "threadlint: thread-safe"
OWNS_LOCK = "it owns a lock its methods take"
MARKED = "it is marked thread-safe"
PER_REQUEST = "it handles requests in threads of a threading server"
_DEQUE_SAFE = frozenset({"append", "appendleft", "pop", "popleft"})


class Objects(Provider):
    """Concurrent classes and the concurrency of their code (derived)."""

    requires = (Names, Classes, Values, Locks, Threads, Attributes)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self.classes = model[Classes]
        self.values = model[Values]
        self.locks = model[Locks]
        self.threads = model[Threads]
        self.attributes = model[Attributes]
        self._reached = self.threads.reached(unlocked_only=False)
        # callee -> (caller, lock held at the call, held by a with or a released
        # acquire) for each call
        self._callers: Dict[cst.CSTNode, List[Tuple[Unit, bool, bool]]] = {}
        self._call_sites: Dict[cst.CSTNode, List[CallSite]] = {}
        for sites in self.threads.calls.values():
            for site in sites:
                self._callers.setdefault(site.callee, []).append(
                    (site.caller, site.held, site.guarded))
                self._call_sites.setdefault(site.callee, []).append(site)
        self._locked: Dict[Tuple[cst.CSTNode, bool], bool] = {}
        self._entry_units = {entry.unit for entry in self.threads.entries}
        #: Each concurrent class and (the first reason) why it is one.
        self.concurrent: Dict[cst.ClassDef, str] = {}
        #: The concurrent classes whose public methods other threads may call:
        #: they own a lock their methods take, or are marked thread-safe. Not
        #: test cases (the runner calls their tests one at a time, from its
        #: thread) nor objects with coroutine methods (their event loop's
        #: thread calls them; their thread lock guards what their worker
        #: threads touch).
        self.callable_from_threads: Set[cst.ClassDef] = set()
        #: Request handler classes of threading servers: each request gets an
        #: object of its own, in a thread of its own.
        self.per_request: Set[cst.ClassDef] = set()
        self._classify()
        self._construction: Dict[cst.CSTNode, bool] = {}
        self._concurrent_units: Dict[cst.CSTNode, bool] = {}
        self._shared: Dict[Tuple[cst.ClassDef, cst.ClassDef], bool] = {}
        self._starter_sets: Dict[cst.CSTNode, Set[cst.CSTNode]] = {}

    # -- classes -------------------------------------------------------------------
    def _classify(self) -> None:
        reasons: Dict[cst.ClassDef, List[str]] = {}
        for cls, kind in self.classes.thread_classes.items():
            if kind != "process":
                reasons.setdefault(cls, []).append("it is a Thread subclass")
        for entry in self.threads.entries:
            owner = self.class_of(entry.unit)
            if owner is None:
                continue
            if entry.kind == REQUEST_HANDLER:
                # One object per request: only what lives on the class is shared.
                reasons.setdefault(owner, []).append(PER_REQUEST)
                self.per_request.update([owner, *self.classes.subclasses(owner)])
                continue
            article = "an" if entry.kind[0] in "aeiou" else "a"
            reasons.setdefault(owner, []).append(f"one of its methods is {article} {entry.kind}")
        for unit, keys in self.locks.taken.items():
            owner = self.class_of(unit) if unit is not None else None
            if owner is not None and any(self._owns_lock(owner, key) for key in keys):
                reasons.setdefault(owner, []).append(OWNS_LOCK)
        for cls in self.names.classes:
            if _marked(cls):
                reasons.setdefault(cls, []).append(MARKED)
        # A subclass inherits the verdict (its instances run the same code); a
        # base does not: its other subclasses may never meet a thread.
        for cls, found in reasons.items():
            for member in [cls, *self.classes.subclasses(cls)]:
                self.concurrent.setdefault(member, found[0])
                if MARKED in found or (OWNS_LOCK in found and not self._on_event_loop(member)
                                       and member not in self.classes.test_cases):
                    self.callable_from_threads.add(member)

    def _on_event_loop(self, cls: cst.ClassDef) -> bool:
        """The class (or a local base) has coroutine methods: its objects live
        on an event loop, whose thread calls their public methods; the thread
        lock they own guards what the threads they hand work to touch."""
        return any(method.asynchronous is not None
                   for member in self.classes.mro(cls)
                   for method in self.names.methods.get(member, {}).values())

    def _owns_lock(self, cls: cst.ClassDef, key: str) -> bool:
        """``key`` is ``self.<attr>`` and the class assigns ``<attr>`` a lock."""
        base, _, attr = key.partition(".")
        if base != "self" or not attr or "." in attr:
            return False
        for member in self.classes.family(cls):
            values = self.names.self_attr_values.get(member, {}).get(attr)
            # Thread locks only: an asyncio lock says nothing about threads.
            if values and all(isinstance(v, cst.Call) and self.values.lock_kind(v) is not None
                              for v in values):
                return True
        return False

    def class_of(self, unit: cst.CSTNode) -> Optional[cst.ClassDef]:
        """The class of the method ``unit`` is (or is nested in)."""
        return self.names.method_class(self.method_of(unit))

    def method_of(self, unit: cst.CSTNode) -> Optional[cst.FunctionDef]:
        """The method ``unit`` is, or is nested in."""
        return self.names.method_of(unit)

    # -- code ----------------------------------------------------------------------
    def thread_entry(self, unit: Unit) -> Optional[ThreadEntry]:
        """The first thread entry that reaches ``unit``, if one does."""
        return self._reached.get(unit)

    def is_public(self, unit: Unit) -> bool:
        method = self.method_of(unit)
        if method is None or method is not unit:
            return False
        name = method.name.value
        return not name.startswith("_") or (name.startswith("__") and name.endswith("__")
                                            and name not in CONSTRUCTION)

    def in_construction(self, unit: Unit) -> bool:
        """``unit`` is (or is only called from) construction, and no thread runs it."""
        known = self._construction.get(unit)
        if known is None:
            self._construction[unit] = False  # a cycle of calls is not construction
            known = self._construction_of(unit)
            self._construction[unit] = known
        return known

    def _construction_of(self, unit: Unit) -> bool:
        # Reached by a thread only through `Cls()` (a thread that builds an
        # object) is still construction: the new object is that thread's own
        # until it hands it over. A thread entry is never construction.
        if unit in self._entry_units:
            return False
        method = self.method_of(unit)
        if method is None:
            return False
        if method is unit and self.model.options.before_start \
                and self.names.unit_ids().get(method) in self.model.options.before_start:
            return True  # a hook an inherited start() runs before the thread starts
        if method.name.value in CONSTRUCTION:
            return method is unit or unit not in self._reached
        if method is not unit or self.is_public(unit):
            return False
        callers = [caller for caller, _, _ in self._callers.get(unit, ())]
        return bool(callers) and all(self.in_construction(caller) for caller in callers)

    def runs_concurrently(self, unit: Unit) -> bool:
        """Whether ``unit`` may run while other code of its object runs in
        another thread: a thread reaches it, or it is a public method (not a
        coroutine) of a class that owns a lock or is marked thread-safe, or a
        private method such code calls. Construction never does."""
        known = self._concurrent_units.get(unit)
        if known is None:
            self._concurrent_units[unit] = False  # a cycle of calls adds nothing
            known = self._runs_concurrently(unit)
            self._concurrent_units[unit] = known
        return known

    def _runs_concurrently(self, unit: Unit) -> bool:
        if self.in_construction(unit):
            return False
        if self.thread_entry(unit) is not None:
            return True
        if isinstance(unit, cst.FunctionDef) and unit.asynchronous is not None:
            return False  # a coroutine runs on its event loop, not in its caller's thread
        cls = self.class_of(unit)
        if cls is None or cls not in self.concurrent:
            return False
        if self.is_public(unit):
            return cls in self.callable_from_threads
        return any(self.runs_concurrently(caller) for caller, _, _ in self._callers.get(unit, ()))

    def always_locked(self, unit: Unit, guarded: bool = False) -> bool:
        """Every call of ``unit`` in the module holds a lock, or comes from a
        function that is itself always called with one, or from construction;
        and no thread starts in it. With ``guarded``, a lock acquired and never released (a gate,
        a hand-off) does not count."""
        key = (unit, guarded)
        known = self._locked.get(key)
        if known is None:
            self._locked[key] = False  # a cycle of calls proves nothing
            callers = self._callers.get(unit, [])
            # A call from construction needs no lock: no other thread holds
            # the object yet (if every call is one, the unit is construction).
            known = bool(callers) and unit not in self._entry_units and all(
                (strongly if guarded else held) or self.always_locked(caller, guarded)
                or self.in_construction(caller)
                for caller, held, strongly in callers)
            self._locked[key] = known
        return known

    def guarded(self, access: Access) -> bool:
        """Evidence that the author guards this access: a ``with`` or a
        released acquire region around it, or around every call of its
        function (a lock taken and never released is not evidence)."""
        return bool(strong(access.held)) or self.always_locked(access.unit, guarded=True)

    def held(self, access: Access) -> Set[str]:
        """The locks known held at ``access`` (``*`` when its callers hold one)."""
        keys = set(access.held)
        if not keys and self.always_locked(access.unit):
            keys.add("*")
        return keys

    def before_handover(self, access: Access, entry: ThreadEntry) -> bool:
        """``access`` runs before, in the same function, a call that hands
        ``entry`` to a thread, or a call of a function that (through its own
        calls) does: starting a thread makes what came before it visible to
        the thread (ignoring loops around both)."""
        handovers = self.threads.handovers.get(entry.unit, ())
        for call, unit in handovers:
            if unit is access.unit and self.order(access.node) < self.order(call):
                return True
        starters = self._starters(entry.unit)
        if any(site.callee in starters and self.order(access.node) < self.order(site.node)
               for site in self.threads.calls.get(access.unit, ())):
            return True
        return self._called_before_handover(access.unit, entry, set())

    def _called_before_handover(self, unit: Unit, entry: ThreadEntry, seen: Set[Unit]) -> bool:
        """Every call of ``unit`` in the module comes, in its function, before
        a call that hands ``entry`` to a thread, or from a function that is
        itself only called so: a hook that ``start()`` runs before
        ``super().start()``."""
        if unit in seen or unit in self._entry_units:
            return False
        seen.add(unit)
        sites = self._call_sites.get(unit, ())
        if not sites:
            return False
        handovers = self.threads.handovers.get(entry.unit, ())
        return all(
            any(caller is site.caller and self.order(site.node) < self.order(call)
                for call, caller in handovers)
            or self._called_before_handover(site.caller, entry, seen)
            for site in sites)

    def _starters(self, entry_unit: Unit) -> Set[cst.CSTNode]:
        """The functions that hand ``entry_unit`` to a thread, and every
        function that calls one of them, transitively."""
        found = self._starter_sets.get(entry_unit)
        if found is None:
            found = {unit for _, unit in self.threads.handovers.get(entry_unit, ())
                     if unit is not None}
            todo = list(found)
            while todo:
                callee = todo.pop()
                for caller, _, _ in self._callers.get(callee, ()):
                    if caller not in found:
                        found.add(caller)
                        todo.append(caller)
            self._starter_sets[entry_unit] = found
        return found

    def order(self, node: cst.CSTNode) -> int:
        """The rank of ``node`` in source order."""
        return self.names.order(node)

    def share_objects(self, first: cst.ClassDef, second: cst.ClassDef) -> bool:
        """Whether one object can be an instance of both classes' code: one
        derives from the other, or some local class from both (two sibling
        subclasses of one base never share an instance)."""
        key = (first, second)
        known = self._shared.get(key)
        if known is None:
            known = first is second or first in self.classes.mro(second) \
                or second in self.classes.mro(first) \
                or any(first in mro and second in mro
                       for mro in (self.classes.mro(c) for c in self.names.classes))
            self._shared[key] = self._shared[(second, first)] = known
        return known

    # -- attributes ------------------------------------------------------------------
    def owner_key(self, owner: SelfAttr) -> SelfAttr:
        """One key for an attribute seen from every class of a family."""
        family = self.classes.family(owner[0])
        first = min(family, key=self.names.classes.index)
        return (first, owner[1])

    def shared_attribute(self, owner: SelfAttr) -> bool:
        """Whether more than one thread can reach the attribute's value: not
        the instance state of a per-request handler object."""
        return owner[0] not in self.per_request or self.class_level(owner)

    def many_at_once(self, entry: ThreadEntry) -> bool:
        """The entry runs in several threads at once, each with its own
        ``self``: the methods a threading server calls per request."""
        return entry.kind == REQUEST_HANDLER

    def thread_safe_attribute(self, owner: SelfAttr, method: Optional[str]) -> bool:
        """Every value the attribute is given makes an object that synchronises
        itself (a queue, an event, a lock, ``threading.local``...), or a deque
        changed only by its atomic methods."""
        recorded = self.attribute_values(owner)
        if not recorded or any(v is None for v in recorded):
            return False
        values = [v for v in recorded if v is not None]
        for value in values:
            if not isinstance(value, cst.Call):
                return False
            qualified = self.names.qualified_names(value.func)
            if qualified & THREAD_SAFE_TYPES:
                continue
            if "collections.deque" in qualified and (method is None or method in _DEQUE_SAFE):
                continue
            local = self.names.local_definition(value.func)
            if isinstance(local, cst.ClassDef) and self._thread_local_class(local):
                continue
            return False
        return True

    def _thread_local_class(self, cls: cst.ClassDef) -> bool:
        for member in self.classes.mro(cls):
            for base in member.bases:
                if self.names.resolves_to(base.value, ("threading.local", "_thread._local")):
                    return True
        return False

    def attribute_values(self, owner: SelfAttr) -> List[Optional[cst.BaseExpression]]:
        """Every value the attribute is given in the class family: by
        ``self.<attr> = value`` in methods, and by ``<attr> = value`` in a class
        body (None where the value cannot be read)."""
        values: List[Optional[cst.BaseExpression]] = []
        for member in self.classes.family(owner[0]):
            values.extend(self.names.self_attr_values.get(member, {}).get(owner[1], []))
            scope = self.names.scope_of_node.get(member)
            for binding in scope.bindings.get(owner[1], []) if scope is not None else []:
                values.append(binding.value if binding.kind == "assign" else None)
        return values

    def class_level(self, owner: SelfAttr) -> bool:
        """The attribute lives on the class (bound in a class body, never set
        through ``self``): every instance shares it, from construction on."""
        family = self.classes.family(owner[0])
        if any(owner[1] in self.names.self_attr_values.get(member, {}) for member in family):
            return False
        return any(owner[1] in scope.bindings for scope in
                   (self.names.scope_of_node.get(member) for member in family)
                   if scope is not None)

    def known_container(self, owner: SelfAttr) -> bool:
        """Every value given to the attribute is a list, dict, set or deque
        display or constructor: its changing methods change it in place."""
        values = self.attribute_values(owner)
        return bool(values) and all(
            isinstance(value, (cst.List, cst.Dict, cst.Set, cst.ListComp, cst.DictComp,
                               cst.SetComp))
            or (isinstance(value, cst.Call)
                and self.names.resolves_to(value.func, _CONTAINER_CALLS) is not None)
            for value in values)


#: Calls that make a container whose changing methods change it in place.
_CONTAINER_CALLS = tuple(name for name, kind in CONTAINER_FACTORIES.items()
                         if kind in MUTATING_METHODS) + ("collections.deque",)


def _marked(cls: cst.ClassDef) -> bool:
    """``class C:  # threadlint: thread-safe``, or that comment on the line above."""
    body = cls.body
    if isinstance(body, cst.IndentedBlock) and body.header.comment is not None \
            and THREAD_SAFE in body.header.comment.value:
        return True
    return any(line.comment is not None and THREAD_SAFE in line.comment.value
               for line in cls.leading_lines[-1:])
