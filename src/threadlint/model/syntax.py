"""Facts a single node tells by itself: no names resolved, no module seen.

Helpers shared by providers and rules: which argument binds a parameter,
whether an expression is a plain literal, the identifier an expression is
named by, a textual key for a lock expression.
"""

from __future__ import annotations

import re
from typing import Iterator, List, Optional, cast

import libcst as cst


def keyword_or_positional(call: cst.Call, keyword: str, index: int) -> Optional[cst.Arg]:
    """The argument bound to parameter ``keyword`` at position ``index``."""
    position = 0
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value == keyword:
                return arg
            continue
        if arg.star:
            return None  # positions after *args are unknowable
        if position == index:
            return arg
        position += 1
    return None


LITERAL_TYPES = (
    cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString,
    cst.FormattedString, cst.Tuple, cst.List, cst.Dict, cst.Set, cst.ListComp, cst.SetComp,
    cst.DictComp, cst.Comparison,
)


def is_plain_literal(expr: Optional[cst.BaseExpression]) -> bool:
    """A value that is clearly not callable: literals, None/True/False, comparisons."""
    if expr is None:
        return True
    if isinstance(expr, LITERAL_TYPES):
        return True
    if isinstance(expr, cst.Name) and expr.value in ("None", "True", "False"):
        return True
    if isinstance(expr, cst.UnaryOperation):
        return is_plain_literal(expr.expression)
    return False


def literal_bool(expr: Optional[cst.BaseExpression]) -> Optional[bool]:
    """``True``/``False``/an integer literal as a truth value; None otherwise."""
    if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
        return expr.value == "True"
    if isinstance(expr, cst.Integer):
        return expr.value != "0"
    return None


def is_constant(value: Optional[cst.BaseExpression]) -> bool:
    """A literal of an immutable type: a number, a string, True, False, None."""
    if isinstance(value, cst.UnaryOperation) and isinstance(value.operator, (cst.Minus, cst.Plus)):
        value = value.expression
    if isinstance(value, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString)):
        return True
    if isinstance(value, cst.ConcatenatedString):
        return is_constant(value.left) and is_constant(value.right)
    return isinstance(value, cst.Name) and value.value in ("True", "False", "None")


def target_names(target: cst.BaseExpression) -> Iterator[cst.Name]:
    """The names an assignment target binds: ``a``, ``a, (b, *c)``."""
    if isinstance(target, cst.Name):
        yield target
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from target_names(target.value)


def is_super_call(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) \
        and expr.func.value == "super"


_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def identifier_words(name: str) -> List[str]:
    """``_stateLock`` -> ``["state", "lock"]``; ``IO_LOCK`` -> ``["io", "lock"]``."""
    words: List[str] = []
    for part in name.split("_"):
        words.extend(w.lower() for w in _WORD_RE.findall(part))
    return words


def core_identifier(expr: cst.BaseExpression) -> Optional[str]:
    """The identifier an expression is named by: ``self._locks[key]`` -> ``_locks``,
    ``get_lock(x)`` -> ``get_lock``, ``state.mutex`` -> ``mutex``."""
    while True:
        if isinstance(expr, cst.Name):
            return expr.value
        if isinstance(expr, cst.Attribute):
            return expr.attr.value
        if isinstance(expr, cst.Subscript):
            expr = expr.value
        elif isinstance(expr, cst.Call):
            expr = expr.func
        else:
            return None


def expr_key(expr: cst.BaseExpression) -> str:
    """A textual identity for a lock expression: ``self._lock``, ``lock``."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return f"{expr_key(expr.value)}.{expr.attr.value}"
    return "".join(cst.Module(body=[]).code_for_node(expr).split())


def method_call(expr: Optional[cst.BaseExpression], method: str) -> Optional[cst.Call]:
    """``expr`` itself when it is ``<something>.<method>(...)``, also under ``await``."""
    if isinstance(expr, cst.Await):
        expr = expr.expression
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
            and expr.func.attr.value == method:
        return expr
    return None


def method_receiver(call: cst.Call) -> cst.BaseExpression:
    """The ``<something>`` of a call :func:`method_call` returned."""
    return cast(cst.Attribute, call.func).value
