"""Linting one file: a pure function of (path, source bytes, settings).

The pipeline, in order: prefilter -> size limit -> CPython's verdict
(TL999, :mod:`threadlint.verdict`; nothing CPython refuses reaches libcst) ->
one libcst parse -> the semantic model in explicit phases (names: the one
walk, which records its events; facts: the providers the enabled rules
require, fed by one replay of those events and finished) -> rules (their
hooks over a second replay, then ``finish()``) -> positions (only when
something was reported) -> noqa filtering -> findings, optionally fixed. From
the parse on, the work runs on a thread with a deep stack (see
:func:`_on_deep_stack`).
"""

from __future__ import annotations

import gc
import traceback
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple, Type, TypeVar

import libcst as cst

from threadlint.compat import parse_unvalidated
from threadlint.findings import FileError, Finding, LintResult
from threadlint.model import Cursor, Model, Names, Provider, closure
from threadlint.model.core import Options, schedule
from threadlint.noqa import noqa_lines, suppressed
from threadlint.positions import spans
from threadlint.prefilter import prefilter_for
from threadlint.rules import ALL_RULES, SYNTAX_ERROR_CODE
from threadlint.rules.base import RELATED_LINE, Report, Rule
from threadlint.settings import Settings
from threadlint.stacks import on_thread, on_thread_named
from threadlint.verdict import check as check_syntax
from threadlint.verdict import parses
from threadlint.walk import Recording, dispatch, has_hooks, left_types

_T = TypeVar("_T")

MAX_FIX_ROUNDS = 8
_YOUNG_GARBAGE_WORTH_COLLECTING = 10_000
#: libcst's parse and the model's walks recurse once or more per level of
#: nesting, and CPython accepts about 3,000 levels (``a[0][0]...``, ``not not
#: ...``), more for what its AST keeps flat (``a and b and ...``): they run on
#: a thread with a stack this large and this recursion limit, so that valid
#: code is analysed, not a crash of the process (8 MB, a main thread's usual
#: stack, overflows in libcst's native parser at about 8,000 ``and``; 256 MB
#: holds more than 100,000). The stack is address space, not memory, until
#: deep code uses it.
PARSE_STACK_BYTES = 256 * 1024 * 1024
PARSE_RECURSION_LIMIT = 100_000
_DEEP_THREAD = "threadlint-deep-stack"


def _on_deep_stack(function: Callable[[], _T]) -> _T:
    """``function()`` on a thread with a large stack and a high recursion
    limit (on this one when it is that thread, or none can be made)."""
    if on_thread_named(_DEEP_THREAD):
        return function()
    return on_thread(function, name=_DEEP_THREAD, stack_bytes=PARSE_STACK_BYTES,
                     recursion_limit=PARSE_RECURSION_LIMIT)


def _syntax_error(path: str, error: Tuple[int, int, str]) -> Finding:
    line, col, message = error
    return Finding(path, line, col, SYNTAX_ERROR_CODE, message)


