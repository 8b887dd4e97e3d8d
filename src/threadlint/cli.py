"""The ``threadlint`` command."""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import signal
import sys
import threading
from dataclasses import replace
from typing import Any, Callable, Dict, Iterator, List, NoReturn, Optional, Sequence, Set, TextIO, Tuple

from threadlint import __version__
from threadlint.cache import DEFAULT_DIRNAME, Cache
from threadlint.config import Resolver, find_config, load_settings
from threadlint.discovery import STDIN, discover
from threadlint.findings import FileError, Finding, LintResult
from threadlint.fixwrite import FixNotWritten, Writer
from threadlint.graph import GRAPH_FORMATS, render_dot, render_mermaid
from threadlint.output import (
    DOCUMENT_FORMATS,
    FORMATS,
    summary,
    unified_diff,
    wants_color,
    would_fix,
    write_findings,
    write_fixes,
    write_statistics,
)
from threadlint.project import Index
from threadlint.runner import Workers, read_source, run, write_atomically
from threadlint.settings import Settings, SettingsError, validate_patterns, validate_selectors
from threadlint.workspace import Project, whole_project

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr, not a usage block."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"threadlint: error: {message} (see 'threadlint --help')\n")
        raise SystemExit(EXIT_ERROR)


def _comma_list(value: str) -> List[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="threadlint",
        description="Find threading misuse in Python code.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or directories to lint (default: .); '-' reads stdin")
    parser.add_argument("--version", action="version", version=f"threadlint {__version__}")
    rules = parser.add_argument_group("rule selection")
    rules.add_argument("--select", type=_comma_list, metavar="CODES",
                       help="comma-separated codes or prefixes to enable (TL1, TL101, ALL)")
    rules.add_argument("--ignore", type=_comma_list, metavar="CODES",
                       help="comma-separated codes or prefixes to disable")
    rules.add_argument("--extend-select", type=_comma_list, metavar="CODES",
                       help="codes or prefixes to enable on top of --select")
    files = parser.add_argument_group("files")
    files.add_argument("--exclude", type=_comma_list, metavar="GLOBS",
                       help="glob patterns to skip, replacing the defaults")
    files.add_argument("--extend-exclude", type=_comma_list, metavar="GLOBS",
                       help="glob patterns to skip, on top of the defaults")
    files.add_argument("--respect-gitignore", dest="respect_gitignore", action="store_true",
                       default=None, help="skip what .gitignore and .ignore files ignore (the default)")
    files.add_argument("--no-respect-gitignore", dest="respect_gitignore", action="store_false",
                       help="lint files even when a .gitignore or .ignore file ignores them")
    files.add_argument("--force-exclude", action="store_true",
                       help="apply excludes to files named on the command line (and to "
                            "stdin's --stdin-filename) too")
    files.add_argument("--stdin-filename", metavar="NAME",
                       help="the path to report for source read from stdin")
    config = parser.add_argument_group("configuration")
    config.add_argument("--config", metavar="FILE",
                        help="read settings for every file from FILE instead of each file's nearest "
                             ".threadlint.toml, threadlint.toml or pyproject.toml")
    config.add_argument("--isolated", action="store_true",
                        help="ignore all configuration files")
    config.add_argument("--show-settings", metavar="PATH",
                        help="print the settings that apply to PATH (which file, every key) and exit")
    config.add_argument("--show-files", action="store_true",
                        help="list the files that would be linted and exit")
    project = parser.add_argument_group("whole-project analysis")
    project.add_argument("--no-project", action="store_true",
                         help="judge each file on its own: no thread reaches it from another module "
                              "(the config key: project = false)")
    project.add_argument("--project-root", metavar="DIR",
                         help="the project the named files belong to (default: the configuration "
                              "file's directory, else the nearest directory above them with "
                              "pyproject.toml, setup.cfg or .git)")
    project.add_argument("--graph", choices=GRAPH_FORMATS, metavar="FORMAT",
                         help="print the project's thread map (roots, the functions threads reach, "
                              "by module) as dot or mermaid instead of the findings")
    out = parser.add_argument_group("output")
    out.add_argument("--output-format", choices=FORMATS, default="concise", metavar="FORMAT",
                     help="concise (path:line:col: CODE message, the default), full (with the "
                          "source line), json, json-lines, github, gitlab, junit, sarif or pylint")
    out.add_argument("--output-file", metavar="PATH",
                     help="write the report to PATH (replaced atomically) instead of stdout")
    out.add_argument("--statistics", action="store_true",
                     help="print a count per code after the findings")
    out.add_argument("-q", "--quiet", action="store_true",
                     help="print the findings only: no summary line on stderr at the end")
    out.add_argument("--exit-zero", action="store_true",
                     help="exit 0 even when there are findings")
    out.add_argument("--explain", metavar="CODE",
                     help="print a rule's documentation (e.g. --explain TL101) and exit")
    out.add_argument("--list-rules", action="store_true",
                     help="list every rule (code, name, summary) and exit")
    speed = parser.add_argument_group("speed")
    speed.add_argument("-j", "--jobs", type=_positive_int, default=None, metavar="N",
                       help="worker processes (default: number of CPUs; 1: one, linting file after file)")
    speed.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    speed.add_argument("--cache-dir", metavar="DIR",
                       help="where to keep the cache (default: .threadlint_cache/ at the project root)")
    speed.add_argument("--clear-cache", action="store_true",
                       help="remove the cache (of the project the PATHs are in, or --cache-dir) "
                            "and exit")
    parser.add_argument("--fix", action="store_true",
                        help="apply safe fixes in place and report what was fixed")
    parser.add_argument("--unsafe-fixes", action="store_true",
                        help="let --fix and --diff apply unsafe fixes too (they may change "
                             "behaviour: see each rule's Fix safety)")
    parser.add_argument("--diff", action="store_true",
                        help="print the fixes as a unified diff and change nothing; exit 1 if "
                             "there is any")
    parser.add_argument("--show-fixes", action="store_true",
                        help="after --fix, list on stderr what was fixed in each file")
    parser.add_argument("--add-noqa", action="store_true",
                        help="add '# noqa: CODE' to every line with a finding (merging with "
                             "existing noqa comments) and exit")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    if args.isolated:
        settings = Settings()
    elif args.config is not None:
        if not os.path.exists(args.config):
            raise SettingsError(f"--config: file {args.config!r} does not exist")
        if not os.path.isfile(args.config):
            raise SettingsError(f"--config: {args.config!r} is not a file")
        settings = load_settings(args.config, explicit=True)
    else:
        settings = load_settings(find_config(os.getcwd()), explicit=False)
    return _with_options(settings, args)


