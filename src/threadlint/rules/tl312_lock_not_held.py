"""TL312 lock-not-held."""

from __future__ import annotations

import libcst as cst

from threadlint.model.contracts import ANY_LOCK, Contracts, satisfied
from threadlint.model.objects import Objects
from threadlint.model.syntax import expr_key
from threadlint.rules.base import RELATED_LINE, Rule, snippet


class LockNotHeld(Rule):
    """## What it does
    Checks calls of a function that declares the lock its callers must hold:
    `def _flush(self):  # requires: self._lock` (a comment on the `def` line),
    and, with `contracts-from-prose = true` (the default), a method whose name
    ends in `_locked` (any lock) or whose docstring says "must be called with
    X held", "caller must hold X" or "call with X held". A call where the
    lock is not held is reported.

    ## Why is this bad?
    The function touches state that only the lock protects and does not take
    it itself, by design; a caller without the lock races with every other
    thread that holds it.

    ## Example
    ```python
    import threading

    class Journal:
        def __init__(self):
            self._lock = threading.Lock()
            self._pending = []

        def _flush(self):  # requires: self._lock
            write_all(self._pending)
            self._pending.clear()

        def close(self):
            self._flush()
    ```

    ## Use instead
    ```python
    import threading

    class Journal:
        def __init__(self):
            self._lock = threading.Lock()
            self._pending = []

        def _flush(self):  # requires: self._lock
            write_all(self._pending)
            self._pending.clear()

        def close(self):
            with self._lock:
                self._flush()
    ```

    ## Known limitations
    - Only calls this module resolves are checked (`f()`, `self.m()`,
      `cls.m()`, `super().m()`, methods of names bound to a local class); a
      lock named on `self` is looked for on the object the method is called
      on (`other._flush()` needs `other._lock`).
    - Calls during construction, and calls from a function that requires the
      same lock or that every caller calls with a lock held, are not reported.
    - A `_locked` name or a docstring without a lock name is satisfied by any
      lock. Set `contracts-from-prose = false` in `[tool.threadlint]` to read
      only the `# requires:` comments.
    """

    code = "TL312"
    name = "lock-not-held"
    summary = "a function that requires a lock held is called without it"
    requires = (Contracts, Objects)

    def finish(self) -> None:
        contracts, objects = self.model[Contracts], self.model[Objects]
        for call in contracts.calls:
            contract = contracts.required.get(call.callee)
            if contract is None or (call.unit is not None and (
                    objects.in_construction(call.unit) or objects.always_locked(call.unit))):
                continue
            lock = _seen_from_caller(contract.lock, call.node)
            if satisfied(lock, call.held):
                continue
            said = {"comment": f"`# requires: {contract.lock}`",
                    "name": "its name ends in `_locked`",
                    "docstring": "its docstring"}[contract.said_by]
            wanted = "a lock" if lock == ANY_LOCK else f"`{lock}`"
            self.report(
                call.node,
                f"`{snippet(call.node.func)}()` must be called with {wanted} held (line "
                f"{RELATED_LINE}: {said}), and it is not held here: hold {wanted} around the call",
                related=[(contract.function.name, f"requires {wanted}")])


def _seen_from_caller(lock: str, call: cst.Call) -> str:
    """``self._lock`` required by a method, as the caller names it:
    ``other._lock`` for ``other.method()``."""
    func = call.func
    if lock.startswith("self.") and isinstance(func, cst.Attribute):
        return expr_key(func.value) + lock[len("self"):]
    return lock
