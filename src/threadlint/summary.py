"""A file's summary for whole-project analysis, read off its model.

Computed in the same parse as the file's own rules and cached with its
result, a summary is plain data (JSON), a function of the file's bytes only:

- ``defs``: the functions other modules can name;
- ``units``: per function, the functions of the same file it calls and the
  imported names it calls (``app.cache.put``, ``.store.Store.flush``),
  both only where no lock is held at the call (a helper called under a lock
  is protected by it, as within a file);
- ``entries``: the functions of this file it hands to threads, with where;
- ``foreign``: what it hands to threads that is imported
  (``Thread(target=worker.loop)``), and request handler classes of other
  modules given to threading servers;
- ``imports``: module-level import bindings (for names a package re-exports);
- ``classes``: the methods of module-level classes (a handler class's
  ``handle`` and ``do_GET``);
- the module-level locks (when lock order is analysed): ``acquires``, per
  function, the locks it takes (itself or through calls in this file) and
  where; ``nestings``, a lock taken while another is held in this file;
  ``held``, calls of imported functions made while holding locks. A lock is
  its name in this module, or ``@`` and the qualified name it is imported as.

A function is named as other modules name it (``worker``, ``Poller.run``);
one they cannot name (nested, a lambda) is ``#<rank>``, a node of the graph
but never a target. :mod:`threadlint.project` builds the index from these.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import libcst as cst

from threadlint.model import Model, Names
from threadlint.model.attributes import Attributes
from threadlint.model.checks import Checks
from threadlint.model.classes import Classes
from threadlint.model.core import Unit
from threadlint.model.local_locks import LocalLocks
from threadlint.model.lock_order import LockOrder
from threadlint.model.mutations import Mutations
from threadlint.model.threads import Threads
from threadlint.positions import spans
from threadlint.walk import Recording

#: The summary format; a summary of another format is not read.
FORMAT = 7


def summarize(model: Model, source: bytes, recording: Recording) -> Optional[Dict[str, Any]]:
    """The summary of the module ``model`` describes; None when the facts it
    needs were not computed."""
    if Threads not in model:
        return None
    names, threads = model[Names], model[Threads]
    ids = names.unit_ids()

    def unit_id(unit: Unit) -> str:
        if isinstance(unit, cst.FunctionDef) and unit in ids:
            return ids[unit]
        return f"#{names.order(unit)}"

    units: Dict[str, Dict[str, List[Any]]] = {}
    for unit, sites in threads.calls.items():
        local = sorted({unit_id(site.callee) for site in sites if not site.held})
        if local:
            units.setdefault(unit_id(unit), {"calls": [], "ext": []})["calls"] = local
    for unit, calls in threads.foreign_calls.items():
        seen: Set[Tuple[str, ...]] = set()
        external = []
        for call in calls:
            if not call.held and call.names not in seen:
                seen.add(call.names)
                external.append(list(call.names))
        if external:
            units.setdefault(unit_id(unit), {"calls": [], "ext": []})["ext"] = external

    own = [entry for entry in threads.entries if not entry.via]
    # Where each is handed over; the `run()` of a Thread subclass, handed
    # over by no call here, is placed by its `def` line (from the text, in
    # the index: placing a whole method would cost as much as generating it).
    where: Dict[int, cst.CSTNode] = {}
    for index, entry in enumerate(own):
        handed = threads.handovers.get(entry.unit)
        if handed:
            where[index] = handed[0][0]
    nodes = list(where.values()) + [entry.call for entry in threads.foreign_entries]
    positions = spans(model.module, source, nodes, recording) if nodes else {}
    entries = []
    for index, entry in enumerate(own):
        line, col = positions[where[index]][:2] if index in where else (0, 0)
        entries.append({"unit": unit_id(entry.unit), "kind": entry.kind, "label": entry.label,
                        "line": line, "col": col})
    foreign = []
    for item in threads.foreign_entries:
        line, col = positions[item.call][:2]
        foreign.append({"names": list(item.names), "kind": item.kind, "label": item.label,
                        "line": line, "col": col})
    imports: Dict[str, str] = {}
    for name, bindings in names.module_scope.bindings.items():
        if len(bindings) == 1 and bindings[0].kind == "import" and bindings[0].qualified:
            imports[name] = bindings[0].qualified
    module_classes = [cls for cls in names.classes if _module_level(names, cls)]
    classes = {cls.name.value: sorted(names.methods.get(cls, {})) for cls in module_classes}
    summary = {"format": FORMAT, "defs": sorted(ids.values()), "units": units, "entries": entries,
               "foreign": foreign, "imports": imports, "classes": classes,
               "bases": _bases(model, module_classes), "hooks": _start_hooks(model, module_classes),
               "threads": sorted(
                   cls.name.value for cls in module_classes
                   if model[Classes].thread_classes.get(cls) in ("thread", "timer")),
               "acquires": {}, "nestings": [], "held": []}
    if LockOrder in model:
        summary.update(_lock_facts(model, source, recording, ids, imports, unit_id))
    summary["touch"] = _touching(model, unit_id)
    return summary


def _bases(model: Model, classes: List[cst.ClassDef]) -> Dict[str, List[List[str]]]:
    """For each class, what each base may be: ``[":Local"]`` for a class of
    this module, else the qualified names an import gives it (a base's
    module may make it a ``Thread`` subclass: the index decides)."""
    names = model[Names]
    found: Dict[str, List[List[str]]] = {}
    for cls in classes:
        bases = []
        for base in cls.bases:
            local = names.local_definition(base.value)
            if isinstance(local, cst.ClassDef):
                bases.append([":" + local.name.value])
                continue
            qualified = sorted(name for name in names.qualified_names(base.value)
                               if not name.startswith("builtins."))
            if qualified:
                bases.append(qualified)
        if bases:
            found[cls.name.value] = bases
    return found


def _start_hooks(model: Model, classes: List[cst.ClassDef]) -> Dict[str, List[str]]:
    """For each Thread subclass whose ``start()`` hands ``run()`` over
    (``super().start()``), the methods of ``self`` it calls before that: they
    run in the starting thread, before the new one exists, for subclasses in
    other modules too."""
    names, threads = model[Names], model[Threads]
    found: Dict[str, List[str]] = {}
    for cls in classes:
        start = names.methods.get(cls, {}).get("start")
        handing = threads.starts.get(start) if start is not None else None
        if start is None or handing is None:
            continue
        first = names.order(handing)
        hooks = {site.callee.name.value for site in threads.calls.get(start, ())
                 if names.order(site.node) < first and isinstance(site.node.func, cst.Attribute)
                 and names.self_attribute(site.node.func) is not None}
        if hooks:
            found[cls.name.value] = sorted(hooks)
    return found


def _touching(model: Model, unit_id: Callable[[Unit], str]) -> Optional[List[str]]:
    """The functions a rule about thread code could report in: they change a
    global, touch an attribute of ``self``, test and act, or make a lock of
    their own. Made a thread entry by another module, a file whose reached
    functions are none of these has nothing new to say, and is not linted
    again. None when those facts were not computed."""
    kinds = (Mutations, Attributes, Checks, LocalLocks)
    if not all(kind in model for kind in kinds):
        return None
    units: Set[Unit] = {mutation.unit for mutation in model[Mutations].mutations}
    units.update(access.unit for access in model[Attributes].accesses if access.unit is not None)
    units.update(check.unit for check in model[Checks].found if check.unit is not None)
    units.update(lock.scope.node for lock in model[LocalLocks].locks.values()
                 if isinstance(lock.scope.node, (cst.FunctionDef, cst.Lambda)))
    return sorted({unit_id(unit) for unit in units})


def _lock_facts(model: Model, source: bytes, recording: Recording, ids: Dict[cst.FunctionDef, str],
                imports: Dict[str, str], unit_id: Callable[[Unit], str]) -> Dict[str, Any]:
    """``acquires``, ``nestings`` and ``held`` (see the module docstring), for
    module-level locks only: other modules can name no other lock."""
    order, threads = model[LockOrder], model[Threads]

    def lock(unit: Optional[Unit], key: str) -> Optional[str]:
        found = order.identity(unit, key)
        if found is None or found[0] is not None:
            return None
        name = found[1]
        return "@" + imports[name] if name in imports else name

    # Which locks, not where: placing every acquisition would cost a tenth of
    # the lint of a lock-heavy file; a witness shows the function's `def`.
    acquires: Dict[str, List[str]] = {}
    for unit, name in ids.items():
        taken = {found for found in (lock(acquisition.unit, acquisition.key)
                                     for acquisition, _chain in order.reached(unit)) if found}
        if taken:
            acquires[name] = sorted(taken)
    nestings: List[Tuple[str, str, cst.CSTNode]] = []
    for edge in order.edges:
        if edge.unit is None:
            continue
        outer, inner = lock(edge.unit, edge.outer_key), lock(edge.acquisition.unit, edge.inner_key)
        if outer is not None and inner is not None and outer != inner:
            nestings.append((outer, inner, edge.site))
    held: List[Tuple[str, List[str], List[str], cst.CSTNode]] = []
    for caller, calls in threads.foreign_calls.items():
        for call in calls:
            if not call.keys or call.call is None:
                continue
            locks = sorted({found for found in (lock(caller, key) for key in call.keys) if found})
            if locks:
                held.append((unit_id(caller), locks, list(call.names), call.call))
    nodes = [site for _, _, site in nestings] + [node for _, _, _, node in held]
    at = spans(model.module, source, nodes, recording) if nodes else {}
    return {
        "acquires": acquires,
        "nestings": [[outer, inner, *at[site][:2]] for outer, inner, site in nestings],
        "held": [[unit, locks, called, *at[node][:2]] for unit, locks, called, node in held],
    }


def _module_level(names: Names, cls: cst.ClassDef) -> bool:
    scope = names.scope_of_node.get(cls)
    return scope is not None and scope.parent is names.module_scope
