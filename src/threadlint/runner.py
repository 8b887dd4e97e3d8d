"""Reading files and linting them: cache, process pool, crash containment.

The parent reads every file (cheap) and answers what it can from the cache;
the rest is linted in-process (``-j 1``, or too few files to pay for workers)
or in a process pool. A worker that dies (libcst's native parser can crash
its process on pathological input) or hangs never takes the run down: the
files it held are re-run one per process, and the file that kills or stalls
its own process is reported by name while every other file's findings stay.
"""

from __future__ import annotations

import ctypes
import errno
import multiprocessing
import os
import stat
import sys
import tempfile
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Deque, Dict, List, Optional, Sequence, Tuple

from threadlint.cache import Cache, cache_key
from threadlint.discovery import STDIN
from threadlint.findings import FileError, LintResult
from threadlint.settings import Settings

#: Below this many files to lint, starting workers costs more than it saves.
MIN_FILES_FOR_POOL = 16
BATCH_SIZE = 8
BATCH_BYTES = 64_000
#: Seconds one file may take before its worker is considered hung.
FILE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Task:
    index: int
    path: str  # as displayed
    source: bytes


def read_source(path: str) -> bytes:
    if path == STDIN:
        return sys.stdin.buffer.read()
    if not stat.S_ISREG(os.stat(path).st_mode):
        # Opening a FIFO blocks and a device may never end: only files are linted.
        raise OSError(errno.EINVAL, "not a regular file")
    with open(path, "rb") as handle:
        return handle.read()


def write_atomically(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash never leaves it half-written."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".threadlint-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.chmod(temp, os.stat(path).st_mode & 0o7777)
        except OSError:
            pass
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def lint_source(path: str, source: bytes, settings: Settings, fix: bool = False) -> LintResult:
    """The engine, imported on first use: a run answered from the cache never
    needs libcst."""
    from threadlint.engine import lint_source as lint

    return lint(path, source, settings, fix=fix)


#: After a file this large, a worker hands freed memory back to the system.
_TRIM_AFTER_BYTES = 100_000


def _release_memory() -> None:
    """Return freed heap to the OS (glibc only), so that what one large file
    left fragmented does not add to the next large file's peak. (The engine
    has already collected the file's garbage.)"""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _lint_batch(batch: Sequence[Task], settings: Settings, fix: bool) -> List[LintResult]:
    results = []
    for task in batch:
        results.append(lint_source(task.path, task.source, settings, fix=fix))
        if len(task.source) > _TRIM_AFTER_BYTES:
            _release_memory()
    return results


def _isolated_child(conn, task: Task, settings: Settings, fix: bool) -> None:  # pragma: no cover
    conn.send(lint_source(task.path, task.source, settings, fix=fix))
    conn.close()


def _run_isolated(task: Task, settings: Settings, fix: bool) -> LintResult:
    """Lint one file in a process of its own; name it if it crashes or hangs."""
    context = multiprocessing.get_context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_isolated_child, args=(sender, task, settings, fix), daemon=True)
    process.start()
    sender.close()
    result: Optional[LintResult] = None
    answered = receiver.poll(FILE_TIMEOUT)
    if answered:
        try:
            result = receiver.recv()
        except (EOFError, OSError):
            process.join(5.0)  # the pipe closed: the process is on its way out
    if process.is_alive() and result is None:
        process.kill()
        process.join()
        if not answered:
            return LintResult(task.path, errors=[FileError(
                task.path, f"skipped: linting took longer than {FILE_TIMEOUT:g} s")])
    process.join()
    if result is not None:
        return result
    code = process.exitcode
    how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
    return LintResult(task.path, errors=[FileError(
        task.path, f"skipped: the parser crashed its process ({how}) on this file")])


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


def _run_pool(tasks: List[Task], settings: Settings, fix: bool, jobs: int) -> Dict[int, LintResult]:
    results: Dict[int, LintResult] = {}
    queue: Deque[List[Task]] = deque(_batches(tasks))
    suspects: List[Task] = []
    while queue:
        pool = ProcessPoolExecutor(max_workers=jobs)
        inflight: Dict[Future, List[Task]] = {}
        failed = False
        try:
            while queue or inflight:
                while queue and len(inflight) < 2 * jobs:
                    batch = queue.popleft()
                    inflight[pool.submit(_lint_batch, batch, settings, fix)] = batch
                longest = max(len(batch) for batch in inflight.values())
                done, _ = wait(inflight, timeout=FILE_TIMEOUT * longest, return_when=FIRST_COMPLETED)
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
            pool.shutdown(wait=not failed, cancel_futures=True)
    for task in suspects:
        results[task.index] = _run_isolated(task, settings, fix)
    return results


def run(files: List[str], settings: Settings, fix: bool, stdin_name: str, jobs: int = 1,
        cache: Optional[Cache] = None) -> List[Tuple[LintResult, bool]]:
    """Lint ``files``; results in the same order, each with "was unreadable"."""
    results: List[Optional[Tuple[LintResult, bool]]] = [None] * len(files)
    todo: List[Task] = []
    keys: Dict[int, str] = {}
    for index, path in enumerate(files):
        display = stdin_name if path == STDIN else path
        try:
            source = read_source(path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            results[index] = (LintResult(display, errors=[FileError(display, f"cannot read file: {reason}")]), True)
            continue
        if cache is not None:
            key = cache_key(source, settings.enabled_codes(display), fix)
            hit = cache.get(key, display)
            if hit is not None and not (fix and any(f.fixable for f in hit.findings)):
                results[index] = (hit, False)
                continue
            keys[index] = key
        todo.append(Task(index, display, source))

    if jobs > 1 and len(todo) >= MIN_FILES_FOR_POOL:
        linted = _run_pool(todo, settings, fix, jobs)
    else:
        linted = {task.index: lint_source(task.path, task.source, settings, fix=fix) for task in todo}
    for index, result in linted.items():
        results[index] = (result, False)
        if cache is not None and index in keys:
            cache.put(keys[index], result)
    return [r for r in results if r is not None]
