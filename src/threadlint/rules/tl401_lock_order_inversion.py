"""TL401 lock-order-inversion."""

from __future__ import annotations

from typing import Dict, Tuple

from threadlint.model.lock_order import Edge, LockId, LockOrder
from threadlint.model.names import Names
from threadlint.rules.base import RELATED_LINE, Rule, snippet


class LockOrderInversion(Rule):
    """## What it does
    Checks for two locks taken in both orders: `a` then `b` (nested) in one
    place and `b` then `a` in another. Taking a lock means `with lock:`,
    `lock.acquire()`, or calling a function of the module that takes it
    (through any number of calls on `self`, `super()` or plain names).

    ## Why is this bad?
    Thread 1 holds `a` and waits for `b`; thread 2 holds `b` and waits for
    `a`. Neither can go on, forever, and nothing is printed: the classic
    deadlock. It only shows under load, which is why it has to be found by
    reading the code.

    ## Example
    ```python
    import threading

    accounts_lock = threading.Lock()
    audit_lock = threading.Lock()

    def transfer():
        with accounts_lock:
            with audit_lock:
                pass

    def report():
        with audit_lock:
            with accounts_lock:
                pass
    ```

    ## Use instead
    ```python
    import threading

    accounts_lock = threading.Lock()
    audit_lock = threading.Lock()

    def transfer():
        with accounts_lock:
            with audit_lock:
                pass

    def report():
        with accounts_lock:
            with audit_lock:
                pass
    ```

    ## Known limitations
    - Locks are told apart by their binding: a module-level name, or an
      attribute of `self` (one identity per class: two instances of one class
      share it, so `a._lock` then `b._lock` in one order and the reverse
      elsewhere is missed, and a class whose two instances take each other's
      locks is judged as one). Parameters, locals, `other._lock` and locks
      reached through helpers such as `_acquireLock()` are not identified.
    - Calls are followed within the module, on the same object only
      (`self.m()`, `super().m()`, `f()`); a lock taken in a callback, a
      method of another object or another module is not seen (issue 14's
      project index will see across modules).
    - Only blocking acquisitions count on the inner side (`acquire(False)`
      and `acquire(timeout=...)` give up instead of deadlocking), and only
      locks released in their block on the outer side (a lock taken and
      never released there is a gate or a hand-off).
    - Both nestings in module-level code (which runs once, in one thread)
      are not reported.
    - Paths are not checked: a nesting that a flag makes impossible is still
      a nesting.
    """

    code = "TL401"
    name = "lock-order-inversion"
    summary = "two locks are acquired in both orders, so two threads can deadlock"
    requires = (LockOrder,)

    def finish(self) -> None:
        names = self.model[Names]
        first: Dict[Tuple[LockId, LockId], Edge] = {}
        for edge in sorted(self.model[LockOrder].edges, key=lambda e: names.order(e.site)):
            if edge.outer != edge.inner:
                first.setdefault((edge.outer, edge.inner), edge)
        for (outer, inner), edge in first.items():
            other = first.get((inner, outer))
            if other is None or names.order(edge.site) < names.order(other.site):
                continue  # no inversion, or reported at the later nesting
            if edge.unit is None and other.unit is None:
                continue  # module-level code runs once, in one thread
            self.report(
                edge.site,
                f"{_taking(edge)} while holding `{edge.outer_key}`; line {RELATED_LINE} "
                f"{_taking(other)} while holding `{other.outer_key}` (the opposite order): two "
                f"threads doing both can deadlock, each holding the lock the other waits for; "
                f"take `{edge.outer_key}` and `{edge.inner_key}` in one order everywhere",
                related=[(other.site, f"`{other.inner_key}` taken inside `{other.outer_key}`")])


def _taking(edge: Edge) -> str:
    """``acquires `b_lock` ``, or ``acquires `b_lock` (via `helper()` -> `inner()`)``."""
    if not edge.chain:
        return f"acquires `{edge.inner_key}`"
    calls = " -> ".join(f"`{snippet(step.call.func)}()`" for step in edge.chain)
    return f"acquires `{edge.inner_key}` (via {calls})"
