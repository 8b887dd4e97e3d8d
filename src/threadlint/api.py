"""The concurrency APIs threadlint knows: one table, read by every provider
and by the prefilter.

Each entry is a qualified name as name resolution spells it (``import
threading as th; th.Thread`` resolves to ``threading.Thread``). The byte
prefilter derives from these tables which identifiers a file must contain for
a rule to find anything (``threadlint.prefilter.resolving``), so a name added
here is recognised everywhere at once.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Dict, FrozenSet, Mapping, NamedTuple, Tuple, TypeVar

from threadlint.prefilter import Needs, identifiers, resolving

_V = TypeVar("_V")


def _frozen(table: Dict[str, _V]) -> Mapping[str, _V]:
    """A read-only view: the tables are constants shared by every lint."""
    return MappingProxyType(table)


#: Constructors of thread-like objects and the kind of object they make.
THREAD_CONSTRUCTORS: Mapping[str, str] = _frozen({
    "threading.Thread": "thread",
    "threading.Timer": "timer",
    "multiprocessing.dummy.Process": "thread",
    "multiprocessing.Process": "process",
    "multiprocessing.context.Process": "process",
})

#: Calls returning a multiprocessing context, whose ``Process`` is a process.
MULTIPROCESSING_CONTEXTS: Tuple[str, ...] = (
    "multiprocessing.get_context", "multiprocessing.context.get_context")

#: Executors and the kind of worker they run.
EXECUTOR_CONSTRUCTORS: Mapping[str, str] = _frozen({
    "concurrent.futures.ThreadPoolExecutor": "thread",
    "concurrent.futures.thread.ThreadPoolExecutor": "thread",
    "concurrent.futures.ProcessPoolExecutor": "process",
    "concurrent.futures.process.ProcessPoolExecutor": "process",
})

#: Constructors of thread (and process) locks, conditions and semaphores.
THREAD_LOCK_CONSTRUCTORS: Mapping[str, str] = _frozen({
    "threading.Lock": "lock",
    "threading.RLock": "rlock",
    "threading.Condition": "condition",
    "threading.Semaphore": "semaphore",
    "threading.BoundedSemaphore": "semaphore",
    "_thread.allocate_lock": "lock",
    "multiprocessing.Lock": "lock",
    "multiprocessing.RLock": "rlock",
    "multiprocessing.Condition": "condition",
    "multiprocessing.Semaphore": "semaphore",
    "multiprocessing.BoundedSemaphore": "semaphore",
    "threading._allocate_lock": "lock",
    "threading._RLock": "rlock",
    "threading._PyRLock": "rlock",
    "threading._CRLock": "rlock",
    "_thread.allocate": "lock",
    "_thread.RLock": "rlock",
    "multiprocessing.synchronize.Lock": "lock",
    "multiprocessing.synchronize.RLock": "rlock",
    "multiprocessing.synchronize.Condition": "condition",
    "multiprocessing.synchronize.Semaphore": "semaphore",
    "multiprocessing.synchronize.BoundedSemaphore": "semaphore",
})

#: asyncio's locks: only meaningful with ``async with`` / ``await``.
ASYNC_LOCK_CONSTRUCTORS: Mapping[str, str] = _frozen({
    "asyncio.Lock": "lock",
    "asyncio.Condition": "condition",
    "asyncio.Semaphore": "semaphore",
    "asyncio.BoundedSemaphore": "semaphore",
    "asyncio.locks.Lock": "lock",
    "asyncio.locks.Condition": "condition",
    "asyncio.locks.Semaphore": "semaphore",
    "asyncio.locks.BoundedSemaphore": "semaphore",
})

ALL_LOCK_CONSTRUCTORS: Mapping[str, str] = _frozen({**THREAD_LOCK_CONSTRUCTORS,
                                                   **ASYNC_LOCK_CONSTRUCTORS})

#: logging's handler classes: ``Handler.acquire()``/``release()`` take and drop
#: the handler's own ``RLock`` (``self.lock``).
LOGGING_HANDLERS: FrozenSet[str] = frozenset({
    "logging.Handler", "logging.StreamHandler", "logging.FileHandler", "logging.NullHandler",
    "logging.handlers.BaseRotatingHandler", "logging.handlers.RotatingFileHandler",
    "logging.handlers.TimedRotatingFileHandler", "logging.handlers.WatchedFileHandler",
    "logging.handlers.SocketHandler", "logging.handlers.DatagramHandler",
    "logging.handlers.SysLogHandler", "logging.handlers.SMTPHandler",
    "logging.handlers.NTEventLogHandler", "logging.handlers.HTTPHandler",
    "logging.handlers.BufferingHandler", "logging.handlers.MemoryHandler",
    "logging.handlers.QueueHandler",
})
#: Classes whose instances' ``acquire()``/``release()`` take and drop a lock:
#: the lock types (as annotations and in ``isinstance``) and logging's handlers.
LOCKING_CLASSES: FrozenSet[str] = frozenset(ALL_LOCK_CONSTRUCTORS) | LOGGING_HANDLERS
#: logging's loggers.
LOGGERS: FrozenSet[str] = frozenset({"logging.Logger", "logging.RootLogger"})
#: Calls that return an instance of a known class.
RETURNED_CLASS: Mapping[str, str] = _frozen({
    "logging.getLogger": "logging.Logger",
})
#: Module-level objects of a known class.
MODULE_OBJECTS: Mapping[str, str] = _frozen({
    "logging.root": "logging.RootLogger",
})
#: Attributes of instances of known classes holding a container of instances of
#: another: attribute -> (the owner's classes, the elements' class).
ELEMENT_ATTRIBUTES: Mapping[str, Tuple[FrozenSet[str], str]] = _frozen({
    "handlers": (LOGGERS, "logging.Handler"),
})

#: Methods of a lock a local lock may be used through without escaping.
LOCK_METHODS: FrozenSet[str] = frozenset({
    "acquire", "release", "locked", "notify", "notify_all", "notifyAll", "wait", "wait_for",
    "__enter__", "__exit__"})

# -- how a function is handed to a thread ----------------------------------------
#: ``functools.partial(f, ...)`` runs ``f``.
PARTIAL: Tuple[str, ...] = ("functools.partial",)
#: multiprocessing's thread pools: same API as the process Pool, but threads.
THREAD_POOLS: Tuple[str, ...] = (
    "multiprocessing.pool.ThreadPool", "multiprocessing.dummy.Pool",
    "multiprocessing.dummy.ThreadPool")
#: Methods of those pools that run a function in a worker thread.
POOL_METHODS: FrozenSet[str] = frozenset({
    "apply", "apply_async", "map", "map_async", "imap", "imap_unordered", "starmap",
    "starmap_async"})
#: Methods of a thread-pool executor that run a function in a worker thread.
EXECUTOR_METHODS: FrozenSet[str] = frozenset({"submit", "map"})
TO_THREAD: Tuple[str, ...] = ("asyncio.to_thread", "asyncio.threads.to_thread")
START_NEW_THREAD: Tuple[str, ...] = ("_thread.start_new_thread", "_thread.start_new")
#: Servers that handle each request in a thread of its own, by creating an
#: instance of the handler class they are given (``RequestHandlerClass``).
THREADING_SERVERS: Tuple[str, ...] = (
    "socketserver.ThreadingTCPServer", "socketserver.ThreadingUDPServer",
    "socketserver.ThreadingUnixStreamServer", "socketserver.ThreadingUnixDatagramServer",
    "http.server.ThreadingHTTPServer", "socketserver.ThreadingMixIn")
#: Test case classes: the runner calls their test methods one at a time, in
#: its own thread.
TEST_CASES: Tuple[str, ...] = (
    "unittest.TestCase", "unittest.case.TestCase", "unittest.IsolatedAsyncioTestCase",
    "unittest.async_case.IsolatedAsyncioTestCase", "django.test.TestCase",
    "django.test.SimpleTestCase", "django.test.TransactionTestCase")
#: ``threading.enumerate()``: every live thread.
THREAD_LISTINGS: Tuple[str, ...] = ("threading.enumerate",)
#: ``while threading.active_count() > 1:`` waits for every other thread.
THREAD_COUNTS: Tuple[str, ...] = ("threading.active_count", "threading.activeCount")
#: ``multiprocessing.active_children()`` joins the children that have finished.
PROCESS_REAPERS: Tuple[str, ...] = ("multiprocessing.active_children",)
#: Every qualified name whose call (or a method call on whose result) can make
#: a thread entry; ``loop.run_in_executor`` is the one reached without them.
ENTRY_QUALIFIED_NAMES: Tuple[str, ...] = (
    tuple(THREAD_CONSTRUCTORS) + tuple(EXECUTOR_CONSTRUCTORS) + THREAD_POOLS + TO_THREAD
    + START_NEW_THREAD + THREADING_SERVERS)

# -- objects that synchronise themselves ------------------------------------------
#: Types whose methods are safe to call from several threads (for the rules
#: about shared state: mutating one of these needs no lock).
THREAD_SAFE_TYPES: FrozenSet[str] = frozenset({
    "queue.Queue", "queue.LifoQueue", "queue.PriorityQueue", "queue.SimpleQueue",
    "multiprocessing.Queue", "multiprocessing.JoinableQueue", "multiprocessing.SimpleQueue",
    "threading.Event", "threading.Barrier", "threading.local",
    "concurrent.futures.Future",
    *THREAD_LOCK_CONSTRUCTORS, *EXECUTOR_CONSTRUCTORS,
})

# -- plain containers --------------------------------------------------------------
#: Calls that make a container, and which kind of container (for the rules
#: that judge mutating methods and item assignment).
CONTAINER_FACTORIES: Mapping[str, str] = _frozen({
    "builtins.list": "list",
    "builtins.dict": "dict",
    "builtins.set": "set",
    "builtins.bytearray": "bytearray",
    "collections.Counter": "counter",
    "collections.defaultdict": "dict",
    "collections.OrderedDict": "ordereddict",
    "collections.ChainMap": "dict",
    "weakref.WeakValueDictionary": "dict",
    "weakref.WeakKeyDictionary": "dict",
    "weakref.WeakSet": "set",
    "types.SimpleNamespace": "namespace",
    "argparse.Namespace": "namespace",
})

#: Calls that make a fresh container nobody else holds (for following the
#: threads put in it).
FRESH_CONTAINERS: FrozenSet[str] = frozenset({
    "builtins.list", "builtins.set", "builtins.dict", "collections.deque",
    "collections.OrderedDict", "collections.defaultdict", "weakref.WeakSet",
    "weakref.WeakValueDictionary",
})

# -- how a thread or executor is followed through containers and calls --------------
#: Container methods that put their argument into the container: name -> position.
ADD_METHODS: Mapping[str, int] = _frozen({"append": 0, "add": 0, "appendleft": 0, "insert": 1,
                                           "setdefault": 1})
#: Container methods returning one element.
ELEMENT_METHODS = frozenset({"pop", "popleft", "get", "__getitem__"})
#: Container methods returning a container of the same elements.
COPY_METHODS = frozenset({"copy", "values", "items"})
#: Container methods that neither leak nor return the elements.
CONTAINER_NEUTRAL = frozenset({
    "append", "add", "appendleft", "insert", "extend", "remove", "discard", "clear", "index",
    "count", "sort", "reverse", "keys", "setdefault", "update", "__len__", "__contains__",
})
#: Builtins that only look at their argument.
NEUTRAL_BUILTINS = frozenset({
    "print", "len", "repr", "str", "id", "isinstance", "hash", "type", "bool", "format",
    "callable", "hasattr", "getattr", "super", "vars", "dir",
})
#: Builtins returning a container holding the same elements as their first argument.
TRANSPARENT_BUILTINS = frozenset({
    "list", "tuple", "set", "frozenset", "sorted", "reversed", "iter", "enumerate",
})
#: Logging calls only format their arguments.
LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical",
                          "log"})
#: Methods of a started thread, process or executor that end its life cleanly.
HANDLING_METHODS = frozenset({"cancel", "terminate", "kill", "close", "shutdown", "__exit__"})


# -- containers, as the rules that judge shared state see them ----------------------
_LIST_METHODS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"})
_DICT_METHODS = frozenset({"update", "setdefault", "pop", "popitem", "clear"})
_SET_METHODS = frozenset({"add", "discard", "remove", "pop", "clear", "update", "difference_update",
                          "intersection_update", "symmetric_difference_update"})
#: Methods that change a container of each kind (kinds as CONTAINER_FACTORIES).
MUTATING_METHODS: Mapping[str, FrozenSet[str]] = _frozen({
    "list": _LIST_METHODS,
    "bytearray": _LIST_METHODS - {"sort"},
    "dict": _DICT_METHODS,
    "counter": _DICT_METHODS | {"subtract"},
    "ordereddict": _DICT_METHODS | {"move_to_end"},
    "set": _SET_METHODS,
})
#: Container kinds whose items can be assigned and deleted (``c[k] = v``).
ITEM_KINDS = frozenset({"list", "bytearray", "dict", "counter", "ordereddict"})

THREAD_LOCALS: Tuple[str, ...] = ("threading.local", "_thread._local", "_threading_local.local")

# -- what a file must contain (see threadlint.prefilter) -------------------------
#: Rules about threads made by ``Thread``, ``Timer``, ``Process`` (or local
#: subclasses, whose bases spell those names too).
THREAD_NEEDS: Needs = resolving(THREAD_CONSTRUCTORS)
#: Rules about code that threads run: every way a function is handed to a
#: thread; ``loop.run_in_executor(None, f)`` makes one with no import of a
#: threading module.
THREAD_ENTRY_NEEDS: Needs = resolving(ENTRY_QUALIFIED_NAMES) + ((rb"run_in_executor\b",),)
EXECUTOR_NEEDS: Needs = resolving(EXECUTOR_CONSTRUCTORS)
LOCK_NEEDS: Needs = resolving(ALL_LOCK_CONSTRUCTORS)

# -- what becomes of a task's exception (TL205) ------------------------------------
#: Exception classes whose handler catches everything a task raises (a bare
#: ``except:`` too).
BROAD_EXCEPTIONS: Tuple[str, ...] = ("builtins.Exception", "builtins.BaseException")
#: Files where a task's result can be dropped: an executor, and a call of one of
#: the methods whose result carries the task's exception (``submit``, ``map``).
EXECUTOR_RESULT_NEEDS: Needs = tuple(requirement + (identifiers(EXECUTOR_METHODS),)
                                     for requirement in EXECUTOR_NEEDS)


# -- threading's deprecated camelCase aliases (TL501) --------------------------------
#: Calls that return an existing thread (they make none, so no rule about a
#: thread's life applies to what they return).
CURRENT_THREAD: Tuple[str, ...] = (
    "threading.current_thread", "threading.currentThread", "threading.main_thread",
    "multiprocessing.dummy.current_process")
#: Constructors of threading's own conditions and events, whose classes carry the
#: camelCase aliases (multiprocessing's and asyncio's have none).
THREADING_SYNC_CONSTRUCTORS: Mapping[str, str] = _frozen({
    "threading.Condition": "condition",
    "threading.Event": "event",
    "multiprocessing.dummy.Condition": "condition",
    "multiprocessing.dummy.Event": "event",
})
#: How an alias's modern spelling is written: a method of another name, an
#: attribute read, or an attribute store.
RENAMED, GETTER, SETTER = "renamed", "getter", "setter"


class Alias(NamedTuple):
    """A deprecated (or removed) alias and its modern spelling."""

    modern: str
    form: str  # RENAMED, GETTER or SETTER
    removed: bool = False  # gone from threading (calling it raises AttributeError)


#: The camelCase methods of threading's objects, by kind of object (see
#: ``Values.threading_object``). Each does exactly what its modern spelling does,
#: after a DeprecationWarning (threading.py in 3.10+); ``isAlive`` was removed in 3.9.
DEPRECATED_METHODS: Mapping[str, Mapping[str, Alias]] = _frozen({
    "thread": _frozen({
        "setDaemon": Alias("daemon", SETTER),
        "isDaemon": Alias("daemon", GETTER),
        "setName": Alias("name", SETTER),
        "getName": Alias("name", GETTER),
        "isAlive": Alias("is_alive", RENAMED, removed=True),
    }),
    "condition": _frozen({"notifyAll": Alias("notify_all", RENAMED)}),
    "event": _frozen({"isSet": Alias("is_set", RENAMED)}),
})
#: threading's deprecated functions and their modern names.
DEPRECATED_FUNCTIONS: Mapping[str, Alias] = _frozen({
    "threading.currentThread": Alias("current_thread", RENAMED),
    "threading.activeCount": Alias("active_count", RENAMED),
})
#: Files that can hold one: an import of threading and the alias spelled out.
DEPRECATED_ALIAS_NEEDS: Needs = resolving(
    DEPRECATED_FUNCTIONS, (method for aliases in DEPRECATED_METHODS.values() for method in aliases))


# -- condition variables (TL403, TL404) ----------------------------------------------
#: Constructors of condition variables, and whose threads (or tasks) wait on
#: them: ``thread``, ``process`` or ``async``. Each takes the lock it is
#: built on as its first argument (``lock``), or makes its own.
CONDITION_CONSTRUCTORS: Mapping[str, str] = _frozen({
    "threading.Condition": "thread",
    "multiprocessing.dummy.Condition": "thread",
    "multiprocessing.Condition": "process",
    "multiprocessing.synchronize.Condition": "process",
    "asyncio.Condition": "async",
    "asyncio.locks.Condition": "async",
})
#: Methods of a condition that must be called with its lock held.
CONDITION_HELD_METHODS: FrozenSet[str] = frozenset({
    "wait", "wait_for", "notify", "notify_all", "notifyAll"})
#: Files that can hold a condition variable.
CONDITION_NEEDS: Needs = resolving(CONDITION_CONSTRUCTORS)
#: Context managers whose body is expected to raise: a call there fails on purpose.
RAISES_CONTEXTS: Tuple[str, ...] = ("pytest.raises",)
#: Methods of a test case that do the same (``with self.assertRaises(E):``).
TEST_CASE_RAISES: FrozenSet[str] = frozenset({"assertRaises", "assertRaisesRegex"})
