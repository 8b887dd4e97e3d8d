"""Resolved settings: which codes run on which file, what to exclude."""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from typing import FrozenSet, Iterable, Optional, Sequence, Tuple

from threadlint.catalog import rule_codes

DEFAULT_EXCLUDES: Tuple[str, ...] = (
    # version control
    ".git", ".git-rewrite", ".hg", ".svn", ".bzr",
    # virtual environments and installed packages
    ".venv", "venv", ".direnv", ".pyenv", "__pypackages__", "site-packages", ".tox", ".nox",
    ".pants.d", "node_modules",
    # build output
    "build", "dist", "_build", "buck-out", ".eggs", "*.egg-info",
    # caches
    "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".pytype", ".hypothesis",
    ".ipynb_checkpoints", ".threadlint_cache",
)

#: Whether the platform's file systems ignore case by default (Windows,
#: macOS): there ``Build`` and ``build`` name one directory, so a pattern
#: matches either spelling; elsewhere case counts.
CASE_INSENSITIVE = sys.platform in ("win32", "cygwin", "darwin")


def fold_case(text: str) -> str:
    """``text`` as the platform compares names: lower-cased where case is ignored."""
    return text.lower() if CASE_INSENSITIVE else text


def _fnmatch(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(fold_case(name), fold_case(pattern))


class SettingsError(ValueError):
    """A bad option or configuration value: reported on one line, exit 2."""


def _specificity(code: str, selectors: Iterable[str]) -> int:
    """Length of the longest selector matching ``code``; ALL counts 0; -1 for none."""
    best = -1
    for selector in selectors:
        if selector == "ALL":
            best = max(best, 0)
        elif code.startswith(selector):
            best = max(best, len(selector))
    return best


def is_code_selected(code: str, select: Iterable[str], ignore: Iterable[str],
                     inherited: Optional[FrozenSet[str]] = None) -> bool:
    """ruff's rule: the more specific of select and ignore wins; a tie ignores.

    A code neither selector names keeps its state from ``inherited``, the codes
    an earlier layer (the configuration file) enabled; none when that is None.
    """
    chosen = _specificity(code, select)
    dropped = _specificity(code, ignore)
    if chosen < 0 and dropped < 0:
        return inherited is not None and code in inherited
    return chosen > dropped


def glob_matches(path: str, pattern: str, root: str) -> bool:
    """Match ``pattern`` against ``path``'s name and its path relative to ``root``."""
    return matches_any(path, (pattern,), root)


def matches_any(path: str, patterns: Sequence[str], root: str) -> bool:
    """Whether any of ``patterns`` matches ``path`` (its name, its path relative
    to ``root``, or its absolute path); a directory pattern covers what is below."""
    names, paths = _compiled(tuple(patterns))
    name = os.path.basename(path.rstrip("/\\")) or path
    if names.match(fold_case(name)):
        return True
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute, root)
    except ValueError:  # another drive on Windows
        relative = absolute
    relative = fold_case(relative.replace(os.sep, "/"))
    absolute = fold_case(absolute.replace(os.sep, "/"))
    return bool(paths.match(relative) or paths.match(absolute))


@lru_cache(maxsize=256)
def _compiled(patterns: Tuple[str, ...]) -> Tuple[re.Pattern[str], re.Pattern[str]]:
    """``patterns`` as two regular expressions (one test per path instead of
    one per pattern; a walk asks for every directory): for a name, and for a
    path, where a pattern also covers what is below what it matches."""
    never = r"(?!)"
    names = [fnmatch.translate(fold_case(pattern)) for pattern in patterns]
    paths = []
    for pattern in patterns:
        pattern = fold_case(pattern.replace(os.sep, "/").rstrip("/"))
        paths += [fnmatch.translate(pattern), fnmatch.translate(pattern + "/*")]
    return (re.compile("|".join(f"(?:{p})" for p in names) or never),
            re.compile("|".join(f"(?:{p})" for p in paths) or never))


