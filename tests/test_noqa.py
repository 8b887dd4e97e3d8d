"""File-level ``# threadlint: noqa``, TL900 unused-noqa and its fix."""

from __future__ import annotations

import ast
from typing import List, Tuple

import pytest

from threadlint.engine import lint_source
from threadlint.settings import Settings

HEAD = "import threading\n"
#: TL101 and TL201 on one line.
BAD = "threading.Thread(target=print, args=(1)).start()"
#: Nothing to report.
GOOD = "worker = threading.Thread(target=print, args=(1,))"


def found(source: str, select: Tuple[str, ...] = ("ALL",), **options: object) -> List[Tuple[int, str]]:
    settings = Settings(root="/", select=select, **options)  # type: ignore[arg-type]
    result = lint_source("jobs.py", source.encode(), settings)
    assert result.errors == []
    return sorted((f.line, f.code) for f in result.findings)


# --------------------------------------------------------------------------- #
# File level
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("comment, expected", [
    ("# threadlint: noqa", []),
    ("# threadlint: noqa  (generated code)", []),
    ("#threadlint:noqa", []),
    ("# THREADLINT: NOQA: tl201", [(3, "TL101")]),
    ("# threadlint: noqa: TL201,TL101", []),
    ("# threadlint: noqa: TL1", [(3, "TL201")]),
    ("    # threadlint: noqa: TL2", [(3, "TL101")]),  # indented, still its own line
    ("# threadlint: noqa:", [(3, "TL101"), (3, "TL201")]),  # no code after the colon: not ours
    ("# threadlint: noqa-ish", [(3, "TL101"), (3, "TL201")]),
], ids=["all", "reason", "no-spaces", "case", "two-codes", "prefix", "indented", "empty-codes",
        "other-word"])
def test_file_level_noqa_on_its_own_line(comment: str, expected: List[Tuple[int, str]]) -> None:
    assert found(HEAD + comment + "\n" + BAD + "\n", select=("TL1", "TL2")) == expected


def test_file_level_noqa_anywhere_in_the_file() -> None:
    assert found(HEAD + BAD + "\n" + BAD + "\n# threadlint: noqa: TL101\n", select=("TL1", "TL2")) \
        == [(2, "TL201"), (3, "TL201")]


def test_file_level_noqa_after_code_is_not_an_exemption() -> None:
    source = HEAD + "x = 1  # threadlint: noqa\n" + BAD + "\n"
    assert found(source, select=("TL1", "TL2")) == [(3, "TL101"), (3, "TL201")]


def test_a_syntax_error_cannot_be_silenced() -> None:
    assert found("# threadlint: noqa\ndef f(:  # noqa\n") == [(2, "TL999")]


# --------------------------------------------------------------------------- #
# TL900: what is judged
# --------------------------------------------------------------------------- #

def test_only_codes_of_rules_enabled_for_the_file_are_judged() -> None:
    source = HEAD + GOOD + "  # noqa: TL101\n" + GOOD + "  # noqa: TL201\n"
    assert found(source, select=("TL101", "TL900")) == [(2, "TL900")]
    assert found(source, select=("TL900",)) == []  # nothing enabled to judge
    # A prefix is judged only when every rule it names ran.
    assert found(HEAD + GOOD + "  # noqa: TL1\n", select=("TL101", "TL102", "TL900")) == []
    assert found(HEAD + GOOD + "  # noqa: TL1\n", select=("TL1", "TL900")) == [(2, "TL900")]
    per_file = (("jobs.py", ("TL101",)),)
    assert found(source, select=("TL101", "TL900"), per_file_ignores=per_file) == []


def test_a_file_the_prefilter_skips_is_judged_too() -> None:
    # No import of a threading module: no rule can find anything here.
    assert found("x = 1  # noqa: TL101\ny = 2  # noqa: E501\n") == [(1, "TL900")]


def test_not_judged_where_findings_may_be_incomplete() -> None:
    # A syntax error: the rules did not run.
    assert found("x = 1  # noqa: TL101\ndef f(:\n") == [(2, "TL999")]
    assert found("x = 1  # noqa: TL101\ndef f(:\n", select=("TL1", "TL900")) == []


def test_tl900_is_silenced_like_any_code() -> None:
    assert found(HEAD + GOOD + "  # noqa: TL101, TL900\n") == []
    assert found("# threadlint: noqa: TL900\n" + HEAD + GOOD + "  # noqa: TL101\n") == []
    assert found("# threadlint: noqa\n" + HEAD + GOOD + "  # noqa: TL101\n") == []


def test_a_file_level_exemption_does_not_make_a_line_noqa_unused() -> None:
    source = "# threadlint: noqa: TL101\n" + HEAD + BAD + "  # noqa: TL101, TL201\n"
    assert found(source) == []


# --------------------------------------------------------------------------- #
# TL900's fix
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("comment, after", [
    ("  # noqa: TL101", ""),
    ("  # noqa: TL101, E501", "  # noqa: E501"),
    ("  # noqa:TL101,E501", "  # noqa:E501"),
    ("  # noqa: E501 TL102", "  # noqa: E501"),
    ("  # noqa: TL101 the tuple is built later", "  # the tuple is built later"),
    ("  # keep  # noqa: TL101", "  # keep"),
    ("  # noqa: TL101  # fmt: skip", "  # fmt: skip"),
    ("  # noqa: TL101, TL102, TL2", ""),
], ids=["only", "keeps-other-tool", "no-spaces", "second", "reason", "comment-before",
        "comment-after", "all-three"])
def test_fix_removes_only_the_unused_codes(comment: str, after: str) -> None:
    source = HEAD + GOOD + comment + "\n"
    settings = Settings(root="/")
    result = lint_source("jobs.py", source.encode(), settings, fix=True)
    assert [f.code for f in result.fixed] == ["TL900"]
    assert result.fixed_source == (HEAD + GOOD + after + "\n").encode()
    assert result.findings == []
    again = lint_source("jobs.py", result.fixed_source, settings, fix=True)
    assert again.fixed_source is None and again.findings == []


def test_fix_keeps_used_codes_on_a_multi_line_statement_and_other_fixes_happen_first() -> None:
    source = (HEAD + "threading.Thread(  # noqa: TL201, TL102\n"
              "    target=print,\n    args=(1),\n).start()\n"
              "t = threading.Thread(target=print, args=(2))\n")
    settings = Settings(root="/")
    result = lint_source("jobs.py", source.encode(), settings, fix=True)
    assert result.fixed_source is not None
    assert result.fixed_source.decode() == (
        HEAD + "threading.Thread(  # noqa: TL201\n"
        "    target=print,\n    args=(1,),\n).start()\n"
        "t = threading.Thread(target=print, args=(2,))\n")
    assert sorted(f.code for f in result.fixed) == ["TL101", "TL101", "TL900"]
    assert result.findings == []
    ast.parse(result.fixed_source)
