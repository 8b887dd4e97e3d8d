"""Reading files and linting them: cache, process pool, crash containment.

The parent reads every file (cheap) and answers what it can from the cache;
the rest is linted in child processes, never in the parent: one process
taking the files in turn (``-j 1``, or too few files to pay for more), or a
pool of them. Each file has a time budget (``file-timeout``) and each child a
memory limit (``max-memory``), so that no input can crash, hang or exhaust
the run: a child that dies or overruns is replaced, the file that killed or
stalled it is reported by name, and every other file's findings stay.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import stat
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Deque, Dict, Iterable, List, Optional, Sequence, Tuple

from threadlint.cache import Cache, cache_key, source_digest
from threadlint.discovery import STDIN
from threadlint.findings import FileError, LintResult
from threadlint.project import Context
from threadlint.settings import Settings

if TYPE_CHECKING:  # the pool's modules are imported when a pool is made
    from concurrent.futures import Future, ProcessPoolExecutor

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

#: Below this many files to lint, starting workers costs more than it saves.
MIN_FILES_FOR_POOL = 16
BATCH_SIZE = 8
BATCH_BYTES = 64_000
#: What the parent adds to a file's budget before it kills a child that has
#: not answered (the child's own timer, where there is one, fires first).
GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Task:
    index: int
    path: str  # as displayed
    source: bytes
    #: What whole-project analysis found about the file (threadlint.project).
    context: Optional[Context] = None


def read_source(path: str) -> bytes:
    if path == STDIN:
        if sys.stdin is None:
            raise OSError(errno.EBADF, "standard input is closed")
        return sys.stdin.buffer.read()
    if not stat.S_ISREG(os.stat(path).st_mode):
        # Opening a FIFO blocks and a device may never end: only files are linted.
        raise OSError(errno.EINVAL, "not a regular file")
    with open(path, "rb") as handle:
        return handle.read()


#: Linux's prctl option: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1
#: Seconds between two looks of a worker's watchdog at its parent.
WATCH_INTERVAL = 0.5


#: Windows: OpenProcess's right to query a process, and a running process's exit code.
_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
_STILL_ACTIVE = 259


def _alive(pid: int) -> bool:
    if sys.platform == "win32":
        # os.kill(pid, 0) would send Ctrl-C (CTRL_C_EVENT is 0) to the group.
        return _alive_on_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: it exists
    return True


def _alive_on_windows(pid: int) -> bool:
    """Whether ``pid`` runs; when Windows cannot be asked, assume it does
    (the worker then ends when its pipe to the parent closes)."""
    try:
        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == _STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    except Exception:  # noqa: BLE001 - no ctypes.windll, no kernel32: cannot tell
        return True


def _libc() -> Optional[ctypes.CDLL]:
    """The C library of this process where it can be loaded by name (Linux);
    None elsewhere (on Windows ``CDLL(None)`` raises TypeError) or on failure."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None)
    except Exception:  # noqa: BLE001 - any failure only costs an optimisation
        return None


def _die_with_parent(parent: int) -> None:
    """In a worker, first thing: make sure it never outlives threadlint.

    On Linux the kernel kills it when its parent dies (``PR_SET_PDEATHSIG``;
    the pool is made and shut down by one thread, the one that runs
    :func:`run`, so "parent" is that thread). Everywhere, a watchdog thread
    exits the worker when its parent process changes (it was re-parented) or
    threadlint's process ``parent`` is gone (a forkserver's child), within
    :data:`WATCH_INTERVAL`.
    """
    libc = _libc()
    if libc is not None:
        try:
            libc.prctl(_PR_SET_PDEATHSIG, getattr(signal, "SIGKILL", 9), 0, 0, 0)
        except Exception:  # noqa: BLE001 - no prctl: the watchdog does it
            pass
    watched = os.getppid()
    if not _alive(parent):  # died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, watched), name="threadlint-watchdog",
                     daemon=True).start()


def _watch(parent: int, watched: int) -> None:  # pragma: no cover - in workers
    while True:
        time.sleep(WATCH_INTERVAL)
        if os.getppid() != watched or not _alive(parent):
            os._exit(1)


