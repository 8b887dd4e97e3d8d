"""Whole-project analysis: which functions run in threads started in other
modules, and how.

Every file's summary (:mod:`threadlint.summary`, computed in the same parse
as its own rules and cached with its result) goes into one :class:`Index`,
built in the parent process and never by parsing: module names from the
project layout, the project call graph, the thread roots (each file's own
entries, callables of other modules handed to threads, request handler
classes given to threading servers, and the ``thread-entry`` setting), and
the functions reachable from them along calls made without a lock, each with
one witness path.

A function reached from another module becomes a thread entry of its own
file (a :class:`Context`), which is then linted again with it: every rule
about code that threads run (TL301, TL304, TL305, TL306) judges it as it
judges a local thread target, and says how it is reached.

Precision first: a call that cannot be resolved (a method of an object, a
callable passed in, ``getattr``) adds no edge; a name two files could be
imported as resolves to neither; a class's construction (``Store()``) is not
followed; and nothing is guessed from a missing summary.

This module imports neither libcst nor any rule.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import os
import re
from collections import deque
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from threadlint.findings import Step

#: The methods of a request handler class a threading server runs per request
#: (and every ``do_<VERB>`` method).
HANDLER_METHODS = ("setup", "handle", "finish")
REQUEST_HANDLER = "request handler"
#: How many calls a witness path shows at most (the first ones and the last).
MAX_WITNESS = 6
#: Calls followed at most from one function, for the locks it takes.
MAX_CALL_DEPTH = 20
#: Re-exports followed at most (``pkg/__init__.py`` importing from ``.mod``).
_MAX_REEXPORTS = 8

#: A function of the project: (file path as displayed, unit id).
Node = Tuple[str, str]


@dataclass(frozen=True)
class Context:
    """What whole-project analysis hands the engine for one file."""

    #: (unit id, kind, label, how it is reached) of each function of the
    #: file that threads started elsewhere run.
    entries: Tuple[Tuple[str, str, str, str], ...] = ()
    #: For each entry (same order): the witness as locations (``Finding.witness``).
    witnesses: Tuple[Tuple[Step, ...], ...] = ()
    #: Parse the file even when the prefilter would not: its summary is needed.
    force: bool = False
    #: Only the summary is wanted (a file of the project not named on the
    #: command line): no rule runs.
    summary_only: bool = False
    #: Methods of the file that a ``start()`` inherited from another module
    #: runs before its thread starts.
    before_start: Tuple[str, ...] = ()
    #: Findings the index makes about this file (a lock order inverted
    #: across modules): (line, column, code, message, witness); they go
    #: through the file's noqa stage like any other.
    findings: Tuple[Tuple[int, int, str, str, Tuple[Step, ...]], ...] = ()

    def key(self) -> str:
        """What the cache key adds for this context ("" for none)."""
        if not (self.entries or self.force or self.summary_only or self.findings or self.before_start):
            return ""
        text = json.dumps([self.entries, self.witnesses, self.force, self.summary_only, self.findings,
                           self.before_start], separators=(",", ":"))
        return "\0project " + hashlib.sha256(text.encode()).hexdigest()


class LockEdge(NamedTuple):
    """``inner`` taken while ``outer`` is held: in one function, or at a
    call (``via``) of a function that takes it (at ``acquired``)."""

    outer: str  # qualified: ``app.cache.CACHE_LOCK``
    inner: str
    path: str  # where the nesting is: the inner acquisition, or the call
    line: int
    col: int
    via: Optional[Node] = None
    acquired: Optional[Node] = None  # the function that takes ``inner``


@dataclass(frozen=True)
class Root:
    """Where a thread starts: a handover in a file, or the configuration."""

    kind: str
    label: str
    path: str
    line: int = 0
    col: int = 0
    #: Why this is a root, when its handover says nothing (a Thread subclass's run()).
    note: str = ""

    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


def _identifier_path(parts: Sequence[str]) -> bool:
    return bool(parts) and all(part.isidentifier() and not keyword.iskeyword(part) for part in parts)


def module_names(path: str, root: Optional[str]) -> List[str]:
    """The dotted names ``path`` may be imported as: through its packages
    (the directories above it holding ``__init__.py``), and relative to the
    project ``root`` (with a leading ``src/`` dropped) for namespace packages
    and scripts."""
    absolute = os.path.abspath(path)
    directory, filename = os.path.split(absolute)
    stem = filename[:-3] if filename.endswith(".py") else filename
    parts = [] if stem == "__init__" else [stem]
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, package = os.path.split(directory)
        parts.insert(0, package)
        if not package:
            break
    names = []
    if _identifier_path(parts):
        names.append(".".join(parts))
    if root is not None:
        relative = os.path.relpath(absolute, os.path.abspath(root))
        pieces = relative.replace(os.sep, "/").split("/")
        if pieces and pieces[0] not in ("..", ""):
            pieces[-1] = stem
            if pieces[-1] == "__init__":
                pieces.pop()
            if pieces and pieces[0] == "src":
                pieces.pop(0)
            if _identifier_path(pieces) and ".".join(pieces) not in names:
                names.append(".".join(pieces))
    return names


def valid_summary(summary: Any) -> bool:
    """Whether ``summary`` has the shape :mod:`threadlint.summary` writes
    (a cache entry is untrusted input)."""
    try:
        if not isinstance(summary, dict) or summary.get("format") != 7:
            return False
        if not all(isinstance(cls, str) and _strings(hooks) for cls, hooks in summary["hooks"].items()):
            return False
        if not _strings(summary["threads"]) or not all(
                isinstance(cls, str) and isinstance(bases, list) and all(_strings(base) for base in bases)
                for cls, bases in summary["bases"].items()):
            return False
        if summary["touch"] is not None and not _strings(summary["touch"]):
            return False
        for unit, taken in summary["acquires"].items():
            if not isinstance(unit, str) or not _strings(taken):
                return False
        if not all(_place(item, 2) for item in summary["nestings"]):
            return False
        for item in summary["held"]:
            if not (isinstance(item, list) and len(item) == 5 and isinstance(item[0], str)
                    and _strings(item[1]) and _strings(item[2]) and _position(item[3:])):
                return False
        if not all(isinstance(d, str) for d in summary["defs"]):
            return False
        for unit, edges in summary["units"].items():
            if not isinstance(unit, str) or not all(isinstance(c, str) for c in edges["calls"]):
                return False
            if not all(isinstance(names, list) and all(isinstance(n, str) for n in names)
                       for names in edges["ext"]):
                return False
        for entry in summary["entries"]:
            if not (isinstance(entry["unit"], str) and isinstance(entry["kind"], str)
                    and isinstance(entry["label"], str) and isinstance(entry["line"], int)
                    and isinstance(entry["col"], int)):
                return False
        for entry in summary["foreign"]:
            if not (isinstance(entry["names"], list) and all(isinstance(n, str) for n in entry["names"])
                    and isinstance(entry["kind"], str) and isinstance(entry["label"], str)
                    and isinstance(entry["line"], int) and isinstance(entry["col"], int)):
                return False
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in summary["imports"].items()):
            return False
        return all(isinstance(k, str) and isinstance(v, list) and all(isinstance(m, str) for m in v)
                   for k, v in summary["classes"].items())
    except (KeyError, TypeError, AttributeError):
        return False


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _position(numbers: Any) -> bool:
    """``[line, column]``, both from 1."""
    return isinstance(numbers, list) and len(numbers) == 2 \
        and all(type(number) is int and number >= 1 for number in numbers)


def _place(item: Any, names: int) -> bool:
    """``[name, ..., line, column]`` with ``names`` strings first."""
    return (isinstance(item, list) and len(item) == names + 2
            and all(isinstance(name, str) for name in item[:names]) and _position(item[names:]))


@dataclass(frozen=True)
class EntrySpec:
    """A ``thread-entry`` setting: ``pkg.api:handler``, ``pkg.hooks:*``,
    ``pkg.api:Handler.*``."""

    module: str
    target: str  # "handler", "*", "Handler.*", "Handler.get"
    origin: str  # the configuration file that declares it

    @property
    def text(self) -> str:
        return f"{self.module}:{self.target}"


def parse_entry(text: str) -> Optional[Tuple[str, str]]:
    """``module:target`` of a ``thread-entry`` value, or None if malformed."""
    module, sep, target = text.partition(":")
    if not sep or not _identifier_path(module.split(".")):
        return None
    pieces = target.split(".")
    if target == "*" or (len(pieces) == 2 and pieces[1] == "*" and _identifier_path(pieces[:1])):
        return module, target
    if 1 <= len(pieces) <= 2 and _identifier_path(pieces):
        return module, target
    return None


class Index:
    """The project's call graph and thread reachability, from summaries."""

    def __init__(self, summaries: Mapping[str, Optional[Dict[str, Any]]],
                 names: Mapping[str, Sequence[str]], entries: Sequence[EntrySpec] = (),
                 def_line: Callable[[str, str], Tuple[int, int]] = lambda path, unit: (0, 0)) -> None:
        """``summaries``: each project file's summary (None: not parsed);
        ``names``: the module names of each file (:func:`module_names`);
        ``entries``: the ``thread-entry`` settings; ``def_line(path, unit)``:
        where a function is defined, for witnesses ((0, 0): not known)."""
        self.summaries = summaries
        self.def_line = def_line
        claimed: Dict[str, Set[str]] = {}
        for path, dotted in names.items():
            for name in dotted:
                claimed.setdefault(name, set()).add(path)
        #: Module name -> file, for the names exactly one file claims.
        self.module_of: Dict[str, str] = {name: next(iter(paths)) for name, paths in claimed.items()
                                          if len(paths) == 1}
        #: File -> the name it is shown by (its first unambiguous one).
        self.name_of: Dict[str, str] = {}
        for path, dotted in names.items():
            for name in dotted:
                if self.module_of.get(name) == path:
                    self.name_of[path] = name
                    break
        self.entries = list(entries)
        self._defs = {path: set(summary["defs"]) for path, summary in summaries.items() if summary}
        #: Files whose summary a resolution needed but that were not parsed.
        self.missing: Set[str] = set()
        self.parent: Dict[Node, Optional[Node]] = {}
        self.root_of: Dict[Node, Root] = {}
        self._reach()
        self._acquired_memo: Dict[Node, Dict[str, Node]] = {}
        #: Every nesting of module-level locks in the project.
        self.nestings: List[LockEdge] = self._nestings()
        #: (outer, inner, path, line, inverted) of each nesting, for pictures.
        self.inverted: Set[Tuple[str, str]] = set()
        self.inversions: List[Tuple[LockEdge, LockEdge]] = self._inversions()
        self.lock_edges: List[Tuple[str, str, str, int, bool]] = [
            (e.outer, e.inner, e.path, e.line, (e.outer, e.inner) in self.inverted) for e in self.nestings]

    # -- names -------------------------------------------------------------------
    def qualified(self, node: Node) -> str:
        path, unit = node
        module = self.name_of.get(path, os.path.splitext(os.path.basename(path))[0])
        return f"{module}.{unit}"

    def _absolute(self, path: str, name: str) -> Optional[str]:
        """``name`` with a relative import's dots resolved from ``path``."""
        if not name.startswith("."):
            return name
        dots = len(name) - len(name.lstrip("."))
        rest = name[dots:]
        module = self.name_of.get(path)
        if module is None:
            return None
        package = module.split(".") if os.path.basename(path) == "__init__.py" \
            else module.split(".")[:-1]
        if dots - 1 > len(package) or (dots - 1 == len(package) and not rest):
            return None
        base = package[:len(package) - (dots - 1)]
        return ".".join(base + ([rest] if rest else []))

    def resolve(self, path: str, name: str, depth: int = 0, ask: bool = True) -> Optional[Node]:
        """The project function ``name`` (as imported in ``path``) is. A
        module with no summary is asked for (``missing``) when ``ask``."""
        absolute = self._absolute(path, name)
        if absolute is None or depth > _MAX_REEXPORTS:
            return None
        parts = absolute.split(".")
        for split in range(len(parts) - 1, 0, -1):
            target = self.module_of.get(".".join(parts[:split]))
            if target is None:
                continue
            remainder = parts[split:]
            summary = self.summaries.get(target)
            if summary is None:
                if ask:
                    self.missing.add(target)
                return None
            unit = ".".join(remainder)
            if unit in self._defs.get(target, ()):
                return target, unit
            imported = summary["imports"].get(remainder[0])
            if imported is not None:
                return self.resolve(target, ".".join([imported, *remainder[1:]]), depth + 1, ask)
            return None
        return None

    def _resolve_any(self, path: str, names: Iterable[str], ask: bool = True) -> Optional[Node]:
        """The one function ``names`` resolve to (None when they resolve to
        none or to several)."""
        found = {node for node in (self.resolve(path, name, ask=ask) for name in names)
                 if node is not None}
        return found.pop() if len(found) == 1 else None

    def _handler_methods(self, path: str, names: Iterable[str]) -> List[Node]:
        """The per-request methods of the handler class ``names`` resolve to."""
        found: Set[Tuple[str, str]] = set()
        for name in names:
            absolute = self._absolute(path, name)
            if absolute is None or "." not in absolute:
                continue
            module, cls = absolute.rsplit(".", 1)
            target = self.module_of.get(module)
            if target is None:
                continue
            summary = self.summaries.get(target)
            if summary is None:
                self.missing.add(target)
                continue
            if cls in summary["classes"]:
                found.add((target, cls))
        if len(found) != 1:
            return []
        target, cls = found.pop()
        methods = self.summaries[target]["classes"][cls]  # type: ignore[index]
        wanted = [m for m in methods if m in HANDLER_METHODS or m.startswith("do_")]
        return [(target, f"{cls}.{m}") for m in wanted if f"{cls}.{m}" in self._defs.get(target, ())]

    def _configured(self, spec: EntrySpec) -> List[Node]:
        target = self.module_of.get(spec.module)
        if target is None:
            return []
        if self.summaries.get(target) is None:
            self.missing.add(target)
            return []
        defs = sorted(self._defs.get(target, ()))
        # `*` stands for the public functions (or methods): a framework calls
        # views and handlers, not the helpers behind them.
        if spec.target == "*":
            return [(target, unit) for unit in defs if "." not in unit and not unit.startswith("_")]
        if spec.target.endswith(".*"):
            prefix = spec.target[:-1]
            return [(target, unit) for unit in defs
                    if unit.startswith(prefix) and not unit[len(prefix):].startswith("_")]
        return [(target, spec.target)] if spec.target in defs else []

    # -- lock order --------------------------------------------------------------
    def lock_name(self, path: str, name: str) -> Optional[str]:
        """The qualified name of a module-level lock a summary names: its own
        (``_LOCK`` in ``app.cache``: ``app.cache._LOCK``) or imported
        (``@.cache._LOCK``), through re-exports."""
        if not name.startswith("@"):
            module = self.name_of.get(path)
            return f"{module}.{name}" if module is not None else None
        return self._reexported(self._absolute(path, name[1:]))

    def _reexported(self, qualified: Optional[str]) -> Optional[str]:
        """``qualified`` (``pkg.LOCK``) where it is defined, when a module of
        the project only imports it (``pkg/__init__.py``: ``from .a import
        LOCK``), as far as summaries say."""
        for _ in range(_MAX_REEXPORTS):
            if qualified is None or "." not in qualified:
                return qualified
            module, attr = qualified.rsplit(".", 1)
            target = self.module_of.get(module)
            summary = self.summaries.get(target) if target is not None else None
            if target is None or summary is None or attr not in summary["imports"]:
                return qualified
            qualified = self._absolute(target, summary["imports"][attr])
        return qualified

    def _callees(self, node: Node) -> List[Node]:
        """Every function ``node`` calls that resolves, with a lock held or not."""
        path, unit = node
        summary = self.summaries.get(path)
        if not summary:
            return []
        edges = summary["units"].get(unit) or {"calls": [], "ext": []}
        # A module the first pass did not parse imports no lock constructor:
        # it takes no module-level lock of its own, and is not asked for.
        found = [(path, callee) for callee in edges["calls"]]
        for names in edges["ext"]:
            target = self._resolve_any(path, names, ask=False)
            if target is not None:
                found.append(target)
        for caller, _locks, names, _line, _col in summary["held"]:
            if caller == unit:
                target = self._resolve_any(path, names, ask=False)
                if target is not None:
                    found.append(target)
        return found

    def acquired(self, node: Node, depth: int = 0) -> Dict[str, Node]:
        """The module-level locks ``node`` takes when called, itself or
        through calls, each with the function that takes it (the first found)."""
        memo = self._acquired_memo.get(node)
        if memo is not None:
            return memo
        found: Dict[str, Node] = {}
        self._acquired_memo[node] = found  # a cycle of calls adds nothing new
        path, unit = node
        summary = self.summaries.get(path)
        if not summary or depth > MAX_CALL_DEPTH:
            return found
        for name in summary["acquires"].get(unit, ()):
            lock = self.lock_name(path, name)
            if lock is not None:
                found.setdefault(lock, node)
        for callee in self._callees(node):
            for lock, where in self.acquired(callee, depth + 1).items():
                found.setdefault(lock, where)
        return found

    def _nestings(self) -> List[LockEdge]:
        edges: List[LockEdge] = []
        for path in sorted(self.summaries):
            summary = self.summaries[path]
            if not summary:
                continue
            for outer, inner, line, col in summary["nestings"]:
                held, taken = self.lock_name(path, outer), self.lock_name(path, inner)
                if held is not None and taken is not None and held != taken:
                    edges.append(LockEdge(held, taken, path, line, col))
            for _unit, locks, names, line, col in summary["held"]:
                target = self._resolve_any(path, names, ask=False)
                if target is None:
                    continue
                for lock, where in sorted(self.acquired(target).items()):
                    for name in locks:
                        held = self.lock_name(path, name)
                        if held is not None and held != lock:
                            edges.append(LockEdge(held, lock, path, line, col, target, where))
        return edges

    def _module_key(self, path: str) -> str:
        return self.name_of.get(path, path)

    def _inversions(self) -> List[Tuple[LockEdge, LockEdge]]:
        """Pairs of nestings in opposite orders that no file sees alone: one
        of them goes through a call into another module, or they are in two
        modules. Each pair once: the nesting in the module whose name sorts
        later first (there it is reported), within a module the later one."""
        first: Dict[Tuple[str, str], LockEdge] = {}
        for edge in sorted(self.nestings, key=lambda e: (self._module_key(e.path), e.line, e.col)):
            first.setdefault((edge.outer, edge.inner), edge)
        pairs = []
        for (outer, inner), edge in first.items():
            other = first.get((inner, outer))
            if other is None:
                continue
            crossing = edge.path != other.path or edge.via is not None or other.via is not None
            if not crossing:
                continue  # the file's own TL401 reports it
            self.inverted.update({(outer, inner), (inner, outer)})
            if (self._module_key(edge.path), edge.line) < (self._module_key(other.path), other.line):
                continue
            pairs.append((edge, other))
        return pairs

    def _inversion_finding(self, edge: LockEdge, other: LockEdge
                           ) -> Tuple[int, int, str, str, Tuple[Step, ...]]:
        def taking(nesting: LockEdge) -> str:
            via = f" (via `{self.qualified(nesting.via)}()`)" if nesting.via is not None else ""
            return f"acquires `{nesting.inner}`{via}"

        message = (f"{taking(edge)} while holding `{edge.outer}`; {other.path}:{other.line} "
                   f"{taking(other)} while holding `{other.outer}` (the opposite order): two threads "
                   f"doing both can deadlock, each holding the lock the other waits for; take "
                   f"`{edge.outer}` and `{edge.inner}` in one order everywhere")
        steps: List[Step] = [(other.path, other.line, other.col,
                              f"`{other.inner}` taken inside `{other.outer}`")]
        for nesting in (other, edge):
            if nesting.acquired is not None:
                path, unit = nesting.acquired
                steps.append((path, *self.def_line(path, unit),
                              f"`{nesting.inner}` acquired in `{self.qualified(nesting.acquired)}`"))
        return edge.line, edge.col, "TL401", message, tuple(steps)

    # -- reachability ------------------------------------------------------------
    def roots(self) -> List[Tuple[Root, Node, bool]]:
        """Each root, the function it starts, and whether that function is
        handed over from outside its file (a fact its file needs)."""
        roots: List[Tuple[Root, Node, bool]] = []
        for path in sorted(self.summaries):
            summary = self.summaries[path]
            if not summary:
                continue
            for entry in summary["entries"]:
                line, col = entry["line"], entry["col"]
                if not line:  # a Thread subclass's run(): where it is defined
                    line, col = self.def_line(path, entry["unit"])
                root = Root(entry["kind"], entry["label"], path, line, col)
                roots.append((root, (path, entry["unit"]), False))
            for entry in summary["foreign"]:
                root = Root(entry["kind"], entry["label"], path, entry["line"], entry["col"])
                if entry["kind"] == REQUEST_HANDLER:
                    for method in self._handler_methods(path, entry["names"]):
                        roots.append((root, method, True))
                    continue
                target = self._resolve_any(path, entry["names"])
                if target is not None:
                    roots.append((root, target, True))
        for spec in self.entries:
            root = Root("thread entry", spec.text, spec.origin)
            for node in self._configured(spec):
                roots.append((root, node, True))
        for path, cls in sorted(self.thread_classes()):
            summary = self.summaries[path]
            run = f"{cls}.run"
            if summary is None or cls in summary["threads"] or run not in self._defs.get(path, ()):
                continue  # a Thread subclass of its own module: its run() is that module's root
            line, col = self.def_line(path, run)
            note = f"`{cls}` subclasses `{self.thread_base.get((path, cls), '?')}`, a Thread"
            roots.append((Root("thread run()", run, path, line, col, note), (path, run), True))
        return roots

    def _resolve_class(self, path: str, names: Sequence[str]) -> Optional[Tuple[str, str]]:
        """The class of the project a base spelled ``names`` is (through
        re-exports); a module not parsed defines no Thread subclass (it
        names no thread constructor) and is not asked for."""
        for name in names:
            if name.startswith(":"):
                return path, name[1:]
            qualified = self._reexported(self._absolute(path, name))
            if qualified is None or "." not in qualified:
                continue
            module, cls = qualified.rsplit(".", 1)
            target = self.module_of.get(module)
            summary = self.summaries.get(target) if target is not None else None
            if target is not None and summary is not None and cls in summary["classes"]:
                return target, cls
        return None

    def thread_classes(self) -> Set[Tuple[str, str]]:
        """Every ``Thread`` subclass of the project, also through bases
        defined in other modules."""
        known = {(path, cls) for path, summary in self.summaries.items() if summary
                 for cls in summary["threads"]}
        #: The base through which each class found here is a Thread subclass.
        self.thread_base: Dict[Tuple[str, str], str] = {}
        changed = True
        while changed:
            changed = False
            for path, summary in self.summaries.items():
                if not summary:
                    continue
                for cls, bases in summary["bases"].items():
                    if (path, cls) in known:
                        continue
                    for base in bases:
                        found = self._resolve_class(path, base)
                        if found in known:
                            known.add((path, cls))
                            self.thread_base[(path, cls)] = self.qualified(found)
                            changed = True
                            break
        return known

    def _reach(self) -> None:
        """Breadth-first from every root, along calls made with no lock held;
        the first root to reach a function is its witness."""
        self.handed: Set[Node] = set()
        queue: Deque[Node] = deque()
        for root, node, handed in self.roots():
            if node in self.parent:
                continue
            self.parent[node] = None
            self.root_of[node] = root
            if handed:
                self.handed.add(node)
            queue.append(node)
        while queue:
            node = queue.popleft()
            path, unit = node
            summary = self.summaries.get(path)
            edges = summary["units"].get(unit) if summary else None
            if not edges:
                continue
            following = [(path, callee) for callee in edges["calls"]]
            for names in edges["ext"]:
                target = self._resolve_any(path, names)
                if target is not None:
                    following.append(target)
            for callee in following:
                if callee not in self.parent:
                    self.parent[callee] = node
                    self.root_of[callee] = self.root_of[node]
                    queue.append(callee)

    def path_to(self, node: Node) -> List[Node]:
        """The functions from the root's to ``node``."""
        chain = [node]
        while True:
            previous = self.parent.get(chain[-1])
            if previous is None:
                break
            chain.append(previous)
        return chain[::-1]

    def via(self, node: Node) -> str:
        """`` at app/main.py:40 -> app.worker.loop -> app.cache.put``."""
        root = self.root_of[node]
        chain = [self.qualified(step) for step in self.path_to(node)]
        if root.note and len(chain) == 1:
            return f" ({root.note})"
        if len(chain) > MAX_WITNESS:
            chain = chain[:2] + ["..."] + chain[-(MAX_WITNESS - 3):]
        where = f" in {root.where()}" if not root.line else f" at {root.where()}"
        return f"{where} -> {' -> '.join(chain)}"

    def contexts(self) -> Dict[str, Context]:
        """For each file, the functions of it that threads started elsewhere
        run: those a root in another file (or the configuration) hands over,
        and those called from another file's code that threads run."""
        found: Dict[str, List[Tuple[Tuple[str, str, str, str], Tuple[Step, ...]]]] = {}
        reached: Dict[str, Set[str]] = {}
        for path, unit in self.parent:
            reached.setdefault(path, set()).add(unit)
        for node, previous in self.parent.items():
            path, unit = node
            if unit.startswith("#"):
                continue
            crossing = node in self.handed if previous is None else previous[0] != path
            if not crossing or not self._may_matter(path, reached[path]):
                continue
            root = self.root_of[node]
            entry = (unit, root.kind, root.label, self.via(node))
            found.setdefault(path, []).append((entry, tuple(self.witness(node))))
        contexts = {}
        for path, pairs in found.items():
            pairs.sort()
            contexts[path] = Context(tuple(entry for entry, _ in pairs),
                                     tuple(witness for _, witness in pairs))
        for edge, other in self.inversions:
            current = contexts.get(edge.path, Context())
            contexts[edge.path] = Context(current.entries, current.witnesses,
                                          findings=(*current.findings, self._inversion_finding(edge, other)))
        for path, hooks in sorted(self.start_hooks().items()):
            current = contexts.get(path, Context())
            contexts[path] = Context(current.entries, current.witnesses, findings=current.findings,
                                     before_start=tuple(sorted(hooks)))
        return contexts

    def start_hooks(self) -> Dict[str, Set[str]]:
        """For each file, its methods that a ``start()`` of a base class in
        another module calls before the thread starts (the base's hooks,
        overridden here)."""
        hooks: Dict[Tuple[str, str], Set[str]] = {}
        for path, summary in self.summaries.items():
            if summary:
                for cls, names in summary["hooks"].items():
                    hooks[(path, cls)] = set(names)
        if not hooks:
            return {}
        found: Dict[str, Set[str]] = {}
        for path, summary in self.summaries.items():
            if not summary:
                continue
            for cls in summary["bases"]:
                inherited = self._inherited_hooks(path, cls, hooks, 0)
                defs = self._defs.get(path, ())
                mine = {f"{cls}.{hook}" for hook in inherited if f"{cls}.{hook}" in defs}
                if mine:
                    found.setdefault(path, set()).update(mine)
        return found

    def _inherited_hooks(self, path: str, cls: str, hooks: Dict[Tuple[str, str], Set[str]],
                         depth: int) -> Set[str]:
        """The hooks of the bases of ``cls`` defined in other modules, and of theirs."""
        summary = self.summaries.get(path)
        if not summary or depth > _MAX_REEXPORTS:
            return set()
        found: Set[str] = set()
        for base in summary["bases"].get(cls, ()):
            target = self._resolve_class(path, base)
            if target is None:
                continue
            if target[0] != path:
                found |= hooks.get(target, set())
            found |= self._inherited_hooks(target[0], target[1], hooks, depth + 1)
        return found

    def _may_matter(self, path: str, units: Set[str]) -> bool:
        """Whether a function of ``path`` that threads reach could hold a
        finding of a rule about thread code (``touch`` in the summary; not
        known: it could)."""
        summary = self.summaries.get(path)
        touch = summary.get("touch") if summary else None
        return touch is None or not units.isdisjoint(touch)

    def witness(self, node: Node) -> List[Step]:
        """The witness path as locations: the root's, then each function's file."""
        root = self.root_of[node]
        steps = [(root.path, root.line, root.col, f"{root.kind} '{root.label}'")]
        steps += [(path, *self.def_line(path, unit), self.qualified((path, unit)))
                  for path, unit in self.path_to(node)]
        return steps


