"""TL301 unlocked-global-mutation."""

from __future__ import annotations

from threadlint.model.mutations import Mutation, Mutations
from threadlint.model.threads import Threads
from threadlint.rules.base import Rule

#: What to do about it (the docstring's Use instead).
_REMEDY = (", so concurrent updates can be lost: hold one lock that every thread shares "
           "(a module-level `threading.Lock()`, `with lock:`) around each change and read of it")


class UnlockedGlobalMutation(Rule):
    """## What it does
    Checks for shared state mutated, outside a held lock, by code that runs in
    a thread: module-level names and class attributes changed from a thread
    target, a `Thread` subclass's `run()`, a task handed to a thread pool
    (`executor.submit`/`map`, `loop.run_in_executor`, `asyncio.to_thread`,
    `multiprocessing.pool.ThreadPool`), a done callback added to a future a
    thread pool's `submit()` made, or any function those reach by direct
    calls, in the same module or (whole-project analysis) in another. The
    message names the variable and the thread entry point the code is reached
    from.

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
    import threading

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
    import threading

    hits = 0
    seen = {}
    stats_lock = threading.Lock()

    def handle_request(request):
        global hits
        with stats_lock:
            hits += 1
            seen[request.path] = seen.get(request.path, 0) + 1

    threading.Thread(target=handle_request, args=(request,)).start()
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
    requires = (Mutations, Threads)

    def finish(self) -> None:
        mutations = self.model[Mutations]
        unlocked = [m for m in mutations.mutations if not m.held]
        if not unlocked:
            return
        threads = self.model[Threads]
        reached = threads.reached(unlocked_only=True)
        for mutation in unlocked:
            entry = reached.get(mutation.unit)
            if entry is None or self._published(mutations, mutation):
                continue
            where = threads.where(mutation.unit, entry)
            self.report(mutation.node, f"{mutation.label} mutated in {where} without a lock{_REMEDY}")

    def _published(self, mutations: Mutations, mutation: Mutation) -> bool:
        """A plain rebinding of a global that cannot lose an update or that is
        handed over safely: a constant stored by a function that never reads
        the name (a one-way flag), or a value followed, in the same function,
        by an event's `set()`, after which readers that waited may read it."""
        if mutation.rebound is None:
            return False
        if mutation.order < mutations.last_set.get(mutation.unit, 0):
            return True
        return mutation.constant and self.names.loads_in(mutation.unit, mutation.rebound) == 0
