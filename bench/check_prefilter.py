"""Check that the byte prefilter changes no result, on every file of a tree.

    python bench/check_prefilter.py                 # the running Python's standard library
    python bench/check_prefilter.py DIR [DIR ...]   # any trees, e.g. $(python bench/corpus.py paths)

Each file is linted twice with every rule: once as threadlint does (files
no enabled rule's ``needs`` admit are not parsed), once with the prefilter
disabled. Any difference is printed, and so is any finding of the full run in
a file its own rule's ``needs`` would not admit (a rule relying on another
rule's needs would pass the first check only while both are enabled). Either
kind of difference makes the exit status 1. The test-suite runs the same
checks on the fixtures and a stdlib sample.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path
from typing import List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402
from threadlint import triage  # noqa: E402
from threadlint.engine import lint_source  # noqa: E402
from threadlint.needs import RULE_NEEDS  # noqa: E402
from threadlint.prefilter import EVERY_FILE, Prefilter  # noqa: E402
from threadlint.rules import ALL_RULES  # noqa: E402
from threadlint.settings import Settings  # noqa: E402

SETTINGS = Settings(root="/")


NEEDS = {rule.code: rule.needs for rule in ALL_RULES}


def both(path: str) -> Tuple[str, list, list, list]:
    source = Path(path).read_bytes()
    fast = lint_source(path, source, SETTINGS)
    # The front reads each rule's needs from this table: admitting every
    # file in it disables the prefilter.
    try:
        triage.RULE_NEEDS = {code: EVERY_FILE for code in NEEDS}  # type: ignore[assignment]
        full = lint_source(path, source, SETTINGS)
    finally:
        triage.RULE_NEEDS = RULE_NEEDS
    unadmitted = [f for f in full.findings
                  if f.code != "TL999" and not Prefilter([NEEDS[f.code]]).admits(source)]
    return path, fast.findings, full.findings, unadmitted


def main(argv: List[str]) -> int:
    roots = argv or [corpus.stdlib()]
    files = []
    for root in roots:
        for directory, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "__pycache__"))
            files.extend(os.path.join(directory, n) for n in sorted(filenames) if n.endswith(".py"))
    differences = 0
    with multiprocessing.Pool() as pool:
        for path, fast, full, unadmitted in pool.imap_unordered(both, files, chunksize=8):
            if fast != full or unadmitted:
                differences += 1
                print(f"{path}: prefiltered {len(fast)} findings, full {len(full)}")
                for finding in unadmitted:
                    print(f"  {finding.code} at line {finding.line}: the rule's needs reject this file")
    print(f"{len(files)} files, {differences} with a different result")
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
