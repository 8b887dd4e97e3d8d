"""TL404 condition-not-held."""

from __future__ import annotations

from threadlint.model.conditions import ConditionCall, Conditions
from threadlint.model.contracts import Contracts
from threadlint.model.objects import Objects
from threadlint.rules.base import Rule, snippet


class ConditionNotHeld(Rule):
    """## What it does
    Checks for `cond.wait()`, `wait_for()`, `notify()` and `notify_all()` on
    a condition variable (`threading.Condition`, `multiprocessing.Condition`,
    `asyncio.Condition`) where its lock is not held: not inside `with cond:`
    (`async with cond:`), nor after `cond.acquire()` in the same block, nor
    under the lock the condition is built on (`Condition(self._mutex)` and
    `with self._mutex:`), nor under another condition built on the same lock
    (`with self.not_full: self.not_empty.notify()`, as `queue.Queue` does).

    ## Why is this bad?
    These methods work on the lock's waiters and release and retake the lock:
    called without it, a `threading.Condition` raises `RuntimeError: cannot
    wait on un-acquired lock` (or `cannot notify on un-acquired lock`;
    `wait_for()` as soon as its predicate is false), an `asyncio.Condition`
    raises the same (unless another task happens to hold its lock: asyncio
    locks have no owner), and a `multiprocessing.Condition` fails an
    assertion. And the state a notify announces must change under the same
    lock the waiters test it under, or a waiter can test, miss the change
    and then the notify, and sleep forever.

    ## Example
    ```python
    import threading

    class Latch:
        def __init__(self):
            self._cond = threading.Condition()
            self._open = False

        def open(self):
            self._open = True
            self._cond.notify_all()
    ```

    ## Use instead
    ```python
    import threading

    class Latch:
        def __init__(self):
            self._cond = threading.Condition()
            self._open = False

        def open(self):
            with self._cond:
                self._open = True
                self._cond.notify_all()
    ```

    ## Known limitations
    - Only conditions the module makes are judged (a name or `self`
      attribute every value of which is a `Condition(...)` call); a
      parameter or a condition from another module is not.
    - Silent when some lock of unknown kind is held (a parameter, a
      `with self._lock_for(key):`, an alias `c = self._cond`): it may be the
      condition's; when the condition is built on a lock the call's code
      cannot name (`Condition(self._make_lock())`, a lock passed in); in a
      function declared to be called with a lock held (`# requires:`, a
      `_locked` name or a docstring, see TL312), whichever lock it names; and
      in a function every caller of which in the module holds a lock
      (whichever lock). A function that other modules call with the lock
      held is reported.
    - A call inside `with self.assertRaises(...):` or `pytest.raises` fails
      on purpose and is not reported.
    - A lock is held by `with`, by an `acquire()` earlier in the same block,
      or by a `@synchronized`-style decorator (any lock); code in a nested
      function or lambda holds nothing, since it runs later (or in another
      thread).
    """

    code = "TL404"
    name = "condition-not-held"
    summary = "a condition's `wait()`/`notify()` called without holding its lock"
    requires = (Conditions, Contracts, Objects)

    def finish(self) -> None:
        conditions = self.model[Conditions]
        contracts, objects = self.model[Contracts], self.model[Objects]
        for call in conditions.calls:
            if call.expects_error or conditions.holds(call) is not False:
                continue
            if call.unit is not None and (contracts.requirement(call.unit) is not None
                                          or objects.always_locked(call.unit)):
                continue
            self.report(call.node, _message(call))


def _message(call: ConditionCall) -> str:
    cond = snippet(call.receiver)
    method = call.method
    lock = f"`{cond}`" if not isinstance(call.lock, str) else f"`{cond}` (or its lock `{call.lock}`)"
    verb = "wait" if method.startswith("wait") else "notify"
    if call.kind == "process":
        fails = "it fails an assertion (the lock is not owned)"
    else:
        fails = f"it raises `RuntimeError: cannot {verb} on un-acquired lock`"
        if method == "wait_for":
            fails += " as soon as the predicate is false"
    block = f"async with {cond}:" if call.kind == "async" else f"with {cond}:"
    around = "with the test of what it waits for" if verb == "wait" else "with the change it announces"
    return (f"`{cond}.{method}()` is called without holding {lock}: {fails}; "
            f"call it inside `{block}`, {around}")
