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

Every command runs with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` is
removed from its environment, and a first run writes the bytecode), as on a
user's machine: without it each run compiles every module it imports.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

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


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--pylint-runs", type=int, default=None,
                        help="runs for pylint, which is slow (default: --runs)")
    parser.add_argument("--corpus", choices=("all", "stdlib", "packages", "none"), default="all",
                        help="none: only the small runs and the cost per line")
    parser.add_argument("--skip", action="append", default=[],
                        help="skip tools whose name contains this (e.g. --skip pylint)")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args(argv)

    sections = [f"## threadlint benchmark ({sys.implementation.name} "
                f"{'.'.join(map(str, sys.version_info[:3]))}, {os.cpu_count()} CPUs)\n"]
    if args.corpus in ("all", "packages"):
        dirs = [str(d) for d in corpus.fetch()]
        sections.append(bench_corpus("threading-heavy packages (bench/corpus.toml)",
                                     python_files(dirs), args.runs, args.jobs, args.skip,
                                     args.pylint_runs or args.runs))
    if args.corpus in ("all", "stdlib"):
        files = python_files([corpus.stdlib()], skip=("site-packages",))
        sections.append(bench_corpus("standard library", files, args.runs, args.jobs, args.skip,
                                     args.pylint_runs or args.runs))
    sections.append(small_runs(args.runs))
    sections.append(scaling(args.runs))
    report = "\n".join(sections)
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
