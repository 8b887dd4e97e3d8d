"""A fast, iterative traversal of a libcst tree for read-only visitors.

libcst's own ``node.visit(visitor)`` rebuilds every node's children as it goes
(the same machinery serves transformers) and recurses in Python, so one pass
costs about as much as the parse and deep nesting raises ``RecursionError``.
threadlint's visitors never change the tree and never look at whitespace,
parentheses or punctuation, so this walker:

- visits only the fields that hold code (expressions, statements, names, ...),
  in source order;
- uses an explicit stack, so nesting depth is bounded by memory, not by the
  interpreter's recursion limit;
- dispatches ``visit_<Type>(node)`` / ``leave_<Type>(node)`` of any number of
  visitors from one table, like libcst's batched visitor.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple, TypeVar

import libcst as cst

# Fields that only hold formatting: whitespace, parentheses, commas, colons,
# operators and keywords as tokens. Rules read these, when they need to, from
# the node that owns them.
_FORMATTING_FIELDS = frozenset({
    "lpar", "rpar", "comma", "semicolon", "leading_lines", "lines_after_decorators",
    "header", "footer", "trailing_whitespace", "equal", "colon", "dot", "relative",
    "operator", "asynchronous", "star_tok", "default_comma", "arrow", "whitespace",
    "first_line", "empty_lines", "lbracket", "rbracket", "lbrace", "rbrace",
    "star_arg_comma", "await_keyword", "first_colon", "second_colon",
})

# Source order where a node's dataclass fields are not in source order.
_ORDER_OVERRIDES: Dict[type, Tuple[str, ...]] = {
    cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.Arg: ("keyword", "value"),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.ExceptStarHandler: ("type", "name", "body"),
    cst.Parameters: ("posonly_params", "posonly_ind", "params", "star_arg", "kwonly_params",
                     "star_kwarg"),
}

_field_cache: Dict[type, Tuple[str, ...]] = {}


def _code_fields(node_type: type) -> Tuple[str, ...]:
    fields = _field_cache.get(node_type)
    if fields is None:
        names = [f.name for f in dataclasses.fields(node_type)
                 if f.name not in _FORMATTING_FIELDS and "whitespace" not in f.name]
        override = _ORDER_OVERRIDES.get(node_type)
        if override is not None:
            names = [n for n in override if n in names] + [n for n in names if n not in override]
        fields = tuple(names)
        _field_cache[node_type] = fields
    return fields


# What a field value is, by exact type: isinstance() against libcst's classes
# takes a slow path through their ABC metaclass, and this runs millions of times.
_CODE, _SEQUENCE, _OTHER = 0, 1, 2
_value_kind: Dict[type, int] = {tuple: _SEQUENCE, list: _SEQUENCE}


def _kind(value_type: type) -> int:
    kind = _value_kind.get(value_type)
    if kind is None:
        is_code = issubclass(value_type, cst.CSTNode) and \
            not issubclass(value_type, cst.BaseParenthesizableWhitespace)
        kind = _value_kind[value_type] = _CODE if is_code else _OTHER
    return kind


_getter_cache: Dict[type, Callable[[cst.CSTNode], tuple]] = {}


def _no_fields(node: cst.CSTNode) -> tuple:
    return ()


def _values_getter(node_type: type) -> Callable[[cst.CSTNode], tuple]:
    """One C-level call that reads all code fields of a node as a tuple."""
    getter = _getter_cache.get(node_type)
    if getter is None:
        fields = _code_fields(node_type)
        if not fields:
            getter = _no_fields
        elif len(fields) == 1:
            single = operator.attrgetter(fields[0])
            getter = lambda node: (single(node),)  # noqa: E731
        else:
            getter = operator.attrgetter(*fields)
        _getter_cache[node_type] = getter
    return getter


def children(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The code-bearing children of ``node``, in source order."""
    found: List[cst.CSTNode] = []
    kinds = _value_kind
    getter = _getter_cache.get(type(node)) or _values_getter(type(node))
    for value in getter(node):
        kind = kinds.get(type(value))
        if kind is None:
            kind = _kind(type(value))
        if kind == _CODE:
            found.append(value)
        elif kind == _SEQUENCE:
            for item in value:
                item_kind = kinds.get(type(item))
                if item_kind is None:
                    item_kind = _kind(type(item))
                if item_kind == _CODE:
                    found.append(item)
    return found


