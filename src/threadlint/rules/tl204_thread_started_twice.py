"""TL204 thread-started-twice."""

from __future__ import annotations

from typing import List, Optional, Set, Tuple

import libcst as cst

from threadlint.model.classes import Classes
from threadlint.model.fates import Fate, Fates
from threadlint.model.flow import METHOD, Def, Flow, Site
from threadlint.model.names import SelfAttr
from threadlint.rules.base import Rule, snippet


class ThreadStartedTwice(Rule):
    """## What it does
    Checks for `start()` called again on a thread object that was already
    started, with no new assignment in between: either twice in straight-line
    code of one function (the first `start()` runs before the second on
    every path), or once inside a loop body on a thread created before the
    loop. The thread is a local variable or a `self.<attr>` holding a
    `threading.Thread`, `threading.Timer`, `multiprocessing.Process`, a context's
    `get_context(...).Process` or a
    local subclass of them.

    ## Why is this bad?
    A thread object runs once. The second `start()` raises
    `RuntimeError: threads can only be started once` (an `AssertionError` for
    a process), even when the first run has long finished. A loop that
    restarts the same object fails on its second iteration.

    ## Example
    ```python
    import threading

    worker = threading.Thread(target=sync)
    for attempt in range(3):
        worker.start()
        worker.join()
    ```

    ## Use instead
    ```python
    import threading

    for attempt in range(3):
        worker = threading.Thread(target=sync)
        worker.start()
        worker.join()
    ```

    ## Known limitations
    - Starts on exclusive branches (`if`/`else`, `try`/`except`) are never
      compared, nor a start in a `try` body with one after the `try`; starts
      in different functions or methods are never compared either.
    - In a loop, only a `start()` directly in the loop body (a `with` block
      counts as direct) is reported, and not when the loop can leave or skip
      the rest of the iteration (`break`, `return`, `continue` before the
      start), when a `while` condition mentions the thread, or when the name
      is assigned anywhere inside the loop. A guard such as
      `if not t.is_alive(): t.start()` is therefore not reported.
    - For a `self.<attr>`, silent when the attribute is assigned, or any
      method of the class is called (it might assign it), between the two
      starts or anywhere in the loop.
    - Threads held in containers, parameters or globals are not followed,
      and subclasses that override `start()` are skipped.
    """

    code = "TL204"
    name = "thread-started-twice"
    summary = "`start()` is called again on a thread that was already started"

    requires = (Fates,)

    def finish(self) -> None:
        fates, flow, classes = self.model[Fates], self.model[Flow], self.model[Classes]
        reported: Set[cst.Call] = set()
        handles: List[_Handle] = []
        for definition, holders in fates.thread_holders().items():
            handles.append(_LocalHandle(flow, definition, holders))
        for attr, holders in fates.thread_attrs().items():
            handles.append(_AttrHandle(flow, attr, holders))
        for handle in handles:
            if any(fate.creation.ctor is not None
                   and classes.overrides(fate.creation.ctor.local_class, "start")
                   for fate in handle.fates):
                continue
            starts = sorted(handle.starts(), key=lambda event: event[0].index)
            noun = "process" if all(f.creation.kind == "process" for f in handle.fates) \
                else "thread"
            error = "AssertionError" if noun == "process" else "RuntimeError"
            for position, (site, call, receiver) in enumerate(starts):
                if call in reported:
                    continue
                name = snippet(receiver)
                if any(first.dominates(site) and not handle.rebound(site.unit, first.index, site.index)
                       for first, _, _ in starts[:position]):
                    reported.add(call)
                    self.report(
                        call,
                        f"`{name}.start()` is called again on a {noun} that was already started "
                        f"above, which raises {error}: a {noun} object runs only once, so "
                        f"create a new one before starting it again",
                    )
                elif _restarted_in_loop(flow, handle, site):
                    reported.add(call)
                    self.report(
                        call,
                        f"`{name}.start()` runs on every iteration of the loop, but `{name}` is "
                        f"created once, before the loop: the second iteration raises "
                        f"{error}; create the {noun} inside the loop",
                    )


