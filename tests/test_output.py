"""Every output format, checked by what consumes it: the SARIF 2.1.0 schema
(validated with jsonschema), an XML parser reading the JUnit structure
Jenkins reads, GitLab's Code Quality fields, JSON fixes applied as an editor
would apply them, noqa lines fed back to threadlint itself."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List
from xml.etree import ElementTree

import jsonschema
import pytest

from threadlint.docs import rule_doc, sections
from threadlint.edits import _module_edit, fix_edit
from threadlint.findings import Edit, Finding
from threadlint.output import write_findings
from threadlint.rules import RULES_BY_CODE

from conftest import ROOT
from test_cli import FIXABLE, FIXED, JOBS, JOBS_FINDINGS, PIN, TL101_MESSAGE, err_lines, tl, write

#: The SARIF 2.1.0 schema as published (SchemaStore's sarif-2.1.0-rtm.5.json,
#: the final 2.1.0 schema, draft-04), vendored: tests use no network. Taken
#: unchanged from the npm package @microsoft/jest-sarif 1.0.0-beta.0 (MIT),
#: lib/schemas/sarif-2.1.0-rtm.5.json, see tests/schemas/README.md.
SARIF_SCHEMA = json.loads((ROOT / "tests" / "schemas" / "sarif-2.1.0-rtm.5.json").read_text("utf-8"))

LOCK_ORDER = '''\
import threading

a_lock = threading.Lock()
b_lock = threading.Lock()


def one():
    with a_lock:
        with b_lock:
            pass


def two():
    with b_lock:
        with a_lock:
            pass


threading.Thread(target=one).start()
threading.Thread(target=two).start()
'''


def sarif_errors(document: Dict[str, Any]) -> List[str]:
    validator = jsonschema.Draft4Validator(SARIF_SCHEMA, format_checker=jsonschema.FormatChecker())
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(document)]


def run_format(tmp_path: Path, fmt: str, *args: str) -> subprocess.CompletedProcess:
    return tl(["--isolated", "--no-cache", "--output-format", fmt, *args], tmp_path)


# --------------------------------------------------------------------------- #
# SARIF
# --------------------------------------------------------------------------- #

def test_sarif_is_valid_against_the_published_schema_with_rule_metadata(tmp_path: Path) -> None:
    write(tmp_path, {"src/jobs.py": JOBS, "locks.py": LOCK_ORDER})
    proc = run_format(tmp_path, "sarif", "--select", "TL101,TL102,TL103,TL401", "src/jobs.py", "locks.py")
    assert (proc.returncode, proc.stderr) == (1, b"")
    log = json.loads(proc.stdout)
    assert sarif_errors(log) == []
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.resolve().as_uri() + "/"
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == ["TL101", "TL102", "TL103", "TL401"]
    for rule in rules:
        known = RULES_BY_CODE[rule["id"]]
        explained = tl(["--explain", rule["id"]], tmp_path).stdout.decode()
        assert rule["name"] == known.name
        assert rule["shortDescription"]["text"] == known.summary
        assert rule["fullDescription"]["text"] == sections(rule_doc(rule["id"]))["What it does"]
        assert rule["help"]["text"] in explained  # the documentation --explain prints
        assert rule["help"]["text"].startswith("## What it does\n")
        assert rule["properties"]["documentation"] == f"docs/rules.md#{rule['id'].lower()}-{known.name}"
    results = run["results"]
    assert [(r["ruleId"], rules[r["ruleIndex"]]["id"]) for r in results] == [
        ("TL401", "TL401"), ("TL101", "TL101"), ("TL102", "TL102"), ("TL103", "TL103")]
    tl101 = results[1]
    assert tl101["message"]["text"] == TL101_MESSAGE
    assert tl101["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "src/jobs.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 11, "startColumn": 42, "endLine": 11, "endColumn": 45}}
    assert tl101["fixes"][0]["artifactChanges"][0]["replacements"] == [
        {"deletedRegion": {"startLine": 11, "startColumn": 42, "endLine": 11, "endColumn": 45},
         "insertedContent": {"text": "url,"}}]


def test_sarif_gives_a_multi_place_finding_related_locations_and_a_code_flow(tmp_path: Path) -> None:
    write(tmp_path, {"locks.py": LOCK_ORDER})
    log = json.loads(run_format(tmp_path, "sarif", "--select", "TL401", "locks.py").stdout)
    assert sarif_errors(log) == []
    (result,) = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 15
    (related,) = result["relatedLocations"]
    assert related["id"] == 1
    assert related["physicalLocation"]["region"] == {"startLine": 9, "startColumn": 14}
    assert related["message"]["text"] == "`b_lock` taken inside `a_lock`"
    (flow,) = result["codeFlows"]
    steps = flow["threadFlows"][0]["locations"]
    assert [s["location"]["physicalLocation"]["region"]["startLine"] for s in steps] == [9, 15]


def test_sarif_without_findings_and_the_validator_itself(tmp_path: Path) -> None:
    write(tmp_path, {"clean.py": "x = 1\n"})
    proc = run_format(tmp_path, "sarif", "clean.py")
    log = json.loads(proc.stdout)
    assert proc.returncode == 0 and sarif_errors(log) == []
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []
    # The validator is live: what the schema forbids is reported.
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"] = [{"message": {"text": "x"}, "level": "fatal"}]
    del broken["version"]
    assert len(sarif_errors(broken)) == 2


# --------------------------------------------------------------------------- #
# JUnit
# --------------------------------------------------------------------------- #

def test_junit_has_the_structure_jenkins_reads(tmp_path: Path) -> None:
    write(tmp_path, {"src/pkg/jobs.py": JOBS, "b.py": JOBS.replace("    worker.run()\n", "")})
    proc = run_format(tmp_path, "junit", *PIN, "src/pkg/jobs.py", "b.py")
    assert (proc.returncode, proc.stderr) == (1, b"")
    root = ElementTree.fromstring(proc.stdout)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == ("5", "5")
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [
        ("b.py", "2", "2"), ("src/pkg/jobs.py", "3", "3")]
    cases = suites[1].findall("testcase")
    assert [(c.get("classname"), c.get("name"), c.get("line")) for c in cases] == [
        ("src.pkg.jobs", f"{code} at line {line}, column {col}", str(line))
        for line, col, code in JOBS_FINDINGS]
    failure = cases[0].find("failure")
    assert failure is not None
    assert (failure.get("type"), failure.get("message")) == ("TL101", TL101_MESSAGE)
    assert failure.text == f"src/pkg/jobs.py:11:42: TL101 {TL101_MESSAGE}"


def test_junit_without_findings_has_one_passing_test(tmp_path: Path) -> None:
    write(tmp_path, {"clean.py": "x = 1\n"})
    root = ElementTree.fromstring(run_format(tmp_path, "junit", "clean.py").stdout)
    (case,) = root.iter("testcase")
    assert (root.get("tests"), root.get("failures")) == ("1", "0")
    assert list(case) == []  # no <failure>: passed


def test_junit_stays_parseable_with_characters_xml_cannot_hold() -> None:
    finding = Finding("a&b<c>.py", 1, 1, "TL999", "SyntaxError: bad \x00 byte \x1b ]]> & <")
    out = io.StringIO()
    write_findings([finding], "junit", out)
    failure = ElementTree.fromstring(out.getvalue()).find("testsuite/testcase/failure")
    assert failure is not None and failure.get("message") == "SyntaxError: bad ? byte ? ]]> & <"


# --------------------------------------------------------------------------- #
# GitLab Code Quality
# --------------------------------------------------------------------------- #

def test_gitlab_code_quality_fields_and_stable_fingerprints(tmp_path: Path) -> None:
    twice = JOBS.replace("    worker.run()\n", "    worker.run()\n    worker.run()\n")
    write(tmp_path, {"jobs.py": twice})
    first = json.loads(run_format(tmp_path, "gitlab", *PIN, "./jobs.py").stdout)
    assert [(i["check_name"], i["location"]["path"], i["location"]["lines"]["begin"]) for i in first] == [
        ("TL101 thread-args-not-tuple", "jobs.py", 11), ("TL102 thread-target-called", "jobs.py", 12),
        ("TL103 thread-run-called", "jobs.py", 13), ("TL103 thread-run-called", "jobs.py", 14)]
    for issue in first:
        assert set(issue) >= {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in ("info", "minor", "major", "critical", "blocker")
        assert issue["description"].startswith(issue["check_name"].split()[0] + " ")
    assert len({issue["fingerprint"] for issue in first}) == 4  # the two same run() calls too
    # Lines added above the findings move them, not their identity.
    write(tmp_path, {"jobs.py": "# a header\n\n" + twice})
    moved = json.loads(run_format(tmp_path, "gitlab", *PIN, "./jobs.py").stdout)
    assert [i["location"]["lines"]["begin"] for i in moved] == [13, 14, 15, 16]
    assert [i["fingerprint"] for i in moved] == [i["fingerprint"] for i in first]


# --------------------------------------------------------------------------- #
# JSON and JSON lines
# --------------------------------------------------------------------------- #

def apply(source: str, edits: List[Dict[str, Any]]) -> str:
    """Apply non-overlapping edits the way an editor does (from the end)."""
    lines = source.split("\n")

    def offset(line: int, column: int) -> int:
        return sum(len(text) + 1 for text in lines[:line - 1]) + column - 1

    for edit in sorted(edits, key=lambda e: (e["line"], e["column"]), reverse=True):
        start, end = offset(edit["line"], edit["column"]), offset(edit["end_line"], edit["end_column"])
        source = source[:start] + edit["content"] + source[end:]
    return source


def test_json_fixes_applied_as_edits_give_what_fix_writes(tmp_path: Path) -> None:
    write(tmp_path, {"jobs.py": FIXABLE})
    data = json.loads(run_format(tmp_path, "json", *PIN, "jobs.py").stdout)
    fixes = [d["fix"] for d in data if d["fixable"]]
    assert [d["fix"] is not None for d in data] == [d["fixable"] for d in data] == [True, True, True, False]
    assert {fix["applicability"] for fix in fixes} == {"safe"}
    assert apply(FIXABLE, [edit for fix in fixes for edit in fix["edits"]]) == FIXED
    tl(["--isolated", "--no-cache", *PIN, "--fix", "jobs.py"], tmp_path)
    assert (tmp_path / "jobs.py").read_text("utf-8") == FIXED


def test_json_carries_every_field_of_a_finding(tmp_path: Path) -> None:
    write(tmp_path, {"locks.py": LOCK_ORDER})
    (finding,) = json.loads(run_format(tmp_path, "json", "--select", "TL401", "locks.py").stdout)
    assert finding == {
        "path": "locks.py", "line": 15, "column": 14, "end_line": 15, "end_column": 20,
        "code": "TL401", "name": "lock-order-inversion", "message": finding["message"],
        "fixable": False, "fix": None,
        "related": [{"line": 9, "column": 14, "message": "`b_lock` taken inside `a_lock`"}],
        "witness": [], "noqa_line": 15, "url": "docs/rules.md#tl401-lock-order-inversion",
    }
    assert finding["message"].startswith("acquires `a_lock` while holding `b_lock`; line 9 acquires")


MULTILINE = '''\
import threading


def start(url):
    threading.Thread(target=print, args=(url), name="""a
