"""Turning the paths a user named into the files to lint."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional, Set, Tuple

from threadlint.settings import Settings

STDIN = "-"


@dataclass
class Discovered:
    files: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    #: Directories that could not be listed, with the reason.
    unreadable: List[Tuple[str, str]] = field(default_factory=list)
    #: Standard input was named but is excluded (``--force-exclude``).
    excluded_stdin: bool = False


def _identity(path: str) -> str:
    """One key per file however it was spelled (``pkg/a.py``, ``./pkg/a.py``)."""
    return os.path.normcase(os.path.abspath(path))


def discover(paths: List[str], settings: Settings, force_exclude: bool = False,
             stdin_filename: Optional[str] = None) -> Discovered:
    """Files to lint, spelled as the user spelled their paths, in a stable order.

    Directories are walked for ``*.py`` with excluded directories pruned; a file
    named explicitly is linted whatever its suffix (and, unless
    ``force_exclude``, even when it matches an exclude pattern). With
    ``force_exclude``, standard input named ``stdin_filename`` is excluded
    like a file of that name (an editor sends every buffer).
    """
    found = Discovered()
    seen: Set[str] = set()
    for path in paths:
        if path == STDIN:
            if force_exclude and stdin_filename is not None and settings.is_excluded(stdin_filename):
                found.excluded_stdin = True
                continue
            found.files.append(STDIN)
            continue
        if os.path.isdir(path):
            candidates = _walk(path, settings, found.unreadable)
        elif os.path.exists(path) or os.path.islink(path):
            if force_exclude and settings.is_excluded(path):
                continue
            candidates = [path]
        else:
            found.missing.append(path)
            continue
        for file in candidates:
            key = _identity(file)
            if key not in seen:
                seen.add(key)
                found.files.append(file)
    return found


def _walk(top: str, settings: Settings, unreadable: List[Tuple[str, str]]) -> List[str]:
    def failed(error: OSError) -> None:
        unreadable.append((error.filename or top, error.strerror or str(error)))

    files = []
    for directory, dirnames, filenames in os.walk(top, onerror=failed):
        dirnames[:] = sorted(d for d in dirnames
                             if not settings.is_excluded(os.path.join(directory, d)))
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                if not settings.is_excluded(path):
                    files.append(path)
    return files