class _Failures:
    """Providers and rules that raised on this file, and what to say about it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: List[FileError] = []
        self.providers: Set[Type[Provider]] = set()
        #: Those of ``providers`` that failed for another reason than depth.
        self.broken: Set[Type[Provider]] = set()

    def add(self, what: str, error: BaseException) -> None:
        if isinstance(error, RecursionError):
            self.errors.append(_too_deep(self.path, "to analyse", f"{what} skipped"))
            return
        where = traceback.extract_tb(error.__traceback__)[-1]
        self.errors.append(FileError(
            self.path, f"internal error in {what}: {type(error).__name__}: {error} "
                       f"[{where.filename}:{where.lineno}]"))

    def provider(self, kind: Type[Provider], error: BaseException) -> None:
        self.providers.add(kind)
        if not isinstance(error, RecursionError):
            self.broken.add(kind)
        self.add(f"analysis ({kind.__name__})", error)

    def rule(self, rule: Rule, error: BaseException) -> None:
        self.add(f"rule {rule.code} ({rule.name})", error)

    def blocks(self, kind: Type[Provider]) -> bool:
        """Whether ``kind`` or anything it requires has failed."""
        return any(dependency in self.providers for dependency in closure([kind]))

    def only_too_deep(self, kinds: Sequence[Type[Provider]]) -> bool:
        """Whether what blocks ``kinds`` failed only on deep nesting."""
        return not any(dependency in self.broken for dependency in closure(kinds))


def _build_facts(model: Model, recording: Recording, kinds: Sequence[Type[Provider]],
                 failures: _Failures) -> None:
    """The facts phase: build each provider in dependency order; the fed ones
    are fed together in one replay and finished before any provider that is
    not fed and reads them is built (so a derived provider only ever sees
    finished facts). A provider that raises is dropped, and so is everything
    that depends on it."""
    pending: List[Provider] = []
    for kind in kinds:
        if kind in model or failures.blocks(kind):
            continue
        if pending and not has_hooks(kind) and \
                any(type(provider) in closure([kind]) for provider in pending):
            _feed(model, recording, pending, failures)
            pending = []
            if failures.blocks(kind):
                continue
        try:
            provider = kind(model)
        except Exception as error:  # noqa: BLE001 - reported, never raised
            failures.provider(kind, error)
            continue
        model.add(provider)
        if provider.fed and has_hooks(kind):
            pending.append(provider)
    if pending:
        _feed(model, recording, pending, failures)


def _feed(model: Model, recording: Recording, fed: List[Provider], failures: _Failures) -> None:
    """One replay for ``fed``, then ``finish()`` for each, in order."""
    def failed(provider: Provider, error: BaseException) -> List[Provider]:
        failures.provider(type(provider), error)
        return [other for other in fed if failures.blocks(type(other))]  # and its dependents

    dispatch(recording, fed, model.cursor, failed)
    for provider in fed:
        if failures.blocks(type(provider)):
            continue
        try:
            provider.finish()
        except Exception as error:  # noqa: BLE001
            failures.provider(type(provider), error)


def _run_rules(model: Model, recording: Recording, rule_classes: Sequence[Type[Rule]],
               failures: _Failures) -> List[Report]:
    """The rules phase: hooks over one replay, then each rule's ``finish()``.
    A rule that raises is reported by name and its findings dropped; the
    others go on, and no fact is computed again."""
    rules: List[Rule] = []
    for cls in rule_classes:
        if any(failures.blocks(kind) for kind in cls.requires):
            failures.errors.append(FileError(model.path, f"{cls.code} ({cls.name}) skipped: "
                                                         "the analysis it needs failed",
                                             warning=failures.only_too_deep(cls.requires)))
        else:
            rules.append(cls(model))
    dead: List[Rule] = []

    def failed(rule: Rule, error: BaseException) -> List[Rule]:
        failures.rule(rule, error)
        dead.append(rule)
        return [rule]

    hooked = [rule for rule in rules if has_hooks(type(rule))]
    if hooked:
        dispatch(recording, hooked, model.cursor, failed)
    reports: List[Report] = []
    for rule in rules:
        if rule in dead:
            continue
        try:
            rule.finish()
        except Exception as error:  # noqa: BLE001
            failures.rule(rule, error)
            continue
        reports.extend(rule.reports)
    return reports


def model_for(source: str, *kinds: Type[Provider]) -> Model:
    """The finished model of ``source`` with ``kinds`` (and what they require):
    for tests, the REPL and the guide in CONTRIBUTING.md. Raises what a
    provider raises, where ``lint_source`` would report it."""
    module = parse_unvalidated(source.encode())
    order = schedule(closure([Names, *kinds]))
    recording = Recording(left_types(order) | {t.__name__ for t in Cursor.TYPES})
    model = Model(module, Cursor(), source=source.encode())
    model.add(Names(model, recording))
    failures = _Failures("<source>")
    _build_facts(model, recording, order, failures)
    for kind in failures.providers:
        raise RuntimeError(f"{kind.__name__} failed: {failures.errors}")
    return model


#: findings, fixes (finding and report), errors, the parsed module
_Analysis = Tuple[List[Finding], List[Tuple[Finding, Report]], List[FileError], Optional[cst.Module]]


def _analyse(path: str, source: bytes, settings: Settings) -> _Analysis:
    """Parse and run rules once. Returns (findings, fixes, errors, module)."""
    codes = settings.enabled_codes(path)
    if not codes:
        return [], [], [], None
    rule_classes = [rule for rule in ALL_RULES if rule.code in codes and rule.code != SYNTAX_ERROR_CODE]
    # Nothing any enabled rule looks for can be in a file the prefilter
    # refuses: it needs no parse, only CPython's verdict when TL999 is on.
    admitted = prefilter_for(frozenset(rule.needs for rule in rule_classes)).admits(source)
    if not admitted and SYNTAX_ERROR_CODE not in codes:
        return [], [], [], None
    limit = settings.max_file_size
    if limit and len(source) > limit:
        # libcst needs hundreds of bytes of memory per byte of source, CPython
        # tens: neither reads the file.
        return [], [], [FileError(path, f"skipped: the file is {_size(len(source))}, over the "
                                        f"{_size(limit)} max-file-size limit (raise it in "
                                        "[tool.threadlint] to lint the file)")], None
    # CPython's verdict comes first for every file: TL999 is the interpreter's,
    # and what CPython refuses (nesting deep enough to crash libcst's native
    # parser among it) is never handed to libcst.
    verdict = check_syntax(path, source)
    if verdict.error is not None:
        keep = [_syntax_error(path, verdict.error)] if SYNTAX_ERROR_CODE in codes else []
        return keep, [], [], None
    if not admitted:
        return [], [], [], None
    if verdict.undecodable is not None:
        line, col, reason = verdict.undecodable
        return [], [], [FileError(path, f"skipped: libcst cannot decode this file (line {line}, column "
                                        f"{col}: {reason}) although CPython accepts it", warning=True)], None
    return _on_deep_stack(lambda: _parse_and_run(path, source, verdict.encoding, rule_classes, settings))


def _parse_and_run(path: str, source: bytes, encoding: str, rule_classes: List[Type[Rule]],
                   settings: Settings) -> _Analysis:
    try:
        module = parse_unvalidated(source, encoding)
    except cst.ParserSyntaxError as exc:
        where = f"line {exc.raw_line}, column {exc.raw_column + 1}"
        return [], [], [FileError(path, f"skipped: libcst cannot parse this file ({where}) "
                                        "although CPython accepts it", warning=True)], None
    except RecursionError:
        return [], [], [_too_deep(path, "for the parser")], None
    except Exception as exc:  # noqa: BLE001 - the native parser's other failures
        return [], [], [FileError(path, f"parser failed: {type(exc).__name__}: {exc}")], None

    if not rule_classes:
        return [], [], [], module
    kinds = schedule(closure([Names] + [kind for rule in rule_classes for kind in rule.requires]))
    recording = Recording(left_types([*kinds, *rule_classes])
                          | {t.__name__ for t in Cursor.TYPES})
    model = Model(module, Cursor(), path, source,
                  Options(settings.contracts_from_prose, settings.guarded_ratio))
    failures = _Failures(path)
    try:
        model.add(Names(model, recording))
    except Exception as error:  # noqa: BLE001 - reported, never raised
        failures.provider(Names, error)
        return [], [], failures.errors, module
    try:
        _build_facts(model, recording, kinds, failures)
        reports = _run_rules(model, recording, rule_classes, failures)
        return _report(path, source, module, reports, recording, failures.errors)
    finally:
        model.dismantle()


def _report(path: str, source: bytes, module: cst.Module, reports: List[Report],
            recording: Recording, errors: List[FileError]) -> _Analysis:
    """Positions, noqa and fixes for what the rules reported."""
    if not reports:
        return [], [], errors, module

    try:
        nodes = [report.node for report in reports]
        nodes += [node for report in reports for node, _ in report.related]
        positions = spans(module, source, nodes, recording)
    except RecursionError:
        return [], [], errors + [_too_deep(path, "to locate findings")], module
    noqa = noqa_lines(source)
    findings: List[Finding] = []
    fixes: List[Tuple[Finding, Report]] = []
    seen = set()
    for report in reports:
        line, col, end_line, end_col = positions[report.node]
        message = report.message
        related = []
        for node, what in report.related:
            where = positions[node]
            message = message.replace(RELATED_LINE, str(where[0]), 1)
            related.append((where[0], where[1], what))
        finding = Finding(path, line, col, report.rule.code, message,
                          report.replacement is not None, end_line, end_col, tuple(related))
        if finding in seen or suppressed(noqa, line, finding.code):
            continue
        seen.add(finding)
        findings.append(finding)
        if report.replacement is not None:
            fixes.append((finding, report))
    return findings, fixes, errors, module


def _compiles(path: str, source: bytes) -> bool:
    try:
        parses(source, path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: Dict[cst.CSTNode, cst.CSTNode]) -> None:
        super().__init__()
        self.replacements = replacements

    # A fix may put a node of another type in place (a tuple for a list), which
    # libcst's signature, generic in one node type, cannot express.
    def on_leave(self, original_node: cst.CSTNode,  # type: ignore[override]
                 updated_node: cst.CSTNode) -> cst.CSTNode:
        return self.replacements.get(original_node, updated_node)


def lint_source(path: str, source: bytes, settings: Settings, *, fix: bool = False) -> LintResult:
    """Lint one file's bytes. Never raises for any input."""
    # A libcst tree is hundreds of thousands of acyclic objects: the cyclic
    # collector only re-scans them (about 30% of the time on large files).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _lint_source(path, source, settings, fix)
    except RecursionError:
        return LintResult(path, errors=[_too_deep(path, "to analyse")])
    except MemoryError:
        return LintResult(path, errors=[FileError(path, f"skipped: out of memory{_memory_limit(settings)}")])
    except Exception as exc:  # noqa: BLE001 - one file never takes the run down
        return LintResult(path, errors=[FileError(path, f"internal error: {type(exc).__name__}: {exc}")])
    finally:
        if collecting:
            gc.enable()
            # What this file left in reference cycles (scopes and bindings,
            # rule collectors) is all in the youngest generation: free it now,
            # or nothing triggers a collection before the next file disables
            # it again (measured: 277 MB -> 141 MB peak over the corpus).
            # A file that was not parsed allocated little: skip the pass.
            if gc.get_count()[0] > _YOUNG_GARBAGE_WORTH_COLLECTING:
                gc.collect(0)


