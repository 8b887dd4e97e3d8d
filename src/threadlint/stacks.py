"""Running a function on a thread of its own, for its stack.

A thread starts at recursion depth 0 with a stack of the size asked for: the
engine parses and analyses deep code on one with a large stack (see
``threadlint.engine``), and CPython's verdict on a deep file is confirmed on
one, where it cannot depend on how deep its caller is (``threadlint.verdict``).
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, List, Optional, TypeVar, cast

_T = TypeVar("_T")


def on_thread(function: Callable[[], _T], *, name: str, stack_bytes: int,
              recursion_limit: Optional[int] = None) -> _T:
    """``function()`` on a new thread named ``name`` with a stack of
    ``stack_bytes`` (and, while it runs, at least ``recursion_limit``); what
    it raises is raised here. Where no such thread can be made (the platform,
    or a process memory limit), on this one."""
    outcome: List[Any] = []

    def run() -> None:
        try:
            outcome.append((True, function()))
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            outcome.append((False, error))

    try:
        previous = threading.stack_size(stack_bytes)
    except (ValueError, RuntimeError):  # a platform that sets no thread stack size
        return function()
    limit = sys.getrecursionlimit()
    if recursion_limit is not None and recursion_limit > limit:
        sys.setrecursionlimit(recursion_limit)  # before the thread runs
    try:
        thread = threading.Thread(target=run, name=name, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # "can't start new thread"
            threading.stack_size(previous)
            sys.setrecursionlimit(limit)
            return function()
        threading.stack_size(previous)
        thread.join()
    finally:
        threading.stack_size(previous)
        sys.setrecursionlimit(limit)
    ok, value = outcome[0]
    if not ok:
        raise value
    return cast(_T, value)


def on_thread_named(name: str) -> bool:
    return threading.current_thread().name == name
