"""TL305 unguarded-shared-state."""

from __future__ import annotations

from typing import Dict, List, Optional, Set

import libcst as cst

from threadlint.model.attributes import DELETE, MUTATE, READ, RMW, WRITE, Access, Attributes
from threadlint.model.locks import strong
from threadlint.model.names import SelfAttr
from threadlint.model.objects import Objects
from threadlint.model.syntax import is_constant
from threadlint.rules.base import RELATED_LINE, Rule, snippet


class UnguardedSharedState(Rule):
    """## What it does
    Checks for an attribute of `self` changed without a lock by code that runs
    concurrently with other code changing it, in a class that is used from
    several threads. A change is an assignment, `+=` and the like, `del`, an
    item assignment or deletion, or a mutating method of a list, dict, set or
    deque (`append`, `pop`, `update`, `setdefault`, `clear`...).

    A class is used from several threads when it is a `Thread` subclass, when
    one of its methods is handed to a thread (`Thread(target=self.poll)`,
    `executor.submit(self.fetch)`, a `Timer`...), when it owns a lock that its
    methods take (`self._lock = threading.Lock()` and `with self._lock:`), or
    when it is marked `# threadlint: thread-safe` on its `class` line.

    A request handler of a threading server (`socketserver.ThreadingTCPServer`,
    `http.server.ThreadingHTTPServer`...) gets an object of its own per
    request, so only the state it keeps on the class (`clients = []` in the
    class body) is shared; a handler method that changes such state without a
    lock races with itself in the threads of concurrent requests.

    Two patterns are reported, each at the unguarded change:
    - **thread body against callers**: code a thread runs (its entry method
      and the methods it calls) read-modify-writes or mutates an attribute
      that a public method also changes, and no lock is held on both sides;
    - **inconsistent guarding**: at least two thirds of an attribute's
      accesses hold a lock, in other methods, and this change, in code that
      runs concurrently, does not. Changes count twice and reads once (the
      share is `guarded-ratio` in `[tool.threadlint]`: raise it towards 1 for
      fewer, surer findings).

    ## Why is this bad?
    `self.count += 1` is a read, an add and a write: two threads doing it at
    once lose an update, and a `reset()` from another thread can be undone by
    a worker that read the old value. A list appended to by one thread while
    another iterates or clears it gives wrong results or raises. When most
    changes of an attribute take the lock, the ones that do not are usually a
    forgotten `with`; free-threaded Python makes every such race real.

    ## Example
    ```python
    import threading

    class Counter(threading.Thread):
        def __init__(self):
            super().__init__()
            self.count = 0

        def run(self):
            for _ in range(1000):
                self.count += 1

        def reset(self):
            self.count = 0
    ```

    ## Use instead
    ```python
    import threading

    class Counter(threading.Thread):
        def __init__(self):
            super().__init__()
            self.count = 0
            self._lock = threading.Lock()

        def run(self):
            for _ in range(1000):
                with self._lock:
                    self.count += 1

        def reset(self):
            with self._lock:
                self.count = 0
    ```

    ## Known limitations
    - Precision first, so it is silent for: changes during construction
      (`__init__`, `__new__`, `__post_init__`, `__setstate__`, `setUp` and
      private methods only they call); attributes whose every value synchronises itself
      (queues, events, locks, executors, futures, `threading.local`, and a
      `deque` changed only by `append`/`appendleft`/`pop`/`popleft`);
      one-way constant flags (an attribute only ever assigned constants, such
      as `self._stopped = True`); state only the thread side touches; changes
      where a lock is held on both sides, or in a method every caller of
      which holds one (any lock counts: whether it is the *same* lock on
      both sides is not checked); a change that runs, in the same function,
      before the call that starts the thread touching the other side
      (`self.total = 0` and then `Thread(target=self.worker).start()`: the
      start makes the write visible; a loop around both is not considered);
      methods of two sibling classes that no class derives from both (they
      never run on one object); and a race either side of which is marked
      `# threadlint: benign-race`.
    - Method calls on attributes count as changes only when every value the
      attribute is given in the class is a list, dict, set or deque (display
      or constructor); `self._hash.update(data)` on an unknown type is not a
      change.
    - Reads are weighed, not reported: an unguarded read of an attribute
      that is changed under a lock elsewhere is silent (iterating a dict that
      another thread changes is missed; check-then-act is TL306's).
    - Code runs concurrently when a thread reaches it, or when it is a public
      method of a class that owns a lock its methods take (or is marked),
      and private methods such code calls. Not public methods of
      `unittest.TestCase` subclasses (the runner calls tests one at a time)
      nor of classes with `async def` methods (their event loop calls them);
      a hook that `start()` runs before `super().start()` happens before
      the thread (when every call of it in the module does), but only when
      that `start()` is in the same file: one an imported base class defines
      (watchdog's `on_thread_start`) cannot be seen yet.
    - Only `self` inside the class's own methods (and functions nested in
      them) is followed, class-level containers included (`registry = {}` in
      the class body, changed as `self.registry[k] = v`, even in `__init__`,
      since every instance shares it); an object changed through another
      name (`worker.count += 1` from outside) is not, and `Cls.registry[k] =
      v` is TL301's (for module-level classes).
    - Public means a method whose name has no leading underscore (dunder
      methods other than construction count as public); private methods are
      judged only when a thread reaches them.
    - Single operations of lists, dicts and sets are atomic in CPython
      (and locked per object in free-threaded builds), so two threads each
      doing one `d[k] = v` or `d.pop(k)` corrupt nothing by themselves; they
      are still reported, since the code around them rarely stays that
      simple. Mark a deliberate one `# threadlint: benign-race`.
    """

    code = "TL305"
    name = "unguarded-shared-state"
    summary = "an attribute of `self` is changed without a lock by code that runs concurrently"
    # A concurrent class: a thread target or Thread subclass, a lock it owns,
    # or the comment that marks it.
    requires = (Objects,)

    def finish(self) -> None:
        objects = self.model[Objects]
        groups: Dict[SelfAttr, List[Access]] = {}
        for access in self.model[Attributes].accesses:
            if access.owner[0] not in objects.concurrent:
                continue
            if objects.in_construction(access.unit) and not objects.class_level(access.owner):
                continue  # an instance's own state, before any thread holds it
            if access.kind == MUTATE and access.method is not None \
                    and not objects.known_container(access.owner):
                continue  # `x.update()` on something that may not be a container
            if objects.thread_safe_attribute(access.owner, access.method) \
                    or not objects.shared_attribute(access.owner):
                continue
            groups.setdefault(objects.owner_key(access.owner), []).append(access)
        reported: Set[cst.CSTNode] = set()
        for accesses in groups.values():
            changes = [a for a in accesses if a.kind != READ]
            if not changes or _constant_flag(changes):
                continue
            # Inconsistencies first: a thread's guarded change racing only with
            # an unguarded change reported there needs no second report.
            self._inconsistent(objects, changes, accesses, reported)
            self._thread_against_callers(objects, changes, reported)

    def _thread_against_callers(self, objects: Objects, accesses: List[Access],
                                reported: Set[cst.CSTNode]) -> None:
        callers = [b for b in accesses if objects.is_public(b.unit)
                   and objects.thread_entry(b.unit) is None]
        if any(b.benign for b in callers):
            return  # one side of the race is declared benign
        for access in accesses:
            entry = objects.thread_entry(access.unit)
            if entry is None or access.kind not in (RMW, MUTATE) or access.benign \
                    or access.node in reported:
                continue
            other = next((b for b in callers
                          if not (objects.held(access) and objects.held(b))
                          and objects.share_objects(access.owner[0], b.owner[0])
                          and not objects.before_handover(b, entry)
                          and not (b.node in reported and objects.held(access))), None)
            if other is None and objects.many_at_once(entry) and not objects.held(access):
                other = access  # class-level state, changed by every request's thread
            if other is None:
                continue
            reported.add(access.node)
            where = "run by a thread" if entry.unit is access.unit and not entry.via else \
                f"reached from {entry.describe()}"
            if other is access:
                self.report(
                    access.node,
                    f"{_describe(access)} in `{self.names.unit_label(access.unit)}` ({where}) "
                    f"changes `{access.attr}`, which lives on the class: the threads of "
                    f"concurrent requests race on it; {_lock_advice(objects, accesses, 'it')}")
                continue
            self.report(
                access.node,
                f"{_describe(access)} in `{self.names.unit_label(access.unit)}` ({where}) races "
                f"with {_describe(other)} in `{self.names.unit_label(other.unit)}` "
                f"(line {RELATED_LINE}{_under(other)}), which other threads call: "
                f"{_lock_advice(objects, accesses)}",
                related=[(other.node, f"the other side: {_describe(other)}")])

    def _inconsistent(self, objects: Objects, changes: List[Access], accesses: List[Access],
                      reported: Set[cst.CSTNode]) -> None:
        entries = {e for e in (objects.thread_entry(a.unit) for a in changes) if e is not None}
        for access in changes:
            if objects.guarded(access) or access.benign or access.node in reported:
                continue
            if not objects.runs_concurrently(access.unit):
                continue  # e.g. a private helper nobody concurrent is known to call
            if any(objects.before_handover(access, entry) for entry in entries):
                continue  # it runs before the threads that touch it start
            peers = [a for a in accesses if objects.share_objects(a.owner[0], access.owner[0])]
            guarded = [a for a in peers if objects.guarded(a)]
            if _weight(guarded) < self.model.options.guarded_ratio * _weight(peers):
                continue
            witness = next((g for g in guarded if g.unit is not access.unit and g.kind != READ),
                           None)
            if witness is None:
                continue
            reported.add(access.node)
            keys = strong(witness.held)
            lock = f"`{keys[0]}`" if keys else "a lock"
            self.report(
                access.node,
                f"{_describe(access)} in `{self.names.unit_label(access.unit)}` holds no lock, "
                f"but {_share(guarded, peers)} of `self.{access.attr}` hold "
                f"{lock} (e.g. line {RELATED_LINE} in `{self.names.unit_label(witness.unit)}`): "
                f"hold {lock} here too",
                related=[(witness.node, f"a guarded change: {_describe(witness)}")])