_Start = Tuple[Site, cst.Call, cst.BaseExpression]


class _Handle:
    """A local binding or a ``self`` attribute holding threads, seen by this rule."""

    fates: List[Fate]

    def starts(self) -> List[_Start]:
        raise NotImplementedError

    def rebound(self, unit: cst.CSTNode, first: int, last: int) -> bool:
        """May the handle hold another object after rank ``first`` than before ``last``?"""
        raise NotImplementedError

    def made_inside(self, block: cst.CSTNode) -> bool:
        raise NotImplementedError

    def mentioned(self, unit: cst.CSTNode, first: int, last: int) -> bool:
        raise NotImplementedError


class _LocalHandle(_Handle):
    def __init__(self, flow: Flow, definition: Def, fates: List[Fate]) -> None:
        self.flow = flow
        self.definition = definition
        self.fates = fates

    def starts(self) -> List[_Start]:
        return [(use.site, _start_call(self.flow, use.node), use.node)
                for use in self.flow.uses_of(self.definition)
                if use.site.unit is self.definition.site.unit and _is_start(self.flow, use.node)]

    def rebound(self, unit: cst.CSTNode, first: int, last: int) -> bool:
        return self.flow.defs_between(self.definition, first, last)

    def made_inside(self, block: cst.CSTNode) -> bool:
        return block in self.definition.site.blocks

    def mentioned(self, unit: cst.CSTNode, first: int, last: int) -> bool:
        key = (self.definition.scope, self.definition.name)
        return any(first < use.site.index < last for use in self.flow.uses.get(key, ()))


class _AttrHandle(_Handle):
    def __init__(self, flow: Flow, attr: SelfAttr, fates: List[Fate]) -> None:
        self.flow = flow
        self.attr = attr
        self.fates = fates

    def starts(self) -> List[_Start]:
        return [(use.site, _start_call(self.flow, use.node), use.node)
                for use in self.flow.attr_uses_of(self.attr)
                if _is_start(self.flow, use.node)]

    def rebound(self, unit: cst.CSTNode, first: int, last: int) -> bool:
        return self.flow.attr_may_change(self.attr, unit, first, last)

    def made_inside(self, block: cst.CSTNode) -> bool:
        return False  # judged by rebound() over the loop's span

    def mentioned(self, unit: cst.CSTNode, first: int, last: int) -> bool:
        return any(use.site.unit is unit and first < use.site.index < last
                   for use in self.flow.attr_uses_of(self.attr))


def _is_start(flow: Flow, node: cst.CSTNode) -> bool:
    role = flow.role_of(node)
    return role is not None and role.kind == METHOD and role.name == "start"


def _restarted_in_loop(flow: Flow, handle: _Handle, start: Site) -> bool:
    loop_block = start.blocks[-1]
    loop = flow.loop_of_block.get(loop_block)
    if loop is None or handle.made_inside(loop_block):
        return False
    top, end = flow.block_span[loop_block]
    if handle.rebound(start.unit, top - 1, end + 1):
        return False
    for kind, site in flow.jumps:
        if not (top <= site.index <= end) or site.unit is not start.unit:
            continue
        innermost = _innermost_loop(flow, site.blocks)
        if kind == "return" and site.index > start.index:
            return False
        if kind == "break" and innermost is loop_block and site.index > start.index:
            return False
        if kind == "continue" and innermost is loop_block and site.index < start.index:
            return False
    if isinstance(loop, cst.While):
        first, last = flow.while_test_span.get(loop, (0, 0))
        if handle.mentioned(start.unit, first, last):
            return False
    return True


def _innermost_loop(flow: Flow, blocks: Tuple[cst.CSTNode, ...]) -> Optional[cst.CSTNode]:
    for block in reversed(blocks):
        if block in flow.loop_of_block:
            return block
    return None


def _start_call(flow: Flow, node: cst.CSTNode) -> cst.Call:
    role = flow.role_of(node)
    assert role is not None and role.call is not None  # filtered by _is_start
    return role.call
