"""A whole-project run around the per-file runs (:mod:`threadlint.project`).

1. The files named on the command line are linted as always; each result
   carries the file's summary.
2. The project's other files (under the project root, found as for the
   cache, with the same excludes) are read and looked up in the cache, and
   linted where that misses, only for their summaries: their findings are
   never reported (what ``pre-commit`` passes is a few changed files).
3. The index is built from the summaries; a file it needs but that was not
   parsed (no rule of its own had anything to look at) is parsed for its
   summary, once.
4. Each named file with functions that threads started elsewhere run is
   linted again with them (cached by its bytes and those facts), and that
   result replaces its first one.

Standard input (``--stdin-filename``) stands for the file of that name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from threadlint.cache import Cache
from threadlint.discovery import STDIN, discover
from threadlint.findings import LintResult
from threadlint.project import Context, EntrySpec, Index, build, def_line, module_names, parse_entry
from threadlint.runner import Workers, run
from threadlint.settings import Settings

Results = List[Tuple[LintResult, bool]]
#: How much of a file is searched for a function's ``def`` line (a witness's hint).
MAX_DEF_SEARCH = 4_000_000


@dataclass
class Project:
    """How to run the per-file passes of one whole-project run."""

    root: str
    settings: Settings  # the project's (thread-entry)
    settings_for: Callable[[str], Settings]
    directory_settings: Optional[Callable[[str], Settings]]
    stdin_name: str
    stdin_filename: Optional[str]
    stdin_source: Optional[bytes]
    jobs: int
    cache: Optional[Cache]
    #: The index of the last whole-project pass (for ``--graph``).
    index: Optional[Index] = None
    #: Where the pool of one pass is kept for the next.
    workers: Optional[Workers] = None


def _key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _display(path: str) -> str:
    """A discovered file as the run shows it: relative to the current
    directory when under it."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive (Windows)
        return absolute
    return absolute if relative.startswith("..") else relative


def entry_specs(settings: Settings) -> List[EntrySpec]:
    origin = _display(settings.config_path) if settings.config_path else "the configuration"
    specs = []
    for text in settings.thread_entry:
        parsed = parse_entry(text)
        if parsed is not None:
            specs.append(EntrySpec(parsed[0], parsed[1], origin))
    return specs


def _lint(project: Project, files: List[str], fix: bool,
          contexts: Optional[Dict[str, Context]] = None) -> Dict[str, LintResult]:
    """Results of ``files`` (``STDIN`` for standard input), by file, one run per settings."""
    groups: Dict[Settings, List[str]] = {}
    for file in files:
        named = project.stdin_filename if file == STDIN and project.stdin_filename else file
        groups.setdefault(project.settings_for(named), []).append(file)
    found: Dict[str, LintResult] = {}
    for group, members in groups.items():
        source = project.stdin_source if STDIN in members else None
        for file, (result, _unreadable) in zip(members, run(members, group, fix, project.stdin_name,
                                                             project.jobs, project.cache, source,
                                                             contexts, preload=True,
                                                             workers=project.workers)):
            found[file] = result
    return found