def _with_options(settings: Settings, args: argparse.Namespace) -> Settings:
    """``settings`` with the command line laid over them."""
    given: Dict[str, Tuple[str, ...]] = {}
    for option in ("select", "ignore", "extend_select"):
        value = getattr(args, option)
        if value is not None:
            flag = "--" + option.replace("_", "-")
            given[option] = validate_selectors(value, flag)
    changes: Dict[str, Any] = {}
    if given:
        # The command line is a layer on top of the file (ruff's model): its
        # --select starts afresh; without one, its --ignore and --extend-select
        # adjust the codes the file enabled.
        changes["select"] = given.get("select", ())
        changes["ignore"] = given.get("ignore", ())
        changes["extend_select"] = given.get("extend_select", ())
        changes["inherited"] = None if "select" in given else settings.selected_codes()
    for option in ("exclude", "extend_exclude"):
        if getattr(args, option) is not None:
            validate_patterns(getattr(args, option), "--" + option.replace("_", "-"))
    if args.respect_gitignore is not None:
        changes["respect_gitignore"] = args.respect_gitignore
    if getattr(args, "unsafe_fixes", False):
        changes["unsafe_fixes"] = True
    if getattr(args, "no_project", False):
        changes["project"] = False
    if getattr(args, "graph", None):
        changes["project"] = True  # the picture is of the whole-project pass
    if args.exclude is not None:
        changes["exclude"] = tuple(_from_cwd(pattern) for pattern in args.exclude)
    if args.extend_exclude is not None:
        changes["extend_exclude"] = settings.extend_exclude + tuple(
            _from_cwd(pattern) for pattern in args.extend_exclude)
    return replace(settings, **changes)


