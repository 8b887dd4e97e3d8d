"""Whole-project analysis: the multi-module fixtures under fixtures/projects are
the spec (each finding is exactly an ``# error:`` comment, in any of their
files), partial runs report only the files named, and the index resolves names
the way imports do."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import pytest

from threadlint.project import EntrySpec, Index, module_names, parse_entry, valid_summary

from conftest import ROOT, expected_findings, readme_console, run_cli

PROJECTS_DIR = ROOT / "fixtures" / "projects"
PROJECTS = sorted(p for p in PROJECTS_DIR.iterdir() if p.is_dir())
SNAPSHOTS = ROOT / "tests" / "snapshots" / "projects"
_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>TL\d{3}) ")


def _normal(path: str) -> str:
    return path[2:] if path.startswith("./") else path


def _found(output: str) -> Set[Tuple[str, int, str]]:
    found = set()
    for line in output.splitlines():
        match = _LINE.match(line)
        assert match, line
        found.add((_normal(match["path"]), int(match["line"]), match["code"]))
    return found


def _expected(project: Path) -> Set[Tuple[str, int, str]]:
    return {(path.relative_to(project).as_posix(), line, code)
            for path in sorted(project.rglob("*.py")) for line, code in expected_findings(path)}


def _copy(project: Path, tmp_path: Path) -> Path:
    target = tmp_path / project.name
    shutil.copytree(project, target)
    return target


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_project_findings_are_exactly_the_annotated_ones(project: Path) -> None:
    proc = run_cli(["--no-cache", "."], cwd=project)
    out = proc.stdout.decode()
    assert proc.stderr.decode() == ""
    expected = _expected(project)
    assert expected, f"{project.name} expects no finding at all"
    assert _found(out) == expected, out
    assert len(out.splitlines()) == len(expected), "a finding reported twice"
    # More tricky negatives than positives, as in every fixture.
    negatives = sum(p.read_text(encoding="utf-8").count("# ok") for p in project.rglob("*.py"))
    assert negatives >= len(expected)


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_project_messages_match_snapshot(project: Path, update_snapshots: bool) -> None:
    """Line, column, code and message of every finding, witness paths included."""
    out = run_cli(["--no-cache", "."], cwd=project).stdout.decode()
    lines = sorted(line.replace("./", "") for line in out.splitlines())
    snapshot = SNAPSHOTS / f"{project.name}.txt"
    text = "\n".join(lines) + "\n"
    if update_snapshots:
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(text, encoding="utf-8")
    assert snapshot.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_without_the_project_each_file_is_judged_alone(project: Path, tmp_path: Path) -> None:
    """--no-project (or the config key) finds only what one file shows
    alone: none of the findings that need another module, and on the lines
    marked `# ok-project:` what only another module explains away."""
    out = run_cli(["--no-cache", "--no-project", "."], cwd=project).stdout.decode()
    alone = _found(out)
    cleared = {(path.relative_to(project).as_posix(), number)
               for path in project.rglob("*.py")
               for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
               if "# ok-project:" in line}
    assert {(path, line) for path, line, _code in alone - _expected(project)} == cleared
    assert alone & _expected(project) < _expected(project)
    copy = _copy(project, tmp_path)
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    text += "\n" if "[tool.threadlint]" in text else "\n[tool.threadlint]\n"
    pyproject.write_text(text.replace("[tool.threadlint]\n", "[tool.threadlint]\nproject = false\n", 1),
                         encoding="utf-8")
    out = run_cli(["--no-cache", "."], cwd=copy).stdout.decode()
    assert _found(out) == alone


def test_partial_run_reports_the_named_file_only() -> None:
    """What pre-commit does: one changed file named. Its cross-module finding
    is still reported; the other files' findings are not printed."""
    project = PROJECTS_DIR / "chain"
    out = run_cli(["--no-cache", "app/cache.py"], cwd=project).stdout.decode()
    assert _found(out) == {(p, line, code) for p, line, code in _expected(project) if p == "app/cache.py"}
    assert "app/main.py:11" in out  # where the thread starts, in the witness
    out = run_cli(["--no-cache", "app/main.py", "app/worker.py"], cwd=project).stdout.decode()
    assert out == ""


