"""Turning the paths a user named into the files to lint."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List

from threadlint.settings import Settings

STDIN = "-"


@dataclass
class Discovered:
    files: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)


def discover(paths: List[str], settings: Settings, force_exclude: bool = False) -> Discovered:
    """Files to lint, spelled as the user spelled their paths, in a stable order.

    Directories are walked for ``*.py`` with excluded directories pruned; a file
    named explicitly is linted whatever its suffix (and, unless
    ``force_exclude``, even when it matches an exclude pattern).
    """
    found = Discovered()
    seen = set()
    for path in paths:
        if path == STDIN:
            found.files.append(STDIN)
            continue
        if os.path.isdir(path):
            for file in _walk(path, settings):
                if file not in seen:
                    seen.add(file)
                    found.files.append(file)
        elif os.path.exists(path) or os.path.islink(path):
            if force_exclude and settings.is_excluded(path):
                continue
            if path not in seen:
                seen.add(path)
                found.files.append(path)
        else:
            found.missing.append(path)
    return found


def _walk(top: str, settings: Settings) -> List[str]:
    files = []
    for directory, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames
                             if not settings.is_excluded(os.path.join(directory, d)))
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                if not settings.is_excluded(path):
                    files.append(path)
    return files
