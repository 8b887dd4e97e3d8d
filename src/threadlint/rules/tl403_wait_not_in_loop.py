"""TL403 wait-not-in-loop."""

from __future__ import annotations

from threadlint.model.conditions import Conditions
from threadlint.rules.base import RELATED_LINE, Rule, snippet


class WaitNotInLoop(Rule):
    """## What it does
    Checks for `cond.wait()` on a condition variable (`threading.Condition`,
    `multiprocessing.Condition`, `asyncio.Condition`) that is not inside a
    loop of its function, so nothing tests again what it waited for once it
    returns: typically `if not ready: cond.wait()`.

    ## Why is this bad?
    `wait()` returning says nothing about the state. Another waiter woken by
    the same `notify_all()` (or one that came in and took the lock first) can
    consume what was notified before this thread gets the lock back; a
    timeout returns with nothing changed; the documentation allows spurious
    wake-ups; and a `notify()` sent before the wait began is lost, so a wait
    with no test at all may never return. The code after the `if` then runs
    on a condition that is false: it pops from an empty queue or reads a
    result that is not there.

    ## Example
    ```python
    import threading

    class Mailbox:
        def __init__(self):
            self._cond = threading.Condition()
            self._letters = []

        def post(self, letter):
            with self._cond:
                self._letters.append(letter)
                self._cond.notify()

        def take(self):
            with self._cond:
                if not self._letters:
                    self._cond.wait()
                return self._letters.pop(0)
    ```

    ## Use instead
    ```python
    import threading

    class Mailbox:
        def __init__(self):
            self._cond = threading.Condition()
            self._letters = []

        def post(self, letter):
            with self._cond:
                self._letters.append(letter)
                self._cond.notify()

        def take(self):
            with self._cond:
                self._cond.wait_for(lambda: self._letters)
                return self._letters.pop(0)
    ```
    or `while not self._letters: self._cond.wait()`.

    ## Known limitations
    - Only conditions the module makes are judged: a name or `self`
      attribute every value of which is a `Condition(...)` call (aliases
      and module globals included). A parameter, a value from another
      module or a condition class of another library (`tornado.locks`) is
      not; nor is a `Future` whose method rebinds `self` (`self = None` in a
      `finally:` breaks the link).
    - Any loop counts, `while` or `for`, whatever it tests: a wait inside a
      loop is assumed to be re-tested by it, even when an `if` inside the
      loop guards it and code after that `if` relies on the predicate. So
      does a loop around every call of the function that waits (a helper,
      or a closure awaited in the loop), in this module.
    - A wait whose result is used and that no `if` guards (`if
      cond.wait(5):`, `signaled = cond.wait(timeout)`) waits for the
      notification itself, as `threading.Event` does: not reported. Nor is a
      wait inside `with self.assertRaises(...):` or `pytest.raises`.
    - `wait_for()`, `Event.wait()` and `Barrier.wait()` are never reported:
      they test their own predicate.
    """

    code = "TL403"
    name = "wait-not-in-loop"
    summary = "`Condition.wait()` not in a loop that tests the predicate again"
    requires = (Conditions,)

    def finish(self) -> None:
        conditions = self.model[Conditions]
        for call in conditions.calls:
            if call.method != "wait" or call.loop is not None or call.expects_error:
                continue
            if call.guard is None and call.result_used:
                continue  # `if cond.wait(5):`: waits for the notification itself
            if conditions.called_in_loops(call.unit):
                continue  # a helper that waits once, called in the loop that tests again
            cond = snippet(call.receiver)
            if call.guard is not None:
                test = snippet(call.guard.test)
                where = f"in the `else:` of `if {test}:`" if call.in_else else f"guarded by `if {test}:`"
                self.report(
                    call.node,
                    f"`{cond}.wait()` is {where} (line {RELATED_LINE}), which tests once: after a "
                    f"wake-up whose notification another waiter consumed, a timeout or a spurious "
                    f"wake-up, the code goes on with the test still unmet; test again in a loop, "
                    f"or use `{cond}.wait_for(predicate)`",
                    related=[(call.guard, "tests the predicate only once")])
            else:
                self.report(
                    call.node,
                    f"`{cond}.wait()` is not in a loop that tests what it waits for: it returns "
                    f"after a notification another waiter consumed, a timeout or a spurious "
                    f"wake-up, and a notify sent before it began is lost; wait for a predicate "
                    f"with `{cond}.wait_for(predicate)` or `while not predicate: {cond}.wait()`")