def test_standard_input_stands_for_its_file() -> None:
    project = PROJECTS_DIR / "chain"
    source = (project / "app" / "cache.py").read_text(encoding="utf-8")
    out = run_cli(["--no-cache", "--stdin-filename", "app/cache.py", "-"], cwd=project,
                  stdin=source).stdout.decode()
    assert _found(out) == {(p, line, code) for p, line, code in _expected(project) if p == "app/cache.py"}


def test_an_edit_in_another_module_reaches_the_cached_result(tmp_path: Path) -> None:
    """The contextual result is cached by the facts it received: when the
    call that made ``put`` thread code goes away, so does the finding."""
    project = _copy(PROJECTS_DIR / "chain", tmp_path)
    cache = ["--cache-dir", str(tmp_path / "cache")]
    first = run_cli([*cache, "app/cache.py"], cwd=project).stdout.decode()
    assert ("app/cache.py", 10, "TL301") in _found(first)
    assert run_cli([*cache, "app/cache.py"], cwd=project).stdout.decode() == first  # warm
    worker = project / "app" / "worker.py"
    worker.write_text(worker.read_text(encoding="utf-8").replace(
        "    cache.put(job, job * 2)", "    return job * 2"), encoding="utf-8")
    after = run_cli([*cache, "app/cache.py"], cwd=project).stdout.decode()
    assert ("app/cache.py", 10, "TL301") not in _found(after)
    assert ("app/cache.py", 18, "TL301") in _found(after)


def test_json_output_carries_the_witness_path() -> None:
    project = PROJECTS_DIR / "chain"
    out = run_cli(["--no-cache", "--output-format", "json", "app/cache.py"], cwd=project).stdout
    findings = {(f["line"], f["code"]): f for f in json.loads(out)}
    witness = findings[(10, "TL301")]["witness"]
    assert [(step["path"], step["line"], step["message"]) for step in witness] == [
        ("app/main.py", 11, "thread target 'worker.loop'"),
        ("app/worker.py", 10, "app.worker.loop"),
        ("app/worker.py", 17, "app.worker.step"),
        ("app/cache.py", 9, "app.cache.put"),
    ]
    sarif = json.loads(run_cli(["--no-cache", "--output-format", "sarif", "app/cache.py"],
                               cwd=project).stdout)
    flows = [result["codeFlows"] for result in sarif["runs"][0]["results"]]
    assert all(len(flow[0]["threadFlows"][0]["locations"]) >= 3 for flow in flows)


def test_bad_project_options_are_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = run_cli(["--project-root", str(tmp_path / "nowhere"), "."], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("threadlint: error: --project-root:")
    (tmp_path / "pyproject.toml").write_text('[tool.threadlint]\nthread-entry = ["views"]\n')
    proc = run_cli(["."], cwd=tmp_path)
    assert proc.returncode == 2
    assert "thread-entry: 'views' is not 'module:function'" in proc.stderr.decode()
    assert len(proc.stderr.decode().splitlines()) == 1


# -- the index, on summaries written by hand ---------------------------------------

def _summary(defs: List[str], units: Optional[Dict[str, Dict[str, list]]] = None,
             entries: tuple = (), foreign: tuple = (), imports: Optional[Dict[str, str]] = None,
             classes: Optional[Dict[str, List[str]]] = None, acquires: Optional[dict] = None,
             held: tuple = (), touch: Optional[List[str]] = None) -> dict:
    return {"format": 7, "bases": {}, "hooks": {}, "threads": [], "defs": defs, "units": units or {},
            "entries": list(entries),
            "foreign": list(foreign), "imports": imports or {}, "classes": classes or {},
            "acquires": acquires or {}, "nestings": [], "held": list(held), "touch": touch}


def _entry(names: List[str], line: int = 3) -> dict:
    return {"names": names, "kind": "thread target", "label": names[0], "line": line, "col": 5}


def test_module_names_follow_packages_and_the_src_layout(tmp_path: Path) -> None:
    package = tmp_path / "src" / "pkg" / "sub"
    package.mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "run.py").write_text("")
    assert module_names(str(package / "mod.py"), str(tmp_path)) == ["pkg.sub.mod"]
    assert module_names(str(package / "__init__.py"), str(tmp_path)) == ["pkg.sub"]
    # A directory without __init__.py: a namespace package or a script's folder.
    assert module_names(str(tmp_path / "tools" / "run.py"), str(tmp_path)) == ["run", "tools.run"]
    (tmp_path / "my-tool.py").write_text("")
    assert module_names(str(tmp_path / "my-tool.py"), str(tmp_path)) == []


