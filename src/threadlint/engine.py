"""Linting one file: a pure function of (path, source bytes, settings).

The pipeline, in order: prefilter -> size limit -> CPython's verdict
(TL999, :mod:`threadlint.verdict`; nothing CPython refuses reaches libcst) ->
one libcst parse -> the semantic model in explicit phases (names: the one
walk, which records its events; facts: the providers the enabled rules
require, fed by one replay of those events and finished) -> rules (their
hooks over a second replay, then ``finish()``) -> positions (only when
something was reported) -> the noqa stage (``# noqa`` and ``# threadlint:
noqa`` filtering, then TL900, which needs the final findings) -> findings,
optionally fixed. From the parse on, the work runs on a thread with a deep
stack (see :func:`_on_deep_stack`).
"""

from __future__ import annotations

import bisect
import codecs
import difflib
import gc
import hashlib
import re
import traceback
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple, Type, TypeVar

import libcst as cst

from threadlint.compat import module_extents, parse_unvalidated
from threadlint.edits import fix_edit
from threadlint.findings import MAX_SOURCE_LINES, FileError, Finding, Fix, LintResult
from threadlint.model import Cursor, Model, Names, Provider, closure
from threadlint.model.attributes import Attributes
from threadlint.model.checks import Checks
from threadlint.model.core import Options, schedule
from threadlint.model.local_locks import LocalLocks
from threadlint.model.lock_order import LockOrder
from threadlint.model.mutations import Mutations
from threadlint.model.threads import Threads
from threadlint.noqa import Unused, comment_line, remove_unused
from threadlint.noqa import add_noqa as add_noqa_comments
from threadlint.positions import spans
from threadlint.project import Context
from threadlint.rules import ALL_RULES, ENGINE_CODES, SYNTAX_ERROR_CODE, UNUSED_NOQA_CODE
from threadlint.rules.base import RELATED_LINE, Report, Rule
from threadlint.settings import Settings
from threadlint.stacks import on_thread, on_thread_named
from threadlint.summary import summarize
from threadlint.triage import judge_noqa, screen
from threadlint.verdict import parses
from threadlint.walk import Recording, Replace, dispatch, has_hooks, left_types

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
#: the same, then the unused noqa codes (TL900) that --fix removes
_Judged = Tuple[List[Finding], List[Tuple[Finding, Report]], List[FileError], Optional[cst.Module],
                List[Unused]]


def _analyse(path: str, source: bytes, settings: Settings, context: Optional[Context] = None,
             summaries: Optional[List[Dict[str, Any]]] = None) -> _Judged:
    """Parse and run rules once, then the noqa stage. The file's summary for
    whole-project analysis goes into ``summaries``, when given."""
    codes = settings.enabled_codes(path)
    findings, fixes, errors, module = _check(path, source, codes, settings, context, summaries)
    if context is not None and context.findings:
        findings = findings + _project_findings(path, source, codes, context, module)
    return _noqa_stage(path, source, codes, findings, fixes, errors, module)


def _project_findings(path: str, source: bytes, codes: FrozenSet[str], context: Context,
                      module: Optional[cst.Module]) -> List[Finding]:
    """The findings the project index made about this file (a lock order
    inverted across modules), placed like the rules' own."""
    lines = source_lines(source, module.encoding if module is not None else "utf-8")
    found = []
    for line, col, code, message, witness in context.findings:
        if code in codes and 1 <= line <= len(lines):
            found.append(Finding(path, line, col, code, message, noqa_line=comment_line(lines, line, col),
                                 source=_quoted_lines(lines, line, None), witness=witness))
    return found


def _noqa_stage(path: str, source: bytes, codes: FrozenSet[str], findings: List[Finding],
                fixes: List[Tuple[Finding, Report]], errors: List[FileError],
                module: Optional[cst.Module]) -> _Judged:
    """The noqa stage (:func:`threadlint.triage.judge_noqa`); the fixes of
    the findings it silences are dropped too."""
    kept, dead = judge_noqa(path, source, codes, findings, errors)
    if len(kept) < len(findings) or dead:
        survivors = set(kept)
        fixes = [(finding, report) for finding, report in fixes if finding in survivors]
    return kept, fixes, errors, module, dead