def build(summaries: Dict[str, Optional[Dict[str, Any]]], names: Mapping[str, Sequence[str]],
          entries: Sequence[EntrySpec],
          summarize: Callable[[List[str]], Mapping[str, Optional[Dict[str, Any]]]],
          def_line: Callable[[str, str], Tuple[int, int]] = lambda path, unit: (0, 0),
          mentions: Optional[Callable[[Set[str]], Set[str]]] = None,
          max_rounds: int = 32) -> Index:
    """The index of ``summaries``; the files it needs but that were not
    parsed (the prefilter saw nothing for a file's own rules in them) are
    summarised by ``summarize`` (parsed, once each), and the index built
    again, until it needs nothing new. ``mentions(words)``: the files not
    parsed that mention one of ``words`` (a subclass of a Thread subclass of
    another module names its base, and needs no thread import)."""
    tried: Set[str] = set()
    index = Index(summaries, names, entries, def_line)
    for _ in range(max_rounds):
        missing = set(index.missing)
        if mentions is not None:
            missing |= mentions({cls for _path, cls in index.thread_classes()})
        wanted = sorted(missing - tried)
        if not wanted:
            break
        tried.update(wanted)
        summaries.update(summarize(wanted))
        index = Index(summaries, names, entries, def_line)
    return index


_DEF = re.compile(r"^([ \t]*)(?:async[ \t]+)?def[ \t]+(\w+)\b", re.MULTILINE)
_CLASS = re.compile(r"^class[ \t]+(\w+)\b", re.MULTILINE)


def def_line(text: str, unit: str) -> Tuple[int, int]:
    """Where ``unit`` (``f`` or ``Cls.m``) is defined in the module ``text``,
    found by its ``def`` line (a witness's hint: (0, 0) when not found)."""
    cls, _, name = unit.rpartition(".")
    start, end = 0, len(text)
    if cls:
        found = next((m for m in _CLASS.finditer(text) if m.group(1) == cls), None)
        if found is None:
            return 0, 0
        start = text.find("\n", found.end()) + 1 or len(text)
        after = re.search(r"^\S", text[start:], re.MULTILINE)
        end = start + after.start() if after else len(text)
    for match in _DEF.finditer(text, start, end):
        if match.group(2) == name and (bool(match.group(1)) == bool(cls)):
            return text.count("\n", 0, match.start()) + 1, len(match.group(1)) + 1
    return 0, 0