Method = Callable[[cst.CSTNode], object]
Owner = TypeVar("Owner")  # whatever holds the hooks: a provider, a rule


_candidate_cache: Dict[type, Tuple[str, ...]] = {}


def _candidate_names(cls: type) -> Tuple[str, ...]:
    """``visit_X``/``leave_X`` names a visitor class may answer, computed once
    per class: libcst's own typed stubs (hundreds of them) are left out."""
    names = _candidate_cache.get(cls)
    if names is None:
        found = []
        for attribute in dir(cls):
            if not attribute.startswith(("visit_", "leave_")) or "_" in attribute[6:]:
                continue  # visit_<Type>_<attribute> hooks are not supported
            value = getattr(cls, attribute, None)
            if getattr(value, "_is_no_op", False) and \
                    getattr(value, "__module__", "").startswith("libcst"):
                continue
            found.append(attribute)
        names = _candidate_cache[cls] = tuple(found)
    return names


def left_types(visitor_classes: Iterable[type]) -> FrozenSet[str]:
    """Node type names any instance of ``visitor_classes`` may leave (a class
    may answer a hook per instance, so this errs on the side of more)."""
    return frozenset(name[6:] for cls in visitor_classes for name in _candidate_names(cls)
                     if name.startswith("leave_"))


def visitor_methods(visitors: Iterable[object]) -> Tuple[Dict[str, List[Method]], Dict[str, List[Method]]]:
    """``visit_X``/``leave_X`` methods of ``visitors``, keyed by node type name,
    skipping no-op stubs (a visitor may replace one on the instance)."""
    visit: Dict[str, List[Method]] = {}
    leave: Dict[str, List[Method]] = {}
    for visitor in visitors:
        for attribute in _candidate_names(type(visitor)):
            method = getattr(visitor, attribute)
            if getattr(method, "_is_no_op", False) or not callable(method):
                continue
            table = visit if attribute[0] == "v" else leave
            table.setdefault(attribute[6:], []).append(method)
    return visit, leave


class Recording:
    """The visit and leave events of one walk, in order, so that a second set
    of visitors can see the same events without enumerating children again
    (which is most of a walk's cost).

    Leave events are recorded for the node types in ``leaves`` (and for those
    the recording walk's own visitors leave): :func:`dispatch` refuses owners
    that leave anything else.
    """

    __slots__ = ("leaves", "leaving", "nodes", "types")

    def __init__(self, leaves: Iterable[str]) -> None:
        self.leaves = frozenset(leaves)
        self.nodes: List[cst.CSTNode] = []
        self.types: List[str] = []  # each event's node type name
        self.leaving = bytearray()  # 1 where the event at that index is a leave


def _dispatch_tables(visitors: Sequence[object],
                     enter: Optional[Callable[[cst.CSTNode], None]],
                     exit: Optional[Callable[[cst.CSTNode], None]],
                     context_types: Sequence[type],
                     ) -> Tuple[Dict[str, List[Method]], Dict[str, List[Method]]]:
    visit, leave = visitor_methods(visitors)
    for node_type in context_types:
        name = node_type.__name__
        if enter is not None:
            visit[name] = [enter] + visit.get(name, [])
        if exit is not None:
            leave[name] = leave.get(name, []) + [exit]
    return visit, leave


def walk(root: cst.CSTNode, visitors: Sequence[object],
         enter: Optional[Callable[[cst.CSTNode], None]] = None,
         exit: Optional[Callable[[cst.CSTNode], None]] = None,
         context_types: Sequence[type] = (),
         record: Optional[Recording] = None) -> None:
    """Visit every code node under ``root`` depth-first, in source order.

    For nodes of ``context_types``, ``enter`` runs before the visitors'
    ``visit_X`` and ``exit`` after their ``leave_X``, so context kept by them
    is the same on both sides. With ``record``, the events are also appended
    to it for :func:`replay`.
    """
    visit, leave = _dispatch_tables(visitors, enter, exit, context_types)
    stops = set(leave)  # only nodes someone leaves need a second stop
    if record is not None:
        stops |= record.leaves
        record.nodes.clear()
        record.types.clear()
        record.leaving.clear()
        note, note_kind = record.nodes.append, record.leaving.append
        note_type = record.types.append
    no_methods: List[Method] = []
    stack: List[Tuple[cst.CSTNode, bool]] = [(root, False)]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        node, leaving = pop()
        name = type(node).__name__
        if record is not None:
            note(node)
            note_type(name)
            note_kind(leaving)
        if leaving:
            for method in leave.get(name, no_methods):
                method(node)
            continue
        methods = visit.get(name)
        if methods is not None:
            for method in methods:
                method(node)
        if name in stops:
            push((node, True))
        kids = children(node)
        if kids:
            kids.reverse()
            extend((kid, False) for kid in kids)


