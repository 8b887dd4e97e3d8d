"""Mutations: module-level and class-level state changed by code in functions.

Fed by the engine's replay. Every change a function (or lambda) makes to
shared state is recorded with the locks held where it happens (from
:class:`~threadlint.model.locks.Locks`): rebinding a ``global`` name
(assignment, augmented assignment, ``del``, ``for`` target, ``with ... as``,
walrus); item or attribute assignment or deletion on a module-level object
(``cache[key] = value``, ``state.n += 1``, ``Counter.total += 1``); and
mutating methods (``append``, ``pop``, ``update``...) of a module-level list,
dict, set, bytearray, ``Counter``, ``defaultdict`` or ``OrderedDict``.
Module-level code is not recorded: it runs at import, before any thread.

The kind of a module-level value is judged from *every* binding of it; a value
of unknown kind only counts for rebinding, never for its methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from threadlint.api import CONTAINER_FACTORIES, ITEM_KINDS, MUTATING_METHODS
from threadlint.model.classes import Classes
from threadlint.model.core import Model, Provider, Unit
from threadlint.model.locks import Locks
from threadlint.model.names import Names
from threadlint.model.scopes import Binding, Scope
from threadlint.model.syntax import is_constant

# Objects whose attributes may be set freely: a plain instance or namespace.
_ATTRIBUTE_KINDS = frozenset({"namespace", "instance"})


@dataclass(frozen=True)
class Mutation:
    """One change of shared state inside a function."""

    unit: Unit
    node: cst.CSTNode
    label: str  # "global 'hits'", "class attribute 'Counter.total'"
    order: int  # rank among the module's mutations and `.set()` calls
    held: Tuple[str, ...]  # keys of the locks held there
    rebound: Optional[str] = None  # the global name, for a plain `name = value`
    constant: bool = False  # ... whose value is a literal constant


class Mutations(Provider):
    """Every mutation of module-level or class-level state in a function (fed)."""

    requires = (Names, Classes, Locks)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self.classes = model[Classes]
        self._locks = model[Locks]
        self._cursor = model.cursor
        self.mutations: List[Mutation] = []
        #: The rank of each unit's last zero-argument ``.set()`` call (taken to
        #: be an ``Event``'s, which publishes what was stored before it).
        self.last_set: Dict[Unit, int] = {}
        self._kinds: Dict[Tuple[int, str], Optional[str]] = {}
        self._global_rebinds: Optional[Dict[str, List[Binding]]] = None
        self._order = 0
        self._value: Optional[cst.BaseExpression] = None  # of the plain assignment at hand

    # -- collecting ------------------------------------------------------------
    def _record(self, node: cst.CSTNode, label: Optional[str], rebound: Optional[str] = None) -> None:
        unit = self._cursor.unit
        if label is None or unit is None:
            return
        self._order += 1
        constant = rebound is not None and is_constant(self._value)
        self.mutations.append(Mutation(unit, node, label, self._order,
                                       tuple(self._locks.held_keys()), rebound, constant))

    def visit_Assign(self, node: cst.Assign) -> None:
        simple = len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name)
        self._value = node.value if simple else None
        for target in node.targets:
            self._target(target.target, plain=True)
        self._value = None

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._value = node.value
            self._target(node.target, plain=True)
            self._value = None

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._target(node.target)

    def visit_Del(self, node: cst.Del) -> None:
        self._target(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._target(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._target(node.asname.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._target(node.target)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        unit = self._cursor.unit
        if not isinstance(func, cst.Attribute) or unit is None:
            return
        if func.attr.value == "set" and not node.args:  # `ready.set()`: an Event, most likely
            self._order += 1
            self.last_set[unit] = self._order
            return
        shared = self._shared(func.value)
        if shared is not None and func.attr.value in MUTATING_METHODS.get(shared[1] or "", ()):
            self._record(node, shared[0])

    def _target(self, target: cst.BaseExpression, plain: bool = False) -> None:
        """``plain``: the target of `=` (not `+=`, `del`, `for`...)."""
        if self._cursor.unit is None:
            return  # module-level code runs at import, before any thread
        if isinstance(target, cst.Name):
            if self._declared_global(target):
                self._record(target, f"global '{target.value}'", target.value if plain else None)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._target(element.value, plain)
        elif isinstance(target, cst.StarredElement):
            self._target(target.value, plain)
        elif isinstance(target, cst.Subscript):
            shared = self._shared(target.value)
            if shared is not None and shared[1] in ITEM_KINDS:
                self._record(target, shared[0])
        elif isinstance(target, cst.Attribute):
            cls = self.classes.class_ref(target.value)
            if cls is not None:
                if self._shared_class(cls):
                    self._record(target, f"class attribute '{cls.name.value}.{target.attr.value}'")
                return
            if isinstance(target.value, cst.Name):
                shared = self._module_level(target.value)
                if shared is not None and shared[1] in _ATTRIBUTE_KINDS \
                        and not self._attribute_is_managed(target.value, target.attr.value):
                    self._record(target, shared[0])

    def _declared_global(self, name: cst.Name) -> bool:
        scope = self.names.scope_of(name)
        while scope is not None and scope.kind == "comprehension":
            scope = scope.parent  # a walrus in a comprehension binds outside it
        return scope is not None and name.value in scope.global_names

    # -- what is shared, and what it is ----------------------------------------
    def _shared(self, expr: cst.BaseExpression) -> Optional[Tuple[str, Optional[str]]]:
        """``(label, kind)`` when ``expr`` is a module-level name or a class attribute."""
        if isinstance(expr, cst.Name):
            return self._module_level(expr)
        if isinstance(expr, cst.Attribute):
            cls = self.classes.class_ref(expr.value)
            if cls is not None and self._shared_class(cls):
                kind = self._class_attribute_kind(cls, expr.attr.value)
                return f"class attribute '{cls.name.value}.{expr.attr.value}'", kind
        return None

    def _shared_class(self, cls: cst.ClassDef) -> bool:
        return self.classes.is_module_level(cls)

    def _module_level(self, name: cst.Name) -> Optional[Tuple[str, Optional[str]]]:
        scope = self.names.scope_of(name)
        if scope is None:
            return None
        owner = scope.owner_of(name.value)
        module = self.names.module_scope
        if owner is not module:
            if owner is not None or name.value not in self._global_rebind_table():
                return None
        return f"global '{name.value}'", self._module_kind(name.value)

    def _global_rebind_table(self) -> Dict[str, List[Binding]]:
        """Bindings made in functions through a ``global`` declaration, by name."""
        if self._global_rebinds is None:
            table: Dict[str, List[Binding]] = {}
            for info in self.names.functions.values():
                for name in info.scope.global_names:
                    table.setdefault(name, []).extend(info.scope.bindings.get(name, ()))
            self._global_rebinds = table
        return self._global_rebinds

    def _module_kind(self, name: str) -> Optional[str]:
        key = (0, name)
        if key not in self._kinds:
            bindings = list(self.names.module_scope.bindings.get(name, ()))
            bindings += self._global_rebind_table().get(name, [])
            self._kinds[key] = self._kind_of_bindings(bindings)
        return self._kinds[key]

    def _class_attribute_kind(self, cls: cst.ClassDef, attr: str) -> Optional[str]:
        key = (id(cls), attr)
        if key not in self._kinds:
            scope = self.names.scope_of_node.get(cls)
            bindings = scope.bindings.get(attr, []) if scope is not None else []
            self._kinds[key] = self._kind_of_bindings(bindings)
        return self._kinds[key]

    def _kind_of_bindings(self, bindings: List[Binding]) -> Optional[str]:
        """The one kind every binding agrees on; None when any is unknown."""
        kinds: Set[Optional[str]] = set()
        for binding in bindings:
            if binding.kind == "augassign" or (binding.kind == "assign" and binding.value is None):
                continue  # `x += [...]` and bare annotations keep the type
            if binding.kind == "class":
                kinds.add("class")
                continue
            if binding.kind != "assign":
                return None
            kinds.add(self._kind_of_value(binding.value))
        if len(kinds) != 1:
            return None
        return kinds.pop()

    def _kind_of_value(self, value: Optional[cst.BaseExpression]) -> Optional[str]:
        if isinstance(value, (cst.List, cst.ListComp)):
            return "list"
        if isinstance(value, (cst.Dict, cst.DictComp)):
            return "dict"
        if isinstance(value, (cst.Set, cst.SetComp)):
            return "set"
        if not isinstance(value, cst.Call):
            return None
        name = self.names.resolves_to(value.func, CONTAINER_FACTORIES)
        if name is not None:
            return CONTAINER_FACTORIES[name]
        func = value.func
        if isinstance(func, cst.Attribute) and func.attr.value == "fromkeys" \
                and self.names.resolves_to(func.value, ("builtins.dict",)):
            return "dict"
        definition = self.names.local_definition(func)
        if isinstance(definition, cst.ClassDef) and self.classes.plain_attributes(definition):
            return "instance"
        return None

    def _attribute_is_managed(self, name: cst.Name, attr: str) -> bool:
        """True when ``name.attr = ...`` may run code of the class: a property,
        a method or a descriptor of that name in the class body."""
        values = self.names.assigned_values(name) if self.names.bindings(name) else None
        if not values:
            return False
        for value in values:
            if not isinstance(value, cst.Call):
                continue
            cls = self.names.local_definition(value.func)
            if isinstance(cls, cst.ClassDef):
                scope: Optional[Scope] = self.names.scope_of_node.get(cls)
                bindings = scope.bindings.get(attr, []) if scope is not None else []
                if any(b.kind in ("def", "import", "class") or
                       (b.kind == "assign" and isinstance(b.value, cst.Call)) for b in bindings):
                    return True
        return False