def whole_project(project: Project, linted: Sequence[str], results: Results, fix: bool) -> Results:
    """``results`` (of the named files ``linted``) with what the whole project
    says about them."""
    # Every file of the project by the path the run shows, and as the runner
    # names it (standard input stands for its file name).
    runner_name: Dict[str, str] = {}
    summaries: Dict[str, Optional[Dict[str, Any]]] = {}
    seen: Set[str] = set()
    for file, (result, _unreadable) in zip(linted, results):
        shown = project.stdin_filename if file == STDIN else file
        if shown is None or _key(shown) in seen:
            continue
        seen.add(_key(shown))
        runner_name[shown] = file
        summaries[shown] = result.summary
    texts: Dict[str, str] = {}

    def text_of(shown: str) -> str:
        """A file's text, read once (for ``def`` lines and word searches)."""
        if shown not in texts:
            try:
                if runner_name.get(shown) == STDIN:
                    data = project.stdin_source or b""
                else:
                    with open(shown, "rb") as handle:
                        data = handle.read(MAX_DEF_SEARCH)
                texts[shown] = data.decode("utf-8", "replace")
            except OSError:
                texts[shown] = ""
        return texts[shown]

    named = set(runner_name)
    everything = _other_files(project, seen)
    # Every other file can be summarised when the index asks for it (a named
    # file calls into it); those that may lead to a named file are now.
    for file in everything:
        runner_name[file] = file
        summaries[file] = None
    others = _relevant(everything, list(named), project, text_of)
    if others:
        only = Context(summary_only=True)
        for file, result in _lint(project, others, False, {file: only for file in others}).items():
            summaries[file] = result.summary
    names = {shown: module_names(shown, project.root) for shown in runner_name}

    def summarize(wanted: List[str]) -> Mapping[str, Optional[Dict[str, Any]]]:
        files = {runner_name[shown]: shown for shown in wanted if shown in runner_name}
        # Only the summary: a named file among them is linted again below
        # if threads reach it (that is why the index asks for it).
        forced = {file: Context(force=True, summary_only=True) for file in files}
        return {files[file]: result.summary
                for file, result in _lint(project, list(files), False, forced).items()}

    def where_defined(shown: str, unit: str) -> Tuple[int, int]:
        return def_line(text_of(shown), unit)

    # Every configuration of the project's files may declare entries (a
    # sub-project's own pyproject.toml among them).
    configured = {project.settings_for(shown) for shown in runner_name} | {project.settings}
    specs = sorted({spec for settings in configured for spec in entry_specs(settings)},
                   key=lambda spec: (spec.text, spec.origin))
    def mentions(words: Set[str]) -> Set[str]:
        """The files with no summary whose text names one of ``words``."""
        fresh = sorted(word for word in words if word.isidentifier())
        if not fresh:
            return set()
        pattern = re.compile(r"\b(?:" + "|".join(re.escape(word) for word in fresh) + r")\b")
        return {shown for shown in runner_name
                if summaries.get(shown) is None and pattern.search(text_of(shown))}

    index = build(summaries, names, specs, summarize, where_defined, mentions)
    project.index = index
    contexts = {runner_name[shown]: context for shown, context in index.contexts().items()
                if shown in named}
    if not contexts:
        return results
    again = _lint(project, list(contexts), fix, contexts)
    replaced: Results = []
    for file, (result, unreadable) in zip(linted, results):
        if file in again and not unreadable:
            replaced.append((again[file], False))
        else:
            replaced.append((result, unreadable))
    return replaced


def _relevant(others: List[str], named: List[str], project: Project,
              text_of: Callable[[str], str]) -> List[str]:
    """The files of ``others`` whose code may lead to a named file: a call
    into a module needs its name in the caller's text (an import, a
    re-export), so the files that mention a named module's name, then those
    that mention theirs, and so on; and the modules a ``thread-entry`` names.
    The rest cannot change what is said about the named files."""
    if not others:
        return others
    words: Set[str] = set()
    for shown in named:
        words.update(name.rsplit(".", 1)[-1] for name in module_names(shown, project.root))
    entry_modules = {spec.module for spec in entry_specs(project.settings)}
    for other in others:
        if set(module_names(other, project.root)) & entry_modules:
            words.update(name.rsplit(".", 1)[-1] for name in module_names(other, project.root))
    chosen: Set[str] = set()
    searched: Set[str] = set()
    while True:
        fresh = sorted(word for word in words - searched if word.isidentifier())
        if not fresh:
            break
        searched.update(fresh)
        pattern = re.compile(r"\b(?:" + "|".join(re.escape(word) for word in fresh) + r")\b")
        for other in others:
            if other not in chosen and pattern.search(text_of(other)):
                chosen.add(other)
                words.update(name.rsplit(".", 1)[-1] for name in module_names(other, project.root))
    return [other for other in others if other in chosen]


def _other_files(project: Project, named: Set[str]) -> List[str]:
    """The project's Python files not named on the command line (``named``:
    their identities), when the project root holds every named file (else
    the named files are the project)."""
    root = _key(project.root)
    inside = root.rstrip(os.sep) + os.sep
    if not all(key == root or key.startswith(inside) for key in named):
        return []
    found = discover([project.root], project.settings, False, project.directory_settings)
    others: List[str] = []
    seen = set(named)
    for file in found.files:
        key = _key(file)
        if key not in seen:
            seen.add(key)
            others.append(_display(file))
    return others
