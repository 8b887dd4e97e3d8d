"""TL303 acquire-without-try-finally."""

from __future__ import annotations

from threadlint.model.acquires import Acquires
from threadlint.model.syntax import method_receiver
from threadlint.rules.base import Rule, snippet


class AcquireWithoutTryFinally(Rule):
    """## What it does
    Checks for `L.acquire()` as a statement, on a lock-like object, that is not
    directly followed by a `try:` whose `finally:` releases the lock, when the
    same function releases `L` itself later (so the pair is meant to bracket a
    critical section).

    ## Why is this bad?
    Any exception between `acquire()` and `release()` skips the release: the
    lock stays held forever and every other thread that needs it hangs,
    usually far from the code at fault. `with L:` cannot forget.

    ## Example
    ```python
    def record(event):
        events_lock.acquire()
        events.append(parse(event))  # raises on a bad event
        events_lock.release()
    ```

    ## Use instead
    ```python
    def record(event):
        with events_lock:
            events.append(parse(event))
    ```
    or, when `with` does not fit, `acquire()` immediately followed by
    `try: ... finally: events_lock.release()`.

    ## Known limitations
    - Lock-like means: its type is known to be a `threading`,
      `multiprocessing` or `asyncio` lock, condition or semaphore, or a class
      whose `acquire()` takes a lock (a `logging.Handler`, any handler of
      `logging` and `logging.handlers`, a local subclass of one, a local class
      whose `acquire` method acquires a lock); or its type is unknown and its
      name says lock (see TL301's heuristic). A type is known from every
      value bound to the name or `self.<attr>` (constructor calls,
      `logging.getLogger()`), a parameter's annotation (`h: logging.Handler`,
      `Optional[...]`, `... | None`; not a string annotation), an enclosing
      `if isinstance(h, logging.Handler):`, or a loop over a logger's
      `handlers` (`for h in logging.getLogger().handlers:`, also through
      `list()`, `reversed()` or `[:]`; the logger itself must be known). An
      object is not judged lock-like because the function calls both its
      `acquire()` and its `release()`: that is required of every finding
      anyway, so it would judge connection pools, reference counts and
      other objects with those methods whose leak is not a lock held
      forever. `for h in logger.handlers:` with `logger` a parameter of
      unknown type is silent.
    - Where the line is drawn between a critical section and a lock used as
      a signal: only an `acquire()` whose function also calls `release()` on
      the same expression is judged, and not when the code after it
      - leaves the function or the loop with the lock still held (`return`,
        `break`, `continue` before any release): a hand-off, as in
        turnstiles, hand-over-hand schemes and "acquire, then break out to
        the `try`/`finally`" loops;
      - acquires the same non-reentrant lock again, which waits for another
        thread's release: a lock or semaphore used as an event.
      Acquiring in one function and releasing in another (`__enter__` and
      `__exit__`, `lock()`/`unlock()` wrappers, semaphores released by another
      thread) is silent too, as is an `acquire()` that ends its block, other
      than a branch of an `if`. An `acquire()` ending an `if` branch (`if
      use_lock: lock.acquire()`) is judged by what runs after the `if`: a
      `try` whose `finally:` releases it (`if use_lock: lock.release()`
      counts) is safe, other work before the (conditional) release is
      reported.
    - Silent for a lock the same function creates (`lock = threading.Lock()`,
      `sem = self.semtype(2)`, anything called like a lock type): taken by
      hand it is a gate for the threads the function starts, or the subject
      of a test, and an exception takes it away with the function's frame.
    - Silent when the result is used (`if L.acquire(timeout=1):`,
      `ok = L.acquire(False)`), when `release()` follows immediately, or when
      the `try` releases in a `finally:` or in an `except:` (also through a
      helper whose name says release or unlock). A `try` that catches
      `Exception` (or everything) without leaving, followed by the release,
      also counts as safe. Plain assignments of names and constants, and
      `acquire()` of further locks, between the `acquire()` and the `try` are
      allowed.
    - An `acquire()` inside a `try:` (also nested in its `if`, `for` or
      `with` blocks, or in its `except:`/`else:`) whose `finally:` releases
      the lock is silent, as in `try: if use_lock: lock.acquire(); locked =
      True ... finally: if locked: lock.release()`, although a failing
      `acquire()` can make such a `finally:` release a lock that is not held.
    - A file is only parsed for this rule if `.acquire` appears in it, blanks
      or a backslash continuation allowed after the dot: a comment between
      the dot and `acquire` (legal inside brackets) hides the call.
    """

    code = "TL303"
    name = "acquire-without-try-finally"
    summary = "`acquire()` not followed by `try`/`finally` releasing the lock"
    # Locks often arrive as parameters, without any import of a threading
    # module; every finding is an attribute call `L.acquire()` (whitespace
    # or a backslash continuation may follow the dot). Only the one dot before
    # a run of blanks scans it, so the search is linear.

    requires = (Acquires,)

    def finish(self) -> None:
        acquires = self.model[Acquires]
        for candidate in acquires.candidates:
            # Released in another function: a hand-off, not a pair.
            if not acquires.paired(candidate) or acquires.protected(candidate):
                continue
            lock = snippet(method_receiver(candidate.call))
            fix = f"use `with {lock}:`" if candidate.supports_with else \
                f"put the work in `try:` right after it and `{lock}.release()` in its `finally:`"
            self.report(
                candidate.call,
                f"`{lock}.acquire()` is not followed by `try:`/`finally: {lock}.release()`, so an "
                f"exception before the release leaves it held forever; {fix}",
            )
