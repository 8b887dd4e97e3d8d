"""Printing findings in every format threadlint offers.

concise (flake8's ``path:line:col: CODE message``), full (that line, then the
source line with a caret), json and json-lines (every field of a finding),
github (workflow annotations), gitlab (Code Quality), junit (the XML
Jenkins and GitLab read), sarif (2.1.0, for code scanning) and pylint
(pylint's parseable format). No format imports libcst at module level: a run
answered from the cache must not pay for it; rule metadata is imported only
when there is a finding to describe.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import os
import posixpath
import tokenize
import urllib.parse
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, TextIO, Tuple

from threadlint import __version__
from threadlint.docs import rule_doc, sections, url
from threadlint.findings import Finding, Fix

FORMATS = ("concise", "full", "json", "json-lines", "github", "gitlab", "junit", "sarif", "pylint")
#: Formats that are one document a tool parses: nothing else may share their stream.
DOCUMENT_FORMATS = ("json", "json-lines", "gitlab", "junit", "sarif")

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_VERSION = "2.1.0"


def _rule_name(code: str) -> str:
    from threadlint.rules import RULES_BY_CODE  # only here: it imports libcst

    rule = RULES_BY_CODE.get(code)
    return rule.name if rule is not None else ""


def _rule_summary(code: str) -> str:
    from threadlint.rules import RULES_BY_CODE  # only here: it imports libcst

    rule = RULES_BY_CODE.get(code)
    return rule.summary if rule is not None else ""


def wants_color(stream: TextIO) -> bool:
    """Color only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def write_findings(findings: List[Finding], fmt: str, stream: TextIO, color: bool = False) -> None:
    """Write ``findings`` (sorted) to ``stream`` in format ``fmt``; ``color``
    only matters to ``full``."""
    if fmt == "json":
        json.dump([_json(f) for f in findings], stream, indent=2)
        stream.write("\n")
    elif fmt == "json-lines":
        for f in findings:
            stream.write(json.dumps(_json(f)) + "\n")
    elif fmt == "github":
        _github(findings, stream)
    elif fmt == "gitlab":
        json.dump(_gitlab(findings), stream, indent=2)
        stream.write("\n")
    elif fmt == "junit":
        _junit(findings, stream)
    elif fmt == "sarif":
        json.dump(_sarif(findings), stream, indent=2)
        stream.write("\n")
    elif fmt == "pylint":
        for f in findings:
            # pylint's "parseable" template: {path}:{line}: [{msg_id}({symbol}), {obj}] {msg}
            stream.write(f"{f.path}:{f.line}: [{f.code}({_rule_name(f.code)}), ] {f.message}\n")
    elif fmt == "full":
        _full(findings, stream, color)
    else:
        for f in findings:
            stream.write(f.concise() + "\n")


def write_statistics(findings: Iterable[Finding], stream: TextIO) -> None:
    counts = Counter(f.code for f in findings)
    for code in sorted(counts):
        stream.write(f"{counts[code]:>5}  {code}  {_rule_name(code)}\n")


# --------------------------------------------------------------------------- #
# json, json-lines
# --------------------------------------------------------------------------- #

def _json(f: Finding) -> Dict[str, Any]:
    name = _rule_name(f.code)
    return {
        "path": f.path, "line": f.line, "column": f.col,
        "end_line": f.end_line, "end_column": f.end_col,
        "code": f.code, "name": name, "message": f.message,
        "fixable": f.fixable, "fix": _json_fix(f.fix),
        "related": [{"line": line, "column": col, "message": what} for line, col, what in f.related],
        "witness": [{"path": path, "line": line or None, "column": col or None, "message": what}
                    for path, line, col, what in f.witness],
        "noqa_line": f.noqa_line,
        "url": url(f.code, name) if name else None,
    }


def _json_fix(fix: Optional[Fix]) -> Optional[Dict[str, Any]]:
    if fix is None:
        return None
    return {
        "applicability": fix.applicability,
        "edits": [{"line": e.line, "column": e.col, "end_line": e.end_line,
                   "end_column": e.end_col, "content": e.content} for e in fix.edits],
    }


# --------------------------------------------------------------------------- #
# full
# --------------------------------------------------------------------------- #

_RED, _BLUE, _BOLD, _RESET = "\x1b[31m", "\x1b[34m", "\x1b[1m", "\x1b[0m"
_TAB = 4


