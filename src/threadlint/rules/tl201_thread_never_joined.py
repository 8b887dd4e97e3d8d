"""TL201 thread-never-joined."""

from __future__ import annotations

from typing import Set

import libcst as cst

from threadlint.model.fates import Fate, Fates
from threadlint.model.flow import Flow
from threadlint.rules.base import Rule, quote


class ThreadNeverJoined(Rule):
    """## What it does
    Checks for a non-daemon thread (`threading.Thread`, `threading.Timer`,
    `multiprocessing.Process`, a context's
    `get_context(...).Process`, or a local subclass of them) that is started in
    the module and never joined. The thread is followed through a local
    variable, a `self.<attr>` (a `join()` in any method of the class counts,
    as in a `stop()`/`close()`/`__exit__`), a list, set, dict or deque it is
    put in (by `append`, `add`, item assignment, a comprehension or a display)
    whose elements are joined in a loop, or no handle at all
    (`Thread(...).start()`).

    A join anywhere counts: on one branch, with a timeout, inside a `try`.
    threadlint does not ask for a join on every path. When a name is rebound,
    each use belongs to the assignment that reaches it, so in
    `t = Thread(...); t.start(); t = Thread(...); t.start(); t.join()` the
    first thread is reported.

    ## Why is this bad?
    The concrete risk is at exit: the interpreter (and `multiprocessing`, for
    its child processes) waits for every non-daemon thread before the process
    ends, also after `sys.exit()` or an uncaught exception. A thread that
    never ends (a server loop, a worker blocked on a queue, or one waiting
    for an event that code which failed was to set) keeps the program alive
    forever: it hangs on shutdown, usually far from the code at fault.
    Before that, nobody knows when it has finished: its errors go unnoticed
    and its results may be read half-written. A `Timer` that is neither
    joined nor cancelled fires even after its owner is gone.

    In tests and examples most threads end on their own right after the
    main thread waits on an event or a future the thread sets; the risk
    there is a test run that hangs at exit when something fails before the
    thread is released. A project that accepts that can turn the rule off
    for its tests:
    ```toml
    [tool.threadlint]
    per-file-ignores = { "tests/*" = ["TL201"] }
    ```

    ## Example
    ```python
    import threading

    def refresh(urls):
        for url in urls:
            worker = threading.Thread(target=download, args=(url,))
            worker.start()
    ```

    ## Use instead
    ```python
    import threading

    def refresh(urls):
        workers = [threading.Thread(target=download, args=(url,)) for url in urls]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    ```
    or, for a thread that may be killed at exit, say so:
    `threading.Thread(target=heartbeat, daemon=True).start()`.

    ## Known limitations
    Precision beats recall: when the thread's fate is unclear the rule is
    silent. In particular it does not report a thread that
    - is returned, yielded, passed to any call (other than `print`, `len`,
      `isinstance`, logging calls and the like), stored on another object,
      put in a queue, in a module-level or caller-owned container, in a
      container nested three deep, or assigned to a global or nonlocal name
      from inside a function;
    - is a daemon, or may be: `daemon=` with any value but `False`,
      `**kwargs` in the call, `t.daemon = ...` / `t.setDaemon(...)` anywhere
      (before or after `start()`), a subclass that sets `daemon` in its body,
      in `super().__init__(daemon=...)`, or in `__init__` or a method called
      on the object;
    - is cancelled, terminated, killed or closed, or polled with
      `while t.is_alive():` (or `while any(t.is_alive() for t in ts):`);
    - belongs to a module that joins every thread of
      `threading.enumerate()` (under any import alias, through `list()`,
      `filter()` or a comprehension, or passed to a local helper that joins
      its parameter), or waits in a `while` loop whose test counts threads
      (`threading.active_count()`, `len(threading.enumerate())`), or, for
      processes, calls `multiprocessing.active_children()`; a join of
      every thread in another module is not seen;
    - is a `self.<attr>` whose attribute is joined anywhere in the module as
      `other.<attr>.join()`, or is handed away anywhere as `other.<attr>`;
    - is a local subclass instance on which a method of the class is called
      that hands `self` to someone else.
    Aliases (`t = self._thread; t.join()`, `a, b = b, a`) and joins in nested
    functions and lambdas are followed. A thread started only through a bound
    method passed elsewhere (`loop.call_soon(t.start)`), or started by its
    class's `__init__` with no such `__init__` in this module, has no visible
    start and is not reported. Threads made by imported factories, or whose
    class comes from another module, are not followed. A join reached only
    through a helper function that receives the thread counts as an escape.
    A join after a loop reaches the thread of the last iteration only, but
    every thread created in the loop is treated as joined.
    """

    code = "TL201"
    name = "thread-never-joined"
    summary = "a non-daemon thread is started and never joined"

    requires = (Fates,)

    def finish(self) -> None:
        fates, flow = self.model[Fates], self.model[Flow]
        reported: Set[cst.Call] = set()
        for fate in fates.fates:
            creation = fate.creation
            if creation.is_executor or not fate.starts or fate.settled:
                continue
            if fates.creation_is_daemon(creation):
                continue
            if creation.kind == "process" and fates.reaps_processes:
                continue
            if creation.kind != "process" and fates.joins_all_threads:
                continue
            start = min(fate.starts, key=lambda call: _rank(flow, call))
            if start in reported:
                continue
            reported.add(start)
            self.report(start, _message(fate, start))


