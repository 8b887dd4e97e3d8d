"""Benchmark threadlint against its peers on the same files in the same run.

    python -m pip install -e ".[bench]"
    python bench/run.py                      # stdlib + pinned package corpus, 3 runs each
    python bench/run.py --runs 5 --jobs 2 --corpus packages --out bench/results/latest.md
    python bench/run.py --runs 5 --pylint-runs 1 --out bench/results/benchmark.md   # as in the README

For each corpus it times, several times each with the median reported:
threadlint cold (--no-cache), threadlint warm (cache filled, nothing changed),
flake8 (default plugins), pylint (its two thread checks only) and ruff
(--select ALL, no cache), all given the same explicit list of files and the
same number of processes. Peak memory is the largest resident set of any
process of the run. A section on small runs (what pre-commit does on each
commit) times one file that needs no parse, one 1,668-line threading module
and ten standard-library modules, against flake8 and against the bare
interpreter's start. A last section measures threadlint's cost per line on
files from 500 to 20,000 lines, in-process.

A section on whole-project analysis (issue 14) times, for each corpus package
and the standard library (each its own project: ``--project-root DIR DIR``,
no cache), project mode against per-file mode (``--no-project``), goal at most
1.2x; then, on the largest package only, a warm run after inserting a ``pass``
at the start of one function's body (the first module-level function, else
method, of the largest module that imports threading; a fresh copy and cache
per run), goal at most 0.1x of the cold run that filled the cache; and,
in-process with ``tracemalloc``, the memory the project index of that package
takes. ``--package`` narrows the packages (the largest of those is used).

    python bench/run.py --section project                       # only that section
    python bench/run.py --section project --corpus packages --package waitress --runs 1

Every command runs with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` is
removed from its environment, and a first run writes the bytecode), as on a
user's machine: without it each run compiles every module it imports.
"""

from __future__ import annotations

import argparse
import ast
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402  (bench/corpus.py, next to this file)


def python_files(roots: Sequence[str], skip: Sequence[str] = ()) -> List[str]:
    files = []
    for root in roots:
        for directory, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in skip and d != "__pycache__")
            files.extend(os.path.join(directory, n) for n in sorted(filenames) if n.endswith(".py"))
    return files