def check_hooks(cls: type) -> None:
    """Raise TypeError unless every ``visit_*``/``leave_*`` attribute that
    ``cls`` defines names a libcst node type: a misspelt hook, or libcst's
    ``visit_<Node>_<field>`` form, would otherwise never run, silently."""
    for attribute in vars(cls):
        if not attribute.startswith(("visit_", "leave_")):
            continue
        node_type = getattr(cst, attribute[6:], None)
        if not (isinstance(node_type, type) and issubclass(node_type, cst.CSTNode)):
            raise TypeError(f"{cls.__name__}.{attribute}: {attribute[6:]!r} is not a libcst node "
                            "type; hooks are visit_<Node>(node) and leave_<Node>(node)")


def dispatch(recording: Recording, owners: Sequence[Owner], cursor: Any,
             failed: Callable[[Owner, BaseException], Iterable[Owner]]) -> None:
    """Run the hooks of ``owners`` over the recorded events, in order, as
    :func:`walk` would: ``cursor.enter`` before the hooks visit a node of
    ``cursor.TYPES`` and ``cursor.exit`` after they leave it.

    An owner whose hook raises is reported through ``failed(owner, error)``,
    which answers the owners that get no further events (that one, and any
    that depend on it); the others go on. The recording must hold the leave
    events of every type an owner leaves (see :func:`left_types`).
    """
    live = list(owners)
    dead: List[Owner] = []
    visit, leave = _owned_tables(live)
    if not recording.leaves.issuperset(leave):
        raise ValueError(f"leave events not recorded: {sorted(set(leave) - recording.leaves)}")
    context = {node_type.__name__ for node_type in cursor.TYPES}
    enter, exit = cursor.enter, cursor.exit
    visit_get, leave_get = visit.get, leave.get
    for node, name, leaving in zip(recording.nodes, recording.types, recording.leaving):
        if not leaving and name in context:
            enter(node)
        hooks = leave_get(name) if leaving else visit_get(name)
        if hooks is not None:
            for owner, method in hooks:
                if dead and owner in dead:
                    continue
                try:
                    method(node)
                except Exception as error:  # noqa: BLE001 - reported, the others go on
                    dead.extend(failed(owner, error))
                    live = [other for other in live if other not in dead]
                    visit, leave = _owned_tables(live)
                    visit_get, leave_get = visit.get, leave.get
        if leaving and name in context:
            exit(node)


def has_hooks(cls: type) -> bool:
    """Whether instances of ``cls`` answer any ``visit_*``/``leave_*`` event."""
    return bool(_candidate_names(cls))


def _owned_tables(owners: Sequence[Owner]) -> Tuple[Dict[str, List[Tuple[Owner, Method]]],
                                                     Dict[str, List[Tuple[Owner, Method]]]]:
    visit: Dict[str, List[Tuple[Owner, Method]]] = {}
    leave: Dict[str, List[Tuple[Owner, Method]]] = {}
    for owner in owners:
        for attribute in _candidate_names(type(owner)):
            method = getattr(owner, attribute)
            table = visit if attribute[0] == "v" else leave
            table.setdefault(attribute[6:], []).append((owner, method))
    return visit, leave


class Replace(cst.CSTTransformer):
    """Puts each replacement in place of the original node it is keyed by
    (``module.visit(Replace({old: new}))``): how fixes are applied."""

    def __init__(self, replacements: Dict[cst.CSTNode, cst.CSTNode]) -> None:
        super().__init__()
        self.replacements = replacements

    # A fix may put a node of another type in place (a tuple for a list), which
    # libcst's signature, generic in one node type, cannot express.
    def on_leave(self, original_node: cst.CSTNode,  # type: ignore[override]
                 updated_node: cst.CSTNode) -> cst.CSTNode:
        return self.replacements.get(original_node, updated_node)