b""").start()
    t = threading.Thread(target=print, args=(url), name=\\
        "c"); t.start(); t.join()
'''


def test_a_noqa_on_the_noqa_line_silences_the_finding(tmp_path: Path) -> None:
    write(tmp_path, {"jobs.py": MULTILINE})
    found = json.loads(run_format(tmp_path, "json", "--select", "TL101", "jobs.py").stdout)
    # Line 5 ends inside a string and line 7 with a backslash: no comment can go there.
    assert [(d["line"], d["noqa_line"]) for d in found] == [(5, 6), (7, 8)]
    lines = MULTILINE.split("\n")
    for d in found:
        lines[d["noqa_line"] - 1] += f"  # noqa: {d['code']}"
        write(tmp_path, {"jobs.py": "\n".join(lines)})
        proc = run_format(tmp_path, "json", "--select", "TL101", "jobs.py")
        compile("\n".join(lines), "jobs.py", "exec")
        assert d["line"] not in [f["line"] for f in json.loads(proc.stdout)]
    assert proc.returncode == 0


def test_json_lines_is_one_json_object_per_finding(tmp_path: Path) -> None:
    write(tmp_path, {"jobs.py": JOBS})
    lines = run_format(tmp_path, "json-lines", *PIN, "jobs.py").stdout.decode().splitlines()
    whole = json.loads(run_format(tmp_path, "json", *PIN, "jobs.py").stdout)
    assert [json.loads(line) for line in lines] == whole and len(lines) == 3


# --------------------------------------------------------------------------- #
# full, pylint
# --------------------------------------------------------------------------- #

def test_full_shows_the_source_line_with_a_caret_under_the_range(tmp_path: Path) -> None:
    write(tmp_path, {"jobs.py": JOBS.replace("fetch, args=(url)", "fetch,\targs=(url)")})
    proc = run_format(tmp_path, "full", *PIN, "jobs.py")
    assert proc.returncode == 1
    tl102, tl103 = (line.split(" ", 2)[2] for line in proc.stdout.decode().splitlines()
                    if line.startswith("jobs.py:1") and " TL10" in line and " TL101 " not in line)
    assert proc.stdout.decode().split("\n\n") == [
        f"jobs.py:11:42: TL101 {TL101_MESSAGE}\n"
        "   |\n"
        "11 |     threading.Thread(target=fetch,  args=(url)).start()\n"  # the tab: to column 36
        "   |                                           ^^^\n"
        "   | fixable with --fix",
        f"jobs.py:12:38: TL102 {tl102}\n"
        "   |\n"
        "12 |     worker = threading.Thread(target=fetch(url))\n"
        "   |                                      ^^^^^^^^^^",
        f"jobs.py:13:5: TL103 {tl103}\n"
        "   |\n"
        "13 |     worker.run()\n"
        "   |     ^^^^^^^^^^^^\n"
        "   | unsafe fix available with --unsafe-fixes\n",
    ]
    assert "\x1b[" not in proc.stdout.decode()  # not a terminal: no color


def test_full_is_colored_on_a_terminal_unless_no_color_is_set(tmp_path: Path) -> None:
    write(tmp_path, {"jobs.py": JOBS})
    outputs = []
    for no_color in ("", "1"):
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        if no_color:
            env["NO_COLOR"] = no_color
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
        leader, follower = pty.openpty()
        proc = subprocess.run([sys.executable, "-m", "threadlint", "--isolated", "--no-cache",
                               "--output-format", "full", "--select", "TL101", "jobs.py"],
                              cwd=tmp_path, stdout=follower, stderr=subprocess.PIPE, env=env, timeout=120)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        assert proc.returncode == 1
        outputs.append(b"".join(chunks).decode())
    colored, plain = outputs
    assert "\x1b[1m\x1b[31mTL101\x1b[0m" in colored and "\x1b[1m\x1b[31m^^^\x1b[0m" in colored
    assert "\x1b[" not in plain and "TL101" in plain


def test_pylint_parseable_format(tmp_path: Path) -> None:
    write(tmp_path, {"jobs.py": JOBS})
    lines = run_format(tmp_path, "pylint", "--select", "TL101", "jobs.py").stdout.decode().splitlines()
    assert lines == [f"jobs.py:11: [TL101(thread-args-not-tuple), ] {TL101_MESSAGE}"]


# --------------------------------------------------------------------------- #
# --output-file
# --------------------------------------------------------------------------- #

def test_output_file_gets_the_report_and_stdout_stays_empty(tmp_path: Path) -> None:
    write(tmp_path, {"jobs.py": JOBS, "reports/old.sarif": "old"})
    proc = run_format(tmp_path, "sarif", *PIN, "--statistics", "--output-file", "reports/old.sarif",
                      "jobs.py")
    assert (proc.returncode, proc.stdout) == (1, b"")
    assert [line.split()[1] for line in err_lines(proc)] == ["TL101", "TL102", "TL103"]  # statistics
    log = json.loads((tmp_path / "reports/old.sarif").read_text("utf-8"))
    assert sarif_errors(log) == [] and len(log["runs"][0]["results"]) == 3
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["old.sarif"]  # no temp left
    proc = run_format(tmp_path, "concise", *PIN, "--statistics", "--output-file", "out.txt", "jobs.py")
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, b"", b"")
    text = (tmp_path / "out.txt").read_text("utf-8").splitlines()
    assert len(text) == 6 and text[0] == f"jobs.py:11:42: TL101 {TL101_MESSAGE}"
    assert oct((tmp_path / "out.txt").stat().st_mode & 0o777) != oct(0o600)  # the umask's mode


def test_an_output_file_that_cannot_be_written_is_one_error_line(tmp_path: Path) -> None:
    write(tmp_path, {"jobs.py": JOBS})
    proc = run_format(tmp_path, "json", *PIN, "--output-file", "missing/dir/out.json", "jobs.py")
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert err_lines(proc) == [
        "threadlint: error: --output-file: cannot write missing/dir/out.json: No such file or directory"]


@pytest.mark.parametrize("fmt", ["concise", "full", "json", "json-lines", "github", "gitlab", "junit",
                                 "sarif", "pylint"])
def test_every_format_with_no_findings(tmp_path: Path, fmt: str) -> None:
    write(tmp_path, {"clean.py": "import threading\n"})
    proc = run_format(tmp_path, fmt, "clean.py")
    assert (proc.returncode, proc.stderr) == (0, b"")
    if fmt in ("json", "gitlab"):
        assert json.loads(proc.stdout) == []
    elif fmt in ("concise", "full", "json-lines", "github", "pylint"):
        assert proc.stdout == b""


# --------------------------------------------------------------------------- #
# Edits
# --------------------------------------------------------------------------- #

def test_an_edit_the_node_alone_cannot_give_is_the_module_difference() -> None:
    import libcst as cst

    module = cst.parse_module("x = (a)\ny = 2\n")
    target = cst.ensure_type(cst.ensure_type(module.body[0], cst.SimpleStatementLine).body[0],
                             cst.Assign).value
    replacement = cst.Tuple([cst.Element(cst.Name("a"), comma=cst.Comma())],
                            lpar=target.lpar, rpar=target.rpar)
    good = fix_edit(module, ["x = (a)", "y = 2", ""], (1, 6, 1, 7), target, replacement)
    assert good == Edit(1, 6, 1, 7, "a,")
    # A span the source does not agree with: the difference of the modules.
    assert fix_edit(module, ["x = (a)", "y = 2", ""], (9, 1, 9, 2), target, replacement) == Edit(
        1, 7, 1, 7, ",")  # the smallest difference: the same change
    assert _module_edit(module, cst.parse_module("x = (a)\ny = 3\n")) == Edit(2, 5, 2, 6, "3")


def test_a_result_from_the_cache_reports_the_same_in_every_format(tmp_path: Path) -> None:
    write(tmp_path, {"jobs.py": FIXABLE})
    for fmt in ("json", "full"):
        args = ["--isolated", "--cache-dir", str(tmp_path / "cache"), "--output-format", fmt, *PIN, "jobs.py"]
        first, second = tl(args, tmp_path), tl(args, tmp_path)  # the second from the cache
        assert first.returncode == second.returncode == 1
        assert first.stdout == second.stdout
        if fmt == "json":
            cached = json.loads(second.stdout)
            assert [(d["fix"] is not None, d["noqa_line"]) for d in cached] == [
                (True, 9), (True, 13), (True, 16), (False, 17)]
    assert any((tmp_path / "cache").rglob("*.json"))
