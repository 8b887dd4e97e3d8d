"""The semantic model: every fact rules read, computed before any rule judges.

Providers, by layer (each reads only those above it):

- :class:`~threadlint.model.names.Names` - scopes, bindings, imports,
  qualified names; functions and classes of the module (the walk).
- :class:`~threadlint.model.classes.Classes` - local bases, method lookup,
  class families, ``Thread`` subclasses.
- :class:`~threadlint.model.values.Values` - what an expression holds:
  threads, executors, locks (every binding agrees, or it is unknown).
- :class:`~threadlint.model.locks.Locks` - which locks are held where.
- :class:`~threadlint.model.threads.Threads` - thread entry points, the
  direct-call graph, reachability (with or without a lock on the way).
- :class:`~threadlint.model.flow.Flow` - def-use and expression roles.
- :class:`~threadlint.model.fates.Fates` - what happens to each thread and
  executor created (started, joined, escaped...).
- :class:`~threadlint.model.futures.Futures` - what becomes of each
  ``submit``/``map`` result (dropped, unused, kept) and whether the task
  handles its own errors.
- :class:`~threadlint.model.mutations.Mutations` - shared state changed in
  functions, with the locks held there.
- :class:`~threadlint.model.acquires.Acquires` - manual ``acquire()``/
  ``release()`` pairs and what protects them.
- :class:`~threadlint.model.local_locks.LocalLocks` - locks a function makes
  for itself, and how it uses them.
- :class:`~threadlint.model.attributes.Attributes` - every change of a
  ``self`` attribute, with the locks held there.
- :class:`~threadlint.model.objects.Objects` - classes used from several
  threads, and which of their code runs concurrently.
- :class:`~threadlint.model.checks.Checks` - a test on a container or
  attribute followed by the act it allows (check-then-act).
- :class:`~threadlint.model.lock_order.LockOrder` - which identified lock is
  taken while which is held, directly or through calls; re-entrancy.
- :class:`~threadlint.model.conditions.Conditions` - every wait and notify
  on a known condition variable, with the locks held and the loop around it.
- :class:`~threadlint.model.contracts.Contracts` - ``# guarded-by:`` and
  ``# requires:`` contracts (and prose ones), and the uses and calls they
  constrain.

The concurrency APIs all of them recognise are one table,
:mod:`threadlint.api`.
"""

from threadlint.model.acquires import Acquires
from threadlint.model.attributes import Attributes
from threadlint.model.checks import Checks
from threadlint.model.classes import Classes
from threadlint.model.conditions import Conditions
from threadlint.model.contracts import Contracts
from threadlint.model.core import Cursor, MissingFact, Model, Provider, closure
from threadlint.model.fates import Fates
from threadlint.model.flow import Flow
from threadlint.model.futures import Futures
from threadlint.model.local_locks import LocalLocks
from threadlint.model.lock_order import LockOrder
from threadlint.model.locks import Locks
from threadlint.model.mutations import Mutations
from threadlint.model.names import Names
from threadlint.model.objects import Objects
from threadlint.model.threads import Threads
from threadlint.model.values import Values

__all__ = [
    "Acquires", "Attributes", "Checks", "Classes", "Conditions", "Contracts", "Cursor",
    "Fates", "Flow", "Futures", "LocalLocks", "LockOrder", "Locks", "MissingFact", "Model",
    "Mutations", "Names", "Objects", "Provider", "Threads", "Values", "closure",
]