def _from_cwd(pattern: str) -> str:
    """A pattern typed on the command line with a directory part means a path
    from where the user stands, not from the configuration file's directory;
    a bare name (``legacy``, ``*_pb2.py``) matches anywhere, as in a file."""
    if "/" not in pattern.replace(os.sep, "/") or os.path.isabs(pattern):
        return pattern
    trailing = "/" if pattern.endswith(("/", os.sep)) else ""
    return os.path.abspath(pattern).replace(os.sep, "/") + trailing


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list, frozenset)):
        items = sorted(value) if isinstance(value, frozenset) else value
        return "[" + ", ".join(_toml(item) for item in items) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _show_settings(path: str, settings: Settings) -> int:
    """``--show-settings``: what applies to ``path``, as TOML."""
    if not os.path.exists(path):
        sys.stderr.write(f"threadlint: error: --show-settings: {path}: no such file or directory\n")
        return EXIT_ERROR
    config = os.path.abspath(settings.config_path) if settings.config_path else ""
    table = ", ".join(f"{_toml(pattern)} = {_toml(codes)}" for pattern, codes in settings.per_file_ignores)
    lines = [
        f"# Settings for {path}" + ("" if config else " (no configuration file: the defaults)"),
        f"config-file = {_toml(config)}",
        f"root = {_toml(settings.root)}",
        f"select = {_toml(settings.select)}",
        f"ignore = {_toml(settings.ignore)}",
        f"extend-select = {_toml(settings.extend_select)}",
        f"exclude = {_toml(settings.exclude)}",
        f"extend-exclude = {_toml(settings.extend_exclude)}",
        f"per-file-ignores = {{{' ' + table + ' ' if table else ''}}}",
        f"contracts-from-prose = {_toml(settings.contracts_from_prose)}",
        f"guarded-ratio = {_toml(settings.guarded_ratio)}",
        f"respect-gitignore = {_toml(settings.respect_gitignore)}",
        f"force-exclude = {_toml(settings.force_exclude)}",
        f"project = {_toml(settings.project)}",
        f"thread-entry = {_toml(settings.thread_entry)}",
        "# what follows from them for this path",
        f"excluded = {_toml(settings.is_excluded(path))}",
        f"enabled-codes = {_toml(settings.enabled_codes(path))}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_CLEAN


#: What marks a project's root when no configuration file was found.
ROOT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")


def project_root(settings: Settings, paths: Sequence[str], stdin_filename: Optional[str]) -> str:
    """Where the cache lives: the configuration file's directory; without one,
    the nearest directory at or above the linted paths (their common
    directory) holding pyproject.toml, setup.cfg or .git; else the current
    directory."""
    if settings.config_path is not None:
        return settings.root
    named = [stdin_filename if path == STDIN else path for path in paths]
    targets = [os.path.abspath(path) for path in named if path is not None]
    if not targets:
        return os.getcwd()
    try:
        common = os.path.commonpath(targets)
    except ValueError:  # paths on several drives (Windows)
        return os.getcwd()
    directory = common if os.path.isdir(common) else os.path.dirname(common)
    while True:
        if any(os.path.exists(os.path.join(directory, marker)) for marker in ROOT_MARKERS):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return os.getcwd()
        directory = parent


def _clear_cache(directory: str) -> int:
    if not os.path.lexists(directory):
        sys.stderr.write(f"threadlint: no cache to clear in {directory}\n")
        return EXIT_CLEAN
    try:
        removed = Cache(directory).clear()
    except OSError as exc:
        sys.stderr.write(f"threadlint: error: --clear-cache: cannot clear {directory}: "
                         f"{exc.strerror or exc}\n")
        return EXIT_ERROR
    sys.stderr.write(f"threadlint: cleared the cache in {directory} "
                     f"({removed} entr{'ies' if removed != 1 else 'y'} removed)\n")
    return EXIT_CLEAN


def _explain(code: str) -> int:
    from threadlint.rules import RULES_BY_CODE

    rule = RULES_BY_CODE.get(code.strip().upper())
    if rule is None:
        sys.stderr.write(f"threadlint: error: --explain: unknown rule code {code!r} "
                         f"(see 'threadlint --list-rules')\n")
        return EXIT_ERROR
    sys.stdout.write(f"# {rule.code} {rule.name}\n\n{rule.summary}\n\n")
    import inspect

    sys.stdout.write(inspect.cleandoc(rule.__doc__ or "") + "\n")
    return EXIT_CLEAN


def _list_rules() -> None:
    from threadlint.rules import ALL_RULES

    width = max(len(rule.name) for rule in ALL_RULES)
    for rule in ALL_RULES:
        fix = " (fixable)" if rule.fixable else ""
        sys.stdout.write(f"{rule.code}  {rule.name:<{width}}  {rule.summary}{fix}\n")


def _escape_unencodable(stream: Optional[TextIO]) -> None:
    """Write what the terminal's encoding cannot show as escapes, not a crash."""
    if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]


