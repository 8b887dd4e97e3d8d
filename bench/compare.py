"""Run two versions of threadlint side by side: same files, same run, compared.

    python bench/compare.py                      # HEAD~1 (base) against the working tree
    python bench/compare.py --base 0b52a21       # any git revision as the base
    python bench/compare.py --base main --time 5 # also paired cold timings, 5 rounds

The base revision is checked out with ``git worktree`` into a temporary
directory and imported from there (``PYTHONPATH``), so both versions run on
this machine's Python and libcst. Each version lints the fixtures, the running
Python's standard library and the packages of ``bench/corpus.toml`` with every
rule, no cache and no configuration, as JSON; findings are compared as
(path, line, column, code, message) and file errors as (path, message). Any
difference is printed and makes the exit status 1.

With ``--time N`` each corpus is also linted cold N times by each version,
alternating base and new so that machine noise hits both alike; medians, the
ratio new/base and each version's peak memory are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402  (bench/corpus.py)

Key = Tuple[str, int, int, str, str]


def checkout(revision: str, into: str) -> str:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", into, revision],
                   check=True, capture_output=True)
    return os.path.join(into, "src")


def remove_checkout(into: str) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", into],
                   capture_output=True)
    shutil.rmtree(into, ignore_errors=True)


def command(src: str, paths: Sequence[str], jobs: int) -> Tuple[List[str], Dict[str, str]]:
    env = dict(os.environ, PYTHONPATH=src, PYTHONDONTWRITEBYTECODE="1")
    args = [sys.executable, "-m", "threadlint", "--isolated", "--no-cache", "--select", "ALL",
            "-j", str(jobs), "--output-format", "json", *paths]
    return args, env


_WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "with open(sys.argv[1], 'wb') as out, open(sys.argv[2], 'wb') as err:\n"
    "    code = subprocess.call(sys.argv[3:], stdout=out, stderr=err)\n"
    "wall = time.perf_counter() - t\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(wall, usage.ru_maxrss, code, usage.ru_utime + usage.ru_stime)\n"
)


class Run(NamedTuple):
    findings: Set[Key]
    errors: Set[str]
    wall: float  # seconds
    peak: int  # MB, the largest process
    cpu: float  # user + system seconds of every process


def run(src: str, paths: Sequence[str], jobs: int) -> Run:
    """What one run of threadlint from ``src`` found, and what it cost."""
    args, env = command(src, paths, jobs)
    with tempfile.TemporaryDirectory() as scratch:
        out, err = os.path.join(scratch, "out"), os.path.join(scratch, "err")
        done = subprocess.run([sys.executable, "-c", _WRAPPER, out, err, *args], env=env,
                              capture_output=True, text=True, cwd=str(ROOT), check=True)
        wall, peak_kb, code, cpu = done.stdout.split()
        stdout, stderr = Path(out).read_bytes(), Path(err).read_text(errors="replace")
    if int(code) not in (0, 1, 2):
        raise SystemExit(f"threadlint from {src} failed ({code}):\n{stderr}")
    findings = {(f["path"], f["line"], f["column"], f["code"], f["message"])
                for f in json.loads(stdout or b"[]")}
    errors = {line for line in stderr.splitlines() if line.startswith("threadlint:")}
    return Run(findings, errors, float(wall), int(peak_kb) // 1024, float(cpu))


def corpora(names: Sequence[str]) -> Dict[str, List[str]]:
    found: Dict[str, List[str]] = {}
    if "fixtures" in names:
        found["fixtures"] = sorted(str(p) for p in (ROOT / "fixtures").glob("*.py"))
    if "stdlib" in names:
        stdlib = corpus.stdlib()
        found["stdlib"] = [os.path.join(d, n) for d, dirs, files in os.walk(stdlib)
                           if not dirs.__setitem__(slice(None), sorted(
                               x for x in dirs if x not in ("site-packages", "__pycache__")))
                           for n in sorted(files) if n.endswith(".py")]
    if "packages" in names:
        found["packages"] = [str(d) for d in corpus.fetch()]
    return found


def compare(name: str, base: Tuple[set, set], new: Tuple[set, set]) -> bool:
    same = True
    for label, old, current in (("finding", base[0], new[0]), ("error", base[1], new[1])):
        for item in sorted(old - current):
            print(f"  {name}: only base {label}: {item}")
            same = False
        for item in sorted(current - old):
            print(f"  {name}: only new {label}: {item}")
            same = False
    return same


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="git revision to compare with")
    parser.add_argument("--new", default=None,
                        help="git revision to compare (default: the working tree); a revision "
                             "is checked out too, so editing the tree cannot disturb a long run")
    parser.add_argument("--corpus", action="append", choices=("fixtures", "stdlib", "packages"),
                        help="what to lint (repeatable; default: all three)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--time", type=int, default=0, metavar="N",
                        help="also time N alternating cold runs per version and corpus")
    args = parser.parse_args(argv)
    names = args.corpus or ["fixtures", "stdlib", "packages"]
    paths = corpora(names)
    scratch = tempfile.mkdtemp(prefix="threadlint-base-")
    worktree = os.path.join(scratch, "base")
    new_tree = os.path.join(scratch, "new")
    status = 0
    try:
        base_src = checkout(args.base, worktree)
        new_src = checkout(args.new, new_tree) if args.new else str(ROOT / "src")
        for name, files in paths.items():
            base = run(base_src, files, args.jobs)
            new = run(new_src, files, args.jobs)
            same = compare(name, (base.findings, base.errors), (new.findings, new.errors))
            print(f"{name}: {len(base.findings)} findings and {len(base.errors)} errors (base), "
                  f"{len(new.findings)} and {len(new.errors)} (new): "
                  f"{'identical' if same else 'DIFFERENT'}")
            status |= not same
            if args.time:
                runs: Dict[str, List[Run]] = {"base": [], "new": []}
                for _ in range(args.time):
                    for label, src in (("base", base_src), ("new", new_src)):
                        runs[label].append(run(src, files, args.jobs))
                for measure, unit in (("wall", "s"), ("cpu", "s of CPU")):
                    b = statistics.median(getattr(r, measure) for r in runs["base"])
                    n = statistics.median(getattr(r, measure) for r in runs["new"])
                    spread = ", ".join(f"{getattr(r, measure):.2f}" for r in runs["new"])
                    print(f"  {name} cold {measure}, median of {args.time}: base {b:.2f}, "
                          f"new {n:.2f} {unit}, new/base {n / b:.3f} (new runs: {spread})")
                print(f"  {name} peak memory of the largest process: "
                      f"base {max(r.peak for r in runs['base'])} MB, "
                      f"new {max(r.peak for r in runs['new'])} MB")
    finally:
        remove_checkout(worktree)
        if args.new:
            remove_checkout(new_tree)
        shutil.rmtree(scratch, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
