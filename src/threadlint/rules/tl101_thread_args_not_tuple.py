"""TL101 thread-args-not-tuple."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from threadlint.model.api import THREAD_NEEDS
from threadlint.model.classes import Classes
from threadlint.model.syntax import keyword_or_positional
from threadlint.model.values import Values
from threadlint.rules.base import Rule, snippet

# Values that are fine as ``args`` whatever their parentheses: real sequences.
_SEQUENCE_NODES = (cst.Tuple, cst.List, cst.ListComp, cst.GeneratorExp, cst.Set, cst.SetComp,
                   cst.Dict, cst.DictComp)
_STRING_NODES = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)
_SEQUENCE_FACTORIES = ("builtins.tuple", "builtins.list")


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
    needs = THREAD_NEEDS
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
        if value.lpar and self._reportable(value):
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

    def _reportable(self, value: cst.BaseExpression) -> bool:
        return not self._may_be_sequence(value)

    def _may_be_sequence(self, value: cst.BaseExpression) -> bool:
        if isinstance(value, _SEQUENCE_NODES):
            return True
        if isinstance(value, cst.Call):
            return self.names.resolves_to(value.func, _SEQUENCE_FACTORIES) is not None
        if isinstance(value, cst.IfExp):
            return self._may_be_sequence(value.body) or self._may_be_sequence(value.orelse)
        if isinstance(value, cst.BooleanOperation):
            return self._may_be_sequence(value.left) or self._may_be_sequence(value.right)
        if isinstance(value, cst.BinaryOperation):
            return not self._has_scalar_literal(value)
        if isinstance(value, cst.Name):
            values = self.names.assigned_values(value)
            if not values:
                return False
            return all(self._may_be_sequence(v) for v in values)
        return False

    def _has_scalar_literal(self, value: cst.BaseExpression) -> Optional[bool]:
        if isinstance(value, cst.BinaryOperation):
            if self._may_be_sequence(value.left) or self._may_be_sequence(value.right):
                return False
            return bool(self._has_scalar_literal(value.left) or self._has_scalar_literal(value.right))
        return isinstance(value, (cst.Integer, cst.Float) + _STRING_NODES)
