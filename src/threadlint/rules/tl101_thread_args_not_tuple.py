"""TL101 thread-args-not-tuple."""

from __future__ import annotations

import libcst as cst

from threadlint.model.classes import Classes
from threadlint.model.syntax import keyword_or_positional
from threadlint.model.values import Values
from threadlint.rules.base import Rule, snippet

_STRING_NODES = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)


class ThreadArgsNotTuple(Rule):
    """## What it does
    Checks the `args` of `threading.Thread`, `threading.Timer`,
    `multiprocessing.Process`, a context's
    `get_context(...).Process` (and local subclasses of them) for a parenthesised
    single value with no trailing comma, such as `args=(job)`, and for a bare
    string, `args="job"`. The value may be passed by keyword or by position.

    ## Why is this bad?
    Parentheses alone only group: `(job)` is `job`, not a one-element tuple. The
    thread then calls `target(*job)`: a string is split into characters, a
    number raises `TypeError` in the new thread, where nobody sees it, and any
    other iterable is silently spread over the parameters.

    ## Example
    ```python
    import threading

    threading.Thread(target=download, args=(url)).start()
    ```

    ## Use instead
    ```python
    threading.Thread(target=download, args=(url,)).start()
    ```

    ## Fix safety
    `--fix` adds the trailing comma, `(url)` -> `(url,)`, keeping comments and
    layout; a bare string `"job"` becomes `("job",)`. The fix is safe.

    ## Known limitations
    - Silent when the value is a real sequence whatever its parentheses:
      tuple, list, set or dict displays and comprehensions, `tuple(...)` and
      `list(...)`, a name only ever bound to such values in this module, a
      conditional or `or` with a sequence branch, and an arithmetic expression
      with no literal operand (`(base + extra)` is often tuple concatenation).
    - Silent for local subclasses that define their own `__init__`: their
      parameters need not mean what `Thread`'s do.
    - `(f(y))` is reported even when `f` happens to return a tuple, unless `f`
      is `tuple` or `list`; write `f(y)` without the parentheses.
    """

    code = "TL101"
    name = "thread-args-not-tuple"
    summary = "`args` of a thread is a parenthesised value or a string, not a tuple"
    fixable = True
    requires = (Values,)

    def visit_Call(self, node: cst.Call) -> None:
        ctor = self.model[Values].thread_constructor(node)
        if ctor is None or self.model[Classes].defines_init(ctor.local_class):
            return
        arg = keyword_or_positional(node, "args", ctor.positional_args_index)
        if arg is None:
            return
        value = arg.value
        if value.lpar and not self.model[Values].may_be_sequence(value):
            inner = snippet(value)
            self.report(
                value,
                f"`args=({inner})` is not a tuple: the parentheses only group, so the thread "
                f"unpacks `{inner}` itself; add a trailing comma: `args=({inner},)`",
                cst.Tuple(
                    elements=[cst.Element(value.with_changes(lpar=[], rpar=[]), comma=cst.Comma())],
                    lpar=value.lpar,
                    rpar=value.rpar,
                ),
            )
        elif isinstance(value, _STRING_NODES) and not value.lpar:
            text = snippet(value)
            self.report(
                value,
                f"`args={text}` is a string, so the target gets one argument per character; "
                f"pass a tuple: `args=({text},)`",
                cst.Tuple(elements=[cst.Element(value, comma=cst.Comma())]),
            )