def _check(path: str, source: bytes, codes: FrozenSet[str], settings: Settings,
           context: Optional[Context] = None,
           summaries: Optional[List[Dict[str, Any]]] = None) -> _Analysis:
    """The front (:func:`threadlint.triage.screen`), then, for a file that
    needs it, one parse and the rules. Returns (findings, fixes, errors, module)."""
    screened = screen(path, source, codes, settings,
                      force=context is not None and (context.force or bool(context.entries)))
    if screened.verdict is None:
        return list(screened.findings), [], list(screened.errors), None
    encoding = screened.verdict.encoding
    rule_classes = [rule for rule in ALL_RULES if rule.code in codes and rule.code not in ENGINE_CODES]
    if context is not None and context.summary_only:
        rule_classes = []
    return _on_deep_stack(lambda: _parse_and_run(path, source, encoding, rule_classes, settings,
                                                 context, summaries))


def _parse_and_run(path: str, source: bytes, encoding: str, rule_classes: List[Type[Rule]],
                   settings: Settings, context: Optional[Context] = None,
                   summaries: Optional[List[Dict[str, Any]]] = None) -> _Analysis:
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

    summary_only = context is not None and context.summary_only and summaries is not None
    if not rule_classes and not summary_only:
        return [], [], [], module
    kinds = schedule(closure([Names, *([Threads, LockOrder, Mutations, Attributes, Checks, LocalLocks]
                                       if summary_only else []),
                              *(kind for rule in rule_classes for kind in rule.requires)]))
    recording = Recording(left_types([*kinds, *rule_classes])
                          | {t.__name__ for t in Cursor.TYPES})
    model = Model(module, Cursor(), path, source,
                  Options(settings.contracts_from_prose, settings.guarded_ratio,
                          context.entries if context is not None else (),
                          context.before_start if context is not None else ()))
    failures = _Failures(path)
    try:
        model.add(Names(model, recording))
    except Exception as error:  # noqa: BLE001 - reported, never raised
        failures.provider(Names, error)
        return [], [], failures.errors, module
    try:
        _build_facts(model, recording, kinds, failures)
        if summaries is not None and not failures.providers:
            try:
                summary = summarize(model, source, recording)
            except Exception as error:  # noqa: BLE001 - reported, never raised
                failures.add("the project summary", error)
            else:
                if summary is not None:
                    summaries.append(summary)
        reports = _run_rules(model, recording, rule_classes, failures)
        return _report(path, source, module, reports, recording, failures.errors)
    finally:
        model.dismantle()


def _report(path: str, source: bytes, module: cst.Module, reports: List[Report],
            recording: Recording, errors: List[FileError]) -> _Analysis:
    """Positions and fixes for what the rules reported."""
    if not reports:
        return [], [], errors, module

    try:
        nodes = [report.node for report in reports]
        nodes += [node for report in reports for node, _ in report.related]
        nodes += [report.fix_node for report in reports
                  if report.fix_node is not None and report.replacement is not None]
        positions = spans(module, source, nodes, recording)
    except RecursionError:
        return [], [], errors + [_too_deep(path, "to locate findings")], module
    lines = source_lines(source, module.encoding)
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
        if finding in seen:
            continue
        fix = None
        if report.replacement is not None:
            target = report.fix_node or report.node
            try:
                edit = fix_edit(module, lines, positions[target], target, report.replacement)
            except RecursionError:
                edit = None
            fix = Fix(report.applicability, (edit,)) if edit is not None else None
        finding = replace(finding, noqa_line=comment_line(lines, line, col),
                          source=_quoted_lines(lines, line, end_line), fix=fix)
        seen.add(finding)
        findings.append(finding)
        if report.replacement is not None:
            fixes.append((finding, report))
    return findings, fixes, errors, module


_NEWLINE = re.compile(r"\r\n?|\n")  # libcst's line breaks, so lines count as its positions do


def source_lines(source: bytes, encoding: str) -> List[str]:
    """The source's lines, decoded, without their line breaks."""
    text = source.decode(encoding, errors="replace")
    return _NEWLINE.split(text[1:] if text.startswith("\ufeff") else text)


def _quoted_lines(lines: List[str], line: int, end_line: Optional[int]) -> Tuple[str, ...]:
    last = min(end_line or line, line + MAX_SOURCE_LINES - 1, len(lines))
    return tuple(lines[line - 1:last])