def write_atomically(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash never leaves it half-written
    (reports written with ``--output-file``; fixes go through
    :mod:`threadlint.fixwrite`, which also keeps links, owners and modes)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".threadlint-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:  # a new file: what open() would give it
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        try:
            os.chmod(temp, mode)
        except OSError:
            pass
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def lint_source(path: str, source: bytes, settings: Settings, fix: bool = False,
                context: Optional[Context] = None) -> LintResult:
    """The engine, imported on first use: a run answered from the cache never
    needs libcst."""
    from threadlint.engine import lint_source as lint

    return lint(path, source, settings, fix=fix, context=context)


#: After a file this large, a worker hands freed memory back to the system.
_TRIM_AFTER_BYTES = 100_000


def _release_memory() -> None:
    """Return freed heap to the OS (glibc only), so that what one large file
    left fragmented does not add to the next large file's peak. (The engine
    has already collected the file's garbage.)"""
    libc = _libc()
    if libc is None:
        return
    try:
        libc.malloc_trim(0)
    except Exception:  # noqa: BLE001 - not glibc: nothing to do
        pass


#: glibc's mallopt parameter: how many heaps threads may allocate from.
_M_ARENA_MAX = -8


def _limit_process(settings: Settings) -> None:
    """In a child, before it lints: the memory limit, and a timer whose
    signal ends the process (a file stuck in native code cannot be
    interrupted any other way)."""
    try:
        # The engine parses each file on a thread of its own (for its
        # stack); with a heap of its own too, memory freed in one heap is not
        # reused by the other (measured: peak 175 -> 260 MB on the stdlib's
        # threading files).
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 1)
    except (OSError, AttributeError, TypeError):  # not glibc
        pass
    if settings.max_memory and resource is not None and hasattr(resource, "RLIMIT_AS"):
        wanted = settings.max_memory * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            wanted = min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
        except (ValueError, OSError):  # a platform that refuses: no limit
            pass
    if hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    # Imported before any file's budget starts (libcst takes a while).
    import threadlint.engine  # noqa: F401


def _lint_in_budget(task: Task, settings: Settings, fix: bool) -> LintResult:
    timed = settings.file_timeout and hasattr(signal, "setitimer")
    if timed:
        signal.setitimer(signal.ITIMER_REAL, settings.file_timeout)
    try:
        return lint_source(task.path, task.source, settings, fix=fix, context=task.context)
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _lint_batch(batch: Sequence[Task], settings: Settings, fix: bool) -> List[LintResult]:
    results = []
    for task in batch:
        results.append(_lint_in_budget(task, settings, fix))
        if len(task.source) > _TRIM_AFTER_BYTES:
            _release_memory()
    return results


def _contained_child(conn, tasks: Sequence[Task], settings: Settings,
                     fix: bool, parent: int) -> None:  # pragma: no cover - runs in a child
    _die_with_parent(parent)
    _limit_process(settings)
    for task in tasks:
        result = _lint_in_budget(task, settings, fix)
        conn.send((task.index, result))
        if len(task.source) > _TRIM_AFTER_BYTES:
            _release_memory()
    conn.close()


def _failure(task: Task, settings: Settings, exitcode: Optional[int]) -> LintResult:
    """What to say about a file whose process died (``exitcode``) or, for
    None, stopped answering."""
    if exitcode is None or (hasattr(signal, "SIGALRM") and exitcode == -signal.SIGALRM):
        message = f"skipped: linting took longer than {settings.file_timeout:g} s (file-timeout)"
    else:
        how = f"signal {-exitcode}" if exitcode < 0 else f"exit status {exitcode}"
        message = f"skipped: the parser crashed its process ({how}) on this file"
        if settings.max_memory and exitcode in _OUT_OF_MEMORY_SIGNALS:
            message += f"; it may have run out of memory (max-memory is {settings.max_memory} MB)"
    return LintResult(task.path, errors=[FileError(task.path, message)])


