"""The front of the pipeline, before any parse: prefilter, size limit,
CPython's verdict (TL999), and, for a file that goes no further, the noqa
stage.

It imports neither libcst nor any rule, so the parent process answers every
file that needs no parse (most of a typical tree, all of many pre-commit runs)
without importing the engine or starting a child process; the engine runs the
same front first (:func:`screen`), so both paths give one result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Sequence, Tuple

from threadlint.catalog import ENGINE_CODES, SYNTAX_ERROR_CODE, UNUSED_NOQA_CODE, rule_codes
from threadlint.findings import FileError, Finding, LintResult
from threadlint.needs import RULE_NEEDS
from threadlint.noqa import Unused, read_noqa, unused
from threadlint.prefilter import EVERY_FILE, prefilter_for
from threadlint.settings import Settings
from threadlint.verdict import Verdict
from threadlint.verdict import check as check_syntax


@dataclass(frozen=True)
class Screened:
    """What the front decided about one file."""

    findings: Tuple[Finding, ...] = ()
    errors: Tuple[FileError, ...] = ()
    #: CPython's verdict when the file goes on to a parse; None when it does not.
    verdict: Optional[Verdict] = None


def admits(source: bytes, codes: FrozenSet[str]) -> bool:
    """Whether an enabled rule may find something in ``source``: nothing any
    of them looks for can be in a file the prefilter refuses, which needs no
    parse, only CPython's verdict when TL999 is on."""
    needs = frozenset(RULE_NEEDS.get(code, EVERY_FILE) for code in codes - ENGINE_CODES)
    return prefilter_for(needs).admits(source)


def screen(path: str, source: bytes, codes: FrozenSet[str], settings: Settings,
           force: bool = False, admitted: Optional[bool] = None) -> Screened:
    """Prefilter, size limit and CPython's verdict for ``source`` under the
    enabled ``codes``; with ``force``, the file is parsed whatever the
    prefilter says (whole-project analysis needs its summary)."""
    if not codes:
        return Screened()
    admitted = force or (admits(source, codes) if admitted is None else admitted)
    if not admitted and SYNTAX_ERROR_CODE not in codes:
        return Screened()
    limit = settings.max_file_size
    if limit and len(source) > limit:
        # libcst needs hundreds of bytes of memory per byte of source, CPython
        # tens: neither reads the file.
        return Screened(errors=(FileError(path, f"skipped: the file is {size_text(len(source))}, over the "
                                                f"{size_text(limit)} max-file-size limit (raise it in "
                                                "[tool.threadlint] to lint the file)"),))
    # CPython's verdict comes first for every file: TL999 is the interpreter's,
    # and what CPython refuses (nesting deep enough to crash libcst's native
    # parser among it) is never handed to libcst.
    verdict = check_syntax(path, source)
    if verdict.error is not None:
        if SYNTAX_ERROR_CODE not in codes:
            return Screened()
        line, col, message = verdict.error
        return Screened(findings=(Finding(path, line, col, SYNTAX_ERROR_CODE, message),))
    if not admitted:
        return Screened()
    if verdict.undecodable is not None:
        line, col, reason = verdict.undecodable
        return Screened(errors=(FileError(path, f"skipped: libcst cannot decode this file (line {line}, "
                                                f"column {col}: {reason}) although CPython accepts it",
                                          warning=True),))
    return Screened(verdict=verdict)


def judge_noqa(path: str, source: bytes, codes: FrozenSet[str], findings: List[Finding],
               errors: Sequence[FileError]) -> Tuple[List[Finding], List[Unused]]:
    """The noqa stage: drop what ``# noqa`` and ``# threadlint: noqa``
    silence (never TL999: a file that does not parse has no reliable
    comments), then report the threadlint codes of line-level noqa comments
    that silenced nothing (TL900), when the findings are complete. Returns
    the findings kept and the unused codes (which ``--fix`` removes)."""
    judge = UNUSED_NOQA_CODE in codes
    if not findings and not judge:
        return findings, []
    noqa = read_noqa(source)
    kept = [finding for finding in findings
            if finding.code == SYNTAX_ERROR_CODE or not noqa.suppresses(finding.line, finding.code)]
    dead: List[Unused] = []
    complete = noqa.tokenized and not errors and all(f.code != SYNTAX_ERROR_CODE for f in findings)
    if judge and complete:
        for item in unused(noqa, codes, rule_codes(), UNUSED_NOQA_CODE):
            directive = item.directive
            if noqa.suppresses(directive.line, UNUSED_NOQA_CODE):
                continue
            dead.append(item)
            kept.append(Finding(path, directive.line, directive.col, UNUSED_NOQA_CODE,
                                _unused_message(item.codes), True))
    return kept, dead


def _unused_message(codes: Sequence[str]) -> str:
    if len(codes) == 1:
        return (f"`# noqa` code {codes[0]} suppresses nothing: no {codes[0]} finding on this "
                "statement; remove it")
    return (f"`# noqa` codes {', '.join(codes)} suppress nothing: no such finding on this "
            "statement; remove them")


def triage(path: str, source: bytes, settings: Settings, fix: bool = False) -> Optional[LintResult]:
    """The result of linting ``source`` when it needs no parse (the
    prefilter refuses it, CPython refuses it, or it is over the size limit);
    None when it does, which is the engine's work (and so is removing unused
    noqa codes under ``--fix``)."""
    codes = settings.enabled_codes(path)
    oversized = bool(settings.max_file_size) and len(source) > settings.max_file_size
    admitted = bool(codes) and admits(source, codes)
    if admitted and not oversized:
        return None  # the engine computes CPython's verdict itself: once is enough
    screened = screen(path, source, codes, settings, admitted=admitted)
    if screened.verdict is not None:
        return None
    findings, dead = judge_noqa(path, source, codes, list(screened.findings), screened.errors)
    if fix and dead:
        return None
    return LintResult(path, sorted(findings), list(screened.errors))


def size_text(size: int) -> str:
    for unit, scale in (("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"
