"""TL311 guarded-by-violation."""

from __future__ import annotations

from typing import Dict, List, Optional

from threadlint.model.contracts import Contracts, GuardedBy, Use, satisfied
from threadlint.model.objects import Objects
from threadlint.rules.base import RELATED_LINE, Rule, snippet


class GuardedByViolation(Rule):
    """## What it does
    Checks the contract `# guarded-by: <lock>` written on the assignment of an
    attribute (`self._items = []  # guarded-by: self._lock`, in a method or
    as a class attribute) or of a module-level name (naming a module lock):
    every access outside construction, reads included, must hold that lock.
    Also reports, once, a contract that names a lock the class or module does
    not have.

    ## Why is this bad?
    The comment is the code's own statement of which lock protects the data;
    an access without it is a race the author already knew to avoid, and a
    contract naming a lock that does not exist protects nothing.

    ## Example
    ```python
    import threading

    class Inbox:
        def __init__(self):
            self._lock = threading.Lock()
            self._items = []  # guarded-by: self._lock

        def put(self, item):
            with self._lock:
                self._items.append(item)

        def peek(self):
            return self._items[-1]
    ```

    ## Use instead
    ```python
    import threading

    class Inbox:
        def __init__(self):
            self._lock = threading.Lock()
            self._items = []  # guarded-by: self._lock

        def put(self, item):
            with self._lock:
                self._items.append(item)

        def peek(self):
            with self._lock:
                return self._items[-1]
    ```

    ## Known limitations
    - The contract comment must end the line of an assignment to the attribute
      (`self.x = ...`, or `x = ...` in the class body or at module level).
      The lock is matched by its text: `self._lock` in the contract is
      `self._lock` held in the method (`with self._lock:`, an acquire region,
      a `# requires: self._lock` on the method).
    - Construction (`__init__` and what only it calls) is exempt, and so is a
      function every caller of which holds a lock (which lock is not checked).
    - Only `self.<attr>` inside the class's methods (and its subclasses') is
      followed; the attribute reached through another name is not.
    """

    code = "TL311"
    name = "guarded-by-violation"
    summary = "an attribute declared `# guarded-by: <lock>` is used without that lock"
    requires = (Contracts, Objects)

    def finish(self) -> None:
        contracts, objects = self.model[Contracts], self.model[Objects]
        by_name: Dict[str, List[GuardedBy]] = {}
        for contract in contracts.guarded.values():
            name = contract.target if isinstance(contract.target, str) else contract.target[1]
            by_name.setdefault(name, []).append(contract)
            if not contracts.lock_exists(contract):
                where = f"`{contract.target[0].name.value}`" if isinstance(contract.target, tuple) \
                    else "this module"
                self.report(contract.declaration,
                            f"`# guarded-by: {contract.lock}` names no lock of {where}: the "
                            f"contract protects nothing; name the lock that guards it")
        for use in contracts.uses:
            guard = _contract_of(use, by_name, objects)
            if guard is None or not contracts.lock_exists(guard) \
                    or objects.in_construction(use.unit) \
                    or satisfied(guard.lock, use.held) or objects.always_locked(use.unit):
                continue
            self.report(
                use.node,
                f"`{snippet(use.node)}` is used in `{self.names.unit_label(use.unit)}` without "
                f"`{guard.lock}`, which guards it (line {RELATED_LINE}: `# guarded-by: "
                f"{guard.lock}`): hold `{guard.lock}` here",
                related=[(guard.declaration, f"declared guarded by {guard.lock}")])


def _contract_of(use: Use, by_name: Dict[str, List[GuardedBy]],
                 objects: Objects) -> Optional[GuardedBy]:
    if isinstance(use.target, str):
        found = by_name.get(use.target, [])
        return next((c for c in found if isinstance(c.target, str)), None)
    cls, attr = use.target
    for contract in by_name.get(attr, []):
        if isinstance(contract.target, tuple) and objects.share_objects(contract.target[0], cls):
            return contract
    return None