def _full(findings: List[Finding], stream: TextIO, color: bool) -> None:
    def paint(text: str, style: str) -> str:
        return f"{style}{text}{_RESET}" if color and text else text

    for index, f in enumerate(findings):
        if index:
            stream.write("\n")
        where = paint(f"{f.path}:{f.line}:{f.col}:", _BOLD)
        stream.write(f"{where} {paint(f.code, _BOLD + _RED)} {f.message}\n")
        if not f.source:
            continue
        width = len(str(f.line + len(f.source) - 1))
        gutter = paint(" " * width + " |", _BLUE)
        stream.write(gutter + "\n")
        for offset, text in enumerate(f.source):
            number = paint(f"{f.line + offset:>{width}} |", _BLUE)
            stream.write(f"{number} {text.expandtabs(_TAB)}".rstrip() + "\n")
            if offset == 0:
                start, end = _caret_range(f, text)
                caret = paint("^" * (end - start), _BOLD + _RED)
                stream.write(f"{gutter} {' ' * start}{caret}\n")
        if f.fixable:
            unsafe = f.fix is not None and f.fix.applicability == "unsafe"
            hint = "unsafe fix available with --unsafe-fixes" if unsafe else "fixable with --fix"
            stream.write(f"{gutter} {paint(hint, _BLUE)}\n")


def _caret_range(f: Finding, text: str) -> Tuple[int, int]:
    """Display columns (tabs expanded) under which to put carets on the first
    line: the finding's range, to the end of the line if it goes on."""
    start = min(max(f.col - 1, 0), len(text))
    if f.end_line == f.line and f.end_col is not None and f.end_col > f.col:
        end = min(f.end_col - 1, len(text))
    elif f.end_line is not None and f.end_line > f.line:
        end = len(text.rstrip())
    else:
        end = start + 1
    shown_start = len(text[:start].expandtabs(_TAB))
    shown_end = len(text[:end].expandtabs(_TAB))
    return shown_start, max(shown_end, shown_start + 1)


# --------------------------------------------------------------------------- #
# github
# --------------------------------------------------------------------------- #

def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A workflow command's property value: also escape its ``,`` and ``:``."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(findings: List[Finding], stream: TextIO) -> None:
    for f in findings:
        stream.write(f"::error title=threadlint ({f.code}),file={_escape_property(f.path)},"
                     f"line={f.line},col={f.col}::{f.code} {_escape_data(f.message)}\n")


# --------------------------------------------------------------------------- #
# gitlab
# --------------------------------------------------------------------------- #

def _relative(path: str) -> str:
    """A path from the current directory, with ``/``: what GitLab and SARIF
    consumers resolve against the repository's root (absolute when outside)."""
    if os.path.isabs(path):
        try:
            relative = os.path.relpath(path)
        except ValueError:  # another drive (Windows)
            return path.replace(os.sep, "/")
        if relative.startswith(os.pardir):
            return path.replace(os.sep, "/")
        path = relative
    return posixpath.normpath(path.replace(os.sep, "/"))


def _gitlab(findings: List[Finding]) -> List[Dict[str, Any]]:
    """GitLab's Code Quality report. The fingerprint hashes the path, the code,
    the message and the source line's text, not the line number, so a finding
    keeps its identity when lines above it move; the nth identical one of a
    file gets n in the hash too, so fingerprints stay unique."""
    issues = []
    seen: Counter = Counter()
    for f in findings:
        path = _relative(f.path)
        text = f.source[0].strip() if f.source else ""
        identity = (path, f.code, f.message, text)
        seen[identity] += 1
        digest = hashlib.sha256("\0".join([*identity, str(seen[identity])]).encode()).hexdigest()
        issues.append({
            "description": f"{f.code} {f.message}",
            "check_name": f"{f.code} {_rule_name(f.code)}".rstrip(),
            "fingerprint": digest[:32],
            "severity": "major",
            "categories": ["Bug Risk"],
            "location": {"path": path, "lines": {"begin": f.line, "end": f.end_line or f.line}},
        })
    return issues


# --------------------------------------------------------------------------- #
# junit
# --------------------------------------------------------------------------- #

def _classname(path: str) -> str:
    """``src/jobs.py`` -> ``src.jobs``: Jenkins splits a classname at its last
    dot into package and class, so a file reads as a module."""
    relative = _relative(path)
    stem = relative[:-3] if relative.endswith(".py") else relative
    return stem.strip("/").replace("/", ".") or relative


#: What XML 1.0 cannot hold at all, even escaped.
_NOT_XML = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF], "?")


def _xml(text: str) -> str:
    return text.translate(_NOT_XML)