_OUT_OF_MEMORY_SIGNALS = {-getattr(signal, name) for name in ("SIGABRT", "SIGSEGV", "SIGBUS", "SIGKILL")
                          if hasattr(signal, name)}


def _preload() -> None:
    """Where children are forked, import the engine (and libcst) here, once:
    the children of every later pass start with it."""
    import multiprocessing

    if multiprocessing.get_start_method() == "fork":
        import threadlint.engine  # noqa: F401


def _run_contained(tasks: Sequence[Task], settings: Settings, fix: bool,
                   preload: bool = False) -> Dict[int, LintResult]:
    """Lint ``tasks`` in order in one child process; when it dies or
    overruns a file's budget, name that file and go on in a new child.
    ``preload``: the run will start more children (whole-project analysis
    lints in several passes): where children are forked, import the engine
    here once, so that none of them imports libcst again."""
    results: Dict[int, LintResult] = {}
    pending: Deque[Task] = deque(tasks)
    budget = settings.file_timeout + GRACE_SECONDS if settings.file_timeout else None
    import multiprocessing

    context = multiprocessing.get_context()
    if preload and tasks:
        _preload()
    while pending:
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_contained_child, args=(sender, list(pending), settings, fix,
                                                                    os.getpid()),
                                  daemon=True)
        process.start()
        sender.close()
        done = False
        try:
            while pending:
                task = pending.popleft()
                if not receiver.poll(budget):
                    results[task.index] = _failure(task, settings, None)
                    break
                try:
                    index, result = receiver.recv()
                except (EOFError, OSError):  # the child died on this file
                    process.join(5.0)
                    results[task.index] = _failure(task, settings, process.exitcode)
                    break
                results[index] = result
            else:
                done = True
        finally:
            if not done and process.is_alive():
                process.kill()
            process.join()
            receiver.close()
    return results


def _triage(tasks: Sequence[Task], settings: Settings, fix: bool) -> Tuple[Dict[int, LintResult], List[Task]]:
    """The results of the tasks that need no parse (see
    :mod:`threadlint.triage`), and the tasks that do. A task whose triage
    fails for any reason is left to the contained child, which reports it."""
    from threadlint.triage import triage

    results: Dict[int, LintResult] = {}
    rest: List[Task] = []
    for task in tasks:
        if task.context is not None and (task.context.entries or task.context.force
                                         or task.context.findings or task.context.before_start):
            rest.append(task)  # to be parsed whatever the prefilter says
            continue
        try:
            result = triage(task.path, task.source, settings, fix)
        except Exception:  # noqa: BLE001 - the child judges it again, contained
            result = None
        if result is None:
            rest.append(task)
        else:
            results[task.index] = result
    return results, rest


class Workers:
    """The pool of one invocation: whole-project analysis lints in several
    passes, and a pool kept from one pass to the next spares each a fork of
    its workers and their import of libcst. ``close()`` ends it."""

    def __init__(self) -> None:
        self._pool: Optional[ProcessPoolExecutor] = None

    def take(self) -> Optional[ProcessPoolExecutor]:
        pool, self._pool = self._pool, None
        return pool

    def keep(self, pool: ProcessPoolExecutor) -> None:
        if self._pool is not None and self._pool is not pool:
            self._pool.shutdown(wait=True)
        self._pool = pool

    def close(self) -> None:
        pool = self.take()
        if pool is not None:
            pool.shutdown(wait=True)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        try:
            process.kill()
        except (OSError, AttributeError):
            pass


def _batches(tasks: List[Task]) -> List[List[Task]]:
    """Largest files first, in batches of similar total size, so that no
    worker is left with one big file while the other has nothing to do."""
    batches: List[List[Task]] = []
    current: List[Task] = []
    size = 0
    for task in sorted(tasks, key=lambda t: len(t.source), reverse=True):
        current.append(task)
        size += len(task.source)
        if len(current) >= BATCH_SIZE or size >= BATCH_BYTES:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


def _ready() -> None:
    """A task that only makes the pool start its workers."""


