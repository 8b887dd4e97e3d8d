"""Turning the paths a user named into the files to lint."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Set, Tuple

from threadlint.settings import Settings, fold_case

if TYPE_CHECKING:
    from pathspec import PathSpec

STDIN = "-"

#: Ignore files read in each directory walked; a later one wins over an
#: earlier one in the same directory (as ripgrep and ruff read them).
IGNORE_FILES = (".gitignore", ".ignore")


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
             settings_for: Optional[Callable[[str], Settings]] = None,
             stdin_filename: Optional[str] = None) -> Discovered:
    """Files to lint, spelled as the user spelled their paths, in a stable order.

    ``settings_for(directory)``, when given, is the settings of the files in
    that directory (the nearest configuration's); else ``settings`` is everyone's.

    Directories are walked for ``*.py`` with excluded directories pruned; a file
    named explicitly is linted whatever its suffix (and, unless
    ``force_exclude``, even when it matches an exclude pattern). With
    ``force_exclude``, standard input named ``stdin_filename`` is excluded
    like a file of that name (an editor sends every buffer).
    """
    found = Discovered()
    seen: Set[str] = set()
    ignores = IgnoreFiles(found.unreadable)
    for path in paths:
        if path == STDIN:
            if force_exclude and stdin_filename is not None and settings.is_excluded(stdin_filename):
                found.excluded_stdin = True
                continue
            found.files.append(STDIN)
            continue
        if os.path.isdir(path):
            candidates = _walk(path, settings, found.unreadable, ignores, settings_for)
        elif os.path.exists(path) or os.path.islink(path):
            if settings_for is not None:
                settings = settings_for(os.path.dirname(os.path.abspath(path)))
            if force_exclude and (settings.is_excluded(path) or (
                    settings.respect_gitignore and ignores.ignored_path(path))):
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


def _walk(top: str, settings: Settings, unreadable: List[Tuple[str, str]],
          ignores: IgnoreFiles, settings_for: Optional[Callable[[str], Settings]]) -> List[str]:
    def failed(error: OSError) -> None:
        unreadable.append((error.filename or top, error.strerror or str(error)))

    start = ignores.start(top)
    if settings.respect_gitignore and start != os.path.abspath(top) and ignores.ignored_path(top):
        # A directory named on the command line is linted even when the ignore
        # files above it ignore it (as a named file is): only those at or
        # below it apply.
        start = os.path.abspath(top)

    def skipped(path: str, is_dir: bool) -> bool:
        return settings.is_excluded(path) or (settings.respect_gitignore
                                              and ignores.ignored(path, is_dir, start))

    files = []
    for directory, dirnames, filenames in os.walk(top, onerror=failed):
        if settings_for is not None:
            settings = settings_for(directory)
        dirnames[:] = sorted(d for d in dirnames if not skipped(os.path.join(directory, d), True))
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                if not skipped(path, False):
                    files.append(path)
    return files


def git_work_tree(directory: str) -> Optional[str]:
    """The root of the git work tree holding ``directory`` (the nearest
    directory upwards with a ``.git``), or None outside one."""
    current = os.path.abspath(directory)
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


class IgnoreFiles:
    """``.gitignore`` and ``.ignore`` files, read once per directory.

    A file's patterns apply to its directory and below, relative to it, with
    git's rules (the last matching pattern wins, ``!`` re-includes, a trailing
    ``/`` matches directories only); a deeper file's verdict overrides a
    shallower one's. The files read are those from the root of the enclosing
    git work tree (or, outside one, from the directory named on the command
    line) down to each path. pathspec is imported only once such a file exists.
    """

    def __init__(self, unreadable: List[Tuple[str, str]]) -> None:
        self._specs: Dict[str, Optional[PathSpec]] = {}
        self._unreadable = unreadable

    def start(self, top: str) -> str:
        """Where the ignore files that apply under ``top`` begin."""
        absolute = os.path.abspath(top)
        return git_work_tree(absolute) or absolute

    def _spec(self, directory: str) -> Optional[PathSpec]:
        if directory in self._specs:
            return self._specs[directory]
        lines: List[str] = []
        found = False
        for name in IGNORE_FILES:
            path = os.path.join(directory, name)
            if not os.path.isfile(path):
                continue
            try:
                with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                    lines += [fold_case(line) for line in handle.read().splitlines()]
                found = True
            except OSError as exc:
                self._unreadable.append((path, exc.strerror or str(exc)))
        spec = None
        if found:
            from pathspec import GitIgnoreSpec

            spec = GitIgnoreSpec.from_lines(lines)
        self._specs[directory] = spec
        return spec

    def ignored(self, path: str, is_dir: bool, start: str) -> bool:
        """Whether the ignore files from ``start`` down to ``path``'s directory
        ignore ``path`` itself (its parent directories are not checked)."""
        absolute = os.path.abspath(path)
        parent = os.path.dirname(absolute)
        relative = os.path.relpath(parent, start)
        if relative.startswith(os.pardir):  # not below start: nothing applies
            return False
        parts = [] if relative == os.curdir else relative.split(os.sep)
        directory = start
        verdict: Optional[bool] = None
        for depth in range(len(parts) + 1):
            if depth:
                directory = os.path.join(directory, parts[depth - 1])
            spec = self._spec(directory)
            if spec is None:
                continue
            name = "/".join(parts[depth:] + [os.path.basename(absolute)])
            result = spec.check_file(fold_case(name) + ("/" if is_dir else ""))
            if result.include is not None:
                verdict = result.include
        return bool(verdict)

    def ignored_path(self, path: str) -> bool:
        """Whether ``path`` or a directory above it is ignored: for a file named
        on the command line under ``--force-exclude``."""
        absolute = os.path.abspath(path)
        start = self.start(os.path.dirname(absolute))
        current = absolute
        chain = []
        while current != start and os.path.dirname(current) != current:
            chain.append(current)
            current = os.path.dirname(current)
        return any(self.ignored(item, item != absolute or os.path.isdir(item), start)
                   for item in reversed(chain))
