"""TL402 non-reentrant-reacquire."""

from __future__ import annotations

from typing import Set

import libcst as cst

from threadlint.model.lock_order import LockOrder
from threadlint.rules.base import RELATED_LINE, Rule, snippet


class NonReentrantReacquire(Rule):
    """## What it does
    Checks for a `threading.Lock` (or a `Semaphore(1)`, `BoundedSemaphore(1)`,
    or a `Condition` built on a `Lock`) acquired again by the thread that
    already holds it: a `with` or `acquire()` nested in a region holding the
    same lock, or a call, made while holding it, of a function of the module
    that takes it (through any number of calls on `self`, `super()` or plain
    names).

    ## Why is this bad?
    A `Lock` does not know who holds it: the second `acquire()` waits for a
    release that only the waiting thread could make. The thread hangs at
    once, holding the lock, and every other thread that needs it hangs
    behind it.

    ## Example
    ```python
    import threading

    class Ledger:
        def __init__(self):
            self._lock = threading.Lock()
            self._entries = []

        def add(self, entry):
            with self._lock:
                self._entries.append(entry)
                self._trim()

        def _trim(self):
            with self._lock:
                del self._entries[:-100]
    ```

    ## Use instead
    ```python
    import threading

    class Ledger:
        def __init__(self):
            self._lock = threading.Lock()
            self._entries = []

        def add(self, entry):
            with self._lock:
                self._entries.append(entry)
                self._trim_locked()

        def _trim_locked(self):
            del self._entries[:-100]
    ```
    (or make the lock a `threading.RLock()`, which its holder may take again).

    ## Known limitations
    - Only locks whose constructor is seen in the module count
      (`self._lock = threading.Lock()`, a module-level `Lock()`); an `RLock`,
      a `Condition()` (its default lock is an `RLock`) and a lock of unknown
      type are never reported.
    - Locks are told apart by binding (see TL401); calls are followed on the
      same object only, so `other.method()` taking `other._lock` (another
      instance's lock) is not a re-acquire.
    - `acquire(False)` and `acquire(timeout=...)` do not deadlock and are not
      reported; a release in the middle of the held region (`with lock:` ...
      `lock.release()` ... `lock.acquire()`) is not followed.
    - Paths are not checked: a call under the lock that a flag keeps from
      reaching the inner acquisition is still reported.
    """

    code = "TL402"
    name = "non-reentrant-reacquire"
    summary = "a non-reentrant lock is acquired again by the thread that holds it"
    requires = (LockOrder,)

    def finish(self) -> None:
        order = self.model[LockOrder]
        reported: Set[cst.CSTNode] = set()
        for edge in order.edges:
            if edge.outer != edge.inner or edge.site in reported \
                    or order.reentrant(edge.acquisition) is not False:
                continue
            reported.add(edge.site)
            advice = ("take it once, or make it a `threading.RLock()`, which its holder may "
                      "take again")
            if not edge.chain:
                self.report(
                    edge.site,
                    f"`{edge.inner_key}` is acquired again while this thread already holds "
                    f"it: a non-reentrant lock waits for a release only this thread could make, "
                    f"so it deadlocks here at once; {advice}")
                continue
            calls = " -> ".join(f"`{snippet(step.call.func)}()`" for step in edge.chain)
            self.report(
                edge.site,
                f"{calls} acquires `{edge.inner_key}` (line {RELATED_LINE}) while this thread "
                f"already holds `{edge.outer_key}`, a non-reentrant lock: it waits for a release "
                f"only this thread could make, so it deadlocks at once; call a variant that "
                f"expects the lock held, or {advice}",
                related=[(edge.acquisition.node, f"acquires `{edge.inner_key}` again")])
