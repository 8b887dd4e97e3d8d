"""A content-addressed cache of per-file results.

An entry is keyed by the file's bytes, threadlint's version and sources, and every setting
that can change that file's result (the codes enabled for it, --fix), so a
warm run over an unchanged tree parses nothing. Entries are written to a temp
file and renamed into place, so two runs sharing the cache never read a torn
entry; an entry that does not decode, or whose key does not match, is ignored
and rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, Optional

from threadlint import __version__
from threadlint.findings import Edit, FileError, Finding, Fix, LintResult

DEFAULT_DIRNAME = ".threadlint_cache"
_FORMAT = 2


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """A hash of threadlint's own sources, so a changed rule never reads old results."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(source: bytes, codes: Iterable[str], fix: bool, options: str = "") -> str:
    """What a file's result depends on: threadlint itself, the enabled codes,
    fixing or not, the options rules read, and the bytes."""
    digest = hashlib.sha256()
    digest.update(f"threadlint {__version__} {_code_fingerprint()} format {_FORMAT}\0".encode())
    digest.update(",".join(sorted(codes)).encode())
    digest.update(b"\0fix" if fix else b"\0check")
    digest.update(b"\0" + options.encode())
    digest.update(b"\0")
    digest.update(source)
    return digest.hexdigest()


def _fix(data: Optional[Dict[str, Any]]) -> Optional[Fix]:
    if data is None:
        return None
    return Fix(str(data["applicability"]),
               tuple(Edit(int(e[0]), int(e[1]), int(e[2]), int(e[3]), str(e[4]))
                     for e in data["edits"]))


class Cache:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._ready = False

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key + ".json")

    def get(self, key: str, path: str) -> Optional[LintResult]:
        try:
            with open(self._path(key), encoding="utf-8") as handle:
                entry = json.load(handle)
            if entry.get("key") != key or entry.get("version") != __version__:
                return None
            findings = [Finding(path, f["line"], f["col"], f["code"], f["message"], f["fixable"],
                                f.get("end_line"), f.get("end_col"),
                                tuple((r[0], r[1], r[2]) for r in f.get("related", ())),
                                f.get("noqa_line"), tuple(f.get("source", ())), _fix(f.get("fix")))
                        for f in entry["findings"]]
            errors = [FileError(path, e["message"], e["warning"]) for e in entry["errors"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return LintResult(path, findings, errors)

    def put(self, key: str, result: LintResult) -> None:
        # Internal errors are not cached: a fixed threadlint should retry them.
        if any(not e.warning for e in result.errors) or result.fixed_source is not None:
            return
        entry = {
            "key": key,
            "version": __version__,
            "findings": [
                {"line": f.line, "col": f.col, "code": f.code, "message": f.message,
                 "fixable": f.fixable, "end_line": f.end_line, "end_col": f.end_col,
                 "related": [list(r) for r in f.related], "noqa_line": f.noqa_line,
                 "source": list(f.source),
                 "fix": None if f.fix is None else {
                     "applicability": f.fix.applicability,
                     "edits": [[e.line, e.col, e.end_line, e.end_col, e.content]
                               for e in f.fix.edits]}}
                for f in result.findings
            ],
            "errors": [{"message": e.message, "warning": e.warning} for e in result.errors],
        }
        target = self._path(key)
        try:
            self._prepare()
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry, handle)
            os.replace(temp, target)
        except OSError:
            pass  # a cache that cannot be written only costs speed

    def _prepare(self) -> None:
        if self._ready:
            return
        os.makedirs(self.directory, exist_ok=True)
        ignore = os.path.join(self.directory, ".gitignore")
        if not os.path.exists(ignore):
            with open(ignore, "w", encoding="utf-8") as handle:
                handle.write("# Created by threadlint.\n*\n")
        self._ready = True