class _OutputError(Exception):
    """Standard output cannot be written (a closed pipe, a full disk)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


class _Checked:
    """Standard output: a failed write is an _OutputError, told apart from
    every other OSError of the run."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> int:
        try:
            return self._stream.write(data)
        except OSError as exc:
            raise _OutputError(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise _OutputError(exc) from None

    @property
    def buffer(self) -> _Checked:
        return _Checked(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Quiet:
    """Standard error: a message that cannot be written is dropped (there is
    nowhere else to say it), never a crash that loses the findings."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> int:
        try:
            return self._stream.write(data)
        except (OSError, ValueError):
            return len(data)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _open_standard_fds() -> Set[int]:
    """Give a closed standard descriptor /dev/null, so that no file opened
    later (a fix being written) can take its number; returns those closed."""
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
    for fd in sorted(closed):
        try:
            null = os.open(os.devnull, os.O_RDWR)
        except OSError:
            continue
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
    return closed


def _discard_stdout() -> None:
    """After a failed write, point standard output at /dev/null so that the
    interpreter's flush at exit has nowhere to fail."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds: a temporary file being written is removed


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While fixes are written, SIGTERM unwinds like Ctrl-C (elsewhere it
    kills at once: the workers die with the process)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Optional[Sequence[str]] = None) -> int:
    closed = _open_standard_fds()
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False, errors="backslashreplace")
    saved = sys.stdout, sys.stderr
    _escape_unencodable(sys.stdout)
    _escape_unencodable(sys.stderr)
    sys.stderr = _Quiet(sys.stderr)
    try:
        if 1 in closed or sys.stdout is None:
            sys.stderr.write("threadlint: error: standard output is closed: "
                             "nowhere to write the results\n")
            return EXIT_ERROR
        sys.stdout = _Checked(sys.stdout)
        code = _main(argv)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        sys.stderr.write("threadlint: interrupted\n")
        return 130
    except _OutputError as exc:
        if exc.error.errno != errno.EPIPE:  # a reader that went away needs no message
            sys.stderr.write(f"threadlint: error: cannot write to standard output: "
                             f"{exc.error.strerror or exc.error}\n")
        _discard_stdout()
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        sys.stderr.write(f"threadlint: error: internal error: {type(exc).__name__}: {exc}\n")
        return EXIT_ERROR
    finally:
        sys.stdout, sys.stderr = saved


def _add_noqa(results: List[Tuple[LintResult, bool]], settings_for: Callable[[str], Settings],
              failed: bool) -> int:
    """``--add-noqa``: silence every finding where it is, file by file."""
    from threadlint.engine import add_noqa

    added = files = 0
    left: List[str] = []
    for result, _unreadable in results:
        for error in result.errors:
            sys.stderr.write(f"threadlint: {'warning' if error.warning else 'error'}: {error}\n")
            failed = failed or not error.warning
        if not result.findings:
            continue
        try:
            change = add_noqa(result.path, read_source(result.path), settings_for(result.path))
        except OSError as exc:
            sys.stderr.write(f"threadlint: error: {result.path}: cannot read file: {exc.strerror or exc}\n")
            failed = True
            continue
        left += [f"{f.path}:{f.line}:{f.col}: {f.code} not silenced: {why}" for f, why in change.skipped]
        if change.source is None:
            continue
        try:
            write_atomically(result.path, change.source)
        except OSError as exc:
            sys.stderr.write(f"threadlint: error: {result.path}: cannot write: {exc.strerror or exc}\n")
            failed = True
            continue
        added += len(change.added)
        files += 1
    for line in sorted(left):
        sys.stderr.write(line + "\n")
    sys.stderr.write(f"threadlint: added noqa for {added} finding{'s' * (added != 1)} "
                     f"in {files} file{'s' * (files != 1)}\n")
    if failed:
        return EXIT_ERROR
    return EXIT_FINDINGS if left else EXIT_CLEAN