def _weight(accesses: List[Access]) -> int:
    """Changes count twice, reads once."""
    return sum(1 if a.kind == READ else 2 for a in accesses)


def _share(guarded: List[Access], peers: List[Access]) -> str:
    """``4 of the 5 changes``, ``4 of the 5 changes and 2 of the 3 reads``."""
    def reads(accesses: List[Access]) -> int:
        return sum(1 for a in accesses if a.kind == READ)

    text = f"{len(guarded) - reads(guarded)} of the {len(peers) - reads(peers)} changes"
    if reads(peers):
        text += f" and {reads(guarded)} of the {reads(peers)} reads"
    return text


def _constant_flag(accesses: List[Access]) -> bool:
    """Only ever assigned constants: a one-way flag whose store cannot be lost."""
    return all(a.kind == WRITE and a.value is not None and is_constant(a.value) for a in accesses)


def _describe(access: Access) -> str:
    node = access.node
    if access.kind == MUTATE and isinstance(node, cst.Call):
        return f"`{snippet(node.func)}(...)`"
    target = snippet(node)
    if access.kind == WRITE:
        return f"`{target} = ...`"
    if access.kind == RMW:
        return f"`{target} {access.op or '+='} ...`"
    if access.kind == DELETE:
        return f"`del {target}`"
    return f"the change of `{target}`"


def _under(access: Access) -> str:
    keys = [key for key in strong(access.held) if key != "*"]
    return f", under `{keys[0]}`" if keys else ""


def _lock_advice(objects: Objects, accesses: List[Access], around: str = "both") -> str:
    """Hold the lock the class already uses for this attribute, or else one it
    takes elsewhere, or else a new one."""
    lock: Optional[str] = None
    for access in accesses:
        lock = lock or next((key for key in access.held if key.startswith("self.")), None)
    if lock is None:
        for unit, keys in objects.locks.taken.items():
            if unit is not None and objects.class_of(unit) is accesses[0].owner[0]:
                lock = lock or next((k for k in sorted(keys) if k.startswith("self.")), None)
    if lock is not None:
        return f"hold `{lock}` around {around}"
    if objects.class_level(accesses[0].owner):
        return f"guard {around} with one lock on the class (`_lock = threading.Lock()` in " \
               "the class body, then `with self._lock:`)"
    return f"guard {around} with one lock (`self._lock = threading.Lock()` in `__init__`, then " \
           "`with self._lock:`)"
