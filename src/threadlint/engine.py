"""Linting one file: a pure function of (path, source bytes, settings).

The pipeline, in order: decode check -> one libcst parse -> one shared analysis
pass -> one batched traversal running every enabled rule -> positions (only
when something was reported) -> noqa filtering -> findings, optionally fixed.
"""

from __future__ import annotations

import ast
import gc
import itertools
import tokenize
import io
import traceback
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import libcst as cst

from threadlint.analysis import ModuleAnalysis
from threadlint.findings import FileError, Finding, LintResult
from threadlint.noqa import noqa_lines, suppressed
from threadlint.positions import spans
from threadlint.prefilter import prefilter_for
from threadlint.rules import ALL_RULES, SYNTAX_ERROR_CODE
from threadlint.rules.base import Report, Rule
from threadlint.settings import Settings
from threadlint.walk import Recording, left_types, replay, walk

MAX_FIX_ROUNDS = 8
_YOUNG_GARBAGE_WORTH_COLLECTING = 10_000
#: CPython's tokenizer refuses more than 200 nested brackets.
MAX_BRACKET_DEPTH = 200
_BRACKETS = b"()[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_BRACKET_DELTA = {ord("("): 1, ord("["): 1, ord("{"): 1, ord(")"): -1, ord("]"): -1, ord("}"): -1}


def _skip_validation(self: cst.CSTNode) -> None:
    return None


def parse_unvalidated(source: bytes) -> cst.Module:
    """``libcst.parse_module`` without re-validating every node it builds.

    Each libcst node checks its own fields in ``__post_init__``; that guards
    trees built by hand, but the parser only builds valid ones (libcst's own
    source notes validation could be skipped when parsing). It is about 12%
    of the parse, itself most of threadlint's time. Nodes built later, such
    as fixes, are validated as usual. The switch is process-wide for the
    length of the parse: threadlint lints one file at a time per process.
    """
    node_class = cst.CSTNode
    validate = node_class.__dict__.get("__post_init__")
    if validate is None:  # a libcst without the hook: nothing to skip
        return cst.parse_module(source)
    node_class.__post_init__ = _skip_validation  # type: ignore[method-assign]
    try:
        return cst.parse_module(source)
    finally:
        node_class.__post_init__ = validate  # type: ignore[method-assign]


def _bracket_depth(source: bytes) -> int:
    """An upper bound on bracket nesting (brackets in strings count too)."""
    brackets = source.translate(None, _NOT_BRACKETS)
    if len(brackets) <= MAX_BRACKET_DEPTH:
        return len(brackets)
    return max(itertools.accumulate(map(_BRACKET_DELTA.__getitem__, brackets)))


class LintContext:
    """What rules share during the traversal of one module."""

    def __init__(self, path: str, module: cst.Module, analysis: ModuleAnalysis,
                 recording: Optional[Recording] = None) -> None:
        self.path = path
        self.module = module
        self.analysis = analysis
        self.recording = recording  # the analysis walk's events, to replay
        self.reports: List[Report] = []
        self.function_stack: List[cst.CSTNode] = []  # FunctionDef and Lambda nodes
        self.class_stack: List[cst.ClassDef] = []
        self.rules: List[Rule] = []  # every rule instance made for this module

    def dismantle(self) -> None:
        """Drop every reference rules and their shared collectors hold.

        Rules, collectors and this context refer to each other, so without
        this each module's whole tree would wait for the cyclic collector
        (measured: peak memory 134 MB -> 262 MB over the package corpus).
        """
        for rule in self.rules:
            vars(rule).clear()
        vars(self).clear()

    @property
    def current_function(self) -> Optional[cst.FunctionDef]:
        """The innermost enclosing ``def`` (lambdas are skipped)."""
        for node in reversed(self.function_stack):
            if isinstance(node, cst.FunctionDef):
                return node
        return None

    @property
    def current_class(self) -> Optional[cst.ClassDef]:
        """The class whose body (directly or in a method) we are in."""
        return self.class_stack[-1] if self.class_stack else None


_CONTEXT_TYPES = (cst.ClassDef, cst.FunctionDef, cst.Lambda)


