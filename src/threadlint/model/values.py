"""Values and kinds: what an expression holds, judged from every binding of it.

``made_by`` is the one way the model decides what an object is: a call that
constructs it, or a name (or ``self.<attr>``) *every* assignment of which in
the module is such a call. Anything else (a parameter, an import, a value
from elsewhere) is unknown, and the rules stay silent about unknowns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, FrozenSet, List, Mapping, Optional, TypeVar

import libcst as cst

from threadlint.api import (
    ALL_LOCK_CONSTRUCTORS,
    CONDITION_CONSTRUCTORS,
    CURRENT_THREAD,
    ELEMENT_ATTRIBUTES,
    EXECUTOR_CONSTRUCTORS,
    MODULE_OBJECTS,
    MULTIPROCESSING_CONTEXTS,
    RETURNED_CLASS,
    THREAD_CONSTRUCTORS,
    THREAD_LOCK_CONSTRUCTORS,
    THREADING_SYNC_CONSTRUCTORS,
)
from threadlint.model.classes import Classes
from threadlint.model.core import Model, Provider
from threadlint.model.names import FunctionInfo, Names
from threadlint.model.scopes import Binding
from threadlint.model.syntax import is_plain_literal, keyword_or_positional

K = TypeVar("K")
# Values that are sequences whatever their parentheses.
_SEQUENCE_NODES = (cst.Tuple, cst.List, cst.ListComp, cst.GeneratorExp, cst.Set, cst.SetComp,
                   cst.Dict, cst.DictComp)
_SEQUENCE_FACTORIES = ("builtins.tuple", "builtins.list")
_SCALAR_LITERALS = (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString,
                    cst.FormattedString)
_MAX_VALUE_DEPTH = 50  # `a = b; b = a` must not recurse forever
# Builtins giving the same elements as their one argument.
_SAME_ELEMENTS = ("builtins.list", "builtins.tuple", "builtins.reversed", "builtins.sorted")

KindOf = Callable[[cst.Call], Optional[K]]  # what a call makes, or None


@dataclass(frozen=True)
class ThreadConstructor:
    """What a call that makes a thread-like object makes."""

    kind: str  # thread, timer or process
    local_class: Optional[cst.ClassDef] = None

    @property
    def positional_args_index(self) -> int:
        """Index of ``args`` among the positional parameters."""
        return 2 if self.kind == "timer" else 3

    @property
    def target_keyword(self) -> str:
        return "function" if self.kind == "timer" else "target"


@dataclass(frozen=True)
class ThreadingObject:
    """An instance of one of threading's own classes."""

    kind: str  # thread (a Thread or Timer), condition or event
    local_class: Optional[cst.ClassDef] = None  # a local subclass of Thread it is made from


@dataclass(frozen=True)
class ConditionConstructor:
    """What a call that makes a condition variable makes."""

    kind: str  # whose waiters: thread, process or async (api.CONDITION_CONSTRUCTORS)
    #: The lock it is built on (``Condition(self._mutex)``); None when it makes
    #: its own (no argument, or ``None``) or when the argument cannot be read.
    lock: Optional[cst.BaseExpression]
    #: False when the argument cannot be read (``Condition(*args)``).
    lock_known: bool = True


