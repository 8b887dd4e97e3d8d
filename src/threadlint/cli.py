"""The ``threadlint`` command."""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from dataclasses import replace
from typing import Any, Dict, List, NoReturn, Optional, Sequence, TextIO, Tuple

from threadlint import __version__
from threadlint.cache import DEFAULT_DIRNAME, Cache
from threadlint.config import find_config, load_settings
from threadlint.discovery import STDIN, discover
from threadlint.findings import Finding
from threadlint.output import FORMATS, write_findings, write_statistics
from threadlint.runner import run, write_atomically
from threadlint.settings import Settings, SettingsError, validate_selectors

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
    files.add_argument("--force-exclude", action="store_true",
                       help="apply excludes to files named on the command line too")
    files.add_argument("--stdin-filename", metavar="NAME",
                       help="the path to report for source read from stdin")
    config = parser.add_argument_group("configuration")
    config.add_argument("--config", metavar="FILE",
                        help="read settings from FILE instead of the nearest pyproject.toml")
    config.add_argument("--isolated", action="store_true",
                        help="ignore all configuration files")
    out = parser.add_argument_group("output")
    out.add_argument("--output-format", choices=FORMATS, default="concise",
                     help="concise (path:line:col: CODE message), json or github")
    out.add_argument("--statistics", action="store_true",
                     help="print a count per code after the findings")
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
    parser.add_argument("--fix", action="store_true",
                        help="apply safe fixes in place and report what was fixed")
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


def _explain(code: str) -> int:
    from threadlint.rules import RULES_BY_CODE

    rule = RULES_BY_CODE.get(code.strip().upper())
    if rule is None:
        sys.stderr.write(f"threadlint: error: --explain: unknown rule code {code!r} "
                         f"(see 'threadlint --list-rules')\n")
        return EXIT_ERROR
    sys.stdout.write(f"# {rule.code} {rule.name}\n\n{rule.summary}\n\n")
    sys.stdout.write(inspect.cleandoc(rule.__doc__ or "") + "\n")
    return EXIT_CLEAN


def _list_rules() -> None:
    from threadlint.rules import ALL_RULES

    width = max(len(rule.name) for rule in ALL_RULES)
    for rule in ALL_RULES:
        fix = " (fixable)" if rule.fixable else ""
        sys.stdout.write(f"{rule.code}  {rule.name:<{width}}  {rule.summary}{fix}\n")


def _escape_unencodable(stream: TextIO) -> None:
    """Write what the terminal's encoding cannot show as escapes, not a crash."""
    if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="backslashreplace")


def main(argv: Optional[Sequence[str]] = None) -> int:
    _escape_unencodable(sys.stdout)
    _escape_unencodable(sys.stderr)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        sys.stderr.write("threadlint: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        sys.stderr.write(f"threadlint: error: internal error: {type(exc).__name__}: {exc}\n")
        return EXIT_ERROR


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
    except SettingsError as exc:
        sys.stderr.write(f"threadlint: error: {exc}\n")
        return EXIT_ERROR

    paths = args.paths or ["."]
    if paths.count(STDIN) > 1:
        sys.stderr.write("threadlint: error: '-' (stdin) can be given only once\n")
        return EXIT_ERROR
    discovered = discover(paths, settings, args.force_exclude)
    failed = False
    for missing in discovered.missing:
        sys.stderr.write(f"threadlint: error: {missing}: no such file or directory\n")
        failed = True
    for directory, reason in discovered.unreadable:
        sys.stderr.write(f"threadlint: error: {directory}: cannot read directory: {reason}\n")
        failed = True

    stdin_name = args.stdin_filename or "<stdin>"
    cache = None
    if not args.no_cache:
        cache = Cache(args.cache_dir or os.path.join(settings.root, DEFAULT_DIRNAME))
    jobs = args.jobs or os.cpu_count() or 1
    results = run(discovered.files, settings, args.fix, stdin_name, jobs, cache)
    findings: List[Finding] = []
    fixed: List[Finding] = []
    for result, _unreadable in results:
        findings.extend(result.findings)
        for error in result.errors:
            level = "warning" if error.warning else "error"
            sys.stderr.write(f"threadlint: {level}: {error}\n")
            failed = failed or not error.warning
        if result.fixed_source is not None and result.fixed:
            fixed.extend(result.fixed)
            if result.path == stdin_name and STDIN in discovered.files:
                sys.stdout.buffer.write(result.fixed_source)
                sys.stdout.flush()
            else:
                try:
                    write_atomically(result.path, result.fixed_source)
                except OSError as exc:
                    sys.stderr.write(f"threadlint: error: {result.path}: cannot write fix: "
                                     f"{exc.strerror or exc}\n")
                    failed = True

    findings.sort(key=lambda f: (f.path, f.line, f.col, f.code, f.message))
    stdin_fixed = args.fix and STDIN in discovered.files and any(f.path == stdin_name for f in fixed)
    stream = sys.stderr if stdin_fixed else sys.stdout
    write_findings(findings, args.output_format, stream)
    if args.statistics:
        # After a JSON document they would make stdout unparseable.
        write_statistics(findings, sys.stderr if args.output_format == "json" else stream)
    for f in sorted(fixed):
        sys.stderr.write(f"{f.path}:{f.line}:{f.col}: {f.code} fixed: {f.message}\n")
    if fixed:
        files = len({f.path for f in fixed})
        sys.stderr.write(f"threadlint: fixed {len(fixed)} finding{'s' * (len(fixed) != 1)} "
                         f"in {files} file{'s' * (files != 1)}; {len(findings)} remaining\n")
    if failed:
        return EXIT_ERROR
    if findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN
