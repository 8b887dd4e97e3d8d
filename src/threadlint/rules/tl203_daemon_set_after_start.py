"""TL203 daemon-set-after-start."""

from __future__ import annotations

from typing import List, Optional, Set, Tuple

import libcst as cst

from threadlint.model.classes import Classes
from threadlint.model.fates import Fate, Fates
from threadlint.model.flow import ATTR_STORE, METHOD, Flow, Role, Site
from threadlint.rules.base import Rule, snippet

# (site of the receiver, node to report, the receiver expression)
_Event = Tuple[Site, cst.CSTNode, cst.BaseExpression]


class DaemonSetAfterStart(Rule):
    """## What it does
    Checks for `t.daemon = ...` or `t.setDaemon(...)` after `t.start()` on the
    same thread in the same function, where `t` is a local variable or a
    `self.<attr>` holding a `threading.Thread`, `threading.Timer`,
    `multiprocessing.Process`, a context's
    `get_context(...).Process` or a local subclass of them, and the `start()`
    runs before the daemon change on every path (it is earlier, in the same
    block or an enclosing one).

    ## Why is this bad?
    The daemon flag can only be changed before the thread starts: CPython
    raises `RuntimeError: cannot set daemon status of active thread` (and
    `multiprocessing` an `AssertionError`), so the line either crashes or,
    inside a broad `try`, silently leaves a non-daemon thread that blocks
    interpreter exit.

    ## Example
    ```python
    import threading

    poller = threading.Thread(target=poll_forever)
    poller.start()
    poller.daemon = True
    ```

    ## Use instead
    ```python
    import threading

    poller = threading.Thread(target=poll_forever, daemon=True)
    poller.start()
    ```

    ## Fix safety
    No fix. The daemon flag could move into the constructor (`daemon=True`)
    only when nothing between the constructor and the assignment depends on
    it, and the assignment raised `RuntimeError` at run time, so code after
    it never ran: whether the thread should be a daemon at all, or the
    assignment is dead code, is for the author to decide.

    ## Known limitations
    - Only one function at a time: a `start()` in one method and a
      `self.worker.daemon = True` in another are not compared, and neither are
      a `start()` and a daemon change on exclusive branches.
    - Silent when the name (or the `self` attribute) is assigned again
      between the `start()` and the daemon change, or, for an attribute, when
      a method of the class (which might assign it) is called in between.
    - Threads reached through containers, function parameters or aliases
      made outside the function are not followed; nor is `self.daemon = ...`
      in a thread subclass unless the method is called on an object created
      in the module. Subclasses that override `start()` are skipped.
    """

    code = "TL203"
    name = "daemon-set-after-start"
    summary = "the daemon flag of a thread is changed after `start()`"

    requires = (Fates,)

    def finish(self) -> None:
        fates, flow, classes = self.model[Fates], self.model[Flow], self.model[Classes]
        reported: Set[cst.CSTNode] = set()
        for definition, holders in fates.thread_holders().items():
            if _overrides_start(classes, holders):
                continue
            events: List[Tuple[Site, cst.BaseExpression]] = [
                (use.site, use.node) for use in flow.uses_of(definition)
                if use.site.unit is definition.site.unit]
            starts, changes = _classify(flow, events)
            for change_site, change_node, receiver in changes:
                for start_site, _, _ in starts:
                    if start_site.dominates(change_site) and not flow.defs_between(
                            definition, start_site.index, change_site.index):
                        self._report(change_node, receiver, holders, reported)
                        break
        for attr, holders in fates.thread_attrs().items():
            if _overrides_start(classes, holders):
                continue
            events = [(use.site, use.node) for use in flow.attr_uses_of(attr)]
            starts, changes = _classify(flow, events)
            for change_site, change_node, receiver in changes:
                for start_site, _, _ in starts:
                    if start_site.dominates(change_site) and not flow.attr_may_change(
                            attr, change_site.unit, start_site.index, change_site.index):
                        self._report(change_node, receiver, holders, reported)
                        break

    def _report(self, node: cst.CSTNode, receiver: cst.BaseExpression, fates: List[Fate],
                reported: Set[cst.CSTNode]) -> None:
        if node in reported:
            return
        reported.add(node)
        name = snippet(receiver)
        kinds = {fate.creation.kind for fate in fates}
        if kinds == {"process"}:
            failure = "which fails with AssertionError once the process is started"
        else:
            failure = "which raises RuntimeError once the thread is running"
        if "timer" in kinds:
            advice = f"set `{name}.daemon` before `{name}.start()`"
        else:
            advice = "set it before `start()`, e.g. pass `daemon=True` to the constructor"
        self.report(node, f"the daemon flag of `{name}` is changed after `{name}.start()`, "
                          f"{failure}: {advice}")


def _overrides_start(classes: Classes, fates: List[Fate]) -> bool:
    return any(fate.creation.ctor is not None
               and classes.overrides(fate.creation.ctor.local_class, "start")
               for fate in fates)


def _classify(flow: Flow, events: List[Tuple[Site, cst.BaseExpression]],
              ) -> Tuple[List[_Event], List[_Event]]:
    starts: List[_Event] = []
    changes: List[_Event] = []
    for site, node in events:
        role: Optional[Role] = flow.role_of(node)
        if role is None:
            continue
        if role.kind == METHOD and role.name == "start" and role.call is not None:
            starts.append((site, role.call, node))
        elif role.kind == METHOD and role.name == "setDaemon" and role.call is not None:
            changes.append((site, role.call, node))
        elif role.kind == ATTR_STORE and role.name == "daemon" and role.node is not None:
            changes.append((site, role.node, node))  # `t.daemon = ...`: the attribute
    return starts, changes