@dataclass(frozen=True)
class Settings:
    select: Tuple[str, ...] = ("ALL",)
    ignore: Tuple[str, ...] = ()
    extend_select: Tuple[str, ...] = ()
    exclude: Tuple[str, ...] = DEFAULT_EXCLUDES
    extend_exclude: Tuple[str, ...] = ()
    per_file_ignores: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    root: str = field(default_factory=os.getcwd)
    config_path: Optional[str] = None
    #: Codes enabled by the configuration file when the command line adjusts
    #: them (``--ignore``/``--extend-select`` without ``--select``); see
    #: :func:`is_code_selected`.
    inherited: Optional[FrozenSet[str]] = None
    #: Read lock contracts from names (``*_locked``) and docstrings ("must be
    #: called with X held") as well as from ``# requires:`` comments.
    contracts_from_prose: bool = True
    #: TL305's precision knob: the share of an attribute's changes that must
    #: hold a lock before the others count as inconsistent (0 < ratio <= 1).
    guarded_ratio: float = 2 / 3
    #: Files larger than this many bytes are skipped with an error (0: no
    #: limit): libcst needs hundreds of bytes of memory per byte of source.
    max_file_size: int = 2_000_000
    #: Seconds one file may take before it is skipped with an error (0: no limit).
    file_timeout: float = 60.0
    #: Megabytes of address space each linting process may take (0: no
    #: limit; where the platform has RLIMIT_AS).
    max_memory: int = 4096
    #: Skip what ``.gitignore`` and ``.ignore`` files ignore when walking directories.
    respect_gitignore: bool = True
    #: ``--unsafe-fixes``: ``--fix`` (and ``--diff``) apply unsafe fixes too.
    #: Not part of ``options_key``: it changes no finding, and a result with
    #: fixes applied is never cached.
    unsafe_fixes: bool = False
    #: Apply the excludes to files named explicitly too (``--force-exclude``).
    force_exclude: bool = False
    #: Whole-project analysis (``threadlint.project``): functions that threads
    #: started in other modules run are judged as thread code (``--no-project``).
    project: bool = True
    #: Functions that frameworks call from their own threads:
    #: ``"pkg.api:handler"``, ``"pkg.hooks:*"``, ``"pkg.api:Handler.*"``.
    thread_entry: Tuple[str, ...] = ()

    def options_key(self) -> str:
        """The settings rules read, for the cache key."""
        return (f"prose={self.contracts_from_prose} ratio={self.guarded_ratio!r}"
                + ("" if self.project else " single-file"))

    def enabled_codes(self, path: str) -> FrozenSet[str]:
        return _enabled_codes(self, path)

    def selected_codes(self) -> FrozenSet[str]:
        """The codes enabled before per-file-ignores."""
        return _base_codes(self)

    def is_excluded(self, path: str) -> bool:
        return matches_any(path, self.exclude + self.extend_exclude, self.root)


@lru_cache(maxsize=4096)
def _base_codes(settings: Settings) -> FrozenSet[str]:
    select = settings.select + settings.extend_select
    return frozenset(code for code in rule_codes()
                     if is_code_selected(code, select, settings.ignore, settings.inherited))


def _enabled_codes(settings: Settings, path: str) -> FrozenSet[str]:
    codes = _base_codes(settings)
    for pattern, ignored in settings.per_file_ignores:
        if glob_matches(path, pattern, settings.root):
            codes = frozenset(code for code in codes
                              if not any(code.startswith(p) or p == "ALL" for p in ignored))
    return codes


def validate_selectors(selectors: Iterable[str], where: str) -> Tuple[str, ...]:
    """Upper-case and check rule selectors; raise SettingsError on an unknown one."""
    codes = rule_codes()
    checked = []
    for raw in selectors:
        selector = raw.strip().upper()
        if not selector:
            continue
        if selector != "ALL" and not any(code.startswith(selector) for code in codes):
            raise SettingsError(f"{where}: unknown rule selector {raw.strip()!r} "
                                f"(expected a code or prefix such as TL1, TL101 or ALL)")
        checked.append(selector)
    return tuple(checked)


def validate_patterns(patterns: Iterable[str], where: str) -> None:
    """Refuse a path pattern that is empty, or only slashes (``""``, ``"/"``):
    it would match every path, silently excluding every file."""
    for pattern in patterns:
        if not pattern.replace(os.sep, "/").rstrip("/"):  # as matches_any reads it
            raise SettingsError(f"{where}: the pattern {pattern!r} would match every file "
                                "(name a directory or a glob such as 'build' or '*_pb2.py')")