def _junit(findings: List[Finding], stream: TextIO) -> None:
    """One testsuite per file with findings, one failed testcase per finding;
    without findings, one passing testcase (a report with no test at all is
    an error to Jenkins' JUnit plugin)."""
    by_file: Dict[str, List[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.path, []).append(f)
    from xml.etree import ElementTree

    root = ElementTree.Element("testsuites", name="threadlint", tests=str(max(len(findings), 1)),
                               failures=str(len(findings)), errors="0")
    if not findings:
        suite = ElementTree.SubElement(root, "testsuite", name="threadlint", tests="1",
                                       failures="0", errors="0", skipped="0")
        ElementTree.SubElement(suite, "testcase", name="no findings", classname="threadlint")
    for path, found in by_file.items():
        suite = ElementTree.SubElement(root, "testsuite", name=_xml(path), tests=str(len(found)),
                                       failures=str(len(found)), errors="0", skipped="0")
        for f in found:
            case = ElementTree.SubElement(
                suite, "testcase", name=f"{f.code} at line {f.line}, column {f.col}",
                classname=_xml(_classname(f.path)), file=_xml(f.path), line=str(f.line))
            failure = ElementTree.SubElement(case, "failure", message=_xml(f.message), type=f.code)
            failure.text = _xml(f.concise())
    ElementTree.indent(root)
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    stream.write(ElementTree.tostring(root, encoding="unicode"))
    stream.write("\n")


# --------------------------------------------------------------------------- #
# sarif
# --------------------------------------------------------------------------- #

def _artifact(path: str) -> Dict[str, Any]:
    relative = _relative(path)
    if posixpath.isabs(relative) or os.path.isabs(relative):
        return {"uri": "file://" + urllib.parse.quote(relative if relative.startswith("/")
                                                       else "/" + relative)}
    return {"uri": urllib.parse.quote(relative), "uriBaseId": "%SRCROOT%"}


def _region(line: int, col: int, end_line: Optional[int] = None,
            end_col: Optional[int] = None) -> Dict[str, int]:
    region = {"startLine": line, "startColumn": col}
    if end_line is not None and end_col is not None:
        region.update(endLine=end_line, endColumn=end_col)
    return region


def _location(path: str, region: Dict[str, int], message: Optional[str] = None,
              ident: Optional[int] = None) -> Dict[str, Any]:
    location: Dict[str, Any] = {"physicalLocation": {"artifactLocation": _artifact(path),
                                                     "region": region}}
    if ident is not None:
        location["id"] = ident
    if message is not None:
        location["message"] = {"text": message}
    return location


def _sarif_rule(code: str) -> Dict[str, Any]:
    name = _rule_name(code)
    doc = rule_doc(code)
    what = sections(doc).get("What it does", "") or _rule_summary(code)
    return {
        "id": code,
        "name": name,
        "shortDescription": {"text": _rule_summary(code)},
        "fullDescription": {"text": what},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": "error"},
        "properties": {"documentation": url(code, name), "tags": ["threading"]},
    }


def _sarif_result(f: Finding, index: int) -> Dict[str, Any]:
    result: Dict[str, Any] = {
        "ruleId": f.code,
        "ruleIndex": index,
        "level": "error",
        "message": {"text": f.message},
        "locations": [_location(f.path, _region(f.line, f.col, f.end_line, f.end_col))],
    }
    if f.related:
        related = [_location(f.path, _region(line, col), what, ident)
                   for ident, (line, col, what) in enumerate(f.related, start=1)]
        result["relatedLocations"] = related
        # The places in order, this finding's last: one thread's way through them.
        steps = [{"location": _location(f.path, _region(line, col), what)}
                 for line, col, what in f.related]
        steps.append({"location": _location(f.path, _region(f.line, f.col, f.end_line, f.end_col),
                                            f.message)})
        result["codeFlows"] = [{"threadFlows": [{"locations": steps}]}]
    if f.witness:
        # The way a thread started in another module gets here, file by file.
        steps = [{"location": _location(path, _region(line or 1, col or 1), what)}
                 for path, line, col, what in f.witness]
        steps.append({"location": _location(f.path, _region(f.line, f.col, f.end_line, f.end_col),
                                            f.message)})
        result.setdefault("codeFlows", []).append({"threadFlows": [{"locations": steps}]})
    if f.noqa_line is not None:
        result["properties"] = {"noqaLine": f.noqa_line}
    if f.fix is not None:
        result["fixes"] = [{
            "description": {"text": f"{f.fix.applicability} fix"},
            "artifactChanges": [{
                "artifactLocation": _artifact(f.path),
                "replacements": [{"deletedRegion": _region(e.line, e.col, e.end_line, e.end_col),
                                  "insertedContent": {"text": e.content}} for e in f.fix.edits],
            }],
        }]
    return result


def _sarif(findings: List[Finding]) -> Dict[str, Any]:
    """A SARIF 2.1.0 log with one run. Columns are counted in Unicode code
    points (``columnKind``), as threadlint counts them; the rules listed are
    those with results, each with its documentation as help text."""
    codes = sorted({f.code for f in findings})
    index = {code: position for position, code in enumerate(codes)}
    root = urllib.parse.quote(os.getcwd().replace(os.sep, "/").rstrip("/") + "/")
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "threadlint",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [_sarif_rule(code) for code in codes],
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": "file://" + (root if root.startswith("/")
                                                                      else "/" + root)}},
            "columnKind": "unicodeCodePoints",
            "results": [_sarif_result(f, index[f.code]) for f in findings],
        }],
    }