#: The environment of every timed command: bytecode caching on, as users have it.
ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def measure(command: List[str]) -> Tuple[float, int, int]:
    """Wall seconds, peak RSS in MB (largest process), exit status of one run."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "wall = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(wall, peak, code)\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True,
                         check=True, env=ENVIRONMENT)
    wall, peak_kb, code = out.stdout.split()
    return float(wall), int(peak_kb) // 1024, int(code)


def tool_commands(files: List[str], jobs: int, cache_dir: str) -> Dict[str, Optional[List[str]]]:
    def have(module: str) -> bool:
        return subprocess.run([sys.executable, "-c", f"import {module}"],
                              capture_output=True).returncode == 0

    ruff = shutil.which("ruff")
    return {
        "threadlint cold": [sys.executable, "-m", "threadlint", "--isolated", "--no-cache",
                            "-j", str(jobs), *files],
        "threadlint warm": [sys.executable, "-m", "threadlint", "--isolated", "--cache-dir",
                            cache_dir, "-j", str(jobs), *files],
        "flake8": [sys.executable, "-m", "flake8", "--isolated", "-j", str(jobs), *files]
        if have("flake8") else None,
        "pylint (thread checks)": [sys.executable, "-m", "pylint", "-j", str(jobs), "--disable=all",
                                   "--enable=bad-thread-instantiation,useless-with-lock",
                                   "--persistent=n", "--score=n", *files]
        if have("pylint") else None,
        "ruff --select ALL": [ruff, "check", "--isolated", "--no-cache", "--select", "ALL",
                              "--exit-zero", *files] if ruff else None,
    }


def bench_corpus(name: str, files: List[str], runs: int, jobs: int, skip_tools: Sequence[str],
                 pylint_runs: int) -> str:
    lines = sum(Path(f).read_bytes().count(b"\n") for f in files)
    cache_dir = tempfile.mkdtemp(prefix="threadlint-bench-cache-")
    commands = tool_commands(files, jobs, cache_dir)
    subprocess.run(commands["threadlint warm"], capture_output=True)  # fill the cache
    rows = []
    for tool, command in commands.items():
        if command is None or any(s in tool for s in skip_tools):
            rows.append((tool, None, None, None))
            continue
        count = pylint_runs if tool.startswith("pylint") else runs
        samples = [measure(command) for _ in range(count)]
        walls = [s[0] for s in samples]
        print(f"  {name}: {tool}: {', '.join(f'{w:.2f}' for w in walls)} s", file=sys.stderr)
        rows.append((tool, statistics.median(walls), max(s[1] for s in samples), samples[0][2]))
    shutil.rmtree(cache_dir, ignore_errors=True)
    cold = rows[0][1]
    out = [f"### {name}: {len(files)} files, {lines:,} lines, {jobs} processes, median of {runs} runs"
           f"{f' (pylint: {pylint_runs})' if pylint_runs != runs else ''}", "",
           "| tool | median wall (s) | peak memory (MB) | time / threadlint cold |",
           "|---|---:|---:|---:|"]
    for tool, wall, peak, _code in rows:
        if wall is None:
            out.append(f"| {tool} | not run | | |")
        else:
            out.append(f"| {tool} | {wall:.2f} | {peak} | {wall / cold:.2f} |")
    flake8 = dict((r[0], r[1]) for r in rows).get("flake8")
    warm = rows[1][1]
    out.append("")
    if flake8:
        out.append(f"threadlint cold / flake8 = **{cold / flake8:.2f}**; "
                   f"warm / cold = **{warm / cold:.3f}**")
    else:
        out.append(f"warm / cold = **{warm / cold:.3f}**")
    return "\n".join(out) + "\n"


#: Standard-library modules for the ten-file case: five with threading code,
#: five without (a commit touches both kinds).
TEN_FILES = ("threading.py", "queue.py", "socketserver.py", "concurrent/futures/thread.py",
             "multiprocessing/pool.py", "textwrap.py", "json/encoder.py", "csv.py", "shlex.py",
             "fractions.py")


def small_runs(runs: int) -> str:
    """What pre-commit pays per commit: start-up and a few files, no cache."""
    stdlib = Path(corpus.stdlib())
    cases = [("one file, no parse needed (textwrap.py)", [str(stdlib / "textwrap.py")]),
             ("one threading module (threading.py, 1,668 lines)", [str(stdlib / "threading.py")]),
             ("ten modules (five with threading code)", [str(stdlib / name) for name in TEN_FILES])]
    out = [f"### Small runs (1 process, no cache, median of {max(runs, 5)} runs)", "",
           "| case | threadlint (s) | flake8 (s) | threadlint / flake8 | threadlint - `python -c pass` (s) |",
           "|---|---:|---:|---:|---:|"]
    bare = [sys.executable, "-c", "pass"]
    for label, files in cases:
        commands = {
            "threadlint": [sys.executable, "-m", "threadlint", "--isolated", "--no-cache", "-j", "1",
                           *files],
            "flake8": [sys.executable, "-m", "flake8", "--isolated", "-j", "1", *files],
            "bare": bare,
        }
        medians: Dict[str, float] = {}
        for tool, command in commands.items():
            measure(command)  # writes bytecode; the first run is not counted
            walls = [measure(command)[0] for _ in range(max(runs, 5))]
            medians[tool] = statistics.median(walls)
            print(f"  small runs: {label}: {tool}: {', '.join(f'{w:.3f}' for w in walls)} s",
                  file=sys.stderr)
        out.append(f"| {label} | {medians['threadlint']:.3f} | {medians['flake8']:.3f} | "
                   f"{medians['threadlint'] / medians['flake8']:.2f} | "
                   f"{medians['threadlint'] - medians['bare']:.3f} |")
    out.append("")
    out.append(f"`python -c pass` alone: {statistics.median(measure(bare)[0] for _ in range(5)):.3f} s.")
    return "\n".join(out) + "\n"


def scaling(runs: int) -> str:
    """Cost per line, in-process, on files of growing size built from real code."""
    from threadlint.engine import lint_source
    from threadlint.settings import Settings

    stdlib = Path(corpus.stdlib())
    modules = [(stdlib / name).read_bytes() for name in
               ("concurrent/futures/thread.py", "queue.py", "socketserver.py", "threading.py")]
    out = ["### Cost per line by file size (threading-heavy code, 1 process, median of "
           f"at least {runs} runs and 1 s)", "",
           "| lines | median (s) | microseconds per line |", "|---:|---:|---:|"]
    for size in (500, 2000, 5000, 20000):
        # Whole modules back to back, so the file stays valid Python.
        parts: List[bytes] = []
        index = 0
        while sum(p.count(b"\n") for p in parts) < size:
            parts.append(modules[index % len(modules)])
            index += 1
        source = b"\n".join(parts)
        lines = source.count(b"\n")
        compile(source, "big.py", "exec")  # a syntax error would only measure compile()
        walls: List[float] = []
        # Small files take milliseconds: repeat them until a second has passed,
        # so one scheduling hiccup cannot move their median.
        while len(walls) < runs or sum(walls) < 1.0:
            t = time.perf_counter()
            lint_source("big.py", source, Settings(root="/"))
            walls.append(time.perf_counter() - t)
        median = statistics.median(walls)
        out.append(f"| {lines:,} | {median:.3f} | {median / lines * 1e6:.1f} |")
    return "\n".join(out) + "\n"


#: The statement the warm-after-edit case inserts at the start of a function body.
EDIT_STATEMENT = "pass  # threadlint bench: an edit"


def _threadlint(*options: str) -> List[str]:
    return [sys.executable, "-m", "threadlint", "--isolated", *options]


def _lines(files: Sequence[str]) -> int:
    return sum(Path(f).read_bytes().count(b"\n") for f in files)


def _median_walls(label: str, command: List[str], runs: int) -> Tuple[float, int]:
    """Median wall seconds and largest peak RSS (MB) of ``runs`` runs."""
    samples = [measure(command) for _ in range(runs)]
    walls = [s[0] for s in samples]
    codes = sorted({s[2] for s in samples})
    print(f"  project: {label}: {', '.join(f'{w:.2f}' for w in walls)} s (exit {codes})",
          file=sys.stderr)
    return statistics.median(walls), max(s[1] for s in samples)


def _edit_point(path: Path) -> Optional[Tuple[int, str]]:
    """Where to insert a statement at the start of the body of the first
    module-level function of ``path`` (after its docstring), else of the first
    method of a module-level class: the 0-based line index and the body's
    indentation; None when the file has no such function."""
    source = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    lines = source.splitlines(keepends=True)
    functions = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    functions += [node for cls in tree.body if isinstance(cls, ast.ClassDef) for node in cls.body
                  if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for node in functions:
        body = node.body
        first = body[0]
        docstring = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                     and isinstance(first.value.value, str))
        if docstring and len(body) > 1:
            target = body[1]
            start = min([target.lineno] + [d.lineno for d in getattr(target, "decorator_list", [])])
            index, column = start - 1, target.col_offset
        elif docstring:
            index, column = (first.end_lineno or first.lineno), first.col_offset
        else:
            start = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", [])])
            index, column = start - 1, first.col_offset
        reference = lines[first.lineno - 1]
        indent = reference[:first.col_offset]
        if first.lineno == node.lineno or indent.strip() or column != first.col_offset:
            continue  # `def f(): return x` on one line, or odd layout: try the next one
        edited = "".join(lines[:index] + [f"{indent}{EDIT_STATEMENT}\n"] + lines[index:])
        try:
            compile(edited, str(path), "exec")
        except SyntaxError:
            continue
        return index, indent
    return None


def _edit_target(directory: str) -> Optional[Tuple[str, int, str]]:
    """The file to edit (relative to ``directory``), deterministically: the
    largest module that imports ``threading`` and has a function to edit, with
    the edit's line index and indentation."""
    imports_threading = re.compile(rb"^[ \t]*(?:import|from)[ \t][^\n]*\bthreading\b", re.MULTILINE)
    candidates = []
    for file in python_files([directory]):
        data = Path(file).read_bytes()
        if imports_threading.search(data):
            candidates.append((-len(data), file))
    for _size, file in sorted(candidates):
        point = _edit_point(Path(file))
        if point is not None:
            return os.path.relpath(file, directory), point[0], point[1]
    return None