def _graph(form: str, index: Index, results: List[Tuple[LintResult, bool]], output_file: Optional[str],
           failed: bool) -> int:
    """``--graph``: the project's thread map instead of the findings."""
    for result, _unreadable in results:
        for error in result.errors:
            sys.stderr.write(f"threadlint: {'warning' if error.warning else 'error'}: {error}\n")
            failed = failed or not error.warning
    text = render_dot(index) if form == "dot" else render_mermaid(index)
    if output_file is None:
        sys.stdout.write(text)
    else:
        try:
            write_atomically(output_file, text.encode("utf-8"))
        except OSError as exc:
            sys.stderr.write(f"threadlint: error: --output-file: cannot write {output_file}: "
                             f"{exc.strerror or exc}\n")
            failed = True
    return EXIT_ERROR if failed else EXIT_CLEAN


def _diff(results: List[Tuple[LintResult, bool]], quiet: bool, unsafe_fixes: bool,
          failed: bool) -> int:
    """``--diff``: each file's fixes as a unified diff on stdout, nothing
    written; exit 1 when there is any diff."""
    changed = fixes = 0
    remaining: List[Finding] = []
    for result, _unreadable in results:
        for error in result.errors:
            sys.stderr.write(f"threadlint: {'warning' if error.warning else 'error'}: {error}\n")
            failed = failed or not error.warning
        remaining.extend(result.findings)
        if result.fixed_source is None or not result.fixed or result.source is None:
            continue
        sys.stdout.write(unified_diff(result.path, result.source, result.fixed_source))
        changed += 1
        fixes += len(result.fixed)
    if not quiet:
        sys.stderr.write(would_fix(fixes, remaining, unsafe_fixes))
    if failed:
        return EXIT_ERROR
    return EXIT_FINDINGS if changed else EXIT_CLEAN