def test_relative_imports_and_reexports_resolve() -> None:
    summaries = {
        "pkg/__init__.py": _summary([], imports={"put": ".store.put"}),
        "pkg/store.py": _summary(["put"]),
        "pkg/app.py": _summary(["main"], foreign=[_entry([".store.put"]), _entry(["pkg.put"], 9)]),
    }
    names = {"pkg/__init__.py": ["pkg"], "pkg/store.py": ["pkg.store"], "pkg/app.py": ["pkg.app"]}
    index = Index(summaries, names)
    assert index.resolve("pkg/app.py", ".store.put") == ("pkg/store.py", "put")
    assert index.resolve("pkg/app.py", "pkg.put") == ("pkg/store.py", "put")  # re-exported
    assert index.resolve("pkg/__init__.py", ".store.put") == ("pkg/store.py", "put")
    assert index.resolve("pkg/app.py", "...too.far") is None
    contexts = index.contexts()
    assert list(contexts) == ["pkg/store.py"]
    assert contexts["pkg/store.py"].entries == (
        ("put", "thread target", ".store.put", " at pkg/app.py:3 -> pkg.store.put"),)
    assert contexts["pkg/store.py"].witnesses == ((
        ("pkg/app.py", 3, 5, "thread target '.store.put'"), ("pkg/store.py", 0, 0, "pkg.store.put")),)


def test_a_name_two_files_claim_resolves_to_neither() -> None:
    summaries = {"a/util.py": _summary(["put"]), "b/util.py": _summary(["put"]),
                 "main.py": _summary(["go"], foreign=[_entry(["util.put"])])}
    names = {"a/util.py": ["util", "a.util"], "b/util.py": ["util", "b.util"], "main.py": ["main"]}
    index = Index(summaries, names)
    assert index.resolve("main.py", "util.put") is None
    assert index.resolve("main.py", "a.util.put") == ("a/util.py", "put")
    assert index.contexts() == {}


def test_calls_under_a_lock_and_constructions_are_not_followed() -> None:
    summaries = {
        "main.py": _summary(["go"], units={"go": {"calls": [], "ext": [["lib.Store"], ["lib.helper"]]}},
                            entries=[{"unit": "go", "kind": "thread target", "label": "go", "line": 9,
                                      "col": 1}]),
        "lib.py": _summary(["Store.__init__", "helper"]),
    }
    index = Index(summaries, {"main.py": ["main"], "lib.py": ["lib"]})
    # `lib.Store` names a class, not a function: its construction is not followed.
    assert {path: context.entries for path, context in index.contexts().items()} == {"lib.py": (
        ("helper", "thread target", "go", " at main.py:9 -> main.go -> lib.helper"),)}


def test_a_file_whose_reached_functions_touch_nothing_is_not_linted_again() -> None:
    """Only a function that changes a global, touches `self`, tests and acts
    or makes a lock can hold a finding about thread code."""
    main = _summary(["go"], foreign=[_entry(["lib.pure"]), _entry(["lib.put"], 9)])
    names = {"main.py": ["main"], "lib.py": ["lib"]}
    for touch, expected in ((["helper"], set()), (["put"], {"pure", "put"}), (None, {"pure", "put"})):
        lib = _summary(["pure", "put", "helper"], touch=touch)
        contexts = Index({"main.py": main, "lib.py": lib}, names).contexts()
        given = contexts["lib.py"].entries if "lib.py" in contexts else ()
        assert {entry[0] for entry in given} == expected


def test_a_missing_summary_is_asked_for_never_guessed() -> None:
    summaries = {"main.py": _summary(["go"], foreign=[_entry(["lib.put"])]), "lib.py": None}
    index = Index(summaries, {"main.py": ["main"], "lib.py": ["lib"]})
    assert index.missing == {"lib.py"} and index.contexts() == {}


