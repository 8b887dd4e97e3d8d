"""A content-addressed cache of per-file results.

An entry is keyed by the file's bytes, threadlint's version and sources, the
Python version and libcst's version that computed it, and every setting
that can change that file's result (the codes enabled for it, --fix), so a
warm run over an unchanged tree parses nothing. Entries are written to a temp
file and renamed into place, so two runs sharing the cache never read a torn
entry. They live in ``v<format>/<first two hex digits of the key>/`` under
the cache directory, which also holds a ``.gitignore`` and a
``CACHEDIR.TAG``; :meth:`Cache.prune` removes what was not used for
:data:`MAX_AGE_DAYS` days, :meth:`Cache.clear` all of threadlint's files.

Every entry is untrusted input: anything odd about it is a miss, never an
error, a hang or a write elsewhere.

- Reads are bounded (:data:`MAX_ENTRY_BYTES`), of regular files only, opened
  without following a symbolic link and without blocking (a FIFO planted as
  an entry is not waited on), and only of files owned by the user running
  threadlint (another user who can write the directory cannot answer for it).
- An entry is validated strictly: the exact set of fields, each of its type;
  the key, threadlint's version, the sha256 of the file's bytes and the
  settings it was computed with must be the current ones; each finding is a
  code enabled for the file on a line the file has. A JSON document nested
  too deeply for the decoder is a miss too.
- Inside the cache directory no symbolic link is followed, neither to read
  nor to write (the sub-directories, the entries, ``.gitignore``), and files
  are only ever created, never opened for writing when they exist.

What this cannot prove: an entry written by someone who can write the cache
directory as the user is indistinguishable from threadlint's own (the
secret of a MAC would be stored where they can read it). The cache directory
must be as trusted as the source tree it describes (README: "The cache").
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import math
import os
import re
import stat
import sys
import time
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Tuple

from threadlint import __version__
from threadlint.findings import MAX_SOURCE_LINES, Edit, FileError, Finding, Fix, LintResult, Step
from threadlint.project import valid_summary

DEFAULT_DIRNAME = ".threadlint_cache"
_FORMAT = 4
#: The sub-directory of the cache directory holding this format's entries:
#: another format (an older or newer threadlint) keeps to its own.
LAYOUT = f"v{_FORMAT}"
#: An entry not used for this many days is removed (see :meth:`Cache.prune`).
MAX_AGE_DAYS = 30
#: Seconds between two prunings of one cache directory.
PRUNE_INTERVAL = 24 * 3600
#: A hit refreshes its entry's modification time when it is older than this.
_TOUCH_AFTER = 24 * 3600
#: Temporary files older than this are what a killed run left.
_STALE_TEMP = 3600
_PRUNED_MARKER = ".pruned"
#: https://bford.info/cachedir/: backup tools skip a directory holding it.
CACHEDIR_TAG = (b"Signature: 8a477f597d28d172789f06886806bc55\n"
                b"# This file is a cache directory tag created by threadlint.\n"
                b"# For information about cache directory tags, see:\n"
                b"#\thttps://bford.info/cachedir/\n")
_OWN_FILES = (".gitignore", "CACHEDIR.TAG", _PRUNED_MARKER)
#: An entry larger than this is not read (a real one is a few kilobytes).
MAX_ENTRY_BYTES = 4 << 20
#: Bounds of what an entry may hold.
MAX_FINDINGS = 100_000
MAX_MESSAGE = 10_000

_FINDING_FIELDS = frozenset(("line", "col", "code", "message", "fixable", "end_line",
                             "end_col", "related", "noqa_line", "source", "fix", "witness"))
_APPLICABILITIES = frozenset(("safe", "unsafe"))
_ERROR_FIELDS = frozenset(("message", "warning"))
_ENTRY_FIELDS = frozenset(("key", "version", "format", "source", "settings", "findings", "errors",
                           "summary"))

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_BINARY", 0))
_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_BINARY", 0))
#: Whether files can be opened relative to a directory descriptor (POSIX).
_DIR_FD = os.open in os.supports_dir_fd and os.replace in os.supports_dir_fd \
    and os.mkdir in os.supports_dir_fd and os.unlink in os.supports_dir_fd


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """A hash of threadlint's own sources, so a changed rule never reads old results."""
    digest = hashlib.sha256()
    package = os.path.dirname(os.path.realpath(__file__))
    sources: List[str] = []
    for directory, subdirectories, names in os.walk(package):
        subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
        sources.extend(os.path.join(directory, name) for name in names if name.endswith(".py"))
    for path in sorted(sources, key=lambda path: os.path.relpath(path, package).split(os.sep)):
        digest.update(os.path.relpath(path, package).replace(os.sep, "/").encode())
        with open(path, "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()


#: ``libcst/_version.py``, as setuptools-scm writes it.
_VERSION_LINE = re.compile(rb"""^__version__ = version = ['"]([^'"]+)['"]""", re.MULTILINE)


def _libcst_version() -> str:
    """libcst's version, read without importing libcst (half a second) or
    ``importlib.metadata`` (a tenth of the start-up of a run): from its
    ``_version.py`` where it has one, else from its distribution's metadata."""
    try:
        from importlib.util import find_spec

        spec = find_spec("libcst")
        if spec is not None and spec.origin:
            with open(os.path.join(os.path.dirname(spec.origin), "_version.py"), "rb") as handle:
                match = _VERSION_LINE.search(handle.read(4096))
            if match:
                return match.group(1).decode("ascii", "replace")
    except (OSError, ImportError, ValueError):
        pass
    try:
        from importlib import metadata

        return metadata.version("libcst")
    except Exception:  # noqa: BLE001 - not installed as a distribution: still a key
        return "unknown"


@functools.lru_cache(maxsize=1)
def environment() -> str:
    """What else a result depends on: the interpreter (its grammar decides
    what is a syntax error, TL999; ``ast`` differs between versions) and
    libcst's version (its parser and its native extension)."""
    return (f"{sys.implementation.name} {'.'.join(map(str, sys.version_info))} "
            f"{sys.version} libcst {_libcst_version()}")


def _settings_text(codes: Iterable[str], fix: bool, options: str) -> str:
    return ",".join(sorted(codes)) + ("\0fix" if fix else "\0check") + "\0" + options


def source_digest(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()


def cache_key(source: bytes, codes: Iterable[str], fix: bool, options: str = "",
              digest: Optional[str] = None) -> str:
    """What a file's result depends on: threadlint itself, the Python running
    it and libcst's version (:func:`environment`), the enabled codes,
    fixing or not, the options rules read, and the bytes (their sha256:
    ``digest`` when the caller has it already)."""
    key = hashlib.sha256()
    key.update(f"threadlint {__version__} {_code_fingerprint()} format {_FORMAT}\0".encode())
    key.update(f"{environment()}\0".encode())
    key.update(_settings_text(codes, fix, options).encode())
    key.update(b"\0")
    key.update((digest or source_digest(source)).encode())
    return key.hexdigest()


def _line_count(source: bytes) -> int:
    return max(source.count(b"\n"), source.count(b"\r")) + 1


class _Invalid(Exception):
    pass


def _check(condition: bool) -> None:
    if not condition:
        raise _Invalid


def _is_int(value: Any, low: int = 1, high: Optional[int] = None) -> bool:
    return type(value) is int and value >= low and (high is None or value <= high)


def _is_text(value: Any) -> bool:
    return type(value) is str and len(value) <= MAX_MESSAGE


def _finding(path: str, data: Any, codes: FrozenSet[str], lines: int) -> Finding:
    _check(type(data) is dict and data.keys() == _FINDING_FIELDS)
    line, col, end_line, end_col = data["line"], data["col"], data["end_line"], data["end_col"]
    _check(_is_int(line, 1, lines) and _is_int(col))
    _check((end_line is None or _is_int(end_line, line, lines)) and (end_col is None or _is_int(end_col)))
    _check(type(data["code"]) is str and data["code"] in codes)
    _check(_is_text(data["message"]) and type(data["fixable"]) is bool)
    related = data["related"]
    _check(type(related) is list and len(related) <= MAX_FINDINGS)
    places: List[Tuple[int, int, str]] = []
    for place in related:
        _check(type(place) is list and len(place) == 3)
        _check(_is_int(place[0], 1, lines) and _is_int(place[1]) and _is_text(place[2]))
        places.append((place[0], place[1], place[2]))
    noqa_line, source = data["noqa_line"], data["source"]
    _check(noqa_line is None or _is_int(noqa_line, 1, lines))
    _check(type(source) is list and len(source) <= MAX_SOURCE_LINES
           and all(_is_text(text) for text in source))
    witness = data["witness"]
    _check(type(witness) is list and len(witness) <= MAX_FINDINGS)
    steps: List[Step] = []
    for step in witness:
        _check(type(step) is list and len(step) == 4)
        _check(_is_text(step[0]) and _is_int(step[1], 0) and _is_int(step[2], 0) and _is_text(step[3]))
        steps.append((step[0], step[1], step[2], step[3]))
    return Finding(path, line, col, data["code"], data["message"], data["fixable"],
                   end_line, end_col, tuple(places), noqa_line, tuple(source),
                   _fix(data["fix"], lines), tuple(steps))


def _fix(data: Any, lines: int) -> Optional[Fix]:
    if data is None:
        return None
    _check(type(data) is dict and data.keys() == {"applicability", "edits"})
    _check(data["applicability"] in _APPLICABILITIES)
    edits = data["edits"]
    _check(type(edits) is list and len(edits) <= MAX_FINDINGS)
    found: List[Edit] = []
    for edit in edits:
        _check(type(edit) is list and len(edit) == 5)
        _check(_is_int(edit[0], 1, lines + 1) and _is_int(edit[1]) and _is_int(edit[2], 1, lines + 1)
               and _is_int(edit[3]) and type(edit[4]) is str)
        found.append(Edit(edit[0], edit[1], edit[2], edit[3], edit[4]))
    return Fix(data["applicability"], tuple(found))


def _error(path: str, data: Any) -> FileError:
    _check(type(data) is dict and data.keys() == _ERROR_FIELDS)
    _check(_is_text(data["message"]) and type(data["warning"]) is bool)
    return FileError(path, data["message"], data["warning"])


class Cache:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._ready = False

    # -- reading -------------------------------------------------------------

    def get(self, key: str, path: str, codes: Iterable[str] = (), source: bytes = b"",
            fix: bool = False, options: str = "", digest: Optional[str] = None,
            ) -> Optional[LintResult]:
        """The result stored for ``key`` (computed by :func:`cache_key` from
        the same ``source``, ``codes``, ``fix`` and ``options``; ``digest``
        is the sha256 of ``source`` if the caller has it), or None for a
        miss: no entry, or anything wrong with it."""
        data = self._read(key)
        if data is None:
            return None
        enabled = frozenset(codes)
        try:
            entry = json.loads(data.decode("utf-8"))
            _check(type(entry) is dict and entry.keys() == _ENTRY_FIELDS)
            _check(entry["key"] == key and entry["version"] == __version__
                   and entry["format"] == _FORMAT)
            _check(entry["source"] == (digest or source_digest(source)))
            _check(entry["settings"] == _settings_text(enabled, fix, options))
            findings, errors = entry["findings"], entry["errors"]
            _check(type(findings) is list and len(findings) <= MAX_FINDINGS)
            _check(type(errors) is list and len(errors) <= MAX_FINDINGS)
            summary = entry["summary"]
            _check(summary is None or valid_summary(summary))
            lines = _line_count(source) if findings else 0  # most entries have none
            return LintResult(path, [_finding(path, f, enabled, lines) for f in findings],
                              [_error(path, e) for e in errors], summary=summary)
        except (_Invalid, ValueError, RecursionError, MemoryError):
            return None

    def _read(self, key: str) -> Optional[bytes]:
        """The bytes of the entry file, if it is a regular file of ours of a
        sane size inside the cache directory (no link followed)."""
        try:
            if _DIR_FD:
                top = os.open(self.directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
                try:
                    layout = os.open(LAYOUT, _DIR_FLAGS, dir_fd=top)
                finally:
                    os.close(top)
                try:
                    sub = os.open(key[:2], _DIR_FLAGS, dir_fd=layout)
                finally:
                    os.close(layout)
                try:
                    fd = os.open(key + ".json", _READ_FLAGS, dir_fd=sub)
                finally:
                    os.close(sub)
            else:  # pragma: no cover - Windows: check each part, then open
                layout_path = os.path.join(self.directory, LAYOUT)
                sub_path = os.path.join(layout_path, key[:2])
                if not (stat.S_ISDIR(os.lstat(layout_path).st_mode)
                        and stat.S_ISDIR(os.lstat(sub_path).st_mode)):
                    return None
                entry_path = os.path.join(sub_path, key + ".json")
                if not stat.S_ISREG(os.lstat(entry_path).st_mode):
                    return None
                fd = os.open(entry_path, _READ_FLAGS)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES:
                return None
            geteuid = getattr(os, "geteuid", None)
            if geteuid is not None and info.st_uid != geteuid():
                return None
            # Its size as stat tells (a buffer of the bound for every entry
            # would cost a 4 MiB allocation each), then up to the bound.
            data = os.read(fd, info.st_size + 1)
            while data and len(data) <= MAX_ENTRY_BYTES:
                more = os.read(fd, min(1 << 16, MAX_ENTRY_BYTES + 1 - len(data)))
                if not more:
                    break
                data += more
            if len(data) > MAX_ENTRY_BYTES:
                return None
            _mark_used(fd, info)
            return data
        except OSError:
            return None
        finally:
            os.close(fd)

    # -- writing -------------------------------------------------------------

    def put(self, key: str, result: LintResult, codes: Iterable[str] = (), source: bytes = b"",
            fix: bool = False, options: str = "") -> None:
        # Internal errors are not cached: a fixed threadlint should retry them.
        if any(not e.warning for e in result.errors) or result.fixed_source is not None:
            return
        entry: Dict[str, Any] = {
            "key": key,
            "version": __version__,
            "format": _FORMAT,
            "source": source_digest(source),
            "settings": _settings_text(codes, fix, options),
            "findings": [
                {"line": f.line, "col": f.col, "code": f.code, "message": f.message,
                 "fixable": f.fixable, "end_line": f.end_line, "end_col": f.end_col,
                 "related": [list(r) for r in f.related], "noqa_line": f.noqa_line,
                 "source": list(f.source), "witness": [list(step) for step in f.witness],
                 "fix": None if f.fix is None else {
                     "applicability": f.fix.applicability,
                     "edits": [[e.line, e.col, e.end_line, e.end_col, e.content]
                               for e in f.fix.edits]}}
                for f in result.findings
            ],
            "errors": [{"message": e.message, "warning": e.warning} for e in result.errors],
            "summary": result.summary,
        }
        data = json.dumps(entry).encode("utf-8")
        try:
            self._write(key, data)
        except OSError:
            pass  # a cache that cannot be written only costs speed

    def _write(self, key: str, data: bytes) -> None:
        if not _DIR_FD:  # pragma: no cover - Windows
            self._write_by_path(key, data)
            return
        self._prepare()
        top = os.open(self.directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            try:
                os.mkdir(LAYOUT, 0o777, dir_fd=top)
            except FileExistsError:
                pass
            layout = os.open(LAYOUT, _DIR_FLAGS, dir_fd=top)  # a link there: ELOOP, no write
        finally:
            os.close(top)
        try:
            try:
                os.mkdir(key[:2], 0o777, dir_fd=layout)
            except FileExistsError:
                pass
            sub = os.open(key[:2], _DIR_FLAGS, dir_fd=layout)
        finally:
            os.close(layout)
        try:
            temp = f".threadlint-{os.getpid()}-{os.urandom(8).hex()}.tmp"
            fd = os.open(temp, _CREATE_FLAGS, 0o644, dir_fd=sub)
            try:
                try:
                    _write_all(fd, data)
                finally:
                    os.close(fd)
                os.replace(temp, key + ".json", src_dir_fd=sub, dst_dir_fd=sub)
            except BaseException:
                try:
                    os.unlink(temp, dir_fd=sub)
                except OSError:
                    pass
                raise
        finally:
            os.close(sub)

    def _write_by_path(self, key: str, data: bytes) -> None:  # pragma: no cover - Windows
        self._prepare()
        layout = os.path.join(self.directory, LAYOUT)
        sub = os.path.join(layout, key[:2])
        for directory in (layout, sub):  # each checked before anything is made in it
            try:
                os.mkdir(directory)
            except FileExistsError:
                pass
            if not stat.S_ISDIR(os.lstat(directory).st_mode):
                return
        temp = os.path.join(sub, f".threadlint-{os.getpid()}-{os.urandom(8).hex()}.tmp")
        fd = os.open(temp, _CREATE_FLAGS, 0o644)
        try:
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            os.replace(temp, os.path.join(sub, key + ".json"))
        except BaseException:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise

    def _prepare(self) -> None:
        if self._ready:
            return
        os.makedirs(self.directory, exist_ok=True)
        _create(self.directory, ".gitignore", b"# Created by threadlint.\n*\n")
        _create(self.directory, "CACHEDIR.TAG", CACHEDIR_TAG)
        self._ready = True

    # -- upkeep --------------------------------------------------------------

    def prune(self, now: Optional[float] = None) -> int:
        """Remove the entries not used for :data:`MAX_AGE_DAYS` days (of any
        format: another threadlint's entries age out too) and what killed runs
        left; at most once per :data:`PRUNE_INTERVAL`. Returns how many files
        were removed; a cache that cannot be pruned is left as it is."""
        now = time.time() if now is None else now
        try:
            with _Dir.open_top(self.directory) as top:
                marker = top.lstat(_PRUNED_MARKER)
                if marker is not None and stat.S_ISREG(marker.st_mode) \
                        and now - PRUNE_INTERVAL < marker.st_mtime <= now:
                    return 0
                removed = _sweep(top, now - MAX_AGE_DAYS * 86400, now - _STALE_TEMP)
                top.unlink(_PRUNED_MARKER)
                top.create(_PRUNED_MARKER, b"")
                return removed
        except OSError:
            return 0

    def clear(self) -> int:
        """Remove every entry, then the cache directory if nothing else is in
        it. Only threadlint's own files are removed (entries, temporary files,
        ``.gitignore``, ``CACHEDIR.TAG``), never a link followed, so a cache
        directory pointed at the wrong place loses nothing else. Returns the
        number of entries removed; raises OSError if the directory cannot be
        read."""
        with _Dir.open_top(self.directory) as top:
            removed = _sweep(top, math.inf, math.inf)
            for name in _OWN_FILES:
                info = top.lstat(name)
                if info is not None and stat.S_ISREG(info.st_mode):
                    top.unlink(name)
        try:
            os.rmdir(self.directory)
        except OSError:
            pass  # something else is in it (or it is a link): left alone
        return removed


_ENTRY_NAME = re.compile(r"[0-9a-f]{64}\.json")
_TEMP_NAME = re.compile(r"\.threadlint-\d+-[0-9a-f]+\.tmp")
_SUB_NAME = re.compile(r"[0-9a-f]{2}")
_LAYOUT_NAME = re.compile(r"v\d+")


def _sweep(top: _Dir, entry_cutoff: float, temp_cutoff: float) -> int:
    """Remove entries last used before ``entry_cutoff`` and temporary files
    older than ``temp_cutoff`` in every layout (``v<N>/<xx>/``, and the
    unversioned ``<xx>/`` of threadlint before 0.4); empty directories go too."""
    removed = 0
    for name, is_dir in top.listing():
        if not is_dir:
            continue
        if _SUB_NAME.fullmatch(name):
            removed += _sweep_entries(top, name, entry_cutoff, temp_cutoff)
        elif _LAYOUT_NAME.fullmatch(name):
            with top.open(name) as layout:
                for sub, sub_is_dir in layout.listing():
                    if sub_is_dir and _SUB_NAME.fullmatch(sub):
                        removed += _sweep_entries(layout, sub, entry_cutoff, temp_cutoff)
            top.rmdir(name)
    return removed


def _sweep_entries(parent: _Dir, name: str, entry_cutoff: float, temp_cutoff: float) -> int:
    removed = 0
    with parent.open(name) as sub:
        for entry, is_dir in sub.listing():
            if is_dir:
                continue
            is_entry = _ENTRY_NAME.fullmatch(entry) is not None
            if not is_entry and not _TEMP_NAME.fullmatch(entry):
                continue  # not threadlint's: left alone
            info = sub.lstat(entry)  # a link is removed, never followed
            if info is None or not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
                continue
            if info.st_mtime < (entry_cutoff if is_entry else temp_cutoff) and sub.unlink(entry):
                removed += is_entry
    parent.rmdir(name)
    return removed


def _mark_used(fd: int, info: os.stat_result) -> None:
    """A hit refreshes its entry's modification time (at most once a day), so
    that pruning removes what is not used, not what is old."""
    if time.time() - info.st_mtime < _TOUCH_AFTER or os.utime not in os.supports_fd:
        return
    try:
        os.utime(fd)
    except OSError:
        pass


def _create(directory: str, name: str, data: bytes) -> None:
    """Create ``name`` in ``directory`` holding ``data``; whatever is there
    already (a link too) is left alone."""
    try:
        if _DIR_FD:
            top = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                fd = os.open(name, _CREATE_FLAGS, 0o644, dir_fd=top)
            finally:
                os.close(top)
        else:  # pragma: no cover - Windows
            fd = os.open(os.path.join(directory, name), _CREATE_FLAGS, 0o644)
    except FileExistsError:
        return
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EEXIST):
            return
        raise
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


class _Dir:
    """A directory inside the cache, opened without following a link: by
    descriptor where the platform allows it, else by path after an lstat."""

    def __init__(self, path: str, fd: Optional[int]) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def open_top(cls, directory: str) -> _Dir:
        if _DIR_FD:  # the cache directory itself may be a link
            return cls(directory, os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)))
        if not os.path.isdir(directory):  # pragma: no cover - Windows
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", directory)
        return cls(directory, None)  # pragma: no cover - Windows

    def __enter__(self) -> _Dir:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def open(self, name: str) -> _Dir:
        path = os.path.join(self.path, name)
        if self.fd is not None:
            return _Dir(path, os.open(name, _DIR_FLAGS, dir_fd=self.fd))
        if not stat.S_ISDIR(os.lstat(path).st_mode):  # pragma: no cover - Windows
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
        return _Dir(path, None)  # pragma: no cover - Windows

    def listing(self) -> List[Tuple[str, bool]]:
        """(name, is a directory, not through a link) of each entry."""
        if self.fd is not None and os.scandir in os.supports_fd:
            with os.scandir(self.fd) as entries:
                return [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        with os.scandir(self.path) as entries:  # pragma: no cover - Windows
            return [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]

    def lstat(self, name: str) -> Optional[os.stat_result]:
        try:
            if self.fd is not None:
                return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            return os.lstat(os.path.join(self.path, name))  # pragma: no cover - Windows
        except OSError:
            return None

    def unlink(self, name: str) -> bool:
        try:
            if self.fd is not None:
                os.unlink(name, dir_fd=self.fd)
            else:  # pragma: no cover - Windows
                os.unlink(os.path.join(self.path, name))
        except OSError:
            return False
        return True

    def rmdir(self, name: str) -> None:
        """Remove the sub-directory ``name`` if it is empty."""
        try:
            if self.fd is not None:
                os.rmdir(name, dir_fd=self.fd)
            else:  # pragma: no cover - Windows
                os.rmdir(os.path.join(self.path, name))
        except OSError:
            pass

    def create(self, name: str, data: bytes) -> None:
        _create(self.path, name, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
