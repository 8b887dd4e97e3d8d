"""``threadlint --graph``: the project's thread map as a picture.

Drawn from the whole-project :class:`~threadlint.project.Index`: each thread
root (what starts a thread, and where), the functions threads reach, grouped
by module, and the witness tree (the first way the index found to each
function: root -> first function, then caller -> callee), with the other
calls between those functions that resolve, dashed. The module-level locks
a function takes (``"acquires"`` in its summary) are in its box; lock-order
edges (``Index.lock_edges``) are drawn between locks, inversions in red.

Output is deterministic (everything sorted, nodes numbered in that order)
and every name from the code is escaped, whatever it holds: DOT strings are
quoted with ``"`` and ``\\`` escaped; Mermaid labels are quoted with ``"``
as ``#quot;`` (and the characters Mermaid would read as markup as entity
codes).

Pure functions of the index; this module imports neither libcst nor any rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Sequence, Set, Tuple

from threadlint.project import Index, Node, Root

GRAPH_FORMATS = ("dot", "mermaid")

#: A lock-order edge: (outer lock, inner lock, file, line, inverted).
LockEdge = Tuple[str, str, str, int, bool]


@dataclass
class _Map:
    """What both formats draw, numbered: ``r<i>`` roots, ``n<i>`` functions
    (``(module label, [(id, label lines)])`` per module), ``l<i>`` locks."""

    roots: List[Tuple[str, List[str]]] = field(default_factory=list)
    modules: List[Tuple[str, List[Tuple[str, List[str]]]]] = field(default_factory=list)
    locks: List[Tuple[str, str]] = field(default_factory=list)
    #: (from id, to id) along the witness tree, roots first.
    calls: List[Tuple[str, str]] = field(default_factory=list)
    #: (caller id, callee id): the other resolved calls between reached functions.
    also: List[Tuple[str, str]] = field(default_factory=list)
    #: (outer id, inner id, where, inverted).
    orders: List[Tuple[str, str, str, bool]] = field(default_factory=list)


def _strings(value: Any) -> List[str]:
    """The strings of a summary's list (an untrusted cache entry: anything
    else is ignored), sorted and without duplicates."""
    if not isinstance(value, list):
        return []
    return sorted({item for item in value if isinstance(item, str)})


def _unit_facts(index: Index, node: Node) -> List[str]:
    """``locks: app.stats._LOCK``: the module-level locks the function takes."""
    path, unit = node
    summary = index.summaries.get(path)
    acquires = summary.get("acquires") if isinstance(summary, dict) else None
    taken = acquires.get(unit) if isinstance(acquires, dict) else None
    locks = sorted({lock for lock in (index.lock_name(path, name) for name in _strings(taken))
                    if lock is not None})
    return [f"locks: {', '.join(locks)}"] if locks else []


def _callees(index: Index, node: Node) -> Set[Node]:
    """The functions ``node`` calls that resolve to one function (as the
    index follows calls: the same file's, and imported names)."""
    path, unit = node
    summary = index.summaries.get(path)
    units = summary.get("units") if isinstance(summary, dict) else None
    edges = units.get(unit) if isinstance(units, dict) else None
    if not isinstance(edges, dict):
        return set()
    found = {(path, callee) for callee in _strings(edges.get("calls", []))}
    for names in edges.get("ext", []) if isinstance(edges.get("ext"), list) else []:
        targets = {target for target in (index.resolve(path, name) for name in _strings(names))
                   if target is not None}
        if len(targets) == 1:
            found.add(targets.pop())
    return found


def _root_key(root: Root) -> Tuple[str, int, int, str, str]:
    return root.path, root.line, root.col, root.kind, root.label


def _lock_edges(index: Index) -> List[LockEdge]:
    """``index.lock_edges`` where well formed (deduplicated, sorted)."""
    found = set()
    edges = getattr(index, "lock_edges", [])
    for edge in edges if isinstance(edges, (list, tuple)) else []:
        if not isinstance(edge, (list, tuple)) or len(edge) != 5:
            continue
        outer, inner, path, line, inverted = edge
        if (isinstance(outer, str) and isinstance(inner, str) and isinstance(path, str)
                and isinstance(line, int) and not isinstance(line, bool)):
            found.add((outer, inner, path, line, bool(inverted)))
    return sorted(found)


def _starts(index: Index) -> List[Tuple[Root, Node]]:
    """Every root and the function it starts, also when another root reached
    that function first (the witness tree keeps one root per function)."""
    starts = {(root, node) for node, root in index.root_of.items() if index.parent.get(node) is None}
    listed = index.roots()
    starts.update((root, node) for root, node, _handed in listed if node in index.parent)
    return sorted(starts, key=lambda pair: (_root_key(pair[0]), pair[1]))


def _build(index: Index) -> _Map:
    drawn = _Map()
    starts = _starts(index)
    root_id: Dict[Root, str] = {}
    for root in sorted({root for root, _ in starts}, key=_root_key):
        root_id[root] = f"r{len(root_id) + 1}"
        drawn.roots.append((root_id[root], [f"{root.kind} '{root.label}'", root.where()]))

    by_path: Dict[str, List[Node]] = {}
    for node in index.parent:
        by_path.setdefault(node[0], []).append(node)
    node_id: Dict[Node, str] = {}
    modules = sorted(by_path, key=lambda path: (index.name_of.get(path, path), path))
    for path in modules:
        members = []
        for node in sorted(by_path[path]):
            node_id[node] = f"n{len(node_id) + 1}"
            members.append((node_id[node], [index.qualified(node), *_unit_facts(index, node)]))
        drawn.modules.append((index.name_of.get(path, path), members))

    order = {ident: rank for rank, ident in enumerate([*root_id.values(), *node_id.values()])}
    calls = {(root_id[root], node_id[node]) for root, node in starts}
    calls.update((node_id[previous], node_id[node]) for node, previous in index.parent.items()
                 if previous is not None and previous in node_id)
    drawn.calls = sorted(calls, key=lambda edge: (order[edge[0]], order[edge[1]]))
    also = {(node_id[node], node_id[callee]) for node in node_id for callee in _callees(index, node)
            if callee in node_id and index.parent.get(callee) != node}
    drawn.also = sorted(also - calls, key=lambda edge: (order[edge[0]], order[edge[1]]))

    edges = _lock_edges(index)
    lock_id: Dict[str, str] = {}
    for name in sorted({name for edge in edges for name in edge[:2]}):
        lock_id[name] = f"l{len(lock_id) + 1}"
        drawn.locks.append((lock_id[name], name))
    orders = {(lock_id[outer], lock_id[inner], f"{path}:{line}" if line else path, inverted)
              for outer, inner, path, line, inverted in edges}
    drawn.orders = sorted(orders, key=lambda edge: (int(edge[0][1:]), int(edge[1][1:]), edge[2], edge[3]))
    return drawn


# -- DOT ------------------------------------------------------------------------
def dot_string(text: str) -> str:
    """``text`` as a DOT quoted string (line breaks as ``\\n``)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return f'"{escaped}"'


def _dot_label(lines: Sequence[str]) -> str:
    return dot_string("\n".join(lines))


def render_dot(index: Index) -> str:
    """The thread map as a Graphviz ``digraph``."""
    drawn = _build(index)
    out = ["digraph threadlint {", "  rankdir=LR;", "  node [shape=box];"]
    out += [f"  {ident} [label={_dot_label(lines)}, shape=box, style=bold];"
            for ident, lines in drawn.roots]
    for number, (module, members) in enumerate(drawn.modules, 1):
        out.append(f"  subgraph cluster_{number} {{")
        out.append(f"    label={dot_string(module)};")
        out += [f"    {ident} [label={_dot_label(lines)}];" for ident, lines in members]
        out.append("  }")
    out += [f"  {ident} [label={dot_string(name)}, shape=hexagon];" for ident, name in drawn.locks]
    out += [f"  {source} -> {target};" for source, target in drawn.calls]
    out += [f"  {source} -> {target} [style=dashed];" for source, target in drawn.also]
    for outer, inner, where, inverted in drawn.orders:
        if inverted:
            out.append(f"  {outer} -> {inner} [label={dot_string('inversion at ' + where)}, "
                       f"color=red, fontcolor=red, penwidth=2];")
        else:
            out.append(f"  {outer} -> {inner} [label={dot_string(where)}];")
    out.append("}")
    return "\n".join(out) + "\n"


# -- Mermaid --------------------------------------------------------------------
_MERMAID_ENTITIES = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;"}
_MERMAID_SPECIAL = re.compile(r'["<>&`]|#(?=\w+;)|\r\n|[\r\n]')


def mermaid_text(text: str) -> str:
    """``text`` for inside a quoted Mermaid label: ``"`` as ``#quot;``, what
    Mermaid reads as markup or as an entity code (``#...;``) as entity codes,
    and line breaks as spaces."""
    def escape(match: re.Match[str]) -> str:
        found = match.group(0)
        if found == "#":
            return "#35;"
        return _MERMAID_ENTITIES.get(found, " ")

    return _MERMAID_SPECIAL.sub(escape, text)


def _mermaid_label(lines: Iterable[str]) -> str:
    return '"' + "<br/>".join(mermaid_text(line) for line in lines) + '"'


def render_mermaid(index: Index) -> str:
    """The thread map as a Mermaid ``flowchart``."""
    drawn = _build(index)
    out = ["flowchart LR"]
    out += [f"  {ident}([{_mermaid_label(lines)}])" for ident, lines in drawn.roots]
    for number, (module, members) in enumerate(drawn.modules, 1):
        out.append(f"  subgraph m{number} [{_mermaid_label([module])}]")
        out += [f"    {ident}[{_mermaid_label(lines)}]" for ident, lines in members]
        out.append("  end")
    out += [f"  {ident}{{{{{_mermaid_label([name])}}}}}" for ident, name in drawn.locks]
    out += [f"  {source} --> {target}" for source, target in drawn.calls]
    out += [f"  {source} -.-> {target}" for source, target in drawn.also]
    inversions = []
    for link, (outer, inner, where, inverted) in enumerate(drawn.orders,
                                                           len(drawn.calls) + len(drawn.also)):
        if inverted:
            inversions.append(str(link))
            out.append(f"  {outer} -.->|{_mermaid_label(['inversion at ' + where])}| {inner}")
        else:
            out.append(f"  {outer} -->|{_mermaid_label([where])}| {inner}")
    if inversions:  # links are numbered in the order they are written
        out.append(f"  linkStyle {','.join(inversions)} stroke:red,color:red")
    return "\n".join(out) + "\n"
