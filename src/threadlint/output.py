"""Printing findings: concise (flake8's format), json, github annotations."""

from __future__ import annotations

import json
from collections import Counter
from typing import Iterable, List, TextIO

from threadlint.findings import Finding

FORMATS = ("concise", "json", "github")


def _rule_name(code: str) -> str:
    from threadlint.rules import RULES_BY_CODE  # only here: it imports libcst

    rule = RULES_BY_CODE.get(code)
    return rule.name if rule is not None else ""


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A workflow command's property value: also escape its ``,`` and ``:``."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def write_findings(findings: List[Finding], fmt: str, stream: TextIO) -> None:
    if fmt == "json":
        json.dump([
            {
                "path": f.path, "line": f.line, "column": f.col,
                "end_line": f.end_line, "end_column": f.end_col,
                "code": f.code, "name": _rule_name(f.code), "message": f.message,
                "fixable": f.fixable,
                "related": [{"line": line, "column": col, "message": what}
                            for line, col, what in f.related],
            }
            for f in findings
        ], stream, indent=2)
        stream.write("\n")
    elif fmt == "github":
        for f in findings:
            stream.write(f"::error title=threadlint ({f.code}),file={_escape_property(f.path)},"
                         f"line={f.line},col={f.col}::{f.code} {_escape_data(f.message)}\n")
    else:
        for f in findings:
            stream.write(f.concise() + "\n")


def write_statistics(findings: Iterable[Finding], stream: TextIO) -> None:
    counts = Counter(f.code for f in findings)
    for code in sorted(counts):
        stream.write(f"{counts[code]:>5}  {code}  {_rule_name(code)}\n")
