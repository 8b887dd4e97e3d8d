"""TL102 thread-target-called."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from threadlint.model.classes import Classes
from threadlint.model.syntax import keyword_or_positional
from threadlint.model.values import Values, returns_no_callable
from threadlint.rules.base import Rule, snippet


class ThreadTargetCalled(Rule):
    """## What it does
    Checks for a thread target that is the *result* of calling a function:
    `Thread(target=work())`, `Timer(5, self.flush())`, `Process(target=job())`
    or `executor.submit(work())`, where `work` is defined in the same module and
    clearly returns nothing callable.

    ## Why is this bad?
    The call runs right there, in the calling thread, blocking it; the thread
    (or the pool) then receives `None` as its target and either does nothing or
    fails with `TypeError: 'NoneType' object is not callable`.

    ## Example
    ```python
    import threading


    def poll_forever():
        while True:
            poll()


    worker = threading.Thread(target=poll_forever())
    ```

    ## Use instead
    ```python
    import threading


    def poll_forever():
        while True:
            poll()


    worker = threading.Thread(target=poll_forever)
    # with arguments: Thread(target=poll, args=(url,)) or executor.submit(poll, url)
    ```

    ## Fix safety
    No fix. Dropping the call is what was meant in the example, but not
    always: the call may be a setup step whose work was meant to happen
    first, and a call with arguments must become `args=` (or `submit`'s own
    arguments), which changes when and where they are evaluated. Which one
    was meant is a judgement, not a mechanical rewrite.

    ## Known limitations
    - Only functions defined in the same module (module functions, nested
      functions, and `self.method` of the enclosing class) are judged, and only
      when every `return` gives back a literal or nothing. Factories that
      return a function, `functools.partial(...)`, lambdas and imported
      callables are never reported.
    - Generators, `async def` functions and decorated functions are skipped:
      the decorator may change what the call returns.
    - For `submit`, the receiver must be known to be a
      `concurrent.futures` executor (assigned from its constructor, or bound by
      `with ... as`), so `anything.submit(f())` elsewhere stays silent.
    - Local thread subclasses with their own `__init__` are skipped.
    """

    code = "TL102"
    name = "thread-target-called"
    summary = "the thread's target is the result of a call, so the work runs in the calling thread"
    requires = (Values,)

    def visit_Call(self, node: cst.Call) -> None:
        target = self._target_of(node)
        if not isinstance(target, cst.Call):
            return
        info = self.model[Values].local_function(target.func)
        if info is None or not returns_no_callable(info):
            return
        callee = snippet(target.func)
        arguments = ", ".join(snippet(a.value) for a in target.args if not a.star and a.keyword is None)
        is_submit = isinstance(node.func, cst.Attribute) and node.func.attr.value == "submit"
        if not target.args:
            advice = f"pass the function itself: `{callee}`"
        elif is_submit:
            advice = f"pass the function and its arguments: `submit({callee}, {arguments})`"
        else:
            ctor = self.model[Values].thread_constructor(node)
            keyword = ctor.target_keyword if ctor is not None else "target"
            advice = f"pass the function and its arguments separately: " \
                     f"`{keyword}={callee}, args=({arguments},)`"
        self.report(
            target,
            f"`{snippet(target)}` runs now, in the calling thread, and only its return value "
            f"(not a function) reaches the {'pool' if is_submit else 'thread'}; {advice}",
        )

    def _target_of(self, node: cst.Call) -> Optional[cst.BaseExpression]:
        ctor = self.model[Values].thread_constructor(node)
        if ctor is not None:
            if self.model[Classes].defines_init(ctor.local_class):
                return None
            arg = keyword_or_positional(node, ctor.target_keyword, 1)
            return arg.value if arg is not None else None
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "submit" \
                and self.model[Values].is_executor(func.value):
            arg = keyword_or_positional(node, "fn", 0)
            return arg.value if arg is not None else None
        return None