# --------------------------------------------------------------------------- #
# Fix ergonomics: --diff, --show-fixes and the summary at the end of a run
# --------------------------------------------------------------------------- #

def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def _decode(source: bytes) -> str:
    """The text of a Python file, decoded by its coding cookie (a file that
    --fix changed was decoded by the engine, so this does not fail)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        return source.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return source.decode("utf-8", errors="replace")


def unified_diff(path: str, before: bytes, after: bytes) -> str:
    """``before`` -> ``after`` as a unified diff with ruff's (and git's)
    ``--- a/path`` / ``+++ b/path`` headers; a last line without a line
    break is marked as diff(1) marks it."""
    lines: List[str] = []
    for line in difflib.unified_diff(_decode(before).splitlines(keepends=True),
                                     _decode(after).splitlines(keepends=True),
                                     f"a/{path}", f"b/{path}"):
        if line.endswith(("\r\n", "\n", "\r")):
            lines.append(line)
        else:
            lines.append(line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def _hidden(findings: Iterable[Finding], unsafe_fixes: bool) -> int:
    """Findings whose only fix is unsafe, when unsafe fixes are not enabled."""
    if unsafe_fixes:
        return 0
    return sum(1 for f in findings
               if f.fixable and f.fix is not None and f.fix.applicability == "unsafe")


def summary(findings: List[Finding], fixed: List[Finding], fixing: bool,
            unsafe_fixes: bool) -> str:
    """The line at the end of a run, in ruff's shapes with threadlint's word:
    ``All checks passed!``, ``Found 12 findings (3 fixable with --fix).``,
    ``Found 12 findings (3 fixed, 9 remaining).``; findings whose only fix
    is unsafe are counted apart, with the option that applies them."""
    total = len(findings) + len(fixed)
    if total == 0:
        return "All checks passed!\n"
    hidden = _hidden(findings, unsafe_fixes)
    parts: List[str] = []
    if fixing:
        parts.append(f"{len(fixed)} fixed, {len(findings)} remaining")
    else:
        fixable = sum(1 for f in findings if f.fixable) - hidden
        if fixable:
            parts.append(f"{fixable} fixable with --fix")
    if hidden:
        fixes = "unsafe fix" if hidden == 1 else "unsafe fixes"
        parts.append(f"{hidden} {fixes} available with --unsafe-fixes")
    detail = f" ({'; '.join(parts)})" if parts else ""
    return f"Found {_plural(total, 'finding')}{detail}.\n"


def would_fix(fixes: int, findings: List[Finding], unsafe_fixes: bool) -> str:
    """The line after ``--diff``: what ``--fix`` would do."""
    hidden = _hidden(findings, unsafe_fixes)
    extra = ""
    if hidden:
        fixes_word = "unsafe fix" if hidden == 1 else "unsafe fixes"
        extra = f" ({hidden} {fixes_word} available with --unsafe-fixes)"
    if not fixes:
        return f"No fixes available{extra}.\n"
    return f"Would fix {_plural(fixes, 'finding')}{extra}.\n"


def write_fixes(fixed: List[Finding], stream: TextIO) -> None:
    """``--show-fixes``: ruff's block, what was fixed per file and code."""
    if not fixed:
        stream.write("No findings fixed.\n")
        return
    stream.write(f"Fixed {_plural(len(fixed), 'finding')}:\n")
    by_path: Dict[str, Counter] = {}
    for f in fixed:
        by_path.setdefault(f.path, Counter())[f.code] += 1
    for path in sorted(by_path):
        stream.write(f"- {path}:\n")
        for code, count in sorted(by_path[path].items()):
            stream.write(f"    {count} \u00d7 {code} ({_rule_name(code)})\n")