def _compiles(path: str, source: bytes) -> bool:
    try:
        parses(source, path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def lint_source(path: str, source: bytes, settings: Settings, *, fix: bool = False,
                context: Optional[Context] = None) -> LintResult:
    """Lint one file's bytes. Never raises for any input. ``context``: what
    whole-project analysis found about the file (:mod:`threadlint.project`);
    the result carries the file's summary for it."""
    # A libcst tree is hundreds of thousands of acyclic objects: the cyclic
    # collector only re-scans them (about 30% of the time on large files).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _lint_source(path, source, settings, fix, context)
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



def _memory_limit(settings: Settings) -> str:
    limit = settings.max_memory
    return f" (the max-memory limit is {limit} MB per process)" if limit else ""


def _too_deep(path: str, what: str, skipped: str = "skipped") -> FileError:
    """Valid code nested deeper than the analysis can follow: said, not an error."""
    return FileError(path, f"{skipped}: nesting too deep {what}", warning=True)


def _applicable(fixes: List[Tuple[Finding, Report]], settings: Settings) -> List[Tuple[Finding, Report]]:
    """The fixes ``--fix`` applies: the safe ones, and with ``--unsafe-fixes`` all."""
    if settings.unsafe_fixes:
        return fixes
    return [(finding, report) for finding, report in fixes if report.applicability == "safe"]


def _lint_source(path: str, source: bytes, settings: Settings, fix: bool,
                 context: Optional[Context] = None) -> LintResult:
    summaries: Optional[List[Dict[str, Any]]] = [] if settings.project else None
    findings, fixes, errors, module, dead = _analyse(path, source, settings, context, summaries)
    fixes = _applicable(fixes, settings)
    if context is not None and context.witnesses:
        findings = _with_witnesses(findings, context)
    result = LintResult(path, sorted(findings), errors, summary=summaries[0] if summaries else None)
    if not fix or not ((fixes and module is not None) or dead):
        return result
    return _on_deep_stack(lambda: _fixed(path, source, settings, result, fixes, module, dead))


def _with_witnesses(findings: List[Finding], context: Context) -> List[Finding]:
    """Each finding about code a thread started elsewhere runs, with the way
    there as locations (its message names the way: the entry's ``via``)."""
    ways = [(entry[3], witness) for entry, witness in zip(context.entries, context.witnesses) if entry[3]]
    found = []
    for finding in findings:
        witness = next((steps for via, steps in ways if via in finding.message), None)
        found.append(finding if witness is None else replace(finding, witness=witness))
    return found


def _fixed(path: str, source: bytes, settings: Settings, result: LintResult,
           fixes: List[Tuple[Finding, Report]], module: Optional[cst.Module],
           dead: List[Unused]) -> LintResult:
    """Apply ``fixes`` and lint again, until nothing changes; then remove
    unused noqa codes (``dead``)."""
    current = source
    findings, errors = result.findings, result.errors
    fixed: List[Finding] = []
    unplaced: List[Finding] = []
    why = "libcst does not reproduce the source around it exactly"
    for _ in range(MAX_FIX_ROUNDS):
        if not fixes or module is None:
            break
        try:
            new_source, applied, unplaced = _splice_fixes(current, module, fixes)
        except RecursionError:  # libcst's code generation
            unplaced, why = [finding for finding, _ in fixes], "nesting too deep to generate code"
            break
        if not applied or new_source == current or not _compiles(path, new_source):
            break  # a fix that would not compile is never written
        fixed.extend(applied)
        current = new_source
        unplaced = []
        findings, fixes, errors, module, dead = _analyse(path, current, settings)
        fixes = _applicable(fixes, settings)
    if dead:
        # Last: the unused codes of the source every other fix left (they
        # are text edits of comments, not libcst replacements).
        cleaned = remove_unused(current, dead)
        if cleaned is not None and cleaned != current and _compiles(path, cleaned):
            fixed.extend(finding for finding in findings if finding.code == UNUSED_NOQA_CODE)
            current = cleaned
            findings, fixes, errors, module, dead = _analyse(path, current, settings)
    refused = [FileError(path, f"{f.line}:{f.col}: {f.code} not fixed: {why}", warning=True)
               for f in unplaced]
    if not fixed:
        return LintResult(path, result.findings, result.errors + refused)
    return LintResult(path, sorted(findings), errors + refused, fixed=fixed, fixed_source=current,
                      unfixed=result,
                      linted_digest=hashlib.sha256(source).hexdigest(), source=source)


# libcst's definition of a line break.
_LINE_BREAK = re.compile(r"\r\n?|\n")


def _line_starts(text: str) -> List[int]:
    return [0] + [match.end() for match in _LINE_BREAK.finditer(text)]


def _offset(starts: List[int], line: int, column: int) -> int:
    """The offset of a libcst position (1-based line, 0-based column)."""
    return starts[line - 1] + column


def _line_map(generated: List[str], original: List[str]) -> Dict[int, int]:
    """Index of each line of libcst's text in the source text, for the lines
    that are the same in both (libcst does not reproduce every file exactly:
    it writes `except OSError :` as `except OSError:`)."""
    if len(generated) == len(original):
        return {i: i for i, (a, b) in enumerate(zip(generated, original)) if a == b}
    mapping: Dict[int, int] = {}
    matcher = difflib.SequenceMatcher(None, generated, original, autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        for k in range(size):
            mapping[a + k] = b + k
    return mapping


def _lines(text: str, starts: List[int]) -> List[str]:
    return [text[start:end] for start, end in zip(starts, starts[1:] + [len(text)])]


def _splice_fixes(source: bytes, module: cst.Module,
                  fixes: List[Tuple[Finding, Report]]) -> Tuple[bytes, List[Finding], List[Finding]]:
    """The fixes as byte splices into ``source``: every byte outside a fixed
    span stays as it was, whatever libcst's code generation does to the rest
    of the module. Returns (new bytes, findings fixed, findings whose span
    could not be placed in the source).

    Each fixed node's span in libcst's text of the module and its
    replacement's span in the text of the fixed module give one edit; the
    edits must rebuild the fixed module's text exactly, and each must lie on
    lines that libcst reproduced exactly, so that it lands on the same text
    in the source. The caller then checks that the result compiles.
    """
    try:
        encoding = module.encoding
        text = source.decode(encoding)
        plain = "utf-8" if codecs.lookup(encoding).name == "utf-8-sig" else encoding
    except (LookupError, UnicodeError):
        return source, [], []
    ranges = module_extents(module)
    chosen: List[Tuple[Finding, cst.CSTNode, cst.CSTNode, int, int]] = []
    generated = module.code
    old_starts = _line_starts(generated)
    for finding, report in fixes:
        node = report.fix_node or report.node
        where = ranges.get(node)
        if report.replacement is None or where is None:
            continue
        start = _offset(old_starts, where.start.line, where.start.column)
        end = _offset(old_starts, where.end.line, where.end.column)
        if any(start < other_end and other_start < end for _, _, _, other_start, other_end in chosen):
            continue  # overlapping fixes: this one waits for the next round
        chosen.append((finding, node, report.replacement, start, end))
    if not chosen:
        return source, [], []
    new_module = module.visit(Replace({node: replacement for _, node, replacement, _, _ in chosen}))
    new_ranges = module_extents(new_module)
    new_generated = new_module.code
    new_starts = _line_starts(new_generated)
    edits: List[Tuple[int, int, str, Finding]] = []
    for finding, _, replacement, start, end in chosen:
        where = new_ranges.get(replacement)
        if where is None:
            return source, [], []
        piece = new_generated[_offset(new_starts, where.start.line, where.start.column):
                              _offset(new_starts, where.end.line, where.end.column)]
        # Only what differs: `(url)` -> `(url,)` is the insertion of a comma.
        old = generated[start:end]
        same = _common_prefix(old, piece)
        start, old, piece = start + same, old[same:], piece[same:]
        same = _common_prefix(old[::-1], piece[::-1])
        end, piece = end - same, piece[:len(piece) - same]
        edits.append((start, end, piece, finding))
    edits.sort(key=lambda edit: edit[0])
    if _apply(generated, [(start, end, piece) for start, end, piece, _ in edits]) != new_generated:
        return source, [], []  # the edits are not the whole change: write nothing
    # Place each edit in the source text, by the lines libcst reproduced.
    src_starts = _line_starts(text)
    mapping = _line_map(_lines(generated, old_starts), _lines(text, src_starts))
    placed: List[Tuple[int, int, str]] = []
    applied: List[Finding] = []
    unplaced: List[Finding] = []
    for start, end, piece, finding in edits:
        first = bisect.bisect_right(old_starts, start) - 1
        last = bisect.bisect_right(old_starts, max(start, end - 1)) - 1
        if first not in mapping or any(mapping.get(line) != mapping[first] + line - first
                                       for line in range(first, last + 1)):
            unplaced.append(finding)
            continue
        shift = src_starts[mapping[first]] - old_starts[first]
        placed.append((start + shift, end + shift, piece))
        applied.append(finding)
    if not placed:
        return source, [], unplaced
    # Splice bytes: the text before and after each edit is never re-encoded.
    bom = len("".encode(encoding))  # utf-8-sig: the 3 bytes of the BOM
    out: List[bytes] = [source[:bom]]
    done_chars, done_bytes = 0, bom
    for start, end, piece in placed:
        start_byte = done_bytes + len(text[done_chars:start].encode(plain))
        end_byte = start_byte + len(text[start:end].encode(plain))
        out.append(source[done_bytes:start_byte])
        out.append(piece.encode(plain))
        done_chars, done_bytes = end, end_byte
    out.append(source[done_bytes:])
    result = b"".join(out)
    try:
        if result.decode(encoding) != _apply(text, placed):
            return source, [], []
    except UnicodeError:
        return source, [], []
    return result, applied, unplaced


def _common_prefix(a: str, b: str) -> int:
    """How many characters ``a`` and ``b`` start with in common."""
    size = min(len(a), len(b))
    same = 0
    while same < size and a[same] == b[same]:
        same += 1
    return same


def _apply(text: str, edits: Sequence[Tuple[int, int, str]]) -> str:
    """``text`` with each (start, end, replacement) applied; edits in order, disjoint."""
    parts: List[str] = []
    done = 0
    for start, end, piece in edits:
        parts.append(text[done:start])
        parts.append(piece)
        done = end
    parts.append(text[done:])
    return "".join(parts)


@dataclass
class AddedNoqa:
    """What ``--add-noqa`` does to one file: the new bytes (None: unchanged),
    the findings it silenced, and those it could not, each with why."""

    source: Optional[bytes]
    added: List[Finding]
    skipped: List[Tuple[Finding, str]]
    errors: List[FileError]


def add_noqa(path: str, source: bytes, settings: Settings) -> AddedNoqa:
    """``source`` with a ``# noqa: CODE`` for each finding, where the noqa stage
    reads it back (``threadlint.noqa.add_noqa``). The result is linted again:
    it must compile and report exactly the findings that were not silenced,
    or the file is left unchanged."""
    result = lint_source(path, source, settings)
    skipped: List[Tuple[Finding, str]] = []
    targets: List[Finding] = []
    for finding in result.findings:
        if finding.code == SYNTAX_ERROR_CODE:
            skipped.append((finding, "a file that does not parse cannot take a noqa comment"))
        elif finding.code == UNUSED_NOQA_CODE:
            skipped.append((finding, "an unused noqa is removed with --fix, not silenced"))
        else:
            targets.append(finding)
    if not targets:
        return AddedNoqa(None, [], skipped, result.errors)
    new_source, unplaced = add_noqa_comments(source, [(f.line, f.code) for f in targets])
    reasons = {(line, code): reason for line, code, reason in unplaced}
    added = [f for f in targets if (f.line, f.code) not in reasons]
    skipped += [(f, reasons[f.line, f.code]) for f in targets if (f.line, f.code) in reasons]
    if new_source is None:
        return AddedNoqa(None, [], skipped, result.errors)
    again = lint_source(path, new_source, settings)
    remaining = sorted(set(result.findings) - set(added))
    if (not _compiles(path, new_source) and _compiles(path, source)) or again.findings != remaining:
        why = "the comments would change what threadlint reports; file left unchanged"
        return AddedNoqa(None, [], skipped + [(f, why) for f in added], result.errors)
    return AddedNoqa(new_source, added, skipped, result.errors)