def test_configured_entries() -> None:
    summaries = {"web/views.py": _summary(["index", "_helper", "Page.get", "Page._load"])}
    names = {"web/views.py": ["web.views"]}
    specs = [EntrySpec("web.views", "*", "pyproject.toml"),
             EntrySpec("web.views", "Page.*", "pyproject.toml")]
    contexts = Index(summaries, names, specs).contexts()
    assert [entry[0] for entry in contexts["web/views.py"].entries] == ["Page.get", "index"]


@pytest.mark.parametrize("text, parsed", [
    ("pkg.api:handler", ("pkg.api", "handler")),
    ("pkg.hooks:*", ("pkg.hooks", "*")),
    ("pkg.api:Handler.*", ("pkg.api", "Handler.*")),
    ("pkg.api:Handler.get", ("pkg.api", "Handler.get")),
    ("views", None), ("pkg.api:", None), (":f", None), ("pkg-x:f", None), ("pkg:a.b.c", None),
    ("pkg:class", None),
])
def test_parse_entry(text: str, parsed: object) -> None:
    assert parse_entry(text) == parsed


@pytest.mark.parametrize("junk", [
    None, [], {"format": 1}, {"format": 7}, _summary([1]),  # type: ignore[list-item]
    {**_summary([]), "format": 5}, {**_summary([]), "touch": [3]}, {**_summary([]), "threads": [1]},
    {**_summary([]), "held": [["f", ["L"], ["m.g"], 0, 1]]},
    {**_summary([]), "acquires": {"f": [["L", 3]]}},
    {**_summary([]), "units": {"f": {"calls": [3], "ext": []}}},
    {**_summary([]), "entries": [{"unit": "f"}]},
    {**_summary([]), "imports": {"a": 1}},
])
def test_a_malformed_summary_is_refused(junk: object) -> None:
    assert not valid_summary(junk)
    assert valid_summary(_summary(["f"]))


def test_readme_example_is_real() -> None:
    command, shown = readme_console("## Whole-project analysis")
    assert command == "$ threadlint app/cache.py"
    out = run_cli(["--no-cache", "app/cache.py"], cwd=PROJECTS_DIR / "chain").stdout.decode()
    assert shown == out.splitlines()[:len(shown)]


def test_a_lock_order_inverted_across_modules_is_reported_once_in_the_later_module() -> None:
    accounts = _summary(["transfer", "snapshot"], acquires={"snapshot": ["ACCOUNTS"]},
                        held=[["transfer", ["ACCOUNTS"], ["bank.audit.record"], 15, 9]])
    audit = _summary(["record", "flush"], acquires={"record": ["AUDIT"]},
                     held=[["flush", ["AUDIT"], [".accounts.snapshot"], 19, 17]])
    names = {"bank/accounts.py": ["bank.accounts"], "bank/audit.py": ["bank.audit"]}
    index = Index({"bank/accounts.py": accounts, "bank/audit.py": audit}, names)
    assert [(e.outer, e.inner, e.path, e.line) for e in index.nestings] == [
        ("bank.accounts.ACCOUNTS", "bank.audit.AUDIT", "bank/accounts.py", 15),
        ("bank.audit.AUDIT", "bank.accounts.ACCOUNTS", "bank/audit.py", 19)]
    ((line, col, code, message, witness),) = index.contexts()["bank/audit.py"].findings
    assert (line, col, code) == (19, 17, "TL401")
    assert message.startswith("acquires `bank.accounts.ACCOUNTS` (via `bank.accounts.snapshot()`) while "
                              "holding `bank.audit.AUDIT`; bank/accounts.py:15 acquires")
    assert witness[0] == ("bank/accounts.py", 15, 9,
                          "`bank.audit.AUDIT` taken inside `bank.accounts.ACCOUNTS`")
    assert "bank/accounts.py" not in index.contexts()
    assert sorted(index.lock_edges) == [
        ("bank.accounts.ACCOUNTS", "bank.audit.AUDIT", "bank/accounts.py", 15, True),
        ("bank.audit.AUDIT", "bank.accounts.ACCOUNTS", "bank/audit.py", 19, True)]
