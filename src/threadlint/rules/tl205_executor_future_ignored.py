"""TL205 executor-future-ignored."""

from __future__ import annotations

import libcst as cst

from threadlint.model.futures import KEPT, UNUSED, Futures, Submission
from threadlint.rules.base import RELATED_LINE, Rule, snippet

_CONTAINERS = {cst.List: "list", cst.Tuple: "tuple", cst.Set: "set", cst.Dict: "dict",
               cst.ListComp: "list comprehension", cst.SetComp: "set comprehension",
               cst.DictComp: "dict comprehension"}


class ExecutorFutureIgnored(Rule):
    """## What it does
    Checks for the result of `executor.submit(...)` or `executor.map(...)`,
    on a `concurrent.futures.ThreadPoolExecutor` or `ProcessPoolExecutor`,
    that nobody ever looks at:

    - the call is an expression statement (`pool.submit(task)`,
      `pool.map(task, items)`), or an element of a list, set, tuple or dict
      display or comprehension that is one
      (`[pool.submit(task, x) for x in items]`);
    - the result (or such a display holding it) is assigned to local
      variables of the function, none of which is ever read afterwards
      (`future = pool.submit(task)` and nothing more, or the name is
      rebound before it is read).

    The executor must be known: made by `ThreadPoolExecutor(...)` or
    `ProcessPoolExecutor(...)` (any import alias, or a local subclass), held
    in a name or `self.<attr>` every assignment of which is such a call, or
    bound by `with ThreadPoolExecutor() as pool:`.

    ## Why is this bad?
    An exception raised in the task is stored in its `Future`: `result()`
    raises it again and `add_done_callback` callbacks can see it. Nothing
    else reports it, so a dropped future makes the failure vanish without a
    trace: no traceback, no log line, the work simply did not happen. The
    same holds for `map`: its result is a lazy iterator; the tasks are
    submitted at once and run, but their exceptions are raised only while the
    iterator is consumed, so `pool.map(task, items)` as a statement loses
    them all.

    ## Example
    ```python
    from concurrent.futures import ThreadPoolExecutor

    def upload(path):
        ...

    def upload_all(paths):
        with ThreadPoolExecutor(max_workers=4) as pool:
            for path in paths:
                pool.submit(upload, path)
    ```

    ## Use instead
    ```python
    from concurrent.futures import ThreadPoolExecutor

    def upload(path):
        ...

    def upload_all(paths):
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(upload, path) for path in paths]
        for future in futures:
            future.result()  # raises the first upload's exception here
    ```
    or `future.add_done_callback(report_failure)` where nobody waits for the
    result, or `for _ in pool.map(upload, paths): pass` for `map`.

    ## Known limitations
    - Fire-and-forget tasks that handle their own errors are not reported:
      the function submitted (directly, through `functools.partial`, or the
      function a `lambda`'s body calls) is a `def` of this module (a function,
      or a method through `self.<name>`) whose work is all inside one `try`
      with an `except Exception`, `except BaseException` or bare `except:`
      handler that does not `raise` again at its top level (logging the
      error, recording it on a job, anything else). One-line set-up
      statements may come before the `try` (`self._set_running(job_id)`,
      `session = Session()`), and the `try` may sit inside a `while`/`for`
      loop or a `with` block (a worker loop); after it only `pass`,
      `continue`, `break` or `return` of a name or constant may follow.
      Exceptions raised by those set-up lines, or in the `try`'s `else:` and
      `finally:` blocks, are still lost: the rule trusts a task that visibly
      handles its errors. A wrapper defined in another module, a decorator
      that catches, a handler catching narrower exceptions, a second block
      (`if not ready: return` before the `try`) or work after the `try` is
      not recognised, and such submissions are reported.
    - Silent when the executor's local class overrides `submit` (or `map`):
      the override may handle the result itself.
    - Any other use of the result counts as looking at it: returned,
      yielded, passed to any call (`futures.append(f)`, `wait([f])`,
      `print(f)`), iterated, any method called on it (`f.cancel()`,
      `f.done()`), stored in an attribute, a container, a global or a dict
      key (`tasks[pool.submit(...)] = name`), compared or tested.
    - A result stored in a local that is read on some path only, read after
      a loop that rebinds it on every iteration (only the last future is
      looked at), or read through `locals()` counts as looked at; a result
      stored at module level or in a class body is never reported (another
      module may read it); names starting with `_` are deliberate discards
      and are not reported.
    - Executors the model cannot identify are not followed: parameters,
      values returned by factories, `self.<attr>` with any assignment that
      is not a constructor call (`self._pool = None` included), a plain
      alias of a variable (`pool = self._pool`), and executors of other
      libraries (`multiprocessing.Pool.map` is eager and raises; it is not
      judged). `loop.run_in_executor(...)` returns an asyncio future and is
      not judged either.
    """

    code = "TL205"
    name = "executor-future-ignored"
    summary = "the result of `executor.submit()`/`executor.map()` is dropped, so the task's exception is lost"
    requires = (Futures,)

    def finish(self) -> None:
        for submission in self.model[Futures].submissions:
            if submission.fate == KEPT or submission.task_catches_all or submission.overridden:
                continue
            if submission.fate == UNUSED and all(d.name.startswith("_") for d in submission.holders):
                continue  # `_ = pool.submit(task)`: discarded on purpose
            rebinding = submission.rebinding
            related = [(rebinding.target, f"`{rebinding.name}` rebound here")] \
                if rebinding is not None and rebinding.target is not None else []
            self.report(submission.call, _message(submission, bool(related)), related=related)


def _message(submission: Submission, rebound: bool) -> str:
    call = snippet(submission.call, 50)
    task = f"`{snippet(submission.task)}`" if submission.task is not None else "the task"
    holder = submission.holders[0].name if submission.fate == UNUSED else None
    unread = f"rebound (line {RELATED_LINE}) before it is read" if rebound else "never read"
    container = _CONTAINERS.get(type(submission.container), "") if submission.container else ""
    if submission.method == "map":
        what = f"the result of `{call}`"
        what += f" is stored in `{holder}`, which is {unread}" if holder else " is never iterated"
        why = (f"so an exception raised in {task} is never seen (the tasks run, but `map` raises "
               f"their exceptions only while its result is iterated)")
        fix = "iterate it (`for result in ...:`), or wrap it in `list(...)` if the results are not needed"
        return f"{what}, {why}: {fix}"
    what = f"the future of `{call}`"
    if holder and container:
        what += f" is put in a {container} stored in `{holder}`, which is {unread}"
        fix = f"call `.result()` on each future of `{holder}` (or use `add_done_callback`)"
    elif holder:
        what += f" is stored in `{holder}`, which is {unread}"
        fix = f"call `{holder}.result()`, or handle errors in `{holder}.add_done_callback(...)`"
    else:
        what += f" is dropped with the {container} holding it" if container else " is dropped"
        fix = "keep the future and call `.result()` on it, or handle errors in `.add_done_callback(...)`"
    return f"{what}, so an exception raised in {task} is never seen: {fix}"
