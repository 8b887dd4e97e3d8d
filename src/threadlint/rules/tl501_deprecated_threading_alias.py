"""TL501 deprecated-threading-alias."""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Tuple, cast

import libcst as cst

from threadlint.api import (
    DEPRECATED_FUNCTIONS,
    DEPRECATED_METHODS,
    GETTER,
    SETTER,
    Alias,
)
from threadlint.model.core import Model
from threadlint.model.syntax import is_constant
from threadlint.model.values import Values
from threadlint.rules.base import Rule, snippet
from threadlint.walk import Replace

#: Every method name that is an alias on some kind of object.
_METHOD_NAMES = frozenset(name for aliases in DEPRECATED_METHODS.values() for name in aliases)
_code = cst.Module(body=[]).code_for_node
#: Values a call's parentheses can hold bare but an assignment cannot:
#: `t.setName(n := x)`, `t.setName(s for s in parts)`.
_BARE_IN_CALLS_ONLY = (cst.NamedExpr, cst.GeneratorExp)


class _Use(NamedTuple):
    """A call of a deprecated alias: the call, the alias, and for a method the
    old name and the receiver (None for a module function)."""

    call: cst.Call
    alias: Alias
    old: str
    receiver: Optional[cst.BaseExpression]


class DeprecatedThreadingAlias(Rule):
    """## What it does
    Checks for the camelCase aliases `threading` deprecated in Python 3.10:
    `t.setDaemon(x)`, `t.isDaemon()`, `t.setName(x)`, `t.getName()`,
    `cond.notifyAll()`, `event.isSet()`, `threading.currentThread()` and
    `threading.activeCount()`, and for `t.isAlive()`, removed in Python 3.9.
    A method is only reported on an object known to be a thread, a condition
    or an event: one made by `threading.Thread`, `threading.Timer`,
    `multiprocessing.dummy.Process` or a local subclass of them, returned by
    `threading.current_thread()` (or `main_thread()`, or `currentThread()`),
    or made by `threading.Condition` or `threading.Event`, held in a name of
    the same module or in a `self` attribute assigned one (the same name
    resolution as the other rules: `import threading as th`, `from threading
    import Event as E` and aliases included).

    ## Why is this bad?
    Each alias warns (`DeprecationWarning`) on every call and then does
    exactly what its modern spelling does; under `-W error` or pytest's
    `filterwarnings = error` the warning is an exception. They are slated for
    removal the way `isAlive()` was: since Python 3.9 `t.isAlive()` raises
    `AttributeError`, a crash that often hides in a rarely-run path
    (shutdown, error handling, a watchdog).

    ## Example
    ```python
    import threading

    worker = threading.Thread(target=print)
    worker.setDaemon(True)
    worker.start()
    print(worker.getName(), threading.activeCount())
    ```

    ## Use instead
    ```python
    import threading

    worker = threading.Thread(target=print)
    worker.daemon = True
    worker.start()
    print(worker.name, threading.active_count())
    ```

    ## Fix safety
    `--fix` writes the modern spelling, which does exactly what the alias
    does minus the warning (for `isAlive()`, what the code meant): `t.isAlive()`
    -> `t.is_alive()`, `cond.notifyAll()` -> `cond.notify_all()`,
    `event.isSet()` -> `event.is_set()`, `threading.currentThread()` ->
    `threading.current_thread()` (through any alias of the module),
    `threading.activeCount()` -> `threading.active_count()`, `t.isDaemon()`
    -> `t.daemon`, `t.getName()` -> `t.name`, and, only when the call is a
    whole expression statement, `t.setDaemon(x)` -> `t.daemon = x` and
    `t.setName(x)` -> `t.name = x`. Comments and layout are kept: when the
    argument of a setter spans lines or its parentheses hold a comment, the
    call's parentheses stay around the assigned value, with everything in
    them.

    No fix is offered (the finding is still reported) for:
    - a setter used as an expression (`ok = t.setDaemon(True)`, a lambda):
      the call returns `None` and an assignment is not an expression;
    - a setter whose receiver is not a name or an attribute of one and whose
      argument is not a literal: `t.daemon = x` evaluates `x` before `t`,
      `t.setDaemon(x)` after;
    - a call with arguments it cannot take, `*args`, a keyword, or a comment
      in the parentheses that the rewrite would drop;
    - a function imported by name (`from threading import activeCount`):
      the modern name needs an import edit, and neither removing
      `activeCount` from the module's namespace (another module may import
      it from this one) nor adding `active_count` (it may be bound to
      something else here) is safe in general.

    ## Known limitations
    - Only objects whose origin is seen in the module: a thread passed as a
      parameter (`self` in a method of a `Thread` subclass included), returned
      by a function, taken from `threading.enumerate()` or a container is not
      followed, and neither are instances of local subclasses of `Condition`
      or `Event`.
    - Silent for a local `Thread` subclass that defines (or inherits from a
      local class) a method of the alias's name, and for one that also
      derives from a class of another module, which might.
    - Only calls are reported: a bound method taken without calling it
      (`callback = event.isSet`) and aliases of the functions assigned to
      another name (`count = threading.activeCount`) are not.
    - `t.setDaemon(...)` after `t.start()` is also TL203's finding (the
      change raises `RuntimeError` there): both rules report the line, and
      TL203 still does after the fix to `t.daemon = ...`.
    """

    code = "TL501"
    name = "deprecated-threading-alias"
    summary = "a deprecated (or removed) camelCase alias of threading's API"
    fixable = True
    requires = (Values,)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.uses: List[_Use] = []
        #: Method calls named like an alias that are a whole expression
        #: statement, and that statement.
        self.statements: Dict[cst.Call, cst.Expr] = {}

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) \
                and call.func.attr.value in _METHOD_NAMES:
            self.statements[call] = node

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = self.names.resolves_to(func, DEPRECATED_FUNCTIONS)
        if name is not None:
            self.uses.append(_Use(node, DEPRECATED_FUNCTIONS[name], name.rsplit(".", 1)[1], None))
        elif isinstance(func, cst.Attribute) and func.attr.value in _METHOD_NAMES:
            old = func.attr.value
            kind = self.model[Values].threading_kind(func.value, old)
            alias = DEPRECATED_METHODS.get(kind, {}).get(old) if kind is not None else None
            if alias is not None:
                self.uses.append(_Use(node, alias, old, func.value))

    def finish(self) -> None:
        # Hooks saw outer calls first; fixing inner ones first lets an outer
        # fix carry them (`threading.currentThread().getName()`).
        fixes: List[Tuple[cst.CSTNode, cst.CSTNode]] = []
        for use in reversed(self.uses):
            fix = self._fix(use, fixes)
            if fix is not None:
                fixes.append(fix)
            self.report(use.call, _message(use), fix[1] if fix else None,
                        fix_node=fix[0] if fix else None)

    def _fix(self, use: _Use, done: List[Tuple[cst.CSTNode, cst.CSTNode]],
             ) -> Optional[Tuple[cst.CSTNode, cst.CSTNode]]:
        """(the node to replace, its replacement) for a safe fix, or None."""
        call, func = use.call, use.call.func
        if not isinstance(func, cst.Attribute) or func.lpar:
            return None  # a function imported by name: an import edit (see Fix safety)
        if use.alias.form not in (GETTER, SETTER):
            return func.attr, cst.Name(use.alias.modern)  # `t.isAlive` -> `t.is_alive`
        receiver = func.value
        if done:  # the fixes inside the receiver, if any
            receiver = cast(cst.BaseExpression, receiver.visit(Replace(dict(done))))
        attribute = cst.Attribute(value=receiver, dot=func.dot, attr=cst.Name(use.alias.modern))
        if use.alias.form == GETTER:
            if call.args or _has_comment(call.whitespace_after_func, call.whitespace_before_args):
                return None
            return call, attribute.with_changes(lpar=call.lpar, rpar=call.rpar)
        statement = self.statements.get(call)
        if statement is None or call.lpar or len(call.args) != 1 \
                or _has_comment(call.whitespace_after_func):
            return None
        value = _setter_value(call)
        if value is None or not (_plain(receiver) or is_constant(call.args[0].value)):
            return None
        return statement, cst.Assign(targets=[cst.AssignTarget(attribute)], value=value,
                                     semicolon=statement.semicolon)