class Values(Provider):
    requires = (Names, Classes)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self.classes = model[Classes]

    # -- constructors ------------------------------------------------------------
    def thread_constructor(self, call: cst.Call) -> Optional[ThreadConstructor]:
        """What thread-like object ``call`` makes, or None."""
        name = self.names.resolves_to(call.func, THREAD_CONSTRUCTORS)
        if name is not None:
            return ThreadConstructor(THREAD_CONSTRUCTORS[name])
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "Process" \
                and self._is_multiprocessing_context(func.value):
            return ThreadConstructor("process")  # `multiprocessing.get_context("spawn").Process`
        definition = self.names.local_definition(call.func)
        if isinstance(definition, cst.ClassDef) and definition in self.classes.thread_classes:
            return ThreadConstructor(self.classes.thread_classes[definition], definition)
        return None

    def _is_multiprocessing_context(self, expr: cst.BaseExpression) -> bool:
        """``multiprocessing.get_context(...)``, or a name or ``self`` attribute
        every assignment of which is one."""
        def context(call: cst.Call) -> Optional[str]:
            found = self.names.resolves_to(call.func, MULTIPROCESSING_CONTEXTS)
            return "context" if found is not None else None

        return self.made_by(expr, context) is not None

    def executor_constructor(self, call: cst.Call) -> Optional[str]:
        """``thread`` or ``process`` for a call making an executor (a local
        subclass of one included)."""
        name = self.names.resolves_to(call.func, EXECUTOR_CONSTRUCTORS)
        if name is not None:
            return EXECUTOR_CONSTRUCTORS[name]
        definition = self.names.local_definition(call.func)
        if isinstance(definition, cst.ClassDef):
            return self.classes.executor_classes.get(definition)
        return None

    def lock_constructor(self, call: cst.Call,
                         constructors: Mapping[str, str] = THREAD_LOCK_CONSTRUCTORS) -> Optional[str]:
        """``lock``/``rlock``/``condition``/``semaphore`` for a call making one."""
        name = self.names.resolves_to(call.func, constructors)
        return constructors[name] if name is not None else None

    # -- what an expression holds --------------------------------------------------
    def made_by(self, expr: cst.BaseExpression, kind_of: KindOf[K]) -> Optional[List[K]]:
        """Kinds of object ``expr`` is built as, when it is a call that ``kind_of``
        classifies or every value it is bound to is one; otherwise None."""
        if isinstance(expr, cst.Call):
            kind = kind_of(expr)
            return [kind] if kind is not None else None
        values = self.names.assigned_values(expr)
        if not values:
            return None
        kinds = []
        for value in values:
            kind = kind_of(value) if isinstance(value, cst.Call) else None
            if kind is None:
                return None
            kinds.append(kind)
        return kinds

    def is_thread(self, expr: cst.BaseExpression) -> bool:
        return self.made_by(expr, self.thread_constructor) is not None

    def is_executor(self, expr: cst.BaseExpression) -> bool:
        return self.made_by(expr, self.executor_constructor) is not None

    def threading_object(self, call: cst.Call) -> Optional[ThreadingObject]:
        """What ``call`` gives when it is an instance of threading's own classes:
        a thread (made by ``Thread``, ``Timer``, ``multiprocessing.dummy.Process``
        or a local subclass of them, or returned by ``current_thread()`` and the
        like), a ``threading.Condition`` or a ``threading.Event``."""
        ctor = self.thread_constructor(call)
        if ctor is not None:
            return ThreadingObject("thread", ctor.local_class) if ctor.kind != "process" else None
        if self.names.resolves_to(call.func, CURRENT_THREAD) is not None:
            return ThreadingObject("thread")
        name = self.names.resolves_to(call.func, THREADING_SYNC_CONSTRUCTORS)
        return ThreadingObject(THREADING_SYNC_CONSTRUCTORS[name]) if name is not None else None

    def threading_kind(self, expr: cst.BaseExpression, method: str) -> Optional[str]:
        """The kind of threading object ``expr`` is (see :meth:`threading_object`;
        every value it is bound to is one, all of one kind) when ``expr.method``
        is threading's own method: no local class it is made from defines or
        inherits ``method`` from this module or from another one."""
        objects = self.made_by(expr, self.threading_object)
        if not objects or len({obj.kind for obj in objects}) != 1:
            return None
        for obj in objects:
            cls = obj.local_class
            if cls is not None and (self.classes.overrides(cls, method)
                                    or self.classes.foreign_bases(cls, THREAD_CONSTRUCTORS)):
                return None
        return objects[0].kind

    def lock_kind(self, expr: cst.BaseExpression,
                  constructors: Mapping[str, str] = THREAD_LOCK_CONSTRUCTORS) -> Optional[str]:
        """The kind of lock ``expr`` is (a constructor call, or every value it is
        bound to is one), or None."""
        kinds = self.made_by(expr, lambda call: self.lock_constructor(call, constructors))
        return kinds[0] if kinds else None

    def is_any_lock(self, expr: cst.BaseExpression) -> bool:
        """A threading, multiprocessing or asyncio lock, condition or semaphore."""
        return self.lock_kind(expr, ALL_LOCK_CONSTRUCTORS) is not None

    # -- instances of known classes -------------------------------------------------
    def instance_of(self, expr: cst.BaseExpression, classes: FrozenSet[str], depth: int = 0) -> bool:
        """``expr`` is known to hold an instance of one of ``classes`` (qualified
        names, see :data:`~threadlint.api.LOCKING_CLASSES`) or of a local
        subclass of one, from

        - a constructor call, or a call known to return one (``logging.getLogger``);
        - ``self`` in a method of such a local subclass;
        - an enclosing ``if isinstance(name, C):``;
        - a parameter's annotation (``h: logging.Handler``, ``Optional[...]``,
          ``... | None``; not a string);
        - a loop over an attribute known to hold them (``for h in
          logger.handlers``, also through ``list()``, ``reversed()``, ``[:]``);
        - a name or ``self.<attr>`` every binding of which is one of these.

        Anything else is unknown: False.
        """
        if depth > _MAX_VALUE_DEPTH:
            return False
        names = self.names
        if isinstance(expr, cst.Call):
            called = names.qualified_names(expr.func)
            if called & classes or any(RETURNED_CLASS.get(name) in classes for name in called):
                return True
            definition = names.local_definition(expr.func)
            return isinstance(definition, cst.ClassDef) and self.classes.derives_from(definition, classes)
        if isinstance(expr, cst.Name):
            if any(self._is_class(c, classes) for c in names.narrowed(expr)):
                return True
            cls = self.classes.self_class(expr)
            if cls is not None:
                return self.classes.derives_from(cls, classes)
            bindings = names.bindings(expr)
            return bool(bindings) and all(self._binding_instance_of(binding, classes, depth)
                                          for binding in bindings)
        if isinstance(expr, cst.Attribute) and names.self_attribute(expr) is None:
            return any(MODULE_OBJECTS.get(name) in classes for name in names.qualified_names(expr))
        values = names.assigned_values(expr)
        return bool(values) and all(self.instance_of(value, classes, depth + 1)
                                    for value in values or ())

    def _is_class(self, expr: cst.BaseExpression, classes: FrozenSet[str]) -> bool:
        """``expr`` names one of ``classes`` or a local subclass of one."""
        if self.names.qualified_names(expr) & classes:
            return True
        definition = self.names.local_definition(expr)
        return isinstance(definition, cst.ClassDef) and self.classes.derives_from(definition, classes)

    def _binding_instance_of(self, binding: Binding, classes: FrozenSet[str], depth: int) -> bool:
        if binding.kind == "assign" and binding.value is not None:
            return self.instance_of(binding.value, classes, depth + 1)
        node = binding.node
        if binding.kind == "param" and isinstance(node, cst.Param) and node.annotation is not None:
            return self._annotated(node.annotation.annotation, classes)
        if binding.kind == "for" and isinstance(node, (cst.For, cst.CompFor)) \
                and isinstance(node.target, cst.Name):
            return self._elements_of(node.iter, classes, depth + 1)
        return False

    def _annotated(self, annotation: cst.BaseExpression, classes: FrozenSet[str]) -> bool:
        """``C``, ``Optional[C]``, ``Union[C, None]`` or ``C | None``."""
        if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
            parts = [annotation.left, annotation.right]
        elif isinstance(annotation, cst.Subscript) and self.names.resolves_to(
                annotation.value, ("typing.Optional", "typing.Union")) is not None:
            parts = [element.slice.value for element in annotation.slice
                     if isinstance(element.slice, cst.Index)]
        else:
            return self._is_class(annotation, classes)
        kinds = [part for part in parts if not (isinstance(part, cst.Name) and part.value == "None")]
        return bool(kinds) and all(self._annotated(part, classes) for part in kinds)

    def _elements_of(self, iterable: cst.BaseExpression, classes: FrozenSet[str], depth: int) -> bool:
        """The elements of ``iterable`` are instances of one of ``classes``."""
        while True:  # list(x), reversed(x), x[:], x.copy(): the same elements
            if isinstance(iterable, cst.Call) and len(iterable.args) == 1 \
                    and self.names.resolves_to(iterable.func, _SAME_ELEMENTS) is not None:
                iterable = iterable.args[0].value
            elif isinstance(iterable, cst.Subscript) and len(iterable.slice) == 1 \
                    and isinstance(iterable.slice[0].slice, cst.Slice):
                iterable = iterable.value
            elif isinstance(iterable, cst.Call) and not iterable.args \
                    and isinstance(iterable.func, cst.Attribute) and iterable.func.attr.value == "copy":
                iterable = iterable.func.value
            else:
                break
        if not isinstance(iterable, cst.Attribute):
            return False
        known = ELEMENT_ATTRIBUTES.get(iterable.attr.value)
        return known is not None and known[1] in classes \
            and self.instance_of(iterable.value, known[0], depth + 1)

    def condition_constructor(self, call: cst.Call) -> Optional[ConditionConstructor]:
        """The condition variable ``call`` makes (threading, multiprocessing or
        asyncio), with the lock it is built on: its first argument."""
        name = self.names.resolves_to(call.func, CONDITION_CONSTRUCTORS)
        if name is None:
            return None
        kind = CONDITION_CONSTRUCTORS[name]
        if any(arg.star for arg in call.args):
            return ConditionConstructor(kind, None, lock_known=False)
        arg = keyword_or_positional(call, "lock", 0)
        if arg is None or (isinstance(arg.value, cst.Name) and arg.value.value == "None"):
            return ConditionConstructor(kind, None)
        return ConditionConstructor(kind, arg.value)

    def conditions(self, expr: cst.BaseExpression) -> Optional[List[ConditionConstructor]]:
        """Each construction of the condition variable ``expr`` is (a
        ``Condition(...)`` call, or every value it is bound to is one), or None."""
        return self.made_by(expr, self.condition_constructor)

    def may_be_sequence(self, value: cst.BaseExpression, depth: int = 0) -> bool:
        """Whether ``value`` may well be a sequence: a tuple, list, set or dict
        display or comprehension, ``tuple(...)``/``list(...)``, a conditional or
        ``or`` with such a branch, arithmetic with no scalar literal operand
        (``base + extra`` is often tuple concatenation), or a name every
        binding of which is one. Unknown past a chain of names: True."""
        if depth > _MAX_VALUE_DEPTH:
            return True
        if isinstance(value, _SEQUENCE_NODES):
            return True
        if isinstance(value, cst.Call):
            return self.names.resolves_to(value.func, _SEQUENCE_FACTORIES) is not None
        if isinstance(value, cst.IfExp):
            return self.may_be_sequence(value.body, depth + 1) or \
                self.may_be_sequence(value.orelse, depth + 1)
        if isinstance(value, cst.BooleanOperation):
            return self.may_be_sequence(value.left, depth + 1) or \
                self.may_be_sequence(value.right, depth + 1)
        if isinstance(value, cst.BinaryOperation):
            return not self._has_scalar_literal(value, depth + 1)
        if isinstance(value, cst.Name):
            bound = self.names.assigned_values(value)
            return bool(bound) and all(self.may_be_sequence(v, depth + 1) for v in bound or ())
        return False

    def _has_scalar_literal(self, value: cst.BaseExpression, depth: int) -> bool:
        if isinstance(value, cst.BinaryOperation):
            if self.may_be_sequence(value.left, depth) or self.may_be_sequence(value.right, depth):
                return False
            return self._has_scalar_literal(value.left, depth + 1) or \
                self._has_scalar_literal(value.right, depth + 1)
        return isinstance(value, _SCALAR_LITERALS)

    def local_function(self, func: cst.BaseExpression) -> Optional[FunctionInfo]:
        """The ``def`` of this module a name or ``self.method`` refers to, if one."""
        definition = self.names.local_definition(func)
        if definition is None:
            owner = self.names.self_attribute(func)
            if owner is not None:
                # An instance attribute of the same name would shadow the method.
                if owner[1] in self.names.self_attr_values.get(owner[0], {}):
                    return None
                definition = self.names.method(*owner)
        return self.names.function_info(definition)


def returns_no_callable(info: FunctionInfo) -> bool:
    """True when calling the function clearly gives back something not callable.

    Generators, coroutines and decorated functions are never judged: what the
    call returns is not what the ``def`` says.
    """
    if info.has_yield or info.is_async:
        return False
    if any(name not in ("staticmethod", "classmethod") for name in info.decorator_names):
        return False
    return all(is_plain_literal(ret.value) for ret in info.returns)