def _main(argv: Optional[Sequence[str]]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.explain is not None:
        return _explain(args.explain)
    if args.list_rules:
        _list_rules()
        return EXIT_CLEAN
    try:
        settings = _settings(args)
        resolver = None
        if not args.isolated and args.config is None:  # each file: its nearest configuration
            resolver = Resolver(settings, lambda found: _with_options(found, args))
        if args.show_settings is not None:
            shown = settings if resolver is None else resolver.for_path(args.show_settings)
            return _show_settings(args.show_settings, shown)
    except SettingsError as exc:
        sys.stderr.write(f"threadlint: error: {exc}\n")
        return EXIT_ERROR

    paths = args.paths or ["."]
    if paths.count(STDIN) > 1:
        sys.stderr.write("threadlint: error: '-' (stdin) can be given only once\n")
        return EXIT_ERROR
    if args.project_root is not None and not os.path.isdir(args.project_root):
        sys.stderr.write(f"threadlint: error: --project-root: {args.project_root}: no such directory\n")
        return EXIT_ERROR
    root = args.project_root or project_root(settings, paths, args.stdin_filename)
    cache_dir = args.cache_dir or os.path.join(root, DEFAULT_DIRNAME)
    if args.clear_cache:
        return _clear_cache(cache_dir)
    if args.add_noqa and (args.fix or args.diff or STDIN in paths):
        other = "--fix" if args.fix else "--diff" if args.diff else "'-' (stdin)"
        sys.stderr.write(f"threadlint: error: --add-noqa edits files in place: it cannot be "
                         f"combined with {other}\n")
        return EXIT_ERROR
    if args.graph and (args.no_project or args.fix or args.diff or args.add_noqa):
        other = ("--no-project" if args.no_project else "--fix" if args.fix
                 else "--diff" if args.diff else "--add-noqa")
        sys.stderr.write(f"threadlint: error: --graph draws the whole-project pass: it cannot be "
                         f"combined with {other}\n")
        return EXIT_ERROR
    stdin_name = args.stdin_filename or "<stdin>"

    def settings_for(path: str) -> Settings:
        if resolver is None:
            return settings
        if path in (STDIN, stdin_name):
            return resolver.for_path(args.stdin_filename) if args.stdin_filename else settings
        return resolver.for_path(path)

    force_exclude = args.force_exclude or settings.force_exclude
    try:
        discovered = discover(paths, settings, force_exclude,
                              None if resolver is None else resolver.for_directory,
                              args.stdin_filename)
        groups: Dict[Settings, List[str]] = {}
        for file in discovered.files:
            groups.setdefault(settings_for(file), []).append(file)
    except SettingsError as exc:
        sys.stderr.write(f"threadlint: error: {exc}\n")
        return EXIT_ERROR
    # With --fix, standard output is the source read from stdin, fixed or
    # not (an editor replaces its buffer with it); the findings go to stderr.
    echo_stdin = args.fix and STDIN in paths
    stdin_source: Optional[bytes] = None
    if STDIN in paths:  # read once: the whole-project pass may lint it again
        try:
            stdin_source = read_source(STDIN)
        except OSError:
            pass  # the run reports it as a file that cannot be read
    if discovered.excluded_stdin and echo_stdin and stdin_source is not None:
        sys.stdout.buffer.write(stdin_source)
        sys.stdout.flush()
    failed = False
    for missing in discovered.missing:
        sys.stderr.write(f"threadlint: error: {missing}: no such file or directory\n")
        failed = True
    for directory, reason in discovered.unreadable:
        sys.stderr.write(f"threadlint: error: {directory}: cannot read directory: {reason}\n")
        failed = True
    if args.show_files:
        for file in discovered.files:
            sys.stdout.write(file + "\n")
        return EXIT_ERROR if failed else EXIT_CLEAN

    cache = None
    if not args.no_cache:
        cache = Cache(cache_dir)
    jobs = args.jobs or os.cpu_count() or 1
    results: List[Tuple[LintResult, bool]] = []
    linted: List[str] = []  # the files in the order of their results
    index: Optional[Index] = None
    # Whole-project analysis lints in passes: the pool of one serves the next.
    workers = Workers() if settings.project else None
    try:
        for group, members in groups.items():  # one run per configuration
            source = stdin_source if STDIN in members else None
            results += run(members, group, args.fix or args.diff, stdin_name, jobs, cache, source,
                           workers=workers)
            linted += members
        if settings.project and results:
            project = Project(root, settings, settings_for,
                              None if resolver is None else resolver.for_directory, stdin_name,
                              args.stdin_filename, stdin_source, jobs, cache, workers=workers)
            results = whole_project(project, linted, results, args.fix or args.diff)
            index = project.index
    finally:
        if workers is not None:
            workers.close()
    if cache is not None:
        cache.prune()
    if args.graph:
        return _graph(args.graph, index or Index({}, {}), results, args.output_file, failed)
    if args.add_noqa:
        return _add_noqa(results, settings_for, failed)
    if args.diff:
        return _diff(results, args.quiet, settings.unsafe_fixes, failed)
    findings: List[Finding] = []
    fixed: List[Finding] = []
    writer = Writer()
    with _sigterm_unwinds() if args.fix else contextlib.nullcontext():
        for name, (result, _unreadable) in zip(linted, results):
            kept, errors, done = result.findings, result.errors, result.fixed
            if name == STDIN and echo_stdin:
                fixed_source = result.fixed_source if result.fixed else None
                echoed = fixed_source if fixed_source is not None else stdin_source
                if echoed is not None:
                    sys.stdout.buffer.write(echoed)
                    sys.stdout.flush()
            elif result.fixed_source is not None and result.fixed:
                try:
                    writer.write(result.path, result.linted_digest, result.fixed_source)
                except FixNotWritten as exc:
                    # The file is as it was: so are its findings.
                    unfixed = result.unfixed or LintResult(result.path)
                    kept, errors, done = unfixed.findings, unfixed.errors, []
                    errors = [*errors, FileError(result.path, str(exc))]
            findings.extend(kept)
            fixed.extend(done)
            for error in errors:
                level = "warning" if error.warning else "error"
                sys.stderr.write(f"threadlint: {level}: {error}\n")
                failed = failed or not error.warning

    findings.sort(key=lambda f: (f.path, f.line, f.col, f.code, f.message))
    stream: TextIO = sys.stderr if echo_stdin else sys.stdout
    report = io.StringIO() if args.output_file is not None else stream
    write_findings(findings, args.output_format, report,
                   color=args.output_file is None and wants_color(stream))
    if args.statistics:
        # After a document (JSON, XML...) they would make it unparseable.
        write_statistics(findings, sys.stderr if args.output_format in DOCUMENT_FORMATS else report)
    if isinstance(report, io.StringIO):
        try:
            write_atomically(args.output_file, report.getvalue().encode("utf-8"))
        except OSError as exc:
            sys.stderr.write(f"threadlint: error: --output-file: cannot write {args.output_file}: "
                             f"{exc.strerror or exc}\n")
            failed = True
    if args.show_fixes and args.fix:
        write_fixes(fixed, sys.stderr)
    if not args.quiet:
        sys.stderr.write(summary(findings, fixed, args.fix, settings.unsafe_fixes))
    if failed:
        return EXIT_ERROR
    if findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN
