"""Acquires: ``L.acquire()`` statements and the releases that pair with them.

Fed by the engine's replay. For every ``L.acquire()`` used as a statement on
a lock-like object (:func:`~threadlint.model.locks.acquire_key`) it records a
:class:`Candidate`: the ``try`` that may protect it (the statement after it,
past harmless assignments, or every ``try`` around it, however deep in
``if``/``for``/``with`` blocks) and whether the statement after that ``try``
releases it. An acquire that ends a branch of an ``if`` (``if use_lock:
L.acquire()``) is judged by the statements after the ``if``. It also records which locks each
``finally:``/``except:`` body releases and which locks each function releases
anywhere, so a candidate can be asked whether it is *paired* (released in the
same function) and *protected* (released when something raises).

Acquires that are not critical sections are never candidates: an acquire
handed off (the code after it leaves the function or loop with the lock held,
or takes the same non-reentrant lock again, a lock used as a signal), an
acquire of a lock the same function creates, and an acquire released on the
very next statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence, Set, Tuple, Union, cast

import libcst as cst

from threadlint.api import ALL_LOCK_CONSTRUCTORS, LOGGING_HANDLERS
from threadlint.model.core import Model, Provider, Unit
from threadlint.model.locks import acquire_key, is_lockish_name, release_key, statement_releases
from threadlint.model.names import Names
from threadlint.model.syntax import core_identifier, expr_key, identifier_words, method_call, method_receiver
from threadlint.model.values import Values

# Any release-like call counts inside a `finally:` or `except:` (a helper such
# as `self._unlock()` may release the lock for us).
_RELEASE_WORDS = frozenset({"release", "unlock", "released", "unlocked"})
_ANY_RELEASE = "*"
_BROAD_HANDLERS = frozenset({"BaseException", "Exception"})
_LEAVING = (cst.Return, cst.Raise, cst.Break, cst.Continue)


@dataclass(frozen=True)
class Candidate:
    """An ``L.acquire()`` statement that brackets a critical section."""

    unit: Optional[Unit]
    call: cst.Call
    key: str
    next_try: Optional[cst.CSTNode]  # a `try` that may still make it safe
    release_after_try: bool  # the statement after that `try` releases the lock
    #: The ``try`` statements whose body, ``except:`` or ``else:`` holds the
    #: acquire (at any depth within the function), innermost last: their
    #: ``finally:`` runs however the code after the acquire fails.
    enclosing_tries: Tuple[cst.CSTNode, ...] = ()
    #: ``with L:`` works: False for an object whose ``acquire()`` takes a lock
    #: but that is no context manager (a ``logging.Handler``).
    supports_with: bool = True


class _Block(NamedTuple):
    """Where a block of statements sits, as far as an acquire in it cares."""

    tries: Tuple[cst.CSTNode, ...] = ()  # see Candidate.enclosing_tries
    #: For a branch of an ``if``: the statements of the block holding that
    #: ``if``, the ``if``'s index there and that block, so an acquire ending
    #: the branch is judged by what runs after the ``if``.
    after: Optional[Tuple[Sequence[cst.BaseStatement], int, _Block]] = None


_NO_CONTEXT = _Block()


class Acquires(Provider):
    """Manual ``acquire()``/``release()`` pairs of one module (fed)."""

    requires = (Names, Values)

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.names = model[Names]
        self.values = model[Values]
        self._cursor = model.cursor
        self.candidates: List[Candidate] = []
        #: (unit, lock key) for every release call in a unit.
        self.releases: Set[Tuple[Optional[cst.CSTNode], str]] = set()
        self._handlers: List[cst.CSTNode] = []  # open `finally:` and `except:` blocks
        self._released_in: Dict[cst.CSTNode, Set[str]] = {}
        self._contexts: Dict[cst.CSTNode, _Block] = {}  # blocks not yet visited

    def paired(self, candidate: Candidate) -> bool:
        """The function that acquires also releases the same lock expression."""
        return (candidate.unit, candidate.key) in self.releases

    # -- collecting ------------------------------------------------------------
    # Blocks are visited parents first: scanning a block registers, for each
    # block of its compound statements, where that block sits (_Block).
    def visit_Module(self, node: cst.Module) -> None:
        self._scan(node.body, _Block())

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self._scan(node.body, self._contexts.pop(node, _NO_CONTEXT))

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> None:
        # `if use_lock: lock.acquire()` on one line: the suite is its only statement.
        self._scan([cast(cst.BaseStatement, node)], self._contexts.pop(node, _NO_CONTEXT))

    def _register(self, stmt: cst.BaseStatement, statements: Sequence[cst.BaseStatement],
                  index: int, context: _Block) -> None:
        """Note where each block of the compound statement ``stmt`` sits."""
        contexts = self._contexts
        if isinstance(stmt, cst.If):
            branch = _Block(context.tries, (statements, index, context))
            current: cst.If = stmt
            while True:  # the `if`, its `elif`s and its `else`
                contexts[current.body] = branch
                orelse = current.orelse
                if isinstance(orelse, cst.If):
                    current = orelse
                    continue
                if isinstance(orelse, cst.Else):
                    contexts[orelse.body] = branch
                break
        elif isinstance(stmt, (cst.Try, cst.TryStar)):
            # Its `finally:` runs after the body, an `except:` or the `else:`.
            inside = _Block(context.tries + (stmt,))
            contexts[stmt.body] = inside
            for handler in stmt.handlers:
                contexts[handler.body] = inside
            if stmt.orelse is not None:
                contexts[stmt.orelse.body] = inside
            if stmt.finalbody is not None:
                contexts[stmt.finalbody.body] = _Block(context.tries)
        elif isinstance(stmt, (cst.For, cst.While, cst.With, cst.Match)):
            plain = _Block(context.tries)
            for block in _child_suites(stmt):
                contexts[block] = plain
        # A def or class starts a new unit: nothing carries over.

    # Which locks each `finally:`/`except:` body releases, for judging the
    # `try` that follows an acquire once the whole module has been seen.
    def _open(self, node: cst.CSTNode) -> None:
        self._handlers.append(node)
        self._released_in[node] = set()

    def _close(self, node: cst.CSTNode) -> None:
        if self._handlers and self._handlers[-1] is node:
            self._handlers.pop()

    def visit_Finally(self, node: cst.Finally) -> None:
        self._open(node)

    def leave_Finally(self, original_node: cst.Finally) -> None:
        self._close(original_node)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self._open(node)

    def leave_ExceptHandler(self, original_node: cst.ExceptHandler) -> None:
        self._close(original_node)

    def visit_ExceptStarHandler(self, node: cst.ExceptStarHandler) -> None:
        self._open(node)

    def leave_ExceptStarHandler(self, original_node: cst.ExceptStarHandler) -> None:
        self._close(original_node)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        key = release_key(node) if self._handlers or _mentions_release(func) else None
        if key is not None:
            self.releases.add((self._cursor.unit, key))
            for handler in self._handlers:
                self._released_in[handler].add(key)
        elif self._handlers:
            name = func.attr.value if isinstance(func, cst.Attribute) else \
                func.value if isinstance(func, cst.Name) else None
            if name is not None and _RELEASE_WORDS & set(identifier_words(name)):
                for handler in self._handlers:
                    self._released_in[handler].add(_ANY_RELEASE)

    def _scan(self, statements: Sequence[cst.BaseStatement], context: _Block) -> None:
        for index, stmt in enumerate(statements):
            if not isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
                self._register(stmt, statements, index, context)
                continue
            for position, small in enumerate(stmt.body):
                call = method_call(small.value, "acquire") \
                    if isinstance(small, cst.Expr) else None
                if call is None:
                    continue
                receiver = method_receiver(call)
                if acquire_key(self.values, call) is None or self._fresh_local(receiver):
                    continue
                key = expr_key(receiver)
                unit = self._cursor.unit
                reentrant = self.values.lock_kind(receiver) == "rlock"
                if _hands_off(statements[index + 1:], key, reentrant, False):
                    continue
                if position + 1 < len(stmt.body):
                    following = stmt.body[position + 1]
                    if not (isinstance(following, cst.Expr)
                            and self._releases(following.value, key)):
                        self.candidates.append(Candidate(unit, call, key, None, False,
                                                          context.tries,
                                                          self._supports_with(receiver)))
                    continue
                self._judge_following(call, key, reentrant, statements[index + 1:], context,
                                      self._supports_with(receiver))

    def _judge_following(self, call: cst.Call, key: str, reentrant: bool,
                         rest: Sequence[cst.BaseStatement], context: _Block,
                         supports_with: bool) -> None:
        unit = self._cursor.unit
        tries = context.tries
        skipped = False  # harmless statements run between the acquire and what follows
        while True:
            position = 0
            while position < len(rest) and _harmless(rest[position]):
                position += 1
            skipped = skipped or position > 0
            if position < len(rest) or context.after is None:
                break
            # The acquire ends a branch of an `if` (`if use_lock: lock.acquire()`):
            # what it protects is what runs after the `if`.
            statements, index, context = context.after
            rest = statements[index + 1:]
            if _hands_off(rest, key, reentrant, False):
                return
        if position >= len(rest):
            if not skipped:
                return  # the acquire ends its block: released elsewhere, by design
            self.candidates.append(Candidate(unit, call, key, None, False, tries, supports_with))
            return
        following = rest[position]
        if not skipped and _releases_first(following, key):
            return  # nothing runs in between
        if isinstance(following, (cst.Try, cst.TryStar)):
            after = rest[position + 1] if position + 1 < len(rest) else None
            release_after = after is not None and _releases_first(after, key)
            self.candidates.append(Candidate(unit, call, key, following, release_after, tries,
                                              supports_with))
            return
        self.candidates.append(Candidate(unit, call, key, None, False, tries, supports_with))

    def _supports_with(self, receiver: cst.BaseExpression) -> bool:
        """``with receiver:`` would take the lock: not so for a logging handler,
        nor for ``self`` of a local class with ``acquire`` and no ``__enter__``."""
        if self.values.instance_of(receiver, LOGGING_HANDLERS):
            return False
        cls = self.values.classes.self_class(receiver)
        return cls is None or self.values.classes.lookup(cls, "acquire") is None \
            or self.values.classes.lookup(cls, "__enter__") is not None

    def _fresh_local(self, receiver: cst.BaseExpression) -> bool:
        """A lock this very function creates (``lock = threading.Lock()``,
        ``sem = self.semtype(2)``): taken by hand it is a gate for the threads the
        function starts, or the subject of a test, not a critical section; if an
        exception escapes, the lock goes with the function."""
        if not isinstance(receiver, cst.Name):
            return False
        bindings = self.names.bindings(receiver)
        unit = self._cursor.unit
        if not bindings or unit is None:
            return False
        for binding in bindings:
            value = binding.value
            if binding.scope.node is not unit or binding.kind != "assign" \
                    or not isinstance(value, cst.Call):
                return False
            if self.values.lock_constructor(value, ALL_LOCK_CONSTRUCTORS) is None \
                    and not _lock_factory_name(value.func):
                return False
        return True

    @staticmethod
    def _releases(expr: cst.BaseExpression, key: str) -> bool:
        call = method_call(expr, "release")
        return call is not None and expr_key(method_receiver(call)) == key

    # -- queries ---------------------------------------------------------------
    def protected(self, candidate: Candidate) -> bool:
        """The ``try`` after (or around) the acquire releases the lock when it fails."""
        wanted = {candidate.key, _ANY_RELEASE}
        for outer in candidate.enclosing_tries:
            if isinstance(outer, (cst.Try, cst.TryStar)) and outer.finalbody is not None \
                    and self._released_in.get(outer.finalbody, set()) & wanted:
                return True  # `try: [if c:] L.acquire() ... finally: L.release()`
        node = candidate.next_try
        if not isinstance(node, (cst.Try, cst.TryStar)):
            return False
        if node.finalbody is not None and self._released_in.get(node.finalbody, set()) & wanted:
            return True
        if any(self._released_in.get(h, set()) & wanted for h in node.handlers):
            return True
        if candidate.release_after_try:
            return any(_broad(h) and not _leaves(h) for h in node.handlers)
        return False


_FACTORY_SUFFIXES = ("type", "class", "cls", "factory")
_LOOKUP_WORDS = frozenset({"get", "find", "lookup", "fetch", "current", "shared", "global"})


def _lock_factory_name(func: cst.BaseExpression) -> bool:
    """A callee named as a lock type: ``Lock``, ``self.locktype``, ``FileLock``,
    ``client.Semaphore``, ``allocate_lock`` (not ``get_lock``)."""
    name = core_identifier(func)
    if name is None:
        return False
    words = identifier_words(name)
    while words and words[-1] in _FACTORY_SUFFIXES:
        words.pop()
    if not words or words[0] in _LOOKUP_WORDS:
        return False
    last = words[-1]
    for suffix in _FACTORY_SUFFIXES:
        if last.endswith(suffix) and last != suffix:
            last = last[: -len(suffix)]
            break
    return is_lockish_name(last)


def _hands_off(statements: Sequence[cst.BaseStatement], key: str, reentrant: bool,
               in_loop: bool) -> bool:
    """Whether the code after an acquire treats the lock as a signal or hands it
    on rather than bracketing a critical section: it leaves the function or the
    loop (``return``, ``break``, ``continue``) with the lock still held, or waits
    on the same non-reentrant lock again, which only another thread's release
    can end. ``raise`` is not a hand-off: it is the very leak reported."""
    for stmt in statements:
        if key in statement_releases(stmt):
            return False  # the critical section ends here
        if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            for small in stmt.body:
                if isinstance(small, cst.Return) or \
                        (not in_loop and isinstance(small, (cst.Break, cst.Continue))):
                    return True
        elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            continue
        else:
            loop = in_loop or isinstance(stmt, (cst.For, cst.While))
            for block in _child_blocks(stmt):
                if _hands_off(block, key, reentrant, loop):
                    return True
        if not reentrant and key in statement_acquires_keys(stmt):
            return True
    return False


def statement_acquires_keys(stmt: cst.CSTNode) -> List[str]:
    """Receivers of ``X.acquire()`` statements, without judging lock-likeness."""
    keys = []
    if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
        for small in stmt.body:
            if isinstance(small, cst.Expr):
                call = method_call(small.value, "acquire")
                if call is not None:
                    keys.append(expr_key(method_receiver(call)))
    return keys


def _child_blocks(stmt: cst.CSTNode) -> List[Sequence[cst.BaseStatement]]:
    """Statement lists directly inside a compound statement."""
    return [suite.body if isinstance(suite, cst.IndentedBlock) else [cast(cst.BaseStatement, suite)]
            for suite in _child_suites(stmt)]


def _child_suites(stmt: cst.CSTNode) -> List[cst.BaseSuite]:
    """The blocks directly inside a compound statement."""
    suites: List[cst.BaseSuite] = []
    if isinstance(stmt, (cst.If, cst.For, cst.While, cst.With)):
        suites.append(stmt.body)
        orelse = getattr(stmt, "orelse", None)
        while isinstance(orelse, cst.If):  # elif chains
            suites.append(orelse.body)
            orelse = orelse.orelse
        if isinstance(orelse, cst.Else):
            suites.append(orelse.body)
    elif isinstance(stmt, (cst.Try, cst.TryStar)):
        suites.append(stmt.body)
        suites.extend(handler.body for handler in stmt.handlers)
        if stmt.orelse is not None:
            suites.append(stmt.orelse.body)
        if stmt.finalbody is not None:
            suites.append(stmt.finalbody.body)
    elif isinstance(stmt, cst.Match):
        suites.extend(case.body for case in stmt.cases)
    return suites


def _releases_first(stmt: cst.BaseStatement, key: str) -> bool:
    """``L.release()``, or ``if use_lock: L.release()`` (the branch starts with it)."""
    if key in statement_releases(stmt):
        return True
    if isinstance(stmt, cst.If):
        body = stmt.body
        first = body.body[0] if isinstance(body, cst.IndentedBlock) else body
        return key in statement_releases(first)
    return False


def _mentions_release(func: cst.BaseExpression) -> bool:
    name = core_identifier(func)
    return name is not None and "release" in name.lower()


def _harmless(stmt: cst.BaseStatement) -> bool:
    """``pass``, assignments of names and constants, and the acquiring of further
    locks: nothing that can reasonably raise before the `try`."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    for small in stmt.body:
        if isinstance(small, cst.Pass) or (isinstance(small, cst.Expr)
                                           and method_call(small.value, "acquire")):
            continue  # taking a second lock before the `try` that releases both
        if isinstance(small, cst.Assign) and _simple_value(small.value) \
                and all(_simple_target(t.target) for t in small.targets):
            continue
        return False
    return True


def _simple_value(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString, cst.Name)):
        return True
    if isinstance(expr, cst.UnaryOperation):
        return _simple_value(expr.expression)
    return False


def _simple_target(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Name):
        return True
    return isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name)


def _broad(handler: Union[cst.ExceptHandler, cst.ExceptStarHandler]) -> bool:
    kind = handler.type
    if kind is None:
        return True
    names = kind.elements if isinstance(kind, cst.Tuple) else [cst.Element(kind)]
    for element in names:
        value = element.value
        name = value.attr.value if isinstance(value, cst.Attribute) else \
            value.value if isinstance(value, cst.Name) else None
        if name in _BROAD_HANDLERS:
            return True
    return False


def _leaves(handler: Union[cst.ExceptHandler, cst.ExceptStarHandler]) -> bool:
    body = handler.body
    statements = body.body if isinstance(body, (cst.IndentedBlock, cst.SimpleStatementSuite)) else []
    for stmt in statements:
        smalls = stmt.body if isinstance(stmt, cst.SimpleStatementLine) else [stmt]
        if any(isinstance(s, _LEAVING) for s in smalls):
            return True
    return False