def _cache_entries(cache_dir: str) -> int:
    return sum(len([n for n in names if n.endswith(".json")]) for _d, _s, names in os.walk(cache_dir))


def _warm_after_edit(directory: str, runs: int, jobs: int) -> List[str]:
    """Cold (empty cache) and warm-after-one-edit runs of project mode on a
    fresh copy of ``directory`` per run."""
    target = _edit_target(directory)
    if target is None:
        return [f"No module of `{Path(directory).name}` imports threading and has a function "
                "to edit: warm run after an edit not measured."]
    relative, index, indent = target
    colds: List[float] = []
    warms: List[float] = []
    written: List[int] = []
    for run_number in range(runs):
        with tempfile.TemporaryDirectory(prefix="threadlint-bench-edit-") as tmp:
            copy = os.path.join(tmp, Path(directory).name)
            shutil.copytree(directory, copy)
            cache_dir = os.path.join(tmp, "cache")
            command = _threadlint("--cache-dir", cache_dir, "-j", str(jobs), "--project-root", copy,
                                  copy)
            colds.append(measure(command)[0])  # fills the cache
            before = _cache_entries(cache_dir)
            edited = Path(copy, relative)
            lines = edited.read_text(encoding="utf-8").splitlines(keepends=True)
            lines.insert(index, f"{indent}{EDIT_STATEMENT}\n")
            edited.write_text("".join(lines), encoding="utf-8")
            warms.append(measure(command)[0])
            written.append(_cache_entries(cache_dir) - before)
        print(f"  project: edit run {run_number + 1}: cold {colds[-1]:.2f} s, warm after edit "
              f"{warms[-1]:.2f} s, {written[-1]} cache entries written", file=sys.stderr)
    cold, warm = statistics.median(colds), statistics.median(warms)
    goal = "met" if warm / cold <= 0.1 else "**not met**"
    return [f"Warm run after an edit ({Path(directory).name}, the largest package; a fresh copy "
            f"and an empty cache per run): line {index + 1} of `{relative}` gets `{EDIT_STATEMENT}`, "
            "at the start of a function's body.", "",
            "| run | median wall (s) |", "|---|---:|",
            f"| cold, filling the cache | {cold:.2f} |",
            f"| warm, after the edit | {warm:.2f} |", "",
            f"warm / cold = **{warm / cold:.3f}** (goal: at most 0.1; {goal}); "
            f"files linted again by the warm run (cache entries it wrote): {max(written)}."]