def _pool(jobs: int, settings: Settings) -> ProcessPoolExecutor:
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker,
                               initargs=(os.getpid(), settings))


def _start_worker(parent: int, settings: Settings) -> None:  # pragma: no cover - in workers
    """A pool worker's first steps: die with threadlint, then take the limits."""
    _die_with_parent(parent)
    _limit_process(settings)


def _forked_pool(jobs: int, settings: Settings) -> Optional[ProcessPoolExecutor]:
    """A pool whose workers are forked now, while the parent holds no file.

    A forked worker shares its parent's pages, and they count in its resident
    size: forked after the parent has read every file, each worker carries
    all their bytes too (stdlib, 2 workers: peaks 192 and 170 MB, against
    162 and 136 MB forked early). Where processes are not forked, a worker
    starts empty anyway and the pool is made when needed.
    """
    import multiprocessing

    if multiprocessing.get_start_method() != "fork":
        return None
    pool = _pool(jobs, settings)
    try:
        for _ in range(jobs):
            pool.submit(_ready)  # forks a worker (all of them, from Python 3.11)
    except Exception:  # noqa: BLE001 - _run_pool makes its own pool then
        pool.shutdown(wait=False, cancel_futures=True)
        return None
    return pool


def _run_pool(tasks: List[Task], settings: Settings, fix: bool, jobs: int,
              first_pool: Optional[ProcessPoolExecutor] = None,
              workers: Optional[Workers] = None) -> Dict[int, LintResult]:
    """Lint ``tasks`` in a pool; with ``workers``, the pool that served them
    well is kept there for the next pass instead of being shut down."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    results: Dict[int, LintResult] = {}
    queue: Deque[List[Task]] = deque(_batches(tasks))
    suspects: List[Task] = []
    while queue:
        pool = first_pool or _pool(jobs, settings)
        first_pool = None  # after a failure, a fresh pool
        inflight: Dict[Future, List[Task]] = {}
        failed = False
        try:
            while queue or inflight:
                while queue and len(inflight) < 2 * jobs:
                    batch = queue.popleft()
                    inflight[pool.submit(_lint_batch, batch, settings, fix)] = batch
                longest = max(len(batch) for batch in inflight.values())
                timeout = (settings.file_timeout * longest + GRACE_SECONDS) if settings.file_timeout else None
                done, _ = wait(inflight, timeout=timeout, return_when=FIRST_COMPLETED)
                if not done:
                    failed = True  # a worker hangs
                    break
                for future in done:
                    batch = inflight.pop(future)
                    try:
                        for task, result in zip(batch, future.result()):
                            results[task.index] = result
                    except BrokenProcessPool:
                        suspects.extend(batch)
                        failed = True
                if failed:
                    break
        finally:
            if failed:
                for batch in inflight.values():
                    suspects.extend(batch)
                _kill_workers(pool)
            if not failed and workers is not None and not queue:
                workers.keep(pool)
            else:
                pool.shutdown(wait=not failed, cancel_futures=True)
    # A worker died or overran on one of these: again, in turn, so that the
    # culprit is named and the others keep their results.
    results.update(_run_contained(sorted(suspects, key=lambda task: task.index), settings, fix))
    return results


def run(files: List[str], settings: Settings, fix: bool, stdin_name: str, jobs: int = 1,
        cache: Optional[Cache] = None, stdin_source: Optional[bytes] = None,
        contexts: Optional[Dict[str, Context]] = None,
        preload: bool = False, workers: Optional[Workers] = None) -> List[Tuple[LintResult, bool]]:
    """Lint ``files``; results in the same order, each with "was unreadable".
    ``stdin_source``: standard input's bytes, when the caller has read them;
    ``contexts``: what whole-project analysis found, by file; ``preload``:
    more runs will follow (see :func:`_run_contained`); ``workers``: where a
    pool is kept between the runs of one invocation."""
    results: List[Optional[Tuple[LintResult, bool]]] = [None] * len(files)
    # When a pool may be used, the first read keeps no bytes, so that the
    # workers can be forked before the parent holds every file (see
    # _forked_pool); the files left to lint are read again after the fork,
    # and what is linted and cached comes from that second read.
    may_pool = jobs > 1 and len(files) >= MIN_FILES_FOR_POOL
    todo, keys = _read(files, range(len(files)), settings, fix, stdin_name, cache, results,
                       keep=not may_pool, stdin_source=stdin_source, contexts=contexts)
    kept = workers.take() if workers is not None and todo else None
    pooled = jobs > 1 and (len(todo) >= MIN_FILES_FOR_POOL or kept is not None)
    if pooled and preload and kept is None:
        _preload()
    pool = kept or (_forked_pool(jobs, settings) if pooled else None)
    if may_pool:
        todo, keys = _reread(files, todo, settings, fix, stdin_name, cache, results, contexts)
    try:
        if pooled:
            linted = _run_pool(todo, settings, fix, jobs, pool, workers)
            pool = None  # kept by the workers, or shut down
        else:
            # What needs no parse is answered here; only the rest pays for a
            # child process and for importing the engine (and libcst) in it.
            linted, parse = _triage(todo, settings, fix)
            if parse:
                linted.update(_run_contained(parse, settings, fix, preload))
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    sources = {task.index: task for task in todo}
    for index, result in linted.items():
        results[index] = (result, False)
        if cache is not None and index in keys:
            task = sources[index]
            cache.put(keys[index], result, settings.enabled_codes(task.path), task.source, fix,
                      _options(settings, task.context))
    return [r for r in results if r is not None]


def _read(files: List[str], indices: Iterable[int], settings: Settings, fix: bool,
          stdin_name: str, cache: Optional[Cache],
          results: List[Optional[Tuple[LintResult, bool]]], keep: bool = True,
          stdin_source: Optional[bytes] = None,
          contexts: Optional[Dict[str, Context]] = None) -> Tuple[List[Task], Dict[int, str]]:
    """Read ``files[i]`` for each index; fill ``results`` for the unreadable
    ones and for those the cache answers. Returns what is left to lint (with
    its bytes if ``keep``; standard input's are always kept, it cannot be read
    twice) and the cache key of each."""
    todo: List[Task] = []
    keys: Dict[int, str] = {}
    for index in indices:
        path = files[index]
        display = stdin_name if path == STDIN else path
        try:
            source = stdin_source if path == STDIN and stdin_source is not None else read_source(path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            error = FileError(display, f"cannot read file: {reason}")
            results[index] = (LintResult(display, errors=[error]), True)
            continue
        context = contexts.get(path) if contexts else None
        if cache is not None:
            digest = source_digest(source)  # once: the key and the entry's check
            options = _options(settings, context)
            key = cache_key(source, settings.enabled_codes(display), fix, options, digest)
            hit = cache.get(key, display, settings.enabled_codes(display), source, fix, options, digest)
            if hit is not None and not (fix and any(f.fixable for f in hit.findings)):
                results[index] = (hit, False)
                continue
            keys[index] = key
        todo.append(Task(index, display, source if keep or path == STDIN else b"", context))
    return todo, keys


def _options(settings: Settings, context: Optional[Context]) -> str:
    """What, besides the codes and the bytes, a cached result depends on."""
    return settings.options_key() + (context.key() if context is not None else "")


def _reread(files: List[str], first: List[Task], settings: Settings, fix: bool, stdin_name: str,
            cache: Optional[Cache], results: List[Optional[Tuple[LintResult, bool]]],
            contexts: Optional[Dict[str, Context]] = None) -> Tuple[List[Task], Dict[int, str]]:
    """The second read of what the first left to lint (standard input kept)."""
    stdin = [task for task in first if files[task.index] == STDIN]
    again, _ = _read(files, [task.index for task in first if files[task.index] != STDIN],
                     settings, fix, stdin_name, None, results, contexts=contexts)
    todo = sorted(again + stdin, key=lambda task: task.index)
    keys = {} if cache is None else {
        task.index: cache_key(task.source, settings.enabled_codes(task.path), fix,
                              _options(settings, task.context)) for task in todo}
    return todo, keys
