"""TL103 thread-run-called."""

from __future__ import annotations

import libcst as cst

from threadlint.model.classes import Classes
from threadlint.model.syntax import is_super_call
from threadlint.model.values import Values
from threadlint.rules.base import Rule, snippet


class ThreadRunCalled(Rule):
    """## What it does
    Checks for `.run()` called on an object known to be a thread: one made by
    `threading.Thread`, `threading.Timer`, `multiprocessing.Process`, a context's
    `get_context(...).Process` or a local
    subclass of them, held in a name of the same module or in a `self`
    attribute assigned one.

    ## Why is this bad?
    `run()` is the method the new thread executes; calling it directly runs the
    target synchronously in the calling thread, and no thread is ever started.
    The code works, slowly and serially, so the mistake hides.

    ## Example
    ```python
    import threading

    worker = threading.Thread(target=drain_queue)
    worker.run()
    ```

    ## Use instead
    ```python
    import threading

    worker = threading.Thread(target=drain_queue)
    worker.start()
    ```

    ## Fix safety
    `--fix --unsafe-fixes` renames the call to `.start()`. The fix is unsafe:
    it changes behaviour on purpose. The work now runs concurrently with the
    code after the call, which may read its results before they exist (add a
    `join()` where they are needed), and `start()` raises `RuntimeError` on a
    thread that was already started, where `run()` could be called again.

    ## Known limitations
    - Silent for `super().run()` and for any call inside the methods of a
      thread subclass, where delegating to `run()` is the normal pattern.
    - A name is only followed when every binding of it in its scope is a
      thread constructor call; a thread passed in as a parameter, returned by
      a factory, or reached through a container is not recognised.
    """

    code = "TL103"
    name = "thread-run-called"
    summary = "`.run()` called on a thread instead of `.start()`"
    requires = (Values,)
    fixable = True

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "run") or node.args:
            return
        cls = self.cursor.cls
        if cls is not None and cls in self.model[Classes].thread_classes:
            return
        receiver = func.value
        if is_super_call(receiver) or not self.model[Values].is_thread(receiver):
            return
        name = snippet(receiver)
        self.report(
            node,
            f"`{name}.run()` runs the thread's work in the calling thread and starts no thread; "
            f"call `{name}.start()` (and `join()` it when the result is needed)",
            fix=node.with_changes(func=func.with_changes(attr=cst.Name("start"))),
            applicability="unsafe",
        )
