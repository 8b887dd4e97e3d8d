"""TL302 lock-created-inline."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from threadlint.api import ALL_LOCK_CONSTRUCTORS
from threadlint.model.values import Values
from threadlint.rules.base import Rule, snippet


class LockCreatedInline(Rule):
    """## What it does
    Checks for a lock constructed in the `with` statement that uses it:
    `with threading.Lock():`, and the same with `RLock`, `Condition`,
    `Semaphore`, `BoundedSemaphore`, their `multiprocessing` twins, and
    `async with asyncio.Lock():` (or its `Condition` and semaphores).

    ## Why is this bad?
    Every execution of the `with` makes a brand-new lock that no other thread
    has ever seen, so acquiring it never waits: the block is not protected at
    all, while reading as if it were.

    ## Example
    ```python
    import threading

    def record(event):
        with threading.Lock():
            events.append(event)
    ```

    ## Use instead
    ```python
    import threading

    events_lock = threading.Lock()

    def record(event):
        with events_lock:
            events.append(event)
    ```

    ## Known limitations
    - `with threading.Condition(shared_lock):` is not reported: it acquires
      `shared_lock`, which may well be shared.
    - A `with` that names the new lock (`with threading.Lock() as lock:`) is
      not reported, since the body may hand that lock to other threads.
    - Only constructors this module imports are recognised (through any alias);
      a factory returning a fresh lock (`with make_lock():`) is not.
    """

    code = "TL302"
    name = "lock-created-inline"
    requires = (Values,)
    summary = "a lock is created in the `with` that acquires it, so it guards nothing"

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            if item.asname is not None or not isinstance(item.item, cst.Call):
                continue
            kind = self._fresh_lock(item.item)
            if kind is None:
                continue
            keyword = "async with" if node.asynchronous is not None else "with"
            who = "task" if node.asynchronous is not None else "thread"
            self.report(
                item.item,
                f"`{keyword} {snippet(item.item)}:` makes a new {kind} every time it runs, so no "
                f"other {who} ever contends for it and it excludes nothing; create the {kind} "
                f"once (at module level or in `__init__`) and share it",
            )

    def _fresh_lock(self, call: cst.Call) -> Optional[str]:
        kind = self.model[Values].lock_constructor(call, ALL_LOCK_CONSTRUCTORS)
        if kind is None:
            return None
        if kind == "condition" and any(arg.keyword is None or arg.keyword.value == "lock"
                                       for arg in call.args):
            return None  # Condition(lock) acquires that lock, which may be shared
        return {"rlock": "lock", "condition": "condition", "semaphore": "semaphore"}.get(kind, "lock")
