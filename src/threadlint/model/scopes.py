"""A small, single-pass scope and binding table for one module.

libcst's ScopeProvider and QualifiedNameProvider answer the same questions, but
cost about ten times the parse. Rules only need three things: which binding a
name refers to, the import a name stands for, and the order of bindings within
a scope. This module records exactly that in one traversal.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Union

import libcst as cst

BUILTIN_NAMES = frozenset(dir(builtins))

ScopeNode = Union[
    cst.Module,
    cst.ClassDef,
    cst.FunctionDef,
    cst.Lambda,
    cst.ListComp,
    cst.SetComp,
    cst.DictComp,
    cst.GeneratorExp,
]


@dataclass(eq=False)
class Binding:
    """One place where a name is bound in a scope.

    ``kind`` is one of: ``import``, ``def``, ``class``, ``assign`` (a plain
    ``name = value``), ``param``, ``with`` (``with value as name``), ``for``,
    ``augassign``, ``other`` (tuple targets, except-as, walrus, del, ...).
    ``value`` is the expression bound when it is known (``assign``/``with``).
    ``qualified`` is the dotted name an import binding stands for.
    """

    name: str
    kind: str
    node: cst.CSTNode
    scope: Scope
    value: Optional[cst.BaseExpression] = None
    qualified: Optional[str] = None


@dataclass(eq=False)
class Scope:
    kind: str  # module, class, function, lambda, comprehension
    node: cst.CSTNode
    parent: Optional[Scope]
    bindings: Dict[str, List[Binding]] = field(default_factory=dict)
    global_names: Set[str] = field(default_factory=set)
    nonlocal_names: Set[str] = field(default_factory=set)

    def add(self, binding: Binding) -> None:
        self.bindings.setdefault(binding.name, []).append(binding)

    @property
    def module_scope(self) -> Scope:
        scope = self
        while scope.parent is not None:
            scope = scope.parent
        return scope

    def owner_of(self, name: str) -> Optional[Scope]:
        """The scope whose binding ``name`` refers to when used here."""
        if name in self.global_names:
            return self.module_scope
        scope: Optional[Scope] = self
        if name in self.nonlocal_names:
            scope = self.parent
        first = True
        while scope is not None:
            # Class bodies are visible only to code directly in them.
            if scope.kind != "class" or first:
                if name in scope.bindings and name not in scope.nonlocal_names:
                    if name in scope.global_names:
                        return scope.module_scope
                    return scope
            first = False
            scope = scope.parent
        return None

    def lookup(self, name: str) -> List[Binding]:
        owner = self.owner_of(name)
        if owner is None:
            return []
        return owner.bindings.get(name, [])


def _dotted(node: cst.BaseExpression) -> Optional[str]:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


class ScopeBuilder(cst.CSTVisitor):
    """Builds the scope tree and remembers the scope of every ``Name``."""

    def __init__(self, module: cst.Module) -> None:
        super().__init__()
        self.module_scope = Scope("module", module, None)
        self.stack: List[Scope] = [self.module_scope]
        self.scope_of_name: Dict[cst.Name, Scope] = {}
        self.scope_of_node: Dict[cst.CSTNode, Scope] = {module: self.module_scope}

    @property
    def scope(self) -> Scope:
        return self.stack[-1]

    def _push(self, kind: str, node: cst.CSTNode) -> None:
        scope = Scope(kind, node, self.scope)
        self.scope_of_node[node] = scope
        self.stack.append(scope)

    def _bind_target(self, target: cst.BaseExpression, kind: str, node: cst.CSTNode,
                     value: Optional[cst.BaseExpression] = None,
                     scope: Optional[Scope] = None) -> None:
        scope = scope or self.scope
        if isinstance(target, cst.Name):
            scope.add(Binding(target.value, kind, node, scope, value))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_target(element.value, "other" if kind != "for" else "for", node,
                                  None, scope)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, "other", node, None, scope)

    # -- names ---------------------------------------------------------------
    def visit_Name(self, node: cst.Name) -> None:
        self.scope_of_name[node] = self.scope

    # -- imports -------------------------------------------------------------
    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = _dotted(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.scope.add(Binding(alias.asname.name.value, "import", node, self.scope,
                                       qualified=full))
            else:
                top = full.split(".", 1)[0]
                self.scope.add(Binding(top, "import", node, self.scope, qualified=top))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = _dotted(node.module) if node.module is not None else ""
        dots = "." * len(node.relative)
        prefix = f"{dots}{module}" if module else dots
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = _dotted(alias.name)
            if name is None:
                continue
            bound = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                bound = alias.asname.name.value
            sep = "" if prefix.endswith(".") else "."
            self.scope.add(Binding(bound, "import", node, self.scope,
                                   qualified=f"{prefix}{sep}{name}"))

    # -- definitions ---------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scope.add(Binding(node.name.value, "def", node, self.scope))
        self._push("function", node)
        self._bind_params(node.params, node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.stack.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._push("lambda", node)
        self._bind_params(node.params, node)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.stack.pop()

    def _bind_params(self, params: cst.Parameters, node: cst.CSTNode) -> None:
        everything = list(params.posonly_params) + list(params.params) + list(params.kwonly_params)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                everything.append(star)
        for param in everything:
            self.scope.add(Binding(param.name.value, "param", param, self.scope))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scope.add(Binding(node.name.value, "class", node, self.scope))
        self._push("class", node)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.stack.pop()

    def _visit_comp(self, node: cst.CSTNode) -> None:
        self._push("comprehension", node)

    def _leave_comp(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _visit_comp
    leave_ListComp = leave_SetComp = leave_DictComp = leave_GeneratorExp = _leave_comp

    # -- bindings ------------------------------------------------------------
    def visit_Global(self, node: cst.Global) -> None:
        for item in node.names:
            self.scope.global_names.add(item.name.value)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        for item in node.names:
            self.scope.nonlocal_names.add(item.name.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind_target(target.target, "assign", node, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind_target(node.target, "assign", node, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind_target(node.target, "augassign", node)

    def visit_For(self, node: cst.For) -> None:
        self._bind_target(node.target, "for", node)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind_target(node.target, "for", node)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind_target(node.asname.name, "with", node, node.item)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._bind_target(node.name.name, "other", node)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        # A walrus inside a comprehension binds in the enclosing real scope.
        scope = self.scope
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent
        self._bind_target(node.target, "assign", node, node.value, scope)

    def visit_Del(self, node: cst.Del) -> None:
        self._bind_target(node.target, "other", node)