def _index_memory(directory: str) -> List[str]:
    """The memory the project index of ``directory`` takes, in-process."""
    from threadlint.engine import lint_source
    from threadlint.project import Context, build, module_names
    from threadlint.settings import Settings

    files = python_files([directory])
    settings = Settings(root=directory)
    sources = {file: Path(file).read_bytes() for file in files}
    t = time.perf_counter()
    summaries: Dict[str, Optional[Dict[str, Any]]] = {
        file: lint_source(file, source, settings, context=Context(summary_only=True)).summary
        for file, source in sources.items()}
    summarize_seconds = time.perf_counter() - t
    # What build() asks for is summarised beforehand, so that the traced
    # build allocates the index only, not libcst trees.
    forced = {file: lint_source(file, sources[file], settings,
                                context=Context(force=True, summary_only=True)).summary
              for file, summary in summaries.items() if summary is None}
    names = {file: module_names(file, directory) for file in files}
    asked: List[str] = []

    def summarize(wanted: List[str]) -> Dict[str, Optional[Dict[str, Any]]]:
        asked.extend(wanted)
        return {file: forced[file] for file in wanted}

    gc.collect()
    tracemalloc.start()
    # The summaries as a run has them: decoded from the cache's JSON.
    before = tracemalloc.get_traced_memory()[0]
    decoded: Dict[str, Optional[Dict[str, Any]]] = json.loads(json.dumps(summaries))
    summaries_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    t = time.perf_counter()
    index = build(decoded, names, [], summarize)
    contexts = index.contexts()
    build_seconds = time.perf_counter() - t
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    json_size = len(json.dumps(decoded, separators=(",", ":")).encode())
    parsed = sum(1 for s in summaries.values() if s is not None)
    mb = 1024 * 1024
    return [f"Index memory ({Path(directory).name}, {len(files)} files, {_lines(files):,} lines; "
            f"in-process, `tracemalloc`): {parsed} summaries from the first pass "
            f"({summarize_seconds:.1f} s), {len(asked)} more parsed for the index.", "",
            "| what | size |", "|---|---:|",
            f"| summaries as JSON (compact) | {json_size / mb:.2f} MB |",
            f"| summaries decoded (Python objects) | {summaries_bytes / mb:.2f} MB |",
            f"| peak while building the index and its contexts (above the summaries) | "
            f"{(peak - before) / mb:.2f} MB |",
            f"| index and contexts kept after the build | {(current - before) / mb:.2f} MB |",
            f"| time to build the index and its contexts | {build_seconds:.3f} s |", "",
            f"{len(index.parent)} functions reached by threads; {len(contexts)} files get a context."]


