"""``--graph``: the project's thread map, exactly, in both formats (from the
CLI on ``fixtures/projects/chain``), names of any kind escaped (a hand-built
index), and the usage errors."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from threadlint.graph import mermaid_text, render_dot, render_mermaid
from threadlint.project import Index

from conftest import ROOT, readme_console, run_cli

CHAIN = ROOT / "fixtures" / "projects" / "chain"

CHAIN_DOT = r"""digraph threadlint {
  rankdir=LR;
  node [shape=box];
  r1 [label="thread target 'worker.loop'\napp/main.py:11", shape=box, style=bold];
  r2 [label="timer function 'worker.tick'\napp/main.py:13", shape=box, style=bold];
  r3 [label="executor task 'cache.record'\napp/main.py:16", shape=box, style=bold];
  r4 [label="executor task 'worker.tick'\napp/main.py:17", shape=box, style=bold];
  r5 [label="done callback 'cache.forget'\napp/main.py:18", shape=box, style=bold];
  r6 [label="thread target 'inventory.restock'\napp/main.py:32", shape=box, style=bold];
  subgraph cluster_1 {
    label="app.cache";
    n1 [label="app.cache.forget"];
    n2 [label="app.cache.put"];
    n3 [label="app.cache.record"];
  }
  subgraph cluster_2 {
    label="app.stats";
    n4 [label="app.stats.add_total\nlocks: app.stats._LOCK"];
    n5 [label="app.stats.count\nlocks: app.stats._LOCK"];
  }
  subgraph cluster_3 {
    label="app.store";
    n6 [label="app.store.Inventory.restock"];
  }
  subgraph cluster_4 {
    label="app.worker";
    n7 [label="app.worker.loop\nlocks: app.worker._LOCK"];
    n8 [label="app.worker.step"];
    n9 [label="app.worker.tick"];
  }
  r1 -> n7;
  r2 -> n9;
  r3 -> n3;
  r4 -> n9;
  r5 -> n1;
  r6 -> n6;
  n5 -> n4;
  n7 -> n8;
  n8 -> n2;
  n9 -> n5;
}
"""

CHAIN_MERMAID = """flowchart LR
  r1(["thread target 'worker.loop'<br/>app/main.py:11"])
  r2(["timer function 'worker.tick'<br/>app/main.py:13"])
  r3(["executor task 'cache.record'<br/>app/main.py:16"])
  r4(["executor task 'worker.tick'<br/>app/main.py:17"])
  r5(["done callback 'cache.forget'<br/>app/main.py:18"])
  r6(["thread target 'inventory.restock'<br/>app/main.py:32"])
  subgraph m1 ["app.cache"]
    n1["app.cache.forget"]
    n2["app.cache.put"]
    n3["app.cache.record"]
  end
  subgraph m2 ["app.stats"]
    n4["app.stats.add_total<br/>locks: app.stats._LOCK"]
    n5["app.stats.count<br/>locks: app.stats._LOCK"]
  end
  subgraph m3 ["app.store"]
    n6["app.store.Inventory.restock"]
  end
  subgraph m4 ["app.worker"]
    n7["app.worker.loop<br/>locks: app.worker._LOCK"]
    n8["app.worker.step"]
    n9["app.worker.tick"]
  end
  r1 --> n7
  r2 --> n9
  r3 --> n3
  r4 --> n9
  r5 --> n1
  r6 --> n6
  n5 --> n4
  n7 --> n8
  n8 --> n2
  n9 --> n5