def _message(use: _Use) -> str:
    alias = use.alias
    if use.receiver is None:
        func = use.call.func
        if isinstance(func, cst.Attribute):
            advice = f"call `{snippet(func.value)}.{alias.modern}()`"
        else:
            advice = f"import and call `{alias.modern}()` from `threading` instead"
        return (f"`{snippet(func)}()` is deprecated since Python 3.10 and warns on every call; "
                f"{advice}")
    old = f"`{snippet(use.receiver)}.{use.old}()`"
    target = f"{snippet(use.receiver)}.{alias.modern}"
    if alias.form == GETTER:
        return f"{old} is deprecated since Python 3.10 and warns on every call; read `{target}`"
    if alias.form == SETTER:
        args = use.call.args
        value = snippet(args[0].value) if len(args) == 1 else "..."
        return (f"`{snippet(use.receiver)}.{use.old}(...)` is deprecated since Python 3.10 "
                f"and warns on every call; assign `{target} = {value}`")
    if alias.removed:
        return (f"{old} was removed in Python 3.9: the call raises AttributeError; "
                f"call `{target}()`")
    return f"{old} is deprecated since Python 3.10 and warns on every call; call `{target}()`"


def _setter_value(call: cst.Call) -> Optional[cst.BaseExpression]:
    """The value ``t.setDaemon(value)`` assigns, as the right-hand side of
    ``t.daemon = ...``: in the call's parentheses, with their whitespace and
    comments, when it spans lines, holds a comment or cannot stand bare
    there. None when the argument is not one plain positional value."""
    arg = call.args[0]
    if arg.keyword is not None or arg.star:
        return None
    value = arg.value
    after = arg.whitespace_after_arg
    if isinstance(arg.comma, cst.Comma):  # `t.setDaemon(True,)`: the comma goes
        if _code(arg.comma.whitespace_before) or _code(after):
            return None
        after = arg.comma.whitespace_after
    if "\n" not in _code(value) and not _has_comment(call.whitespace_before_args, after) \
            and "\n" not in _code(call.whitespace_before_args) + _code(after) \
            and not (isinstance(value, _BARE_IN_CALLS_ONLY) and not value.lpar):
        return value
    return value.with_changes(
        lpar=[cst.LeftParen(whitespace_after=call.whitespace_before_args), *value.lpar],
        rpar=[*value.rpar, cst.RightParen(whitespace_before=after)])


def _has_comment(*whitespace: cst.BaseParenthesizableWhitespace) -> bool:
    return any("#" in _code(node) for node in whitespace)


def _plain(expr: cst.BaseExpression) -> bool:
    """A name or an attribute of one: evaluating it has no effect to reorder."""
    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return isinstance(expr, cst.Name)
