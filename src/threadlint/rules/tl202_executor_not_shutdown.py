"""TL202 executor-not-shutdown."""

from __future__ import annotations

from typing import Optional

from threadlint.model.fates import Fate, Fates
from threadlint.rules.base import Rule, snippet


class ExecutorNotShutdown(Rule):
    """## What it does
    Checks for a `concurrent.futures.ThreadPoolExecutor` or
    `ProcessPoolExecutor` created outside a `with` statement, kept in a local
    variable or a `self.<attr>`, and never shut down: no `shutdown()` call, no
    `with executor:` later, and no `executor.shutdown` handed to
    `atexit.register` or similar, anywhere in the function (for a local) or
    in any method of the class (for an attribute).

    ## Why is this bad?
    An executor that is never shut down keeps its worker threads or processes
    alive after the work is done. Each call of the function leaks a new pool;
    exceptions in the work are never collected, and at exit the interpreter
    waits for the workers, or a process pool leaves children behind.

    ## Example
    ```python
    from concurrent.futures import ThreadPoolExecutor

    def fetch_all(urls):
        pool = ThreadPoolExecutor(max_workers=8)
        return list(pool.map(fetch, urls))
    ```

    ## Use instead
    ```python
    from concurrent.futures import ThreadPoolExecutor

    def fetch_all(urls):
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(fetch, urls))
    ```

    ## Known limitations
    - Silent when the executor escapes: it is returned, yielded, passed to a
      call (other than as the first argument of `loop.run_in_executor`),
      stored on another object or in a container, or assigned to a global.
    - Module-level executors are never reported: a process-wide pool that
      lives as long as the program is a deliberate pattern.
    - An executor that is never kept in a name or attribute
      (`ThreadPoolExecutor().submit(job)`) is not reported.
    - `self.<attr>` executors count as shut down when any method of the class
      (or a local base or subclass) shuts them down, whether or not that
      method is ever called, and when `<anything>.<attr>.shutdown()` appears
      anywhere in the module.
    - Executors made by imported factories or local subclasses of the
      executor classes are not followed.
    """

    code = "TL202"
    name = "executor-not-shutdown"
    requires = (Fates,)
    summary = "an executor created outside `with` is never shut down"

    def finish(self) -> None:
        for fate in self.model[Fates].fates:
            if not fate.creation.is_executor or fate.handled or fate.escaped:
                continue
            holder = _holder(fate)
            if holder is None:
                continue
            ctor = snippet(fate.creation.node.func)
            if fate.attrs:
                advice = (f"call `{holder}.shutdown()` where the object is closed (e.g. in "
                          f"`close()` or `__exit__`)")
            else:
                advice = (f"create it in a `with {ctor}(...) as {holder}:` block, or call "
                          f"`{holder}.shutdown()` when done")
            self.report(
                fate.creation.node,
                f"executor `{holder}` (`{ctor}(...)`) is never shut down, so its workers outlive "
                f"their work: {advice}",
            )


def _holder(fate: Fate) -> Optional[str]:
    """The local or ``self`` attribute holding the executor, if it is held only
    there; None for module-level executors and containers."""
    if fate.in_container:
        return None
    for definition in fate.var_defs:
        if definition.scope.kind != "function":
            return None  # a module-level pool lives as long as the program
    if fate.attrs:
        return f"self.{fate.attrs[0][1]}"
    if fate.var_defs:
        return fate.var_defs[0].name
    return None
