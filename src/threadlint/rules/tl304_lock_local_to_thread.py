"""TL304 lock-local-to-thread."""

from __future__ import annotations

from typing import cast

import libcst as cst

from threadlint.model.core import Unit
from threadlint.model.local_locks import LocalLocks
from threadlint.model.threads import Threads
from threadlint.model.values import Values
from threadlint.rules.base import Rule, snippet

_KIND_WORDS = {"lock": "lock", "rlock": "lock", "condition": "condition", "semaphore": "semaphore"}


class LockLocalToThread(Rule):
    """## What it does
    Checks for a lock created as a local variable of a function that threads
    run (a thread target, a `Thread` subclass's `run()`, a pool task, or a
    function they call) and used only there, as `with lock:` or
    `lock.acquire()`.

    ## Why is this bad?
    Each call of the function makes its own lock, so every thread acquires a
    different one and none ever waits: the critical section is not protected.
    The code looks synchronised, which hides the race it was meant to prevent.

    ## Example
    ```python
    import threading

    def worker(jobs):
        lock = threading.Lock()
        for job in jobs:
            with lock:
                results.append(run(job))

    for chunk in chunks:
        threading.Thread(target=worker, args=(chunk,)).start()
    ```

    ## Use instead
    ```python
    import threading

    results_lock = threading.Lock()

    def worker(jobs):
        for job in jobs:
            with results_lock:
                results.append(run(job))

    for chunk in chunks:
        threading.Thread(target=worker, args=(chunk,)).start()
    ```

    ## Known limitations
    - Silent as soon as the lock is used in any other way than `with lock:`
      and its own methods in that function: passed to a call or a thread,
      stored in an attribute or container, returned, yielded, or used from a
      nested function or lambda (which may run in other threads and share it).
    - A local `Condition` that is waited on (a timed sleep) and a `Condition`
      built around another lock are not reported.
    - Only functions this module hands to threads, and the functions they
      call directly, are judged (see TL301); every binding of the name in the
      function must be a lock constructor.
    """

    code = "TL304"
    name = "lock-local-to-thread"
    summary = "a lock created locally in a function threads run, so every call gets its own"
    requires = (LocalLocks, Threads)

    def finish(self) -> None:
        candidates = [lock for lock in self.model[LocalLocks].locks.values()
                      if lock.guarded and not lock.escapes and not lock.waited]
        if not candidates:
            return
        threads, values = self.model[Threads], self.model[Values]
        reached = threads.reached(unlocked_only=False)
        for lock in candidates:
            entry = reached.get(lock.scope.node)
            if entry is None:
                continue
            where = threads.where(cast(Unit, lock.scope.node), entry)  # a function scope's def
            for binding in lock.bindings:
                value = binding.value
                if not isinstance(value, cst.Call):
                    continue
                kind = _KIND_WORDS.get(values.lock_constructor(value) or "", "lock")
                self.report(
                    value,
                    f"`{lock.name} = {snippet(value)}` makes a new {kind} on every call of "
                    f"{where}, so each thread acquires its own and none waits; create it once "
                    f"(at module level or in `__init__`) and share it",
                )
