"""The semantic model of one module: providers, their dependencies, the cursor.

A :class:`Provider` computes one family of facts (names, classes, locks,
threads...). It declares the providers it reads in ``requires``, like
libcst's ``METADATA_DEPENDENCIES``; the engine builds the transitive closure
of what the enabled rules require, in dependency order, each exactly once.

A provider is built in one of two ways:

- *derived*: computed from finished dependencies, in ``__init__`` or lazily
  (and then cached) on first query; the engine finishes every fed provider a
  derived one requires before building it;
- *fed*: it defines ``visit_<Node>``/``leave_<Node>`` hooks, and the engine
  feeds all fed providers together in one replay of the names walk's events
  (``threadlint.walk``), in dependency order for each event, then calls
  ``finish()`` on each, in the same order. While being fed, a provider may
  read the *position state* of a provider it requires (the
  :class:`Cursor`; :meth:`threadlint.model.locks.Locks.held_keys`), since
  that provider's hooks for the same node ran first; whole-module results
  only exist after ``finish()``.

Rules only ever see finished providers. Nothing in this package imports the
engine or the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Type, TypeVar, Union, cast

import libcst as cst

from threadlint.walk import check_hooks, has_hooks

Unit = Union[cst.FunctionDef, cst.Lambda]


class Cursor:
    """Where a traversal is: the enclosing ``def``/lambda and class.

    One stack of the nodes that open a new body of code (``FunctionDef``,
    ``Lambda``, ``ClassDef``), maintained by the engine around every event
    of a replay, before the hooks visit a node and after they leave it, so
    providers and rules see the same context on both sides.
    """

    __slots__ = ("stack",)

    TYPES: Tuple[type, ...] = (cst.FunctionDef, cst.Lambda, cst.ClassDef)

    def __init__(self) -> None:
        self.stack: List[cst.CSTNode] = []

    def enter(self, node: cst.CSTNode) -> None:
        self.stack.append(node)

    def exit(self, node: cst.CSTNode) -> None:
        self.stack.pop()

    @property
    def unit(self) -> Optional[Unit]:
        """The innermost ``def`` or lambda whose body we are directly in; None
        at module level and directly in a class body."""
        if self.stack:
            top = self.stack[-1]
            if type(top) is not cst.ClassDef:
                return cast(Unit, top)  # the stack holds only TYPES
        return None

    @property
    def code_unit(self) -> Optional[Unit]:
        """The innermost ``def`` or lambda around us, class bodies looked through
        (the code of a class body runs in the enclosing function)."""
        for node in reversed(self.stack):
            if type(node) is not cst.ClassDef:
                return cast(Unit, node)
        return None

    @property
    def function(self) -> Optional[cst.FunctionDef]:
        """The innermost enclosing ``def`` (lambdas and classes looked through)."""
        for node in reversed(self.stack):
            if type(node) is cst.FunctionDef:
                return node
        return None

    @property
    def cls(self) -> Optional[cst.ClassDef]:
        """The innermost class whose body (directly or in a method) we are in."""
        for node in reversed(self.stack):
            if type(node) is cst.ClassDef:
                return node
        return None


@dataclass(frozen=True)
class Options:
    """The settings the model and rules read (from ``[tool.threadlint]``)."""

    #: Read lock contracts from ``*_locked`` names and docstrings too.
    prose_contracts: bool = True
    #: TL305: the share of an attribute's changes that must hold a lock before
    #: the ones that do not are reported as inconsistent guarding.
    guarded_ratio: float = 2 / 3
    #: Functions of this module that threads run from elsewhere (whole-project
    #: analysis, ``threadlint.project``): (unit id, kind, label, how it is
    #: reached), added to :class:`~threadlint.model.threads.Threads`' entries.
    entries: Tuple[Tuple[str, str, str, str], ...] = ()
    #: Methods of this module that a ``start()`` inherited from another
    #: module runs before the thread starts (``Cls.on_thread_start``): they
    #: run in the starting thread, before the new one exists.
    before_start: Tuple[str, ...] = ()


class Provider:
    """One family of facts about a module. Subclasses set ``requires`` and
    may define ``visit_<Node>``/``leave_<Node>`` hooks and ``finish()``."""

    #: Providers whose facts this one reads.
    requires: Tuple[Type[Provider], ...] = ()
    #: Whether the engine feeds this provider the replay's events; a provider
    #: with hooks may set it False in ``__init__`` when the module cannot hold
    #: what it looks for (its facts then stay empty).
    fed: bool = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        check_hooks(cls)

    def __init__(self, model: Model) -> None:
        self.model = model

    def finish(self) -> None:
        """Called once after the replay that fed this provider (if any)."""


P = TypeVar("P", bound=Provider)


class MissingFact(LookupError):
    """A provider asked for that was not built: a missing ``requires``."""


class Model:
    """Every fact computed for one module, by provider class.

    ``model[Threads]`` is the finished :class:`~threadlint.model.threads.Threads`
    provider; asking for one that no ``requires`` named raises
    :class:`MissingFact`, so a forgotten dependency fails loudly.
    """

    def __init__(self, module: cst.Module, cursor: Cursor, path: str = "<module>",
                 source: bytes = b"", options: Options = Options()) -> None:
        self.module = module
        self.path = path
        #: The file's bytes, for providers that first ask whether a word occurs.
        self.source = source
        self.options = options
        self.cursor = cursor
        self._facts: Dict[Type[Provider], Provider] = {}

    def add(self, provider: Provider) -> None:
        self._facts[type(provider)] = provider

    def __getitem__(self, kind: Type[P]) -> P:
        found = self._facts.get(kind)
        if found is None:
            raise MissingFact(f"{kind.__name__} was not computed: add it to `requires`")
        return cast(P, found)

    def __contains__(self, kind: type) -> bool:
        return kind in self._facts

    def dismantle(self) -> None:
        """Drop every provider (they refer to the tree and to each other)."""
        for provider in self._facts.values():
            dismantle = getattr(provider, "dismantle", None)
            if dismantle is not None:
                dismantle()
            vars(provider).clear()
        self._facts.clear()


def schedule(kinds: Sequence[Type[Provider]]) -> List[Type[Provider]]:
    """``kinds`` (a closure) in an order that needs the fewest replays: each
    provider after what it requires, derived providers that read no fed one
    first, then the fed ones (one replay feeds them all), then the derived
    ones that read a fed one (built after that replay)."""
    fed = {kind for kind in kinds if has_hooks(kind)}

    def rank(kind: Type[Provider]) -> int:
        if kind in fed:
            return 1
        return 2 if any(dependency in fed for dependency in closure([kind])) else 0

    placed: List[Type[Provider]] = []
    todo = list(kinds)
    while todo:
        ready = [kind for kind in todo if all(d in placed for d in kind.requires)]
        if not ready:  # a cycle, which closure() already refuses
            return list(kinds)
        chosen = min(ready, key=rank)
        placed.append(chosen)
        todo.remove(chosen)
    return placed


def closure(wanted: Iterable[Type[Provider]]) -> List[Type[Provider]]:
    """``wanted`` and everything they require, dependencies first."""
    order: List[Type[Provider]] = []
    visiting: List[Type[Provider]] = []

    def visit(kind: Type[Provider]) -> None:
        if kind in order:
            return
        if kind in visiting:
            cycle = " -> ".join(k.__name__ for k in visiting + [kind])
            raise TypeError(f"provider dependency cycle: {cycle}")
        visiting.append(kind)
        for dependency in kind.requires:
            visit(dependency)
        visiting.pop()
        order.append(kind)

    for kind in wanted:
        visit(kind)
    return order
