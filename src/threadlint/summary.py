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
  ``handle`` and ``do_GET``).

A function is named as other modules name it (``worker``, ``Poller.run``);
one they cannot name (nested, a lambda) is ``#<rank>``, a node of the graph
but never a target. :mod:`threadlint.project` builds the index from these.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Tuple

import libcst as cst

from threadlint.model import Model, Names
from threadlint.model.core import Unit
from threadlint.model.threads import Threads
from threadlint.positions import spans
from threadlint.walk import Recording

#: The summary format; a summary of another format is not read.
FORMAT = 1


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
    where: Dict[int, cst.CSTNode] = {}
    for index, entry in enumerate(own):
        handed = threads.handovers.get(entry.unit)
        where[index] = handed[0][0] if handed else entry.unit
    nodes = list(where.values()) + [entry.call for entry in threads.foreign_entries]
    positions = spans(model.module, source, nodes, recording) if nodes else {}
    entries = []
    for index, entry in enumerate(own):
        line, col = positions[where[index]][:2]
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
    classes = {cls.name.value: sorted(names.methods.get(cls, {}))
               for cls in names.classes if _module_level(names, cls)}
    return {"format": FORMAT, "defs": sorted(ids.values()), "units": units, "entries": entries,
            "foreign": foreign, "imports": imports, "classes": classes}


def _module_level(names: Names, cls: cst.ClassDef) -> bool:
    scope = names.scope_of_node.get(cls)
    return scope is not None and scope.parent is names.module_scope