def _rank(flow: Flow, call: cst.Call) -> int:
    site = flow.call_sites.get(call)
    return site.index if site is not None else 0


#: What happens to such a thread: the process waits for it at exit.
_RISK = ", and exit waits for it (forever if it never ends)"


def _message(fate: Fate, start: cst.Call) -> str:
    kind = {"timer": "timer", "process": "process"}.get(fate.creation.kind, "thread")
    receiver = start.func.value if isinstance(start.func, cst.Attribute) else start.func
    if kind == "timer":  # Timer() takes no daemon argument
        daemon_hint = ", or set its `daemon = True` before `start()` if it may be dropped at exit"
    else:
        daemon_hint = ", or create it with `daemon=True` if it may be killed at exit"
    cancel_hint = " (or `cancel()` it)" if kind == "timer" else ""
    if isinstance(receiver, cst.Call):
        return (f"{kind} `{quote(receiver, 80)}` is started with no handle, so it can never be "
                f"joined{_RISK}: keep it in a variable and call `.join()` on it{cancel_hint}"
                f"{daemon_hint}")
    if isinstance(receiver, cst.NamedExpr):
        receiver = receiver.target
    name = quote(receiver)
    if isinstance(receiver, cst.Name) and any(
            d.kind == "param" and d.name == receiver.value for d in fate.var_defs):
        # The thread subclass starts itself (`self.start()` in one of its methods).
        made = f"{quote(fate.creation.node.func)}(...)"
        return (f"{kind} `{made}` starts itself but is never joined{_RISK}: keep the object and call "
                f"`.join()` on it{cancel_hint}{daemon_hint}")
    if fate.attrs and name.startswith("self."):
        return (f"{kind} `{name}` is started but never joined in any method of "
                f"`{fate.attrs[0][0].name.value}`{_RISK}: call `{name}.join()` where the object "
                f"shuts down (e.g. in `stop()` or `close()`){cancel_hint}{daemon_hint}")
    if fate.in_container:
        return (f"{kind} `{name}` is started but no element of its container is ever joined"
                f"{_RISK}: "
                f"join them all, e.g. `for {name} in ...: {name}.join()`{cancel_hint}"
                f"{daemon_hint}")
    return (f"{kind} `{name}` is started but never joined{_RISK}: call `{name}.join()` "
            f"when its work must be done{cancel_hint}{daemon_hint}")
