"""Classes of the module: local bases, method lookup, families, thread subclasses.

Every question about classes has one answer here: which local classes a
class derives from (keyword arguments such as ``metaclass=`` are not bases),
which method an instance finds (the C3 order over local classes), which
classes share a ``self`` attribute (the class with its local ancestors and
descendants), and which classes are ``Thread`` or ``Process`` subclasses.
Classes defined in other modules are unknown: a lookup that would reach them
finds nothing.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional

import libcst as cst

from threadlint.api import EXECUTOR_CONSTRUCTORS, TEST_CASES, THREAD_CONSTRUCTORS, THREADING_SERVERS
from threadlint.model.core import Model, Provider
from threadlint.model.names import Names

_MAX_DEPTH = 50  # of a local class hierarchy (cycles are impossible, depth is not)


class Classes(Provider):
    requires = (Names,)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self._bases: Dict[cst.ClassDef, List[cst.ClassDef]] = {}
        self._mro: Dict[cst.ClassDef, List[cst.ClassDef]] = {}
        self._families: Dict[cst.ClassDef, List[cst.ClassDef]] = {}
        self._subclasses: Optional[Dict[cst.ClassDef, List[cst.ClassDef]]] = None
        #: Local subclasses of ``Thread``/``Timer``/``Process``, by kind of object.
        self.thread_classes: Dict[cst.ClassDef, str] = self._find_subclasses(THREAD_CONSTRUCTORS)
        #: Local servers that handle each request in a thread of its own.
        self.threading_servers: Dict[cst.ClassDef, str] = self._find_subclasses(
            {name: "server" for name in THREADING_SERVERS})
        #: Local subclasses of ``unittest.TestCase`` (and the like).
        self.test_cases: Dict[cst.ClassDef, str] = self._find_subclasses(
            {name: "test" for name in TEST_CASES})
        self._executor_classes: Optional[Dict[cst.ClassDef, str]] = None
        self._derived: Dict[FrozenSet[str], Dict[cst.ClassDef, str]] = {}

    @property
    def executor_classes(self) -> Dict[cst.ClassDef, str]:
        """Local subclasses of ``ThreadPoolExecutor``/``ProcessPoolExecutor``, by
        kind of worker (found on first use: few modules ask)."""
        if self._executor_classes is None:
            self._executor_classes = self._find_subclasses(EXECUTOR_CONSTRUCTORS)
        return self._executor_classes

    def derives_from(self, cls: cst.ClassDef, classes: FrozenSet[str]) -> bool:
        """``cls`` derives, through local classes, from one of ``classes``
        (qualified names of classes of other modules)."""
        found = self._derived.get(classes)
        if found is None:
            found = self._derived[classes] = self._find_subclasses({name: name for name in classes})
        return cls in found

    # -- hierarchy -------------------------------------------------------------
    def local_bases(self, cls: cst.ClassDef) -> List[cst.ClassDef]:
        """The bases of ``cls`` that are classes of this module, in order."""
        found = self._bases.get(cls)
        if found is None:
            found = []
            for base in cls.bases:
                if base.keyword is None:
                    definition = self.names.local_definition(base.value)
                    if isinstance(definition, cst.ClassDef) and definition is not cls:
                        found.append(definition)
            self._bases[cls] = found
        return found

    def mro(self, cls: cst.ClassDef) -> List[cst.ClassDef]:
        """``cls`` and its local ancestors in method resolution order (C3;
        depth-first where the local hierarchy alone admits no C3 order)."""
        found = self._mro.get(cls)
        if found is None:
            found = self._linearize(cls, 0)
            self._mro[cls] = found
        return found

    def _linearize(self, cls: cst.ClassDef, depth: int) -> List[cst.ClassDef]:
        if depth > _MAX_DEPTH:
            return [cls]
        bases = self.local_bases(cls)
        sequences = [list(self._mro.get(b) or self._linearize(b, depth + 1)) for b in bases]
        sequences.append(list(bases))
        result = [cls]
        while any(sequences):
            for sequence in sequences:
                if not sequence:
                    continue
                head = sequence[0]
                if not any(head in other[1:] for other in sequences):
                    break
            else:  # no consistent order: depth-first, each class once
                for sequence in sequences:
                    result.extend(c for c in sequence if c not in result)
                return result
            result.append(head)
            sequences = [s[1:] if s and s[0] is head else s for s in sequences]
        return result

    def lookup(self, cls: cst.ClassDef, name: str) -> Optional[cst.FunctionDef]:
        """The method ``name`` an instance of ``cls`` finds among local classes."""
        for current in self.mro(cls):
            method = self.names.method(current, name)
            if method is not None:
                return method
        return None

    def overrides(self, cls: Optional[cst.ClassDef], name: str) -> bool:
        return cls is not None and self.lookup(cls, name) is not None

    def subclasses(self, cls: cst.ClassDef) -> List[cst.ClassDef]:
        """Every local class deriving from ``cls``, directly or not."""
        if self._subclasses is None:
            direct: Dict[cst.ClassDef, List[cst.ClassDef]] = {}
            for candidate in self.names.classes:
                for base in self.local_bases(candidate):
                    direct.setdefault(base, []).append(candidate)
            self._subclasses = direct
        result: List[cst.ClassDef] = []
        todo = list(self._subclasses.get(cls, ()))
        while todo:
            sub = todo.pop()
            if sub in result or sub is cls:
                continue
            result.append(sub)
            todo.extend(self._subclasses.get(sub, ()))
        return result

    def family(self, cls: cst.ClassDef) -> List[cst.ClassDef]:
        """The class, its local ancestors and its local descendants, transitively:
        methods of any of them may touch the same ``self`` attribute."""
        cached = self._families.get(cls)
        if cached is not None:
            return cached
        related: List[cst.ClassDef] = [cls]
        changed = True
        while changed:
            changed = False
            for candidate in self.names.classes:
                if candidate in related:
                    continue
                is_descendant = any(b in related for b in self.local_bases(candidate))
                is_ancestor = any(candidate in self.local_bases(member) for member in related)
                if is_descendant or is_ancestor:
                    related.append(candidate)
                    changed = True
        self._families[cls] = related
        return related

    def methods_with_overrides(self, cls: cst.ClassDef, name: str) -> List[cst.FunctionDef]:
        """``self.name()`` in ``cls``: the method it finds, plus the overrides in
        local subclasses, which run when ``self`` is one of them."""
        found: List[cst.FunctionDef] = []
        method = self.lookup(cls, name)
        if method is not None:
            found.append(method)
        for sub in self.subclasses(cls):
            override = self.names.method(sub, name)
            if override is not None and override not in found:
                found.append(override)
        return found

    def is_module_level(self, cls: cst.ClassDef) -> bool:
        """Defined at module level (or in such a class): a class made inside a
        function is a new object on every call, as private as a local."""
        scope = self.names.scope_of_node.get(cls)
        scope = scope.parent if scope is not None else None
        while scope is not None:
            if scope.kind not in ("module", "class"):
                return False
            scope = scope.parent
        return True

    def plain_attributes(self, cls: cst.ClassDef, depth: int = 0) -> bool:
        """Attribute writes on instances are plain writes: no ``__setattr__``, no
        metaclass, no base from another module (it might be ``threading.local``
        or do its own locking), in the class or its local bases."""
        if depth > _MAX_DEPTH or self.names.method(cls, "__setattr__") is not None:
            return False
        for base in cls.bases:
            if base.keyword is not None:
                if base.keyword.value == "metaclass":
                    return False
                continue
            if isinstance(base.value, cst.Name) and base.value.value == "object":
                continue
            if not isinstance(self.names.local_definition(base.value), cst.ClassDef):
                return False
        return all(self.plain_attributes(base, depth + 1) for base in self.local_bases(cls))

    # -- which class an expression names -----------------------------------------
    def class_ref(self, expr: cst.BaseExpression) -> Optional[cst.ClassDef]:
        """The local class ``expr`` names: ``Counter``, ``cls`` in a classmethod,
        ``type(self)`` and ``self.__class__``."""
        names = self.names
        if isinstance(expr, cst.Name):
            definition = names.local_definition(expr)
            if isinstance(definition, cst.ClassDef):
                return definition
            bindings = names.bindings(expr)
            if len(bindings) == 1 and bindings[0].kind == "param":
                info = names.function_info(bindings[0].scope.node)
                if info is not None and info.cls is not None and info.self_name == expr.value \
                        and "classmethod" in info.decorator_names:
                    return info.cls
            return None
        if isinstance(expr, cst.Call) and len(expr.args) == 1 \
                and names.resolves_to(expr.func, ("builtins.type",)):
            return self.self_class(expr.args[0].value)
        if isinstance(expr, cst.Attribute) and expr.attr.value == "__class__":
            return self.self_class(expr.value)
        return None

    def self_class(self, expr: cst.BaseExpression) -> Optional[cst.ClassDef]:
        """The class of the method whose ``self`` parameter ``expr`` is."""
        if not isinstance(expr, cst.Name):
            return None
        bindings = self.names.bindings(expr)
        if len(bindings) != 1 or bindings[0].kind != "param":
            return None
        info = self.names.function_info(bindings[0].scope.node)
        if info is None or info.cls is None or info.self_name != expr.value \
                or "classmethod" in info.decorator_names:
            return None
        return info.cls

    # -- thread subclasses -------------------------------------------------------
    def _find_subclasses(self, roots: Mapping[str, str]) -> Dict[cst.ClassDef, str]:
        found: Dict[cst.ClassDef, str] = {}
        changed = True
        while changed:
            changed = False
            for cls in self.names.classes:
                if cls in found:
                    continue
                for base in cls.bases:
                    if base.keyword is not None:
                        continue
                    kind = self._class_kind(base.value, roots, found)
                    if kind is not None:
                        found[cls] = kind
                        changed = True
                        break
        return found

    def _class_kind(self, expr: cst.BaseExpression, roots: Mapping[str, str],
                    local: Dict[cst.ClassDef, str]) -> Optional[str]:
        name = self.names.resolves_to(expr, roots)
        if name is not None:
            return roots[name]
        definition = self.names.local_definition(expr)
        if isinstance(definition, cst.ClassDef):
            return local.get(definition)
        return None

    def foreign_bases(self, cls: cst.ClassDef, known: Iterable[str] = ()) -> bool:
        """Whether ``cls`` or a local ancestor derives from a class of another
        module that is not one of ``known`` (qualified names; ``object`` is
        always known): the methods such a base defines are unknown here."""
        accepted = (*known, "builtins.object")
        for current in self.mro(cls):
            for base in current.bases:
                if base.keyword is not None \
                        or isinstance(self.names.local_definition(base.value), cst.ClassDef):
                    continue
                if self.names.resolves_to(base.value, accepted) is None:
                    return True
        return False

    def is_thread_class(self, expr: cst.BaseExpression) -> bool:
        """``threading.Thread`` (any alias) or a local subclass of it."""
        if self.names.resolves_to(expr, THREAD_CONSTRUCTORS):
            return True
        return self.names.local_definition(expr) in self.thread_classes

    def defines_init(self, cls: Optional[cst.ClassDef]) -> bool:
        """A local thread subclass (or a local thread base of it) has its own
        ``__init__``, so the standard ``Thread`` parameters may mean something else."""
        seen = set()
        while cls is not None and cls not in seen:
            seen.add(cls)
            if self.names.method(cls, "__init__") is not None:
                return True
            parent = None
            for base in self.local_bases(cls):
                if base in self.thread_classes:
                    parent = base
                    break
            cls = parent
        return False
