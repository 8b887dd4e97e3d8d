"""Reading files and linting them; the one place that decides how work is spread."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import List, Tuple

from threadlint.discovery import STDIN
from threadlint.engine import lint_source
from threadlint.findings import FileError, LintResult
from threadlint.settings import Settings


def read_source(path: str) -> bytes:
    if path == STDIN:
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def lint_path(path: str, settings: Settings, fix: bool, display: str) -> Tuple[LintResult, bool]:
    """Lint one named file. Returns the result and whether the file was unreadable."""
    try:
        source = read_source(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return LintResult(display, errors=[FileError(display, f"cannot read file: {reason}")]), True
    return lint_source(display, source, settings, fix=fix), False


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


def run(files: List[str], settings: Settings, fix: bool, stdin_name: str) -> List[Tuple[LintResult, bool]]:
    results = []
    for path in files:
        display = stdin_name if path == STDIN else path
        results.append(lint_path(path, settings, fix, display))
    return results