"""


def test_dot_of_the_chain_project() -> None:
    # Run without --quiet: --graph prints no summary line, and no findings
    # (the project has some: the exit status is still 0).
    proc = run_cli(["--no-cache", "--graph", "dot", "app"], cwd=CHAIN, summary=True)
    assert (proc.returncode, proc.stderr.decode(), proc.stdout.decode()) == (0, "", CHAIN_DOT)


def test_mermaid_of_the_chain_project() -> None:
    proc = run_cli(["--no-cache", "--graph", "mermaid", "app"], cwd=CHAIN, summary=True)
    assert (proc.returncode, proc.stderr.decode(), proc.stdout.decode()) == (0, "", CHAIN_MERMAID)


def test_the_graph_is_the_same_from_one_file_and_with_project_off(tmp_path: Path) -> None:
    """A partial run reads the rest of the project as findings do; `project =
    false` does not turn the pass off for --graph."""
    project = tmp_path / "chain"
    shutil.copytree(CHAIN, project)
    with open(project / "pyproject.toml", "a", encoding="utf-8") as config:
        config.write("project = false\n")
    proc = run_cli(["--no-cache", "--graph", "dot", "app/main.py"], cwd=project)
    assert (proc.returncode, proc.stderr.decode(), proc.stdout.decode()) == (0, "", CHAIN_DOT)


@pytest.mark.parametrize("other", ["--no-project", "--fix", "--diff", "--add-noqa"])
def test_graph_needs_the_whole_project_pass(other: str) -> None:
    proc = run_cli(["--no-cache", "--graph", "dot", other, "app"], cwd=CHAIN)
    assert (proc.returncode, proc.stdout, proc.stderr.decode()) == (
        2, b"", f"threadlint: error: --graph draws the whole-project pass: it cannot be combined "
                f"with {other}\n")


def test_an_unknown_format_is_a_usage_error() -> None:
    proc = run_cli(["--graph", "png", "app"], cwd=CHAIN)
    assert proc.returncode == 2 and proc.stdout == b""
    # Python 3.12.8 and later list the choices without quotes.
    assert proc.stderr.decode() in [
        f"threadlint: error: argument --graph: invalid choice: 'png' (choose from {choices}) "
        f"(see 'threadlint --help')\n" for choices in ("'dot', 'mermaid'", "dot, mermaid")]


def test_a_file_that_cannot_be_linted_is_an_error_and_the_rest_is_drawn(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("import threading\n\ndef go():\n    pass\n\n"
                                    "threading.Thread(target=go).start()\n")
    proc = run_cli(["--no-cache", "--project-root", ".", "--graph", "mermaid", "ok.py", "missing.py"],
                   cwd=tmp_path)
    assert (proc.returncode, proc.stderr.decode(), proc.stdout.decode()) == (
        2, "threadlint: error: missing.py: no such file or directory\n",
        "flowchart LR\n"
        "  r1([\"thread target 'go'<br/>ok.py:6\"])\n"
        "  subgraph m1 [\"ok\"]\n"
        "    n1[\"ok.go\"]\n"
        "  end\n"
        "  r1 --> n1\n")


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "threads.mmd"
    proc = run_cli(["--no-cache", "--graph", "mermaid", "--output-file", str(target), "app"], cwd=CHAIN)
    assert (proc.returncode, proc.stderr.decode(), proc.stdout.decode()) == (0, "", "")
    assert target.read_text(encoding="utf-8") == CHAIN_MERMAID
    proc = run_cli(["--no-cache", "--graph", "dot", "--output-file", str(tmp_path / "no" / "g.dot"), "app"],
                   cwd=CHAIN)
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert proc.stderr.decode().startswith(f"threadlint: error: --output-file: cannot write "
                                           f"{tmp_path / 'no' / 'g.dot'}: ")


def test_nothing_to_draw(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("print(1)\n")
    for form, empty in (("dot", "digraph threadlint {\n  rankdir=LR;\n  node [shape=box];\n}\n"),
                        ("mermaid", "flowchart LR\n")):
        proc = run_cli(["--no-cache", "--project-root", ".", "--graph", form, "."], cwd=tmp_path)
        assert (proc.returncode, proc.stderr.decode(), proc.stdout.decode()) == (0, "", empty)
        proc = run_cli(["--no-cache", "--project-root", ".", "--graph", form, "empty/"], cwd=tmp_path)
        assert proc.returncode == 2 and proc.stdout.decode() == empty  # no file at all


def _summary(defs: List[str], units: Optional[Dict[str, Any]] = None,
             entries: Optional[List[Dict[str, Any]]] = None,
             acquires: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    return {"format": 7, "bases": {}, "hooks": {}, "threads": [], "touch": None, "defs": defs,
            "units": units or {}, "entries": entries or [],
            "foreign": [], "imports": {}, "classes": {}, "acquires": acquires or {}, "nestings": [],
            "held": []}


def _odd_index() -> Index:
    """Names as odd as a file system and source text allow: quotes,
    backslashes, markup, entity codes, line breaks; a lambda (``#2``); per
    function locks; a call off the witness tree; lock-order edges,
    one inverted, some malformed."""
    odd_path = 'we"ird\\dir/mod.py'
    summaries = {
        odd_path: _summary(["run"], units={"run": {"calls": ["#2"], "ext": [["lib.put"]]},
                                          "#2": {"calls": [], "ext": [["lib.put"], ["lib.nothing"]]}},
                           acquires={"run": ["@pkg._A", "@pkg._B", "@pkg._A", 3, "@odd.<b>", "@x#y;.L"],
                                     "#2": "junk"},
                           entries=[
                               {"unit": "run", "kind": "thread target", "label": 'a["x"] & b\nc`d`',
                                "line": 4, "col": 1},
                               {"unit": "run", "kind": "timer function", "label": "run", "line": 9,
                                "col": 1}]),
        "lib.py": _summary(["put"]),
    }
    index = Index(summaries, {odd_path: [], "lib.py": ["lib"]})
    index.lock_edges = [  # type: ignore[attr-defined]
        ("_B", "_A", odd_path, 12, True), ("_A", 'q"uote', odd_path, 7, False),
        ("_A", "_B", odd_path, 7, False), ("bad", None, odd_path, 1, False), "junk"]
    return index


DOT_ODD = r'''digraph threadlint {
  rankdir=LR;
  node [shape=box];
  r1 [label="thread target 'a[\"x\"] & b\nc`d`'\nwe\"ird\\dir/mod.py:4", shape=box, style=bold];
  r2 [label="timer function 'run'\nwe\"ird\\dir/mod.py:9", shape=box, style=bold];
  subgraph cluster_1 {
    label="lib";
    n1 [label="lib.put"];
  }
  subgraph cluster_2 {
    label="we\"ird\\dir/mod.py";
    n2 [label="mod.#2"];
    n3 [label="mod.run\nlocks: odd.<b>, pkg._A, pkg._B, x#y;.L"];
  }
  l1 [label="_A", shape=hexagon];
  l2 [label="_B", shape=hexagon];
  l3 [label="q\"uote", shape=hexagon];
  r1 -> n3;
  r2 -> n3;
  n3 -> n1;
  n3 -> n2;
  n2 -> n1 [style=dashed];
  l1 -> l2 [label="we\"ird\\dir/mod.py:7"];
  l1 -> l3 [label="we\"ird\\dir/mod.py:7"];
  l2 -> l1 [label="inversion at we\"ird\\dir/mod.py:12", color=red, fontcolor=red, penwidth=2];
}
'''

MERMAID_ODD = r'''flowchart LR
  r1(["thread target 'a[#quot;x#quot;] #amp; b c#96;d#96;'<br/>we#quot;ird\dir/mod.py:4"])
  r2(["timer function 'run'<br/>we#quot;ird\dir/mod.py:9"])
  subgraph m1 ["lib"]
    n1["lib.put"]
  end
  subgraph m2 ["we#quot;ird\dir/mod.py"]
    n2["mod.#2"]
    n3["mod.run<br/>locks: odd.#lt;b#gt;, pkg._A, pkg._B, x#35;y;.L"]
  end
  l1{{"_A"}}
  l2{{"_B"}}
  l3{{"q#quot;uote"}}
  r1 --> n3
  r2 --> n3
  n3 --> n1
  n3 --> n2
  n2 -.-> n1
  l1 -->|"we#quot;ird\dir/mod.py:7"| l2
  l1 -->|"we#quot;ird\dir/mod.py:7"| l3
  l2 -.->|"inversion at we#quot;ird\dir/mod.py:12"| l1
  linkStyle 7 stroke:red,color:red
'''


def test_dot_escapes_every_name() -> None:
    assert render_dot(_odd_index()) == DOT_ODD


def test_mermaid_escapes_every_name() -> None:
    assert render_mermaid(_odd_index()) == MERMAID_ODD


@pytest.mark.parametrize("text, escaped", [
    ('say "hi"', "say #quot;hi#quot;"),
    ("#quot; #35; #x", "#35;quot; #35;35; #x"),  # an entity code is shown as written
    ("app.main.#3", "app.main.#3"),
    ("<br/> & `x`", "#lt;br/#gt; #amp; #96;x#96;"),
    ("two\r\nlines\n", "two lines "),
])
def test_mermaid_text(text: str, escaped: str) -> None:
    assert mermaid_text(text) == escaped


def test_readme_example_is_real() -> None:
    command, shown = readme_console("### A picture of the project")
    assert command == "$ threadlint --graph mermaid app"
    out = run_cli(["--no-cache", "--graph", "mermaid", "app"], cwd=CHAIN).stdout.decode()
    assert shown and shown == out.splitlines()[:len(shown)]
