"""TL203 daemon-set-after-start."""

from __future__ import annotations

from typing import List, Optional, Set, Tuple

import libcst as cst

from threadlint.analysis.lifecycle import (
    ATTR_STORE,
    METHOD,
    Fate,
    LifecycleCollector,
    LifecycleRuleMixin,
    Site,
)
from threadlint.rules.base import THREAD_NEEDS, Rule, snippet

# (site of the receiver, node to report, the receiver expression)
_Event = Tuple[Site, cst.CSTNode, cst.BaseExpression]


class DaemonSetAfterStart(LifecycleRuleMixin, Rule):
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
    poller = threading.Thread(target=poll_forever)
    poller.start()
    poller.daemon = True
    ```

    ## Use instead
    ```python
    poller = threading.Thread(target=poll_forever, daemon=True)
    poller.start()
    ```

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
    needs = THREAD_NEEDS
    summary = "the daemon flag of a thread is changed after `start()`"

    def judge(self, lifecycle: LifecycleCollector) -> None:
        reported: Set[cst.CSTNode] = set()
        for definition, fates in lifecycle.thread_holders().items():
            if _overrides_start(lifecycle, fates):
                continue
            events = [(use.site, use.node) for use in lifecycle.uses_of(definition)
                      if use.site.unit is definition.site.unit]
            starts, changes = _classify(lifecycle, events)
            for change_site, change_node, receiver in changes:
                for start_site, _, _ in starts:
                    if start_site.dominates(change_site) and not lifecycle.defs_between(
                            definition, start_site.index, change_site.index):
                        self._report(change_node, receiver, fates, reported)
                        break
        for attr, fates in lifecycle.thread_attrs().items():
            if _overrides_start(lifecycle, fates):
                continue
            events = [(use.site, use.node) for use in lifecycle.attr_uses_of(attr)]
            starts, changes = _classify(lifecycle, events)
            for change_site, change_node, receiver in changes:
                for start_site, _, _ in starts:
                    if start_site.dominates(change_site) and not lifecycle.attr_may_change(
                            attr, change_site.unit, start_site.index, change_site.index):
                        self._report(change_node, receiver, fates, reported)
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


def _overrides_start(lifecycle: LifecycleCollector, fates) -> bool:
    return any(fate.creation.ctor is not None
               and lifecycle.class_overrides(fate.creation.ctor.local_class, "start")
               for fate in fates)


def _classify(lifecycle: LifecycleCollector, events) -> Tuple[List[_Event], List[_Event]]:
    starts: List[_Event] = []
    changes: List[_Event] = []
    for site, node in events:
        role = lifecycle.role_of(node)
        if not role:
            continue
        if role[0] == METHOD and role[1] == "start":
            starts.append((site, role[2], node))
        elif role[0] == METHOD and role[1] == "setDaemon":
            changes.append((site, role[2], node))
        elif role[0] == ATTR_STORE and role[1] == "daemon":
            changes.append((site, _statement_target(role), node))
    return starts, changes


def _statement_target(role) -> cst.CSTNode:
    target: Optional[cst.CSTNode] = role[3] if len(role) > 3 else None
    return target if target is not None else role[2]