def project_mode(packages: Sequence[str], stdlib: bool, runs: int, jobs: int) -> str:
    """Issue 14: project mode cold vs per-file mode, a warm run after an
    edit, and the index's memory."""
    corpora: List[Tuple[str, str, List[str]]] = [(Path(d).name, str(d), []) for d in packages]
    if stdlib:
        # site-packages is not the standard library (nor part of its project).
        corpora.append(("standard library", corpus.stdlib(), ["--extend-exclude", "site-packages"]))
    out = [f"### Whole-project analysis (issue 14; {jobs} processes, no cache, median of {runs} runs)",
           "", "Project mode: `threadlint --isolated --no-cache -j N --project-root DIR DIR`; "
           "per-file mode: the same with `--no-project`. Goal: project / per-file at most 1.2.", "",
           "| corpus | files | lines | per-file (s) | project (s) | project / per-file | "
           "peak memory per-file / project (MB) | goal |",
           "|---|---:|---:|---:|---:|---:|---:|---|"]
    for label, directory, extra in corpora:
        files = python_files([directory], skip=("site-packages",))
        base = ["--no-cache", "-j", str(jobs), *extra, "--project-root", directory, directory]
        per_file = _threadlint("--no-project", *base)
        project = _threadlint(*base)
        measure(project)  # writes bytecode; the first run is not counted
        per_wall, per_peak = _median_walls(f"{label}: per-file", per_file, runs)
        project_wall, project_peak = _median_walls(f"{label}: project", project, runs)
        ratio = project_wall / per_wall
        out.append(f"| {label} | {len(files)} | {_lines(files):,} | {per_wall:.2f} | "
                   f"{project_wall:.2f} | {ratio:.2f} | {per_peak} / {project_peak} | "
                   f"{'met' if ratio <= 1.2 else '**not met**'} |")
    if packages:
        largest = max(packages, key=lambda d: _lines(python_files([d])))
        out += [""] + _warm_after_edit(largest, runs, jobs)
        out += [""] + _index_memory(largest)
    return "\n".join(out) + "\n"


#: The sections of the report, in order (``--section``).
SECTIONS = ("corpus", "project", "small", "scaling")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--pylint-runs", type=int, default=None,
                        help="runs for pylint, which is slow (default: --runs)")
    parser.add_argument("--corpus", choices=("all", "stdlib", "packages", "none"), default="all",
                        help="none: only the small runs and the cost per line")
    parser.add_argument("--section", action="append", choices=SECTIONS,
                        help="run only this section (repeatable; default: all of them)")
    parser.add_argument("--package", action="append", default=[],
                        help="only the corpus packages whose directory name contains this "
                             "(repeatable; default: every package)")
    parser.add_argument("--skip", action="append", default=[],
                        help="skip tools whose name contains this (e.g. --skip pylint)")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args(argv)
    wanted = set(args.section or SECTIONS)

    sections = [f"## threadlint benchmark ({sys.implementation.name} "
                f"{'.'.join(map(str, sys.version_info[:3]))}, {os.cpu_count()} CPUs)\n"]
    packages: List[str] = []
    if args.corpus in ("all", "packages"):
        packages = [str(d) for d in corpus.fetch()
                    if not args.package or any(name in d.name for name in args.package)]
    stdlib = args.corpus in ("all", "stdlib")
    if "corpus" in wanted and packages:
        sections.append(bench_corpus("threading-heavy packages (bench/corpus.toml)",
                                     python_files(packages), args.runs, args.jobs, args.skip,
                                     args.pylint_runs or args.runs))
    if "corpus" in wanted and stdlib:
        files = python_files([corpus.stdlib()], skip=("site-packages",))
        sections.append(bench_corpus("standard library", files, args.runs, args.jobs, args.skip,
                                     args.pylint_runs or args.runs))
    if "project" in wanted and (packages or stdlib):
        sections.append(project_mode(packages, stdlib, args.runs, args.jobs))
    if "small" in wanted:
        sections.append(small_runs(args.runs))
    if "scaling" in wanted:
        sections.append(scaling(args.runs))
    report = "\n".join(sections)
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report, encoding="utf-8")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