def _size(size: int) -> str:
    for unit, scale in (("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def _memory_limit(settings: Settings) -> str:
    limit = settings.max_memory
    return f" (the max-memory limit is {limit} MB per process)" if limit else ""


def _too_deep(path: str, what: str, skipped: str = "skipped") -> FileError:
    """Valid code nested deeper than the analysis can follow: said, not an error."""
    return FileError(path, f"{skipped}: nesting too deep {what}", warning=True)


def _lint_source(path: str, source: bytes, settings: Settings, fix: bool) -> LintResult:
    findings, fixes, errors, module = _analyse(path, source, settings)
    result = LintResult(path, sorted(findings), errors)
    if not fix or not fixes or module is None:
        return result
    return _on_deep_stack(lambda: _fixed(path, source, settings, result, fixes, module))


def _fixed(path: str, source: bytes, settings: Settings, result: LintResult,
           fixes: List[Tuple[Finding, Report]], module: Optional[cst.Module]) -> LintResult:
    """Apply ``fixes`` and lint again, until nothing changes."""
    current = source
    fixed: List[Finding] = []
    for _ in range(MAX_FIX_ROUNDS):
        if module is None:
            break
        replacements = {report.fix_node or report.node: report.replacement for _, report in fixes
                        if report.replacement is not None}  # all of them: see _report
        new_module = module.visit(_Replace(replacements))
        new_source = new_module.bytes
        if new_source == current or not _compiles(path, new_source):
            break  # a fix that would not compile is never written
        fixed.extend(finding for finding, _ in fixes)
        current = new_source
        findings, fixes, errors, module = _analyse(path, current, settings)
        if not fixes or module is None:
            break
    if not fixed:
        return result
    return LintResult(path, sorted(findings), errors, fixed=fixed, fixed_source=current)