def _traverse(ctx: LintContext, rules: Sequence[Rule]) -> None:
    """Run every rule's ``visit_*``/``leave_*`` in one pass over the tree: a
    replay of the analysis walk's events when it recorded what they need.

    The enclosing function and class are pushed before rules visit a node and
    popped after they leave it, so rules see the same context on both sides.
    """

    # Exact type checks: isinstance() on libcst classes is slow, and these
    # classes have no subclasses.
    def enter(node: cst.CSTNode) -> None:
        node_type = type(node)
        if node_type is cst.ClassDef:
            ctx.class_stack.append(node)  # type: ignore[arg-type]
        elif node_type is cst.FunctionDef or node_type is cst.Lambda:
            ctx.function_stack.append(node)

    def exit(node: cst.CSTNode) -> None:
        node_type = type(node)
        if node_type is cst.ClassDef:
            ctx.class_stack.pop()
        elif node_type is cst.FunctionDef or node_type is cst.Lambda:
            ctx.function_stack.pop()

    recording = ctx.recording
    if recording is None or not replay(recording, rules, enter, exit, _CONTEXT_TYPES):
        walk(ctx.module, rules, enter, exit, _CONTEXT_TYPES)


def _compile_error(path: str, source: bytes) -> Optional[Finding]:
    """TL999 where CPython's own parser reports a syntax error, else None."""
    try:
        with warnings.catch_warnings():
            # The file's own SyntaxWarnings (invalid escapes, `is` with a
            # literal) are not threadlint's to print.
            warnings.simplefilter("ignore")
            try:
                # A full compile skips building Python AST objects: about 20%
                # faster than PyCF_ONLY_AST on valid files, the common case.
                compile(source, path, "exec", dont_inherit=True)
                return None
            except Exception:  # noqa: BLE001 - the parser alone decides
                # The compiler also refuses what only it checks (`return`
                # outside a function); TL999 reports parser errors only.
                compile(source, path, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        line = exc.lineno or 1
        col = exc.offset or 1
        return Finding(path, line, max(col, 1), SYNTAX_ERROR_CODE, f"SyntaxError: {exc.msg}")
    except (ValueError, MemoryError) as exc:
        return Finding(path, 1, 1, SYNTAX_ERROR_CODE, f"SyntaxError: {exc}")
    except RecursionError:
        return None  # CPython's parser gave up on the depth; libcst decides
    return None


def _decode_error(path: str, source: bytes) -> Optional[Finding]:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        source.decode(encoding)
    except UnicodeDecodeError as exc:
        line = source.count(b"\n", 0, exc.start) + 1
        col = exc.start - (source.rfind(b"\n", 0, exc.start) + 1) + 1
        return Finding(path, line, col, SYNTAX_ERROR_CODE, f"UnicodeDecodeError: {exc}")
    except (SyntaxError, LookupError) as exc:
        return Finding(path, 1, 1, SYNTAX_ERROR_CODE, f"{type(exc).__name__}: {exc}")
    return None


def _run_rules(ctx: LintContext, rule_classes: Sequence[type]) -> List[FileError]:
    """One traversal for all rules; if one fails, isolate it and keep the others."""
    try:
        _traverse(ctx, [cls(ctx) for cls in rule_classes])
        return []
    except Exception:  # noqa: BLE001 - retried rule by rule below
        pass
    errors: List[FileError] = []
    ctx.reports = []
    for cls in rule_classes:
        before = len(ctx.reports)
        ctx.function_stack.clear()
        ctx.class_stack.clear()
        try:
            _traverse(ctx, [cls(ctx)])
        except RecursionError:
            del ctx.reports[before:]
            errors.append(FileError(ctx.path, f"{cls.code} ({cls.name}) skipped: "
                                              "nesting too deep to analyse"))
        except Exception as exc:  # noqa: BLE001 - reported, never raised
            del ctx.reports[before:]
            where = traceback.extract_tb(exc.__traceback__)[-1]
            errors.append(FileError(
                ctx.path, f"internal error in rule {cls.code} ({cls.name}): "
                          f"{type(exc).__name__}: {exc} [{where.filename}:{where.lineno}]"))
    return errors


def _analyse(path: str, source: bytes, settings: Settings):
    """Parse and run rules once. Returns (findings, fixes, errors, module)."""
    codes = settings.enabled_codes(path)
    if not codes:
        return [], [], [], None
    decode_problem = _decode_error(path, source)
    if decode_problem is not None:
        keep = [decode_problem] if SYNTAX_ERROR_CODE in codes else []
        return keep, [], [], None
    rule_classes = [rule for rule in ALL_RULES if rule.code in codes and rule.code != SYNTAX_ERROR_CODE]
    if not prefilter_for(frozenset(rule.needs for rule in rule_classes)).admits(source):
        # Nothing any enabled rule looks for can be in this file: skip the
        # libcst parse, and only ask CPython whether the syntax is valid.
        finding = _compile_error(path, source) if SYNTAX_ERROR_CODE in codes else None
        return ([finding] if finding else []), [], [], None
    if _bracket_depth(source) > MAX_BRACKET_DEPTH:
        # libcst's native parser can overflow its stack (and kill the process)
        # on very deep nesting; CPython refuses such files with a SyntaxError.
        finding = _compile_error(path, source)
        if finding is not None:
            return ([finding] if SYNTAX_ERROR_CODE in codes else []), [], [], None
    try:
        module = parse_unvalidated(source)
    except cst.ParserSyntaxError as exc:
        finding = _compile_error(path, source)
        if finding is not None:
            return ([finding] if SYNTAX_ERROR_CODE in codes else []), [], [], None
        where = f"line {exc.raw_line}, column {exc.raw_column + 1}"
        return [], [], [FileError(path, f"skipped: libcst cannot parse this file ({where}) "
                                        "although CPython accepts it", warning=True)], None
    except RecursionError:
        return [], [], [FileError(path, "skipped: nesting too deep for the parser")], None
    except Exception as exc:  # noqa: BLE001 - the native parser's other failures
        return [], [], [FileError(path, f"parser failed: {type(exc).__name__}: {exc}")], None

    if not rule_classes:
        return [], [], [], module
    recording = Recording(left_types(rule_classes) | {t.__name__ for t in _CONTEXT_TYPES})
    try:
        analysis = ModuleAnalysis(module, recording)
    except RecursionError:
        return [], [], [FileError(path, "skipped: nesting too deep to analyse")], module
    except Exception as exc:  # noqa: BLE001 - reported, never raised
        return [], [], [FileError(path, f"internal error in analysis: {type(exc).__name__}: {exc}")], module

    ctx = LintContext(path, module, analysis, recording)
    try:
        return _report(path, source, module, ctx, _run_rules(ctx, rule_classes))
    finally:
        ctx.dismantle()
        analysis.dismantle()


def _report(path: str, source: bytes, module: cst.Module, ctx: LintContext,
            errors: List[FileError]):
    """Positions, noqa and fixes for what the rules reported."""
    if not ctx.reports:
        return [], [], errors, module

    try:
        positions = spans(module, source, [report.node for report in ctx.reports], ctx.recording)
    except RecursionError:
        return [], [], errors + [FileError(path, "skipped: nesting too deep to locate findings")], module
    noqa = noqa_lines(source)
    findings: List[Finding] = []
    fixes: List[Tuple[Finding, Report]] = []
    seen = set()
    for report in ctx.reports:
        line, col, end_line, end_col = positions[report.node]
        finding = Finding(path, line, col, report.rule.code, report.message,
                          report.replacement is not None, end_line, end_col)
        if finding in seen or suppressed(noqa, line, finding.code):
            continue
        seen.add(finding)
        findings.append(finding)
        if report.replacement is not None:
            fixes.append((finding, report))
    return findings, fixes, errors, module


def _compiles(path: str, source: bytes) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, path, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: Dict[cst.CSTNode, cst.CSTNode]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original_node, updated_node):  # type: ignore[override]
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
        return LintResult(path, errors=[FileError(path, "skipped: nesting too deep to analyse")])
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


def _lint_source(path: str, source: bytes, settings: Settings, fix: bool) -> LintResult:
    findings, fixes, errors, module = _analyse(path, source, settings)
    result = LintResult(path, sorted(findings), errors)
    if not fix or not fixes or module is None:
        return result
    current = source
    fixed: List[Finding] = []
    for _ in range(MAX_FIX_ROUNDS):
        replacements = {report.node: report.replacement for _, report in fixes}
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
